"""Reading and validating the two LOBSTER CSV files (no header row, integer fields).

Message file columns: time (seconds after midnight as a decimal string, up to
ns precision), type, order id, size, price (dollars × 10,000), direction.
Orderbook file: 4N integer columns, ask price/size and bid price/size per
level; empty levels are ±9,999,999,999 with size 0 (here: price 0, size 0).

The pair is read together (:func:`read_pair`), because what a plausible
price is depends on both files: every price must lie within a factor of
``PLAUSIBLE_FACTOR`` (50) of the pair's reference price, the median (rounded
down) of every positive price the two files show: message rows of types 1-6
and occupied orderbook levels, of rows whose integers parse (empty levels,
±9,999,999,999, and type-7 rows, whose price is a flag, never count). A
median is robust: corrupted rows cannot move it unless they are half the
data. A price outside (e.g. ``1`` = $0.0001 in a file trading near $220) is
an ``implausible_price`` in field ``price`` (message file) or
``ask_price_j``/``bid_price_j`` (orderbook file), a bad row like any other:
strict mode stops; lenient mode counts it, skips a message row (the
orderbook row's corrections still bring the book to it) and does not use an
orderbook row as a correction target (it counts as a row not reproduced);
see :mod:`tickreplay.adapters.lobster`. A pair with no positive price at all
has no range and no such check.

Readers never raise on a bad row: they return the parsed arrays, a mask of
rows that passed every row-level check, and one :class:`InputError` per bad
row (the first problem of the row, in column order). The caller decides,
through an ``AnomalyLog``, whether to stop (strict) or count and go on.
Only whole-file problems (unreadable, empty, orderbook column count not a
multiple of 4) raise at once.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from tickreplay.errors import InputError

MESSAGE_FIELDS = ("time", "type", "order_id", "size", "price", "direction")
ASK_EMPTY = 9_999_999_999  # LOBSTER's price of an unoccupied ask level
BID_EMPTY = -9_999_999_999  # LOBSTER's price of an unoccupied bid level
NS_PER_S = 1_000_000_000
PLAUSIBLE_FACTOR = 50  # a plausible price lies within 1/50 to 50 times the pair's median price
PRICE_SCALE = 10_000  # LOBSTER prices are dollars × 10,000

_TIME_RE = re.compile(r"(\d+)(?:\.(\d+))?")
_INT_RE = re.compile(r"-?\d+")
_I64 = np.iinfo(np.int64)


def parse_time_ns(text: str) -> tuple[int, bool]:
    """Seconds after midnight as a decimal string → (integer ns, whether digits beyond ns were rounded).

    Exact: no binary float is involved. Digits past the 9th decimal (LOBSTER
    occasionally prints them, e.g. ``43002.632812672004``) round half up.
    Raises ``ValueError`` on anything but ``digits[.digits]``.
    """
    m = _TIME_RE.fullmatch(text)
    if m is None:
        raise ValueError(text)
    whole, frac = m.group(1), m.group(2) or ""
    ns = int(whole) * NS_PER_S + int(frac[:9].ljust(9, "0"))
    extra = frac[9:]
    if extra.strip("0"):
        return ns + (extra[0] >= "5"), True
    return ns, False


@dataclass(frozen=True)
class PriceRange:
    """Plausible prices of a pair, in LOBSTER units (dollars × 10,000): ``lo <= price <= hi``."""

    reference: int  # the median price of the pair, rounded down
    lo: int
    hi: int

    @classmethod
    def around(cls, reference: int) -> "PriceRange":
        """Within a factor ``PLAUSIBLE_FACTOR`` of ``reference``: ``lo`` the smallest price not below reference / 50."""
        return cls(reference, -(-reference // PLAUSIBLE_FACTOR), min(reference * PLAUSIBLE_FACTOR, int(_I64.max)))

    def outside(self, prices: np.ndarray) -> np.ndarray:
        """Mask of ``prices`` outside the range."""
        return (prices < self.lo) | (prices > self.hi)

    def expected(self) -> str:
        """What a plausible price is, for error messages."""
        return (f"expected a plausible price, {self.lo} to {self.hi} (1/{PLAUSIBLE_FACTOR} to {PLAUSIBLE_FACTOR} "
                f"times the pair's median price {self.reference} = ${self.reference / PRICE_SCALE:,.2f}; "
                f"prices are dollars × {PRICE_SCALE:,})")


def plausible_range(prices: list[np.ndarray]) -> PriceRange | None:
    """The :class:`PriceRange` around the median of the positive ``prices``; None when there are none."""
    pool = np.concatenate([p[p > 0] for p in prices])
    return PriceRange.around(int(np.median(pool))) if len(pool) else None


@dataclass(frozen=True)
class Messages:
    """Parsed message rows; ``ok[i]`` is False for rows that failed a check (their values are 0)."""

    path: str
    time_ns: np.ndarray  # ns after local midnight
    type: np.ndarray
    order_id: np.ndarray
    size: np.ndarray
    price: np.ndarray
    direction: np.ndarray
    ok: np.ndarray
    times_rounded: int  # timestamps with digits beyond ns (rounded to the nearest ns)

    def __len__(self) -> int:
        return len(self.type)


@dataclass(frozen=True)
class Orderbook:
    """Parsed orderbook rows, shape (n, 4N), empty levels as (0, 0); ``ok`` as in :class:`Messages`."""

    path: str
    rows: np.ndarray
    ok: np.ndarray

    @property
    def levels(self) -> int:
        return self.rows.shape[1] // 4

    def __len__(self) -> int:
        return self.rows.shape[0]


def orderbook_fields(levels: int) -> list[str]:
    """Column names of a LOBSTER orderbook file of ``levels`` levels, in file order."""
    return [f"{f}_{j}" for j in range(1, levels + 1) for f in ("ask_price", "ask_size", "bid_price", "bid_size")]


# -- raw table reading ---------------------------------------------------------


def _read_bytes(path: Path) -> bytes:
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise InputError(str(path), None, None, f"cannot read file: {e.strerror}", "unreadable") from e
    if not raw.strip():
        raise InputError(str(path), None, None, "file is empty", "empty_file")
    return raw


def _lines(raw: bytes) -> list[str]:
    text = raw.decode("latin-1")
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()
    return [ln[:-1] if ln.endswith("\r") else ln for ln in lines]


def _read_table(path: Path, fields: list[str], time_col: bool) -> tuple[np.ndarray, list[str] | None, np.ndarray, list[InputError]]:
    """Parse a headerless CSV of ``len(fields)`` columns.

    Returns (int64 array (n, k) with column 0 left 0 when ``time_col``, the
    column-0 strings when ``time_col``, row-ok mask, errors). Fast path: the
    pandas C parser; on any failure every line is parsed in Python to say
    exactly which row and field are wrong.
    """
    raw = _read_bytes(path)
    k = len(fields)
    try:
        dtypes = {j: np.int64 for j in range(k)}
        if time_col:
            dtypes[0] = str
        df = pd.read_csv(io.BytesIO(raw), header=None, names=list(range(k)), index_col=False, dtype=dtypes,
                         na_filter=False, skip_blank_lines=False, engine="c", encoding="latin-1")
        n_lines = raw.count(b"\n") + (not raw.endswith(b"\n"))
        commas = np.frombuffer(raw, np.uint8) == ord(",")
        if len(df) != n_lines or int(commas.sum()) != n_lines * (k - 1):
            raise ValueError("column count")
        values = np.zeros((len(df), k), np.int64)
        for j in range(1 if time_col else 0, k):
            values[:, j] = df[j].to_numpy(np.int64)
        times = df[0].astype(str).tolist() if time_col else None
        return values, times, np.ones(len(df), bool), []
    except (ValueError, TypeError, OverflowError, pd.errors.ParserError):
        return _read_table_slow(path, raw, fields, time_col)


def _read_table_slow(path: Path, raw: bytes, fields: list[str], time_col: bool):
    lines = _lines(raw)
    k = len(fields)
    values = np.zeros((len(lines), k), np.int64)
    times: list[str] | None = [] if time_col else None
    ok = np.ones(len(lines), bool)
    errors: list[InputError] = []
    for i, line in enumerate(lines):
        parts = line.split(",")
        if time_col:
            times.append(parts[0])
        if len(parts) != k:
            field = fields[len(parts)] if len(parts) < k else f"column {k + 1}"
            errors.append(InputError(str(path), i + 1, field,
                                     f"{len(parts)} columns, expected {k}", "column_count"))
            ok[i] = False
            continue
        for j in range(1 if time_col else 0, k):
            s = parts[j]
            if _INT_RE.fullmatch(s) is None or not _I64.min <= int(s) <= _I64.max:
                errors.append(InputError(str(path), i + 1, fields[j],
                                         f"expected an integer, got {s!r}", "non_numeric"))
                ok[i] = False
                break
            values[i, j] = int(s)
    values[~ok] = 0
    return values, times, ok, errors


def _first_problems(path: Path, fields: list[str], checks: list[tuple[str, np.ndarray, str]],
                    values: np.ndarray) -> tuple[np.ndarray, list[InputError]]:
    """Turn per-cell check masks into one error per bad row: the leftmost failing cell, first check on ties.

    ``checks``: (kind, bool mask of shape (n, k), expectation text).
    Returns the bad-row mask and the errors in row order.
    """
    if not checks:
        return np.zeros(len(values), bool), []
    stack = np.stack([m for _, m, _ in checks])  # (c, n, k)
    bad_rows = stack.any(axis=(0, 2))
    errors = []
    for r in np.flatnonzero(bad_rows):
        cells = stack[:, r, :]  # (c, k)
        col = int(np.flatnonzero(cells.any(axis=0))[0])
        c = int(np.flatnonzero(cells[:, col])[0])
        kind, _, expected = checks[c]
        errors.append(InputError(str(path), int(r) + 1, fields[col],
                                 f"{expected}, got {int(values[r, col])}", kind))
    return bad_rows, errors


# -- message file --------------------------------------------------------------


@dataclass
class _Table:
    """One file's integers as parsed, before the row checks; ``ok``/``errors`` so far."""

    path: Path
    values: np.ndarray
    ok: np.ndarray
    errors: list[InputError]
    times: list[str] | None = None  # message file: the time column as written
    rounded: int = 0  # message file: times with digits beyond ns

    def prices(self) -> np.ndarray:
        """The prices the plausible range is taken from: types 1-6 / occupied levels of parsed rows."""
        v = self.values[self.ok]
        if self.times is not None:
            return v[(v[:, 1] >= 1) & (v[:, 1] <= 6), 4]
        px = np.concatenate([v[:, 0::4].ravel(), v[:, 2::4].ravel()])
        return px[(px != ASK_EMPTY) & (px != BID_EMPTY)]


