"""The routed hedging loop with the planted response across the venues, the per-venue TCA of its hedges, and the
router comparison inside the loop (hedging.router_compare, ``tickreplay loop --compare-routers``)."""

from __future__ import annotations

import copy
import json
import math

import numpy as np
import pandas as pd
import pytest

from tickreplay.hedging.executors import RoutedExecutor, load_days, measure_hedge
from tickreplay.hedging.loop import load_exposure, run_loop
from tickreplay.hedging.loop_config import parse_loop
from tickreplay.hedging.loop_report import paired_bootstrap, verdict
from tickreplay.hedging.router_compare import _days, compare_routers, router_policy, run_routers
from tickreplay.impact.replay_impact import round_to_ticks
from tickreplay.schedule.base import ChildOrder, ParentOrder

S = 1_000_000_000
PLANTED = {"model": "propagator", "G0": 3.0, "permanent_bps": 1.5, "trade_size": 1000.0, "beta": 0.5, "tau0": 60.0}
ZERO = {**PLANTED, "G0": 0.0, "permanent_bps": 0.0}
DOC = {"name": "routed", "seed": 3, "loop": {
    "instrument": "SYN", "threshold_shares": 4000, "risk_aversion": 1e-4, "period_s": 30, "n_horizons": 10,
    "generate": {"days": 3, "regimes": ["liquid_large_cap"], "duration_s": 2400, "seed": 40,
                 "planted": {"liquid_large_cap": PLANTED}},
    "exposure": {"seed": 2, "jump_rate_per_hour": 8.0, "jump_median_shares": 6000},
    "router": {"policy": "best", "horizon_s": 20, "compare": ["single:A", "best", "cont-kukanov"]},
    "venues": [{"name": "A", "share": 0.7, "fees": {"taker_bps": 0.3, "maker_bps": -0.2}},
               {"name": "B", "share": 0.3, "fees": {"taker_bps": 0.1}}]}}


def _doc(planted=PLANTED, **router) -> dict:
    doc = copy.deepcopy(DOC)
    doc["loop"]["generate"]["planted"] = {"liquid_large_cap": planted}
    doc["loop"]["router"].update(router)
    return doc


@pytest.fixture(scope="module")
def routed():
    cfg = parse_loop(_doc())
    days = load_days(cfg)
    return cfg, days, load_exposure(cfg, days)


@pytest.fixture(scope="module")
def compared(routed):
    cfg, days, path = routed
    results, cpu = run_routers(cfg, "regime", days=days, exposure=path)
    return results, cpu, compare_routers(results, seed=cfg.seed, n=400)


# -- the planted response across the venues --------------------------------------------------------------

def test_routed_days_carry_the_planted_response_and_its_gamma(routed):
    cfg, days, _ = routed
    model = cfg.generated.planted["liquid_large_cap"]
    assert all(d.response == model and len(d.venues) == 2 for d in days)
    from tickreplay.adapters.synthetic_regimes import PRICE_SCALE, resolve

    mid = resolve("liquid_large_cap")[1].start_price / PRICE_SCALE
    assert all(d.planted_gamma == pytest.approx(1.5e-4 * mid / 1000.0, rel=1e-12) for d in days)  # permanent·mid/size


def test_generated_loop_days_hold_every_level_the_generator_quotes(routed):
    from tickreplay.adapters.synthetic_regimes import REGIMES

    depth = REGIMES["liquid_large_cap"].depth_levels
    _, days, _ = routed
    assert all(d.data.snapshots.levels == depth for d in days)
    assert all(v.replay.snapshots.levels == depth for d in days for v in d.venues)
    doc = _doc()
    del doc["loop"]["router"], doc["loop"]["venues"]
    doc["loop"]["generate"]["days"] = 1
    (day,) = load_days(parse_loop(doc))  # the impact-adjusted replay on one venue
    assert day.data.snapshots.levels == depth
    # a market order deeper than 5 levels fills whole (5-level snapshots left the rest unfilled)
    t0 = day.session[0] + 300 * S
    from tickreplay.hedging.executors import ImpactReplayExecutor

    ex = ImpactReplayExecutor().execute(day, 1, [ChildOrder(t0, 15000, "market", parent_id=1, index=0)], t0)
    assert int(ex.fills["size"].sum()) == 15000
    assert ex.fills["price"].nunique() > 5


