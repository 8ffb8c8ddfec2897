"""Reading and validating the two LOBSTER CSV files (no header row, integer fields).

Message file columns: time (seconds after midnight as a decimal string, up to
ns precision), type, order id, size, price (dollars × 10,000), direction.
Orderbook file: 4N integer columns, ask price/size and bid price/size per
level; empty levels are ±9,999,999,999 with size 0 (here: price 0, size 0).

Both files are read in blocks of whole lines (:class:`BlockReader`); what a
plausible price is depends on both whole files: every price must lie within a factor of
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
has no range and no such check. The median is counted exactly while the
files stream (:class:`PriceCounts`); a reader that does not know the range
yet skips that check, and the caller reads the pair again with the range
only when some price lies outside it.

Readers never raise on a bad row: each :class:`Block` holds the parsed arrays,
a mask of rows that passed every row-level check, and one :class:`InputError` per bad
row (the first problem of the row, in column order). The caller decides,
through an ``AnomalyLog``, whether to stop (strict) or count and go on.
Only whole-file problems (unreadable, empty, orderbook column count not a
multiple of 4) raise at once.
"""

from __future__ import annotations

import mmap
import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numba import njit

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


def orderbook_fields(levels: int) -> list[str]:
    """Column names of a LOBSTER orderbook file of ``levels`` levels, in file order."""
    return [f"{f}_{j}" for j in range(1, levels + 1) for f in ("ask_price", "ask_size", "bid_price", "bid_size")]


# -- row checks (numpy: what each check says) ---------------------------------


def _first_problems(path: Path, fields: list[str], checks: list[tuple[str, np.ndarray, str]],
                    values: np.ndarray, rows: np.ndarray) -> list[InputError]:
    """Turn per-cell check masks into one error per bad row: the leftmost failing cell, first check on ties.

    ``checks``: (kind, bool mask of shape (n, k), expectation text); ``rows``: the 0-based file row of each.
    Returns the errors in row order.
    """
    stack = np.stack([m for _, m, _ in checks])  # (c, n, k)
    bad_rows = stack.any(axis=(0, 2))
    errors = []
    for r in np.flatnonzero(bad_rows):
        cells = stack[:, r, :]  # (c, k)
        col = int(np.flatnonzero(cells.any(axis=0))[0])
        c = int(np.flatnonzero(cells[:, col])[0])
        kind, _, expected = checks[c]
        errors.append(InputError(str(path), int(rows[r]) + 1, fields[col],
                                 f"{expected}, got {int(values[r, col])}", kind))
    return errors


def _message_errors(path: Path, values: np.ndarray, rows: np.ndarray, tick_size: int,
                    price_range: PriceRange | None) -> list[InputError]:
    """The errors of parsed message rows ``values`` (file rows ``rows``, 0-based); time order is checked apart.

    Type 1-7; types 1-6: direction ±1, size > 0, price > 0 and plausible (types 1-4: on the
    ``tick_size`` grid; hidden and cross prints may be off-grid, e.g. midpoint fills); type 7: price -1, 0 or 1.
    """
    n = len(values)
    typ, size, price, direction = values[:, 1], values[:, 3], values[:, 4], values[:, 5]
    book_kind = (typ >= 1) & (typ <= 6)
    visible = (typ >= 1) & (typ <= 4)
    halt = typ == 7

    def col(j: int, mask: np.ndarray) -> np.ndarray:
        out = np.zeros((n, 6), bool)
        out[:, j] = mask
        return out

    plausible = [] if price_range is None else [
        ("implausible_price", col(4, book_kind & price_range.outside(price)), price_range.expected())]
    row_checks = [
        ("unknown_event_type", col(1, (typ < 1) | (typ > 7)), "expected an event type 1-7"),
        ("non_positive_size", col(3, book_kind & (size <= 0)), "expected a positive size"),
        ("off_tick_price", col(4, visible & ((price <= 0) | (price % tick_size != 0))),
         f"expected a positive price on the {tick_size} grid"),
        ("off_tick_price", col(4, book_kind & ~visible & (price <= 0)), "expected a positive price"),
        *plausible,
        ("bad_halt_price", col(4, halt & (price != -1) & (price != 0) & (price != 1)),
         "expected -1 (halt), 0 (quote resume) or 1 (resume) for a type-7 row"),
        ("bad_direction", col(5, book_kind & (direction != 1) & (direction != -1)), "expected direction +1 or -1"),
    ]
    return _first_problems(path, list(MESSAGE_FIELDS), row_checks, values, rows)


