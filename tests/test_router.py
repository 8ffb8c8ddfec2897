"""Router decision rules: ``best`` against a brute-force walk, Cont & Kukanov against a hand-solved case of the
paper's single-period model, its closed-form conditions, and a brute-force integer grid for two venues."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from tickreplay.book.base import TopN
from tickreplay.errors import ConfigError
from tickreplay.exchange import FeeSchedule
from tickreplay.orders import Liquidity
from tickreplay.router import (VenueQuote, expected_cost, route_best, route_cont_kukanov, solve,
                               solve_one_venue)
from tickreplay.tape import Instrument

TICK = 100
INST = Instrument("XYZ", "A", "2024-01-02", price_scale=10_000, tick_size=TICK)


def book(asks=(), bids=(), n: int = 5) -> TopN:
    """TopN of ``n`` slots from (price, size) lists, best first."""
    out = {}
    for name, lv in (("ask", asks), ("bid", bids)):
        px, sz = np.zeros(n, np.int64), np.zeros(n, np.int64)
        for i, (p, s) in enumerate(lv):
            px[i], sz[i] = p, s
        out[f"{name}_price"], out[f"{name}_size"] = px, sz
    return TopN(**out)


def quote(name, asks=(), bids=(), fees=FeeSchedule(), inst=INST, **kw) -> VenueQuote:
    return VenueQuote(name, inst, book(asks, bids), fees, **kw)


# --------------------------------------------------------------------------------------------------- best


def brute_walk_cost(v: VenueQuote, side: int, q: int) -> float | None:
    """All-in cost of taking ``q`` share by share from ``v`` (each share charged its own fee), or None."""
    px, sz = v.levels(-side)
    shares = np.repeat(px, sz)
    if len(shares) < q:
        return None
    i = v.instrument
    return sum(side * int(p) * i.unit_value + v.fees.fee(Liquidity.TAKER, int(p), 1, i.price_scale, i.size_scale)
               for p in shares[:q])


fees_st = st.builds(FeeSchedule, maker_bps=st.just(0.0), taker_bps=st.sampled_from([-0.5, 0.0, 0.3, 3.0]),
                    taker_per_unit=st.sampled_from([-0.002, 0.0, 0.001, 0.003]))


@st.composite
def venues_st(draw, k_min=2, k_max=3):
    k = draw(st.integers(k_min, k_max))
    out = []
    for j in range(k):
        n_ask = draw(st.integers(0, 4))
        best_ask = draw(st.integers(1001, 1004)) * TICK
        gaps = draw(st.lists(st.integers(1, 3), min_size=n_ask, max_size=n_ask))
        asks = [(best_ask + TICK * sum(gaps[:i]), draw(st.integers(1, 30))) for i in range(n_ask)]
        n_bid = draw(st.integers(0 if n_ask else 1, 4))
        best_bid = draw(st.integers(996, 1000)) * TICK
        bgaps = draw(st.lists(st.integers(1, 3), min_size=n_bid, max_size=n_bid))
        bids = [(best_bid - TICK * sum(bgaps[:i]), draw(st.integers(1, 30))) for i in range(n_bid)]
        out.append(quote(f"V{j}", asks, bids, draw(fees_st)))
    return out


@settings(max_examples=150, deadline=None)
@given(venues_st(), st.sampled_from([1, -1]), st.integers(1, 60))
def test_best_one_venue_matches_a_brute_force_walk(venues, side, size):
    costs = [brute_walk_cost(v, side, size) for v in venues]
    route = route_best(venues, side, size)
    ok = [c for c in costs if c is not None]
    if not ok:
        assert not route.fillable and route.venue is None and "no venue shows" in route.reason
        return
    best = min(ok)
    assert route.all_in_cost == pytest.approx(best, rel=1e-12, abs=1e-12)
    first = next(v.venue for v, c in zip(venues, costs) if c is not None and c <= best + 1e-9)
    assert route.venue == first  # ties go to the venue listed first
    assert route.legs[0].size == size
    # all-in price: fees folded into the average price, in price units
    assert route.all_in_price == pytest.approx(side * best / (size * INST.unit_value))


@settings(max_examples=150, deadline=None)
@given(venues_st(2, 2), st.sampled_from([1, -1]), st.integers(1, 80))
def test_best_split_matches_a_brute_force_over_all_splits(venues, side, size):
    a, b = venues
    splits = [(ca + cb) for q in range(size + 1)
              if (ca := brute_walk_cost(a, side, q) if q else 0.0) is not None
              and (cb := brute_walk_cost(b, side, size - q) if size - q else 0.0) is not None]
    route = route_best(venues, side, size, split=True)
    if not splits:
        assert not route.fillable and "together show" in route.reason
        return
    assert route.all_in_cost == pytest.approx(min(splits), rel=1e-12, abs=1e-12)
    assert sum(leg.size for leg in route.legs) == size
    # never worse than the best single venue
    single = route_best(venues, side, size)
    if single.fillable:
        assert route.all_in_cost <= single.all_in_cost + 1e-12


def test_best_adds_fees_and_says_when_no_venue_can_fill():
    # A asks $10.00, B one tick ($0.01) more; A's taker fee of $0.02 per share outweighs that edge
    a = quote("A", asks=[(100_000, 50)], fees=FeeSchedule(taker_per_unit=0.02))
    b = quote("B", asks=[(100_100, 50)], fees=FeeSchedule(taker_per_unit=0.0))
    r = route_best([a, b], 1, 40)
    assert r.venue == "B"  # $10.01 all-in beats $10.00 + $0.02
    assert r.avg_price == 100_100 and r.all_in_cost == pytest.approx(40 * 10.01)
    assert route_best([a, b], 1, 40).legs[0].fee == 0.0
    r = route_best([a, b], 1, 60)
    assert not r.fillable and "visible A 50, B 50" in r.reason and "split=True" in r.reason
    r = route_best([a, b], 1, 60, split=True)
    assert [(leg.venue, leg.size) for leg in r.legs] == [("A", 10), ("B", 50)]
    assert r.all_in_cost == pytest.approx(10 * 10.02 + 50 * 10.01)


# ---------------------------------------------------------------------------------------- Cont & Kukanov

# The hand case: one venue, buy S = 2, queue ahead Q = 1, outflow draws ξ = 1, 2, 2, 3 (so ξ − Q = 0, 1, 1, 2 with
# probabilities 1/4, 1/2, 1/4); half-spread h = 0.02, taker fee f = 0.003, rebate r = 0.002, λ_u = λ_o = 0.05.
HAND = dict(size=2, queue=[1], outflows=np.array([[1], [2], [2], [3]]), half_spread=0.02, fee=0.003,
            rebates=[0.002], lambda_u=0.05, lambda_o=0.05)


def test_cont_kukanov_hand_solved_single_venue_case():
    """E[V] for each candidate, with φ = min((ξ − Q)⁺, L), A = M + φ, h + f = 0.023, h + r = 0.022:

    (0,0): V = λ_u·2 = 0.1 in every draw                                   E = 0.1
    (1,0): 0.023 + λ_u·1 = 0.073                                           E = 0.073
    (2,0): 2·0.023 = 0.046                                                 E = 0.046
    (0,1): φ = 0,1,1,1: V = −0.022φ + 0.05(2 − φ) = 0.1, 0.028 ×3           E = (0.1 + 3·0.028)/4 = 0.046
    (0,2): φ = 0,1,1,2: V = 0.1, 0.028, 0.028, −0.044                       E = 0.112/4 = 0.028
    (1,1): φ = 0,1,1,1: A = 1,2,2,2: V = 0.023 + 0.05 = 0.073, then 0.023 − 0.022 = 0.001 ×3
                                                                           E = 0.076/4 = 0.019
    (1,2): φ = 0,1,1,2: V = 0.073, 0.001, 0.001, 0.023 − 0.044 + 0.05·1 = 0.029
                                                                           E = 0.104/4 = 0.026
    (2,1): V = 0.046 + (λ_o − 0.022)φ = 0.046 + 0.028φ                      E = 0.046 + 0.028·0.75 = 0.067
    (2,2): V = 0.046 + 0.028φ, E[φ] = 1                                     E = 0.074
    L ≥ 3 fills no more than L = 2 (ξ − Q ≤ 2). The optimum is (M, L) = (1, 1) with E[V] = 0.019.

    Closed form: p = (2h + f + r)/(λ_u + h + r) = 0.045/0.072 = 0.625; F(Q + 0) = 1/4 < p ≤ F(Q + 1) = 3/4, so
    L* = 1 and M* = S − L* = 1.
    """
    hand = {(0, 0): 0.1, (1, 0): 0.073, (2, 0): 0.046, (0, 1): 0.046, (0, 2): 0.028, (1, 1): 0.019,
            (1, 2): 0.026, (2, 1): 0.067, (2, 2): 0.074}
    for (m, lim), v in hand.items():
        assert expected_cost(m, [lim], **HAND) == pytest.approx(v, abs=1e-12)
    sp = solve(**HAND)
    assert (sp.market, sp.limits) == (1, (1,))
    assert sp.expected_cost == pytest.approx(0.019, abs=1e-12)
    args = {k: v for k, v in HAND.items() if k not in ("queue", "rebates")}
    cf = solve_one_venue(queue=1, rebate=0.002, **args)
    assert (cf.market, cf.limits) == (1, (1,)) and cf.expected_cost == pytest.approx(0.019, abs=1e-12)


def test_ties_go_to_the_smallest_limit_size():
    """h = 0.01, f = r = 0, λ_u = 0.03, λ_o = 0.01, S = 2, Q = 0, ξ = 0 or 2: p = 0.02/0.04 = 0.5 = F(Q).
    (2; 0): 0.02; (1; 1): (0.04 + 0)/2 = 0.02; (0; 2): (0.06 − 0.02)/2 = 0.02 — a three-way tie, broken towards
    the smallest limit order."""
    xi = np.array([0, 2])
    for sp in (solve(2, [0], xi[:, None], 0.01, 0.0, [0.0], 0.03, 0.01),
               solve_one_venue(2, 0, xi, 0.01, 0.0, 0.0, 0.03, 0.01)):
        assert (sp.market, sp.limits) == (2, (0,)) and sp.expected_cost == pytest.approx(0.02, abs=1e-12)


def oracle_cost(m: int, lims, size, queue, outflows, h, f, r, lu, lo) -> float:
    """E[V] straight from the paper's formula, one draw at a time (the reference for the solver)."""
    total = 0.0
    for xi in outflows:
        fills = [min(max(int(x) - int(q), 0), lim) for x, q, lim in zip(xi, queue, lims)]
        a = m + sum(fills)
        total += ((h + f) * m - sum((h + rk) * fk for rk, fk in zip(r, fills))
                  + lu * max(size - a, 0) + lo * max(a - size, 0))
    return total / len(outflows)


