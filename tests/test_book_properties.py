"""Property tests of the L3 and L2 books on random event sequences.

Streams are driven by a brute-force model written here (a plain list per
level, front first, plus the unattributed volume at its front); each test
checks the books against it or against a closed-form property.
"""

from __future__ import annotations

import math
import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tickreplay.book import BookError, L2Book, L3Book
from tickreplay.tape import EventKind as K

SETTINGS = settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
BASE = 1_000  # starting price, venue units (tick 1)

OPS = st.sampled_from(["add"] * 5 + ["cancel"] * 2 + ["execute"] * 2 + ["level"])
RAW = st.lists(st.tuples(OPS, st.integers(0, 10**6), st.integers(0, 10**6), st.integers(0, 10**6)),
               min_size=1, max_size=80)


class Model:
    """Brute-force book: per (side, price) a FIFO list of [order id, size] and the unattributed size."""

    def __init__(self) -> None:
        self.queues: dict[tuple[int, int], list[list[int]]] = {}
        self.unattributed: dict[tuple[int, int], int] = {}
        self.next_id = 1

    def total(self, key: tuple[int, int]) -> int:
        return self.unattributed.get(key, 0) + sum(s for _, s in self.queues.get(key, []))

    def prices(self, side: int) -> list[int]:
        """Occupied prices of ``side``, best first."""
        ps = {p for (s, p) in set(self.queues) | set(self.unattributed) if s == side and self.total((s, p)) > 0}
        return sorted(ps, reverse=side == 1)

    def live(self) -> list[tuple[int, int, int]]:
        return sorted((o, s, p) for (s, p), q in self.queues.items() for o, _ in q)

    def uncrossed_price(self, side: int, offset: int) -> int:
        """A price on ``side`` that does not reach the other side's best."""
        other = self.prices(-side)
        if side == 1:
            return (other[0] - 1 if other else BASE) - offset
        return (other[0] + 1 if other else BASE + 1) + offset

    def remove(self, key: tuple[int, int], oid: int, size: int) -> None:
        q = self.queues[key]
        entry = next(e for e in q if e[0] == oid)
        entry[1] -= size
        if entry[1] == 0:
            q.remove(entry)


def drive(raw):
    """Yield (event, model) for a consistent, never-crossing stream; the model is already updated."""
    m = Model()
    for op, a, b, c in raw:
        side = 1 if a % 2 else -1
        live = m.live()
        if op == "cancel" and live:
            oid, o_side, price = live[a % len(live)]
            left = next(s for o, s in m.queues[(o_side, price)] if o == oid)
            kind = K.DELETE if b % 2 or left == 1 else K.PARTIAL_CANCEL
            size = left if kind == K.DELETE else 1 + c % (left - 1)
            m.remove((o_side, price), oid, size)
            event = (kind, o_side, price, size, oid)
        elif op == "execute" and m.prices(side):
            key = (side, m.prices(side)[0])  # executions hit the best level, front of the queue first
            if m.unattributed.get(key, 0):
                size = 1 + c % m.unattributed[key]
                m.unattributed[key] -= size
                event = (K.EXECUTE_VISIBLE, side, key[1], size, 10**9 + c)  # an id the book never saw
            else:
                oid, left = m.queues[key][0]
                size = 1 + c % left
                m.remove(key, oid, size)
                event = (K.EXECUTE_VISIBLE, side, key[1], size, oid)
        elif op == "level":
            key = (side, m.uncrossed_price(side, b % 4))
            known = sum(s for _, s in m.queues.get(key, []))
            size = known + c % 3 * (c % 40)
            m.unattributed[key] = size - known
            event = (K.LEVEL_SET, side, key[1], size, 0)
        else:
            key = (side, m.uncrossed_price(side, b % 6))
            oid, m.next_id = m.next_id, m.next_id + 1
            size = 1 + c % 100
            m.queues.setdefault(key, []).append([oid, size])
            event = (K.ADD, side, key[1], size, oid)
        yield event, m


def l2_view(book) -> dict[int, dict[int, int]]:
    return {s: dict(book.levels(s)) for s in (1, -1)}


@SETTINGS
@given(raw=RAW)
def test_books_follow_the_brute_force_model(raw):
    l3, l2 = L3Book(), L2Book()
    for event, m in drive(raw):
        l3.apply(*event)
        l2.apply(*event)
        view = l2_view(l3)
        # sizes never negative: every level, order and unattributed part is positive or absent
        assert all(q > 0 for side in view.values() for q in side.values())
        assert all(l3.order(o)[2] > 0 for o, _, _ in m.live())
        assert all(0 <= l3.unattributed_at(s, p) <= q for s in view for p, q in view[s].items())
        # never crossed after a consistent event
        assert not l3.is_crossed() and not l2.is_crossed()
        # L3 aggregated equals L2 fed the same events, and both equal the model
        assert l3.aggregated() == view == l2_view(l2)
        assert view == {s: {p: m.total((s, p)) for p in m.prices(s)} for s in (1, -1)}
        # FIFO: the queue ahead of an order is the unattributed volume plus earlier orders
        for key, queue in m.queues.items():
            assert l3.orders_at(*key) == [tuple(e) for e in queue]
            ahead = m.unattributed.get(key, 0)
            for oid, size in queue:
                assert l3.queue_ahead(oid) == ahead
                ahead += size
        assert l3.n_orders() == len(m.live())


