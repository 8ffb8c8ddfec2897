"""Order-by-order (L3) limit order book: a FIFO queue of orders per price level.

Each level holds known orders (id → size, in arrival order) and
*unattributed* volume: visible size the data shows at that price without an
order we saw arrive (a snapshot, a level that entered a vendor's top-N
window, orders resting from before the file started). Unattributed volume is
kept at the **front** of the queue: it was resting before any order we saw
join, so it is ahead of ours — the risk-averse reading.

Event semantics (``tickreplay.tape.EventKind``):

* ADD appends a new order at the back of its level.
* PARTIAL_CANCEL / EXECUTE_VISIBLE reduce a known order by ``size``;
  DELETE removes it (``size`` must be what it still had).
* Those three for an order id the book has never seen reduce the level's
  unattributed volume by ``size``, clamped at what there is; the clamped
  shortfall is returned so the caller can count it.
* LEVEL_SET makes the level's visible size exactly ``size`` by setting the
  unattributed part; it may not go below the known orders' total (remove
  those by id first).
* SNAPSHOT_BEGIN clears the book; prints, halts and resumes change no size.
"""

from __future__ import annotations

import numpy as np

from tickreplay.book.base import BookBase, BookError
from tickreplay.tape import EventKind, Tape
from tickreplay.tape import (
    K_ADD as _ADD, K_PARTIAL_CANCEL as _PARTIAL, K_DELETE as _DELETE, K_EXECUTE_VISIBLE as _EXEC,
    K_LEVEL_SET as _LEVEL_SET, K_SNAPSHOT_BEGIN as _SNAP_BEGIN, K_HALT as _HALT, K_RESUME as _RESUME,
)

_NO_CHANGE = {int(k) for k in EventKind} - {_ADD, _PARTIAL, _DELETE, _EXEC, _LEVEL_SET, _SNAP_BEGIN}


class Level:
    """One price level: unattributed volume at the front, then known orders FIFO."""

    __slots__ = ("orders", "unattributed", "total")

    def __init__(self) -> None:
        self.orders: dict[int, int] = {}  # order id → remaining size, arrival order
        self.unattributed = 0
        self.total = 0


