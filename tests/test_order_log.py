"""The order log says what happened: per-row ``filled`` and ``status`` of each action, the order's end state on
every row, and the queue ahead recorded at every placement and re-price."""

from __future__ import annotations

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from test_exchange import BOOK, BUY, LIM, MKT, SELL, K, make_replay, run
from tickreplay.adapters.synthetic import generate_day
from tickreplay.book.fast import compute_snapshots
from tickreplay.engine import Engine, EngineConfig, RunResult
from tickreplay.trader.executor import ChildOrderExecutor
from tickreplay.latency import Normal
from tickreplay.orders import ORDER_LOG_COLUMNS, ActionStatus, NewOrder
from tickreplay.book.replay import ReplayData
from tickreplay.schedule import ChildOrder

S = 1_000_000_000
MS = 1_000_000
STATUSES = {"new": {ActionStatus.ACCEPTED, ActionStatus.FILLED, ActionStatus.DONE, ActionStatus.REJECTED},
            "modify": {ActionStatus.MODIFIED, ActionStatus.REJECTED},
            "cancel": {ActionStatus.CANCELLED, ActionStatus.REJECTED}}
ORDER_STATE = ["order_status", "order_filled", "final_price", "final_quantity", "unfilled", "reason",
               "queue_unknown", "queue_unknown_ns"]


def check_order_log(res: RunResult) -> None:
    """Invariants of any run's order log (see the :mod:`tickreplay.orders` docstring)."""
    o, f = res.orders, res.fills
    assert list(o.columns) == list(ORDER_LOG_COLUMNS)
    for action, allowed in STATUSES.items():
        assert set(o.status[o.action == action]) <= allowed, action
    rej = o.status == ActionStatus.REJECTED
    assert (o.reject_reason[rej] != "").all() and (o.reject_reason[~rej] == "").all()
    assert (o.filled[rej] == 0).all() and (o.open_quantity[rej] == 0).all() and not o.rested[rej].any()
    assert (o.filled[o.action == "cancel"] == 0).all()  # a cancel ends the order: nothing fills under it
    placing = ~rej & (o.action != "cancel")
    assert ((o.filled >= 0) & (o.filled <= o.open_quantity))[placing].all()
    assert (o.queue_ahead[~o.rested] == -1).all() and (o.queue_ahead >= -1).all()
    # a rested row without a queue ahead: the order's place was unknown from that row's arrival or before
    blind = o[o.rested & (o.queue_ahead < 0)]
    assert (blind.queue_unknown & (blind.queue_unknown_ns >= 0) & (blind.queue_unknown_ns <= blind.arrival_ns)).all()
    known = o[o.order_id.isin(o.order_id[o.action == "new"])]
    assert (known.groupby("order_id")[ORDER_STATE].nunique(dropna=False) == 1).all().all()  # one end state per order
    assert (known.unfilled == known.final_quantity - known.order_filled).all()
    assert (known.reason[known.order_status == "open"] == "").all()
    per_fill = f.groupby("order_id")["size"].sum()
    per_row = known.groupby("order_id")["filled"].sum()
    end = known.groupby("order_id")["order_filled"].first()
    assert per_row.tolist() == end.tolist() == per_fill.reindex(end.index, fill_value=0).tolist()
    fees = known.groupby("order_id")["fees"].sum()
    assert fees.tolist() == pytest.approx(f.groupby("order_id")["fee"].sum().reindex(fees.index, fill_value=0.0)
                                          .tolist(), abs=1e-9)
    for oid, fo in f.sort_values("fill_id").groupby("order_id"):
        _check_blocks(known[(known.order_id == oid) & ~rej[known.index]], fo)


def _check_blocks(rows: pd.DataFrame, fills: pd.DataFrame) -> None:
    """The order's fills, in execution order, split into consecutive blocks, one per action that took effect
    (in arrival order), of that row's ``filled``; each fill lies between its row's arrival and the next's."""
    rows = rows.sort_values(["arrival_ns", "request_id"])
    size, ts = fills["size"].to_numpy(), fills.exchange_ns.to_numpy()
    k = 0
    arrivals = rows.arrival_ns.to_numpy()
    for n, want in enumerate(rows.filled.tolist()):
        got = 0
        while got < want:
            assert ts[k] >= arrivals[n] and (n + 1 == len(arrivals) or ts[k] <= arrivals[n + 1])
            got += int(size[k])
            k += 1
        assert got == want
    assert k == len(size)


# -- hand-made tapes: each number worked out by hand ---------------------------------------------------------

