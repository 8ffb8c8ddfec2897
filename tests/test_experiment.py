"""Runs and comparisons: atomic results folders, reruns, TCA reproducible from stored files, grids, user strategies."""

from __future__ import annotations

import json
import os
import tomllib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tickreplay import cli, experiment
from tickreplay.results import query, run_dirs, store_index
from tickreplay.adapters.synthetic import generate_day
from tickreplay.book.fast import compute_snapshots
from tickreplay.errors import ConfigError
from tickreplay.impact import MarketInputs
from tickreplay.tca.shortfall import PARTS
from tickreplay.experiment.scenario import load_scenario, parse_scenario, with_overrides
from tickreplay.schedule import ParentOrder
from tickreplay.tca import MarketSeries, PreTradeInputs, tca_summary

SCENARIO = """\
name = "short_twap"
seed = 5

[data]
synthetic = { regime = "liquid_large_cap", seed = 2, duration_s = 900 }

[parent]
side = "buy"
quantity = 3000
start = "09:32:00"
end = "09:42:00"

[schedule]
kind = "twap"
n_children = 5
style = "market"

[latency]
market_data = 1
order_entry = 2
response = 1

[fees]
taker_bps = 0.3
maker_bps = -0.2

[pretrade]
model = "canonical"
"""

MM = """\
name = "mm"
seed = 3
pnl_step_s = 20

[data]
synthetic = { regime = "liquid_large_cap", seed = 2, duration_s = 900 }

[schedule]
kind = "strategy"
strategy = "tickreplay.trader.market_maker:QuoteBothSides"
params = { quote_size = 100, max_position = 300, requote_s = 3.0, duration_s = 600.0 }

[latency]
order_entry = 1

[fees]
maker_bps = -0.2
taker_bps = 0.3
"""


@pytest.fixture()
def scenario_file(tmp_path) -> Path:
    p = tmp_path / "short_twap.toml"
    p.write_text(SCENARIO)
    return p


def test_a_run_twice_is_one_run_and_rerun_replaces_it(scenario_file, tmp_path):
    out = tmp_path / "results"
    a = experiment.run_file(scenario_file, out)
    b = experiment.run_file(scenario_file, out)
    assert a.run_id == b.run_id and a.run_id.startswith("short_twap_") and not a.skipped and b.skipped
    assert [p.name for p in run_dirs(out)] == [a.run_id] and b.tca == a.tca
    first = json.loads((a.path / "run.json").read_text())["created_utc"]
    c = experiment.run_file(scenario_file, out, rerun=True)
    assert c.run_id == a.run_id and not c.skipped
    assert sorted(p.name for p in out.iterdir()) == sorted([a.run_id, os.readlink(out / a.run_id)])  # one version
    assert json.loads((c.path / "run.json").read_text())["created_utc"] >= first
    for o in (a, c):
        names = {p.name for p in o.path.iterdir()}
        assert names == {"scenario.toml", "run.json", "orders.parquet", "fills.parquet", "tca.json",
                         "market.parquet", "schedule.parquet"}
        assert (o.path / "scenario.toml").read_text() == SCENARIO
        assert json.loads((o.path / "tca.json").read_text()) == o.tca
    b = c
    # same scenario and seed: identical fills
    fa, fb = (pd.read_parquet(o.path / "fills.parquet") for o in (a, b))
    pd.testing.assert_frame_equal(fa, fb)
    assert a.tca["shortfall"]["filled"] == 3000 and a.tca["counts"]["orders"] == 5
    sched = pd.read_parquet(a.path / "schedule.parquet")
    assert sched["planned_cum"].iloc[-1] == 3000 and len(sched) == 5


def test_a_crash_mid_write_leaves_no_folder(scenario_file, tmp_path, monkeypatch):
    out = tmp_path / "results"
    calls = []
    from tickreplay.experiment import run as run_module

    real = run_module._write_parquet

    def crash_on_second(df, path):
        calls.append(path)
        if len(calls) == 2:
            raise OSError("disk full (simulated)")
        real(df, path)

    monkeypatch.setattr(run_module, "_write_parquet", crash_on_second)
    with pytest.raises(OSError, match="simulated"):
        experiment.run_file(scenario_file, out)
    assert len(calls) == 2
    assert list(out.iterdir()) == []  # neither the run folder nor its temporary folder


