"""Pre-trade models: AC closed forms vs sums and optimality, horizons, multi-day, frontier, inputs from data, errors."""

from __future__ import annotations

import json
import math
from dataclasses import replace

import numpy as np
import pytest

from tickreplay.book.snapshots import Snapshots
from tickreplay.catalog import Catalog
from tickreplay.cli import main
from tickreplay.errors import ConfigError
from tickreplay.impact import almgren_chriss as ac
from tickreplay.impact.canonical import canonical_breakdown
from tickreplay.impact.frontier import efficient_frontier, plot_frontier
from tickreplay.impact.horizons import cost_curve, split_cost
from tickreplay.market.inputs import estimate_inputs
from tickreplay.impact.models import (Almgren2005Model, CanonicalModel, MarketInputs, PreTradeOrder, SqrtLawModel,
                                      get_model)
from tickreplay.tape import EventKind, Instrument, Tape

ORDER = PreTradeOrder(side=1, order_size=50_000, ref_price=45.0, participation=0.10, latency_ms=50,
                      latency_jitter_ms=20)
MARKET = MarketInputs(adv=500_000, daily_vol=0.018, spread_bps=12)
AC = ac.ACParams(shares=1e6, days=5, periods=5, sigma=0.95, eta=2.5e-6, gamma=2.5e-7, epsilon=0.0625)


# -- Almgren-Chriss -----------------------------------------------------------------------

@pytest.mark.parametrize("periods,days", [(5, 5), (20, 1), (1, 2), (78, 0.5)])
@pytest.mark.parametrize("lam", [0.0, 1e-9, 1e-7, 1e-6, 1e-5, 1e-3])
def test_closed_forms_equal_discrete_sums(periods, days, lam):
    p = replace(AC, periods=periods, days=days, risk_aversion=lam, gamma=2.5e-7 if days / periods < 10 else 0)
    k = ac.kappa(p)
    x = ac.holdings(p, k)
    assert ac.expected_cost_closed_form(p, k) == pytest.approx(ac.expected_cost_sum(p, x), rel=1e-9)
    scale = p.sigma**2 * p.shares**2 * p.days  # V of holding everything to the end
    assert ac.variance_closed_form(p, k) == pytest.approx(ac.variance_sum(p, x), rel=1e-9, abs=1e-12 * scale)


def test_trajectory_solves_the_discrete_euler_lagrange_equation():
    p = replace(AC, periods=12, risk_aversion=3e-6)
    k = ac.kappa(p)
    x = ac.holdings(p, k)
    lhs = (x[:-2] - 2 * x[1:-1] + x[2:]) / p.tau**2
    kappa_tilde2 = p.risk_aversion * p.sigma**2 / p.eta_tilde
    np.testing.assert_allclose(lhs, kappa_tilde2 * x[1:-1], rtol=1e-9)


def test_trajectory_minimises_e_plus_lambda_v():
    """Brute force: moving any interior holding either way raises E + lambda V."""
    p = replace(AC, periods=8, risk_aversion=2e-6)
    x = ac.holdings(p, ac.kappa(p))

    def utility(h):
        return ac.expected_cost_sum(p, h) + p.risk_aversion * ac.variance_sum(p, h)

    base = utility(x)
    for j in range(1, p.periods):
        for d in (-1000.0, 1000.0):
            y = x.copy()
            y[j] += d
            assert utility(y) > base


def test_zero_risk_aversion_is_a_straight_line():
    p = replace(AC, periods=10, risk_aversion=0.0)
    s = ac.solve(p)
    assert s.kappa == 0.0
    np.testing.assert_allclose(s.trades, np.full(10, p.shares / 10), rtol=1e-12)
    tiny = ac.solve(replace(p, risk_aversion=1e-15))
    np.testing.assert_allclose(tiny.holdings, s.holdings, rtol=1e-6, atol=1e-6)


