"""The caused cost (hedges measured against the day without them), the learning-curve statistics and the prior
weight of the hedging loop (docs/loop.md, "The oracle" and "The learning curve")."""

from __future__ import annotations

import copy
import math
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from tickreplay.errors import ConfigError
from tickreplay.hedging.executors import default_executor, load_days, measure_hedge
from tickreplay.hedging.loop import LoopResult, run_loop
from tickreplay.hedging.loop_config import parse_loop
from tickreplay.hedging.loop_report import (compare, error_curve, error_halves, error_trend, experience_curve,
                                            experience_trend, hedges_learned)
from tickreplay.hedging.oracle import caused_cost
from tickreplay.hedging.policies import prior_date
from tickreplay.schedule.base import ChildOrder, ParentOrder

from test_loop import TINY, _tiny_reactive

NS = 1_000_000_000


class _Mids:
    """A counterfactual market stub: twice the mid is ``mid_x2[k]`` from ``ts[k]`` on."""

    def __init__(self, ts: list[int], mid_x2: list[int]):
        self.ts, self.mid_x2 = np.asarray(ts, np.int64), np.asarray(mid_x2, np.int64)

    def mid_x2_at(self, t):
        return self.mid_x2[np.maximum(np.searchsorted(self.ts, t, side="right") - 1, 0)]


def test_the_caused_cost_of_hand_built_fills_is_their_price_against_the_counterfactual_mid_just_before():
    mids = _Mids([0, 100, 200], [20_000, 20_010, 20_040])  # mid 10,000 then 10,005 then 10,020 (price units)
    fills = pd.DataFrame({"price": [10_010, 10_030], "size": [100, 50], "fee": [0.5, 0.25],
                          "exchange_ns": [100, 250]})  # the first fill at the mid's change: the mid before it counts
    unit = 0.01  # currency per price unit × share
    buy = (100 * (10_010 - 10_000) + 50 * (10_030 - 10_020)) * unit + 0.75
    assert caused_cost(fills, 1, mids, unit) == pytest.approx(buy)
    sell = -(100 * (10_010 - 10_000) + 50 * (10_030 - 10_020)) * unit + 0.75  # a sale above the mid earns
    assert caused_cost(fills, -1, mids, unit) == pytest.approx(sell)
    assert caused_cost(fills.iloc[:0], 1, mids, unit) == 0.0


def _zero_impact_hedges(Y: float, regime: str = "liquid_large_cap"):
    """Eight hedges (alternating sides, 60 market children of 300 shares, 10 s apart) on one reactive day with
    planted ``Y``: (day, side, start, execution, TCA) each."""
    doc = _tiny_reactive(Y)
    doc["loop"]["generate"].update(regimes=[regime], duration_s=5400, planted={regime: {"Y": Y, "delta": 1.0}})
    doc["loop"]["regimes"] = {regime: {"participation_cap": 0.2}}
    cfg = parse_loop(doc)
    day = load_days(cfg)[0]
    ex = default_executor(cfg)
    out = []
    for j in range(8):
        start, side = day.session[0] + (5 + 9 * j) * 60 * NS, 1 if j % 2 else -1
        kids = [ChildOrder(start + k * 10 * NS, 300, "market", parent_id=1, index=k) for k in range(60)]
        e = ex.execute(day, side, kids, start)
        tca, _ = measure_hedge(day, e, ParentOrder(side, 18_000, start, start + 600 * NS), "SYN", 60 * NS)
        out.append((day, side, start, e, tca))
    return out


def test_without_planted_impact_the_caused_cost_is_the_book_cost_and_the_random_walk_cancels():
    """Y = 0: the caused cost is the spread and book cost (a tick or two), the same hedge after hedge, while the
    realised cost swings with the price; realised − caused is exactly the plain day's mid move from the arrival
    mid weighted by our fills (the reactive day is the plain day until our first child arrives)."""
    rows = []
    for day, side, start, e, tca in _zero_impact_hedges(0.0):
        sf = tca["shortfall"]
        f = e.fills
        q = f["size"].to_numpy(np.int64)
        notional = sf["arrival_notional"] * q.sum() / sf["quantity"]
        realised = (sf["total_currency"] - sf.get("opportunity_currency", 0.0)) / notional * 1e4
        caused = tca["caused_cost"] / notional * 1e4
        plain = day.data.market
        assert sf["arrival_mid"] * 2 * day.price_scale == pytest.approx(plain.mid_x2_at(start - 1))  # before our child
        move = side * (q * (plain.mid_x2_at(f["exchange_ns"].to_numpy(np.int64) - 1) - plain.mid_x2_at(start - 1))
                       ).sum() / (2 * day.price_scale) / notional * 1e4
        assert realised - caused == pytest.approx(move, abs=1e-9)
        rows.append((realised, caused, move))
    realised, caused, move = map(np.array, zip(*rows))
    spread_bps = day.market.spread_bps
    assert (np.abs(caused) < 2 * spread_bps + 3).all()  # book cost, plus the two latent paths' small drift apart
    assert caused.std() < 0.25 * realised.std() and np.abs(move).max() > 3 * np.abs(caused).max()


