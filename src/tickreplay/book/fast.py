"""Fast book reconstruction: the L3Book semantics in one numba pass over a tape.

:func:`compute_snapshots` gives the top-N visible book after every event,
identical to replaying the tape through :class:`tickreplay.book.L3Book` and
calling ``top(levels)`` after each event (see ``book/l3.py`` for the
semantics; the same pass serves L2 tapes, which only hold LEVEL_SETs).
:func:`apply_tape_fast` runs the same pass without writing snapshots and
returns the final book.

How it is fast: each side is a dense price grid indexed by
``(price - pmin) // tick_size`` over the tape's price range, holding the
level's total and unattributed size in venue units. Known orders live in
slots (side, grid index, remaining size), found by order id through an
open-addressing hash table kept in plain int64 arrays. Best bid and ask
indices are kept incrementally; the top N is read by scanning out from the
best. An event the book cannot take stops the pass, and a
:class:`FastBookError` names the event index and what was wrong.

Stricter than L3Book in two ways: prices of events that touch a level must
be multiples of the instrument's ``tick_size``, and a side other than +1/-1
on such an event is a :class:`FastBookError` (L3Book fails with a KeyError
on some of them).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit

from tickreplay.book.base import BookError
from tickreplay.book.snapshots import Snapshots
from tickreplay.tape import EventKind, Tape
from tickreplay.tape import (
    K_ADD as _ADD, K_PARTIAL_CANCEL as _PARTIAL, K_DELETE as _DELETE, K_EXECUTE_VISIBLE as _EXEC,
    K_LEVEL_SET as _LEVEL_SET, K_SNAPSHOT_BEGIN as _SNAP_BEGIN,
)

#: largest price grid (levels per side) the kernel allocates; 2 sides x 2 int64 arrays
MAX_GRID_LEVELS = 1 << 25

_MAX_KIND = max(int(k) for k in EventKind)

# status codes the kernel returns; _describe turns them into messages
_OK = 0
_ERR_ADD_SIZE = 1
_ERR_ADD_EXISTS = 2
_ERR_SIDE = 3
_ERR_REMOVE_SIZE = 4
_ERR_WRONG_LEVEL = 5
_ERR_REMOVE_TOO_MUCH = 6
_ERR_LEVEL_NEGATIVE = 7
_ERR_LEVEL_BELOW_KNOWN = 8
_ERR_KIND = 9
_ERR_OFF_TICK = 10

_HASH_MULT = np.uint64(0x9E3779B97F4A7C15)  # Fibonacci hashing


class FastBookError(BookError):
    """An event the book cannot take; ``event_index`` is its 0-based row in the tape."""

    def __init__(self, event_index: int, message: str) -> None:
        self.event_index = event_index
        super().__init__(message)


@dataclass(frozen=True)
class FinalBook:
    """The book after the last event.

    ``levels``: {side: {price: visible size}} like ``L3Book.aggregated()``;
    ``unattributed``: {side: {price: unattributed size}} for levels that have
    some; ``n_orders``: known orders resting; ``shortfall``: summed size of
    unknown-id removals that found no unattributed volume to take (what
    ``L3Book.apply_tape`` returns).
    """

    levels: dict[int, dict[int, int]]
    unattributed: dict[int, dict[int, int]]
    n_orders: int
    shortfall: int


# --------------------------------------------------------------------------- kernel


@njit(cache=True)
def _is_book_kind(k: int) -> bool:
    return k == _ADD or k == _PARTIAL or k == _DELETE or k == _EXEC or k == _LEVEL_SET


@njit(cache=True)
def _price_range(kind, price, tick):
    """(status, event index, pmin, pmax) over events that touch a level; checks the tick grid."""
    pmin = np.int64(0)
    pmax = np.int64(-1)
    seen = False
    for i in range(kind.shape[0]):
        if not _is_book_kind(kind[i]):
            continue
        p = price[i]
        if p % tick != 0:
            return _ERR_OFF_TICK, i, pmin, pmax
        if not seen:
            pmin = p
            pmax = p
            seen = True
        elif p < pmin:
            pmin = p
        elif p > pmax:
            pmax = p
    return _OK, -1, pmin, pmax


@njit(cache=True)
def _lookup(h_keys, h_used, shift, oid):
    """Hash-table position of ``oid``: where it is, or the empty place it would go."""
    mask = h_keys.shape[0] - 1
    pos = np.int64((np.uint64(oid) * _HASH_MULT) >> shift)
    while h_used[pos] and h_keys[pos] != oid:
        pos = (pos + 1) & mask
    return pos


@njit(cache=True)
def _occupy(best, count, lo, hi, s, j):
    """Level j of side s goes from empty to occupied."""
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


@njit(cache=True)
def _vacate(tot, best, count, s, j):
    """Level j of side s became empty: move the best if it was there."""
    count[s] -= 1
    g = tot.shape[1]
    if j != best[s]:
        return
    if count[s] == 0:
        best[s] = -1 if s == 0 else g
        return
    step = -1 if s == 0 else 1
    k = j + step
    while tot[s, k] == 0:
        k += step
    best[s] = k


@njit(cache=True)
def _write_side(tot, best, count, s, pmin, tick, levels, px_out, sz_out, i):
    step = -1 if s == 0 else 1
    n = min(levels, count[s])
    j = best[s]
    found = 0
    while found < n:
        q = tot[s, j]
        if q > 0:
            px_out[i, found] = pmin + j * tick
            sz_out[i, found] = q
            found += 1
        j += step


@njit(cache=True)
def _replay(kind, side, price, size, order_id, pmin, tick, n_slots,
            tot, una, ask_px, ask_sz, bid_px, bid_sz, levels, out0):
    """Apply every event; write the top ``levels`` after each event ``i >= out0`` into row ``i - out0``
    of the *_px/*_sz arrays.

    Sides are rows of ``tot``/``una`` (0 bid, 1 ask). Returns (status, event
    index, detail, shortfall, n_orders): detail is the order's remaining size,
    the level's known size, or where the order rests (2 x grid index + side
    row), for the errors that need it.
    """
    g = tot.shape[1]
    best = np.array([-1, g], dtype=np.int64)
    count = np.zeros(2, dtype=np.int64)
    lo = np.array([g, g], dtype=np.int64)  # touched grid range per side, for clearing
    hi = np.array([-1, -1], dtype=np.int64)
    bits = 4
    while (1 << bits) < 2 * n_slots:
        bits += 1
    cap = 1 << bits
    shift = np.uint64(64 - bits)
    h_keys = np.zeros(cap, dtype=np.int64)
    h_used = np.zeros(cap, dtype=np.bool_)
    h_slot = np.zeros(cap, dtype=np.int64)
    o_alive = np.zeros(max(n_slots, 1), dtype=np.bool_)
    o_side = np.zeros(max(n_slots, 1), dtype=np.int64)
    o_idx = np.zeros(max(n_slots, 1), dtype=np.int64)
    o_size = np.zeros(max(n_slots, 1), dtype=np.int64)
    used_slots = 0
    n_orders = 0
    shortfall = 0
    for i in range(kind.shape[0]):
        k = kind[i]
        if k == _ADD:
            q = size[i]
            if q <= 0:
                return _ERR_ADD_SIZE, i, 0, shortfall, n_orders
            pos = _lookup(h_keys, h_used, shift, order_id[i])
            if h_used[pos]:
                sl = h_slot[pos]
                if o_alive[sl]:
                    return _ERR_ADD_EXISTS, i, o_size[sl], shortfall, n_orders
            else:
                sl = used_slots
                used_slots += 1
                h_used[pos] = True
                h_keys[pos] = order_id[i]
                h_slot[pos] = sl
            sd = side[i]
            if sd != 1 and sd != -1:
                return _ERR_SIDE, i, 0, shortfall, n_orders
            s = 0 if sd == 1 else 1
            j = (price[i] - pmin) // tick
            o_alive[sl] = True
            o_side[sl] = s
            o_idx[sl] = j
            o_size[sl] = q
            n_orders += 1
            if tot[s, j] == 0:
                _occupy(best, count, lo, hi, s, j)
            tot[s, j] += q
        elif k == _PARTIAL or k == _DELETE or k == _EXEC:
            q = size[i]
            if q <= 0:
                return _ERR_REMOVE_SIZE, i, 0, shortfall, n_orders
            sd = side[i]
            j = (price[i] - pmin) // tick
            pos = _lookup(h_keys, h_used, shift, order_id[i])
            sl = h_slot[pos] if h_used[pos] else -1
            if sl < 0 or not o_alive[sl]:
                if sd != 1 and sd != -1:
                    return _ERR_SIDE, i, 0, shortfall, n_orders
                s = 0 if sd == 1 else 1
                take = min(una[s, j], q)
                shortfall += q - take
                if take > 0:
                    una[s, j] -= take
                    tot[s, j] -= take
                    if tot[s, j] == 0:
                        _vacate(tot, best, count, s, j)
            else:
                s = o_side[sl]
                if sd != (1 if s == 0 else -1) or j != o_idx[sl]:
                    return _ERR_WRONG_LEVEL, i, 2 * o_idx[sl] + s, shortfall, n_orders
                left = o_size[sl]
                if q > left or (k == _DELETE and q != left):
                    return _ERR_REMOVE_TOO_MUCH, i, left, shortfall, n_orders
                left -= q
                o_size[sl] = left
                if left == 0:
                    o_alive[sl] = False
                    n_orders -= 1
                tot[s, j] -= q
                if tot[s, j] == 0:
                    _vacate(tot, best, count, s, j)
        elif k == _LEVEL_SET:
            q = size[i]
            if q < 0:
                return _ERR_LEVEL_NEGATIVE, i, 0, shortfall, n_orders
            sd = side[i]
            if sd != 1 and sd != -1:
                return _ERR_SIDE, i, 0, shortfall, n_orders
            s = 0 if sd == 1 else 1
            j = (price[i] - pmin) // tick
            old = tot[s, j]
            known = old - una[s, j]
            if q < known:
                return _ERR_LEVEL_BELOW_KNOWN, i, known, shortfall, n_orders
            una[s, j] = q - known
            tot[s, j] = q
            if old == 0 and q > 0:
                _occupy(best, count, lo, hi, s, j)
            elif old > 0 and q == 0:
                _vacate(tot, best, count, s, j)
        elif k == _SNAP_BEGIN:
            for s in range(2):
                for j in range(lo[s], hi[s] + 1):
                    tot[s, j] = 0
                    una[s, j] = 0
                lo[s] = g
                hi[s] = -1
                count[s] = 0
            best[0] = -1
            best[1] = g
            o_alive[:] = False
            n_orders = 0
        elif k < 1 or k > _MAX_KIND:
            return _ERR_KIND, i, 0, shortfall, n_orders
        if levels > 0 and i >= out0:
            _write_side(tot, best, count, 1, pmin, tick, levels, ask_px, ask_sz, i - out0)
            _write_side(tot, best, count, 0, pmin, tick, levels, bid_px, bid_sz, i - out0)
    return _OK, -1, 0, shortfall, n_orders


# --------------------------------------------------------------------------- Python side


def _describe(tape: Tape, status: int, i: int, detail: int, pmin: int) -> str:
    k, s, p, q, o = (int(tape.kind[i]), int(tape.side[i]), int(tape.price[i]), int(tape.size[i]),
                     int(tape.order_id[i]))
    name = EventKind(k).name if k in EventKind._value2member_map_ else f"kind {k}"
    where = f"event {i} (src_row {int(tape.src_row[i])}): {name}"
    tick = tape.instrument.tick_size
    what = {
        _ERR_ADD_SIZE: f"add of order {o} with non-positive size {q}",
        _ERR_ADD_EXISTS: f"add of order {o}, which is already resting (size {detail})",
        _ERR_SIDE: f"side {s} at price {p}, expected +1 or -1",
        _ERR_REMOVE_SIZE: f"order {o} with non-positive size {q}",
        _ERR_WRONG_LEVEL: f"order {o} at side {s} price {p}, but it rests at side {1 - 2 * (detail % 2)} "
                          f"price {pmin + detail // 2 * tick}",
        _ERR_REMOVE_TOO_MUCH: f"{q} on order {o}, which has {detail}",
        _ERR_LEVEL_NEGATIVE: f"level set to negative size {q} at price {p}",
        _ERR_LEVEL_BELOW_KNOWN: f"level set to {q} at side {s} price {p} below the {detail} of known orders there",
        _ERR_KIND: f"unknown event kind {k}",
        _ERR_OFF_TICK: f"price {p} is not a multiple of the tick size {tick}",
    }[status]
    return f"{where}: {what}"


def _run(tape: Tape, levels: int, out0: int = 0) -> tuple[Snapshots, FinalBook]:
    if levels < 0:
        raise ValueError(f"levels must be >= 0, got {levels}")
    tick = int(tape.instrument.tick_size)
    if tick <= 0:
        raise ValueError(f"instrument {tape.instrument.symbol}: tick_size must be positive, got {tick}")
    status, i, pmin, pmax = _price_range(tape.kind, tape.price, tick)
    if status != _OK:
        raise FastBookError(int(i), _describe(tape, status, int(i), 0, 0))
    grid = int((pmax - pmin) // tick + 1)
    if grid > MAX_GRID_LEVELS:
        raise ValueError(
            f"tape prices span {pmin}..{pmax} = {grid} ticks of {tick}, more than the "
            f"{MAX_GRID_LEVELS} the fast kernel allocates; check the tape for stray prices"
        )
    n = len(tape)
    tot = np.zeros((2, max(grid, 1)), np.int64)
    una = np.zeros_like(tot)
    outs = [np.zeros((max(n - out0, 0), levels), np.int64) for _ in range(4)]
    n_slots = int(np.count_nonzero(tape.kind == _ADD))
    status, i, detail, shortfall, n_orders = _replay(
        tape.kind, tape.side, tape.price, tape.size, tape.order_id, np.int64(pmin), np.int64(tick), n_slots,
        tot, una, *outs, levels, out0)
    if status != _OK:
        raise FastBookError(int(i), _describe(tape, status, int(i), int(detail), int(pmin)))
    final = {}, {}
    for s, sd in ((0, 1), (1, -1)):
        occ = np.flatnonzero(tot[s])
        prices = (pmin + occ * tick).tolist()
        final[0][sd] = dict(zip(prices, tot[s, occ].tolist()))
        final[1][sd] = {p: u for p, u in zip(prices, una[s, occ].tolist()) if u}
    book = FinalBook(levels=final[0], unattributed=final[1], n_orders=int(n_orders), shortfall=int(shortfall))
    return Snapshots(*outs), book


def compute_snapshots(tape: Tape, levels: int) -> Snapshots:
    """Top ``levels`` of the visible book after every event of ``tape`` (empty slots are (0, 0)).

    Identical to replaying through ``L3Book`` and calling ``top(levels)``
    after each event. Raises :class:`FastBookError` (a ``BookError``) at the
    first event the book cannot take, naming its index.
    """
    if levels <= 0:
        raise ValueError(f"levels must be positive, got {levels}")
    return _run(tape, levels)[0]


def apply_tape_fast(tape: Tape) -> FinalBook:
    """Apply the whole tape without writing snapshots; return the final book."""
    return _run(tape, 0)[1]


def snapshots_from_checkpoint(checkpoint: np.ndarray, tape: Tape, levels: int, skip: int = 0) -> Snapshots:
    """Top ``levels`` after each event ``skip:`` of ``tape``, starting from the book a
    :meth:`StreamBook.checkpoint` describes (rows of kind, side, price, size, order_id)."""
    if levels <= 0:
        raise ValueError(f"levels must be positive, got {levels}")
    k = len(checkpoint)
    t0 = int(tape.ts_ns[0]) if len(tape) else 0
    prefix = Tape.from_columns(tape.instrument, ts_ns=np.full(k, t0, np.int64), kind=checkpoint[:, 0],
                               side=checkpoint[:, 1], price=checkpoint[:, 2], size=checkpoint[:, 3],
                               order_id=checkpoint[:, 4], src_row=np.full(k, -1, np.int64))
    from tickreplay.tape import concat

    return _run(concat([prefix, tape]), levels, out0=k + skip)[0]


# --------------------------------------------------------------------------- incremental L3 book
#
# A book that lives across calls, for streaming ingest and for book checkpoints: the same
# semantics as L3Book and `_replay`, with FIFO queues per level (orders are linked lists of
# records) so that a checkpoint can list the orders in queue order. State, all int64 arrays:
#   lv   (4, 2, G): per side row (0 bid, 1 ask) and grid index: total, unattributed, queue head, tail
#   sc   (24,):     scalars S_*
#   rec  (cap, 7):  one record per order id in use: R_* fields; a released record (R_SIDE 0) is on the free
#                   list (linked through R_NEXT), so the table follows the orders in use, not every id seen
#   ht   (2**bits,): open-addressing hash (linear probing, deletion by backward shift) of the ids in use:
#                   order id -> record index + 1 (0: empty)
#   dk, dv (2**dbits,): ids released by :func:`sb_release` (an adapter's orders gone for good) -> side * price
#                   (dv 0: empty); 16 bytes a slot, at most 3/4 full, so that a later event on such an id is
#                   still recognised exactly; S_DMIN/S_DMAX: the smallest and largest released id, so that an id
#                   outside them (a new id of a venue that numbers orders in sequence) needs no probe

LV_TOT, LV_UNA, LV_HEAD, LV_TAIL = 0, 1, 2, 3
(S_PMIN, S_TICK, S_BEST0, S_BEST1, S_CNT0, S_CNT1, S_LO0, S_LO1, S_HI0, S_HI1, S_NREC, S_BITS, S_SHORT, S_NORD,
 S_FREE, S_NFREE, S_NDEAD, S_DBITS, S_DMIN, S_DMAX) = range(20)
_N_SCALARS = 24
R_KEY, R_LEFT, R_SIDE, R_PRICE, R_BSIZE, R_PREV, R_NEXT = range(7)


@njit(cache=True, inline="always")
def sb_find(rec, ht, sc, oid):
    """Record index of ``oid``, or -1."""
    mask = ht.shape[0] - 1
    pos = np.int64((np.uint64(oid) * _HASH_MULT) >> np.uint64(64 - sc[S_BITS]))
    while ht[pos] != 0:
        r = ht[pos] - 1
        if rec[r, R_KEY] == oid:
            return r
        pos = (pos + 1) & mask
    return -1


@njit(cache=True, inline="always")
def _sb_insert(ht, sc, oid, r):
    mask = ht.shape[0] - 1
    pos = np.int64((np.uint64(oid) * _HASH_MULT) >> np.uint64(64 - sc[S_BITS]))
    while ht[pos] != 0:
        pos = (pos + 1) & mask
    ht[pos] = r + 1


@njit(cache=True, inline="always")
def sb_new_record(rec, ht, sc, oid, side, price, left):
    """A new record for ``oid`` (not in the book yet); the caller made room (:meth:`StreamBook.reserve`)."""
    r = sc[S_FREE]
    if r >= 0:
        sc[S_FREE] = rec[r, R_NEXT]
        sc[S_NFREE] -= 1
    else:
        r = sc[S_NREC]
        sc[S_NREC] = r + 1
    rec[r, R_KEY] = oid
    rec[r, R_LEFT] = left
    rec[r, R_SIDE] = side
    rec[r, R_PRICE] = price
    rec[r, R_BSIZE] = 0
    rec[r, R_PREV] = -1
    rec[r, R_NEXT] = -1
    _sb_insert(ht, sc, oid, r)
    return r


@njit(cache=True)
def _sb_rehash(rec, n, ht, sc):
    for r in range(n):
        if rec[r, R_SIDE] != 0:
            _sb_insert(ht, sc, rec[r, R_KEY], r)


@njit(cache=True, inline="always")
def _home(oid, bits):
    return np.int64((np.uint64(oid) * _HASH_MULT) >> np.uint64(64 - bits))


@njit(cache=True)
def sb_release(rec, ht, sc, dk, dv, r):
    """Record ``r`` (out of the book) is gone for good: its id leaves ``ht`` for the released ids (with its
    side and price) and the record goes to the free list; the caller made room (:meth:`StreamBook.reserve`)."""
    oid = rec[r, R_KEY]
    mask = ht.shape[0] - 1
    bits = sc[S_BITS]
    i = _home(oid, bits)
    while ht[i] != r + 1:
        i = (i + 1) & mask
    j = i
    while True:  # backward-shift deletion: no tombstones
        j = (j + 1) & mask
        if ht[j] == 0:
            break
        k = _home(rec[ht[j] - 1, R_KEY], bits)
        if (i <= j and i < k <= j) or (i > j and (k <= j or k > i)):
            continue
        ht[i] = ht[j]
        i = j
    ht[i] = 0
    _dead_put(dk, dv, sc[S_DBITS], oid, rec[r, R_SIDE] * rec[r, R_PRICE])
    sc[S_NDEAD] += 1
    sc[S_DMIN] = min(sc[S_DMIN], oid)
    sc[S_DMAX] = max(sc[S_DMAX], oid)
    rec[r, R_SIDE] = 0
    rec[r, R_NEXT] = sc[S_FREE]
    sc[S_FREE] = r
    sc[S_NFREE] += 1


@njit(cache=True, inline="always")
def _dead_put(dk, dv, bits, oid, v):
    mask = dk.shape[0] - 1
    pos = _home(oid, bits)
    while dv[pos] != 0:
        pos = (pos + 1) & mask
    dk[pos] = oid
    dv[pos] = v


@njit(cache=True, inline="always")
def sb_released(dk, dv, sc, oid):
    """side * price of a released id (:func:`sb_release`), 0 if ``oid`` was not released."""
    if oid > sc[S_DMAX] or oid < sc[S_DMIN]:
        return 0
    mask = dk.shape[0] - 1
    pos = _home(oid, sc[S_DBITS])
    while dv[pos] != 0:
        if dk[pos] == oid:
            return dv[pos]
        pos = (pos + 1) & mask
    return 0


@njit(cache=True)
def _dead_rehash(dk, dv, nk, nv, bits):
    for i in range(dk.shape[0]):
        if dv[i] != 0:
            _dead_put(nk, nv, bits, dk[i], dv[i])


@njit(cache=True, inline="always")
def _sb_occupy(lv, sc, s, j):
    sc[S_CNT0 + s] += 1
    if s == 0:
        if j > sc[S_BEST0]:
            sc[S_BEST0] = j
    elif j < sc[S_BEST1]:
        sc[S_BEST1] = j
    if j < sc[S_LO0 + s]:
        sc[S_LO0 + s] = j
    if j > sc[S_HI0 + s]:
        sc[S_HI0 + s] = j


@njit(cache=True, inline="always")
def _sb_vacate(lv, sc, s, j):
    sc[S_CNT0 + s] -= 1
    if j != sc[S_BEST0 + s]:
        return
    if sc[S_CNT0 + s] == 0:
        sc[S_BEST0 + s] = -1 if s == 0 else lv.shape[2]
        return
    step = -1 if s == 0 else 1
    k = j + step
    while lv[LV_TOT, s, k] == 0:
        k += step
    sc[S_BEST0 + s] = k


@njit(cache=True, inline="always")
def sb_add(lv, sc, rec, r, s, j, q):
    """Order record ``r`` joins the back of level ``j`` of side row ``s`` with size ``q``."""
    rec[r, R_BSIZE] = q
    tail = lv[LV_TAIL, s, j]
    rec[r, R_PREV] = tail
    rec[r, R_NEXT] = -1
    if tail >= 0:
        rec[tail, R_NEXT] = r
    else:
        lv[LV_HEAD, s, j] = r
    lv[LV_TAIL, s, j] = r
    sc[S_NORD] += 1
    if lv[LV_TOT, s, j] == 0:
        _sb_occupy(lv, sc, s, j)
    lv[LV_TOT, s, j] += q


@njit(cache=True, inline="always")
def sb_reduce(lv, sc, rec, r, s, j, q):
    """Order record ``r`` (resting at ``s``, ``j``) loses ``q``; it leaves the queue at 0."""
    left = rec[r, R_BSIZE] - q
    rec[r, R_BSIZE] = left
    if left == 0:
        prev, nxt = rec[r, R_PREV], rec[r, R_NEXT]
        if prev >= 0:
            rec[prev, R_NEXT] = nxt
        else:
            lv[LV_HEAD, s, j] = nxt
        if nxt >= 0:
            rec[nxt, R_PREV] = prev
        else:
            lv[LV_TAIL, s, j] = prev
        sc[S_NORD] -= 1
    lv[LV_TOT, s, j] -= q
    if lv[LV_TOT, s, j] == 0:
        _sb_vacate(lv, sc, s, j)


@njit(cache=True, inline="always")
def sb_take_unattributed(lv, sc, s, j, q):
    """An unknown-id removal of ``q``: take it from the level's unattributed size; return the shortfall."""
    take = min(lv[LV_UNA, s, j], q)
    if take > 0:
        lv[LV_UNA, s, j] -= take
        lv[LV_TOT, s, j] -= take
        if lv[LV_TOT, s, j] == 0:
            _sb_vacate(lv, sc, s, j)
    return q - take


@njit(cache=True, inline="always")
def sb_level_set(lv, sc, s, j, q):
    """LEVEL_SET: the level's visible size becomes ``q`` (>= its known orders' total)."""
    old = lv[LV_TOT, s, j]
    lv[LV_UNA, s, j] = q - (old - lv[LV_UNA, s, j])
    lv[LV_TOT, s, j] = q
    if old == 0 and q > 0:
        _sb_occupy(lv, sc, s, j)
    elif old > 0 and q == 0:
        _sb_vacate(lv, sc, s, j)


@njit(cache=True, inline="always")
def sb_top(lv, sc, levels, row):
    """The top ``levels`` into ``row`` in LOBSTER layout (ask px, ask sz, bid px, bid sz per level)."""
    for s in range(2):
        off = 2 if s == 0 else 0
        step = -1 if s == 0 else 1
        n = min(levels, sc[S_CNT0 + s])
        j = sc[S_BEST0 + s]
        k = 0
        while k < n:
            q = lv[LV_TOT, s, j]
            if q > 0:
                row[off + 4 * k] = sc[S_PMIN] + j * sc[S_TICK]
                row[off + 4 * k + 1] = q
                k += 1
            j += step
        while k < levels:
            row[off + 4 * k] = 0
            row[off + 4 * k + 1] = 0
            k += 1


@njit(cache=True, inline="always")
def sb_side_equals(lv, sc, levels, row, i, s):
    """Whether side row ``s`` (0 bid, 1 ask) of the top ``levels`` equals that side of ``row[i]`` (LOBSTER
    layout, empty levels (0, 0)): what :func:`sb_top` would write there, compared as the book is walked,
    stopping at the first difference."""
    off = 2 if s == 0 else 0
    step = -1 if s == 0 else 1
    n = min(levels, sc[S_CNT0 + s])
    j = sc[S_BEST0 + s]
    k = 0
    while k < n:
        q = lv[LV_TOT, s, j]
        if q > 0:
            if row[i, off + 4 * k + 1] != q or row[i, off + 4 * k] != sc[S_PMIN] + j * sc[S_TICK]:
                return False
            k += 1
        j += step
    while k < levels:
        if row[i, off + 4 * k] != 0 or row[i, off + 4 * k + 1] != 0:
            return False
        k += 1
    return True


@njit(cache=True)
def _sb_clear(lv, sc, rec):
    g = lv.shape[2]
    for s in range(2):
        for j in range(sc[S_LO0 + s], sc[S_HI0 + s] + 1):
            lv[LV_TOT, s, j] = 0
            lv[LV_UNA, s, j] = 0
            lv[LV_HEAD, s, j] = -1
            lv[LV_TAIL, s, j] = -1
        sc[S_LO0 + s] = g
        sc[S_HI0 + s] = -1
        sc[S_CNT0 + s] = 0
    sc[S_BEST0] = -1
    sc[S_BEST1] = g
    for r in range(sc[S_NREC]):
        rec[r, R_BSIZE] = 0
    sc[S_NORD] = 0


@njit(cache=True)
def _sb_apply(lv, sc, rec, ht, kind, side, price, size, order_id):
    """Apply tape events (the `_replay` semantics); (status, event index, detail) at the first it cannot take."""
    tick = sc[S_TICK]
    for i in range(kind.shape[0]):
        k = kind[i]
        if not (_is_book_kind(k) or k == _SNAP_BEGIN):
            if k < 1 or k > _MAX_KIND:
                return _ERR_KIND, i, 0
            continue
        if k == _SNAP_BEGIN:
            _sb_clear(lv, sc, rec)
            continue
        sd = side[i]
        q = size[i]
        if price[i] % tick != 0:
            return _ERR_OFF_TICK, i, 0
        j = (price[i] - sc[S_PMIN]) // tick
        r = sb_find(rec, ht, sc, order_id[i]) if k != _LEVEL_SET else -1
        alive = r >= 0 and rec[r, R_BSIZE] > 0
        if k == _ADD:
            if q <= 0:
                return _ERR_ADD_SIZE, i, 0
            if alive:
                return _ERR_ADD_EXISTS, i, rec[r, R_BSIZE]
            if sd != 1 and sd != -1:
                return _ERR_SIDE, i, 0
            if r < 0:
                r = sb_new_record(rec, ht, sc, order_id[i], sd, price[i], q)
            rec[r, R_SIDE] = sd
            rec[r, R_PRICE] = price[i]
            sb_add(lv, sc, rec, r, 0 if sd == 1 else 1, j, q)
        elif k == _LEVEL_SET:
            if q < 0:
                return _ERR_LEVEL_NEGATIVE, i, 0
            if sd != 1 and sd != -1:
                return _ERR_SIDE, i, 0
            s = 0 if sd == 1 else 1
            known = lv[LV_TOT, s, j] - lv[LV_UNA, s, j]
            if q < known:
                return _ERR_LEVEL_BELOW_KNOWN, i, known
            sb_level_set(lv, sc, s, j, q)
        else:
            if q <= 0:
                return _ERR_REMOVE_SIZE, i, 0
            if not alive:
                if sd != 1 and sd != -1:
                    return _ERR_SIDE, i, 0
                sc[S_SHORT] += sb_take_unattributed(lv, sc, 0 if sd == 1 else 1, j, q)
            else:
                s = 0 if rec[r, R_SIDE] == 1 else 1
                oj = (rec[r, R_PRICE] - sc[S_PMIN]) // tick
                if sd != rec[r, R_SIDE] or j != oj:
                    return _ERR_WRONG_LEVEL, i, 2 * oj + s
                left = rec[r, R_BSIZE]
                if q > left or (k == _DELETE and q != left):
                    return _ERR_REMOVE_TOO_MUCH, i, left
                sb_reduce(lv, sc, rec, r, s, j, q)
    return _OK, -1, 0


@njit(cache=True)
def _sb_dump(lv, sc, rec, out):
    """The book as events that rebuild it: SNAPSHOT_BEGIN, then per level a LEVEL_SET of its unattributed
    size (if any) and an ADD per known order in queue order. Rows of ``out``: kind, side, price, size, id."""
    n = 0
    out[n, 0] = _SNAP_BEGIN
    out[n, 1] = 0
    out[n, 2] = 0
    out[n, 3] = 0
    out[n, 4] = 0
    n += 1
    for s in range(2):
        sd = 1 if s == 0 else -1
        for j in range(sc[S_LO0 + s], sc[S_HI0 + s] + 1):
            if lv[LV_TOT, s, j] == 0:
                continue
            p = sc[S_PMIN] + j * sc[S_TICK]
            u = lv[LV_UNA, s, j]
            if u > 0:
                out[n, 0] = _LEVEL_SET
                out[n, 1] = sd
                out[n, 2] = p
                out[n, 3] = u
                out[n, 4] = 0
                n += 1
            r = lv[LV_HEAD, s, j]
            while r >= 0:
                out[n, 0] = _ADD
                out[n, 1] = sd
                out[n, 2] = p
                out[n, 3] = rec[r, R_BSIZE]
                out[n, 4] = rec[r, R_KEY]
                n += 1
                r = rec[r, R_NEXT]
    return n


GRID_MARGIN = 1 << 12  # ticks of room added on each side when the grid grows


def grid_covering(grid: tuple[int, int] | None, pmin: int, pmax: int, tick: int) -> tuple[int, int] | None:
    """The price grid ``(lowest price, levels)`` a book with ``grid`` (None: none yet) needs to hold prices
    ``pmin..pmax`` (venue units, multiples of ``tick``): None when ``grid`` holds them already; else grown by
    :data:`GRID_MARGIN` ticks beyond them. ValueError beyond :data:`MAX_GRID_LEVELS` levels."""
    if grid is None:
        lo, hi = pmin - GRID_MARGIN * tick, pmax + GRID_MARGIN * tick
    else:
        base, g = grid
        if pmin >= base and pmax <= base + (g - 1) * tick:
            return None
        lo = min(base, pmin - GRID_MARGIN * tick)
        hi = max(base + (g - 1) * tick, pmax + GRID_MARGIN * tick)
    lo -= lo % tick
    g_new = (hi - lo) // tick + 1
    if g_new > MAX_GRID_LEVELS:
        raise ValueError(f"prices span {lo}..{hi} = {g_new} ticks of {tick}, more than the {MAX_GRID_LEVELS} "
                         "the book allocates; check the data for stray prices")
    return lo, g_new


class StreamBook:
    """An L3 book that takes a tape chunk by chunk (same semantics as ``compute_snapshots``).

    It grows its price grid (venue price units, ``tick_size`` apart) and order table as needed;
    :meth:`checkpoint` lists the book as events that rebuild it.
    """

    def __init__(self, tick_size: int) -> None:
        if tick_size <= 0:
            raise ValueError(f"tick_size must be positive, got {tick_size}")
        self.lv = np.zeros((4, 2, 0), np.int64)
        self.sc = np.zeros(_N_SCALARS, np.int64)
        self.sc[S_TICK] = tick_size
        self.sc[[S_BEST0, S_HI0, S_HI1, S_FREE]] = -1  # empty ranges: lo = grid size (0), hi = -1
        self.sc[S_BITS] = 4
        self.sc[S_DBITS] = 4
        self.sc[S_DMIN], self.sc[S_DMAX] = np.iinfo(np.int64).max, np.iinfo(np.int64).min  # no id released
        self.rec = np.zeros((16, 7), np.int64)
        self.ht = np.zeros(16, np.int64)
        self.dk = np.zeros(16, np.int64)
        self.dv = np.zeros(16, np.int64)
        self._empty = True

    @property
    def grid(self) -> int:
        return self.lv.shape[2]

    def cover(self, pmin: int, pmax: int) -> None:
        """Make the grid hold prices ``pmin..pmax`` (multiples of the tick)."""
        tick = int(self.sc[S_TICK])
        grown = grid_covering(None if self._empty else (int(self.sc[S_PMIN]), self.grid), pmin, pmax, tick)
        if grown is None:
            return
        lo, g_new = grown
        lv = np.zeros((4, 2, g_new), np.int64)
        lv[LV_HEAD:] = -1
        sc = self.sc
        if not self._empty:
            off = (int(sc[S_PMIN]) - lo) // tick
            lv[:, :, off:off + self.grid] = self.lv
            g_old = self.grid
            sc[S_BEST0] = sc[S_BEST0] + off if sc[S_BEST0] >= 0 else -1
            sc[S_BEST1] = sc[S_BEST1] + off if sc[S_BEST1] < g_old else g_new
            for s in range(2):
                if sc[S_HI0 + s] >= 0:
                    sc[S_LO0 + s] += off
                    sc[S_HI0 + s] += off
                else:
                    sc[S_LO0 + s], sc[S_HI0 + s] = g_new, -1
        else:
            sc[S_BEST0], sc[S_BEST1] = -1, g_new
            sc[S_LO0], sc[S_LO1], sc[S_HI0], sc[S_HI1] = g_new, g_new, -1, -1
        sc[S_PMIN] = lo
        self.lv = lv
        self._empty = False

    def reserve(self, n_new: int, n_released: int = 0) -> None:
        """Room for ``n_new`` more order records (the hash table stays at most half full) and ``n_released``
        more released ids (:func:`sb_release`)."""
        sc = self.sc
        need = int(sc[S_NREC]) + max(0, n_new - int(sc[S_NFREE]))  # records allocated, free ones reused
        if need > self.rec.shape[0]:
            rec = np.zeros((max(need, 2 * self.rec.shape[0]), 7), np.int64)
            rec[:self.rec.shape[0]] = self.rec
            self.rec = rec
        dead = int(sc[S_NDEAD]) + n_released
        if 4 * dead > 3 * self.dk.shape[0]:
            bits = int(sc[S_DBITS])
            while 4 * dead > 3 * (1 << bits):
                bits += 1
            dk, dv = np.zeros(1 << bits, np.int64), np.zeros(1 << bits, np.int64)
            _dead_rehash(self.dk, self.dv, dk, dv, bits)
            self.dk, self.dv = dk, dv
            sc[S_DBITS] = bits
        need = int(sc[S_NREC]) - int(sc[S_NFREE]) + n_new  # ids in use
        if 2 * need > self.ht.shape[0]:
            bits = int(self.sc[S_BITS])
            while (1 << bits) < 2 * need:
                bits += 1
            bits = max(bits, int(self.sc[S_BITS]) + 1)
            self.sc[S_BITS] = bits
            self.ht = np.zeros(1 << bits, np.int64)
            _sb_rehash(self.rec, int(self.sc[S_NREC]), self.ht, self.sc)

    def apply(self, tape: Tape) -> None:
        """Apply a chunk of tape events; :class:`FastBookError` at the first the book cannot take."""
        book = np.isin(tape.kind, (_ADD, _PARTIAL, _DELETE, _EXEC, _LEVEL_SET))
        if book.any():
            px = tape.price[book]
            self.cover(int(px.min()), int(px.max()))
        self.reserve(int(np.count_nonzero(tape.kind == _ADD)))
        status, i, detail = _sb_apply(self.lv, self.sc, self.rec, self.ht, tape.kind, tape.side, tape.price,
                                      tape.size, tape.order_id)
        if status != _OK:
            raise FastBookError(int(i), _describe(tape, status, int(i), int(detail), int(self.sc[S_PMIN])))

    @property
    def n_orders(self) -> int:
        return int(self.sc[S_NORD])

    def checkpoint(self) -> np.ndarray:
        """The book as events (rows of kind, side, price, size, order_id) that rebuild it from nothing."""
        occupied = int(self.sc[S_CNT0] + self.sc[S_CNT1])
        out = np.zeros((1 + occupied + self.n_orders, 5), np.int64)
        n = _sb_dump(self.lv, self.sc, self.rec, out) if self.grid else 1
        if not self.grid:
            out[0, 0] = _SNAP_BEGIN
        return out[:n]
