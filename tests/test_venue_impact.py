"""The impact-adjusted replay across venues (tickreplay.venues.impact): one venue with impact is the single-venue
engine's impact run byte for byte, zero coefficients are the plain replay, a trade on venue A moves venue B's book,
view, prints and matching, the trades clock is refused on several venues, and the invariants hold with impact on."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import lobster_pair
from test_engine import Random, orders_st
from test_exchange import BOOK, BUY, LIM, MKT, SELL, K, make_replay
from test_venues import CFG_A, CFG_B, TwoVenueRandom, Watching, two  # noqa: F401  (two: the fixture)
from tickreplay.adapters.synthetic import generate_day
from tickreplay.book.fast import compute_snapshots
from tickreplay.book.replay import ReplayData
from tickreplay.engine import Engine, EngineConfig, Strategy
from tickreplay.errors import ConfigError
from tickreplay.impact.replay_impact import ImpactModel, crossing_tau
from tickreplay.latency import Constant, Normal
from tickreplay.orders import NewOrder
from tickreplay.schedule import ParentOrder, twap
from tickreplay.trader.executor import ChildOrderExecutor
from tickreplay.venues import Venue, VenueEngine
from tickreplay.venues.router_strategy import RoutedExecutor, RouterPolicy

MS = 1_000_000
S = 1_000_000_000
SECONDS = ImpactModel("propagator", beta=0.5, tau0=5.0, G0=3.0, permanent_bps=0.5)
TRADES = ImpactModel("propagator", beta=0.5, tau0=30.0, clock="trades", G0=3.0, permanent_bps=0.5)


@pytest.fixture(scope="module")
def day():
    tape = generate_day("liquid_large_cap", seed=7, duration_s=600)
    return ReplayData.build(tape, compute_snapshots(tape, 5))


def _same(got, ref) -> None:
    pd.testing.assert_frame_equal(got.fills.drop(columns="venue"), ref.fills, check_exact=True)
    pd.testing.assert_frame_equal(got.orders.drop(columns="venue"), ref.orders, check_exact=True)


# -- one venue with impact is the single-venue engine with impact ------------------------------------------

@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(plan=orders_st, seed=st.integers(0, 2**31), model=st.sampled_from([SECONDS, TRADES]))
def test_one_venue_with_impact_equals_the_single_venue_engine(day, plan, seed, model):
    plan = [(day.session_start_ns + p[0], *p[1:]) for p in plan]
    lat = dict(md_latency=Normal(2 * MS, 1 * MS), entry_latency=Normal(3 * MS, 2 * MS),
               response_latency=Normal(1 * MS, 1 * MS))
    for cls in (Random, Watching):
        ref_strategy, strategy = cls(plan), cls(plan)
        ref = Engine(day, EngineConfig(**lat, seed=seed, impact=model)).run(ref_strategy, compiled=False)
        got = VenueEngine([Venue("X", day, EngineConfig(**lat))], seed=seed, impact=model).run(strategy)
        assert list(got.fills.columns[-2:]) == ["impact_shift", "venue"]
        _same(got, ref)
        assert strategy.seen == ref_strategy.seen  # the shifted view and prints of one venue are the engine's


@pytest.mark.parametrize("model", [SECONDS, TRADES], ids=["seconds", "trades"])
def test_one_venue_with_impact_equals_the_engine_on_limit_children(day, model):
    t0 = day.session_start_ns + 10 * S
    children = twap(ParentOrder(BUY, 6000, t0, t0 + 500 * S), n_children=15, style="limit_touch", lot_size=100)
    cfg = dict(md_latency=Constant(1 * MS), entry_latency=Normal(2 * MS, 1 * MS),
               fees=CFG_A.fees)
    ref = Engine(day, EngineConfig(**cfg, seed=4, impact=model)).run(
        ChildOrderExecutor(BUY, children, 20 * S, 2, True), start_ns=t0, compiled=False)
    got = VenueEngine([Venue("X", day, EngineConfig(**cfg))], seed=4, impact=model).run(
        ChildOrderExecutor(BUY, children, 20 * S, 2, True), start_ns=t0)
    f = ref.fills
    assert len(f) > 20 and f["impact_shift"].abs().max() > 0 and (f["how"] == "trade_through").any()  # re-pegs
    _same(got, ref)


def test_one_venue_with_impact_equals_the_engine_on_a_lobster_tape():
    from tickreplay.adapters.lobster import read_lobster

    res = read_lobster(*lobster_pair("AMZN", 1))
    replay = ReplayData.build(res.tape, res.snapshots)
    t0 = replay.session_start_ns + 3600 * S
    children = twap(ParentOrder(SELL, 3000, t0, t0 + 900 * S), n_children=12, style="limit_touch", lot_size=1)
    model = ImpactModel("propagator", beta=0.4, tau0=10.0, G0=2.0, permanent_bps=0.5)
    cfg = dict(entry_latency=Constant(1 * MS), md_latency=Constant(1 * MS))
    ref = Engine(replay, EngineConfig(**cfg, impact=model)).run(ChildOrderExecutor(SELL, children, 20 * S, 2, True),
                                                                start_ns=t0, compiled=False)
    got = VenueEngine([Venue("AMZN", replay, EngineConfig(**cfg))], impact=model).run(
        ChildOrderExecutor(SELL, children, 20 * S, 2, True), start_ns=t0)
    assert len(ref.fills) > 10 and ref.fills["impact_shift"].abs().max() > 0
    _same(got, ref)


# -- zero coefficients are the plain replay ---------------------------------------------------------------

def _venues(two):
    return [Venue("A", two["A"], CFG_A), Venue("B", two["B"], CFG_B)]


@pytest.mark.parametrize("policy", [RouterPolicy("best"), RouterPolicy("cont-kukanov", horizon_ns=30 * S)],
                         ids=lambda p: p.label)
def test_zero_coefficients_on_two_venues_equal_no_impact(two, policy):
    t0 = two["A"].session_start_ns + 60 * S
    children = twap(ParentOrder(BUY, 5000, t0, t0 + 400 * S), n_children=8, style="market", lot_size=100)
    zero = ImpactModel("propagator", beta=0.5, tau0=5.0, G0=0.0, permanent_bps=0.0)
    plain = VenueEngine(_venues(two), seed=3).run(RoutedExecutor(BUY, children, policy), start_ns=t0)
    got = VenueEngine(_venues(two), seed=3, impact=zero).run(RoutedExecutor(BUY, children, policy), start_ns=t0)
    assert (got.fills["impact_shift"] == 0).all() and (got.orders["impact_shift"] == 0).all()
    pd.testing.assert_frame_equal(got.fills.drop(columns="impact_shift"), plain.fills, check_exact=True)
    pd.testing.assert_frame_equal(got.orders.drop(columns="impact_shift"), plain.orders, check_exact=True)


def test_impact_on_two_venues_costs_more_than_plain(two):
    t0 = two["A"].session_start_ns + 60 * S
    children = twap(ParentOrder(BUY, 5000, t0, t0 + 300 * S), n_children=10, style="market", lot_size=100)
    runs = {m: VenueEngine(_venues(two), seed=3, impact=m).run(RoutedExecutor(BUY, children, RouterPolicy("best")),
                                                               start_ns=t0) for m in (None, SECONDS)}
    paid = {m: float((r.fills["price"] * r.fills["size"]).sum()) for m, r in runs.items()}
    on = runs[SECONDS].fills
    assert int(on["size"].sum()) == int(runs[None].fills["size"].sum()) == 5000
    assert paid[SECONDS] > paid[None]
    assert set(on.loc[on["impact_shift"] > 0, "venue"]) == {"A", "B"}  # both venues trade in the shifted market


# -- a trade on venue A moves venue B ---------------------------------------------------------------------

class OnVenues(Strategy):
    """Acts at trader times: ``(t, venue, NewOrder)``; records every ADD of venue B after 5 ms: the print's price and
    B's view (best bid, ask) then."""

    subscribe = (K.ADD,)

    def __init__(self, actions):
        self.actions, self.seen = actions, []

    def on_start(self, ctx):
        for t in sorted({a[0] for a in self.actions}):
            ctx.set_timer(t)

    def on_timer(self, ctx, t):
        for a in self.actions:
            if a[0] == t:
                ctx.send(a[2], venue=a[1])

    def on_market(self, ctx, event):
        if event.exchange_ns >= 5 * MS:  # only B has events then: its adds at historical 97
            b = ctx.venue_view("B")
            if b.as_of_ns == event.exchange_ns:
                self.seen.append((event.exchange_ns, event.price, b.best_bid()[0], b.best_ask()[0]))


