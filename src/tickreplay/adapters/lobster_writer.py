"""Write a tape as a LOBSTER message/orderbook CSV pair.

The format follows ``LOBSTER_SampleFiles_ReadMe.txt``: no header; message
columns are time (seconds after midnight in the instrument's time zone, 9
decimals), type, order id, size, price (venue units: dollars × 10,000 for a
price scale of 10,000), direction (+1 buy / -1 sell resting order). Row *i*
of the orderbook file is the top ``levels`` book after message *i*: ask
price, ask size, bid price, bid size per level; empty levels are
9999999999 (ask) / -9999999999 (bid) with size 0.

Unlike a real LOBSTER file, which only holds messages inside the requested
top-N price window, this writer writes **every** tape event (a full-depth
message file); the orderbook rows are still the top ``levels`` only.

Two ways to write: :func:`write_lobster` takes a whole tape (its book comes
from :func:`tickreplay.book.fast.compute_snapshots`, the L3Book semantics);
:class:`LobsterWriter` takes events chunk by chunk and carries the book from
one chunk to the next, so a day of any length is written in memory bounded
by its price grid and the chunk. Its book adds and removes visible size per
price level, which equals the L3 book for a consistent L3 tape (every
removal takes size an order rests with at that price), as generated tapes
are; a removal of more than the level holds is an error. Both give the same
bytes for such a tape. Numbers are formatted by compiled kernels.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import ExitStack
from datetime import date as Date, datetime
from pathlib import Path
from types import TracebackType
from typing import BinaryIO
from zoneinfo import ZoneInfo

import numpy as np
from numba import njit

from tickreplay.io import atomic_path
from tickreplay.tape import EventKind, Instrument, Tape
from tickreplay.tape import K_ADD, K_DELETE, K_EXECUTE_VISIBLE, K_PARTIAL_CANCEL

EMPTY_ASK = 9_999_999_999
EMPTY_BID = -9_999_999_999
_LOBSTER_TYPES = {int(k) for k in (EventKind.ADD, EventKind.PARTIAL_CANCEL, EventKind.DELETE,
                                   EventKind.EXECUTE_VISIBLE, EventKind.EXECUTE_HIDDEN, EventKind.CROSS_TRADE)}
# halt messages are type 7 with price -1 (halt), 0 (quoting resumes), 1 (trading resumes)
_HALT_PRICE = {int(EventKind.HALT): -1, int(EventKind.QUOTE_RESUME): 0, int(EventKind.RESUME): 1}
_KNOWN_KINDS = np.array(sorted(_LOBSTER_TYPES | set(_HALT_PRICE)), np.int64)

MAX_GRID_LEVELS = 1 << 25  # largest price grid (levels per side) the chunked book allocates
BUFFER_BYTES = 1 << 23  # text buffer the kernels format into, bytes
BOOK_BLOCK_ROWS = 1 << 15  # orderbook rows computed at a time
_INT_CHARS = 21  # the longest int64 text (sign and 19 digits) and a separator
_MESSAGE_CHARS = 7 * _INT_CHARS  # the longest message line

# status codes of the chunked book kernel
_OK, _ERR_SIDE, _ERR_PRICE, _ERR_SIZE, _ERR_REMOVE = range(5)


def lobster_file_names(source: Tape | Instrument, levels: int, start_s: int, end_s: int) -> tuple[str, str]:
    """LOBSTER's names: ``TICKER_DATE_STARTMS_ENDMS_{message,orderbook}_LEVELS.csv`` (of a tape or instrument)."""
    inst = source.instrument if isinstance(source, Tape) else source
    stem = f"{inst.symbol}_{inst.date}_{start_s * 1000}_{end_s * 1000}"
    return f"{stem}_message_{levels}.csv", f"{stem}_orderbook_{levels}.csv"


def midnight_ns(inst: Instrument) -> int:
    """Midnight of the instrument's date in its time zone, int ns since the UTC epoch."""
    day = Date.fromisoformat(inst.date)
    return int(datetime(day.year, day.month, day.day, tzinfo=ZoneInfo(inst.timezone)).timestamp()) * 1_000_000_000


def seconds_after_midnight_ns(tape: Tape) -> np.ndarray:
    """Event times as int64 ns after midnight of the tape's date in its time zone."""
    return tape.ts_ns - midnight_ns(tape.instrument)


# --------------------------------------------------------------------------- text kernels