class L3Book(BookBase):
    """Limit order book keeping every order; see the module docstring for semantics."""

    def __init__(self) -> None:
        super().__init__()
        self._orders: dict[int, tuple[int, int]] = {}  # order id → (side, price)

    def _level_size(self, level: Level) -> int:
        return level.total

    # -- queries -------------------------------------------------------------
    def __contains__(self, order_id: int) -> bool:
        return order_id in self._orders

    def order(self, order_id: int) -> tuple[int, int, int]:
        """(side, price, remaining size) of a resting order."""
        side, price = self._orders[order_id]
        return side, price, self._sides[side][price].orders[order_id]

    def n_orders(self) -> int:
        return len(self._orders)

    def queue_ahead(self, order_id: int) -> int:
        """Visible size ahead of ``order_id`` at its level (unattributed volume included)."""
        side, price = self._orders[order_id]
        lvl = self._sides[side][price]
        ahead = lvl.unattributed
        for oid, s in lvl.orders.items():
            if oid == order_id:
                return ahead
            ahead += s
        raise AssertionError("order index and level disagree")  # pragma: no cover

    def unattributed_at(self, side: int, price: int) -> int:
        lvl = self._sides[side].get(price)
        return 0 if lvl is None else lvl.unattributed

    def known_size_at(self, side: int, price: int) -> int:
        lvl = self._sides[side].get(price)
        return 0 if lvl is None else lvl.total - lvl.unattributed

    def orders_at(self, side: int, price: int) -> list[tuple[int, int]]:
        """Known orders at a level, front of the queue first: [(id, size)]."""
        lvl = self._sides[side].get(price)
        return [] if lvl is None else list(lvl.orders.items())

    # -- updates -------------------------------------------------------------
    def _level(self, side: int, price: int) -> Level:
        book = self._sides[side]
        lvl = book.get(price)
        if lvl is None:
            lvl = book[price] = Level()
        return lvl

    def _drop_if_empty(self, side: int, price: int, lvl: Level) -> None:
        if lvl.total == 0:
            del self._sides[side][price]

    def apply(self, kind: int, side: int, price: int, size: int, order_id: int) -> int:
        """Apply one event; return the unattributed shortfall (0 when consistent).

        Raises :class:`BookError` on an event the book cannot take.
        """
        if kind == _ADD:
            if size <= 0:
                raise BookError(f"add of order {order_id} with non-positive size {size}")
            if order_id in self._orders:
                raise BookError(f"add of order {order_id}, which is already resting")
            if side not in (1, -1):
                raise BookError(f"add of order {order_id} with side {side}, expected +1 or -1")
            lvl = self._level(side, price)
            lvl.orders[order_id] = size
            lvl.total += size
            self._orders[order_id] = (side, price)
            return 0
        if kind == _PARTIAL or kind == _DELETE or kind == _EXEC:
            if size <= 0:
                raise BookError(f"{EventKind(kind).name} of order {order_id} with non-positive size {size}")
            loc = self._orders.get(order_id)
            if loc is None:
                return self._remove_unattributed(side, price, size)
            o_side, o_price = loc
            if (o_side, o_price) != (side, price):
                raise BookError(
                    f"{EventKind(kind).name} of order {order_id} at side {side} price {price}, "
                    f"but it rests at side {o_side} price {o_price}"
                )
            lvl = self._sides[side][price]
            left = lvl.orders[order_id]
            if size > left or (kind == _DELETE and size != left):
                raise BookError(f"{EventKind(kind).name} of {size} on order {order_id}, which has {left}")
            left -= size
            lvl.total -= size
            if left == 0:
                del lvl.orders[order_id]
                del self._orders[order_id]
                self._drop_if_empty(side, price, lvl)
            else:
                lvl.orders[order_id] = left
            return 0
        if kind == _LEVEL_SET:
            if size < 0:
                raise BookError(f"level set to negative size {size} at price {price}")
            lvl = self._level(side, price)
            known = lvl.total - lvl.unattributed
            if size < known:
                raise BookError(
                    f"level set to {size} at side {side} price {price} below the {known} of known orders there"
                )
            lvl.unattributed = size - known
            lvl.total = size
            self._drop_if_empty(side, price, lvl)
            return 0
        if kind == _SNAP_BEGIN:
            self.clear()
            return 0
        if kind == _HALT:
            self.halted = True
        elif kind == _RESUME:
            self.halted = False
        elif kind not in _NO_CHANGE:
            raise BookError(f"unknown event kind {kind}")
        return 0

    def _remove_unattributed(self, side: int, price: int, size: int) -> int:
        lvl = self._sides[side].get(price)
        have = 0 if lvl is None else lvl.unattributed
        take = min(have, size)
        if take:
            lvl.unattributed -= take
            lvl.total -= take
            self._drop_if_empty(side, price, lvl)
        return size - take

    def clear(self) -> None:
        self._sides[1].clear()
        self._sides[-1].clear()
        self._orders.clear()

    def apply_tape(self, tape: Tape, start: int = 0, stop: int | None = None) -> int:
        """Apply events ``start:stop`` of ``tape``; return the summed unattributed shortfall."""
        stop = len(tape) if stop is None else stop
        cols = [c[start:stop].tolist() for c in (tape.kind, tape.side, tape.price, tape.size, tape.order_id)]
        apply = self.apply
        short = 0
        for k, s, p, q, o in zip(*cols):
            short += apply(k, s, p, q, o)
        return short

    def aggregated(self) -> dict[int, dict[int, int]]:
        """{side: {price: size}}: the L2 view of this book."""
        return {side: {p: lvl.total for p, lvl in book.items()} for side, book in self._sides.items()}


def top_n_rows(tape: Tape, n: int) -> np.ndarray:
    """Reference (slow, pure Python) top-N after every event: shape (len, 4n), LOBSTER layout."""
    book = L3Book()
    out = np.empty((len(tape), 4 * n), dtype=np.int64)
    cols = [c.tolist() for c in (tape.kind, tape.side, tape.price, tape.size, tape.order_id)]
    for i, (k, s, p, q, o) in enumerate(zip(*cols)):
        book.apply(k, s, p, q, o)
        out[i] = book.top(n).as_row()
    return out