def _ab():
    """A and B: the same book 100 / 102 (tick 1, M0 = 101); B has a buy added at 97 every 2 ms from 5 ms."""
    a = make_replay(BOOK, session_end_ns=10**10)
    b = make_replay(BOOK + [(5 * MS + k * 2 * MS, K.ADD, BUY, 97, 1, 100 + k) for k in range(1500)],
                    session_end_ns=10**10)
    return [Venue("A", a), Venue("B", b)]


MODEL_AB = ImpactModel("propagator", beta=0.5, tau0=0.05, G0=300.0, trade_size=10.0)  # 10 units: 3.03 ticks


def test_a_trade_on_venue_a_shifts_venue_bs_view_prints_and_arrivals():
    venues = _ab()
    watch = OnVenues([(4 * MS, "A", NewOrder(BUY, 10, MKT, None)), (4 * MS + 1, "B", NewOrder(BUY, 1, MKT, None))])
    res = VenueEngine(venues, impact=MODEL_AB).run(watch, start_ns=0)
    f = res.fills
    # our buy on A at 4 ms: 10 at 102, no shift yet; the buy on B 1 ns later walks B's 102 + round(3.03) ticks
    assert f[["venue", "price", "impact_shift"]].values.tolist()[0] == ["A", 102, 0]
    b = f[f["venue"] == "B"]
    a_amp = 300 * 1e-4 * 101
    assert b["price"].iloc[0] == 105 and b["impact_shift"].iloc[0] == 3
    assert res.orders["impact_shift"].tolist() == [0, 3]
    # B's view and prints (historical 97, book 100 / 102) carry the shift of our two buys as it decays
    one = 300 * 1e-4 * 101 / 10  # B's buy of 1
    assert len(watch.seen) > 100
    for t, price, bid, ask in watch.seen:
        raw = a_amp * MODEL_AB.kernel((t - 4 * MS) / S) + one * MODEL_AB.kernel((t - 4 * MS - 1) / S)
        s = int(np.floor(raw + 0.5))
        assert (price, bid, ask) == (97 + s, 100 + s, 102 + s), t
    assert {e[1] - 97 for e in watch.seen} == {3, 2, 1, 0}
    # without impact venue B shows the tape
    plain = OnVenues(watch.actions)
    VenueEngine(_ab()).run(plain, start_ns=0)
    assert {(p, bid, ask) for _, p, bid, ask in plain.seen} == {(97, 100, 102)}


