"""Hedging decision core: exposure files and generated paths, breach bookkeeping, the E + λV horizon and AC
schedule, regime rules, decision records as JSON."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import orjson
import pandas as pd
import pytest
from hypothesis import given, settings, strategies as st

from tickreplay.errors import AnomalyLog, ConfigError, InputError
from tickreplay.hedging import (Decision, DecisionConfig, ExposurePath, HedgeBook, RegimeRule, RegimeRules,
                                Requirement, decide, generate_exposure, read_exposure, rules_from_config,
                                scan_requirements)
from tickreplay.hedging.decision import TRADING_DAY_NS
from tickreplay.impact import almgren_chriss as ac
from tickreplay.impact.calibration import new_calibration
from tickreplay.impact.models import MarketInputs

S = 1_000_000_000
OPEN = 1_704_205_800 * S  # 2024-01-02 09:30 New York = 14:30 UTC
SESSIONS = [(OPEN, OPEN + 23_400 * S), (OPEN + 86_400 * S, OPEN + 86_400 * S + 23_400 * S)]
MARKET = MarketInputs(adv=2_000_000, daily_vol=0.02, spread_bps=2.0)
PRICE = 100.0
END = SESSIONS[0][1]


def write_csv(tmp_path: Path, lines: list[str], name: str = "exp.csv") -> Path:
    p = tmp_path / name
    p.write_text("\n".join(lines) + "\n")
    return p


GOOD = ["time,instrument,exposure", "2024-01-02T09:30:00-05:00,AAA,100", "2024-01-02T14:45:00.500000001Z,BBB,-250",
        "2024-01-02T16:00:00+01:00,AAA,300"]


# ---- exposure files


def test_exposure_file_reads_times_with_offsets_instruments_and_shares(tmp_path):
    path = read_exposure(write_csv(tmp_path, GOOD), {"AAA", "BBB"}, SESSIONS)
    assert path.times_ns.tolist() == [OPEN, OPEN + 900 * S + S // 2 + 1, OPEN + 1800 * S]
    assert path.instruments.tolist() == ["AAA", "BBB", "AAA"]
    assert path.exposure_shares.tolist() == [100, -250, 300] and path.exposure_shares.dtype == np.int64
    t, e = path.for_instrument("AAA")
    assert t.tolist() == [OPEN, OPEN + 1800 * S] and e.tolist() == [100, 300]


@pytest.mark.parametrize("row, field, bad, match", [
    (3, "instrument", "2024-01-02T14:45:00Z,ZZZ,-250", "unknown instrument 'ZZZ'"),
    (3, "time", "2024-01-02T21:05:00Z,BBB,-250", "outside the days' sessions"),
    (3, "time", "2024-01-02T14:45:00,BBB,-250", "UTC offset"),
    (3, "time", "yesterday,BBB,-250", "ISO-8601"),
    (3, "exposure", "2024-01-02T14:45:00Z,BBB,lots", "whole number of shares"),
    (3, "exposure", "2024-01-02T14:45:00Z,BBB,10.5", "whole number of shares"),
    (3, "exposure", "2024-01-02T14:45:00Z,BBB,", "whole number of shares"),
    (3, "time", "2024-01-02T14:29:00Z,BBB,-250", "outside the days' sessions"),
    (4, "time", "2024-01-02T14:31:00Z,BBB,-250", "rows must be sorted by time"),
])
def test_exposure_file_errors_name_file_row_and_field(tmp_path, row, field, bad, match):
    lines = list(GOOD)
    lines[2] = bad
    if row == 4:  # unsorted: the third data row goes back before the second
        lines = [GOOD[0], GOOD[1], "2024-01-02T14:40:00Z,BBB,5", bad]
    p = write_csv(tmp_path, lines)
    with pytest.raises(InputError, match=match) as err:
        read_exposure(p, {"AAA", "BBB"}, SESSIONS)
    assert (err.value.path, err.value.row, err.value.field) == (str(p), row, field)
    assert str(p) in str(err.value) and f"row {row}" in str(err.value) and f"'{field}'" in str(err.value)


def test_exposure_file_int_ns_column_and_missing_column(tmp_path):
    p = write_csv(tmp_path, ["ts_ns,instrument,exposure", f"{OPEN},AAA,1", f"{OPEN + S},AAA,x"])
    with pytest.raises(InputError) as err:
        read_exposure(p, {"AAA"}, SESSIONS)
    assert (err.value.row, err.value.field) == (3, "exposure")
    p = write_csv(tmp_path, ["ts_ns,instrument,exposure", f"{OPEN},AAA,1", "14:30,AAA,2"])
    with pytest.raises(InputError) as err:
        read_exposure(p, {"AAA"}, SESSIONS)
    assert (err.value.row, err.value.field) == (3, "ts_ns")
    p = write_csv(tmp_path, ["ts_ns,instrument,exposure", f"{OPEN},AAA,1", "9999999999999999999,AAA,2"])
    with pytest.raises(InputError, match="integer time in ns") as err:  # beyond int64
        read_exposure(p, {"AAA"}, SESSIONS)
    assert (err.value.row, err.value.field) == (3, "ts_ns")
    p = write_csv(tmp_path, ["when,instrument,exposure", f"{OPEN},AAA,1"])
    with pytest.raises(InputError, match="missing column") as err:
        read_exposure(p, {"AAA"}, SESSIONS)
    assert (err.value.row, err.value.field) == (None, "time")


def test_exposure_parquet_rows_count_records_from_one(tmp_path):
    p = tmp_path / "exp.parquet"
    pd.DataFrame({"ts_ns": [OPEN, OPEN + S, OPEN + 2 * S], "instrument": ["AAA", "AAA", "QQQ"],
                  "exposure": [1, 2, 3]}).to_parquet(p)
    with pytest.raises(InputError) as err:
        read_exposure(p, {"AAA"}, SESSIONS)
    assert (err.value.path, err.value.row, err.value.field) == (str(p), 3, "instrument")


def test_exposure_file_lenient_drops_and_counts_each_kind(tmp_path):
    p = write_csv(tmp_path, [GOOD[0], GOOD[1], "2024-01-02T14:40:00Z,AAA,2", "2024-01-02T14:45:00Z,ZZZ,1",
                             "2024-01-02T14:46:00Z,AAA,x", "2024-01-02T14:47:00Z,AAA,y", "2024-01-02T14:35:00Z,AAA,3",
                             "2024-01-02T14:50:00Z,AAA,4"])
    log = AnomalyLog(strict=False)
    path = read_exposure(p, {"AAA"}, SESSIONS, log)
    assert dict(log.counts) == {"unknown_instrument": 1, "bad_exposure": 2, "unsorted_time": 1}
    assert path.exposure_shares.tolist() == [100, 2, 4]
    assert "row 5, field 'exposure'" in log.examples["bad_exposure"][0]


# ---- generated exposure


def test_generated_path_is_deterministic_and_stays_in_the_sessions():
    a = generate_exposure(SESSIONS, ["AAA", "BBB"], seed=11)
    b = generate_exposure(SESSIONS, ["AAA", "BBB"], seed=11)
    c = generate_exposure(SESSIONS, ["AAA", "BBB"], seed=12)
    for f in ("times_ns", "instruments", "exposure_shares"):
        assert np.array_equal(getattr(a, f), getattr(b, f))
    assert not np.array_equal(a.exposure_shares, c.exposure_shares)
    s = np.asarray(SESSIONS)
    k = np.searchsorted(s[:, 0], a.times_ns, side="right") - 1
    assert np.all(k >= 0) and np.all(a.times_ns <= s[k, 1]) and np.all(np.diff(a.times_ns) >= 0)


def test_generated_jumps_have_the_documented_rate_and_size():
    days = [(OPEN + d * 86_400 * S, OPEN + d * 86_400 * S + 23_400 * S) for d in range(60)]
    rate, median = 3.0, 4_000.0
    path = generate_exposure(days, ["AAA"], seed=5, jump_rate_per_hour=rate, jump_median_shares=median,
                             jump_sigma=0.4, diffusion_shares_per_sqrt_hour=0.0)
    steps = np.diff(path.exposure_shares)
    jumps = steps[steps != 0]
    expected = rate * 6.5 * len(days)  # 1170 jumps; Poisson sd ≈ 34: a rate 10 % off is caught
    assert abs(len(jumps) - expected) < 4 * math.sqrt(expected)
    assert abs(np.median(np.abs(jumps)) / median - 1) < 0.1  # lognormal median, sd of log median ≈ 0.025
    assert 0.4 < np.mean(jumps > 0) < 0.6
    assert path.exposure_shares[0] == 0  # the level carries over: no reset between sessions
    t, e = path.times_ns, path.exposure_shares
    first_of_day2 = np.searchsorted(t, days[1][0])
    assert e[first_of_day2] == e[first_of_day2 - 1]


def test_generated_diffusion_has_the_documented_scale():
    days = [(OPEN + d * 86_400 * S, OPEN + d * 86_400 * S + 23_400 * S) for d in range(10)]
    path = generate_exposure(days, ["AAA"], seed=3, jump_rate_per_hour=0.0, diffusion_shares_per_sqrt_hour=600.0)
    t, e = path.times_ns, path.exposure_shares.astype(float)
    within = np.diff(t) == 60 * S
    sd = np.std(np.diff(e)[within])  # one-minute steps: 600 * sqrt(1/60) ≈ 77.5 shares
    assert abs(sd / (600 / math.sqrt(60)) - 1) < 0.05


# ---- breaches and bookkeeping


def hand_path(values: list[int]) -> ExposurePath:
    n = len(values)
    return ExposurePath(OPEN + np.arange(n, dtype=np.int64) * S, np.full(n, "AAA"), np.asarray(values, np.int64))


def test_breaches_on_a_hand_made_path_are_exact():
    #                 0     1     2     3      4      5     6     7     8
    path = hand_path([0, 900, 1100, 1500, 2000, 2900, 3200, 1000, -200])
    got = scan_requirements(path, threshold_shares=1000, target_shares=100)
    # t2: net 1100 > 1000 -> sell 1000 (back to +100), covered 1000; t4: net 1000, not above the threshold;
    # t5: net 1900 -> sell 1800, covered 2800; t6: net 400; t7: net -1800 -> buy 1700, covered 1100;
    # t8: net -1300 -> buy 1200, covered -100
    assert [(r.time_ns - OPEN) // S for r in got] == [2, 5, 7, 8]
    assert [(r.side, r.quantity_shares, r.exposure_shares, r.covered_shares) for r in got] == [
        (-1, 1000, 1100, 0), (-1, 1800, 2900, 1000), (1, 1700, 1000, 2800), (1, 1200, -200, 1100)]
    assert [r.net_shares for r in got] == [1100, 1900, -1800, -1300]


def test_a_requirement_is_not_raised_twice_while_its_hedge_is_in_flight():
    t = OPEN + np.arange(6, dtype=np.int64) * S
    e = np.array([0, 1500, 1600, 1700, 2800, 2800])
    book = HedgeBook("AAA", threshold_shares=1000)
    i, r0 = book.next_breach(t, e)
    assert (i, r0.side, r0.quantity_shares) == (1, -1, 1500)
    i, r1 = book.next_breach(t, e, i + 1)  # 1600, 1700: covered by the 1500 in flight; 2800 moved on by 1300
    assert (i, r1.req_id, r1.quantity_shares, r1.covered_shares) == (4, 1, 1300, 1500)
    assert book.next_breach(t, e, i + 1) is None
    book2 = HedgeBook("AAA", threshold_shares=1000)
    book2.next_breach(t, e)
    book2.fill(0, 500)
    assert (book2.hedged_shares, book2.covered_shares) == (500, 1500)
    assert book2.close(0) == 1000  # 1000 unfilled released: net at t3 is now 1700 - 500 = 1200 > 1000
    i, r1 = book2.next_breach(t, e, 2)
    assert (i, r1.quantity_shares, r1.covered_shares) == (2, 1100, 500)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(-5000, 5000), min_size=1, max_size=300), st.integers(1, 3000), st.data())
def test_scan_matches_a_row_by_row_oracle(steps, threshold, data):
    target = data.draw(st.integers(0, threshold - 1))
    e = np.cumsum(steps)
    got = scan_requirements(hand_path(e.tolist()), threshold, target)
    want, covered = [], 0
    for i, x in enumerate(e.tolist()):
        net = x - covered
        if abs(net) > threshold:
            side = -1 if net > 0 else 1
            want.append((i, side, abs(net) - target))
            covered += -side * (abs(net) - target)
            assert abs(x - covered) == target
    assert [((r.time_ns - OPEN) // S, r.side, r.quantity_shares) for r in got] == want


def test_book_rejects_a_target_outside_the_threshold_and_bad_fills():
    with pytest.raises(ConfigError, match="target_shares"):
        HedgeBook("AAA", 1000, 1000)
    book = HedgeBook("AAA", 10)
    book.raise_requirement(OPEN, 50)
    with pytest.raises(ConfigError, match="in \\(0, 50\\]"):
        book.fill(0, 51)
    with pytest.raises(ConfigError, match="not in flight"):
        book.close(7)


# ---- the decision


def req(quantity: int = 20_000, side: int = -1, t: int = OPEN) -> Requirement:
    return Requirement(0, t, "AAA", side, quantity, -side * quantity, 0)


def chosen_minutes(d: Decision) -> float:
    return d.horizon_ns / 60e9


def test_curve_points_are_ac_on_the_straight_line_and_the_choice_is_their_argmin():
    d = decide(req(), MARKET, PRICE, END, DecisionConfig(risk_aversion=2e-6))
    c = d.coefficients
    assert c["source"] == "default" and c["sigma"] == pytest.approx(2.0)
    assert d.curve[0]["horizon_ns"] == 60 * S and d.curve[-1]["horizon_ns"] == 390 * 60 * S
    for pt in d.curve:
        sol = ac.solve(ac.ACParams(shares=20_000, days=pt["horizon_days"], periods=pt["periods"], sigma=c["sigma"],
                                   eta=c["eta"], gamma=c["gamma"], epsilon=c["epsilon"]))
        assert pt["expected_cost"] == pytest.approx(sol.expected_cost, rel=1e-12)
        assert pt["variance"] == pytest.approx(sol.variance, rel=1e-12)
        assert pt["objective"] == pytest.approx(sol.expected_cost + 2e-6 * sol.variance, rel=1e-12)
        assert pt["expected_cost_bps"] == pytest.approx(sol.expected_cost / (20_000 * PRICE) * 1e4)
    objective = np.array([pt["objective"] for pt in d.curve])
    assert d.chosen == int(np.argmin(objective)) and 0 < d.chosen < len(d.curve) - 1


def test_chosen_horizon_matches_the_straight_line_closed_form():
    """With every whole minute on the grid, T* = argmin over N of E+λV, near sqrt(3 eta / (λ sigma²))."""
    cfg = DecisionConfig(risk_aversion=1e-6, n_horizons=1000)
    d = decide(req(), MARKET, PRICE, END, cfg)
    assert len(d.curve) == 390
    c, lam = d.coefficients, cfg.risk_aversion
    best = min(range(1, 391), key=lambda n: ac.expected_cost_closed_form(p := ac.ACParams(
        20_000, n / 390, n, c["sigma"], c["eta"], c["gamma"], c["epsilon"]), 0.0) + lam * ac.variance_closed_form(p, 0))
    assert d.curve[d.chosen]["periods"] == best
    t_star_days = math.sqrt(3 * c["eta"] / (lam * c["sigma"] ** 2))
    assert d.curve[d.chosen]["horizon_days"] == pytest.approx(t_star_days, rel=0.03)


def test_horizon_shortens_as_risk_aversion_grows_and_lengthens_as_eta_grows():
    lams = [2e-7, 1e-6, 5e-6, 2.5e-5, 1e-4]
    mins = [chosen_minutes(decide(req(), MARKET, PRICE, END, DecisionConfig(risk_aversion=lam))) for lam in lams]
    assert all(a > b for a, b in zip(mins, mins[1:])), mins
    etas = [2e-8, 1e-7, 5e-7, 2.5e-6]
    mins = [chosen_minutes(decide(req(), MARKET, PRICE, END, DecisionConfig(risk_aversion=2e-5),
                                  new_calibration("almgren-chriss", {"eta": eta, "gamma": 0.0}))) for eta in etas]
    assert all(a < b for a, b in zip(mins, mins[1:])), mins


def test_schedule_is_the_ac_trajectory_in_whole_shares():
    cal = new_calibration("almgren-chriss", {"eta": 2e-7, "gamma": 1e-9})
    d = decide(req(12_345, side=1), MARKET, PRICE, END, DecisionConfig(risk_aversion=3e-6), cal)
    pt, sch = d.curve[d.chosen], d.schedule
    assert d.coefficients["source"] == "calibration" and d.coefficients["gamma"] == 1e-9
    sol = ac.solve(ac.ACParams(12_345, pt["horizon_days"], pt["periods"], 2.0, 2e-7, 1e-9, 0.01, 3e-6))
    assert sum(sch["sizes_shares"]) == 12_345 and min(sch["sizes_shares"]) > 0
    assert np.abs(np.cumsum(sch["sizes_shares"]) - np.cumsum(sol.trades)[:len(sch["sizes_shares"])]).max() <= 0.5
    assert sch["times_ns"] == [OPEN + k * 60 * S for k in range(len(sch["sizes_shares"]))]
    assert sch["expected_cost"] == pytest.approx(sol.expected_cost) and sch["variance"] == pytest.approx(sol.variance)
    assert sol.trades[0] > sol.trades[-1]  # λ > 0 front-loads
    assert sch["expected_cost"] + 3e-6 * sch["variance"] <= pt["objective"]


def test_a_horizon_never_passes_the_session_end():
    late = END - 10 * 60 * S - 30 * S  # 10.5 minutes left
    d = decide(req(t=late), MARKET, PRICE, END, DecisionConfig(risk_aversion=0.0))
    assert max(pt["horizon_ns"] for pt in d.curve) == 10 * 60 * S
    assert d.schedule["times_ns"][-1] < END
    d = decide(req(t=END - 20 * S), MARKET, PRICE, END)  # 20 s left: at most 100 % of ADV, 2M * 20/23400 shares
    assert [pt["horizon_ns"] for pt in d.curve] == [20 * S] and d.schedule["sizes_shares"] == [1709]
    assert d.unhedged_shares == 20_000 - 1709
    with pytest.raises(ConfigError, match="no time left"):
        decide(req(t=END), MARKET, PRICE, END)


def test_a_non_ac_calibration_is_refused():
    with pytest.raises(ConfigError, match="almgren-chriss"):
        decide(req(), MARKET, PRICE, END, calibration=new_calibration("sqrt", {"Y": 0.7, "delta": 0.5}))


# ---- regime rules


def test_news_spike_pause_records_the_unhedged_exposure():
    d = decide(req(20_000), MARKET, PRICE, END, regime="news_spike")
    assert d.paused and d.rule_applied == "news_spike" and d.chosen is None and d.horizon_ns is None
    assert d.traded_shares == 0 and d.unhedged_shares == 20_000
    assert d.rule_changes == {"paused": True, "unhedged_shares": 20_000} and d.schedule["sizes_shares"] == []
    assert len(d.curve) > 0  # what it would have cost is still recorded


def test_news_spike_cap_is_configurable_and_a_binding_cap_leaves_shares_unhedged():
    rules = rules_from_config({"news_spike": {"action": "cap"}})
    assert rules.rules["news_spike"].participation_cap == 0.02
    d = decide(req(20_000), MARKET, PRICE, END, regime="news_spike", rules=rules)
    assert not d.paused and d.unhedged_shares == 0
    assert d.curve[d.chosen]["participation"] <= 0.02 and d.rule_changes["participation_cap"] == 0.02
    late = END - 30 * 60 * S  # 30 minutes: 2 % of 2M/390 per minute * 30 = 3076 shares
    d = decide(req(20_000, t=late), MARKET, PRICE, END, regime="news_spike", rules=rules)
    assert d.traded_shares == math.floor(0.02 * 2_000_000 * 30 / 390) and sum(d.schedule["sizes_shares"]) == 3076
    assert d.unhedged_shares == 20_000 - 3076 and d.rule_changes["quantity_shares"] == [20_000, 3076]
    assert d.horizon_ns == 30 * 60 * S


def test_high_volatility_slows_down_and_thin_markets_trade_passively_under_a_cap():
    cfg = DecisionConfig(risk_aversion=1e-5, n_horizons=1000)
    base = decide(req(), MARKET, PRICE, END, cfg, regime="liquid_large_cap")
    hv = decide(req(), MARKET, PRICE, END, cfg, regime="high_volatility")
    assert base.rule_changes == {} and hv.rule_changes["eta"][1] == pytest.approx(2 * hv.rule_changes["eta"][0])
    assert chosen_minutes(hv) / chosen_minutes(base) == pytest.approx(math.sqrt(2), rel=0.05)
    thin = decide(req(), MARKET, PRICE, END, DecisionConfig(risk_aversion=1e-4), regime="thin_small_cap")
    assert thin.schedule["style"] == "limit_touch" and thin.curve[thin.chosen]["participation"] <= 0.05
    fast = decide(req(), MARKET, PRICE, END, DecisionConfig(risk_aversion=1e-4))
    assert fast.curve[fast.chosen]["participation"] > 0.05  # the cap is what slowed it down
    assert decide(req(), MARKET, PRICE, END, regime="custom").rule_applied == "neutral"


def test_rule_config_errors_name_the_key():
    with pytest.raises(ConfigError, match="loop.regimes.thin_small_cap.speed"):
        rules_from_config({"thin_small_cap": {"speed": 2}})
    with pytest.raises(ConfigError, match="loop.regimes.news_spike.*action"):
        rules_from_config({"news_spike": {"action": "panic"}})
    with pytest.raises(ConfigError, match="participation_cap"):
        RegimeRule(action="cap")
    rules = rules_from_config({"high_volatility": {"eta_scale": 3.0}, "calm": {"style": "peg_mid"}})
    assert rules.rules["high_volatility"].eta_scale == 3.0 and rules.for_regime("calm")[1].style == "peg_mid"
    assert rules.rules["thin_small_cap"] == RegimeRules().rules["thin_small_cap"]


# ---- records


@pytest.mark.parametrize("regime", [None, "news_spike", "thin_small_cap", "high_volatility"])
def test_decision_records_round_trip_through_json(regime):
    cal = replace(new_calibration("almgren-chriss", {"eta": 1e-7, "gamma": 0.0}, intervals={"eta": (5e-8, 2e-7)}),
                  data=[{"key": "synthetic/x", "fingerprint": "abc", "start_ns": OPEN, "end_ns": END}])
    for c in (None, cal):
        d = decide(req(), MARKET, PRICE, END, calibration=c, regime=regime)
        text = json.dumps(d.to_dict(), allow_nan=False)
        back = Decision.from_dict(json.loads(text))
        assert back == d
        assert Decision.from_dict(orjson.loads(orjson.dumps(d.to_dict()))) == d
        assert Requirement.from_dict(back.requirement) == req()
        assert back.risk_aversion == DecisionConfig().risk_aversion and back.regime == regime
        assert (back.calibration is None) == (c is None)


def _fitted(multiplier: float, market: MarketInputs, price: float):
    """An AC fit on parents costed by the textbook model at ``price`` (price units) with ``multiplier``."""
    from tickreplay.hedging.decision import ac_coefficients
    from tickreplay.impact.fit_ac import ac_sample, calibrate_ac_sample

    coef = ac_coefficients(None, market, price)  # price units per share: the cost per contract before × multiplier
    n = 30
    X = np.geomspace(1e3, 2e4, n)
    T = np.geomspace(5, 120, n)[np.argsort(np.arange(n) * 7 % n)] * 60e9 / TRADING_DAY_NS
    parents = pd.DataFrame({"parent_id": [str(i) for i in range(n)], "side": 1, "quantity": X, "duration_days": T,
                            "m_arr": price, "m_post": price, "avg_price": price + coef["epsilon"] + coef["eta"] * X / T,
                            "adv": market.adv, "daily_vol": market.daily_vol, "arrival_spread_bps": market.spread_bps,
                            "date": [f"2024-01-{2 + i % 20:02d}" for i in range(n)], "instrument": "ES",
                            "multiplier": multiplier})
    return calibrate_ac_sample(ac_sample(parents)[0], bootstrap=20)


def test_a_futures_fit_in_currency_decides_as_the_same_market_without_multiplier():
    market, price = MarketInputs(adv=1e6, daily_vol=0.01, spread_bps=1.0), 5000.0
    req = Requirement(0, 0, "ES", -1, 20000, 20000, 0)
    cfg = DecisionConfig(1e-6 / 50, 60_000_000_000, 60)  # λ per currency: 50× the notional, the same aversion
    one = decide(req, market, price, TRADING_DAY_NS, replace(cfg, risk_aversion=1e-6), _fitted(1.0, market, price))
    es = _fitted(50.0, market, price)
    assert es.params["eta"] == pytest.approx(50 * one.coefficients["eta"], rel=1e-6)  # the fit is in currency
    fut = decide(req, market, price, TRADING_DAY_NS, cfg, es, multiplier=50.0)
    assert fut.horizon_ns == one.horizon_ns
    assert fut.curve[fut.chosen]["expected_cost_bps"] == pytest.approx(one.curve[one.chosen]["expected_cost_bps"])
    assert fut.schedule["sizes_shares"] == one.schedule["sizes_shares"]
    assert fut.market["unit_value"] == 50 * price and fut.market["ref_price"] == price


def test_usable_eta_keeps_a_fit_falls_back_then_floors():
    from tickreplay.hedging.decision import ETA_FLOOR_FACTOR, usable_eta

    period = 10_000_000_000
    low = ETA_FLOOR_FACTOR * 1e-5 * period / TRADING_DAY_NS / 2
    ok = new_calibration("almgren-chriss", {"eta": 1e-6, "gamma": 1e-5})
    assert usable_eta(ok, period, 5e-7) == (ok, "fit")
    clamped = new_calibration("almgren-chriss", {"eta": 0.0, "gamma": 1e-5})
    cal, how = usable_eta(clamped, period, 5e-7)
    assert how == "fallback" and cal.params["eta"] == 5e-7 and cal.params["gamma"] == 1e-5
    for fallback in (None, low / 2):  # none, or one that is itself ill-posed at this gamma: the floor
        cal, how = usable_eta(clamped, period, fallback)
        assert how == "floor" and cal.params["eta"] == pytest.approx(low)
    assert usable_eta(None, period, 5e-7) == (None, "fit")


def test_a_pause_rule_applies_only_inside_the_event_window():
    market = MarketInputs(adv=1e6, daily_vol=0.02, spread_bps=2.0)
    req = Requirement(0, 0, "X", 1, 5000, 5000, 0)
    inside = decide(req, market, 100.0, TRADING_DAY_NS, regime="news_spike")
    outside = decide(req, market, 100.0, TRADING_DAY_NS, regime="news_spike", in_event_window=False)
    assert inside.paused and inside.traded_shares == 0
    assert not outside.paused and outside.traded_shares == 5000
    assert outside.rule_applied == "news_spike (outside the event window)"
