"""Execution risk: one formula (AC's V in bps) for estimate --days, --curve, the frontier and planned schedules."""

from __future__ import annotations

import json
import math
import tomllib
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from tickreplay.cli import main
from tickreplay.errors import ConfigError
from tickreplay.impact import almgren_chriss as ac
from tickreplay.impact.frontier import canonical_ac_params, efficient_frontier
from tickreplay.impact.horizons import cost_curve, split_cost
from tickreplay.impact.models import CanonicalModel, MarketInputs, PreTradeOrder

TOML = Path(__file__).resolve().parents[2] / "shared" / "reference" / "published_examples.toml"
SIGMA = 0.018
ORDER = PreTradeOrder(side=1, order_size=50_000, ref_price=45.0, participation=0.10)
MARKET = MarketInputs(adv=500_000, daily_vol=SIGMA, spread_bps=12)
DAY_NS = 23_400 * 1_000_000_000  # 6.5 h


def _closed_form(days: float) -> float:
    """A straight-line liquidation over ``days``: sigma * sqrt(T/3) * 1e4 bps."""
    return SIGMA * math.sqrt(days / 3) * 1e4


@pytest.mark.parametrize("days", [1 / 390, 0.5, 1.0, 2.0, 5.0])
def test_linear_liquidation_has_the_closed_form(days):
    assert ac.execution_risk_bps(SIGMA, [days], [1.0], [0.0]) == pytest.approx(_closed_form(days), rel=1e-12)
    # the same straight line cut into many pieces; and holding everything is sigma*sqrt(T)
    n = 1000
    edges = np.linspace(1, 0, n + 1)
    assert ac.execution_risk_bps(SIGMA, np.full(n, days / n), edges[:-1], edges[1:]) == pytest.approx(
        _closed_form(days), rel=1e-12)
    assert ac.execution_risk_bps(SIGMA, [days], [1.0], [1.0]) == pytest.approx(SIGMA * math.sqrt(days) * 1e4)


@pytest.mark.parametrize("n_days", [2, 4, 5])
def test_curve_point_equals_the_multi_day_risk_and_the_closed_form(n_days):
    """The curve's N-day point, the N-day split spread over each day and sigma*sqrt(N/3) are one number."""
    point = {p.horizon_days: p for p in cost_curve(CanonicalModel(), ORDER, MARKET)}[float(n_days)]
    split = split_cost(CanonicalModel(), ORDER, MARKET, n_days, spread_over_day=True)
    assert point.execution_risk_bps == pytest.approx(split.execution_risk_bps, rel=1e-12)
    assert point.execution_risk_bps == pytest.approx(_closed_form(n_days), rel=1e-9)


def test_multi_day_at_the_order_participation_by_hand():
    """2 days at 10 %: sell 1 → 0.5 over half a day, hold 0.5 for half a day, sell 0.5 → 0 over half a day."""
    sc = split_cost(CanonicalModel(), ORDER, MARKET, 2)
    var = 0.5 * (1 + 0.5 + 0.25) / 3 + 0.5 * 0.25 + 0.5 * 0.25 / 3
    assert sc.elapsed_days == pytest.approx(1.5)
    assert sc.execution_risk_bps == pytest.approx(SIGMA * math.sqrt(var) * 1e4, rel=1e-12)
    assert split_cost(CanonicalModel(), ORDER, MARKET, 1).execution_risk_bps == pytest.approx(_closed_form(1.0))
    # a slice longer than a day delays the next one: 2 slices of 25,000 at 2 % take 2.5 days each, back to back
    slow = split_cost(CanonicalModel(), replace(ORDER, participation=0.02), MARKET, 2)
    assert slow.elapsed_days == pytest.approx(5.0)
    assert slow.execution_risk_bps == pytest.approx(_closed_form(5.0), rel=1e-12)