params_st = st.fixed_dictionaries(dict(
    h=st.sampled_from([0.0, 0.005, 0.01, 0.02]), f=st.sampled_from([-0.002, 0.0, 0.003]),
    lu=st.sampled_from([0.0, 0.01, 0.03, 0.1, 0.5]), lo=st.sampled_from([0.0, 0.005, 0.02, 0.1, 0.5])))


@settings(max_examples=120, deadline=None)
@given(params_st, st.integers(1, 6), st.lists(st.sampled_from([-0.004, 0.0, 0.002, 0.01, 0.03]), min_size=2,
                                              max_size=2),
       st.lists(st.integers(0, 4), min_size=2, max_size=2),
       st.lists(st.lists(st.integers(0, 9), min_size=2, max_size=2), min_size=1, max_size=6))
def test_cont_kukanov_two_venues_matches_a_brute_force_grid(p, size, r, queue, draws):
    h, f, lu, lo = p["h"], p["f"], p["lu"], p["lo"]
    assume(h + f + lo > 0)
    xi = np.array(draws)
    sp = solve(size, queue, xi, h, f, r, lu, lo)
    # brute force past the solver's search range: M up to S + 2, each L up to max ξ + 2
    grid = itertools.product(range(size + 3), range(xi.max() + 3), range(xi.max() + 3))
    best = min(oracle_cost(m, (l1, l2), size, queue, xi, h, f, r, lu, lo) for m, l1, l2 in grid)
    assert sp.expected_cost == pytest.approx(best, abs=1e-9)
    assert oracle_cost(sp.market, sp.limits, size, queue, xi, h, f, r, lu, lo) == pytest.approx(best, abs=1e-9)
    assert 0 <= sp.market <= size


