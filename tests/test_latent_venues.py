"""Generated venues through scenarios, the hedging loop and ``tickreplay generate --venue``: each venue its own
order flow (regime, MarketParams overrides, activity, flow seed) on one latent price of the instrument.

The shipped ``scenarios/two_venues_latent.toml`` is the fixture: venue A is the instrument's regime, venue B is
wider (3 ticks), shallower (10 levels), has bigger orders (median 300) and half the activity."""

from __future__ import annotations

import json
import re
import tomllib
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tickreplay.adapters.latent import LatentPath, VenueFlow, generate_venues
from tickreplay.adapters.synthetic import REGIMES, DayGenerator, synthetic_market
from tickreplay.book.fast import compute_snapshots
from tickreplay.errors import ConfigError
from tickreplay.experiment.scenario import load_scenario, parse_scenario, with_overrides
from tickreplay.experiment.venues_run import _generated_data, planning_data, venue_data
from tickreplay.tape import EventKind

REPO = Path(__file__).resolve().parents[1]
SCENARIO = REPO / "scenarios" / "two_venues_latent.toml"
DOC = tomllib.loads(SCENARIO.read_text())
TICK = 100  # liquid_large_cap's tick, price units


def _mids(data, grid: np.ndarray) -> np.ndarray:
    """Book mid (ticks) in force at each time of ``grid`` (NaN where a side is empty)."""
    s = data.snapshots
    row = np.searchsorted(data.tape.ts_ns, grid, side="right") - 1
    two = (s.ask_size[row, 0] > 0) & (s.bid_size[row, 0] > 0)
    return np.where(two, (s.ask_price[row, 0] + s.bid_price[row, 0]) / 2 / TICK, np.nan)


def _agreement(a, b) -> tuple[float, float]:
    """(largest |mid A - mid B| in ticks over each second from 60 s, correlation of their 1-minute mid changes)."""
    t0 = a.replay.session_start_ns
    grid = t0 + np.arange(60, 1800, dtype=np.int64) * 10**9
    ma, mb = _mids(a, grid), _mids(b, grid)
    da, db = np.diff(ma[::60]), np.diff(mb[::60])
    ok = np.isfinite(da) & np.isfinite(db)
    return float(np.nanmax(np.abs(ma - mb))), float(np.corrcoef(da[ok], db[ok])[0, 1])


def _doc(**venue_b) -> dict:
    """The shipped scenario's document with venue B's table updated (a key set to None is removed)."""
    doc = json.loads(json.dumps(DOC))
    doc["venues"][1].update(venue_b)
    doc["venues"][1] = {k: v for k, v in doc["venues"][1].items() if v is not None}
    return doc


@pytest.fixture(scope="module")
def venues():
    return venue_data(load_scenario(SCENARIO))


# -- one latent price, venue-specific books ----------------------------------------------------------------------

def test_the_venues_share_the_latent_price(venues):
    a, b = venues
    assert a.tape.instrument.symbol == b.tape.instrument.symbol  # one instrument
    diff, corr = _agreement(a, b)
    assert diff <= 3.0 and corr > 0.98  # measured: 2 ticks, 0.994
    t0 = a.replay.session_start_ns
    grid = t0 + np.arange(60, 1800, dtype=np.int64) * 10**9
    path = LatentPath(DOC["data"]["synthetic"]["regime"], DOC["data"]["synthetic"]["seed"])
    latent = path.price_at(grid - t0) / TICK
    assert np.ptp(latent) > 20  # the price moved: agreement is not a flat line
    for d in venues:  # each tracked book sits on the path (measured: std 0.39 / 0.47 tick, max 1.6 / 2.0)
        err = _mids(d, grid) - latent
        assert np.nanstd(err) < 0.6 and abs(np.nanmean(err)) < 0.1 and np.nanmax(np.abs(err)) <= 3.0