def test_large_risk_aversion_front_loads():
    twap = ac.solve(replace(AC, periods=10, risk_aversion=0.0))
    s = ac.solve(replace(AC, periods=10, risk_aversion=1e-3))
    assert np.all(np.diff(s.trades) < 0)
    assert s.trades[0] > 0.9 * AC.shares
    assert np.all(s.holdings[1:-1] < twap.holdings[1:-1])
    assert s.variance < twap.variance and s.expected_cost > twap.expected_cost
    assert s.trades.sum() == pytest.approx(AC.shares)


def test_ac_parameter_errors_name_the_parameter():
    with pytest.raises(ConfigError, match="'shares'"):
        replace(AC, shares=-5)
    with pytest.raises(ConfigError, match="'periods'"):
        replace(AC, periods=0)
    with pytest.raises(ConfigError, match="'eta'"):
        replace(AC, eta=1e-8)  # eta_tilde = eta - gamma*tau/2 < 0
    with pytest.raises(ConfigError, match="'risk_aversion'"):
        replace(AC, risk_aversion=-1)


# -- canonical model, other models, errors ------------------------------------------------

def test_models_by_name():
    assert get_model("canonical").breakdown(ORDER, MARKET) == canonical_breakdown(
        50_000, 500_000, 12, 0.018, 0.10, 45.0, 50, 20)
    assert get_model("canonical", k_perm=0.2).breakdown(ORDER, MARKET)["permanent_bps"] == pytest.approx(
        2 * CanonicalModel().breakdown(ORDER, MARKET)["permanent_bps"])
    sq = get_model("sqrt", y=0.7, exponent=0.6).breakdown(ORDER, MARKET)
    assert sq["impact_bps"] == pytest.approx(0.7 * 0.018 * 0.1**0.6 * 1e4, rel=1e-12)
    assert sq["total_bps"] == pytest.approx(sq["impact_bps"] + 6.0)
    assert isinstance(get_model("almgren2005"), Almgren2005Model) and isinstance(get_model("sqrt"), SqrtLawModel)
    with pytest.raises(ConfigError, match="'model'.*canonical"):
        get_model("nope")


def test_almgren2005_duration_from_participation_and_needs_shares_outstanding():
    m = replace(MARKET, shares_outstanding=100_000_000)
    a = Almgren2005Model().breakdown(ORDER, m)
    assert a["duration_days"] == pytest.approx(1.0)
    assert a["temporary_bps"] == pytest.approx(0.142 * 0.018 * 0.1**0.6 * 1e4)
    assert Almgren2005Model(duration_days=0.5).breakdown(ORDER, m)["temporary_bps"] == pytest.approx(
        0.142 * 0.018 * 0.2**0.6 * 1e4)
    with pytest.raises(ConfigError, match="'shares_outstanding'"):
        Almgren2005Model().breakdown(ORDER, MARKET)


@pytest.mark.parametrize("kwargs,name", [
    (dict(order_size=-50_000), "order_size"), (dict(adv=0), "adv"), (dict(participation=0.0), "participation"),
    (dict(participation=1.5), "participation"), (dict(sigma_daily=-0.1), "daily_vol"),
    (dict(spread_bps=-1), "spread_bps"), (dict(ref_price=0), "ref_price"), (dict(latency_ms=-1), "latency_ms"),
    (dict(k_perm=float("nan")), "k_perm")])
def test_canonical_errors_name_the_parameter(kwargs, name):
    args = dict(order_size=50_000, adv=500_000, spread_bps=12, sigma_daily=0.018, participation=0.1, ref_price=45)
    with pytest.raises(ConfigError, match=f"'{name}'"):
        canonical_breakdown(**{**args, **kwargs})


@pytest.mark.parametrize("flag,value,name", [("--order-size", "-5", "quantity"), ("--quantity", "0", "quantity"),
                                             ("--adv", "0", "adv"),
                                             ("--participation-pct", "0", "participation_pct"),
                                             ("--participation-pct", "120", "participation_pct"),
                                             ("--model", "foo", "model"), ("--days", "0", "days")])
