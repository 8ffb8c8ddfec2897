"""Price-level (L2) limit order book: visible size per price level.

Takes L2 events (LEVEL_SET with the absolute size at a price, snapshots) and
also L3 events as size deltas (ADD adds, cancels and visible executions
subtract), so an L3 tape can be replayed at L2 resolution.
"""

from __future__ import annotations

from tickreplay.book.base import BookBase, BookError
from tickreplay.tape import EventKind, Tape

_ADD = int(EventKind.ADD)
_REMOVE = {int(EventKind.PARTIAL_CANCEL), int(EventKind.DELETE), int(EventKind.EXECUTE_VISIBLE)}
_LEVEL_SET = int(EventKind.LEVEL_SET)
_SNAP_BEGIN = int(EventKind.SNAPSHOT_BEGIN)
_HALT = int(EventKind.HALT)
_RESUME = int(EventKind.RESUME)
_KNOWN = {int(k) for k in EventKind}


class L2Book(BookBase):
    """Size per price level; a level of size 0 is removed."""

    def _level_size(self, level: int) -> int:
        return level

    def set_level(self, side: int, price: int, size: int) -> None:
        """Make the visible size at (side, price) exactly ``size``."""
        if size < 0:
            raise BookError(f"level set to negative size {size} at price {price}")
        if side not in (1, -1):
            raise BookError(f"level set with side {side}, expected +1 or -1")
        book = self._sides[side]
        if size == 0:
            book.pop(price, None)
        else:
            book[price] = size

    def apply(self, kind: int, side: int, price: int, size: int, order_id: int = 0) -> int:
        """Apply one event; returns 0 (the L3 book's shortfall has no L2 analogue)."""
        if kind == _LEVEL_SET:
            self.set_level(side, price, size)
        elif kind == _ADD:
            if size <= 0:
                raise BookError(f"add with non-positive size {size}")
            self.set_level(side, price, self.size_at(side, price) + size)
        elif kind in _REMOVE:
            have = self.size_at(side, price)
            if size <= 0 or size > have:
                raise BookError(f"{EventKind(kind).name} of {size} at side {side} price {price}, level has {have}")
            self.set_level(side, price, have - size)
        elif kind == _SNAP_BEGIN:
            self.clear()
        elif kind == _HALT:
            self.halted = True
        elif kind == _RESUME:
            self.halted = False
        elif kind not in _KNOWN:
            raise BookError(f"unknown event kind {kind}")
        return 0

    def clear(self) -> None:
        self._sides[1].clear()
        self._sides[-1].clear()

    def apply_tape(self, tape: Tape, start: int = 0, stop: int | None = None) -> None:
        stop = len(tape) if stop is None else stop
        cols = [c[start:stop].tolist() for c in (tape.kind, tape.side, tape.price, tape.size, tape.order_id)]
        apply = self.apply
        for k, s, p, q, o in zip(*cols):
            apply(k, s, p, q, o)