def test_a_resting_order_on_b_is_re_pegged_at_bs_first_event_after_a_trade_on_a():
    # a sell resting on B at 103 (historical 103, above B's ask): our buy of 10 on A at 4 ms moves the price up by
    # 3 ticks, so at B's first event after it (5 ms) the sell is re-pegged to historical 100, B's bid: it fills
    # there as maker at its own 103 (trade-through), 3 ticks better than B's own book would have given
    venues = _ab()
    actions = [(1 * MS, "B", NewOrder(SELL, 5, LIM, 103)), (4 * MS, "A", NewOrder(BUY, 10, MKT, None))]
    res = VenueEngine(venues, impact=MODEL_AB).run(OnVenues(actions), start_ns=0)
    f = res.fills
    on_b = f[f["venue"] == "B"]
    assert on_b[["price", "size", "liquidity", "how"]].values.tolist() == [[103, 5, "maker", "trade_through"]]
    assert on_b["exchange_ns"].iloc[0] == 5 * MS and on_b["impact_shift"].iloc[0] == 3
    plain = VenueEngine(_ab()).run(OnVenues(actions), start_ns=0)
    assert (plain.fills["venue"] == "B").sum() == 0  # the plain replay never reaches 103 on B
    # B's fill is an own trade too: a sell of 5 pulls the shift back down for A's later view
    state = VenueEngine(_ab(), impact=MODEL_AB)
    state.run(OnVenues(actions), start_ns=0)
    s = state.impact_state
    assert s.venue.tolist() == [0, 1] and s.amp[1] < 0
    t = 5 * MS + 1
    assert s.shift_at(t) < round(300 * 1e-4 * 101 * MODEL_AB.kernel((t - 4 * MS) / S))


