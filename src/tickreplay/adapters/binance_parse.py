"""Compiled byte-level parser for the fixed layouts of Binance futures capture lines.

:func:`parse_lines` reads a batch of ``<receive ns> <json>`` lines straight
from their bytes and writes column arrays: one row per line (kind, receive
time, exchange time ``T`` in ns, ``U``/``u``/``pu``, levels per side) and one
row per price level (the decimal scan of price and quantity, see
:func:`tickreplay.adapters.decimal_units.scan_one`, and where both strings
are in the batch).

It recognises ``depthUpdate``, ``bookTicker`` and ``trade`` messages, as a
combined-stream wrapper ``{"stream": "...", "data": {...}}`` or bare, keys
in any order, JSON whitespace anywhere, extra keys with scalar values
(strings, integers, ``true``/``false``/``null``), and the symbol exactly as
given (upper case). It marks a line *not recognised* (status 1) whenever it
is not certain that the exact parser
(:class:`tickreplay.adapters.binance_stream._Parser`, stdlib ``json``) would
accept the line and read the same values: a REST snapshot (rare, 1,000
levels a side), any backslash, control or non-ASCII byte in a string, a
number that is negative, fractional, with an exponent or a leading zero, an
integer over 18 digits (receive time: over int64), a repeated key, an extra
key whose value is an array or object (except ``b``/``a`` as level arrays),
a missing or mistyped field, another symbol or event type, or anything
after the closing brace. Those lines go to the exact parser, which accepts
them or reports the error it always did. Decimal values are only scanned
here; whether they are plain, positive and on the grid is checked later,
exactly as for the lines the exact parser reads.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from tickreplay.adapters.decimal_units import scan_one

#: message codes (as in :mod:`tickreplay.adapters.binance_stream`)
C_DEPTH, C_TICKER, C_TRADE = 0, 2, 3
#: level columns: price digits, price significant decimals, price status, the same for the quantity,
#: then the byte spans (start, stop) of the price and quantity strings in the batch
LV_PD, LV_PS, LV_PST, LV_QD, LV_QS, LV_QST, LV_P0, LV_P1, LV_Q0, LV_Q1 = range(10)
N_LV = 10

_INT64_MAX = np.int64(9223372036854775807)
_T_MAX_MS = np.int64(9223372036854)  # int64 max // 10**6: T in ms that still fits ns

# keys the parser keeps (index into the per-object slots); anything else is skipped when its value is a scalar
_K_STREAM, _K_DATA, _K_LAST, _K_E, _K_T, _K_S, _K_UU, _K_U, _K_PU, _K_B, _K_A, _K_BQ, _K_AQ, _K_P, _K_Q, _K_M = \
    range(16)
_N_KEYS = 16
# value types of a slot
_V_NONE, _V_STR, _V_INT, _V_TRUE, _V_FALSE, _V_LEVELS, _V_OTHER, _V_OBJ = range(8)


@njit(cache=True)
def _ws(b, i, e):
    while i < e and (b[i] == 32 or b[i] == 9 or b[i] == 13 or b[i] == 10):
        i += 1
    return i


@njit(cache=True)
def _key_id(b, s, t, depth):
    """Slot of the key ``b[s:t]`` in an object at ``depth`` (0 the line's object, 1 its ``data``); -1 other."""
    n = t - s
    c = b[s] if n else 0
    if n == 1:
        if c == 101:  # e
            return _K_E
        if c == 84:  # T
            return _K_T
        if c == 115:  # s
            return _K_S
        if c == 85:  # U
            return _K_UU
        if c == 117:  # u
            return _K_U
        if c == 98:  # b
            return _K_B
        if c == 97:  # a
            return _K_A
        if c == 66:  # B
            return _K_BQ
        if c == 65:  # A
            return _K_AQ
        if c == 112:  # p
            return _K_P
        if c == 113:  # q
            return _K_Q
        if c == 109:  # m
            return _K_M
        return -1
    if n == 2 and c == 112 and b[s + 1] == 117:  # pu
        return _K_PU
    if depth == 0:
        if n == 6 and c == 115 and b[s + 1] == 116 and b[s + 2] == 114 and b[s + 3] == 101 and b[s + 4] == 97 \
                and b[s + 5] == 109:  # stream
            return _K_STREAM
        if n == 4 and c == 100 and b[s + 1] == 97 and b[s + 2] == 116 and b[s + 3] == 97:  # data
            return _K_DATA
        if n == 12 and c == 108 and b[s + 1] == 97 and b[s + 2] == 115 and b[s + 3] == 116 and b[s + 4] == 85:
            # lastUpdateId (prefix "lastU" and length 12 is enough to send the line to the exact parser)
            return _K_LAST
    return -1


@njit(cache=True)
def _string(b, i, e):
    """End (index of the closing quote) of the JSON string opening at ``b[i] == '"'``; -1 unless plain ASCII."""
    j = i + 1
    while j < e:
        c = b[j]
        if c == 34:
            return j
        if c == 92 or c < 32 or c >= 128:
            return -1
        j += 1
    return -1


@njit(cache=True)
def _integer(b, i, e):
    """(value, end) of a non-negative JSON integer of at most 18 digits at ``i``; end -1 otherwise."""
    j = i
    v = np.int64(0)
    while j < e and 48 <= b[j] <= 57:
        v = v * 10 + (b[j] - 48)
        j += 1
    n = j - i
    if n == 0 or n > 18 or (n > 1 and b[i] == 48):
        return v, -1
    if j < e and (b[j] == 46 or b[j] == 101 or b[j] == 69):  # '.', 'e', 'E': a float
        return v, -1
    return v, j


@njit(cache=True)
def _decimal(b, i, e, lv, n, col, scol):
    """Scan the JSON string at ``b[i] == '"'`` as a decimal into ``lv[n, col:col + 3]``, its span into
    ``lv[n, scol:scol + 2]``; index of the closing quote, or -1 (see :func:`_string`). A plain decimal of
    at most 18 digits is scanned on the way; anything else is handed to :func:`scan_one` once its end is
    known, so the result is :func:`scan_one`'s in every case."""
    j = i + 1
    v = np.int64(0)
    nd = 0
    while j < e and 48 <= b[j] <= 57:
        v = v * 10 + (b[j] - 48)
        nd += 1
        j += 1
    sig = 0
    if nd > 0 and j < e and b[j] == 46:  # '.'
        j += 1
        f0 = j
        kept = v
        while j < e and 48 <= b[j] <= 57:
            v = v * 10 + (b[j] - 48)
            nd += 1
            j += 1
            if b[j - 1] != 48:
                kept = v
                sig = j - f0
        if j == f0:
            nd = 0  # "5.": not plain
        v = kept
    if nd > 0 and nd <= 18 and j < e and b[j] == 34:
        lv[n, col], lv[n, col + 1], lv[n, col + 2] = v, sig, 0
        lv[n, scol], lv[n, scol + 1] = i + 1, j
        return j
    z = _string(b, i, e)
    if z < 0:
        return -1
    lv[n, col], lv[n, col + 1], lv[n, col + 2] = scan_one(b, i + 1, z)
    lv[n, scol], lv[n, scol + 1] = i + 1, z
    return z


@njit(cache=True)
def _levels(b, i, e, sp, n0):
    """Parse ``[[str, str], ...]`` at ``b[i] == "["``, levels scanned into ``sp[n0:]``: (end after "]", count)."""
    j = _ws(b, i + 1, e)
    n = 0
    if j < e and b[j] == 93:
        return j + 1, 0
    while True:
        if j >= e or b[j] != 91:
            return -1, 0
        j = _ws(b, j + 1, e)
        if j >= e or b[j] != 34:
            return -1, 0
        if n0 + n >= sp.shape[0]:
            return -1, 0
        z = _decimal(b, j, e, sp, n0 + n, LV_PD, LV_P0)
        if z < 0:
            return -1, 0
        j = _ws(b, z + 1, e)
        if j >= e or b[j] != 44:
            return -1, 0
        j = _ws(b, j + 1, e)
        if j >= e or b[j] != 34:
            return -1, 0
        z = _decimal(b, j, e, sp, n0 + n, LV_QD, LV_Q0)
        if z < 0:
            return -1, 0
        n += 1
        j = _ws(b, z + 1, e)
        if j >= e or b[j] != 93:
            return -1, 0
        j = _ws(b, j + 1, e)
        if j < e and b[j] == 44:
            j = _ws(b, j + 1, e)
            continue
        if j < e and b[j] == 93:
            return j + 1, n
        return -1, 0


@njit(cache=True)
def _object(b, i, e, vt, v0, v1, sp):
    """Parse the line's object at ``b[i] == '{'`` (and its ``data`` object) into slots; (end after '}', levels).

    ``vt``/``v0``/``v1``: (2, keys) value type and span (or integer value in ``v0``; for level arrays the
    first scratch row in ``sp`` and the count), row 0 the line's object, row 1 its ``data``. End -1 when
    the object is not one this parser recognises. (A loop, not a recursion: numba caches it.)
    """
    depth = 0
    nsp = 0
    j = _ws(b, i + 1, e)
    closed = j < e and b[j] == 125  # an empty object
    if closed:
        j += 1
    while True:
        if closed:
            closed = False
            if depth == 0:
                return j, nsp
            depth = 0
            vt[0, _K_DATA] = _V_OBJ
        else:
            if j >= e or b[j] != 34:
                return -1, nsp
            z = _string(b, j, e)
            if z < 0:
                return -1, nsp
            k = _key_id(b, j + 1, z, depth)
            j = _ws(b, z + 1, e)
            if j >= e or b[j] != 58:
                return -1, nsp
            j = _ws(b, j + 1, e)
            if j >= e:
                return -1, nsp
            if k >= 0 and vt[depth, k] != _V_NONE:
                return -1, nsp  # a repeated key
            c = b[j]
            if c == 34:
                z = _string(b, j, e)
                if z < 0:
                    return -1, nsp
                if k >= 0:
                    vt[depth, k] = _V_STR
                    v0[depth, k] = j + 1
                    v1[depth, k] = z
                j = z + 1
            elif 48 <= c <= 57:
                v, z = _integer(b, j, e)
                if z < 0:
                    return -1, nsp
                if k >= 0:
                    vt[depth, k] = _V_INT
                    v0[depth, k] = v
                j = z
            elif c == 116 and j + 4 <= e and b[j + 1] == 114 and b[j + 2] == 117 and b[j + 3] == 101:
                if k >= 0:
                    vt[depth, k] = _V_TRUE
                j += 4
            elif c == 102 and j + 5 <= e and b[j + 1] == 97 and b[j + 2] == 108 and b[j + 3] == 115 \
                    and b[j + 4] == 101:
                if k >= 0:
                    vt[depth, k] = _V_FALSE
                j += 5
            elif c == 110 and j + 4 <= e and b[j + 1] == 117 and b[j + 2] == 108 and b[j + 3] == 108:
                if k >= 0:
                    vt[depth, k] = _V_OTHER
                j += 4
            elif c == 91 and (k == _K_B or k == _K_A):
                z, n = _levels(b, j, e, sp, nsp)
                if z < 0:
                    return -1, nsp
                vt[depth, k] = _V_LEVELS
                v0[depth, k] = nsp
                v1[depth, k] = n
                nsp += n
                j = z
            elif c == 123 and depth == 0 and k == _K_DATA:
                depth = 1
                j = _ws(b, j + 1, e)
                if j < e and b[j] == 125:
                    j += 1
                    closed = True
                continue
            else:
                return -1, nsp
        j = _ws(b, j, e)
        if j < e and b[j] == 44:
            j = _ws(b, j + 1, e)
            continue
        if j < e and b[j] == 125:
            j += 1
            closed = True
            continue
        return -1, nsp


@njit(cache=True)
def _put(b, lv, n, p0, p1, q0, q1):
    """Level row ``n`` from the price and quantity strings at ``b[p0:p1]``, ``b[q0:q1]``."""
    lv[n, LV_PD], lv[n, LV_PS], lv[n, LV_PST] = scan_one(b, p0, p1)
    lv[n, LV_QD], lv[n, LV_QS], lv[n, LV_QST] = scan_one(b, q0, q1)
    lv[n, LV_P0], lv[n, LV_P1], lv[n, LV_Q0], lv[n, LV_Q1] = p0, p1, q0, q1


@njit(cache=True)
def _same(b, s, t, word):
    if t - s != word.shape[0]:
        return False
    for k in range(word.shape[0]):
        if b[s + k] != word[k]:
            return False
    return True


_W_DEPTH = np.frombuffer(b"depthUpdate", np.uint8)
_W_TICKER = np.frombuffer(b"bookTicker", np.uint8)
_W_TRADE = np.frombuffer(b"trade", np.uint8)


@njit(cache=True)
def _parse(b, starts, ends, sym, w_depth, w_ticker, w_trade, status, code, recv, ts, big_u, u, pu, nb, na, lv, sp):
    """Fill the line and level columns; returns the number of level rows written."""
    vt = np.zeros((2, _N_KEYS), np.int8)
    v0 = np.zeros((2, _N_KEYS), np.int64)
    v1 = np.zeros((2, _N_KEYS), np.int64)
    nl = 0
    for r in range(starts.shape[0]):
        status[r] = 1
        i, e = starts[r], ends[r]
        # receive time: ASCII digits up to the first space, int64
        j = i
        t = np.int64(0)
        over = False
        while j < e and 48 <= b[j] <= 57:
            d = b[j] - 48
            if t > (_INT64_MAX - d) // 10:
                over = True
            else:
                t = t * 10 + d
            j += 1
        if j == i or over or j >= e or b[j] != 32:
            continue
        j = _ws(b, j + 1, e)
        if j >= e or b[j] != 123:
            continue
        vt[:] = 0
        z, nsp = _object(b, j, e, vt, v0, v1, sp)
        if z < 0 or _ws(b, z, e) != e or vt[0, _K_LAST] != _V_NONE:
            continue
        # the exact parser's rule: data = obj.get("data", obj) if "stream" in obj else obj, and it must be an object
        dd = 0
        if vt[0, _K_STREAM] != _V_NONE and vt[0, _K_DATA] != _V_NONE:
            if vt[0, _K_DATA] != _V_OBJ:
                continue
            dd = 1
        if vt[dd, _K_E] != _V_STR or vt[dd, _K_S] != _V_STR or not _same(b, v0[dd, _K_S], v1[dd, _K_S], sym):
            continue
        es, ee = v0[dd, _K_E], v1[dd, _K_E]
        if _same(b, es, ee, w_depth):
            if (vt[dd, _K_T] != _V_INT or v0[dd, _K_T] > _T_MAX_MS or vt[dd, _K_UU] != _V_INT
                    or vt[dd, _K_U] != _V_INT or vt[dd, _K_PU] != _V_INT or vt[dd, _K_B] != _V_LEVELS
                    or vt[dd, _K_A] != _V_LEVELS):
                continue
            n_b, n_a = v1[dd, _K_B], v1[dd, _K_A]
            if nl + n_b + n_a > lv.shape[0]:
                continue
            for side_key in (_K_B, _K_A):
                s0 = v0[dd, side_key]
                for k in range(s0, s0 + v1[dd, side_key]):
                    for c in range(N_LV):
                        lv[nl, c] = sp[k, c]
                    nl += 1
            code[r], ts[r], big_u[r], u[r], pu[r], nb[r], na[r] = (C_DEPTH, v0[dd, _K_T] * 1_000_000,
                                                                   v0[dd, _K_UU], v0[dd, _K_U], v0[dd, _K_PU],
                                                                   n_b, n_a)
        elif _same(b, es, ee, w_ticker):
            if (vt[dd, _K_U] != _V_INT or vt[dd, _K_B] != _V_STR or vt[dd, _K_BQ] != _V_STR
                    or vt[dd, _K_A] != _V_STR or vt[dd, _K_AQ] != _V_STR or nl + 2 > lv.shape[0]):
                continue
            _put(b, lv, nl, v0[dd, _K_B], v1[dd, _K_B], v0[dd, _K_BQ], v1[dd, _K_BQ])
            _put(b, lv, nl + 1, v0[dd, _K_A], v1[dd, _K_A], v0[dd, _K_AQ], v1[dd, _K_AQ])
            nl += 2
            code[r], ts[r], big_u[r], u[r], pu[r], nb[r], na[r] = C_TICKER, 0, 0, v0[dd, _K_U], 0, 1, 1
        elif _same(b, es, ee, w_trade):
            m = vt[dd, _K_M]
            if (vt[dd, _K_T] != _V_INT or v0[dd, _K_T] > _T_MAX_MS or vt[dd, _K_P] != _V_STR
                    or vt[dd, _K_Q] != _V_STR or (m != _V_TRUE and m != _V_FALSE) or nl + 1 > lv.shape[0]):
                continue
            _put(b, lv, nl, v0[dd, _K_P], v1[dd, _K_P], v0[dd, _K_Q], v1[dd, _K_Q])
            nl += 1
            code[r], ts[r], big_u[r], u[r], pu[r] = C_TRADE, v0[dd, _K_T] * 1_000_000, 0, 0, 0
            nb[r], na[r] = (1, 0) if m == _V_TRUE else (0, 1)
        else:
            continue
        recv[r] = t
        status[r] = 0
    return nl


class Parsed:
    """Columns of :func:`parse_lines`: per line (``status`` 0 parsed, 1 for the exact parser) and per level."""

    __slots__ = ("status", "code", "recv", "ts", "U", "u", "pu", "nb", "na", "lv")

    def __init__(self, status, code, recv, ts, big_u, u, pu, nb, na, lv) -> None:
        self.status, self.code, self.recv, self.ts, self.U, self.u, self.pu = status, code, recv, ts, big_u, u, pu
        self.nb, self.na, self.lv = nb, na, lv


def parse_lines(buf: np.ndarray, starts: np.ndarray, ends: np.ndarray, symbol: str) -> Parsed:
    """Parse lines ``buf[starts[k]:ends[k]]`` (uint8) of a stream of ``symbol`` (upper case).

    Times in ns (``ts`` 0 for a ticker), levels in line order, bids then asks;
    ``lv`` has the rows of the lines with status 0 only.
    """
    n = len(starts)
    bound = int(np.count_nonzero(buf == 91)) + 2 * n  # '[' opens every depth level; tickers/trades add 2 at most
    sym = np.frombuffer(symbol.encode("ascii"), np.uint8)
    status = np.ones(n, np.int8)
    code = np.zeros(n, np.int8)
    cols = [np.zeros(n, np.int64) for _ in range(7)]
    lv = np.empty((bound, N_LV), np.int64)
    sp = np.empty((bound, N_LV), np.int64)
    nl = _parse(buf, starts, ends, sym, _W_DEPTH, _W_TICKER, _W_TRADE, status, code, *cols, lv, sp)
    return Parsed(status, code, *cols, lv[:nl])


@njit(cache=True)
def reduce_levels(start, nlev, ok, sig, ovf, bad, sig_max, ovf_min):
    """Per message (levels ``start[k]:start[k] + nlev[k]``): ``bad[k]`` |= any level not ``ok``,
    ``sig_max[k]`` = max of ``sig``, ``ovf_min[k]`` = min of ``ovf`` (left as given when it has no level)."""
    for k in range(start.shape[0]):
        for i in range(start[k], start[k] + nlev[k]):
            if not ok[i]:
                bad[k] = True
            if sig[i] > sig_max[k]:
                sig_max[k] = sig[i]
            if ovf[i] < ovf_min[k]:
                ovf_min[k] = ovf[i]