def one_venue_case():
    return st.tuples(st.integers(1, 12), st.integers(0, 5), st.lists(st.integers(0, 20), min_size=1, max_size=12),
                     st.sampled_from([0.005, 0.01, 0.02]), st.sampled_from([0.0, 0.001, 0.003]))


@settings(max_examples=150, deadline=None)
@given(one_venue_case(), st.sampled_from([-0.002, 0.0, 0.002, 0.004]), st.sampled_from([0.0, 0.01, 0.05, 0.2, 1.0]))
def test_closed_form_is_the_exact_optimum_on_one_venue(case, r, lu):
    size, q, xi, h, f = case
    lo = h + r + 0.01  # over-filling never pays: the closed form's condition
    assume(lu + h + r > 0)
    cf = solve_one_venue(size, q, np.array(xi), h, f, r, lu, lo)
    ex = solve(size, [q], np.array(xi)[:, None], h, f, [r], lu, lo)
    assert cf.expected_cost == pytest.approx(ex.expected_cost, abs=1e-12)
    assert cf.market + cf.limits[0] == size  # the closed form fills exactly S when everything fills


@settings(max_examples=150, deadline=None)
@given(one_venue_case(), st.sampled_from([0.0, 0.002, 0.004]))
def test_large_underfill_penalty_means_a_market_order(case, r):
    """λ_u ≥ (2h + f + r)/F(Q) − (h + r) with F(Q) = P(ξ ≤ Q) > 0: all by market order, E[V] = (h + f)·S."""
    size, q, xi, h, f = case
    xi = np.array(xi)
    fq = float(np.mean(xi <= q))
    assume(fq > 0)
    lu = (2 * h + f + r) / fq - (h + r) + 1e-6
    lo = h + r
    for sp in (solve_one_venue(size, q, xi, h, f, r, lu, lo), solve(size, [q], xi[:, None], h, f, [r], lu, lo)):
        assert (sp.market, sp.limits) == (size, (0,))
        assert sp.expected_cost == pytest.approx((h + f) * size, abs=1e-12)
    # and when λ_u is below h + f a market order never pays: all by limit order
    sp = solve_one_venue(size, q, xi, h, f, r, min(h + f, lu) - 1e-6, lo)
    assert sp.market == 0


