"""Audit of the execution engine: hand-made tapes for bugs found by a review, each worked out by hand."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from test_exchange import BOOK, BUY, LIM, SELL, K, fills_of, make_replay, run
from tickreplay.engine import Engine
from tickreplay.exchange import QueueModel
from tickreplay.trader.executor import ChildOrderExecutor
from tickreplay.orders import NewOrder
from tickreplay.schedule import ChildOrder

S = 1_000_000_000


def test_no_trade_through_fill_from_quotes_crossing_us_during_a_halt():
    r = make_replay(BOOK + [
        (10, K.HALT, 0, 0, 0, 0),
        (11, K.QUOTE_RESUME, 0, 0, 0, 0),
        (12, K.ADD, SELL, 101, 30, 9),  # quoting only: crosses our 101 bid, but nothing trades until the resume
        (20, K.RESUME, 0, 0, 0, 0),
        (30, K.ADD, SELL, 101, 4, 10),  # trading again: a sell arriving at our bid fills 4 at our price
    ])
    res, _ = run(r, [(5, "send", NewOrder(BUY, 10, LIM, 101))])
    assert fills_of(res, 1) == [(30, 4)]
    assert res.fills.how.tolist() == ["trade_through"]


def test_no_passive_fill_from_tape_events_after_the_session_end():
    r = make_replay(BOOK + [
        (30, K.EXECUTE_VISIBLE, BUY, 100, 30, 1),  # in the session: sold through our 101 bid, fill 30
        (50, K.EXECUTE_VISIBLE, BUY, 100, 20, 1),  # after the close at 40: the exchange no longer matches us
    ], session_end_ns=40)
    res, _ = run(r, [(5, "send", NewOrder(BUY, 40, LIM, 101)), (60, "cancel", 0)], end_ns=100)
    assert fills_of(res, 1) == [(30, 30)]
    o = res.orders
    assert o.status.tolist() == ["accepted", "cancelled"] and o.filled.tolist() == [30, 0]
    assert (o.order_status == "cancelled").all() and o.open_quantity.iloc[1] == 10 and (o.unfilled == 10).all()


def test_l2_probabilistic_queue_keeps_own_orders_in_fifo_order():
    r = make_replay([
        (1, K.LEVEL_SET, BUY, 100, 50, 0), (2, K.LEVEL_SET, SELL, 102, 50, 0),
        (6, K.LEVEL_SET, BUY, 100, 55, 0),  # 5 join between our two orders
        (8, K.LEVEL_SET, BUY, 100, 100, 0),  # 45 join behind both
        (10, K.LEVEL_SET, BUY, 100, 20, 0),  # 80 cancelled
        (11, K.TRADE, BUY, 100, 9, 0),
    ])
    res, _ = run(r, [(5, "send", NewOrder(BUY, 10, LIM, 100), "a"), (7, "send", NewOrder(BUY, 10, LIM, 100), "b")],
                 queue_model=QueueModel("power"))
    # power 2: a's expected ahead 50 - 0.5 * 80 = 10; b's alone would be 55 - p * 80 ≈ 7.1 with
    # p = 55² / (55² + 45²), less than a's, although everything ahead of a is also ahead of b.
    # b keeps at least a's 10 ahead: the 9 traded fill neither.
    assert res.orders.queue_ahead.tolist() == [50, 55]
    assert res.fills.empty


def test_executor_reprices_after_a_rejected_modify():
    r = make_replay([(1, K.ADD, BUY, 100, 500, 1), (2, K.ADD, SELL, 104, 500, 2),
                     (35 * S, K.HALT, 0, 0, 0, 0), (36 * S, K.QUOTE_RESUME, 0, 0, 0, 0),
                     (37 * S, K.ADD, BUY, 101, 50, 5),  # the bid moves to 101 during the halt
                     (50 * S, K.RESUME, 0, 0, 0, 0)], session_end_ns=200 * S)
    kids = [ChildOrder(10 * S, 100, "limit_touch")]
    res = Engine(r).run(ChildOrderExecutor(BUY, kids, replace_after_ns=30 * S), start_ns=0)
    o = res.orders
    # t=40: modify to 101 rejected (halted); t=70: the order is still at 100, the touch 101 → modify again
    assert o.action.tolist()[:3] == ["new", "modify", "modify"]
    assert o.status.tolist()[:3] == ["accepted", "rejected", "modified"] and o.reject_reason.iloc[1] == "trading_halted"
    assert o.decision_ns.iloc[2] == 70 * S and o.final_price.iloc[0] == 101


# -- properties on random hand-sized tapes -----------------------------------------------------------------

def _l2_level_tape(steps):
    """One bid level at 100 driven by (size change, trade) steps; each trade is followed by its depth update."""
    ev, size = [(1, K.LEVEL_SET, BUY, 100, 50, 0), (2, K.LEVEL_SET, SELL, 102, 50, 0)], 50
    for t, (change, trade) in enumerate(steps, start=3):
        if trade and size:
            q = min(trade, size)
            size -= q
            ev += [(t, K.TRADE, BUY, 100, q, 0), (t, K.LEVEL_SET, BUY, 100, size, 0)]
        else:
            size = max(size + change, 0)
            ev.append((t, K.LEVEL_SET, BUY, 100, size, 0))
    return ev


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps=st.lists(st.tuples(st.integers(-40, 40), st.integers(0, 30)), min_size=5, max_size=40),
       joins=st.lists(st.tuples(st.integers(3, 30), st.integers(1, 20)), min_size=2, max_size=4),
       model=st.sampled_from(["power", "log", "risk_averse"]))
def test_own_orders_at_one_price_fill_in_their_arrival_order(steps, joins, model):
    r = make_replay(_l2_level_tape(steps))
    joins = sorted({t: q for t, q in joins}.items())
    res, _ = run(r, [(t, "send", NewOrder(BUY, q, LIM, 100), k) for k, (t, q) in enumerate(joins)],
                 queue_model=QueueModel(model))
    f = res.fills
    for k in range(1, len(joins)):
        mine = f[f.order_id == k + 1]
        if len(mine):  # every order that joined before must be complete by then
            first = mine.tape_index.min()
            for e in range(k):
                assert f[(f.order_id == e + 1) & (f.tape_index <= first)]["size"].sum() == joins[e][1]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_a_tape_event_never_gives_our_passive_orders_more_than_its_volume(data):
    ev, live, oid = [], {}, 10
    for t in range(1, 60):
        u = data.draw(st.integers(0, 9))
        if u < 5 or not live:
            side, px = data.draw(st.sampled_from([BUY, SELL])), data.draw(st.integers(95, 105))
            q = data.draw(st.integers(1, 30))
            ev.append((t, K.ADD, side, px, q, oid))
            live[oid], oid = (side, px, q), oid + 1
            continue
        o = data.draw(st.sampled_from(sorted(live)))
        side, px, left = live[o]
        q = data.draw(st.integers(1, left))
        kind = K.EXECUTE_VISIBLE if u >= 7 else (K.DELETE if q == left else K.PARTIAL_CANCEL)
        ev.append((t, kind, side, px, q, o))
        live[o] = (side, px, left - q)
        if q == left:
            del live[o]
    r = make_replay(ev, levels=10)
    orders = data.draw(st.lists(st.tuples(st.integers(2, 55), st.sampled_from([BUY, SELL]), st.integers(1, 40),
                                          st.integers(96, 104)), min_size=1, max_size=8))
    res, _ = run(r, [(t, "send", NewOrder(s, q, LIM, p), k) for k, (t, s, q, p) in enumerate(orders)])
    passive = res.fills[res.fills.liquidity == "maker"]
    for j, got in passive.groupby("tape_index")["size"].sum().items():
        assert got <= r.size[j]
    assert (res.orders.order_filled <= res.orders.final_quantity).all()