# -- orderbook file ------------------------------------------------------------


def _orderbook_width(path: Path, raw_first_line: bytes) -> int:
    k = raw_first_line.count(b",") + 1
    if k % 4:
        raise InputError(str(path), 1, None,
                         f"{k} columns: an orderbook file needs 4 per level (ask price, ask size, bid price, bid size)",
                         "column_count")
    return k


def _orderbook_errors(path: Path, values: np.ndarray, rows: np.ndarray, tick_size: int,
                      price_range: PriceRange | None) -> list[InputError]:
    """The errors of parsed orderbook rows ``values`` (file rows ``rows``, 0-based).

    Per level an occupied price is positive, on the tick grid and plausible,
    with a positive size, and an empty level has size 0; occupied levels
    come first, asks strictly rising and bids strictly falling; best bid
    below best ask (not crossed).
    """
    n, k = values.shape
    fields = orderbook_fields(k // 4)
    ap, asz, bp, bsz = (values[:, j::4] for j in range(4))
    a_empty, b_empty = ap == ASK_EMPTY, bp == BID_EMPTY

    def cells(j: int, mask: np.ndarray) -> np.ndarray:
        out = np.zeros((n, k), bool)
        out[:, j::4] = mask
        return out

    def not_ordered(px: np.ndarray, empty: np.ndarray, sign: int) -> np.ndarray:
        out = np.zeros_like(empty)
        out[:, 1:] = (~empty[:, 1:]) & (empty[:, :-1] | (sign * (px[:, 1:] - px[:, :-1]) <= 0))
        return out

    crossed = np.zeros((n, k), bool)
    crossed[:, 2] = ~a_empty[:, 0] & ~b_empty[:, 0] & (bp[:, 0] >= ap[:, 0])
    plausible = [] if price_range is None else [
        ("implausible_price", cells(0, ~a_empty & price_range.outside(ap)), price_range.expected()),
        ("implausible_price", cells(2, ~b_empty & price_range.outside(bp)), price_range.expected())]
    checks = [
        ("off_tick_price", cells(0, ~a_empty & ((ap <= 0) | (ap % tick_size != 0))),
         f"expected a positive ask price on the {tick_size} grid or {ASK_EMPTY} (empty)"),
        ("non_positive_size", cells(1, ~a_empty & (asz <= 0)), "expected a positive size at an occupied level"),
        ("bad_empty_level", cells(1, a_empty & (asz != 0)), "expected size 0 at an empty level"),
        ("off_tick_price", cells(2, ~b_empty & ((bp <= 0) | (bp % tick_size != 0))),
         f"expected a positive bid price on the {tick_size} grid or {BID_EMPTY} (empty)"),
        ("non_positive_size", cells(3, ~b_empty & (bsz <= 0)), "expected a positive size at an occupied level"),
        ("bad_empty_level", cells(3, b_empty & (bsz != 0)), "expected size 0 at an empty level"),
        ("unordered_levels", cells(0, not_ordered(ap, a_empty, 1)),
         "expected ask prices strictly rising, empty levels last"),
        ("unordered_levels", cells(2, not_ordered(bp, b_empty, -1)),
         "expected bid prices strictly falling, empty levels last"),
        ("crossed_book", crossed, "expected the best bid below the best ask"),
        *plausible,
    ]
    return _first_problems(path, fields, checks, values, rows)


# -- streaming: the same rows and errors, block by block ------------------------
#
# A file is read in blocks of whole lines, parsed in place from a memory-mapped window of it into reused arrays. A compiled
# parser takes every line that is plainly well formed (k fields of -?digits, at most 18 digits; the message time
# digits[.digits]) in one pass over its bytes; any other line goes through the Python reading above, which says
# what is wrong. One more compiled pass per block runs every row check, counts the prices for the plausible
# range and blanks empty orderbook levels; the errors of the rows it flags come from the numpy checks above, so
# the rows, masks and messages are those of the whole-file reader.

BLOCK_VALUES = 1 << 22  # int64 values parsed per block (rows: this / columns); the arrays are reused
WINDOW_BYTES = 1 << 24  # bytes of the file mapped at a time (read in place: no copy into a buffer)
_HIST_SPAN = 1 << 22  # price units counted densely around the first block's prices (the rest: a dict)
_OUTLIERS = 1 << 12  # room for prices outside the dense span per block (more: a second, collecting pass)


@njit(cache=True)
def _parse_lines(buf, pos, stop, final, ncols, time_col, base, r, r_cap, vals, ok, starts, ends):
    """Parse whole lines of ``buf[pos:stop]`` into rows ``r..r_cap - 1`` (what :func:`_parse_lines_checked`
    does, with the same results): the lines before the last newline of ``buf[:stop]`` that are plainly well
    formed go through :func:`_plain_lines`, any other line through :func:`_parse_lines_checked`.

    Returns (rows, position, lines not taken, times rounded).
    """
    safe = stop  # buf[safe - 1] is a newline: a scan of digits before it cannot run past it
    while safe > pos and buf[safe - 1] != 10:
        safe -= 1
    n_slow = 0
    n_rnd = 0
    while r < r_cap and pos < stop:
        if pos < safe:
            r, pos, rn = _plain_lines(buf, pos, safe, ncols, time_col, base, r, r_cap, vals, ok, starts, ends)
            n_rnd += rn
            if r == r_cap or pos >= stop:
                break
        r1, pos, s, rn = _parse_lines_checked(buf, pos, stop, final, ncols, time_col, base, r, r + 1, vals, ok,
                                              starts, ends)
        n_slow += s
        n_rnd += rn
        if r1 == r:  # a line the buffer does not hold whole
            break
        r = r1
    return r, pos, n_slow, n_rnd


@njit(cache=True)
def _plain_lines(buf, pos, safe, ncols, time_col, base, r, r_cap, vals, ok, starts, ends):
    """The plainly well formed lines from ``buf[pos]`` on (``buf[safe - 1]`` is a newline, so no read needs a
    bounds check), as :func:`_parse_lines_checked` reads them; stops at the first other line (or ``safe``).

    Returns (rows, position, times rounded).
    """
    n_rnd = 0
    while r < r_cap and pos < safe:
        p = pos
        good = True
        rnd = False
        for c in range(ncols):
            if time_col and c == 0:
                whole = np.int64(0)
                nd = 0
                d = buf[p]
                while 48 <= d <= 57:
                    whole = whole * 10 + (d - 48)
                    nd += 1
                    p += 1
                    d = buf[p]
                if nd == 0 or nd > 9:
                    good = False
                    break
                frac = np.int64(0)
                if buf[p] == 46:
                    p += 1
                    nf = 0
                    extra_nonzero = False
                    up = False
                    d = buf[p]
                    while 48 <= d <= 57:
                        if nf < 9:
                            frac = frac * 10 + (d - 48)
                        else:
                            if nf == 9:
                                up = d >= 53
                            if d != 48:
                                extra_nonzero = True
                        nf += 1
                        p += 1
                        d = buf[p]
                    if nf == 0:
                        good = False
                        break
                    for _ in range(nf, 9):
                        frac *= 10
                    if extra_nonzero:
                        rnd = True
                        if up:
                            frac += 1
                vals[r, 0] = whole * 1_000_000_000 + frac
            else:
                neg = buf[p] == 45
                if neg:
                    p += 1
                v = np.int64(0)
                q0 = p
                d = buf[p]
                while 48 <= d <= 57:
                    v = v * 10 + (d - 48)
                    p += 1
                    d = buf[p]
                nd = p - q0
                if nd == 0 or nd > 18:
                    good = False
                    break
                vals[r, c] = -v if neg else v
            if c < ncols - 1:
                if buf[p] == 44:
                    p += 1
                else:
                    good = False
                    break
        if not good:
            break
        q = p + 1 if buf[p] == 13 else p
        if buf[q] != 10:
            break
        end = q - 1 if q > pos and buf[q - 1] == 13 else q
        starts[r] = base + pos
        ends[r] = base + end
        ok[r] = True
        if rnd:
            n_rnd += 1
        r += 1
        pos = q + 1
    return r, pos, n_rnd


@njit(cache=True)
def _parse_lines_checked(buf, pos, stop, final, ncols, time_col, base, r, r_cap, vals, ok, starts, ends):
    """Parse whole lines of ``buf[pos:stop]`` into rows ``r..r_cap - 1``; a line not plainly well formed gets
    ok False (Python looks at it). ``base``: the file offset of ``buf[0]``; ``starts``/``ends``: each row's
    line as file offsets (trailing CR left out). Time (column 0 when ``time_col``): ns after midnight, digits
    beyond the 9th decimal rounded half up. Stops before a line ``buf`` does not hold whole (unless ``final``).

    Returns (rows, position, lines not taken, times rounded).
    """
    n_slow = 0
    n_rnd = 0
    while r < r_cap and pos < stop:
        p = pos
        good = True
        rnd = False
        for c in range(ncols):
            if time_col and c == 0:
                whole = np.int64(0)
                nd = 0
                while p < stop and 48 <= buf[p] <= 57:
                    whole = whole * 10 + (buf[p] - 48)
                    nd += 1
                    p += 1
                if nd == 0 or nd > 9:
                    good = False
                    break
                frac = np.int64(0)
                if p < stop and buf[p] == 46:
                    p += 1
                    nf = 0
                    extra_nonzero = False
                    up = False
                    while p < stop and 48 <= buf[p] <= 57:
                        d = buf[p] - 48
                        if nf < 9:
                            frac = frac * 10 + d
                        else:
                            if nf == 9:
                                up = d >= 5
                            if d != 0:
                                extra_nonzero = True
                        nf += 1
                        p += 1
                    if nf == 0:
                        good = False
                        break
                    for _ in range(nf, 9):
                        frac *= 10
                    if extra_nonzero:
                        rnd = True
                        if up:
                            frac += 1
                vals[r, 0] = whole * 1_000_000_000 + frac
            else:
                neg = False
                if p < stop and buf[p] == 45:
                    neg = True
                    p += 1
                v = np.int64(0)
                nd = 0
                while p < stop and 48 <= buf[p] <= 57:
                    v = v * 10 + (buf[p] - 48)
                    nd += 1
                    p += 1
                if nd == 0 or nd > 18:
                    good = False
                    break
                vals[r, c] = -v if neg else v
            if c < ncols - 1:
                if p < stop and buf[p] == 44:
                    p += 1
                else:
                    good = False
                    break
        eol = -1  # index of the line's end (its newline, or the buffer's end)
        if good:
            q = p + 1 if p < stop and buf[p] == 13 else p
            if q < stop and buf[q] == 10:
                eol = q
            elif q == stop:
                if not final:
                    break
                eol = stop
            else:
                good = False
        if not good:
            e = p
            while e < stop and buf[e] != 10:
                e += 1
            if e == stop and not final:
                break
            eol = e
            for c in range(ncols):
                vals[r, c] = 0
            n_slow += 1
        end = eol
        if end > pos and buf[end - 1] == 13:
            end -= 1
        starts[r] = base + pos
        ends[r] = base + end
        ok[r] = good
        if good and rnd:
            n_rnd += 1
        r += 1
        pos = eol + 1 if eol < stop else stop
    return r, pos, n_slow, n_rnd


@njit(cache=True)
def _check_messages(v, ok, n, tick, has_range, lo, hi, prev_max, counting, base, counts, outl, flag):
    """Row checks of message rows ``0..n-1`` (parsed rows only, those that passed are ``ok``); ``flag`` 1: a
    check of :func:`_message_errors` failed, 2: the time is before an earlier ok row's (both: ok set False).
    Counts the prices of types 1-6 (when ``counting``) before the checks, as the whole-file reader does.

    Returns (rows flagged, latest time, smallest and largest candidate price, outliers of the count).
    """
    n_flag = 0
    span = counts.shape[0]
    c_lo = np.int64(np.iinfo(np.int64).max)
    c_hi = np.int64(np.iinfo(np.int64).min)
    n_out = 0
    for i in range(n):
        flag[i] = 0
        if not ok[i]:
            continue
        t, q, p, d = v[i, 1], v[i, 3], v[i, 4], v[i, 5]
        if 1 <= t <= 6:
            c_lo = min(c_lo, p)
            c_hi = max(c_hi, p)
            if counting and p > 0:  # the price counts (inline: a call per price costs more than the count)
                if 0 <= p - base < span:
                    counts[p - base] += 1
                else:
                    if n_out < outl.shape[0]:
                        outl[n_out] = p
                    n_out += 1
        if t < 1 or t > 7:
            b = True
        elif t == 7:
            b = p != -1 and p != 0 and p != 1
        else:
            b = q <= 0 or p <= 0 or (d != 1 and d != -1)
            if t <= 4 and p % tick != 0:
                b = True
            if has_range and (p < lo or p > hi):
                b = True
        if b:
            flag[i] = 1
        elif v[i, 0] < prev_max:
            flag[i] = 2
        else:
            prev_max = v[i, 0]
        if flag[i]:
            ok[i] = False
            n_flag += 1
    return n_flag, prev_max, c_lo, c_hi, n_out


@njit(cache=True)
def _check_orderbook(v, ok, n, tick, has_range, lo, hi, counting, base, counts, outl, flag):
    """Row checks of orderbook rows ``0..n-1`` (:func:`_orderbook_errors`; flagged rows: ``flag`` 1, ok
    False); occupied-level prices counted (when ``counting``) before the checks; empty levels of the rows
    that pass become (0, 0). Returns (rows flagged, smallest and largest candidate price, outliers)."""
    k = v.shape[1]
    n_flag = 0
    span = counts.shape[0]
    c_lo = np.int64(np.iinfo(np.int64).max)
    c_hi = np.int64(np.iinfo(np.int64).min)
    n_out = 0
    for i in range(n):
        flag[i] = 0
        if not ok[i]:
            continue
        b = False
        for lvl in range(k // 4):
            for off in (0, 2):
                px, sz = v[i, 4 * lvl + off], v[i, 4 * lvl + off + 1]
                empty = px == (ASK_EMPTY if off == 0 else BID_EMPTY)
                if empty:
                    if sz != 0:
                        b = True
                else:
                    c_lo = min(c_lo, px)
                    c_hi = max(c_hi, px)
                    if counting and px > 0:
                        if 0 <= px - base < span:
                            counts[px - base] += 1
                        else:
                            if n_out < outl.shape[0]:
                                outl[n_out] = px
                            n_out += 1
                    if px <= 0 or px % tick != 0 or sz <= 0:
                        b = True
                    if has_range and (px < lo or px > hi):
                        b = True
                    if lvl > 0:
                        prev = v[i, 4 * (lvl - 1) + off]
                        if prev == (ASK_EMPTY if off == 0 else BID_EMPTY):
                            b = True
                        elif (px - prev if off == 0 else prev - px) <= 0:
                            b = True
        a0, b0 = v[i, 0], v[i, 2]
        if a0 != ASK_EMPTY and b0 != BID_EMPTY and b0 >= a0:
            b = True
        if b:
            flag[i] = 1
            ok[i] = False
            n_flag += 1
        else:
            for c in range(0, k, 2):
                if v[i, c] == ASK_EMPTY or v[i, c] == BID_EMPTY:
                    v[i, c] = 0
    return n_flag, c_lo, c_hi, n_out


@njit(cache=True)
def _collect_outliers(v, ok, n, is_messages, base, span, out):
    """The candidate prices of rows ``0..n-1`` (``ok`` as before the checks) outside ``base .. base + span``."""
    m = 0
    k = v.shape[1]
    for i in range(n):
        if not ok[i]:
            continue
        if is_messages:
            if 1 <= v[i, 1] <= 6:
                p = v[i, 4]
                if p > 0 and not 0 <= p - base < span:
                    out[m] = p
                    m += 1
        else:
            for c in range(0, k, 2):
                p = v[i, c]
                if p != ASK_EMPTY and p != BID_EMPTY and p > 0 and not 0 <= p - base < span:
                    out[m] = p
                    m += 1
    return m


@njit(cache=True)
def _candidate_prices(v, ok, n, is_messages, out):
    """The prices the plausible range is checked on (parsed rows 0..n-1: types 1-6 / occupied levels) into
    ``out``; returns their count."""
    k = v.shape[1]
    m = 0
    for i in range(n):
        if not ok[i]:
            continue
        if is_messages:
            if 1 <= v[i, 1] <= 6:
                out[m] = v[i, 4]
                m += 1
        else:
            for c in range(0, k, 2):
                p = v[i, c]
                if p != ASK_EMPTY and p != BID_EMPTY:
                    out[m] = p
                    m += 1
    return m


class PriceCounts:
    """Every positive price a pair shows, counted, for the exact median of :func:`plausible_range`.

    Dense counts over ``_HIST_SPAN`` price units around the median of the first prices seen (:meth:`start`);
    prices outside go to a dict (:meth:`add_outliers`).
    """

    def __init__(self) -> None:
        self.base: int | None = None
        self.counts = np.zeros(_HIST_SPAN, np.int64)
        self.others: dict[int, int] = {}

    def start(self, prices: np.ndarray) -> None:
        """Place the dense span around the median of the positive ``prices`` (no-op if there are none)."""
        pos = prices[prices > 0]
        if len(pos):
            self.base = int(np.median(pos)) - _HIST_SPAN // 2

    def add_outliers(self, prices: np.ndarray) -> None:
        if len(prices):
            u, c = np.unique(prices, return_counts=True)
            for a, b in zip(u.tolist(), c.tolist()):
                self.others[a] = self.others.get(a, 0) + b

    def price_range(self) -> PriceRange | None:
        """The :class:`PriceRange` around the median of all prices counted (as ``np.median`` gives it, rounded
        down); None when there are none."""
        nz = np.flatnonzero(self.counts)
        vals = np.concatenate([np.array(sorted(self.others), np.int64), nz + (self.base or 0)])
        cnts = np.concatenate([np.array([self.others[p] for p in sorted(self.others)], np.int64), self.counts[nz]])
        if not len(vals):
            return None
        order = np.argsort(vals, kind="stable")
        vals, cnts = vals[order], cnts[order]
        cum = np.cumsum(cnts)
        total = int(cum[-1])

        def kth(k: int) -> int:
            return int(vals[int(np.searchsorted(cum, k, side="right"))])

        if total % 2:
            ref = kth(total // 2)
        else:
            ref = int((float(kth(total // 2 - 1)) + float(kth(total // 2))) / 2)
        return PriceRange.around(ref)


def _line_slow(path: str, text: str, row: int, fields: list[str], time_col: bool):
    """One line as :func:`_read_table_slow` and :func:`_parse_messages` read it: (values, time ns, rounded) or
    the :class:`InputError` of its first problem (``row`` 1-based)."""
    parts = text.split(",")
    k = len(fields)
    if len(parts) != k:
        field = fields[len(parts)] if len(parts) < k else f"column {k + 1}"
        return InputError(path, row, field, f"{len(parts)} columns, expected {k}", "column_count")
    values = [0] * k
    for j in range(1 if time_col else 0, k):
        s = parts[j]
        if _INT_RE.fullmatch(s) is None or not _I64.min <= int(s) <= _I64.max:
            return InputError(path, row, fields[j], f"expected an integer, got {s!r}", "non_numeric")
        values[j] = int(s)
    rounded = False
    if time_col:
        try:
            values[0], rounded = parse_time_ns(parts[0])
        except ValueError:
            return InputError(path, row, "time", f"expected seconds after midnight as a decimal number, "
                                                  f"got {parts[0]!r}", "non_numeric")
    return values, rounded


@dataclass
class Block:
    """Checked rows ``row0 .. row0 + len - 1`` (0-based) of one file.

    ``values``: messages (n, 6) with ns after midnight in column 0 / orderbook rows (n, 4N) with empty levels
    as (0, 0); rows that failed a check are 0 with ``ok`` False; ``errors`` theirs, in row order.
    ``cand_lo``/``cand_hi``: the smallest and largest price the plausible range is checked on.
    The arrays of a :class:`BlockReader`'s block are reused by its next block.
    """

    row0: int
    values: np.ndarray
    ok: np.ndarray
    errors: list[InputError]
    rounded: int
    cand_lo: int
    cand_hi: int

    def __len__(self) -> int:
        return len(self.ok)


class BlockReader:
    """Reads one LOBSTER file as :class:`Block` s of whole lines, checked as the whole-file reader checks them.

    ``price_range``: the pair's plausible range when known (None: not checked; the caller counts every price
    in ``prices`` and checks afterwards). Whole-file problems (unreadable, empty, an orderbook width that is
    not a multiple of 4) raise at construction. A block holds up to ``block_rows`` rows (default:
    ``BLOCK_VALUES`` / columns); its arrays are reused by the next block. The file is parsed where it lies,
    through a read-only mapping of ``window_bytes`` at a time (more for a longer line).
    """

    def __init__(self, path: str | Path, messages: bool, tick_size: int, price_range: PriceRange | None,
                 prices: PriceCounts | None = None, block_rows: int | None = None,
                 window_bytes: int = WINDOW_BYTES) -> None:
        self.path = Path(path)
        self.messages = messages
        self.tick = tick_size
        self.range = price_range
        self.prices = prices
        self.window = max(1, window_bytes)
        try:
            self._f = open(self.path, "rb", buffering=0)
        except OSError as e:
            raise InputError(str(self.path), None, None, f"cannot read file: {e.strerror}", "unreadable") from e
        head = self._f.read(1 << 16)
        while head and not head.strip() and len(head) < (1 << 26):  # an empty file is whitespace only
            more = self._f.read(1 << 16)
            if not more:
                break
            head += more
        if not head.strip():
            self._f.close()
            raise InputError(str(self.path), None, None, "file is empty", "empty_file")
        if messages:
            self.fields = list(MESSAGE_FIELDS)
        else:
            first = head.split(b"\n", 1)[0]
            while b"\n" not in head and len(first) == len(head):
                more = self._f.read(1 << 16)
                if not more:
                    break
                head += more
                first = head.split(b"\n", 1)[0]
            k = _orderbook_width(self.path, first.rstrip(b"\r"))
            self.fields = orderbook_fields(k // 4)
        k = self.width
        self.block_rows = block_rows or max(1024, BLOCK_VALUES // k)
        self._size = os.fstat(self._f.fileno()).st_size
        self._mm: mmap.mmap | None = None
        self._map(0)
        r = self.block_rows
        self._vals = np.zeros((r, k), np.int64)
        self._ok = np.zeros(r, np.bool_)
        self._flag = np.zeros(r, np.int8)
        self._starts = np.zeros(r, np.int64)
        self._ends = np.zeros(r, np.int64)
        self._outl = np.zeros(_OUTLIERS, np.int64)
        self.rows = 0
        self._prev_max = _I64.min

    @property
    def width(self) -> int:
        return len(self.fields)

    def estimated_rows(self) -> int:
        """The file's row count as the rows read so far suggest (their bytes per row over the file's size)."""
        done = self._base + self._pos
        return self.rows if done <= 0 or done >= self._size else -(-self.rows * self._size // done)

    def close(self) -> None:
        self._unmap()
        self._f.close()

    def __iter__(self):
        return self

    def _unmap(self) -> None:
        self._buf = None  # the array over the mapping goes first
        if self._mm is not None:
            self._mm.close()
            self._mm = None

    def _map(self, offset: int) -> None:
        """Map the file from ``offset`` (rounded down to the page granularity) for the next ``window`` bytes;
        ``_buf[_pos:_have]`` is then the file from ``offset``, ``_eof`` whether the mapping reaches the end."""
        self._unmap()
        start = offset - offset % mmap.ALLOCATIONGRANULARITY
        length = min(offset - start + self.window, self._size - start)
        self._mm = mmap.mmap(self._f.fileno(), length, flags=mmap.MAP_SHARED | getattr(mmap, "MAP_POPULATE", 0),
                             prot=mmap.PROT_READ, offset=start)
        self._buf = np.frombuffer(self._mm, np.uint8)
        self._base, self._pos, self._have = start, offset - start, length
        self._eof = start + length >= self._size

    def _read_more(self) -> None:
        """Map the file on from the first line not parsed yet (a wider window for a line longer than it)."""
        offset = self._base + self._pos
        if offset - offset % mmap.ALLOCATIONGRANULARITY == self._base:  # the same mapping again: widen it
            self.window *= 2
        self._map(offset)

    def __next__(self) -> Block:
        k, r_cap = self.width, self.block_rows
        vals, ok, starts, ends = self._vals, self._ok, self._starts, self._ends
        r, slow, rounded = 0, 0, 0
        while r < r_cap:
            r, self._pos, s, rn = _parse_lines(self._buf, self._pos, self._have, self._eof, k, self.messages,
                                               self._base, r, r_cap, vals, ok, starts, ends)
            slow += s
            rounded += rn
            if r == r_cap or self._eof and self._pos >= self._have:
                break
            if self._eof:  # pragma: no cover - a final parse takes every line
                raise AssertionError(f"{self.path}: parser stopped at byte {self._base + self._pos}")
            self._read_more()
        if r == 0:
            self.close()
            raise StopIteration
        return self._block(r, slow, rounded)

    def _line(self, i: int) -> str:
        """The text of row ``i`` of the current block (read again from the file)."""
        return os.pread(self._f.fileno(), int(self._ends[i] - self._starts[i]), int(self._starts[i])).decode(
            "latin-1")

    def _block(self, n: int, slow: int, rounded: int) -> Block:
        vals, ok, flag = self._vals[:n], self._ok[:n], self._flag[:n]
        k = self.width
        row0 = self.rows
        self.rows += n
        path = str(self.path)
        errors: list[InputError] = []
        if slow:  # what the plain parser did not take: as the whole-file reader
            for i in np.flatnonzero(~ok).tolist():
                got = _line_slow(path, self._line(i), row0 + i + 1, self.fields, self.messages)
                if isinstance(got, InputError):
                    errors.append(got)
                else:
                    vals[i], ok[i] = got[0], True
                    rounded += got[1]
        counts = self.prices
        if counts is not None and counts.base is None:
            cand = np.empty(n * (1 if self.messages else k // 2), np.int64)
            counts.start(cand[:_candidate_prices(vals, ok, n, self.messages, cand)])
        counting = counts is not None and counts.base is not None
        base = counts.base if counting else 0
        hist = counts.counts if counts is not None else self._outl[:0]
        ok_before = ok.copy() if counting else ok
        rng = self.range
        has, lo, hi = rng is not None, (rng.lo if rng else 0), (rng.hi if rng else 0)
        if self.messages:
            n_flag, self._prev_max, c_lo, c_hi, n_out = _check_messages(
                vals, ok, n, self.tick, has, lo, hi, self._prev_max, counting, base, hist, self._outl, flag)
        else:
            n_flag, c_lo, c_hi, n_out = _check_orderbook(vals, ok, n, self.tick, has, lo, hi, counting, base,
                                                         hist, self._outl, flag)
        if n_out:
            out = self._outl
            if n_out > len(out):
                out = np.empty(n_out, np.int64)
                _collect_outliers(vals, ok_before, n, self.messages, base, _HIST_SPAN, out)
            counts.add_outliers(out[:n_out])
        if n_flag:
            bad = np.flatnonzero(flag == 1)
            if len(bad):
                check = _message_errors if self.messages else _orderbook_errors
                errors += check(self.path, vals[bad], bad + row0, self.tick, rng)
            for i in np.flatnonzero(flag == 2).tolist():
                t = self._line(i).split(",")[0]
                errors.append(InputError(path, row0 + i + 1, "time", f"time {t} is before an earlier row's time",
                                         "time_backwards"))
            vals[flag != 0] = 0
            errors.sort(key=lambda e: e.row)
        elif errors:
            errors.sort(key=lambda e: e.row)
        return Block(row0, vals, ok, errors, rounded, int(c_lo), int(c_hi))