def test_a_routed_hedge_moves_one_price_on_both_venues_and_the_loop_measures_it(routed):
    cfg, days, _ = routed
    day = days[1]  # best takes B's price for some children here (on days 0 and 2 A's book is the better price)
    t0 = day.session[0] + 300 * S
    kids = [ChildOrder(t0 + k * 30 * S, 3000, "market", parent_id=1, index=k) for k in range(4)]
    ex = RoutedExecutor(router_policy(cfg.router), cfg.seed).execute(day, 1, kids, t0)
    f = ex.fills
    assert int(f["size"].sum()) == 12000 and set(f["venue"]) == {"A", "B"}
    assert ex.shift is not None and (f["impact_shift"] > 0).any()
    later = f[f["exchange_ns"] > f["exchange_ns"].min()]  # after the first fill both venues trade in the shifted market
    assert set(later.loc[later["impact_shift"] > 0, "venue"]) == {"A", "B"}
    parent = ParentOrder(1, 12000, t0, t0 + 120 * S, 1)
    tca, row = measure_hedge(day, ex, parent, cfg.instrument, cfg.post_ns)
    assert tca["shortfall"]["market_impact_bps"] > 0
    # the measured parent's post-trade mid is the historical mid + the one shift (what the calibration learns from)
    t_post = min(int(f["exchange_ns"].max()) + cfg.post_ns, day.session[1])
    shift = ex.shift.shift_at(t_post)
    assert shift > 0 and shift >= round_to_ticks(float(ex.shift.permanent), ex.shift.tick)
    assert row["m_post"] == pytest.approx(float(day.mid_at(t_post)) + shift / day.price_scale, abs=1e-12)
    # the route keeps each venue's TCA; the venues' parts add up to the execution shortfall (minus opportunity)
    t = ex.route["tca"]
    assert sum(t[v]["filled"] for v in t) == 12000 and all(t[v]["maker"] + t[v]["taker"] == t[v]["filled"] for v in t)
    sf = tca["shortfall"]
    executed_bps = (sf["total_currency"] - sf.get("opportunity_currency", 0.0)) / sf["arrival_notional"] * 1e4
    assert sum(t[v]["cost_bps"] for v in t) == pytest.approx(executed_bps, rel=1e-9)


def test_the_planted_response_makes_routed_hedges_cost_more_than_zero_impact(routed):
    cfg, days, path = routed
    zero_cfg = parse_loop(_doc(ZERO))
    zero_days = load_days(zero_cfg)
    on = run_loop(cfg, "static", days=days, exposure=path).hedges
    off = run_loop(zero_cfg, "static", days=zero_days, exposure=path).hedges
    on, off = on[on["filled_shares"] > 0], off[off["filled_shares"] > 0]
    assert len(on) >= 4 and (off["market_impact_bps"] == 0).all() and (on["market_impact_bps"] >= 0).all()
    # a hedge of several children trades in the shift its earlier fills left (one child filled in one sweep: none)
    assert (on.loc[on["n_children"] > 1, "market_impact_bps"] > 0).all()
    assert on["realised_cost"].sum() > off["realised_cost"].sum()
    assert (on["planted_gamma"] > 0).all() and off["planted_gamma"].eq(0).all()


def test_the_loops_venue_fills_hold_each_venues_tca(compared):
    results, _, _ = compared
    for label, r in results.items():
        vf = r.venue_fills
        assert {"maker_shares", "taker_shares", "cost_bps", "passive_fill_rate", "markout_1s_bps"} <= set(vf.columns)
        assert (vf["maker_shares"] + vf["taker_shares"] == vf["filled_shares"]).all(), label
        rate = vf["passive_fill_rate"].dropna()
        assert ((rate >= 0) & (rate <= 1)).all(), label
        if label == "cont-kukanov":
            assert vf["maker_shares"].sum() > 0 and len(rate) > 0
        else:  # market orders only: nothing passive
            assert vf["maker_shares"].sum() == 0 and len(rate) == 0


# -- the router comparison inside the loop ------------------------------------------------------------------

def test_every_router_runs_the_same_days_and_exposure_and_learning_diverges(compared, routed):
    results, cpu, _ = compared
    cfg, days, _ = routed
    assert list(results) == ["single:A", "best", "cont-kukanov"] and set(cpu) == set(results)
    first = results["single:A"]
    for label, r in results.items():
        assert (r.hedges["route"] == label).all() and (r.days["route"] == label).all()
        assert list(r.days["day"]) == [d.index for d in days]
        pd.testing.assert_series_equal(r.exposure["exposure_shares"], first.exposure["exposure_shares"])
    assert (results["single:A"].venue_fills.query("venue == 'B'")["sent_shares"] == 0).all()
    # with learning on, the router changes what the calibration learns: every router's eta (its realised costs);
    # gamma (from the mids: historical + the one shift) only where the fills' sizes or times differ — single:A and
    # best fill every market child at once on these days, so they leave the same shift and learn the same gamma
    etas = {label: tuple(r.calibrations["eta"].round(15)) for label, r in results.items()}
    gammas = {label: tuple(r.calibrations["gamma"].round(15)) for label, r in results.items()}
    assert len(set(etas.values())) == 3
    assert gammas["single:A"] == gammas["best"] != gammas["cont-kukanov"]