@SETTINGS
@given(raw=RAW, rnd=st.randoms(use_true_random=False))
def test_deleting_every_order_empties_the_book(raw, rnd: random.Random):
    book = L3Book()
    for event, m in drive([r for r in raw if r[0] != "level"] + [("add", 1, 0, 5)]):
        book.apply(*event)
    live = m.live()
    rnd.shuffle(live)
    for oid, side, price in live:
        book.apply(K.DELETE, side, price, book.order(oid)[2], oid)
    assert book.n_orders() == 0
    assert book.best_bid() is None and book.best_ask() is None
    assert book.depth(1) == book.depth(-1) == 0
    assert book.aggregated() == {1: {}, -1: {}}


def brute_walk(levels: list[tuple[int, int]], side: int, quantity: int, limit: int | None):
    """Fill ``quantity`` from (price, size) levels best first, never past ``limit``."""
    fills, left = [], quantity
    for price, size in levels:
        if left == 0 or (limit is not None and (price > limit if side == -1 else price < limit)):
            break
        take = min(size, left)
        fills.append((price, take))
        left -= take
    return fills


@SETTINGS
@given(raw=RAW, quantity=st.integers(1, 3_000), level=st.integers(0, 20), delta=st.integers(-1, 1))
def test_walk_equals_brute_force(raw, quantity, level, delta):
    l3, l2 = L3Book(), L2Book()
    for event, m in drive(raw):
        l3.apply(*event)
        l2.apply(*event)
    for side in (1, -1):
        levels = [(p, m.total((side, p))) for p in m.prices(side)]
        near = (levels[level % len(levels)][0] if levels else BASE) + delta  # on, inside or beyond a level
        for limit in (None, near):
            fills = brute_walk(levels, side, quantity, limit)
            filled = sum(q for _, q in fills)
            notional = sum(p * q for p, q in fills)
            for book in (l3, l2):
                w = book.walk(side, quantity, limit)
                assert w.fills == tuple(fills)
                assert (w.requested, w.filled, w.notional, w.unfilled) == (
                    quantity, filled, notional, quantity - filled)
                if filled:
                    assert w.vwap == notional / filled
                    assert min(p for p, _ in fills) <= w.vwap <= max(p for p, _ in fills)
                else:
                    assert math.isnan(w.vwap)
                # never invents liquidity and respects the limit
                within = sum(q for p, q in levels if limit is None or (p <= limit if side == -1 else p >= limit))
                assert w.filled == min(quantity, within)
                assert limit is None or all((p <= limit if side == -1 else p >= limit) for p, _ in w.fills)
    with pytest.raises(ValueError):
        l3.walk(1, 0)


def snapshot(book: L3Book):
    return book.aggregated(), {o: book.order(o) for s in (1, -1) for p, _ in book.levels(s)
                               for o, _ in book.orders_at(s, p)}


BAD = st.sampled_from(["add_existing", "add_zero", "add_no_side", "cancel_too_much", "delete_wrong_size",
                       "wrong_price", "wrong_side", "remove_zero", "level_below_known", "level_negative",
                       "unknown_kind"])


@SETTINGS
@given(raw=RAW, bad=BAD, c=st.integers(0, 10**6))
def test_l3_rejects_inconsistent_events_and_keeps_its_state(raw, bad, c):
    book = L3Book()
    for event, m in drive([r for r in raw if r[0] != "cancel"] + [("add", 1, 0, 5)]):
        book.apply(*event)
    oid, side, price = m.live()[c % len(m.live())]
    left = book.order(oid)[2]
    event = {
        "add_existing": (K.ADD, side, price, 5, oid),
        "add_zero": (K.ADD, side, price, 0, m.next_id),
        "add_no_side": (K.ADD, 0, price, 5, m.next_id),
        "cancel_too_much": (K.PARTIAL_CANCEL, side, price, left + 1, oid),
        "delete_wrong_size": (K.DELETE, side, price, left + (1 if c % 2 or left == 1 else -1), oid),
        "wrong_price": (K.EXECUTE_VISIBLE, side, price + 1 + c % 3, 1, oid),
        "wrong_side": (K.PARTIAL_CANCEL, -side, price, 1, oid),
        "remove_zero": ((K.PARTIAL_CANCEL, K.DELETE, K.EXECUTE_VISIBLE)[c % 3], side, price, -(c % 2), oid),
        "level_below_known": (K.LEVEL_SET, side, price, book.known_size_at(side, price) - 1 - c % 2, 0),
        "level_negative": (K.LEVEL_SET, side, price, -1 - c % 7, 0),
        "unknown_kind": (14 + c % 100, side, price, 1, oid),
    }[bad]
    before = snapshot(book)
    with pytest.raises(BookError):
        book.apply(*event)
    assert snapshot(book) == before


@pytest.mark.parametrize("event", [
    (K.PARTIAL_CANCEL, 1, 100, 6, 0),  # more than the level has
    (K.DELETE, -1, 100, 1, 0),  # a level that does not exist
    (K.LEVEL_SET, 1, 100, -1, 0),
    (K.ADD, 1, 100, 0, 0),
    (14, 1, 100, 1, 0),
])
def test_l2_rejects_inconsistent_events(event):
    book = L2Book()
    book.apply(K.LEVEL_SET, 1, 100, 5)
    with pytest.raises(BookError):
        book.apply(*event)
    assert l2_view(book) == {1: {100: 5}, -1: {}}
