"""The closed hedging loop: determinism, every breach hedged or paused, the update chain, predicted cost = the
chosen curve point, scenario errors naming the key / file, row and field, and the regime-aware loop moving its
calibration toward the planted values."""

from __future__ import annotations

import copy
import re
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
    "generate": {"days": 3, "regimes": ["liquid_large_cap", "news_spike", "liquid_large_cap"], "duration_s": 4200,
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
    news = days[1].news_ns  # 10:30 on a 09:30-10:40 day: the pause applies 300 s either side of it
    assert news is not None and days[1].session[0] < news < days[1].session[1]
    assert ((paused["time_ns"] >= news - cfg.pause_ns) & (paused["time_ns"] < news + cfg.pause_ns)).all()
    outside = h[(h["regime"] == "news_spike") & ((h["time_ns"] < news - cfg.pause_ns) |
                                                (h["time_ns"] >= news + cfg.pause_ns))]
    assert len(outside) and not outside["paused"].any()
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
        regimes.append(parents["regime"].iat[0])
        return new

    regimes: list[str] = []
    res = run_loop(cfg, "regime", days=days, exposure=path, updater=spy)
    liquid = res.hedges[(res.hedges["regime"] == "liquid_large_cap") & (res.hedges["filled_shares"] > 0)]
    assert len(calls) >= 2
    for key in set(regimes):  # each update of a regime's calibration starts from its previous result
        chain = [c for c, r in zip(calls, regimes) if r == key]
        for (_, prev_out, _), (nxt_in, _, _) in zip(chain, chain[1:]):
            assert nxt_in is prev_out
    calls = [c for c, r in zip(calls, regimes) if r == "liquid_large_cap"]
    upd = res.calibrations[res.calibrations["key"] == "liquid_large_cap"]
    ids = liquid["calibration_id"].tolist()
    assert ids[0] == "liquid_large_cap:0"
    for row in liquid.itertuples():  # in force: the last update applied before the hedge, made from the one before
        n = int(row.calibration_id.split(":")[1])
        assert n == int((upd["time_ns"] <= row.time_ns).sum())
        if n:
            assert row.gamma == calls[n - 1][1].params["gamma"]
            assert set(calls[n - 1][2]) <= set(range(row.hedge))  # learnt from earlier hedges only
    for (_, new, rows), u in zip(calls, upd.itertuples()):
        assert new.params["gamma"] == u.gamma and ",".join(map(str, rows)) == u.hedges


def test_the_predicted_cost_of_each_hedge_is_the_executed_schedules_and_the_curve_point_is_kept(tiny):
    cfg, days, path = tiny
    res = run_loop(cfg, "daily", days=days, exposure=path)
    for row, dec in zip(res.hedges.itertuples(), res.decisions):
        if dec["chosen"] is None:
            assert row.predicted_cost == 0.0 and row.paused
            continue
        point = dec["curve"][dec["chosen"]]
        assert row.predicted_cost == dec["schedule"]["expected_cost"]  # AC's schedule of the traded quantity
        assert row.predicted_cost_bps == dec["schedule"]["expected_cost_bps"]
        assert row.curve_cost == point["expected_cost"]
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


def test_the_hedge_position_is_carried_across_days(tiny):
    cfg, days, path = tiny
    res = run_loop(cfg, "static", days=days, exposure=path)
    h, ex = res.hedges, res.exposure
    signed = (h["side"] * h["filled_shares"]).groupby(h["day"]).sum()
    assert (signed != 0).any()
    for d in range(1, len(days)):
        first = ex[ex["day"] == d].iloc[0]  # before any hedge of day d: every hedge of the earlier days
        earlier = int(signed[signed.index < d].sum())
        assert first["hedge_position_shares"] == earlier
        assert first["net_shares"] == first["exposure_shares"] + earlier
    for d in range(len(days)):  # the day's P&L is computed on that carried net
        o = ex[ex["day"] == d]
        mid = days[d].mid_at(o["time_ns"].to_numpy()) * days[d].multiplier
        pnl = float((o["net_shares"].to_numpy()[:-1] * (mid[1:] - mid[:-1])).sum())
        assert res.days["exposure_pnl"].iat[d] == pytest.approx(pnl, rel=1e-12, abs=1e-9)


class _HalfFilled:
    """An executor keeping the first half (by time) of another's fills: a hedge with unfilled shares."""

    def __init__(self, inner):
        self.inner = inner

    def execute(self, day, side, kids, start_ns):
        ex = self.inner.execute(day, side, kids, start_ns)
        f = ex.fills.sort_values("exchange_ns", kind="stable")
        return replace(ex, fills=f.iloc[: max(len(f) // 2, 1)].reset_index(drop=True), shift=None)


def test_the_hedge_cost_is_the_filled_shares_shortfall_without_the_opportunity_part(tiny):
    from tickreplay.hedging.executors import default_executor

    cfg, days, path = tiny
    res = run_loop(cfg, "static", days=days, exposure=path, executor=_HalfFilled(default_executor(cfg)))
    h = res.hedges[res.hedges["filled_shares"] > 0]
    part = h[h["filled_shares"] < h["traded_shares"]]
    assert len(part) and (part["opportunity_cost"] != 0).any()
    for x in part.itertuples():  # execution shortfall on the filled shares: s·Σq·(p − M0)·mult, vs arrival mid
        d = days[x.day]
        m0 = float(d.data.market.mid_x2_at(x.time_ns)) / (2.0 * d.price_scale)
        end = min(x.time_ns + x.horizon_ns, d.session[1])
        m1 = float(d.data.market.mid_x2_at(end)) / (2.0 * d.price_scale)
        opp = x.side * (x.traded_shares - x.filled_shares) * (m1 - m0) * d.multiplier
        assert x.opportunity_cost == pytest.approx(opp, rel=1e-9, abs=1e-6)
        assert x.realised_cost_bps == pytest.approx(x.realised_cost / (x.filled_shares * m0 * d.multiplier) * 1e4,
                                                    rel=1e-9)
    cost = h.groupby("day")["realised_cost"].sum().reindex(res.days["day"], fill_value=0.0).to_numpy()
    assert res.days["hedge_cost"].to_numpy() == pytest.approx(cost)
    assert (res.days["hedged_pnl"] - res.days["exposure_pnl"]).to_numpy() == pytest.approx(-cost)


def test_a_clamped_fit_is_decided_with_the_last_unclamped_eta_and_counted(tiny):
    from tickreplay.hedging.loop_report import compare, eta_sources, summary

    cfg, days, path = tiny

    def clamping(cal, parents, half_life, **kw):  # every update clamps eta at 0, as a fit on a speedless market
        new = update(cal, parents, half_life, **kw)
        return replace(new, params={**new.params, "eta": 0.0})

    res = run_loop(cfg, "regime", days=days, exposure=path, updater=clamping)
    h = res.hedges[res.hedges["filled_shares"] > 0]
    learnt = h[h["calibration_id"].str.split(":").str[1].astype(int) > 0]
    assert len(learnt) and (learnt["eta_fitted"] == 0).all()
    assert (learnt["eta_source"] == "fallback").all() and not learnt["eta_floored"].any()
    first = h[h["calibration_id"] == "liquid_large_cap:0"]["eta"].iat[0]  # the prior's eta, scale 1 in this regime
    liquid = learnt[learnt["regime"] == "liquid_large_cap"]
    assert len(liquid) and (liquid["eta"] == first).all()
    counts = eta_sources(res)
    assert counts["fallback"] == len(learnt) and counts["fit"] == len(h) - len(learnt)
    assert summary(res)["eta_sources"] == counts
    assert compare({"regime": res})["policies"]["regime"]["eta_sources"] == counts


def test_comparison_json_keeps_the_tracking_summary_and_the_per_update_table(tmp_path):
    import json

    from tickreplay.cli import main

    g = TINY["loop"]["generate"]
    (tmp_path / "tiny.toml").write_text(f"""name = "tiny"
seed = 3
[loop]
instrument = "SYN"
threshold_shares = 4000
risk_aversion = 1e-4
period_s = 30
n_horizons = 10
pause_s = 300
[loop.update]
half_life_days = 2.0
every = "hedge"
[loop.generate]
days = 2
regimes = ["liquid_large_cap", "liquid_large_cap"]
duration_s = 900
seed = {g["seed"]}
[loop.exposure]
seed = 2
jump_rate_per_hour = 12.0
jump_median_shares = 6000
""")
    assert main(["loop", str(tmp_path / "tiny.toml"), "--compare", "--no-figures", "--out", str(tmp_path)]) == 0
    cmp = json.loads((tmp_path / "_loop_tiny" / "comparison.json").read_text())
    summary = cmp["tracking"]["regime"]["liquid_large_cap"]  # tracking_summary, as docs/loop.md says
    assert {"updates", "gamma", "gamma_ci", "planted_gamma", "ratio", "planted_inside_ci"} <= set(summary)
    rows = cmp["tracking_updates"]["regime"]
    assert len(rows) == summary["updates"] and {"key", "day", "gamma", "planted_gamma", "gap"} <= set(rows[0])


ROUTED = {"name": "routed", "seed": 3, "loop": {
    "instrument": "SYN", "threshold_shares": 4000, "risk_aversion": 1e-4, "period_s": 30, "n_horizons": 10,
    "generate": {"days": 2, "regimes": ["liquid_large_cap"], "duration_s": 2400, "seed": 40},
    "exposure": {"seed": 2, "jump_rate_per_hour": 8.0, "jump_median_shares": 6000},
    "router": {"policy": "best"},
    "venues": [{"name": "A", "share": 0.7, "fees": {"taker_bps": 0.3}},
               {"name": "B", "share": 0.3, "fees": {"taker_bps": 0.1}}]}}  # B: thinner (30 % of the orders)


def _routed(router: dict) -> dict:
    doc = copy.deepcopy(ROUTED)
    doc["loop"]["router"] = router
    return doc


@pytest.fixture(scope="module")
def routed():
    cfg = parse_loop(_routed({"policy": "best"}))
    days = load_days(cfg)
    return days, load_exposure(cfg, days)


@pytest.mark.parametrize("router, label", [({"policy": "single", "venue": "A"}, "single:A"),
                                           ({"policy": "best"}, "best")])
def test_a_routed_loop_routes_every_hedge_across_the_venues(routed, router, label):
    import json

    days, path = routed
    assert all([v.name for v in d.venues] == ["A", "B"] for d in days)
    r = run_loop(parse_loop(_routed(router)), "static", days=days, exposure=path)
    h = r.hedges[r.hedges["traded_shares"] > 0]
    assert len(h) >= 4 and set(h["day"]) == {0, 1}
    assert (h["route"] == label).all() and (h["filled_shares"] <= h["traded_shares"]).all()
    close = h["day"].map({d.index: d.session[1] for d in days})
    early = h[h["time_ns"] + h["horizon_ns"] + 60 * 10**9 < close]  # not cut by the close (the last may be)
    assert len(early) >= 3 and (early["filled_shares"] == early["traded_shares"]).all()
    filled = [json.loads(x) for x in h["route_filled"]]
    assert [f["A"] + f["B"] for f in filled] == list(h["filled_shares"])  # the legs add up to the traded quantity
    vf = r.venue_fills
    assert vf.groupby("hedge")["filled_shares"].sum().to_dict() == dict(zip(h["hedge"], h["filled_shares"]))
    if label == "single:A":
        assert all(f["B"] == 0 for f in filled) and (vf.loc[vf["venue"] == "B", "sent_shares"] == 0).all()
    else:  # the thinner venue B does not show a hedge's size at once: best splits, and uses both venues
        assert sum(f["B"] for f in filled) > 0 and sum(f["A"] for f in filled) > 0
        assert any(f["A"] > 0 and f["B"] > 0 for f in filled)
    for row in h.itertuples():  # the decision record holds the route
        dec = r.decisions[row.hedge]
        assert dec["route"] == label and dec["route_detail"]["policy"] == label
        assert dec["route_detail"]["filled"] == json.loads(row.route_filled)
        assert sum(d["size"] for d in dec["route_detail"]["decisions"] if d["what"] == "child") > 0


@pytest.mark.parametrize("change, key", [
    (lambda t: t.pop("venues"), "loop.router"),
    (lambda t: t.pop("router"), "loop.venues"),
    (lambda t: t["generate"].update(market="reactive"), "loop.generate.market"),
    (lambda t: t["generate"].update(planted={"liquid_large_cap": {
        "model": "propagator", "G0": 1.0, "permanent_bps": 0.5, "trade_size": 1000.0, "beta": 0.5, "tau0": 60.0,
        "clock": "trades"}}), "loop.generate.planted.liquid_large_cap.clock"),
    (lambda t: t["router"].update(compare=["best"]), "loop.router.compare"),
    (lambda t: t["router"].update(compare=["best", "single:C"]), "loop.router.compare[1]"),
    (lambda t: t["router"].update(compare=["best", "fastest"]), "loop.router.compare[1]"),
    (lambda t: t["router"].update(compare=["best", "best"]), "loop.router.compare[1]"),
    (lambda t: t["router"].update(compare=["best", {"policy": "single"}]), "loop.router.compare[1].venue"),
    (lambda t: t.update(venues=[{"name": "A", "catalog": "X"}, {"name": "B", "catalog": "Y"}]),
     "loop.venues[0].catalog"),
    (lambda t: t.update(router={"policy": "single", "venue": "C"}), "loop.router.venue"),
    (lambda t: t.update(router={"policy": "fastest"}), "loop.router.policy"),
    (lambda t: t["venues"][1].update(share=-1), "loop.venues[1].share"),
    (lambda t: (t.pop("generate"), t.update(days=["SYN/2024-01-02"])), "loop.router"),
])
def test_routed_scenario_errors_name_the_key(change, key):
    doc = copy.deepcopy(ROUTED)
    change(doc["loop"])
    with pytest.raises(ConfigError, match=re.escape(f"'{key}")):
        parse_loop(doc)
