"""The closed hedging loop: determinism, every breach hedged or paused, the update chain, predicted cost = the
chosen curve point, scenario errors naming the key / file, row and field, and the regime-aware loop moving its
calibration toward the planted values."""

from __future__ import annotations

import copy
import tomllib
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest

from tickreplay.errors import ConfigError, InputError
from tickreplay.hedging.executors import load_days
from tickreplay.hedging.loop import load_exposure, run_loop
from tickreplay.hedging.loop_config import load_loop, parse_loop
from tickreplay.impact.update import update

SCENARIO = Path(__file__).parent.parent / "scenarios" / "hedging_loop.toml"
TINY = {"name": "tiny", "seed": 3, "loop": {
    "instrument": "SYN", "threshold_shares": 4000, "risk_aversion": 1e-4, "period_s": 30, "n_horizons": 10,
    "pause_s": 300, "update": {"half_life_days": 2.0, "every": "hedge"},
    "generate": {"days": 3, "regimes": ["liquid_large_cap", "news_spike", "liquid_large_cap"], "duration_s": 900,
                 "seed": 40},
    "exposure": {"seed": 2, "jump_rate_per_hour": 12.0, "jump_median_shares": 6000}}}


@pytest.fixture(scope="module")
def tiny():
    cfg = parse_loop(copy.deepcopy(TINY))
    days = load_days(cfg)
    return cfg, days, load_exposure(cfg, days)


def test_a_tiny_loop_is_deterministic(tiny):
    cfg, days, path = tiny
    a = run_loop(cfg, "regime", days=days, exposure=path)
    b = run_loop(cfg, "regime", days=load_days(cfg), exposure=path)
    assert len(a.hedges) >= 3
    pd.testing.assert_frame_equal(a.hedges, b.hedges)
    pd.testing.assert_frame_equal(a.days, b.days)
    pd.testing.assert_frame_equal(a.calibrations, b.calibrations)


def test_every_breach_is_hedged_or_recorded_as_paused_with_its_unhedged_exposure(tiny):
    cfg, days, path = tiny
    h = run_loop(cfg, "regime", days=days, exposure=path).hedges
    assert h["paused"].any() and (~h["paused"]).any()
    paused = h[h["paused"]]
    assert (paused["regime"] == "news_spike").all()
    assert (paused["filled_shares"] == 0).all() and (paused["unhedged_shares"] == paused["required_shares"]).all()
    done = h[~h["paused"]]
    assert (done["filled_shares"] > 0).all()
    assert (done["unhedged_shares"] == done["required_shares"] - done["filled_shares"]).all()


def test_the_calibration_in_force_at_hedge_k_is_the_update_of_the_one_before(tiny):
    cfg, days, path = tiny
    calls = []

    def spy(cal, parents, half_life, **kw):
        new = update(cal, parents, half_life, **kw)
        calls.append((cal, new, list(parents["row"])))
        return new

    res = run_loop(cfg, "regime", days=days, exposure=path, updater=spy)
    liquid = res.hedges[(res.hedges["regime"] == "liquid_large_cap") & (res.hedges["filled_shares"] > 0)]
    assert len(calls) >= 2
    for (_, prev_out, _), (nxt_in, _, _) in zip(calls, calls[1:]):  # each update starts from the previous result
        assert nxt_in is prev_out
    ids = liquid["calibration_id"].tolist()
    assert ids[0] == "liquid_large_cap:0"
    upd = res.calibrations
    for row in liquid.itertuples():  # in force: the last update applied before the hedge, made from the one before
        n = int(row.calibration_id.split(":")[1])
        assert n == int((upd["time_ns"] <= row.time_ns).sum())
        if n:
            assert row.gamma == calls[n - 1][1].params["gamma"]
            assert set(calls[n - 1][2]) <= set(range(row.hedge))  # learnt from earlier hedges only
    for (_, new, rows), upd in zip(calls, res.calibrations.itertuples()):
        assert new.params["gamma"] == upd.gamma and ",".join(map(str, rows)) == upd.hedges