# -- refusals ---------------------------------------------------------------------------------------------

def test_the_trades_clock_is_refused_on_several_venues_and_the_model_belongs_to_the_run(two):
    with pytest.raises(ConfigError, match="clock 'trades' on several venues"):
        VenueEngine(_venues(two), impact=TRADES).run(Random([]))
    with pytest.raises(ConfigError, match=r"VenueEngine\(venues, impact=...\)"):
        Venue("A", two["A"], EngineConfig(impact=SECONDS))
    with pytest.raises(ConfigError, match="ImpactModel"):
        VenueEngine(_venues(two), impact={"model": "propagator"})


# -- invariants on two venues with impact on --------------------------------------------------------------

@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(plan=orders_st, seed=st.integers(0, 2**31), g0=st.floats(0.5, 20.0))
def test_invariants_on_two_venues_with_impact(two, plan, seed, g0):
    model = ImpactModel("propagator", beta=0.6, tau0=2.0, G0=g0, permanent_bps=g0 / 4)
    start = two["A"].session_start_ns
    plan = [(start + p[0], *p[1:]) for p in plan]
    runs = []
    for _ in range(2):
        strategy = TwoVenueRandom(plan)
        runs.append((VenueEngine(_venues(two), seed=seed, impact=model).run(strategy), strategy))
    (res, strategy), (res2, _) = runs
    pd.testing.assert_frame_equal(res.fills, res2.fills, check_exact=True)  # determinism
    pd.testing.assert_frame_equal(res.orders, res2.orders, check_exact=True)
    o, f = res.orders, res.fills
    new = o[o.action == "new"].set_index("order_id")
    assert (new.order_filled <= new.quantity).all()  # no overfill
    per_order = f.groupby("order_id")["size"].sum().reindex(new.index, fill_value=0)
    assert per_order.tolist() == new.order_filled.tolist()  # conservation
    assert (new.order_filled + new.unfilled == new.final_quantity).all()
    assert int((f.side * f["size"]).sum()) == strategy.position
    assert (f["venue"].to_numpy() == new.loc[f.order_id, "venue"].to_numpy()).all()
    tick = two["A"].instrument.tick_size
    assert (f["impact_shift"] % tick == 0).all() and (o["impact_shift"] % tick == 0).all()
    for row in f.itertuples():
        r = two[row.venue]
        s = r.snapshots
        assert 0 <= row.tape_index < len(r) and r.ts_ns[row.tape_index] <= row.exchange_ns
        if row.liquidity == "taker":  # no fill better than the shifted book: that venue's row, + the shift
            px, sz = (s.ask_price, s.ask_size) if row.side == 1 else (s.bid_price, s.bid_size)
            book = px[row.tape_index][sz[row.tape_index] > 0]
            assert row.price - row.impact_shift in book.tolist()
        else:  # passive: at a limit price we asked for, never better
            assert row.price in strategy.prices[row.order_id]