def test_the_agreement_check_sees_another_path_and_untracked_books(venues):
    """The bounds above fail for a venue on another latent path, and for the same venues without tracking."""
    a = venues[0]
    other = venue_data(parse_scenario(with_overrides(DOC, {"data.synthetic.seed": 4})))[1]
    diff, corr = _agreement(a, other)
    assert diff > 20 and corr < 0.5  # measured: 68 ticks, 0.15
    doc = _doc(track=False)
    doc["venues"][0]["track"] = False
    diff, corr = _agreement(*venue_data(parse_scenario(doc)))
    assert diff > 3.0 and corr < 0.98  # measured: 5.5 ticks, 0.91 (the untracked book lags the path)


def test_the_venues_differ_as_configured(venues):
    a, b = venues
    t0 = a.replay.session_start_ns
    grid = t0 + np.arange(60, 1800, dtype=np.int64) * 10**9
    path = LatentPath("liquid_large_cap", 3)
    stats = {}
    for name, d in (("A", a), ("B", b)):
        s = d.snapshots
        row = np.searchsorted(d.tape.ts_ns, grid, side="right") - 1
        add = (d.tape.kind == EventKind.ADD) & (d.tape.side == 1)
        spread = d.tape.extra_meta["params"]["spread_ticks"]
        # ticks each new bid lies behind its reference quote (from the latent price at the ADD's own time)
        ref = np.floor(path.price_at(d.tape.ts_ns[add] - t0) / TICK - spread / 2 + 0.5)
        stats[name] = {"spread": (s.ask_price[row, 0] - s.bid_price[row, 0]) / TICK,
                       "behind": ref - d.tape.price[add] // TICK,
                       "size": float(np.median(d.tape.size[add])), "events": len(d.tape)}
    # each second's spread is the venue's spread_ticks (measured: every second; inside a burst it can differ)
    assert np.mean(stats["A"]["spread"] == 1) > 0.95 and np.mean(stats["B"]["spread"] == 3) > 0.95
    # depth_levels 20 vs 10: new orders land 0..19 or 0..9 ticks behind the reference (opening book aside)
    assert stats["A"]["behind"].min() == 0 and stats["A"]["behind"].max() >= 15
    assert stats["B"]["behind"].min() == 0 and stats["B"]["behind"].max() <= 9
    assert stats["A"]["size"] == 100 and stats["B"]["size"] == 300  # size_median
    assert 0.4 < stats["B"]["events"] / stats["A"]["events"] < 0.7  # activity 0.5 (measured 0.57)
    assert a.tape.extra_meta["params"]["spread_ticks"] == 1.0 and b.tape.extra_meta["params"]["spread_ticks"] == 3.0
    assert b.tape.extra_meta["latent"]["track"] is True and b.tape.extra_meta["latent"]["seed"] == 3


def test_generation_is_deterministic_and_each_venue_its_own_flow(venues):
    a, b = venues
    _generated_data.cache_clear()
    again = venue_data(load_scenario(SCENARIO))
    assert [d.fingerprint for d in again] == [a.fingerprint, b.fingerprint]
    assert all(np.array_equal(x.tape.ts_ns, y.tape.ts_ns) for x, y in zip(again, venues))
    moved = venue_data(parse_scenario(_doc(seed=9)))  # another flow seed on B only
    assert moved[0].fingerprint == a.fingerprint and moved[1].fingerprint != b.fingerprint
    # the scenario's venues are the Python API's generate_venues on the path of [data.synthetic]
    params = replace(REGIMES["liquid_large_cap"], spread_ticks=3.0, depth_levels=10, size_median=300)
    tapes = generate_venues(LatentPath("liquid_large_cap", 3), {
        "A": VenueFlow("liquid_large_cap", 1, track=True), "B": VenueFlow(params, 2, activity=0.5, track=True)},
        duration_s=1800)
    assert [t.fingerprint() for t in tapes.values()] == [a.fingerprint, b.fingerprint]


def test_planned_on_the_first_venue_and_share_scenarios_unchanged(venues):
    scn = load_scenario(SCENARIO)
    assert planning_data(scn, None).fingerprint == venues[0].fingerprint
    share = load_scenario(REPO / "scenarios" / "two_venues.toml")
    assert all("generator" not in v for v in share.spec()["venues"])  # its run id is as before
    assert all("generator" in v for v in scn.spec()["venues"])