@njit(cache=True)
def _put_int(buf, pos, v):
    """Write ``v`` in decimal at ``buf[pos:]``; return the position after it."""
    if v < 0:
        buf[pos] = 45  # '-'
        pos += 1
        v = -v
    n = 1
    t = v // 10
    while t > 0:
        t //= 10
        n += 1
    end = pos + n
    for j in range(end - 1, pos - 1, -1):
        buf[j] = 48 + v % 10
        v //= 10
    return end


@njit(cache=True)
def _format_messages(t_ns, msg_type, oid, size, price, direction, start, buf):
    """Message lines from row ``start`` into ``buf`` while they surely fit; return (next row, bytes written)."""
    pos = 0
    i = start
    cap = buf.shape[0] - _MESSAGE_CHARS
    while i < t_ns.shape[0] and pos <= cap:
        secs = t_ns[i] // 1_000_000_000
        frac = t_ns[i] - secs * 1_000_000_000
        pos = _put_int(buf, pos, secs)
        buf[pos] = 46  # '.'
        for j in range(pos + 9, pos, -1):
            buf[j] = 48 + frac % 10
            frac //= 10
        pos += 10
        for col in (msg_type, oid, size, price, direction):
            buf[pos] = 44  # ','
            pos = _put_int(buf, pos + 1, col[i])
        buf[pos] = 10  # '\n'
        pos += 1
        i += 1
    return i, pos


@njit(cache=True)
def _format_rows(rows, start, buf):
    """Comma-separated lines of ``rows`` from row ``start`` into ``buf`` while they surely fit;
    return (next row, bytes written)."""
    pos = 0
    i = start
    ncol = rows.shape[1]
    cap = buf.shape[0] - _INT_CHARS * ncol
    prev = -1  # where the previous line starts in buf (-1: not in this call)
    while i < rows.shape[0] and pos <= cap:
        same = prev >= 0
        if same:
            for c in range(ncol):
                if rows[i, c] != rows[i - 1, c]:
                    same = False
                    break
        line = pos
        if same:  # an event below the top levels: copy the previous line
            for j in range(prev, line):
                buf[pos] = buf[j]
                pos += 1
        else:
            for c in range(ncol):
                pos = _put_int(buf, pos, rows[i, c])
                buf[pos] = 44 if c < ncol - 1 else 10
                pos += 1
        prev = line
        i += 1
    return i, pos


def _write_text(f: BinaryIO, kernel: Callable[..., tuple[int, int]], arrays: tuple[np.ndarray, ...],
                buf: np.ndarray) -> None:
    """Format every row of ``arrays`` with ``kernel`` through ``buf`` into ``f``."""
    n = len(arrays[0])
    i = 0
    while i < n:
        i, used = kernel(*arrays, i, buf)
        f.write(memoryview(buf)[:used])


# --------------------------------------------------------------------------- messages


def _message_columns(ts_ns: np.ndarray, kind: np.ndarray, side: np.ndarray, price: np.ndarray, size: np.ndarray,
                     order_id: np.ndarray, midnight: int, date: str,
                     first: int = 0) -> tuple[np.ndarray, ...]:
    """(time after midnight ns, type, order id, size, price, direction) of LOBSTER message rows.

    ``first`` is the index of the first event in the whole tape (for errors).
    Raises ``ValueError`` for kinds LOBSTER has no message type for and events before midnight.
    """
    kinds = kind.astype(np.int64)
    bad = ~np.isin(kinds, _KNOWN_KINDS)
    if bad.any():
        i = int(np.argmax(bad))
        raise ValueError(f"tape event {first + i} has kind {EventKind(kinds[i]).name}, "
                         "which LOBSTER has no message for")
    t_ns = ts_ns.astype(np.int64) - midnight
    if len(t_ns) and t_ns.min() < 0:
        i = int(np.argmax(t_ns < 0))
        raise ValueError(f"tape event {first + i} is before midnight of {date}")
    halt = np.isin(kinds, list(_HALT_PRICE))
    msg_type = np.where(halt, 7, kinds)
    price = price.astype(np.int64)
    direction = side.astype(np.int64)
    size = size.astype(np.int64)
    oid = order_id.astype(np.int64)
    if halt.any():
        price, size, oid = price.copy(), size.copy(), oid.copy()
        price[halt] = [_HALT_PRICE[k] for k in kinds[halt]]
        direction[halt], size[halt], oid[halt] = -1, 0, 0
    return t_ns, msg_type, oid, size, price, direction


def _empty_filled(rows: np.ndarray) -> np.ndarray:
    """LOBSTER's empty-level prices where a level's size is 0 (in place)."""
    rows[:, 0::4][rows[:, 1::4] == 0] = EMPTY_ASK
    rows[:, 2::4][rows[:, 3::4] == 0] = EMPTY_BID
    return rows


