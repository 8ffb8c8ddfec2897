"""Audit of TCA and the experiment runner: each test pins a bug found and fixed (it failed before the fix)."""

from __future__ import annotations

import dataclasses
import json
import tomllib
from types import SimpleNamespace

import numpy as np
import pytest

import tomli_w

from tickreplay import experiment
from tickreplay.book.fast import compute_snapshots
from tickreplay.engine import Engine, EngineConfig, Strategy
from tickreplay.errors import ConfigError
from tickreplay.orders import NewOrder, OrderType
from tickreplay.book.replay import ReplayData
from tickreplay.experiment.scenario import load_scenario, resolve_time
from tickreplay.schedule import ParentOrder
from tickreplay.tape import Instrument
from tickreplay.tca import MarketSeries, tca_summary
from test_tca import NS, T0, TF, make_tape


# a short run, and no ``name`` key: the scenario is named after its file
NAMELESS = """\
seed = 5

[data]
synthetic = { regime = "liquid_large_cap", seed = 2, duration_s = 900 }

[parent]
side = "sell"
quantity = 1000
start = "09:32:00"
end = "09:36:00"

[schedule]
kind = "twap"
n_children = 2
style = "market"
"""


@pytest.fixture()
def nameless(tmp_path):
    p = tmp_path / "my_twap.toml"
    p.write_text(NAMELESS)
    return p


def test_compare_in_worker_processes_keeps_the_file_name(nameless, tmp_path):
    """A scenario named after its file kept that name in one process but became "scenario" in workers."""
    scn = load_scenario(nameless)
    seq = experiment.compare([scn], tmp_path / "seq", jobs=1, progress=False)
    par = experiment.compare([scn, scn], tmp_path / "par", jobs=2, progress=False)
    assert list(seq["name"]) == ["my_twap"]
    assert list(par["name"]) == ["my_twap", "my_twap"]
    assert all(r.startswith("my_twap_") for r in par["run_id"])


def test_a_run_id_is_its_content(nameless, tmp_path):
    """The id hashes the scenario (defaults filled in), the data's fingerprint and the version: a change of any
    run input (here the seed, or a default written out) gives another id or the same one, as it should."""
    from tickreplay.experiment.data import load_data
    from tickreplay.experiment.run import run_id_for

    scn = load_scenario(nameless)
    data = load_data(scn)
    same = dataclasses.replace(scn, description="another text", raw={})
    explicit = dataclasses.replace(scn, queue=dataclasses.replace(scn.queue, model="risk_averse"))
    assert run_id_for(scn, data) == run_id_for(same, data) == run_id_for(explicit, data)
    assert run_id_for(dataclasses.replace(scn, seed=scn.seed + 1), data) != run_id_for(scn, data)
    other = dataclasses.replace(data, source_fingerprint="blake2b-128:" + "0" * 32)
    assert run_id_for(scn, other) != run_id_for(scn, data)


def test_a_retrained_overlay_model_at_the_same_path_is_another_run(nameless, tmp_path):
    """The model folder's content is a run input: same scenario text, new model files → new id (not skipped)."""
    from tickreplay.experiment.data import load_data
    from tickreplay.experiment.run import run_id_for
    from tickreplay.experiment.scenario import OverlaySpec

    model = tmp_path / "model"
    model.mkdir()
    (model / "model.json").write_text("{}")
    (model / "booster_0.txt").write_text("tree 1")
    scn = dataclasses.replace(load_scenario(nameless), overlay=OverlaySpec(model=str(model), max_delay_s=5.0))
    data = load_data(scn)
    first = run_id_for(scn, data)
    assert run_id_for(scn, data) == first
    (model / "booster_0.txt").write_text("tree 2")
    assert run_id_for(scn, data) != first
    off = dataclasses.replace(scn, overlay=OverlaySpec(model=str(model), max_delay_s=5.0, enabled=False))
    assert run_id_for(off, data) == run_id_for(load_scenario(nameless), data)  # inactive: the static run


@pytest.mark.parametrize("text", ["24:30", "24:00:01", "24:00:00.5"])
def test_times_after_24_00_are_refused(text):
    """"24:30" was read as 00:30 of the next day; only "24:00" (the day's end) is a time past 23:59:59."""
    with pytest.raises(ConfigError, match="parent.end"):
        resolve_time(text, "2012-06-21", "America/New_York", "parent.end")
    assert resolve_time("24:00", "2012-06-21", "America/New_York") == \
        resolve_time("00:00", "2012-06-22", "America/New_York")


def test_market_path_volume_before_the_first_event_is_zero():
    """Grid points before the tape's first event read the volume *after* it (index clipped to 0, then + 1)."""
    ts = np.array([10 * NS, 20 * NS, 30 * NS], np.int64)
    cum = np.array([0, 500, 500, 700], np.int64)  # the first event printed 500
    snaps = SimpleNamespace(bid_price=np.array([[99], [99], [99]]), ask_price=np.array([[101], [101], [101]]))
    market = SimpleNamespace(cum_volume=cum, mid_x2_at=lambda t: np.full(len(t), 200, np.int64))
    inst = Instrument("TST", "test", "2024-01-02", price_scale=1, tick_size=1)
    data = SimpleNamespace(tape=SimpleNamespace(ts_ns=ts, instrument=inst), replay=SimpleNamespace(ts_ns=ts),
                           snapshots=snaps, market=market)
    path = experiment.market_path(data, 0, 30 * NS)
    vol = dict(zip(path["ts_ns"], path["cum_volume"]))
    assert vol[0] == 0 and vol[9 * NS] == 0
    assert vol[10 * NS] == 500 and vol[25 * NS] == 500 and vol[30 * NS] == 700
    before = path["ts_ns"] < 10 * NS
    assert (path.loc[before, "bid"] == 0).all() and (path.loc[before, "ask"] == 0).all()  # no book yet


