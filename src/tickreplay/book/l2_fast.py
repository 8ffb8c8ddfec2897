"""A compiled L2 book that keeps its state between tape chunks.

:class:`StreamingL2Book` applies an L2 tape (LEVEL_SET, SNAPSHOT_BEGIN
clears; every other kind leaves the book as it is) chunk after chunk and
gives the top-N after every event of each chunk, identical to
:func:`tickreplay.book.fast.compute_snapshots` over the concatenated tape.
Memory is the price grid (levels per side between the lowest and highest
price seen), not the number of events.

Each side is a dense grid of sizes indexed by ``(price - base) // tick``;
the grid grows (re-based and copied) when a chunk touches a price outside
it. Best bid/ask indices and occupied-level counts are kept incrementally.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from tickreplay.book.fast import (_MAX_KIND, GRID_MARGIN, MAX_GRID_LEVELS, StreamBook, _sb_apply, _vacate,
                                  _write_side, grid_covering)
from tickreplay.book.snapshots import Snapshots
from tickreplay.tape import K_LEVEL_SET as _LEVEL_SET, K_SNAPSHOT_BEGIN as _SNAP_BEGIN

_MARGIN_TICKS = 4096  # extra grid room on each side when the grid grows


@njit(cache=True)
def _apply(kind, side, price, size, base, tick, tot, best, count, lo, hi, levels, ask_px, ask_sz, bid_px, bid_sz):
    """Apply a chunk; write the top ``levels`` after each event (none when ``levels`` is 0).

    Returns (event index, status): status 1 negative size, 2 side not ±1; (-1, 0) when all applied.
    """
    g = tot.shape[1]
    for i in range(kind.shape[0]):
        k = kind[i]
        if k == _LEVEL_SET:
            q = size[i]
            if q < 0:
                return i, 1
            sd = side[i]
            if sd != 1 and sd != -1:
                return i, 2
            s = 0 if sd == 1 else 1
            j = (price[i] - base) // tick
            old = tot[s, j]
            tot[s, j] = q
            if old == 0 and q > 0:
                count[s] += 1
                if s == 0:
                    if j > best[0]:
                        best[0] = j
                elif j < best[1]:
                    best[1] = j
                if j < lo[s]:
                    lo[s] = j
                if j > hi[s]:
                    hi[s] = j
            elif old > 0 and q == 0:
                _vacate(tot, best, count, s, j)
        elif k == _SNAP_BEGIN:
            for s in range(2):
                for j in range(lo[s], hi[s] + 1):
                    tot[s, j] = 0
                lo[s] = g
                hi[s] = -1
                count[s] = 0
            best[0] = -1
            best[1] = g
        if levels > 0:
            _write_side(tot, best, count, 1, base, tick, levels, ask_px, ask_sz, i)
            _write_side(tot, best, count, 0, base, tick, levels, bid_px, bid_sz, i)
    return -1, 0


class StreamingL2Book:
    """L2 book over a tape given in chunks; ``tick`` in price units (the instrument's ``tick_size``)."""

    def __init__(self, tick: int) -> None:
        if tick <= 0:
            raise ValueError(f"tick_size must be positive, got {tick}")
        self.tick = int(tick)
        self.base = 0
        self.tot = np.zeros((2, 0), np.int64)
        self.best = np.array([-1, 0], np.int64)
        self.count = np.zeros(2, np.int64)
        self.lo = np.array([0, 0], np.int64)
        self.hi = np.array([-1, -1], np.int64)

    def _fit(self, pmin: int, pmax: int) -> None:
        """Grow the grid so that prices ``pmin..pmax`` have a place."""
        g = self.tot.shape[1]
        if g and self.base <= pmin and pmax < self.base + g * self.tick:
            return
        lo_p = pmin if not g else min(pmin, self.base)
        hi_p = pmax if not g else max(pmax, self.base + (g - 1) * self.tick)
        lo_p -= _MARGIN_TICKS * self.tick
        hi_p += _MARGIN_TICKS * self.tick
        new_g = (hi_p - lo_p) // self.tick + 1
        if new_g > MAX_GRID_LEVELS:
            raise ValueError(f"tape prices span {pmin}..{pmax} (with the book's {self.base}..) = more than the "
                             f"{MAX_GRID_LEVELS} ticks of {self.tick} the kernel allocates; check for stray prices")
        shift = (self.base - lo_p) // self.tick if g else 0
        tot = np.zeros((2, new_g), np.int64)
        if g:
            tot[:, shift:shift + g] = self.tot
        self.best = np.array([self.best[0] + shift if self.count[0] else -1,
                              self.best[1] + shift if self.count[1] else new_g], np.int64)
        self.lo = np.where(self.hi >= 0, self.lo + shift, new_g).astype(np.int64)
        self.hi = np.where(self.hi >= 0, self.hi + shift, -1).astype(np.int64)
        self.base, self.tot = int(lo_p), tot

    def apply(self, kind: np.ndarray, side: np.ndarray, price: np.ndarray, size: np.ndarray,
              levels: int = 0) -> Snapshots | None:
        """Apply one chunk's events; the top ``levels`` after each (None when ``levels`` is 0)."""
        touch = kind == _LEVEL_SET
        if touch.any():
            p = price[touch]
            off = p % self.tick
            if off.any():
                bad = int(np.flatnonzero(touch)[np.flatnonzero(off)[0]])
                raise ValueError(f"event {bad} of the chunk: price {int(price[bad])} is not a multiple of the tick "
                                 f"size {self.tick}")
            self._fit(int(p.min()), int(p.max()))
        n = len(kind)
        outs = [np.zeros((n, levels), np.int64) for _ in range(4)] if levels else \
            [np.zeros((0, 0), np.int64) for _ in range(4)]
        i, status = _apply(kind, side, price, size, np.int64(self.base), np.int64(self.tick), self.tot, self.best,
                           self.count, self.lo, self.hi, levels, *outs)
        if status:
            what = "negative size" if status == 1 else "side other than +1/-1"
            raise ValueError(f"event {i} of the chunk: level set with {what} "
                             f"(side {int(side[i])}, price {int(price[i])}, size {int(size[i])})")
        return Snapshots(*outs) if levels else None

    def top(self, levels: int) -> Snapshots:
        """The current top ``levels`` as one snapshot row."""
        outs = [np.zeros((1, levels), np.int64) for _ in range(4)]
        if self.tot.shape[1]:
            _write_side(self.tot, self.best, self.count, 1, self.base, self.tick, levels, outs[0], outs[1], 0)
            _write_side(self.tot, self.best, self.count, 0, self.base, self.tick, levels, outs[2], outs[3], 0)
        return Snapshots(*outs)

    def levels(self) -> dict[int, dict[int, int]]:
        """{side: {price: size}} of every occupied level (a checkpoint of the book)."""
        out = {}
        for s, sd in ((0, 1), (1, -1)):
            occ = np.flatnonzero(self.tot[s]) if self.tot.shape[1] else np.zeros(0, np.int64)
            out[sd] = dict(zip((self.base + occ * self.tick).tolist(), self.tot[s, occ].tolist()))
        return out


_CP_OK, _CP_ROOM, _CP_BAD = 0, 1, 2  # _cp_apply's status: done, the table needs room (resume at i), unusable


@njit(cache=True)
def _cp_apply(kind, side, price, size, tick, keys, vals, used, count, bits, start):
    """Apply LEVEL_SET / SNAPSHOT_BEGIN from event ``start`` on to per-side open-addressing tables of
    ``2**bits`` slots (price → size; a level set to 0 keeps its slot until the next snapshot).
    (status, event index)."""
    mask = keys.shape[1] - 1
    shift = np.uint64(64 - bits)
    for i in range(start, kind.shape[0]):
        k = kind[i]
        if k == _SNAP_BEGIN:
            used[:] = 0
            count[:] = 0
            continue
        if k != _LEVEL_SET:
            if k < 1 or k > _MAX_KIND:
                return _CP_BAD, i
            continue
        p = price[i]
        if p % tick != 0 or size[i] < 0 or (side[i] != 1 and side[i] != -1):
            return _CP_BAD, i
        s = 0 if side[i] == 1 else 1
        h = (np.uint64(p) * np.uint64(0x9E3779B97F4A7C15)) >> shift
        j = np.int64(h) & mask
        while used[s, j] and keys[s, j] != p:
            j = (j + 1) & mask
        if not used[s, j]:
            if 2 * (count[s] + 1) > keys.shape[1]:
                return _CP_ROOM, i
            used[s, j] = 1
            keys[s, j] = p
            count[s] += 1
        vals[s, j] = size[i]
    return _CP_OK, kind.shape[0]


class L2CheckpointBook:
    """The book of an L2 tape (LEVEL_SET; SNAPSHOT_BEGIN clears) kept only for :meth:`checkpoint`, with the
    outcome of :class:`tickreplay.book.fast.StreamBook` on the same chunks: the same rows, and
    :class:`ValueError` where that book raises (price off the tick, negative size, side not ±1, a kind out of
    range, a price grid wider than it allocates). Levels are hashed by price (memory: the levels seen since the
    last snapshot), not laid out on a dense price grid.

    ``grid``: (lowest price, grid width in ticks) of the grid that book would hold, or None before any book
    event — what :meth:`to_stream_book` needs to hand over to it when the tape turns out to be L3.
    """

    def __init__(self, tick: int) -> None:
        if tick <= 0:
            raise ValueError(f"tick_size must be positive, got {tick}")
        self.tick = int(tick)
        self.grid: tuple[int, int] | None = None
        self.bits = 6
        self.keys = np.zeros((2, 1 << self.bits), np.int64)
        self.vals = np.zeros((2, 1 << self.bits), np.int64)
        self.used = np.zeros((2, 1 << self.bits), np.int8)
        self.count = np.zeros(2, np.int64)

    def _cover(self, pmin: int, pmax: int) -> None:
        """The grid :meth:`StreamBook.cover` would hold after covering ``pmin..pmax`` (the same function)."""
        self.grid = grid_covering(self.grid, pmin, pmax, self.tick) or self.grid

    def _grow(self) -> None:
        bits = self.bits + 1
        cap = 1 << bits
        keys, vals, used, count = (np.zeros((2, cap), np.int64), np.zeros((2, cap), np.int64),
                                   np.zeros((2, cap), np.int8), np.zeros(2, np.int64))
        for s, sd in ((0, 1), (1, -1)):
            live = self.used[s].astype(bool)
            p = self.keys[s, live]
            n = len(p)
            _cp_apply(np.full(n, _LEVEL_SET, np.int8), np.full(n, sd, np.int8), p, self.vals[s, live],
                      np.int64(self.tick), keys, vals, used, count, np.int64(bits), 0)
        self.keys, self.vals, self.used, self.count, self.bits = keys, vals, used, count, bits

    def apply(self, kind: np.ndarray, side: np.ndarray, price: np.ndarray, size: np.ndarray) -> None:
        """Apply one chunk of an L2 tape (no ADD, PARTIAL_CANCEL, DELETE or EXECUTE_VISIBLE events)."""
        touch = kind == _LEVEL_SET
        if touch.any():
            p = price[touch]
            self._cover(int(p.min()), int(p.max()))
        i = 0
        while True:
            status, i = _cp_apply(kind, side, price, size, np.int64(self.tick), self.keys, self.vals, self.used,
                                  self.count, np.int64(self.bits), i)
            if status == _CP_OK:
                return
            if status == _CP_BAD:
                raise ValueError(f"event {i} of the chunk is one the book cannot take (kind {int(kind[i])}, side "
                                 f"{int(side[i])}, price {int(price[i])}, size {int(size[i])})")
            self._grow()

    def checkpoint(self) -> np.ndarray:
        """The book as events that rebuild it (rows kind, side, price, size, order_id): SNAPSHOT_BEGIN, then a
        LEVEL_SET per occupied level, bids then asks, each by rising price (as ``StreamBook.checkpoint``)."""
        parts = [np.array([[_SNAP_BEGIN, 0, 0, 0, 0]], np.int64)]
        for s, sd in ((0, 1), (1, -1)):
            live = self.used[s].astype(bool) & (self.vals[s] > 0)
            p, q = self.keys[s, live], self.vals[s, live]
            order = np.argsort(p, kind="stable")
            rows = np.zeros((len(p), 5), np.int64)
            rows[:, 0], rows[:, 1], rows[:, 2], rows[:, 3] = _LEVEL_SET, sd, p[order], q[order]
            parts.append(rows)
        return np.concatenate(parts)

    def to_stream_book(self):
        """The same book as a :class:`tickreplay.book.fast.StreamBook` (same grid), to go on with L3 events."""
        book = StreamBook(self.tick)
        if self.grid is not None:
            lo, g = self.grid
            book.cover(lo + GRID_MARGIN * self.tick, lo + (g - 1 - GRID_MARGIN) * self.tick)
            cp = self.checkpoint()
            _sb_apply(book.lv, book.sc, book.rec, book.ht, cp[:, 0].astype(np.int8), cp[:, 1].astype(np.int8),
                      cp[:, 2], cp[:, 3], cp[:, 4])
        return book