def test_tracking_is_in_the_day_symbol():
    path = LatentPath("liquid_large_cap", seed=7)
    tracked = DayGenerator("liquid_large_cap", 1, duration_s=60, latent=path, track=True)
    assert tracked.instrument.symbol == f"liquid_large_cap-s1-l{path.tag()}t-60s"
    assert synthetic_market(tracked.instrument.symbol) == "liquid_large_cap"
    assert DayGenerator("liquid_large_cap", 1, duration_s=60, latent=path).instrument.symbol != \
        tracked.instrument.symbol
    with pytest.raises(ConfigError, match="track=True needs latent="):
        DayGenerator("liquid_large_cap", 1, duration_s=60, track=True)


# -- bad input: errors name the file and the key ----------------------------------------------------------------

@pytest.mark.parametrize("venue_b, message", [
    ({"regime": "big_cap"}, r"'venues\[1\]\.regime': expected one of 'liquid_large_cap'"),
    ({"sprad_ticks": 3}, r"unknown scenario key 'venues\[1\]\.sprad_ticks' \(known here: .*spread_ticks"),
    ({"activity": 0}, r"'venues\[1\]\.activity': expected a positive number"),
    ({"activity": -1.5}, r"'venues\[1\]\.activity': expected a positive number"),
    ({"share": 0.5}, r"'venues\[1\]': give exactly one of 'catalog'"),
    ({"seed": None}, r"'venues\[1\]\.seed' is required"),
    ({"seed": 1}, r"'venues\[1\]\.seed': venue 'A' has flow seed 1 too"),
    ({"seed": -2}, r"'venues\[1\]\.seed': expected a non-negative integer"),
    ({"tick_size": 50}, r"'venues\[1\]\.tick_size': tick_size is the instrument's"),
    ({"volatility_annual": 0.5}, r"'venues\[1\]\.volatility_annual': volatility_annual is the instrument's"),
    ({"spread_ticks": 0.5}, r"'venues\[1\]\.spread_ticks': MarketParams\.spread_ticks = 0\.5: expected at least 1"),
    ({"depth_levels": 2.5}, r"'venues\[1\]\.depth_levels': expected an integer"),
    ({"track": "yes"}, r"'venues\[1\]\.track': expected true or false"),
])
def test_bad_generated_venues_name_the_file_and_key(tmp_path, venue_b, message):
    import tomli_w

    f = tmp_path / "latent.toml"
    f.write_text(tomli_w.dumps(_doc(**venue_b)))
    with pytest.raises(ConfigError, match=rf"^{re.escape(str(f))}: (scenario key )?{message}"):
        load_scenario(f)


def test_mixed_modes_and_data_not_generated():
    doc = _doc()
    doc["venues"][1] = {"name": "B", "share": 0.4}
    with pytest.raises(ConfigError, match=r"'venues\[1\]\.share': venue 'B' is a share of one generated day .* but "
                                          r"venue 'A' is its own generated flow .* every venue"):
        parse_scenario(doc)
    doc = _doc()
    doc["venues"][0] = {**{k: v for k, v in doc["venues"][0].items() if k != "seed"}, "share": 0.6}
    with pytest.raises(ConfigError, match=r"'venues\[1\]\.seed': venue 'B' is its own generated flow .* every venue"):
        parse_scenario(doc)
    doc = {**_doc(), "data": {"catalog": "synthetic/x/2024-01-02"}}
    with pytest.raises(ConfigError, match=r"'venues\[0\]\.seed': generated venues quote around .* \[data\.synthetic\]"):
        parse_scenario(doc)
    doc = with_overrides(_doc(), {"data.synthetic.regime": "nope"})
    with pytest.raises(ConfigError, match=r"'data\.synthetic\.regime': expected one of"):
        parse_scenario(doc)


# -- tickreplay run: stored with per-venue TCA --------------------------------------------------------------------

