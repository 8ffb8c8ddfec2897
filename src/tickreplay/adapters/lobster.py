"""LOBSTER (NASDAQ, order by order) message/orderbook pair → an event tape that replays exactly.

LOBSTER's message file only holds events inside the requested top-N price
window, so replaying messages alone drifts from LOBSTER's own orderbook file
(levels that come into view without a message, orders resting from before the
file or reduced while outside the window). The adapter uses both files: it
streams them chunk by chunk through the compiled order-by-order book
(:class:`~tickreplay.book.fast.StreamBook`, the :class:`~tickreplay.book.L3Book`
semantics) while building the tape and, after each message, appends the
*implied* events (``FLAG_IMPLIED``, same ``src_row`` and time) that make the
book's top N equal that orderbook row:

* the tape opens with a snapshot (SNAPSHOT_BEGIN, one LEVEL_SET per level,
  SNAPSHOT_END) of the book *before* message 0: orderbook row 0 with message
  0's own effect undone;
* a level whose size differs from the row: if the row's size is at least the
  known orders' total there, LEVEL_SET it; otherwise first cancel known
  orders from the back of the queue (PARTIAL_CANCEL/DELETE with their ids)
  until they fit, then LEVEL_SET;
* a book level better than the row's N-th level (any level, when the row
  shows fewer than N on that side) that the row does not show is removed the
  same way; levels beyond the window are kept until they come back into view.

Vendor events on ids the book does not hold carry ``FLAG_UNKNOWN_ID``: ids
never added (orders resting from before the window), and — rarely — orders an
implied correction already took out of the book (the correction had to guess
which order at the back of the queue had gone). A DELETE smaller than what
the messages left the order is a data fact (it shrank while outside the
window): an implied PARTIAL_CANCEL precedes it. All of these are counted in
the report, not as anomalies.

Bad input (see :mod:`tickreplay.adapters.lobster_csv` for row checks, among
them a price outside the pair's plausible range, ``implausible_price``; here:
row-count mismatch, an ADD of a resting id, an event at another side/price
than its order's, a cancel/execution/DELETE larger than the messages left the
order): strict mode raises ``InputError`` at the first; lenient mode counts
each kind and goes on, where a bad message row is skipped (no vendor event;
the corrections of that row still bring the book to the orderbook row), a
bad orderbook row is not used as a correction target (and counts as a row
not reproduced), and rows beyond the shorter file are dropped.

Times: seconds after midnight (exact decimal) plus the trading date's local
midnight in America/New_York as UTC epoch ns.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable, Protocol

import numpy as np
from numba import njit

from tickreplay.adapters import IngestResult
from tickreplay.adapters.lobster_csv import PRICE_SCALE, Block, BlockReader, PriceCounts, PriceRange
from tickreplay.book.fast import (
    LV_TOT, LV_UNA, LV_TAIL, R_BSIZE, R_KEY, R_LEFT, R_PREV, R_PRICE, R_SIDE, S_CNT0, S_CNT1, S_HI0, S_HI1, S_LO0,
    S_LO1, S_BEST0, S_BEST1, S_NORD, S_PMIN, S_SHORT, S_TICK, StreamBook, compute_snapshots, sb_add, sb_find,
    _sb_apply, sb_level_set, sb_new_record, sb_reduce, sb_release, sb_released, sb_side_equals,
    sb_take_unattributed, sb_top,
)
from tickreplay.clock import local_midnight_ns, trading_date
from tickreplay.errors import AnomalyLog, InputError
from tickreplay.tape import FLAG_IMPLIED, FLAG_UNKNOWN_ID, EventKind, Instrument, Tape, concat

VENUE = "NASDAQ"
TIMEZONE = "America/New_York"
TICK_SIZE = 100  # one cent in LOBSTER price units
CHUNK_ROWS = 1 << 18  # message/orderbook rows reconstructed per kernel call

_NAME_RE = re.compile(r"(?P<symbol>.+)_(?P<date>\d{4}-\d{2}-\d{2})_(?P<start_ms>\d+)_(?P<end_ms>\d+)_message_\d+\.csv")

_ADD, _PARTIAL, _DELETE, _EXEC = (int(k) for k in (EventKind.ADD, EventKind.PARTIAL_CANCEL,
                                                   EventKind.DELETE, EventKind.EXECUTE_VISIBLE))
_LEVEL_SET = int(EventKind.LEVEL_SET)
_HALT, _QUOTE_RESUME, _RESUME = int(EventKind.HALT), int(EventKind.QUOTE_RESUME), int(EventKind.RESUME)
_SNAP_BEGIN, _SNAP_END = int(EventKind.SNAPSHOT_BEGIN), int(EventKind.SNAPSHOT_END)
_PENDING_TS = np.iinfo(np.int64).min  # time of events before the first good message row is known

# kernel status
_ST_DONE, _ST_FLUSH, _ST_DUPLICATE, _ST_MISMATCH, _ST_SIZE, _ST_STUCK = range(6)
# counters
_C_IMPLIED, _C_UNKNOWN, _C_CORRECTED, _C_UNSEEN, _C_ROWS_CORR, _C_HALTS, _C_TYPE = 0, 1, 2, 3, 4, 5, 6  # + type 1-7
_N_COUNTERS = _C_TYPE + 8


def parse_file_name(message_csv: str | Path) -> tuple[str, str] | None:
    """(symbol, date) from ``TICKER_YYYY-MM-DD_start_end_message_N.csv``; None if the name does not fit."""
    m = _NAME_RE.fullmatch(Path(message_csv).name)
    return (m.group("symbol"), m.group("date")) if m else None


# --------------------------------------------------------------------------- compiled reconstruction
# The book is a StreamBook (book/fast.py); each order id in use has a record whose R_LEFT is what the
# messages leave it and R_SIDE/R_PRICE where it was added; R_BSIZE > 0 while it rests in the book. An order
# whose messages leave it nothing is released (sb_release): its record is reused, and its id with its side and
# price (16 bytes a slot) is kept, so a later ADD of it is still a duplicate and a later event on it still an
# error, exactly as when every record was kept.

@njit(cache=True, inline="always")
def _put(out, n, ts, kind, side, price, size, oid, row, flags, ctr):
    """Event ``n`` into ``out`` (8 columns x capacity: ts, kind, side, price, size, id, row, flags)."""
    out[0, n] = ts
    out[1, n] = kind
    out[2, n] = side
    out[3, n] = price
    out[4, n] = size
    out[5, n] = oid
    out[6, n] = row
    out[7, n] = flags
    if flags & FLAG_IMPLIED:
        ctr[_C_IMPLIED] += 1
    return n + 1


@njit(cache=True)
def _set_level(lv, sc, rec, out, n, ctr, ts, row, side, price, target):
    """Make the visible size at (side, price) ``target``: cancel known orders from the back, then LEVEL_SET."""
    s = 0 if side == 1 else 1
    j = (price - sc[S_PMIN]) // sc[S_TICK]
    known = lv[LV_TOT, s, j] - lv[LV_UNA, s, j]
    r = lv[LV_TAIL, s, j]
    while r >= 0 and known > target:
        q = rec[r, R_BSIZE]
        prev = rec[r, R_PREV]
        cut = min(q, known - target)
        n = _put(out, n, ts, _DELETE if cut == q else _PARTIAL, side, price, cut, rec[r, R_KEY], row, FLAG_IMPLIED,
                 ctr)
        sb_reduce(lv, sc, rec, r, s, j, cut)
        known -= cut
        r = prev
    if lv[LV_TOT, s, j] != target:
        n = _put(out, n, ts, _LEVEL_SET, side, price, target, 0, row, FLAG_IMPLIED, ctr)
        sb_level_set(lv, sc, s, j, target)
    return n


@njit(cache=True)
def _correct(lv, sc, rec, out, n, ctr, ts, row, ob, i, levels, stale, same_ask, same_bid):
    """Emit implied events until the top N equals orderbook row ``i``; False if stuck. ``same_ask``,
    ``same_bid``: whether that side's top N equals the row's already; such a side is left alone (it would get
    no event), and a side's events leave the other side as it is, so only a corrected side is compared again."""
    while True:
        if same_ask and same_bid:
            return n, True
        before = n
        for half in range(2):
            off, side, s = (0, -1, 1) if half == 0 else (2, 1, 0)
            if same_ask if s == 1 else same_bid:
                continue
            n_want = 0  # the row's occupied levels come first, in the order the scan below walks the book
            edge = np.int64(0)
            for k in range(levels):
                if ob[i, off + 4 * k + 1] > 0:
                    n_want += 1
                    edge = ob[i, off + 4 * k]
            has_edge = n_want == levels
            n_stale = 0
            kk = 0  # the row's first level not better than the book level visited
            left = sc[S_CNT0 + s]  # occupied levels not visited yet: the scan ends at the last
            if left > 0:
                step = -1 if s == 0 else 1
                j = sc[S_BEST0 + s]
                end = (sc[S_LO0] - 1) if s == 0 else (sc[S_HI1] + 1)
                while j != end and left > 0:
                    if lv[LV_TOT, s, j] > 0:
                        left -= 1
                        p = sc[S_PMIN] + j * sc[S_TICK]
                        if has_edge and (p >= edge if s == 1 else p <= edge):
                            break
                        while kk < n_want and (ob[i, off + 4 * kk] < p if s == 1 else ob[i, off + 4 * kk] > p):
                            kk += 1
                        if kk == n_want or ob[i, off + 4 * kk] != p:
                            stale[n_stale] = p
                            n_stale += 1
                    j += step
            for x in range(n_stale):
                n = _set_level(lv, sc, rec, out, n, ctr, ts, row, side, stale[x], 0)
            for k in range(levels):
                q = ob[i, off + 4 * k + 1]
                if q > 0:
                    p = ob[i, off + 4 * k]
                    if lv[LV_TOT, s, (p - sc[S_PMIN]) // sc[S_TICK]] != q:
                        n = _set_level(lv, sc, rec, out, n, ctr, ts, row, side, p, q)
        if n == before:
            return n, False
        same_ask = same_ask or sb_side_equals(lv, sc, levels, ob, i, 1)
        same_bid = same_bid or sb_side_equals(lv, sc, levels, ob, i, 0)


@njit(cache=True, inline="always")
def _message(lv, sc, rec, ht, dk, dv, out, n, ctr, ts, row, typ, oid, size, price, side):
    """Emit the events of one good message row. Returns (status, n, detail 1, detail 2)."""
    if typ == 7:
        kind = _HALT if price == -1 else (_QUOTE_RESUME if price == 0 else _RESUME)
        n = _put(out, n, ts, kind, 0, 0, 0, 0, row, 0, ctr)
        ctr[_C_TYPE + 7] += 1
        return _ST_DONE, n, 0, 0
    if typ == 5 or typ == 6:  # hidden execution, cross trade: a print only
        n = _put(out, n, ts, typ, side, price, size, oid, row, 0, ctr)
        ctr[_C_TYPE + typ] += 1
        return _ST_DONE, n, 0, 0
    s = 0 if side == 1 else 1
    j = (price - sc[S_PMIN]) // sc[S_TICK]
    r = sb_find(rec, ht, sc, oid)
    if r < 0:
        gone = sb_released(dk, dv, sc, oid)  # an order its messages took out in full: none left
        if gone != 0:
            if typ == _ADD:
                return _ST_DUPLICATE, n, 0, 0
            if gone != side * price:
                return _ST_MISMATCH, n, 1 if gone > 0 else -1, abs(gone)
            return _ST_SIZE, n, 0, 0
    if typ == _ADD:
        if r >= 0:
            return _ST_DUPLICATE, n, 0, 0
        r = sb_new_record(rec, ht, sc, oid, side, price, size)
        n = _put(out, n, ts, _ADD, side, price, size, oid, row, 0, ctr)
        sb_add(lv, sc, rec, r, s, j, size)
        ctr[_C_TYPE + typ] += 1
        return _ST_DONE, n, 0, 0
    if r < 0:
        ctr[_C_UNKNOWN] += 1
        n = _put(out, n, ts, typ, side, price, size, oid, row, FLAG_UNKNOWN_ID, ctr)
        sc[S_SHORT] += sb_take_unattributed(lv, sc, s, j, size)
        ctr[_C_TYPE + typ] += 1
        return _ST_DONE, n, 0, 0
    if rec[r, R_SIDE] != side or rec[r, R_PRICE] != price:
        return _ST_MISMATCH, n, rec[r, R_SIDE], rec[r, R_PRICE]
    left = rec[r, R_LEFT]
    if size > left:
        return _ST_SIZE, n, left, 0
    if typ == _DELETE and size < left:
        ctr[_C_UNSEEN] += 1
    rec[r, R_LEFT] = 0 if typ == _DELETE else left - size
    have = rec[r, R_BSIZE]
    ctr[_C_TYPE + typ] += 1
    if size > have:  # an implied correction took (part of) this order out: treat it as unattributed volume
        ctr[_C_CORRECTED] += 1
        if have:
            level = lv[LV_TOT, s, j]
            n = _put(out, n, ts, _DELETE, side, price, have, oid, row, FLAG_IMPLIED, ctr)
            sb_reduce(lv, sc, rec, r, s, j, have)
            n = _put(out, n, ts, _LEVEL_SET, side, price, level, 0, row, FLAG_IMPLIED, ctr)
            sb_level_set(lv, sc, s, j, level)
        n = _put(out, n, ts, typ, side, price, size, oid, row, FLAG_UNKNOWN_ID, ctr)
        sc[S_SHORT] += sb_take_unattributed(lv, sc, s, j, size)
    else:
        if typ == _DELETE and size < have:
            n = _put(out, n, ts, _PARTIAL, side, price, have - size, oid, row, FLAG_IMPLIED, ctr)
            sb_reduce(lv, sc, rec, r, s, j, have - size)
        n = _put(out, n, ts, typ, side, price, size, oid, row, 0, ctr)
        sb_reduce(lv, sc, rec, r, s, j, size)
    if rec[r, R_LEFT] == 0:  # out of the book for good (a record's book size never exceeds what it has left)
        sb_release(rec, ht, sc, dk, dv, r)
    return _ST_DONE, n, 0, 0


@njit(cache=True)
def _rows(lv, sc, rec, ht, dk, dv, out, n, ctr, stale, m, m_ok, ob, ob_ok, row0, start, skip, midnight, levels,
          last_ts):
    """Reconstruct rows ``start..`` of a chunk: each good message's events, then the corrections to its
    orderbook row. Returns (status, chunk row, events in ``out``, last time, detail 1, detail 2); a status
    other than done stops at that row (flush ``out``, or a message Python must report; ``skip``: the message
    of row ``start`` was rejected)."""
    for i in range(start, m.shape[0]):
        need = 8 + sc[S_NORD] + sc[S_CNT0] + sc[S_CNT1] + 2 * levels
        if n + need > out.shape[1]:
            return _ST_FLUSH, i, n, last_ts, 0, 0
        row = row0 + i
        if m_ok[i] and not (skip and i == start):
            last_ts = midnight + m[i, 0]
            typ = m[i, 1]
            if typ == 7 and m[i, 4] == -1:
                ctr[_C_HALTS] += 1
            st, n, d1, d2 = _message(lv, sc, rec, ht, dk, dv, out, n, ctr, last_ts, row, typ, m[i, 2], m[i, 3], m[i, 4],
                                     m[i, 5])
            if st != _ST_DONE:
                return st, i, n, last_ts, d1, d2
        if ob_ok[i]:
            same_ask = sb_side_equals(lv, sc, levels, ob, i, 1)
            same_bid = sb_side_equals(lv, sc, levels, ob, i, 0)
            if not (same_ask and same_bid):
                ctr[_C_ROWS_CORR] += 1
                n, good = _correct(lv, sc, rec, out, n, ctr, last_ts, row, ob, i, levels, stale, same_ask,
                                   same_bid)
                if not good:
                    return _ST_STUCK, i, n, last_ts, 0, 0
    return _ST_DONE, m.shape[0], n, last_ts, 0, 0


@njit(cache=True)
def _open_snapshot(lv, sc, out, n, ctr, ts, side, price, size):
    """The tape's opening snapshot: SNAPSHOT_BEGIN, the LEVEL_SETs given, SNAPSHOT_END (row 0, implied)."""
    n = _put(out, n, ts, _SNAP_BEGIN, 0, 0, 0, 0, 0, FLAG_IMPLIED, ctr)
    for k in range(side.shape[0]):
        n = _put(out, n, ts, _LEVEL_SET, side[k], price[k], size[k], 0, 0, FLAG_IMPLIED, ctr)
        sb_level_set(lv, sc, 0 if side[k] == 1 else 1, (price[k] - sc[S_PMIN]) // sc[S_TICK], size[k])
    return _put(out, n, ts, _SNAP_END, 0, 0, 0, 0, 0, FLAG_IMPLIED, ctr)


@njit(cache=True)
def _chunk_span(m, m_ok, ob, ob_ok):
    """(lowest, highest) positive price of the chunk's good visible messages (types 1-4) and orderbook
    levels, its count of good ADD rows and of good rows of types 2-4 (what can release an order)."""
    levels = ob.shape[1] // 4
    lo = np.iinfo(np.int64).max
    hi = np.iinfo(np.int64).min
    adds = 0
    removals = 0
    for i in range(m.shape[0]):
        if m_ok[i] and 1 <= m[i, 1] <= 4:
            p = m[i, 4]
            if p > 0:
                lo = min(lo, p)
                hi = max(hi, p)
            if m[i, 1] == _ADD:
                adds += 1
            else:
                removals += 1
        if ob_ok[i]:  # a good row's occupied levels come first (empty: price 0), asks rising, bids falling
            a = b = levels - 1
            while a >= 0 and ob[i, 4 * a] == 0:
                a -= 1
            while b >= 0 and ob[i, 4 * b + 2] == 0:
                b -= 1
            if a >= 0:
                lo = min(lo, ob[i, 0])
                hi = max(hi, ob[i, 4 * a])
            if b >= 0:
                lo = min(lo, ob[i, 4 * b + 2])
                hi = max(hi, ob[i, 2])
    return lo, hi, adds, removals


# --------------------------------------------------------------------------- streaming driver


class TapeSink(Protocol):
    """Where reconstructed tape chunks go: :meth:`write` each in order; :meth:`reset` drops all written.

    A chunk's columns are views of a buffer the producer reuses once :meth:`write` returns: a sink that
    keeps chunks copies them."""

    def write(self, chunk: Tape, book: StreamBook) -> None: ...

    def reset(self) -> None: ...


@dataclass
class _MemorySink:
    """Keeps the chunks (and, for verification, the orderbook rows) in memory."""

    keep_orderbook: bool = False
    chunks: list[Tape] = field(default_factory=list)
    rows: list[np.ndarray] = field(default_factory=list)
    ok: list[np.ndarray] = field(default_factory=list)

    def write(self, chunk: Tape, book: StreamBook) -> None:
        self.chunks.append(replace(chunk, **{k: v.copy() for k, v in chunk.columns().items()}))

    def reset(self) -> None:
        self.chunks.clear()
        self.rows.clear()
        self.ok.clear()


def _pre_state(m: Block, ob: Block) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The book before message 0 as (side, price, size) LEVEL_SETs, asks rising then bids falling:
    orderbook row 0 with message 0's own effect undone."""
    pre: dict[int, dict[int, int]] = {-1: {}, 1: {}}
    if ob.ok[0]:
        r = ob.values[0].tolist()
        for j in range(len(r) // 4):
            if r[4 * j + 1]:
                pre[-1][r[4 * j]] = r[4 * j + 1]
            if r[4 * j + 3]:
                pre[1][r[4 * j + 2]] = r[4 * j + 3]
        if m.ok[0]:
            _, t, _, size, price, side = m.values[0].tolist()
            if t == _ADD:
                pre[side][price] = max(0, pre[side].get(price, 0) - size)
            elif t in (_PARTIAL, _DELETE, _EXEC):
                pre[side][price] = pre[side].get(price, 0) + size
    out = [(side, p, pre[side][p]) for side in (-1, 1) for p in sorted(pre[side], reverse=side == 1)
           if pre[side][p] > 0]
    cols = np.array(out, np.int64).reshape(len(out), 3)
    return cols[:, 0].copy(), cols[:, 1].copy(), cols[:, 2].copy()


class _Aligner:
    """Row-aligned chunks of the two files' blocks; after the shorter file ends, the longer one is read on
    (its prices count for the plausible range) and its extra rows counted."""

    def __init__(self, msgs: BlockReader, ob: BlockReader, chunk_rows: int) -> None:
        self.readers = (msgs, ob)
        self.blocks: list[Block | None] = [None, None]
        self.offs = [0, 0]
        self.chunk_rows = chunk_rows
        self.done = [False, False]
        self.rounded = 0
        self.cand = [np.iinfo(np.int64).max, np.iinfo(np.int64).min]

    def _fill(self, f: int) -> bool:
        while not self.done[f] and (self.blocks[f] is None or self.offs[f] >= len(self.blocks[f])):
            b = next(self.readers[f], None)
            if b is None:
                self.done[f] = True
                break
            self._seen(b, f)
            self.blocks[f], self.offs[f] = b, 0
        return not self.done[f]

    def _seen(self, b: Block, f: int) -> None:
        if f == 0:
            self.rounded += b.rounded
        self.cand = [min(self.cand[0], b.cand_lo), max(self.cand[1], b.cand_hi)]

    def chunks(self):
        """Yield (row0, message values, ok, errors, orderbook values, ok, errors) for rows both files have."""
        while self._fill(0) and self._fill(1):
            (mb, ob), (mo, oo) = self.blocks, self.offs
            k = min(len(mb) - mo, len(ob) - oo, self.chunk_rows)
            row0 = mb.row0 + mo
            self.offs = [mo + k, oo + k]
            yield (row0, mb.values[mo:mo + k], mb.ok[mo:mo + k], _errors_in(mb, row0, k),
                   ob.values[oo:oo + k], ob.ok[oo:oo + k], _errors_in(ob, row0, k))
        for f in (0, 1):  # read the longer file to its end
            while self._fill(f):
                self.offs[f] = len(self.blocks[f])

    @property
    def lengths(self) -> tuple[int, int]:
        return self.readers[0].rows, self.readers[1].rows


def _errors_in(b: Block, row0: int, k: int) -> list[InputError]:
    """The errors of rows row0 .. row0 + k - 1 (0-based; errors name 1-based rows)."""
    return [e for e in b.errors if row0 < e.row <= row0 + k] if b.errors else []


@dataclass
class _Pass:
    """One reading of the pair; see :func:`_ingest`."""

    message_csv: Path
    orderbook_csv: Path
    midnight: int
    strict: bool
    price_range: PriceRange | None
    prices: PriceCounts | None
    sink: TapeSink
    chunk_rows: int
    make_instrument: Callable[[int], Instrument]
    meta: dict
    keep_orderbook: bool = False

    def run(self) -> dict:
        mr = BlockReader(self.message_csv, True, TICK_SIZE, self.price_range, self.prices)
        try:
            orr = BlockReader(self.orderbook_csv, False, TICK_SIZE, self.price_range, self.prices)
        except InputError:
            mr.close()
            raise
        levels = orr.width // 4
        self.instrument = inst = self.make_instrument(levels)
        book = StreamBook(TICK_SIZE)
        ctr = np.zeros(_N_COUNTERS, np.int64)
        out = np.zeros((8, 4 * self.chunk_rows + 64), np.int64)
        self.row_log, self.sem_log = AnomalyLog(strict=False), AnomalyLog(strict=False)
        self.first_row_error: InputError | None = None
        self.first_sem_error: InputError | None = None
        stopped = False  # strict mode after the first error: only read on for the errors and prices
        n_out, last_ts, first_ts = 0, _PENDING_TS, None
        al = _Aligner(mr, orr, self.chunk_rows)
        events = 0
        for row0, m, m_ok, m_err, ob, ob_ok, o_err in al.chunks():
            errors = sorted(m_err + o_err, key=lambda e: e.row)  # stable: messages first
            if errors:
                if self.strict:
                    self.first_row_error = self.first_row_error or errors[0]
                    stopped = True
                for e in errors:
                    self.row_log.report(e)
            if stopped:
                continue
            if self.keep_orderbook:
                self.sink.rows.append(ob.copy())  # the readers reuse their arrays
                self.sink.ok.append(ob_ok.copy())
            adds, removals = self._cover(book, m, m_ok, ob, ob_ok)
            if row0 == 0:  # size the released-id table once for the day (growing it rehashes every id)
                book.reserve(0, _expected_releases(len(m), adds, removals, mr.estimated_rows()))
            stale = np.zeros(book.grid, np.int64)
            if row0 == 0:
                side, price, size = _pre_state(Block(0, m, m_ok, [], 0, 0, 0), Block(0, ob, ob_ok, [], 0, 0, 0))
                n_out = _open_snapshot(book.lv, book.sc, out, n_out, ctr, _PENDING_TS, side, price, size)
            start, skip = 0, False
            while True:
                st, i, n_out, last_ts, d1, d2 = _rows(
                    book.lv, book.sc, book.rec, book.ht, book.dk, book.dv, out, n_out, ctr, stale, m, m_ok, ob, ob_ok, row0,
                    start, skip, self.midnight, levels, last_ts)
                if first_ts is None and last_ts != _PENDING_TS:
                    first_ts = self.midnight + int(m[np.flatnonzero(m_ok)[0], 0])
                    col = out[0, :n_out]
                    col[col == _PENDING_TS] = first_ts
                if st == _ST_DONE:
                    break
                if st == _ST_FLUSH:
                    if first_ts is None or n_out == 0:  # keep everything until the first time is known: grow
                        out = np.concatenate([out, np.zeros_like(out)], axis=1)
                    else:
                        events += self._flush(out, n_out, inst, book)
                        n_out = 0
                    skip = skip and i == start
                    start = i
                    continue
                if st == _ST_STUCK:  # pragma: no cover - the pass always converges
                    raise AssertionError(f"row {row0 + i + 1}: corrections made no progress")
                err = self._message_error(st, row0 + i, m[i], d1, d2)
                self.sem_log.report(err)
                if self.strict:
                    self.first_sem_error = self.first_sem_error or err
                    stopped = True
                    break
                start, skip = i, True
            if first_ts is not None and n_out and not stopped:
                events += self._flush(out, n_out, inst, book)
                n_out = 0
        n_msgs, n_ob = al.lengths
        n = min(n_msgs, n_ob)
        if first_ts is None and n_out:  # no good message row: the opening snapshot is at midnight
            col = out[0, :n_out]
            col[col == _PENDING_TS] = self.midnight
        if n_out and not stopped:
            events += self._flush(out, n_out, inst, book)
        self.rows, self.lengths, self.candidates = n, (n_msgs, n_ob), al.cand
        by_type = {str(t): int(ctr[_C_TYPE + t]) for t in range(1, 8) if ctr[_C_TYPE + t]}
        return {
            "rows": n,
            "levels": levels,
            "events": events,
            "messages_by_type": by_type,
            "unknown_order_events": int(ctr[_C_UNKNOWN]),
            "events_on_corrected_orders": int(ctr[_C_CORRECTED]),
            "unseen_order_reductions": int(ctr[_C_UNSEEN]),
            "rows_needing_correction": int(ctr[_C_ROWS_CORR]),
            "hidden_executions": by_type.get("5", 0),
            "cross_trades": by_type.get("6", 0),
            "halts": int(ctr[_C_HALTS]),
            "implied_events": int(ctr[_C_IMPLIED]),
            "unattributed_shortfall_shares": int(book.sc[S_SHORT]),
            "times_rounded_to_ns": al.rounded,
        }

    @staticmethod
    def _cover(book: StreamBook, m: np.ndarray, m_ok: np.ndarray, ob: np.ndarray,
               ob_ok: np.ndarray) -> tuple[int, int]:
        """Room in the book for every price and order the chunk can bring; returns the chunk's (good ADD rows,
        good rows of types 2-4)."""
        lo, hi, adds, removals = _chunk_span(m, m_ok, ob, ob_ok)
        if lo <= hi:
            book.cover(int(lo), int(hi))
        book.reserve(int(adds), int(removals))
        return int(adds), int(removals)

    def _flush(self, out: np.ndarray, n: int, inst: Instrument, book: StreamBook) -> int:
        cols = [out[k, :n] for k in range(8)]  # views: a sink that keeps the chunk copies it
        chunk = Tape.from_columns(inst, extra_meta=self.meta, ts_ns=cols[0], kind=cols[1], side=cols[2],
                                  price=cols[3], size=cols[4], order_id=cols[5], src_row=cols[6], flags=cols[7])
        self.sink.write(chunk, book)
        return n

    def _message_error(self, st: int, row: int, m: np.ndarray, d1: int, d2: int) -> InputError:
        path = str(self.message_csv)
        oid, size, price, side = int(m[2]), int(m[3]), int(m[4]), int(m[5])
        if st == _ST_DUPLICATE:
            return InputError(path, row + 1, "order_id", f"order {oid} was already added", "duplicate_order_id")
        if st == _ST_MISMATCH:
            return InputError(path, row + 1, "price", f"order {oid} rests at side {d1} price {d2}, not side {side} "
                              f"price {price}", "order_mismatch")
        kind = "delete_size_mismatch" if int(m[1]) == _DELETE else "size_exceeds_order"
        return InputError(path, row + 1, "size", f"order {oid} has {d1} shares left after its messages, this row "
                          f"removes {size}", kind)


def _expected_releases(rows: int, adds: int, removals: int, file_rows: int) -> int:
    """Orders the day's messages will take out in full, from its first ``rows`` (``adds`` ADD rows,
    ``removals`` rows of types 2-4) and the message file's estimated ``file_rows``: each release needs an ADD
    and a removal row of its own, so at most half the rows; the first chunk's share of the scarcer, with a
    quarter more for the estimate's error."""
    if rows <= 0:
        return 0
    return min(file_rows // 2, min(adds, removals) * file_rows * 5 // (4 * rows))


def _instrument_and_meta(message_csv: str | Path, orderbook_csv: str | Path, symbol: str | None,
                         date: str | None) -> tuple[Callable[[int], Instrument], dict, int]:
    if symbol is None or date is None:
        parsed = parse_file_name(message_csv)
        if parsed is None:
            raise InputError(str(message_csv), None, "file name",
                             "expected TICKER_YYYY-MM-DD_start_end_message_N.csv, or give symbol and date")
        symbol, date = symbol or parsed[0], date or parsed[1]
    midnight = local_midnight_ns(trading_date(date, "trading date"), TIMEZONE)

    def instrument(levels: int) -> Instrument:
        return Instrument(symbol=symbol, venue=VENUE, date=date, price_scale=PRICE_SCALE, tick_size=TICK_SIZE,
                          size_scale=1, lot_size=1, timezone=TIMEZONE, levels=levels, currency="USD",
                          source="lobster")

    meta = {"message_file": Path(message_csv).name, "orderbook_file": Path(orderbook_csv).name}
    window = _NAME_RE.fullmatch(Path(message_csv).name)
    if window:  # the file's requested window (ms after local midnight) is the trading session
        meta["session_start_ns"] = midnight + int(window.group("start_ms")) * 1_000_000
        meta["session_end_ns"] = midnight + int(window.group("end_ms")) * 1_000_000
    return instrument, meta, midnight


def _ingest(message_csv: str | Path, orderbook_csv: str | Path, symbol: str | None, date: str | None,
            strict: bool, sink: TapeSink, chunk_rows: int = CHUNK_ROWS,
            keep_orderbook: bool = False) -> tuple[dict, AnomalyLog, Instrument, dict]:
    """Stream the pair through the compiled reconstruction into ``sink``; return (report, anomalies,
    instrument, tape metadata).

    The plausible price range needs the median of both whole files: the first reading counts every price
    and checks the range only at the end; if some price lies outside it, the sink is reset and the pair
    read again with the range known. Errors are reported as the whole-file reader did: row errors in row
    order (messages first on a tie), then a row-count mismatch, then the reconstruction's errors (duplicate
    id, order mismatch, size) in row order; strict mode raises the first of these, after reading on.
    """
    make_instrument, meta, midnight = _instrument_and_meta(message_csv, orderbook_csv, symbol, date)
    counts = PriceCounts()
    p = _Pass(Path(message_csv), Path(orderbook_csv), midnight, strict, None, counts, sink, chunk_rows,
              make_instrument, meta, keep_orderbook)
    report = p.run()
    rng = counts.price_range()
    if rng is not None and (p.candidates[0] < rng.lo or p.candidates[1] > rng.hi):
        sink.reset()
        p = _Pass(Path(message_csv), Path(orderbook_csv), midnight, strict, rng, None, sink, chunk_rows,
                  make_instrument, meta, keep_orderbook)
        report = p.run()
    log = AnomalyLog(strict=strict)
    if strict and p.first_row_error is not None:
        raise p.first_row_error
    log.merge(p.row_log)
    n_msgs, n_ob = p.lengths
    if n_msgs != n_ob:
        n = p.rows
        longer = str(message_csv) if n_msgs > n_ob else str(orderbook_csv)
        extra = abs(n_msgs - n_ob)
        err = InputError(longer, n + 1, None,
                         f"message file has {n_msgs} rows, orderbook file {n_ob}: every message needs "
                         f"its orderbook row ({extra} rows without a partner dropped)", "row_count_mismatch")
        log.report(err)
        log.count(err.kind, str(err), extra - 1)
    if strict and p.first_sem_error is not None:
        raise p.first_sem_error
    log.merge(p.sem_log)
    return report, log, p.instrument, meta


def read_lobster(message_csv: str | Path, orderbook_csv: str | Path, symbol: str | None = None,
                 date: str | None = None, strict: bool = True) -> IngestResult:
    """Read a LOBSTER pair into a tape (plus the top-N book after every event) that replays to every row.

    Symbol and date come from the message file name unless given; the level
    count N from the orderbook's column count (4N). The whole tape is held in
    memory; :func:`ingest_lobster` streams a pair into the catalog instead.
    """
    res, _ = _read(message_csv, orderbook_csv, symbol, date, strict)
    return res


def _read(message_csv, orderbook_csv, symbol, date, strict, keep_orderbook=False) -> tuple[IngestResult,
                                                                                              _MemorySink]:
    sink = _MemorySink(keep_orderbook)
    report, log, inst, meta = _ingest(message_csv, orderbook_csv, symbol, date, strict, sink,
                                      keep_orderbook=keep_orderbook)
    tape = concat(sink.chunks) if sink.chunks else Tape.from_columns(inst, extra_meta=meta,
                                                                     ts_ns=np.zeros(0, np.int64),
                                                                     kind=np.zeros(0), side=np.zeros(0),
                                                                     price=np.zeros(0), size=np.zeros(0))
    snaps = compute_snapshots(tape, inst.levels) if len(tape) else None
    return IngestResult(tape=tape, snapshots=snaps, anomalies=log, report=report), sink


def ingest_lobster(message_csv: str | Path, orderbook_csv: str | Path, catalog, symbol: str | None = None,
                   date: str | None = None, strict: bool = True, force: bool = False,
                   chunk_rows: int = CHUNK_ROWS):
    """Stream a LOBSTER pair into ``catalog`` (a :class:`~tickreplay.catalog.Catalog`) as the entry
    ``lobster/<symbol>/<date>``, in memory bounded by a chunk and the orders in use, plus the ids of the
    orders the messages took out in full (kept so that a reuse is still an error: 21-43 bytes an id).

    The entry is written atomically: a failed or killed ingest leaves the old entry (or none). Returns
    (the :class:`~tickreplay.catalog.Entry`, the ingest report, the :class:`~tickreplay.errors.AnomalyLog`);
    the stored ``ingest.json`` is the report plus ``anomalies`` and the tape's ``fingerprint``.
    """
    make_instrument, meta, _ = _instrument_and_meta(message_csv, orderbook_csv, symbol, date)
    head = BlockReader(orderbook_csv, False, TICK_SIZE, None)
    head.close()
    levels = head.width // 4
    with catalog.writer("lobster", make_instrument(levels), extra_meta=meta, snapshot_levels=levels,
                        force=force) as w:
        report, log, _, _ = _ingest(message_csv, orderbook_csv, symbol, date, strict, w, chunk_rows)
        w.report = {**report, "anomalies": log.to_dict()}
    return w.entry, report, log


@njit(cache=True)
def _rows_skipping(lv, sc, rec, ht, kind, side, price, size, order_id, start, ends, out, levels):
    """Apply events ``start:ends[-1]`` to the book, skipping (and counting) each it cannot take, with the top
    ``levels`` after event ``ends[r] - 1`` into ``out[r]``; returns the count skipped. A skipped event changes
    nothing (the kernel checks an event before applying it), so this is the replay without those events."""
    j = start
    rejected = 0
    for r in range(ends.shape[0]):
        e = ends[r]
        while j < e:
            status, i, _ = _sb_apply(lv, sc, rec, ht, kind[j:e], side[j:e], price[j:e], size[j:e], order_id[j:e])
            if status == 0:
                j = e
            else:
                rejected += 1
                j += i + 1
        sb_top(lv, sc, levels, out[r])
    return rejected


def _replay_rows(tape: Tape, n_rows: int, levels: int, keep: np.ndarray,
                 chunk_rows: int = CHUNK_ROWS) -> tuple[np.ndarray, int]:
    """Replay ``tape`` (only events where ``keep``) through a fresh book (the compiled kernel, ``chunk_rows``
    source rows a call), skipping events it cannot take.

    Returns the book's top N after the last event of each source row, shape
    (n_rows, 4N), and how many events the book rejected (skipped).
    """
    sel = np.flatnonzero(keep)
    cols = [np.ascontiguousarray(c[sel]) for c in (tape.kind, tape.side, tape.price, tape.size, tape.order_id)]
    kind, price = cols[0], cols[2]
    ends = np.searchsorted(tape.src_row[sel], np.arange(n_rows), side="right")
    out = np.zeros((n_rows, 4 * levels), np.int64)
    book, rejected, j = StreamBook(TICK_SIZE), 0, 0
    for r0 in range(0, n_rows, chunk_rows):
        e = ends[r0:r0 + chunk_rows]
        part = slice(j, int(e[-1]))
        px = price[part][np.isin(kind[part], (_ADD, _PARTIAL, _DELETE, _EXEC, _LEVEL_SET))]
        if len(px):
            book.cover(int(px.min()), int(px.max()))
        book.reserve(int(np.count_nonzero(kind[part] == _ADD)))
        rejected += _rows_skipping(book.lv, book.sc, book.rec, book.ht, *cols, j, e, out[r0:r0 + chunk_rows],
                                   levels)
        j = int(e[-1])
    return out, int(rejected)


def verify_lobster(message_csv: str | Path, orderbook_csv: str | Path, strict: bool = True,
                   symbol: str | None = None, date: str | None = None) -> dict:
    """Ingest a pair, replay the tape through a fresh book (the compiled kernel) and compare every orderbook row.

    ``rows_identical``: rows whose top N after the row's last tape event equals
    the orderbook row (a bad orderbook row in lenient mode never counts).
    ``message_only_rows_disagreeing``: the same replay with the vendor messages
    only (the opening snapshot, no implied corrections; events the book cannot
    take are skipped and counted in ``message_only_rejected_events``; compiled, in chunks of rows).
    ``symbol``/``date`` as for :func:`read_lobster` (default: from the file name).

    Memory: the whole tape and its top N after every event are held (as :func:`read_lobster` does), about
    ``52 + 32 N`` bytes an event, plus the orderbook rows (``32 N`` bytes a row): over 10 GB for a 20 M-message
    day at N = 10 (use a machine that has it, or verify a shorter file). Both replays are compiled, so the time
    is about that of reading the pair."""
    res, sink = _read(message_csv, orderbook_csv, symbol, date, strict, keep_orderbook=True)
    tape, n, levels = res.tape, res.report["rows"], res.report["levels"]
    rows = np.concatenate(sink.rows) if sink.rows else np.zeros((0, 4 * levels), np.int64)
    ok = np.concatenate(sink.ok) if sink.ok else np.zeros(0, bool)
    ends = np.searchsorted(tape.src_row, np.arange(n), side="right") - 1
    full = res.snapshots.as_lobster_rows()[ends] if n else rows
    implied = (tape.flags & FLAG_IMPLIED) != 0
    ends = np.flatnonzero(tape.kind == int(EventKind.SNAPSHOT_END))
    opening = np.arange(len(tape)) <= (ends[0] if len(ends) else -1)
    msg_only, rejected = _replay_rows(tape, n, levels, keep=opening | ~implied)
    return {
        **res.report,
        "rows_identical": int(np.sum(ok & (full == rows).all(axis=1))),
        "message_only_rows_disagreeing": int(np.sum(ok & (msg_only != rows).any(axis=1))),
        "message_only_rejected_events": rejected,
        "anomalies": res.anomalies.to_dict()["counts"],
    }