def test_estimate_cli_errors_name_the_parameter(flag, value, name, capsys):
    argv = ["estimate", "--side", "buy", "--quantity", "50000", "--adv", "500000", "--spread-bps", "12",
            "--daily-vol-pct", "1.8", "--ref-price", "45"]
    i = argv.index(flag) if flag in argv else None
    if i is None:
        argv += [flag, value]
    else:
        argv[i + 1] = value
    assert main(argv) == 2
    assert f"'{name}'" in capsys.readouterr().err


def test_estimate_cli_needs_market_inputs_or_catalog(capsys):
    assert main(["estimate", "--side", "sell", "--quantity", "100"]) == 2
    assert "--adv" in capsys.readouterr().err


# -- horizons, multi-day, frontier ---------------------------------------------------------

def test_multi_day_is_notional_weighted_not_summed():
    model = CanonicalModel()
    one = split_cost(model, ORDER, MARKET, 1)
    assert one.total_bps == pytest.approx(model.breakdown(ORDER, MARKET)["total_bps"])
    order = replace(ORDER, order_size=50_001)
    sc = split_cost(model, order, MARKET, 2)
    assert sc.slices == (25_001, 25_000)
    by_hand = [canonical_breakdown(q, 500_000, 12, 0.018, 0.1, 45.0)["total_bps"] for q in sc.slices]
    weighted = (25_001 * by_hand[0] + 25_000 * by_hand[1]) / 50_001
    assert sc.total_bps == pytest.approx(weighted, rel=1e-12)
    assert sc.total_bps < sum(by_hand)
    assert sc.total_dollars == pytest.approx(sum(q * 45.0 * b / 1e4 for q, b in zip(sc.slices, by_hand)))
    assert sc.weighted["permanent_bps"] == pytest.approx(
        (25_001 * math.sqrt(25_001 / 5e5) + 25_000 * math.sqrt(25_000 / 5e5)) / 50_001 * 0.1 * 0.018 * 1e4)
    assert sc.elapsed_days == pytest.approx(1 + 25_000 / (0.1 * 500_000))


def test_cost_curve():
    pts = {p.label: p for p in cost_curve(CanonicalModel(), ORDER, MARKET)}
    assert not pts["1 min"].feasible and math.isnan(pts["1 min"].cost_bps)
    assert pts["1 day"].cost_bps == pytest.approx(canonical_breakdown(50_000, 500_000, 12, 0.018, 0.1, 45)["total_bps"])
    assert pts["half day"].participation == pytest.approx(0.2)
    three = split_cost(CanonicalModel(), replace(ORDER, participation=50_000 / 3 / 500_000), MARKET, 3)
    assert pts["3 days"].cost_bps == pytest.approx(three.total_bps, rel=1e-6)
    for p in pts.values():  # a straight line (up to whole-share slices): execution risk sigma*sqrt(T/3)
        assert p.execution_risk_bps == pytest.approx(0.018 * math.sqrt(p.horizon_days / 3) * 1e4, rel=1e-4)
    feasible = [p.cost_bps for p in pts.values() if p.feasible]
    assert feasible == sorted(feasible, reverse=True)