def test_each_row_shows_what_filled_while_its_action_was_in_force():
    r = make_replay(BOOK + [
        (6, K.ADD, BUY, 100, 30, 3),  # behind our 100 bid
        (10, K.EXECUTE_VISIBLE, BUY, 100, 50, 1),  # the 50 ahead of us consumed
        (11, K.EXECUTE_VISIBLE, BUY, 100, 5, 3),  # an order behind us traded: fills us 5
        (13, K.EXECUTE_VISIBLE, BUY, 99, 30, 5),  # at 99 (re-priced at 12 behind 70): 40 ahead, no fill
        (15, K.ADD, BUY, 99, 20, 6),  # behind us at 99
        (16, K.EXECUTE_VISIBLE, BUY, 99, 40, 5),  # the 40 ahead consumed
        (17, K.EXECUTE_VISIBLE, BUY, 99, 10, 6),  # behind us traded: fills us 10 (under the size-down of 14)
    ])
    res, s = run(r, [(5, "send", NewOrder(BUY, 40, LIM, 100), "a"), (12, "modify", "a", None, 99),
                     (14, "modify", "a", 30, None), (20, "cancel", "a")])
    o = res.orders
    assert o.action.tolist() == ["new", "modify", "modify", "cancel"]
    assert o.status.tolist() == ["accepted", "modified", "modified", "cancelled"]
    assert o.filled.tolist() == [5, 0, 10, 0]  # 5 under the first placement, 10 after the size-down at 14
    assert o.open_quantity.tolist() == [40, 35, 25, 15]  # the cancel row: the 15 it cancelled
    assert o.queue_ahead.tolist() == [50, 70, 40, -1] and o.rested.tolist() == [True, True, True, False]
    assert (o.order_status == "cancelled").all() and (o.order_filled == 15).all() and (o.unfilled == 15).all()
    assert (o.final_quantity == 30).all() and (o.final_price == 99).all() and (o.reason == "cancel_request").all()
    assert o.liquidity.tolist() == ["maker", "", "maker", ""]
    # what the strategy was told is unchanged: the order's filled size at each answer
    assert [(u.action, u.filled) for u in s.updates] == [("new", 0), ("modify", 5), ("modify", 5), ("cancel", 15)]
    check_order_log(res)


def test_a_cancel_row_of_an_order_that_never_filled_shows_zero():
    res, _ = run(make_replay(BOOK), [(5, "send", NewOrder(BUY, 40, LIM, 99), "a"), (9, "cancel", "a")])
    o = res.orders
    assert o.filled.tolist() == [0, 0] and o.status.tolist() == ["accepted", "cancelled"]
    assert o.open_quantity.tolist() == [40, 40] and (o.unfilled == 40).all()  # all 40 cancelled unfilled
    check_order_log(res)


def test_rejected_actions_fill_nothing_and_say_why():
    r = make_replay(BOOK + [(10, K.HALT, 0, 0, 0, 0), (20, K.RESUME, 0, 0, 0, 0),
                            (30, K.EXECUTE_VISIBLE, BUY, 100, 50, 1),  # the 50 ahead of our 100 bid
                            (31, K.ADD, BUY, 100, 30, 7), (32, K.EXECUTE_VISIBLE, BUY, 100, 10, 7)])  # fills us 10
    res, _ = run(r, [(5, "send", NewOrder(BUY, 20, LIM, 100), "a"), (12, "modify", "a", None, 99),
                     (13, "cancel", 777), (25, "send", NewOrder(SELL, 10, MKT), "m")])
    o = res.orders.set_index("request_id")
    assert o.status.tolist() == ["accepted", "rejected", "rejected", "filled"]
    assert o.reject_reason.tolist() == ["", "trading_halted", "unknown_order", ""]
    # the rejected re-price never took effect: the fill at 100 stays with the first placement
    assert o.filled.tolist() == [10, 0, 0, 10] and o.loc[1, "order_filled"] == 10
    assert o.loc[3, "order_status"] == "" and o.loc[3, "final_quantity"] == -1  # an order we never sent
    check_order_log(res)


def test_market_rest_beyond_the_visible_depth_reads_done():
    res, _ = run(make_replay(BOOK), [(5, "send", NewOrder(BUY, 200, MKT))])
    o = res.orders.iloc[0]
    assert (o.status, o.filled, o.order_status, o.unfilled) == ("done", 150, "cancelled", 50)
    assert o.reason == "market_rest_beyond_visible_depth" and not o.rested and o.queue_ahead == -1
    check_order_log(res)


# -- a generated day with a cancel-replace executor ----------------------------------------------------------

@pytest.fixture(scope="module")
def replay():
    tape = generate_day("liquid_large_cap", 1, duration_s=1200)
    return ReplayData.build(tape, compute_snapshots(tape, 5))


