"""Audit of the execution engine: hand-made tapes for bugs found by a review, each worked out by hand."""

from __future__ import annotations

from test_exchange import BOOK, BUY, LIM, SELL, K, fills_of, make_replay, run
from tickreplay.engine import Engine
from tickreplay.exchange import QueueModel
from tickreplay.executor import ChildOrderExecutor
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
    assert o.status.tolist() == ["cancelled", "cancelled"] and o.filled.tolist() == [30, 10]


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
    assert res.orders.queue_ahead_at_entry.tolist() == [50, 55]
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
    assert o.reason.iloc[1] == "trading_halted" and o.status.iloc[2] == "open"
    assert o.decision_ns.iloc[2] == 70 * S and o.final_price.iloc[0] == 101