def test_run_stores_per_venue_tca(tmp_path, venues):
    import tomli_w

    from tickreplay.cli import main
    from tickreplay.experiment.run import run_file

    out = tmp_path / "results"
    assert main(["run", str(SCENARIO), "--out", str(out)]) == 0
    (folder,) = [p for p in out.iterdir() if p.name.startswith("two_venues_latent_")]
    tca = json.loads((folder / "tca.json").read_text())
    sf = tca["shortfall"]
    assert sf["filled"] == 6000 and set(tca["venues"]) == {"A", "B"}
    assert sum(v["filled"] for v in tca["venues"].values()) == 6000
    assert sum(v["cost_bps"] for v in tca["venues"].values()) == pytest.approx(
        sf["total_bps"] - sf["opportunity_bps"], abs=1e-9)
    fills = pd.read_parquet(folder / "fills.parquet")
    assert set(fills["venue"]) <= {"A", "B"} and fills["size"].sum() == 6000
    for name in ("A", "B"):  # every fill is at a price of its own venue's book
        own = fills[fills["venue"] == name]
        d = venues[0 if name == "A" else 1]
        assert own["size"].sum() == tca["venues"][name]["filled"]
        assert np.isin(own["price"].to_numpy(), d.tape.price).all()
    meta = json.loads((folder / "run.json").read_text())
    assert meta["venues"]["B"] == {"generator": {"seed": 2, "activity": 0.5, "depth_levels": 10, "size_median": 300,
                                                 "spread_ticks": 3.0},
                                   "path": {"regime": "liquid_large_cap", "seed": 3}}
    # the data the run traded and planned on: the first venue's day, not [data.synthetic]'s plain day
    assert (meta["data"], meta["data_fingerprint"]) == (venues[0].key, venues[0].fingerprint)
    assert meta["instrument"] == venues[0].tape.instrument.to_dict() and meta["instrument"]["venue"] == "A"
    assert run_file(SCENARIO, out).skipped  # the same content: the same run id
    wider = tmp_path / "wider.toml"
    wider.write_text(tomli_w.dumps({**_doc(spread_ticks=4), "name": "two_venues_latent"}))
    assert run_file(wider, out).run_id != folder.name


# -- the hedging loop ----------------------------------------------------------------------------------------------

LOOP = {
    "name": "loop_latent", "seed": 11,
    "loop": {"instrument": "SYN", "threshold_shares": 3000, "risk_aversion": 1e-4, "period_s": 60, "n_horizons": 10,
             "policy": "static",
             "generate": {"days": 2, "regimes": ["liquid_large_cap", "thin_small_cap"], "duration_s": 900,
                          "seed": 100},
             "exposure": {"seed": 5, "jump_rate_per_hour": 8.0, "jump_median_shares": 6000,
                          "diffusion_shares_per_sqrt_hour": 500},
             "router": {"policy": "best"},
             "venues": [{"name": "A", "seed": 1, "fees": {"taker_bps": 0.3}},
                        {"name": "B", "seed": 2, "spread_ticks": 2, "size_median": 300, "activity": 0.5,
                         "fees": {"taker_bps": 0.1}}]},
}