@pytest.fixture(scope="module")
def executed(replay):
    t0 = replay.session_start_ns + 10 * S
    kids = [ChildOrder(t0 + k * 90 * S, 1_000, style, offset_ticks=off, parent_id=1)
            for k, (style, off) in enumerate([("limit_touch", 0), ("limit_offset", 3), ("limit_touch", 0),
                                              ("limit_offset", 8), ("peg_mid", 0), ("limit_touch", 0)] * 2)]
    cfg = EngineConfig(entry_latency=Normal(2 * MS, MS // 2), response_latency=Normal(MS, MS // 4), seed=3)
    ex = ChildOrderExecutor(1, kids, replace_after_ns=20 * S, max_replaces=3, finish_with_market=True)
    return Engine(replay, cfg).run(ex, start_ns=t0 - S)


def test_cancel_replace_day_order_log_adds_up(executed):
    o, f = executed.orders, executed.fills
    check_order_log(executed)
    assert {"new", "modify", "cancel"} <= set(o.action) and len(f) > 0
    assert "open" not in set(o.status) and set(o.status[o.action == "modify"]) <= {"modified", "rejected"}
    per_row = o.groupby("order_id")["filled"].sum()
    assert per_row.reindex(f.order_id.unique()).tolist() == f.groupby("order_id", sort=False)["size"].sum().tolist()
    never = o[(o.order_filled == 0) & (o.order_status == "cancelled")]
    assert len(never[never.action == "cancel"]) > 0  # the day has cancelled orders that never filled
    assert (never.filled == 0).all()


def test_cancel_replace_day_records_the_queue_ahead_of_every_placement(replay, executed):
    o = executed.orders
    placements = o[o.rested & o.action.isin(["new", "modify"])]
    repriced = placements[placements.action == "modify"]
    assert len(repriced) >= 5
    for row in placements.itertuples():
        if not replay.out_of_window(row.side, row.price, row.arrival_idx):
            # our bids rest where no own fill consumed liquidity: the queue ahead is the visible size then
            assert row.queue_ahead == replay.visible_size(row.side, row.price, row.arrival_idx) >= 0, row
        else:
            assert row.queue_ahead == -1 and row.queue_unknown


# -- random action sequences --------------------------------------------------------------------------------

def _l3_tape(draw):
    """Hand-sized L3 tape: adds, cancels and executions around 100 on both sides."""
    ev, live, oid = [(1, K.ADD, BUY, 100, 50, 1), (2, K.ADD, SELL, 102, 50, 2)], {1: (BUY, 100, 50),
                                                                                  2: (SELL, 102, 50)}, 3
    for t in range(3, 80):
        u = draw(st.integers(0, 9))
        if u < 5 or not live:
            side = draw(st.sampled_from([BUY, SELL]))
            px = draw(st.integers(97, 101)) if side == BUY else draw(st.integers(101, 105))
            q = draw(st.integers(1, 40))
            ev.append((t, K.ADD, side, px, q, oid))
            live[oid], oid = (side, px, q), oid + 1
            continue
        o = draw(st.sampled_from(sorted(live)))
        side, px, left = live[o]
        q = draw(st.integers(1, left))
        kind = K.EXECUTE_VISIBLE if u >= 7 else (K.DELETE if q == left else K.PARTIAL_CANCEL)
        ev.append((t, kind, side, px, q, o))
        live[o] = (side, px, left - q)
        if q == left:
            del live[o]
    return ev


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_order_log_invariants_under_random_action_sequences(data):
    r = make_replay(_l3_tape(data.draw), levels=data.draw(st.sampled_from([2, 10])))
    acts, n_new = [], 0
    for t in sorted(data.draw(st.lists(st.integers(2, 85), min_size=1, max_size=14))):
        what = data.draw(st.sampled_from(["send", "send", "modify", "cancel"]))
        if what == "send" or n_new == 0:
            side = data.draw(st.sampled_from([BUY, SELL]))
            typ = data.draw(st.sampled_from([LIM, LIM, LIM, MKT]))
            px = None if typ == MKT else data.draw(st.integers(96, 106))
            acts.append((t, "send", NewOrder(side, data.draw(st.integers(1, 60)), typ, px), n_new))
            n_new += 1
        elif what == "modify":
            key = data.draw(st.integers(0, n_new - 1))
            acts.append((t, "modify", key, data.draw(st.one_of(st.none(), st.integers(1, 80))),
                         data.draw(st.one_of(st.none(), st.integers(96, 106)))))
        else:
            acts.append((t, "cancel", data.draw(st.integers(0, n_new))))  # n_new: an id we may never have sent
    res, _ = run(r, acts, end_ns=100)
    check_order_log(res)