@settings(max_examples=100, deadline=None)
@given(one_venue_case(), st.sampled_from([0.02, 0.05, 0.2]))
def test_more_rebate_more_limit_more_penalty_more_market(case, lu):
    size, q, xi, h, f = case
    xi = np.array(xi)
    assume(lu > h + f)
    rebates = [-0.002, 0.0, 0.002, 0.005, 0.01]
    lo = h + max(rebates)
    lims = [solve(size, [q], xi[:, None], h, f, [r], lu, lo).limits[0] for r in rebates]
    assert lims == sorted(lims)
    markets = [solve(size, [q], xi[:, None], h, f, [0.002], x, lo).market for x in (lu, 2 * lu, 5 * lu, 50 * lu)]
    assert markets == sorted(markets)


def test_two_venues_overbook_limit_orders():
    """Two venues, each fills a queue-free order of 10 in half the draws (independently); S = 10, h = 0.03,
    f = 0.003, r = 0.002, λ_u = 0.1, λ_o = 0.05 (over-filling costs more than a limit fill earns, λ_o > h + r).

    (0; 10, 10): A = 0, 10, 10, 20: V = 1.0, −0.32, −0.32, −0.64 + 0.5 → E = 0.22/4 = 0.055
    (0; 10, 0):  A = 0, 0, 10, 10:  V = 1.0, 1.0, −0.32, −0.32         → E = 0.34
    (10; 0, 0):  V = 0.033·10                                           → E = 0.33
    Resting 2·S in total is optimal: the paper's over-booking across venues.
    """
    xi = np.array([[0, 0], [0, 10], [10, 0], [10, 10]])
    sp = solve(10, [0, 0], xi, 0.03, 0.003, [0.002, 0.002], lambda_u=0.1, lambda_o=0.05)
    assert (sp.market, sp.limits) == (0, (10, 10))
    assert sp.expected_cost == pytest.approx(0.055, abs=1e-12)


def test_route_cont_kukanov_derives_the_model_from_quotes():
    fees_a = FeeSchedule(taker_per_unit=0.003, maker_per_unit=-0.002)
    fees_b = FeeSchedule(taker_per_unit=0.001, maker_per_unit=-0.001)
    xi_a, xi_b = np.array([0, 5, 10, 20]), np.array([3, 3, 8, 8])
    a = quote("A", asks=[(100_100, 50)], bids=[(100_000, 40)], fees=fees_a, queue_ahead=5, outflow_samples=xi_a)
    b = quote("B", asks=[(100_100, 50)], bids=[(99_900, 10)], fees=fees_b, queue_ahead=2, outflow_samples=xi_b)
    r = route_cont_kukanov([a, b], 1, 12, lambda_u=0.05, lambda_o=0.05)
    assert r.market_venue == "B"  # same ask, lower taker fee
    assert r.half_spread == pytest.approx(0.005) and r.fee == pytest.approx(0.001)
    # B's bid is one tick ($0.01) below the consolidated best bid: a fill there gains that too
    assert r.rebates == pytest.approx({"A": 0.002, "B": 0.001 + 0.01})
    sp = solve(12, [5, 2], np.stack([xi_a, xi_b], axis=1), 0.005, 0.001, [0.002, 0.011], 0.05, 0.05)
    assert (r.market, tuple(r.limits.values()), r.expected_cost) == (sp.market, sp.limits, sp.expected_cost)
    with pytest.raises(ConfigError, match="one length"):
        route_cont_kukanov([a, quote("C", asks=[(100_100, 1)], bids=[(100_000, 1)], outflow_samples=[1])], 1, 5,
                           0.05, 0.05)