def test_loop_venues_share_each_days_latent_price():
    from tickreplay.hedging.executors import load_days
    from tickreplay.hedging.loop import run_loop
    from tickreplay.hedging.loop_config import parse_loop

    cfg = parse_loop(LOOP)
    assert cfg.venues[1].generator.overrides == (("size_median", 300), ("spread_ticks", 2.0))
    days = load_days(cfg)
    for day, regime in zip(days, ("liquid_large_cap", "thin_small_cap")):
        a, b = day.venues
        assert day.regime == regime and day.key.startswith(f"synthetic/{regime}-s{100 + day.index}-l")
        assert day.data.replay is a.replay  # the desk decides on the first venue's day
        assert a.replay.instrument.symbol == b.replay.instrument.symbol
        # every level the generator quotes (the regime's depth_levels), not 5
        assert a.replay.snapshots.levels == b.replay.snapshots.levels == REGIMES[regime].depth_levels
        tick = REGIMES[regime].tick_size
        t = day.session[0] + np.arange(60, 900, 5, dtype=np.int64) * 10**9
        ma, mb = _replay_mid(a.replay, t) / tick, _replay_mid(b.replay, t) / tick
        # the hedges are measured on the consolidated market (best bid and ask across the venues), as tickreplay run
        ta, tb = _replay_touch(a.replay, t), _replay_touch(b.replay, t)
        both = np.isfinite(ma) & np.isfinite(mb)
        consolidated = (np.maximum(ta[0], tb[0]) + np.minimum(ta[1], tb[1])) / 2 / tick
        got = day.mid_at(t) * 10_000 / tick
        assert np.allclose(got[both], consolidated[both])
        assert not np.allclose(got[both], ma[both])  # not the first venue's own mid
        assert np.nanmax(np.abs(ma - mb)) <= 3.0  # one latent price per day
    result = run_loop(cfg, days=days)
    assert len(result.venue_fills) and set(result.venue_fills["venue"]) <= {"A", "B"}
    assert (result.venue_fills.groupby("hedge")["filled_shares"].sum() > 0).all()


def test_loop_generated_venues_snapshot_their_own_depth():
    from tickreplay.hedging.executors import load_days
    from tickreplay.hedging.loop_config import parse_loop

    doc = json.loads(json.dumps(LOOP))
    doc["loop"]["generate"]["days"] = 1
    doc["loop"]["venues"][1]["depth_levels"] = 8
    (day,) = load_days(parse_loop(doc))
    a, b = day.venues
    assert (a.replay.snapshots.levels, b.replay.snapshots.levels) == (REGIMES["liquid_large_cap"].depth_levels, 8)