def write_lobster(tape: Tape, message_csv: str | Path, orderbook_csv: str | Path, levels: int) -> None:
    """Write ``tape`` as a LOBSTER pair with ``levels`` orderbook levels (files written atomically).

    The book is the L3 replay of the whole tape, held in memory (``levels``
    × 4 int64 per event); for a long day use :class:`LobsterWriter`.
    Raises ``ValueError`` for event kinds LOBSTER has no message type for
    (L2 level sets, trade prints, snapshots) and for events before midnight
    of the tape's date.
    """
    from tickreplay.book.fast import compute_snapshots

    if levels < 1:
        raise ValueError(f"levels = {levels}: expected at least 1")
    inst = tape.instrument
    msg = _message_columns(tape.ts_ns, tape.kind, tape.side, tape.price, tape.size, tape.order_id,
                           midnight_ns(inst), inst.date)
    buf = np.empty(BUFFER_BYTES, np.uint8)
    with atomic_path(message_csv) as tmp, open(tmp, "wb") as f:
        _write_text(f, _format_messages, msg, buf)

    snaps = compute_snapshots(tape, levels)
    with atomic_path(orderbook_csv) as tmp, open(tmp, "wb") as f:
        for lo in range(0, len(tape), BOOK_BLOCK_ROWS):
            hi = min(lo + BOOK_BLOCK_ROWS, len(tape))
            rows = np.empty((hi - lo, 4 * levels), np.int64)
            rows[:, 0::4], rows[:, 1::4] = snaps.ask_price[lo:hi], snaps.ask_size[lo:hi]
            rows[:, 2::4], rows[:, 3::4] = snaps.bid_price[lo:hi], snaps.bid_size[lo:hi]
            _write_text(f, _format_rows, (_empty_filled(rows),), buf)


# --------------------------------------------------------------------------- the book carried between chunks


@njit(cache=True)
def _write_side(vol, best, count, s, levels, pmin, tick, rows, i):
    """Top ``levels`` of side ``s`` (0 bids, 1 asks) into row ``i`` of LOBSTER's layout (empty levels filled)."""
    col = 0 if s == 1 else 2
    n = min(levels, count[s])
    step = -1 if s == 0 else 1
    j = best[s]
    found = 0
    while found < n:
        q = vol[s, j]
        if q > 0:
            rows[i, 4 * found + col] = pmin + j * tick
            rows[i, 4 * found + col + 1] = q
            found += 1
        j += step
    empty = -9_999_999_999 if s == 0 else 9_999_999_999
    for f in range(found, levels):
        rows[i, 4 * f + col] = empty
        rows[i, 4 * f + col + 1] = 0


@njit(cache=True)
def _apply_levels(kind, side, price, size, pmin, tick, vol, best, count, levels, rows):
    """Apply events to the per-level book (``vol``: side row 0 bids / 1 asks × price grid, ``best``: best grid
    index per side, ``count``: occupied levels per side) and write the top ``levels`` after each into ``rows``.

    Returns (status, event index, level size) — status ``_OK`` or the first error.
    """
    g = vol.shape[1]
    for i in range(kind.shape[0]):
        k = kind[i]
        if k == K_ADD or k == K_PARTIAL_CANCEL or k == K_DELETE or k == K_EXECUTE_VISIBLE:
            sd = side[i]
            if sd != 1 and sd != -1:
                return _ERR_SIDE, i, 0
            off = price[i] - pmin
            if off < 0 or off % tick != 0 or off // tick >= g:
                return _ERR_PRICE, i, 0
            q = size[i]
            if q <= 0:
                return _ERR_SIZE, i, 0
            s = 0 if sd == 1 else 1
            j = off // tick
            if k == K_ADD:
                if vol[s, j] == 0:
                    count[s] += 1
                    if count[s] == 1 or (s == 0 and j > best[0]) or (s == 1 and j < best[1]):
                        best[s] = j
                vol[s, j] += q
            else:
                if q > vol[s, j]:
                    return _ERR_REMOVE, i, vol[s, j]
                vol[s, j] -= q
                if vol[s, j] == 0:
                    count[s] -= 1
                    if count[s] > 0 and j == best[s]:
                        step = -1 if s == 0 else 1
                        jj = j + step
                        while vol[s, jj] == 0:
                            jj += step
                        best[s] = jj
        _write_side(vol, best, count, 1, levels, pmin, tick, rows, i)
        _write_side(vol, best, count, 0, levels, pmin, tick, rows, i)
    return _OK, -1, 0