def test_the_predicted_cost_of_each_hedge_is_the_curve_point_of_the_chosen_horizon(tiny):
    cfg, days, path = tiny
    res = run_loop(cfg, "daily", days=days, exposure=path)
    for row, dec in zip(res.hedges.itertuples(), res.decisions):
        if dec["chosen"] is None:
            assert row.predicted_cost == 0.0 and row.paused
            continue
        point = dec["curve"][dec["chosen"]]
        assert row.predicted_cost == point["expected_cost"]
        assert row.horizon_ns == point["horizon_ns"]
        assert dec["route"] == "single" and dec["calibration_id"] == row.calibration_id


@pytest.mark.parametrize("change, key", [
    (lambda d: d["loop"].update(speed=1), "loop.speed"),
    (lambda d: d["loop"]["update"].update(half_life_days=-1), "loop.update.half_life_days"),
    (lambda d: d["loop"]["generate"].update(regimes=["nope"]), "loop.generate.regimes[0]"),
    (lambda d: d["loop"].update(policy="greedy"), "loop.policy"),
    (lambda d: d["loop"].update(regimes={"news_spike": {"action": "wait"}}), "loop.regimes.news_spike"),
    (lambda d: d["loop"].pop("threshold_shares"), "loop.threshold_shares"),
])
def test_scenario_errors_name_the_key(change, key):
    doc = copy.deepcopy(TINY)
    change(doc)
    with pytest.raises(ConfigError, match=key.replace("[", r"\[").replace("]", r"\]")):
        parse_loop(doc)


def test_a_scenario_file_error_names_the_file(tmp_path):
    f = tmp_path / "bad.toml"
    f.write_text('[loop]\ninstrument = "SYN"\nthreshold_shares = "many"\n')
    with pytest.raises(ConfigError, match=r"bad\.toml.*loop\.threshold_shares"):
        load_loop(f)


@pytest.mark.parametrize("row, field, kind", [("SYN,12", "instrument", "unknown"), ("SYN,lots", "exposure", "bad"),
                                              ("SYN,12", "ts_ns", "outside")])
def test_exposure_file_errors_name_file_row_and_field(tiny, tmp_path, row, field, kind):
    cfg, days, _ = tiny
    t0 = days[0].session[0]
    inst, value = row.split(",")
    t = t0 - 10**9 if kind == "outside" else t0 + 10**9
    inst = "XYZ" if kind == "unknown" else inst
    f = tmp_path / "exposure.csv"
    f.write_text(f"ts_ns,instrument,exposure\n{t0},SYN,0\n{t},{inst},{value}\n")
    doc = copy.deepcopy(TINY)
    doc["loop"]["exposure"] = {"file": str(f)}
    c = parse_loop(doc)
    with pytest.raises(InputError, match=rf"exposure\.csv, row 3, field '{field}'"):
        load_exposure(c, days)


def test_overlapping_catalog_days_are_an_error_naming_the_key(tmp_path):
    from tickreplay.adapters.synthetic import generate_day
    from tickreplay.book.fast import compute_snapshots
    from tickreplay.catalog import Catalog

    cat = Catalog(tmp_path / "replay")
    tapes = [generate_day("liquid_large_cap", s, duration_s=120) for s in (1, 2)]  # one date: the sessions overlap
    keys = [cat.write("synthetic", t, compute_snapshots(t, 5)).key for t in tapes]
    doc = {"loop": {"instrument": "SYN", "threshold_shares": 100, "days": keys, "catalog_root": str(cat.root),
                    "exposure": {"seed": 1}}}
    with pytest.raises(ConfigError, match=r"loop\.days\[1\].*overlap"):
        load_days(parse_loop(doc))


def test_the_regime_loop_moves_its_gamma_toward_the_planted_one():
    cfg = load_loop(SCENARIO)
    cfg = replace(cfg, generated=replace(cfg.generated, days=10, regimes=("liquid_large_cap",)))
    res = run_loop(cfg, "regime")
    c = res.calibrations
    planted = res.days["planted_gamma"].iat[0]
    assert len(c) >= 5
    first_gap = abs(0.0 - planted)  # the textbook prior has no permanent impact
    last_gap = abs(c["gamma"].iat[-1] - planted)
    assert last_gap < 0.75 * first_gap
    static = run_loop(cfg, "static", days=load_days(cfg))
    assert (static.hedges["gamma"] == 0).all() and static.calibrations.empty