def _replay_touch(replay, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(best bid, best ask) (price units, float) of a venue's replayed book in force at ``t`` (NaN: empty side)."""
    i = np.searchsorted(replay.ts_ns, t, side="right") - 1
    s = replay.snapshots
    return (np.where(s.bid_size[i, 0] > 0, s.bid_price[i, 0], np.nan),
            np.where(s.ask_size[i, 0] > 0, s.ask_price[i, 0], np.nan))


def _replay_mid(replay, t: np.ndarray) -> np.ndarray:
    """Mid (price units) of a venue's replayed book in force at ``t`` (NaN where a side is empty)."""
    i = np.searchsorted(replay.ts_ns, t, side="right") - 1
    s = replay.snapshots
    two = (s.bid_size[i, 0] > 0) & (s.ask_size[i, 0] > 0)
    return np.where(two, (s.bid_price[i, 0] + s.ask_price[i, 0]) / 2, np.nan)


def test_loop_venue_errors_name_the_key_and_the_regime():
    from tickreplay.hedging.loop_config import parse_loop

    bad = json.loads(json.dumps(LOOP))
    bad["loop"]["venues"][1]["depth_levels"] = 200  # too deep for the $8 thin_small_cap price grid
    with pytest.raises(ConfigError, match=r"'loop\.venues\[1\]\.depth_levels' \(on the thin_small_cap days .*"
                                          r"MarketParams\.start_price = 80000: expected at least 848 ticks"):
        parse_loop(bad)
    bad = json.loads(json.dumps(LOOP))
    bad["loop"]["venues"][0] = {"name": "A", "share": 0.6}
    with pytest.raises(ConfigError, match=r"'loop\.venues\[1\]\.seed': venue 'B' is its own generated flow"):
        parse_loop(bad)


# -- tickreplay generate --venue ------------------------------------------------------------------------------------

def test_generate_writes_one_instruments_venue_tapes(tmp_path, capsys):
    import tomli_w

    from tickreplay.catalog import Catalog
    from tickreplay.cli import main
    from tickreplay.experiment.run import run_file

    root = tmp_path / "replay"
    argv = ["generate", "--seed", "3", "--duration-s", "1800", "--catalog", str(root), "--levels", "5",
            "--venue", "A:seed=1", "--venue", "B:liquid_large_cap:seed=2,spread_ticks=3,depth_levels=10,"
                                              "size_median=300,activity=0.5"]
    assert main(argv) == 0
    keys = [line.split()[1] for line in capsys.readouterr().out.splitlines() if line.startswith("wrote ")]
    assert [k.split("/")[0].rsplit("-", 1)[0] for k in keys] == ["synthetic-A", "synthetic-B"]
    assert len({k.split("/", 1)[1] for k in keys}) == 1  # one instrument symbol and date
    cat = Catalog(root)
    scn = load_scenario(SCENARIO)
    generated = venue_data(scn)
    for key, d in zip(keys, generated):  # the scenario's venues, byte for byte
        assert cat.find(key).fingerprint == d.fingerprint
    assert main(argv) == 2 and "already exists" in capsys.readouterr().err
    # a scenario of catalog venues on those keys runs (one instrument: the same-instrument check passes)
    doc = {**DOC, "name": "from_catalog", "data": {"catalog": keys[0], "catalog_root": str(root)}}
    doc["venues"] = [{"name": n, "catalog": k, **{x: y for x, y in v.items() if x in ("fees", "latency")}}
                     for n, k, v in zip("AB", keys, DOC["venues"])]
    f = tmp_path / "from_catalog.toml"
    f.write_text(tomli_w.dumps(doc))
    o = run_file(f, tmp_path / "results")
    assert o.tca["shortfall"]["filled"] == 6000 and set(o.tca["venues"]) == {"A", "B"}


@pytest.mark.parametrize("venues, message", [
    (["A:seed=1", "B:seed=1"], "--venue B: key 'seed': venue 'A' has flow seed 1 too"),
    (["A:sede=1"], "--venue A: key 'sede': unknown key"),
    (["A:seed=1,activity=0"], "--venue A: key 'activity': expected a positive number"),
    (["A:nope:seed=1"], "--venue A: key 'regime': expected one of"),
    (["A:seed=1,tick_size=50"], "--venue A: key 'tick_size': tick_size is the instrument's"),
    (["A:seed=1,spread_ticks=0.5"], "--venue A: key 'spread_ticks': MarketParams.spread_ticks = 0.5"),
    # a derived check (the start price's room for the book) names the override that broke it
    (["A:seed=1,spread_ticks=1e6"], "--venue A: key 'spread_ticks': MarketParams.start_price"),
    (["A:seed=1,depth_levels=10000000"], "--venue A: key 'depth_levels': MarketParams.start_price"),
    (["A:seed=1,depth_levels=10000000,spread_ticks=2"], "--venue A: key 'depth_levels': MarketParams.start_price"),
    (["A:seed=1", "A:seed=2"], "--venue A: venue 'A' is given twice"),
    (["A-1:seed=1"], "--venue 'A-1:seed=1': expected NAME"),
    (["A:seed"], "--venue A: key 'regime': expected one of 'liquid_large_cap'"),  # A:REGIME
    (["A:x:seed"], "'seed' is not KEY=VALUE"),
    (["A:spread_ticks=2"], "--venue A: key 'seed' is required"),
])
def test_generate_venue_errors_name_the_option(tmp_path, capsys, venues, message):
    from tickreplay.cli import main

    argv = ["generate", "--seed", "3", "--duration-s", "60", "--catalog", str(tmp_path / "replay")]
    assert main(argv + [x for v in venues for x in ("--venue", v)]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "replay").exists()  # refused before anything is written


def test_generate_venue_refuses_one_day_options(tmp_path, capsys):
    from tickreplay.cli import main

    base = ["generate", "--seed", "3", "--duration-s", "60", "--venue", "A:seed=1"]
    for extra, message in ((["--activity", "2"], "--activity with --venue"),
                           (["--lobster-dir", str(tmp_path)], "--lobster-dir with --venue"),
                           (["--symbol", "X"], "--symbol with --venue"),
                           (["--activity", "0"], "--activity with --venue"),  # given, though falsy
                           (["--symbol", ""], "--symbol with --venue")):
        assert main(base + extra) == 2
        assert message in capsys.readouterr().err