def test_tca_is_reproducible_from_stored_fills_and_the_tape(scenario_file, tmp_path):
    o = experiment.run_file(scenario_file, tmp_path / "results")
    stored = json.loads((o.path / "tca.json").read_text())
    fills = pd.read_parquet(o.path / "fills.parquet")
    orders = pd.read_parquet(o.path / "orders.parquet")
    tape = generate_day("liquid_large_cap", 2, duration_s=900)  # the scenario's data, made afresh
    market = MarketSeries.from_tape(tape, compute_snapshots(tape, 5))
    p = stored["parent"]
    parent = ParentOrder(p["side"], p["quantity"], p["start_ns"], p["end_ns"], p["parent_id"])
    pre = stored["pretrade"]
    inputs = PreTradeInputs(MarketInputs(pre["adv"], pre["daily_vol"], pre["spread_bps"]), pre["participation"],
                            pre["model"], latency_ms=2.0)
    again = json.loads(json.dumps(tca_summary(fills, orders, parent, market, inputs)))
    risk = stored.pop("risk")  # the model's risk of the planned schedule, from the plan (not the fills)
    assert again == stored and risk["risk_bps"] > 0 and risk["daily_vol"] == pre["daily_vol"]
    sf = stored["shortfall"]
    parts = sum(sf[f"{k}_currency"] for k in PARTS)
    assert parts == pytest.approx(sf["total_currency"], rel=1e-12, abs=1e-9)


def test_sell_side_and_passive_style_run(scenario_file, tmp_path):
    scn = load_scenario(scenario_file)
    doc = with_overrides(scn.raw, {"parent.side": "sell", "schedule.style": "limit_touch",
                                   "schedule.cancel_replace_after_s": 20, "schedule.max_replaces": 2,
                                   "schedule.finish_with_market": True})
    o = experiment.run_scenario(parse_scenario(doc, base_dir=scenario_file.parent), tmp_path / "r")
    fills = pd.read_parquet(o.path / "fills.parquet")
    assert (fills["side"] == -1).all() and "maker" in set(fills["liquidity"])
    assert o.tca["shortfall"]["filled"] == 3000  # the rest goes to market after two re-pricings


def test_grid_compare_gives_one_row_per_run(scenario_file, tmp_path):
    grid = tmp_path / "grid.toml"
    grid.write_text('base = "short_twap.toml"\n[sweep]\n"schedule.style" = ["market", "limit_touch"]\n'
                    '"schedule.n_children" = [2, 4]\n')
    scenarios = experiment.load_grid(grid)
    assert [s.name for s in scenarios] == [
        "short_twap[style=market,n_children=2]", "short_twap[style=market,n_children=4]",
        "short_twap[style=limit_touch,n_children=2]", "short_twap[style=limit_touch,n_children=4]"]
    table = experiment.compare(scenarios, tmp_path / "res", jobs=1, progress=False)
    assert len(table) == 4 and table["run_id"].is_unique
    assert list(table["style"]) == ["market", "market", "limit_touch", "limit_touch"]
    assert len(run_dirs(tmp_path / "res")) == 4
    # the stored scenario copy of a grid run is the swept document
    stored = tomllib.loads((tmp_path / "res" / table["run_id"][2] / "scenario.toml").read_text())
    assert stored["schedule"]["style"] == "limit_touch" and stored["schedule"]["n_children"] == 2
    # in two worker processes: the same costs
    par = experiment.compare(scenarios[:2], tmp_path / "par", jobs=2, progress=False)
    assert list(par["total_bps"]) == list(table["total_bps"][:2])


def test_grid_errors_name_the_key(tmp_path, scenario_file):
    grid = tmp_path / "grid.toml"
    grid.write_text('base = "short_twap.toml"\n[sweep]\n"schedule.participation" = [0.1]\n')
    with pytest.raises(ConfigError, match=r"'schedule\.participation'"):
        experiment.load_grid(grid)
    grid.write_text('base = "short_twap.toml"\nsweeep = 1\n')
    with pytest.raises(ConfigError, match="unknown grid key 'sweeep'"):
        experiment.load_grid(grid)