def test_the_router_comparison_is_the_loops_paired_statistics_against_the_baseline(compared):
    results, _, cmp = compared
    assert cmp["baseline"] == "single:A" and cmp["policy"] == "regime"
    base = _days(results["single:A"])
    for label in ("best", "cont-kukanov"):
        d = _days(results[label])
        ref = paired_bootstrap(d, base, 3, 400)
        got = cmp["vs_baseline"][label]
        for k in ("total_hedge_cost", "hedged_pnl_variance", "mean_abs_error_bps"):
            assert got[k] == ref[k]
            assert got[k]["difference"] == pytest.approx(cmp["stats"][label][k] - cmp["stats"]["single:A"][k])
        fees = {p: results[p].venue_fills["fees"].sum() for p in (label, "single:A")}
        assert got["fees"]["difference"] == pytest.approx(fees[label] - fees["single:A"])
        assert got["fees"]["days"] == 3 and got["fees"]["ci"][0] <= got["fees"]["ci"][1]
        for k, c in got.items():
            assert cmp["verdicts"][label][k] == verdict(*c["ci"], "single:A"), (label, k)
            assert all(math.isfinite(x) for x in c["ci"])
    # cont-kukanov earns rebates on A's passive fills: its fees are below single:A's taker fees on every day
    assert cmp["vs_baseline"]["cont-kukanov"]["fees"]["ci"][1] < 0
    assert cmp["verdicts"]["cont-kukanov"]["fees"] == "lower"
    s = cmp["stats"]
    assert s["single:A"]["passive_share"] == 0 and s["cont-kukanov"]["passive_share"] > 0.2
    assert s["single:A"]["venues"]["B"]["filled_shares"] == 0 and s["best"]["venues"]["B"]["filled_shares"] > 0


def test_the_fees_interval_uses_the_same_day_resamples_as_the_other_statistics(compared):
    results, _, _ = compared
    a, b = _days(results["best"]), _days(results["single:A"])
    # the fees as a hedge-cost column: paired_bootstrap's total_hedge_cost interval of it is the fees interval
    as_cost = paired_bootstrap(a.assign(hedge_cost=a["fees"]), b.assign(hedge_cost=b["fees"]), 3, 400)
    cmp = compare_routers({"single:A": results["single:A"], "best": results["best"]}, seed=3, n=400)
    assert cmp["vs_baseline"]["best"]["fees"]["ci"] == pytest.approx(as_cost["total_hedge_cost"]["ci"], rel=1e-12)


def test_the_router_comparison_is_deterministic(routed, compared):
    cfg, days, path = routed
    again, _ = run_routers(cfg, "regime", days=days, exposure=path)
    results = compared[0]
    for label in results:
        pd.testing.assert_frame_equal(again[label].hedges, results[label].hedges, check_exact=True)
    assert json.dumps(compare_routers(again, seed=cfg.seed, n=400), default=float) == \
        json.dumps(compared[2], default=float)


def test_the_default_routers_are_single_on_the_first_venue_best_and_cont_kukanov():
    doc = _doc()
    del doc["loop"]["router"]["compare"]
    cfg = parse_loop(doc)
    assert [router_policy(s).label for s in cfg.router_compare] == ["single:A", "best", "cont-kukanov"]
    assert cfg.router_compare[2].horizon_s == 20  # the [loop.router] table's settings
    tables = parse_loop(_doc(compare=["best", {"policy": "cont-kukanov", "horizon_s": 60}])).router_compare
    assert [(t.policy, t.horizon_s) for t in tables] == [("best", 20), ("cont-kukanov", 60)]


def test_the_cli_writes_the_comparison_per_learning_policy_and_stores_queryable_loops(tmp_path):
    import tomli_w

    from tickreplay.cli import main
    from tickreplay.results import query

    doc = _doc(compare=["single:A", "best"])
    doc["loop"]["generate"]["days"] = 2
    doc["loop"]["generate"]["duration_s"] = 1200
    (tmp_path / "r.toml").write_text(tomli_w.dumps(doc))
    out = tmp_path / "res"
    assert main(["loop", str(tmp_path / "r.toml"), "--compare-routers", "--out", str(out)]) == 0
    res = json.loads((out / "_loop_routed" / "router_comparison.json").read_text())
    assert set(res["policies"]) == {"regime", "static"} and res["days"] == 2
    assert set(res["cpu_s"]["static"]) == {"single:A", "best"}
    assert res["policies"]["static"]["vs_baseline"]["best"]["fees"]["days"] == 2
    assert (out / "_loop_routed" / "router_comparison_regime.png").stat().st_size > 0
    q = query("SELECT policy, route, count(*) AS days, sum(hedge_cost) AS cost FROM loop_days GROUP BY ALL "
              "ORDER BY ALL", out)
    assert q[["policy", "route"]].values.tolist() == [["regime", "best"], ["regime", "single:A"],
                                                      ["static", "best"], ["static", "single:A"]]
    assert (q["days"] == 2).all()
    stats = res["policies"]["static"]["stats"]
    for row in q.itertuples():
        assert row.cost == pytest.approx(res["policies"][row.policy]["stats"][row.route]["total_hedge_cost"])
    v = query("SELECT run_id, venue, sum(filled_shares) AS f FROM loop_venue_fills GROUP BY ALL ORDER BY ALL", out)
    assert set(v["run_id"]) == {"routed-router-single_A-regime", "routed-router-best-regime",
                                "routed-router-single_A-static", "routed-router-best-static"}
    assert stats["best"]["venues"]["B"]["filled_shares"] == int(
        v.query("run_id == 'routed-router-best-static' and venue == 'B'")["f"].iloc[0])
    assert np.isfinite(stats["best"]["total_hedge_cost"])