def test_scenario_text_written_back_reads_as_the_same_document():
    """Grid runs store ``tomli_w.dumps(doc)``: characters beyond the BMP came out as JSON surrogate pairs,
    which TOML refuses, so the run's ``scenario.toml`` could not be read back (results store, reports)."""
    doc = {"name": "grid[style=\U0001F680]", "description": "caf\u00e9 \t tab, quote \" back \\ del \x7f nl \n",
           "schedule": {"params": {"note \U0001F600": "x"}}}
    assert tomllib.loads(tomli_w.dumps(doc)) == doc


def test_local_times_on_clock_change_days():
    """Times on DST change days: wall-clock times resolve with that day's offset; a time the clocks skip
    ("02:30" on 2024-03-10 in New York) or repeat ("01:30" on 2024-11-03) used to become some instant
    silently (03:30 EDT; the first 01:30) and is now an error naming the key."""
    ny = "America/New_York"
    assert resolve_time("09:30", "2024-03-10", ny) == 1_710_077_400 * NS  # 13:30 UTC (EDT from 03:00)
    assert resolve_time("09:30", "2024-11-03", ny) == 1_730_644_200 * NS  # 14:30 UTC (EST from 02:00)
    assert resolve_time("00:00", "2024-11-03", ny) == 1_730_606_400 * NS  # 04:00 UTC (still EDT)
    with pytest.raises(ConfigError, match=r"parent\.start.*does not exist"):
        resolve_time("02:30", "2024-03-10", ny, "parent.start")
    with pytest.raises(ConfigError, match=r"data\.end.*twice"):
        resolve_time("01:30:00", "2024-11-03", ny, "data.end")


class _RestThenCross(Strategy):
    """A buy limit of 100 resting behind the bid, re-priced 1 s later to the ask (a modify that crosses)."""

    def on_start(self, ctx) -> None:
        self.oid = ctx.send(NewOrder(1, 100, OrderType.LIMIT, price=999_900, parent_id=1))
        ctx.set_timer(ctx.now_ns + NS)

    def on_timer(self, ctx, t_ns: int) -> None:
        ctx.modify(self.oid, price=1_000_200)


def test_an_order_that_rested_then_crossed_counts_as_passive_and_unfilled():
    """Its 100 rested (unfilled) for 1 s before the modify crossed; the fill rate used to subtract those taker
    fills from the rested quantity as if taken on arrival, dropping the order from the passive figures."""
    tape = make_tape()
    replay = ReplayData.build(tape, compute_snapshots(tape, 5))
    res = Engine(replay, EngineConfig()).run(_RestThenCross(), start_ns=TF)
    assert list(res.fills["liquidity"]) == ["taker"] and int(res.fills["size"].sum()) == 100
    assert (res.fills["exchange_ns"] > res.orders["arrival_ns"].iloc[0]).all()  # after the modify, not on arrival
    market = MarketSeries.from_tape(tape, replay.snapshots)
    parent = ParentOrder(side=1, quantity=100, start_ns=TF, end_ns=T0 + 60 * NS)
    p = tca_summary(res.fills, res.orders, parent, market)["passive"]
    assert (p["orders"], p["quantity"], p["filled"], p["fill_rate"], p["orders_filled"]) == (1, 100, 0, 0.0, 0)
    assert p["time_to_first_fill_mean_ms"] is None and p["time_to_fill_mean_ms"] is None


def test_grid_with_a_broken_base_file_names_it(tmp_path):
    """The grid file's TOML errors were ConfigErrors, its base file's were raw TOMLDecodeErrors (a traceback)."""
    (tmp_path / "base.toml").write_text("name = \n")
    grid = tmp_path / "grid.toml"
    grid.write_text('base = "base.toml"\n[sweep]\nseed = [1, 2]\n')
    with pytest.raises(ConfigError, match=r"base\.toml: not valid TOML"):
        experiment.load_grid(grid)


def test_run_ids_see_the_session_and_depth_and_survive_toml_dates(nameless):
    """The same events replayed with another session or book depth are another run; a TOML time in a free params
    table does not break the id; a scenario named '_x' still lands where the store sees it."""
    from tickreplay.experiment.data import load_data
    from tickreplay.experiment.run import run_id_for
    from tickreplay.experiment.scenario import parse_scenario

    scn = load_scenario(nameless)
    data = load_data(scn)
    shorter = dataclasses.replace(data, replay=dataclasses.replace(data.replay,
                                                                  session_end_ns=data.replay.session_end_ns - 1))
    assert run_id_for(scn, shorter) != run_id_for(scn, data)
    snaps = data.snapshots
    shallow = dataclasses.replace(data, snapshots=type(snaps)(*(getattr(snaps, f)[:, :1] for f in
                                                                ("ask_price", "ask_size", "bid_price", "bid_size"))))
    assert run_id_for(scn, shallow) != run_id_for(scn, data)
    doc = tomllib.loads(nameless.read_text() + "\n[pretrade]\nmodel = \"canonical\"\nparams = { at = 09:30:00 }\n")
    with_time = parse_scenario(doc, "_hidden", nameless.parent)
    assert run_id_for(with_time, data).startswith("hidden_")  # not '_hidden_...', which the store passes over