def read_pair(message_csv: str | Path, orderbook_csv: str | Path,
              tick_size: int) -> tuple[Messages, list[InputError], Orderbook, list[InputError]]:
    """Parse and check a message file and its orderbook file; see the module docstring.

    Returns each file's rows and its errors in row order; the plausible price
    range is the pair's, from both files' prices.
    """
    m, o = _parse_messages(Path(message_csv)), _parse_orderbook(Path(orderbook_csv))
    price_range = plausible_range([m.prices(), o.prices()])
    msgs, m_err = _check_messages(m, tick_size, price_range)
    ob, o_err = _check_orderbook(o, tick_size, price_range)
    return msgs, m_err, ob, o_err


def _parse_messages(path: Path) -> _Table:
    """Integers of a message file, times as ns after midnight in column 0: 6 columns, integers, times."""
    values, times, ok, errors = _read_table(path, list(MESSAGE_FIELDS), time_col=True)
    rounded = 0
    for i, t in enumerate(times):
        if not ok[i]:
            continue
        try:
            ns, r = parse_time_ns(t)
        except ValueError:
            errors.append(InputError(str(path), i + 1, "time",
                                     f"expected seconds after midnight as a decimal number, got {t!r}", "non_numeric"))
            ok[i] = False
            continue
        values[i, 0] = ns
        rounded += r
    values[~ok] = 0
    return _Table(path, values, ok, errors, times, rounded)