def test_pov_never_sends_more_than_its_share_of_seen_volume(scenario_file, tmp_path):
    scn = load_scenario(scenario_file)
    doc = with_overrides(scn.raw, {"schedule": {"kind": "pov", "participation": 0.1, "min_child": 100,
                                                "max_child": 1000}})
    o = experiment.run_scenario(parse_scenario(doc, base_dir=scenario_file.parent), tmp_path / "r")
    orders = pd.read_parquet(o.path / "orders.parquet")
    new = orders[orders["action"] == "new"]
    data = experiment.load_data(scn)
    start = o.tca["parent"]["start_ns"]
    for t, sent in zip(new["decision_ns"], new["quantity"].cumsum()):
        seen = data.market.traded(start, int(t) - 1_000_000 + 1)[0]  # volume at or before t minus 1 ms md latency
        assert sent <= 0.1 * seen
        assert sent > 0.1 * seen - 100 - 1000  # not behind by more than a min child plus a trade's worth
    assert new["quantity"].sum() == 3000  # the market traded enough to complete


def test_user_strategy_pnl_follows_its_fills(tmp_path):
    p = tmp_path / "mm.toml"
    p.write_text(MM)
    o = experiment.run_file(p, tmp_path / "results")
    assert "pnl.parquet" in {f.name for f in o.path.iterdir()} and "shortfall" not in o.tca
    fills = pd.read_parquet(o.path / "fills.parquet").sort_values(["exchange_ns", "fill_id"])
    pnl = pd.read_parquet(o.path / "pnl.parquet")
    assert len(fills) > 10 and set(fills["side"]) == {1, -1}
    # brute force: the position at every row is the signed size of all fills up to it
    rows = pnl.to_dict("records")
    fill_rows = [r for r in rows if r["event"] == "fill"]
    assert len(fill_rows) == len(fills)
    signed = (fills["side"] * fills["size"]).to_numpy()
    assert [r["position"] for r in fill_rows] == list(np.cumsum(signed))
    t = fills["exchange_ns"].to_numpy()
    for r in rows:
        if r["event"] == "mark":
            assert r["position"] == signed[t <= r["ts_ns"]].sum()
        assert abs(r["position"]) <= 300 + 100  # limit, plus one quote racing a fill
    # flat at the end: total PnL is the cash flow, minus fees
    assert pnl["position"].iloc[-1] == 0 and o.tca["pnl"]["final_position"] == 0
    cash = -(fills["side"] * fills["price"] * fills["size"]).sum() / 10_000 - fills["fee"].sum()
    assert pnl["total_pnl"].iloc[-1] == pytest.approx(cash, abs=1e-6)
    assert o.tca["pnl"]["total_pnl"] == pytest.approx(cash, abs=1e-6)