def test_a_crossed_consolidated_view_takes_the_market_order():
    """Venue A bids 100.20 while venue B offers 100.10: a buy is cheaper by market order than by any limit, and the
    model's half spread would come out positive from |ask - bid| / 2; the route takes it all."""
    a = quote("A", asks=[(100_300, 50)], bids=[(100_200, 40)], queue_ahead=5, outflow_samples=[0, 5, 10])
    b = quote("B", asks=[(100_100, 150)], bids=[(100_000, 10)], queue_ahead=2, outflow_samples=[3, 3, 8])
    r = route_cont_kukanov([a, b], 1, 100, lambda_u=0.05, lambda_o=0.05)
    assert (r.market, r.market_venue, sum(r.limits.values())) == (100, "B", 0)
    assert r.half_spread < 0


# ------------------------------------------------------------------------------------------------ bad input


def test_bad_venue_quotes_name_the_field():
    with pytest.raises(ConfigError, match=r"book.ask_size\[1\] is negative"):
        quote("A", asks=[(100_000, 5), (100_100, -3)])
    with pytest.raises(ConfigError, match=r"ask_price\[0\] = 100050 is not a positive multiple of the tick"):
        quote("A", asks=[(100_050, 5)])
    with pytest.raises(ConfigError, match="book is empty"):
        quote("A")
    with pytest.raises(ConfigError, match="crossed"):
        quote("A", asks=[(100_000, 5)], bids=[(100_000, 5)])
    with pytest.raises(ConfigError, match=r"bid_price\[1\] = 100000 is not strictly worse"):
        quote("A", bids=[(100_000, 5), (100_000, 5)])
    with pytest.raises(ConfigError, match="queue_ahead"):
        quote("A", asks=[(100_000, 5)], queue_ahead=-1)
    with pytest.raises(ConfigError, match=r"outflow_samples\[1\] is negative"):
        quote("A", asks=[(100_000, 5)], outflow_samples=[3, -1])
    a = quote("A", asks=[(100_000, 5)])
    coarse = Instrument("XYZ", "B", "2024-01-02", price_scale=10_000, tick_size=2 * TICK)
    with pytest.raises(ConfigError, match=r"venues\[1\].instrument.tick_size"):
        route_best([a, quote("B", asks=[(100_000, 5)], inst=coarse)], 1, 5)
    other = Instrument("ABC", "B", "2024-01-02", price_scale=10_000, tick_size=TICK)
    with pytest.raises(ConfigError, match=r"venues\[1\].instrument.symbol"):
        route_best([a, quote("B", asks=[(100_000, 5)], inst=other)], 1, 5)
    with pytest.raises(ConfigError, match="appears twice"):
        route_best([a, a], 1, 5)
    with pytest.raises(ConfigError, match="at least one venue"):
        route_best([], 1, 5)
    for bad in (0, -5, 2.5):
        with pytest.raises(ConfigError, match="size must be a positive integer"):
            route_best([a], 1, bad)
    with pytest.raises(ConfigError, match="side must be"):
        route_best([a], 0, 5)


def test_bad_cont_kukanov_inputs_name_the_argument():
    ok = dict(HAND)
    for key, bad, msg in [("size", -1, "size must be a positive integer"),
                          ("queue", [-1], "queue must hold"),
                          ("outflows", np.array([[1], [-2]]), r"outflows\[1, 0\] is negative"),
                          ("outflows", np.array([[1.5]]), "outflows must hold integers"),
                          ("rebates", [0.0, 0.0], "rebates must hold one finite number per venue"),
                          ("lambda_u", -0.1, "lambda_u and lambda_o must be >= 0"),
                          ("half_spread", -0.01, "half_spread must be >= 0"),
                          ("fee", -1.0, "buying beyond the target would earn money")]:
        with pytest.raises(ConfigError, match=msg):
            solve(**{**ok, key: bad})
    with pytest.raises(ConfigError, match="over-filling pays here; use solve"):
        solve_one_venue(2, 1, np.array([1, 2]), 0.02, 0.003, 0.002, 0.05, 0.01)
    with pytest.raises(ConfigError, match="max_work"):
        solve(200, [0, 0, 0], np.arange(300).reshape(100, 3), 0.01, 0.003, [0.0, 0.0, 0.0], 0.05, 0.05)