def _check_messages(table: _Table, tick_size: int,
                    price_range: PriceRange | None) -> tuple[Messages, list[InputError]]:
    """Row checks of a parsed message file.

    Time never before the previous good row's; type 1-7; types 1-6:
    direction ±1, size > 0, price > 0 and plausible (types 1-4: on the
    ``tick_size`` grid; hidden and cross prints may be off-grid, e.g.
    midpoint fills); type 7: price -1, 0 or 1.
    """
    path, values, ok, errors, times = table.path, table.values, table.ok, table.errors, table.times
    n = len(values)
    typ, size, price, direction = values[:, 1], values[:, 3], values[:, 4], values[:, 5]
    book_kind = ok & (typ >= 1) & (typ <= 6)
    visible = ok & (typ >= 1) & (typ <= 4)
    halt = ok & (typ == 7)

    def col(j: int, mask: np.ndarray) -> np.ndarray:
        out = np.zeros((n, 6), bool)
        out[:, j] = mask
        return out

    plausible = [] if price_range is None else [
        ("implausible_price", col(4, book_kind & price_range.outside(price)), price_range.expected())]
    row_checks = [
        ("unknown_event_type", col(1, ok & ((typ < 1) | (typ > 7))), "expected an event type 1-7"),
        ("non_positive_size", col(3, book_kind & (size <= 0)), "expected a positive size"),
        ("off_tick_price", col(4, visible & ((price <= 0) | (price % tick_size != 0))),
         f"expected a positive price on the {tick_size} grid"),
        ("off_tick_price", col(4, book_kind & ~visible & (price <= 0)), "expected a positive price"),
        *plausible,
        ("bad_halt_price", col(4, halt & (price != -1) & (price != 0) & (price != 1)),
         "expected -1 (halt), 0 (quote resume) or 1 (resume) for a type-7 row"),
        ("bad_direction", col(5, book_kind & (direction != 1) & (direction != -1)), "expected direction +1 or -1"),
    ]
    bad, more = _first_problems(path, list(MESSAGE_FIELDS), row_checks, values)
    ok &= ~bad
    errors += more

    # time going backwards, judged against the latest time of the good rows before
    t = np.where(ok, values[:, 0], _I64.min)
    prev_max = np.concatenate([[_I64.min], np.maximum.accumulate(t)[:-1]])
    back = ok & (values[:, 0] < prev_max)
    for r in np.flatnonzero(back):
        errors.append(InputError(str(path), int(r) + 1, "time",
                                 f"time {times[r]} is before an earlier row's time", "time_backwards"))
    ok &= ~back
    values[~ok] = 0
    errors.sort(key=lambda e: e.row)
    msgs = Messages(str(path), *(np.ascontiguousarray(values[:, j]) for j in range(6)), ok=ok,
                    times_rounded=table.rounded)
    return msgs, errors