def test_with_planted_impact_the_caused_cost_carries_it_and_the_loop_records_it():
    """The same loop hedges with Y = 30 and Y = 0: the caused cost grows by about the planted γX/2, and each hedge's
    caused error is |predicted − caused|; a day's mean is the mean of its hedges'."""
    runs = {Y: run_loop(parse_loop(_tiny_reactive(Y)), "static") for Y in (0.0, 30.0)}
    a, b = (runs[Y].hedges[runs[Y].hedges["filled_shares"] > 0] for Y in (0.0, 30.0))
    assert len(b) >= 1 and list(a["traded_shares"]) == list(b["traded_shares"])
    assert np.isfinite(b["caused_cost_bps"]).all() and np.isfinite(a["caused_cost_bps"]).all()
    mid = float(load_days(parse_loop(_tiny_reactive(30.0)))[0].mid_at(b["time_ns"].iat[0]))
    planted = (b["planted_gamma"] * b["filled_shares"] / 2 / mid * 1e4).to_numpy()
    extra = (b["caused_cost_bps"] - a["caused_cost_bps"]).to_numpy()
    assert extra.mean() == pytest.approx(planted.mean(), rel=0.5) and (extra > 0.5 * planted).all()
    assert b["abs_caused_error_bps"].to_numpy() == pytest.approx(
        (b["predicted_cost_bps"] - b["caused_cost_bps"]).abs().to_numpy())
    d = runs[30.0].days.set_index("day")
    assert d["abs_caused_error_bps"].iat[0] == pytest.approx(b["abs_caused_error_bps"].mean())


def test_catalog_like_days_without_a_counterfactual_have_no_caused_cost(tmp_path):
    """A day whose ``counterfactual`` is unknown (catalog days) keeps NaN and the comparison says so."""
    cfg = parse_loop(copy.deepcopy(TINY))
    days = [replace(d, counterfactual=None) for d in load_days(cfg)]
    res = run_loop(cfg, "static", days=days)
    done = res.hedges[res.hedges["filled_shares"] > 0]
    assert len(done) and done["caused_cost_bps"].isna().all() and done["abs_caused_error_bps"].isna().all()
    reg = run_loop(cfg, "regime", days=days)
    cmp = compare({"static": res, "regime": reg})
    assert math.isnan(cmp["policies"]["static"]["mean_abs_caused_error_bps"]) and "caused_error_trend" not in cmp
    assert any("prediction error of the caused cost not measured" in line for line in cmp["findings"])
    generated = run_loop(cfg, "static")  # the same generated days with their counterfactual
    assert np.isfinite(generated.hedges.loc[generated.hedges["filled_shares"] > 0, "caused_cost_bps"]).all()


def _result(policy: str, days: list[tuple[int, str]], errors: dict[int, list[float]],
            learned: dict[int, list[int]] | None = None) -> LoopResult:
    """A hand-built loop result: ``days`` (index, regime), per day the hedges' caused errors (realised errors
    twice those), optionally the hedges each was decided after learning from (one update per hedge learned)."""
    hedges, cals = [], []
    for day, regime in days:
        for k, e in enumerate(errors[day]):
            n = 0 if learned is None else learned[day][k]
            hedges.append({"day": day, "regime": regime, "filled_shares": 100, "abs_caused_error_bps": e,
                           "abs_error_bps": 2 * e, "predicted_cost_bps": 10.0, "caused_cost_bps": 10.0 + e,
                           "realised_cost_bps": 10.0 + 2 * e, "calibration_id": f"{regime}:{n}"})
    for regime in {g for _, g in days}:
        top = max([0] + [max(learned[d]) for d, g in days if g == regime]) if learned else 0
        cals += [{"key": regime, "to": f"{regime}:{n}", "n_parents": 1} for n in range(1, top + 1)]
    d = pd.DataFrame({"day": [k for k, _ in days], "regime": [g for _, g in days], "hedge_cost": 0.0,
                      "hedged_pnl": 0.0})
    return LoopResult(policy, pd.DataFrame(hedges), d, pd.DataFrame(), pd.DataFrame(cals))