REACTIVE = Path(__file__).parent.parent / "scenarios" / "hedging_loop_reactive.toml"


def _tiny_reactive(Y: float) -> dict:
    doc = copy.deepcopy(TINY)
    doc["loop"].update(period_s=10, threshold_shares=20000, risk_aversion=1e-5)
    doc["loop"]["generate"] = {"market": "reactive", "days": 1, "regimes": ["liquid_large_cap"],
                               "duration_s": 1800, "seed": 40,
                               "planted": {"liquid_large_cap": {"Y": Y, "delta": 1.0}}}
    doc["loop"]["exposure"] = {"seed": 2, "jump_rate_per_hour": 6.0, "jump_median_shares": 40000}
    doc["loop"]["regimes"] = {"liquid_large_cap": {"participation_cap": 0.2}}
    return doc


def test_reactive_hedges_pay_the_planted_impact():
    """Same day, exposure and decisions (static policy): the realised cost with planted Y exceeds the cost with
    Y = 0 by about the planted permanent impact γX/2 (the background is the same, so the difference is the
    planted response), and every fill is an execution of the reactive tape."""
    runs = {}
    for Y in (0.0, 30.0):
        cfg = parse_loop(_tiny_reactive(Y))
        runs[Y] = run_loop(cfg, "static")
    a, b = (runs[Y].hedges[runs[Y].hedges["filled_shares"] > 0] for Y in (0.0, 30.0))
    assert len(a) >= 1 and list(a["traded_shares"]) == list(b["traded_shares"])
    assert set(b["executor"]) == {"reactive market"}
    assert (b["planted_gamma"] > 0).all() and (a["planted_gamma"] == 0).all()
    extra = (b["realised_cost_bps"] - a["realised_cost_bps"]).to_numpy()
    mid = float(load_days(parse_loop(_tiny_reactive(30.0)))[0].mid_at(b["time_ns"].iat[0]))
    planted = (b["planted_gamma"] * b["filled_shares"] / 2 / mid * 1e4).to_numpy()  # γX/2, bps of the mid
    assert extra.mean() == pytest.approx(planted.mean(), rel=0.5)
    assert (extra > 0.25 * planted).all()


@pytest.mark.parametrize("change, key", [
    (lambda d: d["loop"]["regimes"].update(liquid_large_cap={"style": "limit_touch"}),
     "loop.regimes.liquid_large_cap.style"),
    (lambda d: d["loop"]["generate"]["planted"]["liquid_large_cap"].pop("Y"),
     "loop.generate.planted.liquid_large_cap.Y"),
    (lambda d: d["loop"]["generate"]["planted"]["liquid_large_cap"].update(delta=2.0),
     "loop.generate.planted.liquid_large_cap"),
    (lambda d: d["loop"]["generate"].update(market="live"), "loop.generate.market"),
])
def test_reactive_scenario_errors_name_the_key(change, key):
    doc = _tiny_reactive(10.0)
    change(doc)
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        parse_loop(doc)


def test_the_eta_floor_raises_an_ill_posed_fit_to_just_above_gamma_tau_over_two():
    from tickreplay.hedging.decision import ETA_FLOOR_FACTOR, TRADING_DAY_NS, floor_eta
    from tickreplay.impact.calibration import new_calibration

    tau = 10e9 / TRADING_DAY_NS
    cal = new_calibration("almgren-chriss", {"eta": 0.0, "gamma": 1e-5})
    raised, floored = floor_eta(cal, 10_000_000_000)
    assert floored and raised.params["eta"] == pytest.approx(ETA_FLOOR_FACTOR * 1e-5 * tau / 2)
    assert raised.params["gamma"] == 1e-5
    ok = new_calibration("almgren-chriss", {"eta": 1e-6, "gamma": 1e-5})
    assert floor_eta(ok, 10_000_000_000) == (ok, False)


def test_the_reactive_scenario_generates_its_regimes_with_their_planted_gamma():
    cfg = load_loop(REACTIVE)
    assert cfg.generated.market == "reactive" and cfg.generated.days >= 20
    y = {r: cfg.generated.planted[r].Y for r in set(cfg.generated.regimes)}
    assert y == {"liquid_large_cap": 30.0, "high_volatility": 60.0}