def test_a_crossing_on_b_is_at_the_first_b_event_after_the_decay_crossing():
    # after our buy of 10 on A (3.03 ticks at 4 ms), B's resting buy at 105 (historical 102 = B's ask once shifted
    # by 3) is re-pegged when the decay crosses 2.5 ticks: to historical 103, through B's ask 102 and 103 levels
    venues = _ab()
    actions = [(4 * MS, "A", NewOrder(BUY, 10, MKT, None)), (4 * MS + 1, "B", NewOrder(BUY, 5, LIM, 104))]
    res = VenueEngine(venues, impact=MODEL_AB).run(OnVenues(actions), start_ns=0)
    b = res.fills[res.fills["venue"] == "B"]
    # the buy at 104 arrives with shift round(3.03 G(1 ns)) = 3: historical 101, below B's ask 102: it rests
    assert res.orders["impact_shift"].tolist() == [0, 3]
    t_cross = 4 * MS + crossing_tau(300 * 1e-4 * 101, 1, 2, MODEL_AB) * S  # 3 → 2 ticks: historical 102 = the ask
    first = int(np.searchsorted(venues[1].replay.ts_ns, t_cross))
    assert b[["price", "size", "liquidity", "how"]].values.tolist() == [[104, 5, "maker", "trade_through"]]
    assert b["exchange_ns"].iloc[0] == venues[1].replay.ts_ns[first]


def test_a_shifted_views_top_levels_are_the_books_plus_the_shift(day):
    from tickreplay.book.view import BookView
    from tickreplay.engine import ShiftedView

    i = 5000
    plain, shifted = BookView(day, i, 0).top(5), ShiftedView(day, i, 0, 300).top(5)
    for side in ("ask", "bid"):
        size = getattr(plain, f"{side}_size")
        assert (size > 0).sum() == 5 and np.array_equal(getattr(shifted, f"{side}_size"), size)
        assert np.array_equal(getattr(shifted, f"{side}_price"), getattr(plain, f"{side}_price") + 300)


@pytest.mark.parametrize("action", ["cancel", "modify"])
def test_a_request_whose_sync_re_pegs_its_order_into_a_fill_is_rejected_as_done(action):
    # one venue (the engine): our market buy of 10 at 4 ms pushes the market up 2 ticks (2.02); a buy of 30 resting at
    # 103 sits at historical 101. The tape is silent until 5 s, so the decay's crossing to 1 tick is first seen by
    # our own request at 1 s: its sync re-pegs the buy to historical 102, the ask, where it fills all 30 (40 left
    # after our 10) at its own 103 — the cancel / modify then finds the order done and is rejected (it crashed)
    from test_exchange import run

    model = ImpactModel("propagator", beta=0.5, tau0=0.05, G0=200.0, trade_size=10.0)
    r = make_replay(BOOK + [(5 * S, K.ADD, BUY, 97, 1, 100)], session_end_ns=10 * S)
    t_cross = 4 * MS + crossing_tau(200 * 1e-4 * 101, 1, 1, model) * S
    assert t_cross < 1 * S
    late = (1 * S, "cancel", "buy") if action == "cancel" else (1 * S, "modify", "buy", 20, 103)
    res, script = run(r, [(4 * MS, "send", NewOrder(BUY, 10, MKT, None), "mkt"),
                          (4 * MS + 1, "send", NewOrder(BUY, 30, LIM, 103), "buy"), late], impact=model)
    f = res.fills
    assert f[["price", "size", "liquidity", "how", "exchange_ns"]].values.tolist() == [
        [102, 10, "taker", "walk", 4 * MS], [103, 30, "maker", "trade_through", 1 * S]]
    last = res.orders.iloc[-1]
    assert (last.action, last.status, last.reject_reason) == (action, "rejected", "order_already_done")
    assert res.orders.iloc[1].order_status == "filled"