class LobsterWriter:
    """Write a LOBSTER pair from events given chunk by chunk, the book carried between chunks.

    ``price_bounds``: the lowest and highest price (venue units) any event
    can have; the book is a dense grid of ticks over that range. Use as a
    context manager: the files appear (atomically) when the block ends
    without an exception; otherwise nothing is left behind. Memory: the
    price grid (2 × 8 bytes per tick) plus the chunk given to :meth:`write`.
    """

    def __init__(self, message_csv: str | Path, orderbook_csv: str | Path, levels: int, instrument: Instrument,
                 price_bounds: tuple[int, int]) -> None:
        if levels < 1:
            raise ValueError(f"levels = {levels}: expected at least 1")
        tick = int(instrument.tick_size)
        if tick <= 0:
            raise ValueError(f"instrument {instrument.symbol}: tick_size must be positive, got {tick}")
        lo, hi = (int(x) for x in price_bounds)
        self._pmin = lo - lo % tick
        grid = (hi - self._pmin) // tick + 1
        if not 0 < grid <= MAX_GRID_LEVELS:
            raise ValueError(f"price bounds {lo}..{hi} span {grid} ticks of {tick}: expected 1 to {MAX_GRID_LEVELS}")
        self.paths = Path(message_csv), Path(orderbook_csv)
        self.levels = levels
        self.instrument = instrument
        self.rows = 0  # events written so far
        self._tick = tick
        self._midnight = midnight_ns(instrument)
        self._vol = np.zeros((2, grid), np.int64)
        self._best = np.array([-1, grid], np.int64)
        self._count = np.zeros(2, np.int64)
        self._book_rows = np.empty((BOOK_BLOCK_ROWS, 4 * levels), np.int64)
        self._buf = np.empty(BUFFER_BYTES, np.uint8)
        self._stack: ExitStack | None = None
        self._files: tuple[BinaryIO, BinaryIO] | None = None

    def __enter__(self) -> "LobsterWriter":
        with ExitStack() as stack:
            tmps = [stack.enter_context(atomic_path(p)) for p in self.paths]
            self._files = tuple(stack.enter_context(open(t, "wb")) for t in tmps)  # type: ignore[assignment]
            self._stack = stack.pop_all()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> bool | None:
        stack, self._stack, self._files = self._stack, None, None
        return stack.__exit__(exc_type, exc, tb) if stack is not None else None

    def write(self, ts_ns: np.ndarray, kind: np.ndarray, side: np.ndarray, price: np.ndarray, size: np.ndarray,
              order_id: np.ndarray) -> None:
        """Append events (tape columns, in time order) to both files.

        Raises ``ValueError`` naming the event's index in the whole tape for a
        kind LOBSTER has no message for, an event before midnight, a price off
        the tick grid or outside ``price_bounds``, a side other than ±1, a
        non-positive size, or a removal of more than its level holds.
        """
        if self._files is None:
            raise RuntimeError("LobsterWriter.write outside its with-block")
        msg_f, book_f = self._files
        inst = self.instrument
        msg = _message_columns(ts_ns, kind, side, price, size, order_id, self._midnight, inst.date, self.rows)
        n = len(msg[0])
        kinds, sides = np.asarray(kind, np.int64), np.asarray(side, np.int64)
        prices, sizes = np.asarray(price, np.int64), np.asarray(size, np.int64)
        for lo in range(0, n, BOOK_BLOCK_ROWS):
            hi = min(lo + BOOK_BLOCK_ROWS, n)
            rows = self._book_rows[:hi - lo]
            status, i, have = _apply_levels(kinds[lo:hi], sides[lo:hi], prices[lo:hi], sizes[lo:hi], self._pmin,
                                            self._tick, self._vol, self._best, self._count, self.levels, rows)
            if status != _OK:
                raise ValueError(self._describe(status, self.rows + lo + i, int(kind[lo + i]), int(sides[lo + i]),
                                                int(prices[lo + i]), int(sizes[lo + i]), int(have)))
            _write_text(book_f, _format_rows, (rows,), self._buf)
        _write_text(msg_f, _format_messages, msg, self._buf)
        self.rows += n

    def _describe(self, status: int, i: int, kind: int, side: int, price: int, size: int, have: int) -> str:
        where = f"{self.paths[1].name}: tape event {i} ({EventKind(kind).name})"
        return where + ": " + {
            _ERR_SIDE: f"side {side}, expected +1 or -1",
            _ERR_PRICE: f"price {price} is off the tick grid of {self._tick} from {self._pmin} or outside the "
                        f"price bounds given",
            _ERR_SIZE: f"non-positive size {size}",
            _ERR_REMOVE: f"removes {size} at side {side} price {price}, where the book holds {have}",
        }[status]
