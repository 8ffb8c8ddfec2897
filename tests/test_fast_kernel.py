"""The numba kernel (tickreplay.book.fast) against the pure-Python books.

The oracle is the reference replay: L3Book (tickreplay.book.l3.top_n_rows)
for L3 streams, L2Book for L2 streams, and LOBSTER's own orderbook file.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import lobster_pair
from tickreplay.book import BookError, L2Book, L3Book
from tickreplay.book.fast import MAX_GRID_LEVELS, FastBookError, apply_tape_fast, compute_snapshots
from tickreplay.book.l3 import top_n_rows
from tickreplay.tape import EventKind as K
from tickreplay.tape import Instrument, Tape

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
BASE = 10_000  # price of grid step 0, in ticks
NO_CHANGE_KINDS = [K.EXECUTE_HIDDEN, K.CROSS_TRADE, K.HALT, K.QUOTE_RESUME, K.RESUME, K.TRADE, K.SNAPSHOT_END]


def make_tape(events: list[tuple[int, int, int, int, int]], tick: int = 100) -> Tape:
    inst = Instrument(symbol="T", venue="X", date="2024-01-02", price_scale=10_000, tick_size=tick)
    a = np.array(events, dtype=np.int64).reshape(-1, 5)
    return Tape.from_columns(inst, ts_ns=np.arange(len(a)), kind=a[:, 0], side=a[:, 1], price=a[:, 2],
                             size=a[:, 3], order_id=a[:, 4])


# Raw draws (op, a, b, c) are read against the current state, so every stream is consistent.
OPS = st.sampled_from(["add"] * 4 + ["remove"] * 3 + ["unknown", "level", "other", "snapshot"])
RAW = st.lists(st.tuples(OPS, st.integers(0, 10**6), st.integers(0, 10**6), st.integers(0, 10**6)), max_size=120)


def consistent_stream(raw, tick: int, base: int = BASE) -> list[tuple[int, int, int, int, int]]:
    """L3 events the L3Book accepts: adds (some re-using dead ids), removals of live and unknown
    ids, level sets at or above the known size, no-change kinds and snapshot clears."""
    live: dict[int, list[int]] = {}  # id -> [side, price, size]
    dead: list[int] = []
    next_id, out = 1, []
    for op, a, b, c in raw:
        side = 1 if a % 2 else -1
        price = (base + b % 13 - 6) * tick
        if op == "add" or (op == "remove" and not live):
            if dead and a % 5 == 0:
                oid = dead.pop(b % len(dead))
            else:
                oid, next_id = next_id, next_id + 1
            size = 1 + c % 60
            live[oid] = [side, price, size]
            out.append((K.ADD, side, price, size, oid))
        elif op == "remove":
            oid = sorted(live)[a % len(live)]
            o_side, o_price, left = live[oid]
            kind = (K.PARTIAL_CANCEL, K.DELETE, K.EXECUTE_VISIBLE)[b % 3]
            size = left if kind == K.DELETE else 1 + c % left
            out.append((kind, o_side, o_price, size, oid))
            if size == left:
                del live[oid]
                dead.append(oid)
            else:
                live[oid][2] -= size
        elif op == "unknown":
            oid = dead[c % len(dead)] if dead and c % 2 else 10**12 + c
            kind = (K.PARTIAL_CANCEL, K.DELETE, K.EXECUTE_VISIBLE)[b % 3]
            out.append((kind, side, price, 1 + c % 40, oid))
        elif op == "level":
            known = sum(s for sd, p, s in live.values() if (sd, p) == (side, price))
            out.append((K.LEVEL_SET, side, price, known + c % 3 * (c % 50), 0))
        elif op == "other":
            out.append((NO_CHANGE_KINDS[c % len(NO_CHANGE_KINDS)], (0, 1, -1)[a % 3], 12345 + b, c, 0))
        else:
            live.clear()
            out.append((K.SNAPSHOT_BEGIN, 0, 0, 0, 0))
    return out


def assert_final_equal(tape: Tape) -> None:
    ref = L3Book()
    shortfall = ref.apply_tape(tape)
    got = apply_tape_fast(tape)
    want = {s: {p: q for p, q in lv.items()} for s, lv in ref.aggregated().items()}
    assert got.levels == want
    assert got.unattributed == {s: {p: ref.unattributed_at(s, p) for p in lv if ref.unattributed_at(s, p)}
                                for s, lv in want.items()}
    assert got.n_orders == ref.n_orders()
    assert got.shortfall == shortfall


@SETTINGS
@given(raw=RAW, tick=st.sampled_from([1, 5, 100]), base=st.sampled_from([BASE, 7, -20]), levels=st.integers(1, 6))
def test_snapshots_equal_l3book_on_consistent_streams(raw, tick, base, levels):
    tape = make_tape(consistent_stream(raw, tick, base), tick)
    np.testing.assert_array_equal(compute_snapshots(tape, levels).as_lobster_rows(), top_n_rows(tape, levels))
    assert_final_equal(tape)


# Any event, consistent or not: the kernel must fail at exactly the event the L3Book rejects.
ANY_EVENT = st.tuples(
    st.sampled_from([int(k) for k in K] + [0, 14, -3]),
    st.sampled_from([1, -1]),
    st.integers(BASE - 3, BASE + 3).map(lambda t: t * 100),
    st.integers(-2, 30),
    st.integers(1, 6),
)


@SETTINGS
@given(events=st.lists(ANY_EVENT, max_size=60))
def test_first_rejected_event_is_the_same(events):
    tape = make_tape(events)
    ref, bad = L3Book(), None
    for i, ev in enumerate(events):
        try:
            ref.apply(*ev)
        except BookError:
            bad = i
            break
    if bad is None:
        np.testing.assert_array_equal(compute_snapshots(tape, 3).as_lobster_rows(), top_n_rows(tape, 3))
        assert_final_equal(tape)
    else:
        with pytest.raises(FastBookError) as err:
            compute_snapshots(tape, 3)
        assert err.value.event_index == bad
        assert f"event {bad} (src_row {bad})" in str(err.value)


L2_EVENT = st.one_of(
    st.tuples(st.just(int(K.LEVEL_SET)), st.sampled_from([1, -1]), st.integers(BASE - 40, BASE + 40),
              st.sampled_from([0, 0, 1, 7, 250, 10**9])),
    st.tuples(st.sampled_from([int(K.SNAPSHOT_BEGIN), int(K.SNAPSHOT_END), int(K.TRADE)]), st.just(0),
              st.just(BASE), st.integers(0, 5)),
)


@SETTINGS
@given(events=st.lists(L2_EVENT, max_size=150), levels=st.integers(1, 8))
def test_l2_streams_equal_l2book(events, levels):
    tape = make_tape([(k, s, p, q, 0) for k, s, p, q in events], tick=1)
    book, want = L2Book(), np.zeros((len(events), 4 * levels), np.int64)
    for i, (k, s, p, q) in enumerate(events):
        book.apply(k, s, p, q)
        want[i] = book.top(levels).as_row()
    np.testing.assert_array_equal(compute_snapshots(tape, levels).as_lobster_rows(), want)
    got = apply_tape_fast(tape)
    assert got.levels == {s: dict(book.levels(s)) for s in (1, -1)}
    assert got.n_orders == 0


def test_hand_worked_example():
    tape = make_tape([
        (K.LEVEL_SET, 1, 9_900, 30, 0),  # 30 unattributed at bid 99.00
        (K.ADD, 1, 9_900, 5, 1),
        (K.ADD, -1, 10_100, 8, 2),
        (K.ADD, 1, 10_000, 4, 3),
        (K.EXECUTE_VISIBLE, 1, 9_900, 40, 77),  # unknown id: takes the 30 unattributed, 10 short
        (K.PARTIAL_CANCEL, -1, 10_100, 3, 2),
        (K.DELETE, 1, 10_000, 4, 3),
    ])
    snaps = compute_snapshots(tape, 2)
    assert snaps.bid_price.tolist() == [[9900, 0], [9900, 0], [9900, 0], [10000, 9900], [10000, 9900],
                                        [10000, 9900], [9900, 0]]
    assert snaps.bid_size.tolist() == [[30, 0], [35, 0], [35, 0], [4, 35], [4, 5], [4, 5], [5, 0]]
    assert snaps.ask_price[:, 0].tolist() == [0, 0, 10100, 10100, 10100, 10100, 10100]
    assert snaps.ask_size[:, 0].tolist() == [0, 0, 8, 8, 8, 5, 5]
    final = apply_tape_fast(tape)
    assert final.levels == {1: {9900: 5}, -1: {10100: 5}}
    assert final.unattributed == {1: {}, -1: {}}
    assert (final.n_orders, final.shortfall) == (2, 10)


@pytest.mark.parametrize("events, index, words", [
    ([(K.ADD, 1, 10_000, 5, 1), (K.ADD, 1, 10_050, 5, 2)], 1, "not a multiple of the tick size 100"),
    ([(K.ADD, 1, 10_000, 5, 1), (K.ADD, 1, 10_000, 5, 1)], 1, "already resting"),
    ([(K.ADD, 0, 10_000, 5, 1)], 0, "side 0"),
    ([(K.DELETE, 0, 10_000, 5, 9)], 0, "side 0"),
    ([(K.LEVEL_SET, 0, 10_000, 5, 0)], 0, "side 0"),
    ([(K.ADD, 1, 10_000, 5, 1), (K.DELETE, 1, 10_000, 4, 1)], 1, "on order 1, which has 5"),
    ([(K.ADD, 1, 10_000, 5, 1), (K.PARTIAL_CANCEL, -1, 10_000, 1, 1)], 1, "rests at side 1 price 10000"),
    ([(K.ADD, -1, 10_200, 5, 1), (K.DELETE, -1, 10_100, 5, 1)], 1, "rests at side -1 price 10200"),
    ([(K.ADD, 1, 10_000, 5, 1), (K.LEVEL_SET, 1, 10_000, 4, 0)], 1, "below the 5 of known orders"),
    ([(K.ADD, 1, 10_000, 5, 1), (14, 1, 10_000, 4, 0)], 1, "unknown event kind 14"),
])
def test_errors_name_the_event(events, index, words):
    with pytest.raises(FastBookError, match=words) as err:
        compute_snapshots(make_tape(events), 1)
    assert err.value.event_index == index
    assert str(err.value).startswith(f"event {index} (src_row {index}):")


def test_prices_of_events_that_touch_no_level_are_not_checked():
    tape = make_tape([(K.ADD, 1, 10_000, 5, 1), (K.HALT, 0, -1, 0, 0), (K.TRADE, -1, 10_001, 3, 0)])
    assert compute_snapshots(tape, 1).bid_size[:, 0].tolist() == [5, 5, 5]


def test_empty_tape_and_bad_arguments():
    empty = make_tape([])
    assert len(compute_snapshots(empty, 3)) == 0
    assert apply_tape_fast(empty).levels == {1: {}, -1: {}}
    with pytest.raises(ValueError, match="levels must be positive"):
        compute_snapshots(empty, 0)
    with pytest.raises(ValueError, match="ticks of 1"):
        compute_snapshots(make_tape([(K.ADD, 1, 1, 5, 1), (K.ADD, -1, MAX_GRID_LEVELS + 1, 5, 2)], tick=1), 1)


def test_lobster_amzn_level5_every_row():
    from tickreplay.adapters.lobster import read_lobster

    message_csv, orderbook_csv = lobster_pair("AMZN", 5)
    tape = read_lobster(message_csv, orderbook_csv).tape
    want = pd.read_csv(orderbook_csv, header=None).to_numpy(np.int64, copy=True)
    want[np.abs(want) == 9_999_999_999] = 0  # LOBSTER's empty level → tickreplay's (0, 0)
    last_event = np.searchsorted(tape.src_row, np.arange(len(want)), side="right") - 1
    assert (last_event >= 0).all()
    got = compute_snapshots(tape, 5).as_lobster_rows()[last_event]
    mismatched = np.flatnonzero((got != want).any(axis=1))
    assert mismatched.size == 0, f"{mismatched.size} rows differ, first at orderbook row {mismatched[:1] + 1}"


def test_stream_book_takes_a_first_chunk_that_only_resynchronises() -> None:
    """A chunk whose only book event is a SNAPSHOT_BEGIN, before the book has any level, clears nothing (it once
    wrote at grid index -1 of an empty grid); the book then takes the snapshot's levels as usual."""
    from tickreplay.book.fast import StreamBook
    from tickreplay.tape import EventKind, Instrument, Tape

    inst = Instrument(symbol="X", venue="V", date="2024-01-02", price_scale=100, tick_size=1)
    first = Tape.from_columns(inst, ts_ns=np.array([1], np.int64), kind=np.array([EventKind.SNAPSHOT_BEGIN], np.int8),
                              side=np.zeros(1, np.int8), price=np.zeros(1, np.int64), size=np.zeros(1, np.int64),
                              order_id=np.zeros(1, np.int64))
    book = StreamBook(1)
    book.apply(first)
    then = Tape.from_columns(inst, ts_ns=np.array([2, 3], np.int64),
                             kind=np.array([EventKind.LEVEL_SET, EventKind.LEVEL_SET], np.int8),
                             side=np.array([1, -1], np.int8), price=np.array([100, 101], np.int64),
                             size=np.array([5, 7], np.int64), order_id=np.zeros(2, np.int64))
    book.apply(then)
    cp = book.checkpoint()
    assert cp[0, 0] == EventKind.SNAPSHOT_BEGIN  # a checkpoint rebuilds the book from nothing
    assert sorted(map(tuple, cp[1:, 1:4].tolist())) == [(-1, 101, 7), (1, 100, 5)]