def test_the_within_regime_trend_removes_the_regime_level_and_the_pooled_slope_does_not():
    """Errors fall 2 bps a day within each regime, the volatile regime 50 bps higher and its days last: the pooled
    slope rises, the within-regime slope is −2 exactly (its interval too: every draw is exact)."""
    days = [(k, "calm") for k in range(6)] + [(k, "vol") for k in range(6, 10)]
    errors = {k: [(60.0 if g == "vol" else 10.0) + 20 - 2 * k] * 2 for k, g in days}
    r = _result("regime", days, errors)
    assert error_trend(r, measure="caused")["slope_bps_per_day"] > 0
    t = error_trend(r, measure="caused", within_regime=True, n=200)
    assert t["slope_bps_per_day"] == pytest.approx(-2.0) and t["ci"] == pytest.approx([-2.0, -2.0])
    assert t["within_regime"] and t["measure"] == "caused" and t["days"] == 10
    assert error_trend(r, measure="realised", within_regime=True, n=50)["slope_bps_per_day"] == pytest.approx(-4.0)
    static = _result("static", days, {k: [30.0] for k, _ in days})
    paired = error_trend(r, static, measure="caused", within_regime=True, n=50)
    assert paired["slope_bps_per_day"] == pytest.approx(-2.0) and paired["paired_with"] == "static"
    c = error_curve(r)
    assert c["mean_abs_caused_error_bps"].tolist() == [e[0] for e in errors.values()]
    assert c["running_mean_abs_caused_error_bps"].iat[1] == pytest.approx((errors[0][0] + errors[1][0]) / 2)


def test_the_halves_compare_the_first_and_the_second_half_of_the_days():
    days = [(k, "calm" if k % 2 else "vol") for k in range(8)]
    errors = {k: [40.0 if k < 4 else 10.0, 50.0 if k < 4 else 20.0] for k, _ in days}
    h = error_halves(_result("regime", days, errors), n=100)
    assert (h["first_half_bps"], h["second_half_bps"], h["difference"]) == pytest.approx((45.0, 15.0, -30.0))
    assert h["days"] == [4, 4] and h["ci"][1] < 0


def test_the_experience_trend_is_the_slope_per_doubling_of_the_hedges_learned():
    """Error = 40 − 8·log2(1 + n learned) (+ 30 in the volatile regime): −8 bps per doubling, exactly."""
    days = [(0, "calm"), (1, "calm"), (2, "vol"), (3, "vol"), (4, "calm"), (5, "vol")]
    learned = {0: [0, 1], 1: [3, 7], 2: [0, 1], 3: [3, 7], 4: [15, 31], 5: [15, 31]}
    errors = {d: [40 - 8 * math.log2(1 + n) + (30 if g == "vol" else 0) for n in learned[d]] for d, g in days}
    r = _result("regime", days, errors, learned)
    assert hedges_learned(r).tolist() == [n for d, _ in days for n in learned[d]]
    t = experience_trend(r, n=100)
    assert t["slope_bps_per_doubling"] == pytest.approx(-8.0) and t["max_learned"] == 31
    assert t["ci"] == pytest.approx([-8.0, -8.0])
    e = experience_curve(r, edges=(0, 1, 8))
    calm = e[e["regime"] == "calm"].set_index("learned_from")
    assert calm.loc[0, "hedges"] == 1 and calm.loc[1, "hedges"] == 3 and calm.loc[8, "hedges"] == 2
    assert calm.loc[0, "mean_abs_caused_error_bps"] == pytest.approx(40.0)


def test_the_prior_weight_dates_the_prior_so_each_pseudo_parent_weighs_at_most_that():
    assert prior_date("2024-01-02", 3.0) == "2024-01-01"  # weight 1: the day before, as before
    d = prior_date("2024-01-02", 20.0, 0.05)
    age = (np.datetime64("2024-01-02") - np.datetime64(d)).astype(int)
    assert age == math.ceil(20 * math.log2(20)) and 0.5 ** (age / 20) <= 0.05 < 0.5 ** ((age - 1) / 20)
    doc = copy.deepcopy(TINY)
    doc["loop"]["update"]["prior_weight"] = 0.05
    cfg = parse_loop(doc)
    assert cfg.prior_weight == 0.05
    res = run_loop(cfg, "regime")
    light = res.calibrations.iloc[0]
    heavy = run_loop(parse_loop(copy.deepcopy(TINY)), "regime").calibrations.iloc[0]
    assert light["hedges"] == heavy["hedges"]  # the same first hedge, weighed against a lighter prior (γ 0)
    assert light["gamma"] > 3 * heavy["gamma"] > 0


@pytest.mark.parametrize("weight", [0.0, 1.5, -0.1])
def test_a_prior_weight_outside_zero_to_one_is_an_error_naming_the_key(weight):
    doc = copy.deepcopy(TINY)
    doc["loop"]["update"]["prior_weight"] = weight
    with pytest.raises(ConfigError, match=r"loop\.update\.prior_weight"):
        parse_loop(doc)