# -- orderbook file ------------------------------------------------------------


def _orderbook_width(path: Path, raw_first_line: bytes) -> int:
    k = raw_first_line.count(b",") + 1
    if k % 4:
        raise InputError(str(path), 1, None,
                         f"{k} columns: an orderbook file needs 4 per level (ask price, ask size, bid price, bid size)",
                         "column_count")
    return k


def _parse_orderbook(path: Path) -> _Table:
    """Integers of an orderbook file: 4N integer columns, N from the first row's column count."""
    raw = _read_bytes(path)
    k = _orderbook_width(path, raw.split(b"\n", 1)[0].rstrip(b"\r"))
    values, _, ok, errors = _read_table(path, orderbook_fields(k // 4), time_col=False)
    return _Table(path, values, ok, errors)


def _check_orderbook(table: _Table, tick_size: int,
                     price_range: PriceRange | None) -> tuple[Orderbook, list[InputError]]:
    """Row checks of a parsed orderbook file.

    Per level an occupied price is positive, on the tick grid and plausible,
    with a positive size, and an empty level has size 0; occupied levels
    come first, asks strictly rising and bids strictly falling; best bid
    below best ask (not crossed).
    """
    path, values, ok, errors = table.path, table.values, table.ok, table.errors
    n, k = values.shape
    fields = orderbook_fields(k // 4)
    ap, asz, bp, bsz = (values[:, j::4] for j in range(4))
    a_empty, b_empty = ap == ASK_EMPTY, bp == BID_EMPTY
    okc = ok[:, None]

    def cells(j: int, mask: np.ndarray) -> np.ndarray:
        out = np.zeros((n, k), bool)
        out[:, j::4] = mask
        return out

    def not_ordered(px: np.ndarray, empty: np.ndarray, sign: int) -> np.ndarray:
        out = np.zeros_like(empty)
        out[:, 1:] = (~empty[:, 1:]) & (empty[:, :-1] | (sign * (px[:, 1:] - px[:, :-1]) <= 0))
        return out

    crossed = np.zeros((n, k), bool)
    crossed[:, 2] = ok & ~a_empty[:, 0] & ~b_empty[:, 0] & (bp[:, 0] >= ap[:, 0])
    plausible = [] if price_range is None else [
        ("implausible_price", cells(0, okc & ~a_empty & price_range.outside(ap)), price_range.expected()),
        ("implausible_price", cells(2, okc & ~b_empty & price_range.outside(bp)), price_range.expected())]
    checks = [
        ("off_tick_price", cells(0, okc & ~a_empty & ((ap <= 0) | (ap % tick_size != 0))),
         f"expected a positive ask price on the {tick_size} grid or {ASK_EMPTY} (empty)"),
        ("non_positive_size", cells(1, okc & ~a_empty & (asz <= 0)), "expected a positive size at an occupied level"),
        ("bad_empty_level", cells(1, okc & a_empty & (asz != 0)), "expected size 0 at an empty level"),
        ("off_tick_price", cells(2, okc & ~b_empty & ((bp <= 0) | (bp % tick_size != 0))),
         f"expected a positive bid price on the {tick_size} grid or {BID_EMPTY} (empty)"),
        ("non_positive_size", cells(3, okc & ~b_empty & (bsz <= 0)), "expected a positive size at an occupied level"),
        ("bad_empty_level", cells(3, okc & b_empty & (bsz != 0)), "expected size 0 at an empty level"),
        ("unordered_levels", cells(0, okc & not_ordered(ap, a_empty, 1)),
         "expected ask prices strictly rising, empty levels last"),
        ("unordered_levels", cells(2, okc & not_ordered(bp, b_empty, -1)),
         "expected bid prices strictly falling, empty levels last"),
        ("crossed_book", crossed, "expected the best bid below the best ask"),
        *plausible,
    ]
    bad, more = _first_problems(path, fields, checks, values)
    ok &= ~bad
    errors += more
    errors.sort(key=lambda e: e.row)
    rows = values.copy()
    rows[:, 0::4][a_empty] = 0
    rows[:, 2::4][b_empty] = 0
    rows[~ok] = 0
    return Orderbook(str(path), rows, ok), errors