def test_frontier_starts_at_the_canonical_total_and_trades_cost_for_risk(tmp_path):
    f = efficient_frontier(ORDER, MARKET)
    assert f.chosen == 0 and f.risk_aversion[0] == 0
    assert f.expected_bps[0] == pytest.approx(canonical_breakdown(50_000, 500_000, 12, 0.018, 0.1, 45)["total_bps"],
                                              rel=1e-9)
    assert np.all(np.diff(f.expected_bps) >= -1e-9) and np.all(np.diff(f.std_bps) <= 1e-9)
    g = efficient_frontier(ORDER, MARKET, risk_aversion=float(f.risk_aversion[10]))
    assert g.risk_aversion[g.chosen] == f.risk_aversion[10]
    png = plot_frontier(f, tmp_path / "f.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_estimate_cli_days_curve_frontier_json(tmp_path, capsys):
    png = tmp_path / "front.png"
    argv = ["estimate", "--side", "sell", "--quantity", "50000", "--adv", "500000", "--spread-bps", "12",
            "--daily-vol-pct", "1.8", "--ref-price", "45", "--days", "2", "--curve", "--frontier-png", str(png),
            "--json"]
    assert main(argv) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["multi_day"]["total_bps"] == pytest.approx(split_cost(CanonicalModel(), ORDER, MARKET, 2).total_bps)
    assert [p["label"] for p in out["curve"]][:2] == ["1 min", "10 min"] and png.exists()


# -- inputs from catalog data ---------------------------------------------------------------

NS = 1_000_000_000
MIDNIGHT_NY = 1340251200 * NS  # 2012-06-21 00:00 America/New_York (EDT, UTC-4)


def _day(date: str, day_index: int, mids: list[int], spread: int, trades: list[tuple[int, int]]) -> tuple:
    """A handmade tape: one quote update per minute from 09:30, plus trades (seconds after 09:30, size)."""
    inst = Instrument("TEST", "XNAS", date, price_scale=10_000, tick_size=100, timezone="America/New_York")
    open_ns = MIDNIGHT_NY + day_index * 86_400 * NS + 34_200 * NS
    rows = [(open_ns + 60 * NS * i, EventKind.LEVEL_SET, m) for i, m in enumerate(mids)]
    rows += [(open_ns + s * NS, EventKind.EXECUTE_VISIBLE, q) for s, q in trades]
    rows.sort(key=lambda r: (r[0], r[1]))
    ts = np.array([r[0] for r in rows])
    kind = np.array([r[1] for r in rows])
    size = np.array([r[2] if r[1] == EventKind.EXECUTE_VISIBLE else 0 for r in rows])
    mid = np.array([r[2] if r[1] == EventKind.LEVEL_SET else 0 for r in rows])
    mid = np.maximum.accumulate(np.where(mid > 0, np.arange(len(mid)), 0))  # index of the last quote
    mid_val = np.array([rows[i][2] for i in mid])
    tape = Tape.from_columns(inst, ts_ns=ts, kind=kind, side=np.ones(len(ts)), price=mid_val, size=size)
    snaps = Snapshots(ask_price=(mid_val + spread // 2)[:, None], ask_size=np.ones((len(ts), 1), np.int64),
                      bid_price=(mid_val - spread // 2)[:, None], bid_size=np.ones((len(ts), 1), np.int64))
    return tape, snaps


def test_inputs_from_catalog(tmp_path, capsys):
    cat = Catalog(tmp_path / "replay")
    rng = np.random.default_rng(7)
    mids1 = (400_000 * np.exp(np.cumsum(rng.normal(0, 0.002, 31)))).astype(np.int64).tolist()
    mids2 = (410_000 * np.exp(np.cumsum(rng.normal(0, 0.002, 31)))).astype(np.int64).tolist()
    days = [("2012-06-21", 0, mids1, [(10, 300), (700, 100), (1500, 600)]),
            ("2012-06-22", 1, mids2, [(20, 200), (1790, 800)])]
    for date, i, mids, trades in days:
        tape, snaps = _day(date, i, mids, 200, trades)
        cat.write("test", tape, snaps)
    entries = [cat.find("test/TEST/2012-06-21"), cat.find("test/TEST/2012-06-22")]
    est = estimate_inputs(entries, bar_ns=300 * NS, profile_bin_ns=600 * NS)
    m = est.market
    assert m.days_used == 2
    # by default a tape's own span (here 09:30-10:00) is its day: no scaling
    assert m.adv == pytest.approx((1000 + 1000) / 2)
    scaled = estimate_inputs(entries, bar_ns=300 * NS, day_ns=23_400 * NS).market
    assert scaled.adv == pytest.approx(1000 * 23_400 / 1800)
    assert scaled.daily_vol == pytest.approx(m.daily_vol * math.sqrt(23_400 / 1800))
    # brute force: spread 200 units around the mid, time-weighted over the span
    for s, (_, _, mids, _) in zip(est.days, days):
        ts_quotes = np.arange(len(mids)) * 60
        assert s.returns.tolist() == pytest.approx(np.diff(np.log(np.array(mids, float)[ts_quotes % 300 == 0])).tolist())
    r = np.concatenate([np.diff(np.log(np.array(mm, float)[::5])) for _, _, mm, _ in days])
    spans = [s.span_ns for s in est.days]
    assert m.daily_vol == pytest.approx(math.sqrt(np.mean(r**2) * np.mean(spans) / (300 * NS)), rel=1e-12)
    # each quote holds one minute until the last quote at 30 min (the last trade is earlier)
    by_hand = [np.mean([200 / mid * 1e4 for mid in mm[:30]]) for _, _, mm, _ in days]
    assert m.spread_bps == pytest.approx(np.mean(by_hand), rel=1e-12)
    assert est.ref_price == pytest.approx(mids2[-1] / 10_000)
    # profile: 10-minute bins from 09:30, each day's fractions averaged
    assert est.profile.days_used == 2 and est.profile.start_tod_ns == 34_200 * NS
    np.testing.assert_allclose(est.profile.fractions, [(0.3 + 0.2) / 2, 0.1 / 2, (0.6 + 0.8) / 2])

    argv = ["estimate", "--side", "buy", "--quantity", "100", "--from-catalog", "test/TEST/2012-06-21",
            "test/TEST/2012-06-22", "--catalog", str(tmp_path / "replay"), "--json"]
    assert main(argv) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["inputs"]["days_used"] == 2 and out["inputs"]["adv"] == pytest.approx(1000)
    assert main(argv[:-1] + ["--adv", "5000"]) == 0
    text = capsys.readouterr().out
    assert "2 day(s)" in text and "ADV 5,000" in text


def test_inputs_from_lobster_agree_with_the_vendor_files(tmp_path):
    """ADV, spread, volatility and profile of a real day against pandas over the raw LOBSTER files."""
    import pandas as pd

    from conftest import lobster_pair
    from tickreplay.adapters.lobster import read_lobster

    msg_csv, ob_csv = lobster_pair("AMZN", 1)
    res = read_lobster(msg_csv, ob_csv)
    entry = Catalog(tmp_path).write("lobster", res.tape, res.snapshots)
    est = estimate_inputs([entry])

    msg = pd.read_csv(msg_csv, header=None, names=["t", "type", "id", "size", "price", "dir"])
    ob = pd.read_csv(ob_csv, header=None, names=["ask", "ask_size", "bid", "bid_size"])
    t_ns = (msg["t"] * 1e9).round().astype("int64").to_numpy()
    span = t_ns[-1] - t_ns[0]
    assert est.days[0].span_ns == span
    traded = msg["type"].isin([4, 5])
    assert est.market.adv == msg.loc[traded, "size"].sum()

    ok = (ob["ask"] < 9_999_999_999) & (ob["bid"] > -9_999_999_999)
    rel = ((ob["ask"] - ob["bid"]) / ((ob["ask"] + ob["bid"]) / 2) * 1e4).where(ok, 0.0).to_numpy()
    w = np.where(ok.to_numpy()[:-1], np.diff(t_ns), 0)
    assert est.market.spread_bps == pytest.approx((rel[:-1] * w).sum() / w.sum(), rel=1e-9)

    mid = ((ob["ask"] + ob["bid"]) / 2)[ok].to_numpy()
    tv = t_ns[ok.to_numpy()]
    bar = 300 * NS
    grid = tv[0] + bar * np.arange((tv[-1] - tv[0]) // bar + 1)
    r = np.diff(np.log(mid[np.searchsorted(tv, grid, side="right") - 1]))
    assert est.market.daily_vol == pytest.approx(math.sqrt(np.mean(r**2) * span / bar), rel=1e-9)
    assert 0.005 < est.market.daily_vol < 0.05

    tod = msg.loc[traded, "t"].to_numpy()
    bins = ((tod - 34_200) // 1800).astype(int)
    frac = np.bincount(bins, weights=msg.loc[traded, "size"].to_numpy()) / msg.loc[traded, "size"].sum()
    assert est.profile.start_tod_ns == 34_200 * NS and est.profile.days_used == 1
    np.testing.assert_allclose(est.profile.fractions, frac, rtol=1e-12)
