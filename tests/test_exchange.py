"""Exchange matching on hand-made tapes: every expected fill is worked out by hand in the comments."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tickreplay.book.fast import compute_snapshots
from tickreplay.engine import Engine, EngineConfig, Strategy
from tickreplay.exchange import FeeSchedule, QueueModel
from tickreplay.latency import Constant
from tickreplay.orders import NewOrder, OrderType
from tickreplay.book.replay import ReplayData
from tickreplay.tape import EventKind as K
from tickreplay.tape import Instrument, Tape

INST = Instrument("TEST", "X", "2024-01-02", price_scale=100, tick_size=1)
BUY, SELL = 1, -1
LIM, MKT, IOC = OrderType.LIMIT, OrderType.MARKET, OrderType.IOC


def make_replay(events, inst=INST, levels=3, session_end_ns=10**6) -> ReplayData:
    """events: (ts_ns, kind, side, price, size, order_id) rows; the session runs from the first event."""
    a = np.array([(t, int(k), s, p, q, o) for t, k, s, p, q, o in events], dtype=np.int64)
    tape = Tape.from_columns(inst, ts_ns=a[:, 0], kind=a[:, 1], side=a[:, 2], price=a[:, 3], size=a[:, 4],
                             order_id=a[:, 5])
    return ReplayData.build(tape, compute_snapshots(tape, levels), session_end_ns=session_end_ns)


class Script(Strategy):
    """Acts at given trader times: ("send", NewOrder, key), ("cancel", key), ("modify", key, qty, price)."""

    def __init__(self, actions):
        self.actions = sorted(actions, key=lambda a: a[0])
        self.ids: dict = {}
        self.fills, self.updates = [], []

    def on_start(self, ctx):
        for t in sorted({a[0] for a in self.actions}):
            ctx.set_timer(t)

    def on_timer(self, ctx, t):
        for a in [a for a in self.actions if a[0] == t]:
            if a[1] == "send":
                self.ids[a[3] if len(a) > 3 else len(self.ids)] = ctx.send(a[2])
            elif a[1] == "cancel":
                ctx.cancel(self.ids.get(a[2], a[2]))
            else:
                ctx.modify(self.ids.get(a[2], a[2]), a[3], a[4])

    def on_fill(self, ctx, fill):
        self.fills.append(fill)

    def on_order_update(self, ctx, update):
        self.updates.append(update)


def run(replay, actions, start_ns=0, end_ns=None, **cfg):
    s = Script(actions)
    return Engine(replay, EngineConfig(**cfg)).run(s, start_ns=start_ns, end_ns=end_ns), s


def fills_of(res, order_id):
    f = res.fills[res.fills.order_id == order_id]
    return list(zip(f.exchange_ns.tolist(), f["size"].tolist()))


BOOK = [
    (1, K.ADD, BUY, 100, 50, 1),
    (2, K.ADD, SELL, 102, 50, 2),
    (3, K.ADD, SELL, 103, 100, 4),
    (4, K.ADD, BUY, 99, 70, 5),
]


def test_l3_cancels_behind_us_do_not_move_us_and_executions_behind_us_reach_us():
    r = make_replay(BOOK + [
        (10, K.ADD, BUY, 100, 40, 3),  # behind us
        (11, K.PARTIAL_CANCEL, BUY, 100, 10, 3),  # behind: ahead stays 50
        (12, K.PARTIAL_CANCEL, BUY, 100, 20, 1),  # ahead: 50 → 30
        (13, K.EXECUTE_VISIBLE, BUY, 100, 20, 1),  # ahead: 30 → 10
        (14, K.EXECUTE_VISIBLE, BUY, 100, 15, 3),  # an order behind us traded: FIFO reached us, fill 15
        (15, K.EXECUTE_VISIBLE, BUY, 100, 10, 1),  # ahead is 0: fill 10
        (16, K.EXECUTE_VISIBLE, BUY, 100, 5, 3),  # fill the last 5
    ])
    res, _ = run(r, [(5, "send", NewOrder(BUY, 30, LIM, 100))])
    o = res.orders.iloc[0]
    assert o.queue_ahead == 50
    assert fills_of(res, 1) == [(14, 15), (15, 10), (16, 5)]
    assert (res.fills.how == "queue").all() and (res.fills.price == 100).all() and o.order_status == "filled"


def test_own_orders_at_one_level_share_an_execution_once():
    r = make_replay(BOOK + [
        (6, K.ADD, BUY, 100, 10, 3),  # between our two orders
        (10, K.EXECUTE_VISIBLE, BUY, 100, 50, 1),  # ahead of both: A1 50 → 0, A2 60 → 10
        (11, K.EXECUTE_VISIBLE, BUY, 100, 10, 3),  # behind o1 (fill 10), ahead of o2: the 10 went to o1, A2 stays 10
        (12, K.EXECUTE_VISIBLE, BUY, 100, 25, 777),  # unknown id: o1 takes 10, o2: 10 ahead consumed, fill 5
    ])
    res, _ = run(r, [(5, "send", NewOrder(BUY, 20, LIM, 100), "a"), (7, "send", NewOrder(BUY, 20, LIM, 100), "b")])
    assert res.orders.queue_ahead.tolist() == [50, 60]
    assert fills_of(res, 1) == [(11, 10), (12, 10)]
    assert fills_of(res, 2) == [(12, 5)]


def test_trade_through_fills_at_our_price():
    r = make_replay(BOOK + [
        (10, K.EXECUTE_VISIBLE, BUY, 100, 30, 1),  # a sell traded at 100, through our 101 bid: fill 30
        (12, K.ADD, SELL, 101, 25, 6),  # a sell arriving at our bid crosses it: fill the last 10
    ])
    res, _ = run(r, [(5, "send", NewOrder(BUY, 40, LIM, 101))])
    assert fills_of(res, 1) == [(10, 30), (12, 10)]
    assert res.fills.price.tolist() == [101, 101] and res.fills.how.tolist() == ["trade_through"] * 2


def test_trade_through_volume_goes_to_the_better_price_first():
    r = make_replay([(1, K.ADD, BUY, 100, 50, 1), (2, K.ADD, SELL, 104, 50, 2),
                     (10, K.EXECUTE_VISIBLE, BUY, 100, 30, 1),  # 30 sold through both our bids
                     (12, K.ADD, SELL, 101, 25, 6)])  # crosses the 101 bid (the 103 bid is filled by then)
    res, _ = run(r, [(5, "send", NewOrder(BUY, 50, LIM, 101), "lo"), (5, "send", NewOrder(BUY, 10, LIM, 103), "hi")])
    assert fills_of(res, 2) == [(10, 10)]  # better price first
    assert fills_of(res, 1) == [(10, 20), (12, 25)]  # only the 20 left, then the crossing sell
    assert res.fills.price.tolist() == [103, 101, 101]


def test_consumed_liquidity_stays_taken_until_the_tape_changes_the_level():
    r = make_replay(BOOK + [(8, K.PARTIAL_CANCEL, SELL, 102, 5, 2), (20, K.ADD, BUY, 99, 1, 9)])
    res, _ = run(r, [(5, "send", NewOrder(BUY, 30, MKT)),  # 30 @ 102 (50 visible)
                     (6, "send", NewOrder(BUY, 30, MKT)),  # 20 left at 102, then 10 @ 103
                     (9, "send", NewOrder(BUY, 30, MKT)),  # 102 changed at t=8: 45 visible again
                     (10, "send", NewOrder(SELL, 10, LIM, 102))])  # joins 102 behind 45 - 30 taken = 15
    got = [list(zip(f.price, f["size"])) for _, f in res.fills.groupby("order_id")]
    assert got == [[(102, 30)], [(102, 20), (103, 10)], [(102, 30)]]
    assert res.orders.queue_ahead.iloc[3] == 15


def test_out_of_window_marks_the_queue_unknown_and_stops_passive_fills():
    inst = Instrument("TEST", "X", "2024-01-02", price_scale=100, tick_size=1, levels=2)
    r = make_replay(BOOK + [
        (10, K.ADD, BUY, 101, 10, 6),  # our 99 bid is now the 3rd level: beyond the data's 2-level window
        (11, K.EXECUTE_VISIBLE, BUY, 99, 70, 5),  # would have reached us; the data cannot tell
        (12, K.ADD, BUY, 98, 5, 7),
    ], inst=inst)
    res, _ = run(r, [(5, "send", NewOrder(BUY, 10, LIM, 99)), (13, "send", NewOrder(BUY, 10, LIM, 97))])
    a, b = res.orders.iloc[0], res.orders.iloc[1]
    assert a.queue_unknown and a.queue_unknown_ns == 10 and a.queue_ahead == 70
    assert b.queue_unknown and b.rested and b.queue_ahead == -1  # beyond the window on arrival
    assert res.fills.empty and a.order_status == "open" and a.unfilled == 10


def test_snapshots_shallower_than_the_data_window_bound_the_window():
    inst = Instrument("TEST", "X", "2024-01-02", price_scale=100, tick_size=1, levels=3)
    r = make_replay(BOOK + [(5, K.ADD, BUY, 98, 10, 6)], inst=inst, levels=2)
    res, _ = run(r, [(6, "send", NewOrder(BUY, 10, LIM, 98)), (6, "send", NewOrder(BUY, 10, LIM, 99))])
    assert res.orders.queue_unknown.tolist() == [True, False]  # 98 is the 3rd level: the snapshots cannot show it


def _l2(more):
    return [(1, K.LEVEL_SET, BUY, 100, 50, 0), (2, K.LEVEL_SET, SELL, 102, 50, 0)] + more


def test_l2_risk_averse_queue_counts_each_trade_once():
    r = make_replay(_l2([
        (10, K.LEVEL_SET, BUY, 100, 30, 0),  # a cancel: not ahead of us, but ahead ≤ level size → 30
        (11, K.TRADE, BUY, 100, 25, 0),  # ahead 30 → 5
        (12, K.LEVEL_SET, BUY, 100, 5, 0),  # the trade's depth update: explained, not counted again
        (13, K.TRADE, BUY, 100, 8, 0),  # 5 ahead, 3 fill us
    ]))
    res, _ = run(r, [(5, "send", NewOrder(BUY, 10, LIM, 100))])
    assert fills_of(res, 1) == [(13, 3)]


@pytest.mark.parametrize("model,weight", [("power", lambda x: x**2), ("log", math.log1p)])
def test_l2_probabilistic_queue_takes_the_expected_share_of_cancels(model, weight):
    r = make_replay(_l2([
        (6, K.LEVEL_SET, BUY, 100, 80, 0),  # 30 join behind us
        (10, K.LEVEL_SET, BUY, 100, 60, 0),  # 20 cancelled: ahead of us with p = f(50) / (f(50) + f(30))
        (11, K.TRADE, BUY, 100, 45, 0),
        (12, K.LEVEL_SET, BUY, 100, 15, 0),  # explained by the trade
        (13, K.TRADE, BUY, 100, 30, 0),
    ]))
    p = weight(50) / (weight(50) + weight(30))
    ahead = 50 - p * 20
    first = math.floor(45 - ahead)
    ahead = max(ahead - 45, 0)
    second = min(30 - first, math.floor(30 - ahead))
    res, _ = run(r, [(5, "send", NewOrder(BUY, 30, LIM, 100))], queue_model=QueueModel(model))
    assert first > 0 and fills_of(res, 1) == [(11, first), (13, second)]


def test_fees_per_liquidity_flag():
    r = make_replay(BOOK + [(10, K.EXECUTE_VISIBLE, SELL, 102, 10, 2)])
    fees = FeeSchedule(maker_bps=-0.2, taker_bps=0.3, maker_per_unit=0.001, taker_per_unit=0.003)
    res, _ = run(r, [(5, "send", NewOrder(BUY, 20, MKT)), (6, "send", NewOrder(SELL, 10, LIM, 103))], fees=fees)
    # the sell at 103 rests behind 100; an execution at 102 is not at its price → only the market buy fills
    assert res.fills.fee.tolist() == pytest.approx([1.02 * 20 * 0.3e-4 + 20 * 0.003])
    r2 = make_replay(BOOK + [(10, K.ADD, BUY, 102, 10, 8)])  # a buy arriving at our 102 ask crosses it
    res2, _ = run(r2, [(6, "send", NewOrder(SELL, 10, LIM, 102))], fees=fees)
    assert res2.fills.fee.tolist() == pytest.approx([1.02 * 10 * -0.2e-4 + 10 * 0.001])
    assert res2.orders.fees.iloc[0] == pytest.approx(res2.fills.fee.sum())


def test_ioc_and_marketable_limit():
    r = make_replay(BOOK)
    res, _ = run(r, [(5, "send", NewOrder(BUY, 80, IOC, 102)), (6, "send", NewOrder(BUY, 80, LIM, 102))])
    ioc, lim = res.orders.iloc[0], res.orders.iloc[1]
    assert ioc.filled == 50 and ioc.status == "done" and ioc.order_status == "cancelled"
    assert ioc.reason == "ioc_rest_cancelled" and not ioc.rested and ioc.queue_ahead == -1
    # the limit sees 102 consumed by the IOC; it rests its 80 at 102 behind nothing
    assert lim.filled == 0 and lim.status == "accepted" and lim.order_status == "open" and lim.queue_ahead == 0


def test_rejections_are_answers_not_exceptions():
    inst = Instrument("TEST", "X", "2024-01-02", price_scale=100, tick_size=2, lot_size=10)
    r = make_replay([(1, K.ADD, BUY, 100, 50, 1), (2, K.ADD, SELL, 102, 50, 2),
                     (20, K.HALT, 0, 0, 0, 0), (30, K.RESUME, 0, 0, 0, 0), (40, K.ADD, BUY, 98, 10, 3)], inst=inst,
                    session_end_ns=45)
    res, s = run(r, [
        (0, "send", NewOrder(BUY, 10, MKT), "early"),
        (5, "send", NewOrder(BUY, 0, MKT), "zero"),
        (5, "send", NewOrder(BUY, 15, MKT), "lot"),
        (5, "send", NewOrder(BUY, 10, LIM, 101), "tick"),
        (5, "send", NewOrder(BUY, 10, LIM, None), "noprice"),
        (5, "send", NewOrder(0, 10, MKT), "side"),
        (6, "send", NewOrder(BUY, 10, MKT), "done"),
        (7, "cancel", 999),
        (8, "cancel", "done"),
        (8, "modify", "done", 20, None),
        (8, "send", NewOrder(BUY, 10, LIM, 98), "rest"),
        (9, "modify", "rest", 10, 98),
        (25, "send", NewOrder(BUY, 10, MKT), "halt"),
        (26, "modify", "rest", 20, None),
        (50, "send", NewOrder(BUY, 10, MKT), "late"),
    ], start_ns=0, end_ns=100, response_latency=Constant(3))
    o = res.orders.set_index("request_id")
    expect = {1: "outside_trading_hours", 2: "size_not_positive", 3: "size_off_lot", 4: "price_off_tick_grid",
              5: "limit_without_price", 6: "side_not_plus_or_minus_one", 8: "unknown_order",
              9: "order_already_done", 10: "order_already_done", 12: "modify_without_change",
              13: "trading_halted", 14: "trading_halted", 15: "outside_trading_hours"}
    for rid, reason in expect.items():
        assert o.loc[rid, "status"] == "rejected" and o.loc[rid, "reject_reason"] == reason, rid
        assert o.loc[rid, "response_ns"] == o.loc[rid, "arrival_ns"] + 3
    assert o.loc[7, "status"] == "filled" and o.loc[11, "status"] == "accepted"  # the run went on
    assert o.loc[11, "order_status"] == "open" and o.loc[1, "reason"] == "outside_trading_hours"
    assert sum(u.status.name == "REJECTED" for u in s.updates) == len(expect)


def _priority_tape():
    return BOOK + [
        (6, K.ADD, BUY, 100, 30, 3),  # behind our order
        (10, K.EXECUTE_VISIBLE, BUY, 100, 50, 1),
        (11, K.EXECUTE_VISIBLE, BUY, 100, 10, 3),
    ]


def test_modify_size_down_keeps_priority():
    res, _ = run(make_replay(_priority_tape()), [(5, "send", NewOrder(BUY, 40, LIM, 100), "a"),
                                                 (7, "modify", "a", 20, None)])
    # still ahead of order 3: 50 ahead consumed at t=10, order 3's execution reaches us
    assert fills_of(res, 1) == [(11, 10)]
    # the modify row records where the order still stands: 50 ahead (order 3 joined behind it)
    assert res.orders.iloc[1].status == "modified" and res.orders.iloc[1].queue_ahead == 50
    assert res.orders.filled.tolist() == [0, 10]  # the fill came while the size-down was in force


def test_modify_size_up_or_price_change_loses_priority():
    res, _ = run(make_replay(_priority_tape()), [(5, "send", NewOrder(BUY, 40, LIM, 100), "a"),
                                                 (7, "modify", "a", 60, None)])
    assert res.fills.empty  # re-entered behind order 3: 80 ahead, only 60 traded
    assert res.orders.queue_ahead.tolist() == [50, 80]  # each placement's own queue ahead
    res, _ = run(make_replay(_priority_tape()), [(5, "send", NewOrder(BUY, 40, LIM, 99), "a"),
                                                 (7, "modify", "a", None, 100)])
    assert res.fills.empty and res.orders.queue_ahead.tolist() == [70, 80]


def test_modify_to_at_most_the_filled_size_ends_the_order():
    res, _ = run(make_replay(_priority_tape() + [(20, K.EXECUTE_VISIBLE, BUY, 100, 10, 3)]),
                 [(5, "send", NewOrder(BUY, 40, LIM, 100), "a"), (15, "modify", "a", 5, None)])
    o = res.orders.iloc[0]
    assert o.order_filled == 10 and o.order_status == "filled" and o.reason == "modified_to_filled_size"
    assert res.orders.status.tolist() == ["accepted", "modified"] and res.orders.filled.tolist() == [10, 0]
    assert res.orders.open_quantity.tolist() == [40, 0] and not res.orders.rested.iloc[1]
    assert fills_of(res, 1) == [(11, 10)]


def test_cancel_stops_fills_and_reports_the_cancelled_size():
    res, s = run(make_replay(_priority_tape()), [(5, "send", NewOrder(BUY, 40, LIM, 100), "a"),
                                                 (10, "cancel", "a")])
    # the cancel arrives at t=10, after the tape's t=10 event (ahead 0) but before order 3's execution
    o = res.orders
    assert res.fills.empty and o.open_quantity.iloc[1] == 40 and o.filled.tolist() == [0, 0]
    assert o.status.tolist() == ["accepted", "cancelled"] and (o.order_status == "cancelled").all()
    assert [u.action for u in s.updates] == ["new", "cancel"]