def test_estimate_cli_days_and_curve_agree(capsys):
    """The issue's case: --days N and --curve for the same plan (each day's slice over its day) give one risk."""
    argv = ["estimate", "--side", "buy", "--quantity", "50000", "--adv", "500000", "--spread-bps", "12",
            "--daily-vol-pct", "1.8", "--ref-price", "45", "--participation-pct", "5", "--days", "2", "--curve"]
    assert main(argv + ["--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    two_days = next(p for p in out["curve"] if p["label"] == "2 days")
    assert out["multi_day"]["execution_risk_bps"] == pytest.approx(two_days["execution_risk_bps"], rel=1e-12)
    assert two_days["execution_risk_bps"] == pytest.approx(_closed_form(2.0), rel=1e-9)
    assert out["multi_day"]["single_day_execution_risk_bps"] == pytest.approx(_closed_form(2.0), rel=1e-9)
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert "execution_risk_bps" in text and "sigma*sqrt(T/3)" in text and "sigma*sqrt(T))" not in text


def test_linear_risk_is_the_almgren_chriss_variance_at_zero_risk_aversion():
    """AC's V (the paper's closed form) of the straight line, in bps, tends to sigma*sqrt(T/3) as N grows."""
    s0, x, days = 45.0, 50_000.0, 2.0
    for n, rel in ((10, 0.08), (1000, 1e-3), (100_000, 1e-5)):
        p = ac.ACParams(shares=x, days=days, periods=n, sigma=SIGMA * s0, eta=1e-6)
        v = ac.variance_closed_form(p, ac.kappa(p))
        assert ac.kappa(p) == 0.0
        assert math.sqrt(v) / (x * s0) * 1e4 == pytest.approx(_closed_form(days), rel=rel)
    # a tiny risk aversion (lambda -> 0) leaves the same V
    q = ac.ACParams(shares=x, days=days, periods=1000, sigma=SIGMA * s0, eta=1e-6, risk_aversion=1e-15)
    assert math.sqrt(ac.variance_closed_form(q, ac.kappa(q))) / (x * s0) * 1e4 == pytest.approx(
        _closed_form(days), rel=1e-3)


def _paper() -> tuple[dict, ac.ACParams]:
    a = tomllib.loads(TOML.read_text())["almgren_chriss_2001"]
    case = a["lambda_1e-6"]
    return a, ac.ACParams(shares=a["X"], days=a["T_days"], periods=a["N"], sigma=a["sigma"], eta=a["eta"],
                          gamma=a["gamma"], epsilon=a["epsilon"], risk_aversion=case["lambda"])


def test_planned_schedule_risk_is_the_paper_variance_in_bps():
    """Table 1 (sell 1e6 over 5 days, lambda = 1e-6): the schedule's risk is sqrt(V) / (X S0) in bps."""
    a, p = _paper()
    sol = ac.solve(p)
    sigma_daily = a["sigma"] / a["S0"]  # $/share/day^0.5 over the price
    times = (np.arange(a["N"]) * DAY_NS).astype(np.int64)  # child k at the start of period k+1
    got = ac.planned_schedule_risk_bps(times, a["X"], sigma_daily, DAY_NS, remaining=sol.holdings[1:])
    want = math.sqrt(ac.variance_closed_form(p, sol.kappa)) / (a["X"] * a["S0"]) * 1e4
    assert got == pytest.approx(want, rel=1e-9)
    paper_v = a["lambda_1e-6"]["variance_usd2"]
    assert (got / 1e4 * a["X"] * a["S0"]) ** 2 == pytest.approx(paper_v, rel=5e-5)
    cum = np.cumsum(sol.trades)
    assert ac.planned_schedule_risk_bps(times, a["X"], sigma_daily, DAY_NS, cumulative=cum) == pytest.approx(
        got, rel=1e-12)


def test_planned_schedule_risk_of_a_fine_linear_schedule():
    n, days, x = 2000, 0.5, 10_000
    t0 = 1_340_285_400 * 1_000_000_000  # 2012-06-21 09:30 New York, ns UTC
    step = round(days * DAY_NS / n)
    times = t0 + step * np.arange(n, dtype=np.int64)
    child = np.full(n, x // n)
    risk = ac.planned_schedule_risk_bps(times, x, SIGMA, DAY_NS, cumulative=np.cumsum(child))
    assert risk == pytest.approx(_closed_form(days), rel=1e-3)
    # waiting an hour with everything before the first child adds sigma^2 * 1h of variance
    late = ac.planned_schedule_risk_bps(times, x, SIGMA, DAY_NS, cumulative=np.cumsum(child),
                                        start_ns=t0 - DAY_NS // 6)
    assert late == pytest.approx(math.sqrt(risk**2 + (SIGMA * 1e4) ** 2 / 6), rel=1e-12)
    # what is left after the last child is held until end_ns
    half = ac.planned_schedule_risk_bps([t0], x, SIGMA, DAY_NS, remaining=[x / 2], end_ns=t0 + DAY_NS)
    assert half == pytest.approx(SIGMA * 0.5 * 1e4)


def test_frontier_std_is_the_risk_of_its_planned_schedule():
    """The frontier's sigma at lambda = 0 is the planned-schedule risk of the AC trajectory it plots."""
    p = canonical_ac_params(ORDER, MARKET)
    sol = ac.solve(p)
    assert p.days == 1.0 and p.periods == 78  # 5-minute periods of one 6.5 h day
    times = round(p.tau * DAY_NS) * np.arange(p.periods, dtype=np.int64)
    risk = ac.planned_schedule_risk_bps(times, ORDER.order_size, SIGMA, DAY_NS, remaining=sol.holdings[1:])
    assert efficient_frontier(ORDER, MARKET).std_bps[0] == pytest.approx(risk, rel=1e-9)


@pytest.mark.parametrize("kwargs,match", [
    (dict(remaining=[0.0], cumulative=[10.0]), "exactly one"),
    (dict(), "exactly one"),
    (dict(remaining=[5.0]), "'end_ns'"),
    (dict(remaining=[5.0], end_ns=1.5e9), "'end_ns'"),
    (dict(remaining=[0.0], start_ns=2_000_000_000), "'start_ns'"),
    (dict(remaining=[11.0]), "remaining"),
    (dict(remaining=[0.0, 0.0]), "one value per child"),
])
def test_planned_schedule_risk_errors(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        ac.planned_schedule_risk_bps([1_000_000_000], 10, SIGMA, DAY_NS, **kwargs)