def test_cli_run_and_compare(scenario_file, tmp_path, capsys):
    out = tmp_path / "res"
    assert cli.main(["run", str(scenario_file), "--out", str(out)]) == 0
    text = capsys.readouterr().out
    (run_dir,) = run_dirs(out)
    assert run_dir.name in text and "shortfall" in text
    assert cli.main(["compare", str(scenario_file), str(scenario_file), "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert text.count("short_twap") >= 2 and "total_bps" in text
    assert f"2 runs in {out.resolve()}: 0 run now, 2 already complete (skipped" in text
    assert len(run_dirs(out)) == 1  # the same scenario three times is one run
    assert cli.main(["run", str(scenario_file), "--out", str(out), "--rerun"]) == 0
    assert f"run {run_dir.name} → " in capsys.readouterr().out and len(run_dirs(out)) == 1
    bad = tmp_path / "bad.toml"
    bad.write_text(SCENARIO.replace("n_children = 5", "n_children = 5\nspeed = 2"))
    assert cli.main(["run", str(bad), "--out", str(out)]) == 2
    assert "schedule.speed" in capsys.readouterr().err


def test_pretrade_inputs_given_or_estimated(scenario_file, tmp_path):
    scn = load_scenario(scenario_file)
    doc = with_overrides(scn.raw, {"pretrade": {"model": "almgren2005", "shares_outstanding": 4.5e8,
                                                "adv": 2e6, "participation": 0.05}})
    o = experiment.run_scenario(parse_scenario(doc, base_dir=scenario_file.parent), tmp_path / "r")
    pre = o.tca["pretrade"]
    assert pre["model"] == "almgren2005" and pre["adv"] == 2e6 and pre["participation"] == 0.05
    est = experiment.load_data(scn).estimated.market
    assert pre["daily_vol"] == est.daily_vol and pre["spread_bps"] == est.spread_bps  # the rest from the data
    no_model = {k: v for k, v in scn.raw.items() if k != "pretrade"}
    assert experiment.run_scenario(parse_scenario(no_model, base_dir="."), tmp_path / "r").tca["pretrade"] is None


def test_pnl_average_cost_by_hand():
    """Buy 100 @ 10.00, buy 100 @ 12.00 (avg 11), sell 300 @ 13.00 (realise 2 x 200 = 400, flip to -100 @ 13)."""
    from tickreplay.trader.pnl import pnl_table
    from tickreplay.tape import EventKind as K, Instrument, Tape

    inst = Instrument("T", "test", "2024-01-02", price_scale=100, tick_size=1)
    ns = 1_000_000_000
    # book: bid 11.99 / ask 12.01 → mid 12.00 throughout
    tape = Tape.from_columns(inst, ts_ns=np.array([0, 0]), kind=np.array([K.ADD, K.ADD]), side=np.array([1, -1]),
                             price=np.array([1199, 1201]), size=np.array([10, 10]), order_id=np.array([1, 2]))
    market = MarketSeries.from_tape(tape, compute_snapshots(tape, 1))
    fills = pd.DataFrame({"fill_id": [1, 2, 3], "side": [1, 1, -1], "price": [1000, 1200, 1300],
                          "size": [100, 100, 300], "fee": [1.0, 1.0, 3.0], "exchange_ns": [ns, 2 * ns, 3 * ns]})
    pnl = pnl_table(fills, market, 0, 4 * ns, 2 * ns)
    assert list(pnl["event"]) == ["mark", "fill", "fill", "mark", "fill", "mark"]
    assert list(pnl["position"]) == [0, 100, 200, 200, -100, -100]
    assert list(pnl["avg_cost"]) == [0.0, 10.0, 11.0, 11.0, 13.0, 13.0]
    last = pnl.iloc[-1]
    assert last["realised_pnl"] == pytest.approx(400 - 5)  # minus the fees
    assert last["unrealised_pnl"] == pytest.approx(-100 * (12.0 - 13.0))
    assert last["inventory"] == pytest.approx(-1200.0)
    assert pnl.iloc[3]["unrealised_pnl"] == pytest.approx(200 * (12.0 - 11.0))


@pytest.mark.parametrize("batch_size", [1, 5])
def test_a_grid_killed_mid_way_resumes_with_only_the_missing_runs(scenario_file, tmp_path, batch_size):
    """``kill -9`` a grid part-way; the same command again runs only what is missing, and the store then holds
    exactly one run per distinct scenario (no partial folder or batch, no duplicate); in run folders or batches."""
    import signal
    import subprocess
    import sys
    import time

    seeds = list(range(1, 31))
    grid = tmp_path / "grid.toml"
    grid.write_text(f'base = "{scenario_file.name}"\n[sweep]\n"seed" = {seeds}\n"schedule.n_children" = [5, 10]\n')
    out = tmp_path / "res"
    cmd = [sys.executable, "-c", "import sys; from tickreplay.cli import main; sys.exit(main(sys.argv[1:]))",
           "compare", "--grid", str(grid), "--out", str(out), "--batch-size", str(batch_size)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while (not out.is_dir() or len(store_index(out)) < 3) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done = len(store_index(out))
    assert 3 <= done < 60, "the grid should have been killed part-way"
    assert bool(run_dirs(out)) == (batch_size == 1)
    again = subprocess.run(cmd, capture_output=True, text=True, check=True)
    assert f"60 runs in {out.resolve()}: {60 - done} run now, {done} already complete" in again.stdout
    assert cli.main(["query", "SELECT count(*) AS n, count(DISTINCT run_id) AS ids FROM runs", "--root", str(out)]) == 0
    assert query("SELECT count(*) AS n, count(DISTINCT run_id) AS ids FROM runs", out).iloc[0].tolist() == [60, 60]
    assert query("SELECT count(DISTINCT run_id) AS n FROM fills", out)["n"].iloc[0] == 60
    for folder in (out, out / "_batches"):  # nothing half-written is left: every hidden entry is a current version
        names = {p.name for p in folder.iterdir()} if folder.is_dir() else set()
        hidden = {n for n in names if n.startswith(".")}
        assert hidden == {os.readlink(folder / n) for n in names - hidden if (folder / n).is_symlink()}
