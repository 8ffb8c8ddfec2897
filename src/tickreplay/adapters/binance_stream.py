"""Binance futures captures → event tape, streamed: bounded chunks in, bounded chunks out.

The rules (sync, tape order, units, checks) are those described in
:mod:`tickreplay.adapters.binance`; this module applies them to the stream
batch by batch (~16k lines) instead of to the whole capture at once:

1. the raw bytes of a batch are parsed by a compiled parser
   (:mod:`tickreplay.adapters.binance_parse`) straight into columns, the
   decimal strings scanned on the way (never via floats); a line it does not
   recognise exactly goes through the exact parser (stdlib ``json``), which
   reads it or reports the error it always did;
2. the scanned values are checked and put in integer units in one compiled
   pass; a message with a bad value goes through the exact per-value
   conversion, which names the field;
3. receive-time order, exchange-time order and synchronisation run over the
   messages kept, with their state carried from batch to batch;
4. book events and trades are merged by exchange time and emitted as soon as
   no later message can come before them, so the tape leaves in chunks.

The merge's bound. Later book events have ``ts_ns`` >= the last book
event's and later trades >= the last trade's (each clamped, from later
lines, so they also sort after on ties). That alone holds every book event
until a trade arrives: a capture without trades, or a long pause between
trades, would hold the day. The receive time cannot bound it either: it
bounds nothing from below (on the shared captures the local clock is 1.2 s
*behind* ``T``; ``T - recv`` spans 1178..1273 ms). So the bound is an explicit
rule: a message's exchange time trails the latest exchange time already read
(book or trade) by at most ``max_lag_ns`` (default :data:`MAX_LAG_NS`, 10 s;
the two streams of the shared captures trail each other by 86 ms at most).
Everything up to ``min(max(last book ts, latest - lag), max(last trade ts,
latest - lag))`` leaves. A message that breaks the rule would have to go
before events already emitted: it is an ``exchange_time_backwards`` error
(field ``T``) in strict mode, and kept with its time clamped to the emitted
time in lenient mode, like every message whose time goes back. On data that
keeps the rule the tape is the whole-capture reader's, byte for byte.

Checks run in the order of the whole-capture reader *within a batch*; with
several bad lines in different batches, strict mode raises the first problem
of the first batch that has one. Inferred tick/lot need the whole capture:
:class:`BinanceStream` then reads it twice (a first pass parses and scans the
values only, compiled); pass ``tick`` and ``lot`` to read it once.

Memory: the batch, at most ``max_lag_ns`` of book events and trades not yet
emitted, diffs waiting for a snapshot (before the first one, or after a gap
until the next; each holds a copy of its own levels only), and per verify
the book's top level after each applied diff not yet matched by the ticker
stream (40 bytes a diff; see :class:`tickreplay.adapters.binance._TickerCheck`).
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field, replace
from itertools import chain
from pathlib import Path
from typing import Iterator

import numpy as np

from tickreplay.adapters.binance_parse import LV_P0, LV_P1, LV_PD, LV_PS, LV_PST, LV_Q0, LV_Q1, LV_QD, LV_QS, LV_QST, \
    N_LV, parse_lines, reduce_levels
from tickreplay.adapters.capture_lines import StreamPosition, read_blocks
from tickreplay.adapters.decimal_units import (
    OffGridError,
    Scanned,
    check_plain,
    parse_step,
    scan_plain,
    to_units,
    units_to_text,
)
from tickreplay.errors import AnomalyLog, InputError
from tickreplay.tape import FLAG_RESYNC, EventKind, Instrument, Tape

VENUE = "BINANCE-FUTURES"
SOURCE = "binance"
#: quote assets of Binance futures symbols, longest first so USDT wins over USD
QUOTE_ASSETS = ("FDUSD", "USDT", "USDC", "BUSD", "USD")
#: tape events per chunk the stream aims at (a chunk may exceed it by one batch's events)
CHUNK_EVENTS = 1 << 20
#: lines per batch (at least; a batch ends on a ~1 MB decompressed block)
BATCH_LINES = 1 << 14
#: the most a message's exchange time may trail the latest exchange time already read (ns): the merge
#: of book events and trades holds this much of the tape at most (the shared captures: 86 ms at most)
MAX_LAG_NS = 10 * 10**9

_LEVEL_SET = int(EventKind.LEVEL_SET)
_TRADE = int(EventKind.TRADE)
_BEGIN = int(EventKind.SNAPSHOT_BEGIN)
_END = int(EventKind.SNAPSHOT_END)
_NS_PER_MS = 1_000_000
_INT64_MAX = (1 << 63) - 1
_T_MAX_MS = _INT64_MAX // _NS_PER_MS
_DEPTH, _SNAPSHOT, _TRADE_MSG, _TICKER = "depthUpdate", "snapshot", "trade", "bookTicker"
_CODE = {_DEPTH: 0, _SNAPSHOT: 1, _TICKER: 2, _TRADE_MSG: 3}
_C_DEPTH, _C_SNAPSHOT, _C_TICKER, _C_TRADE = 0, 1, 2, 3
_NAME = {v: k for k, v in _CODE.items()}
_COLS = ("ts_ns", "recv_ts_ns", "kind", "side", "price", "size", "src_row", "flags")
_DTYPES = {"ts_ns": np.int64, "recv_ts_ns": np.int64, "kind": np.int8, "side": np.int8, "price": np.int64,
           "size": np.int64, "src_row": np.int64, "flags": np.int16}


def quote_asset(symbol: str) -> str:
    """Quote currency of a futures symbol: ``BTCUSDT`` → USDT, ``BTCUSD_PERP`` → USD."""
    pair = symbol.upper().split("_", 1)[0]
    for q in QUOTE_ASSETS:
        if pair.endswith(q) and len(pair) > len(q):
            return q
    raise ValueError(f"cannot tell the quote asset of symbol {symbol!r} (known: {', '.join(QUOTE_ASSETS)})")


@dataclass(eq=False)
class _Msg:
    """One parsed message. Levels are (price, quantity) pairs: decimal strings, then integers.

    depth: ``U``/``u``/``pu``; snapshot: ``u`` = lastUpdateId; ticker: ``u``,
    best bid in ``bids``, best ask in ``asks``; trade: one level on the resting side.
    """

    kind: str
    line: int
    recv_ns: int
    ts_ns: int = 0
    U: int = 0
    u: int = 0
    pu: int = 0
    bids: list = field(default_factory=list)
    asks: list = field(default_factory=list)


def _lag_error(pos: StreamPosition, line: int, what: str, ts: int, floor: int, lag: int) -> InputError:
    """A message whose exchange time comes before events the merge has already emitted."""
    return pos.error(line, "T", f"{what} time {ts} ns comes before {floor} ns, up to which the tape has already "
                                f"left: it trails the latest exchange time read by more than {lag} ns "
                                "(max_lag_ns)", "exchange_time_backwards")


def _field_name(msg: _Msg, side: int, i: int, j: int) -> str:
    """The JSON field of level ``i`` (``j`` 0 price, 1 quantity) of ``side`` of ``msg``."""
    if msg.kind == _TRADE_MSG:
        return "pq"[j]
    if msg.kind == _TICKER:
        return ("bB" if side == 1 else "aA")[j]
    key = ("b" if side == 1 else "a") if msg.kind == _DEPTH else ("bids" if side == 1 else "asks")
    return f"{key}[{i}][{j}]"


class _Parser:
    """Phase 1: capture lines → :class:`_Msg` with validated fields, in arrival order."""

    def __init__(self, pos: StreamPosition, log: AnomalyLog, symbol: str | None) -> None:
        self.pos, self.log = pos, log
        self.symbol = symbol.upper() if symbol else None
        self._line_symbol: str | None = None  # symbol of the line being parsed, names the stream once it parses
        self.lines = 0

    def _err(self, line: int, fld: str | None, message: str, kind: str) -> InputError:
        return self.pos.error(line, fld, message, kind)

    def parse(self, line: int, text: bytes) -> _Msg | None:
        """The message of one line, or None (after reporting) when it is unusable.

        Only a line that parses completely can name the stream's symbol.
        """
        self._line_symbol = None
        try:
            msg = self._parse(line, text)
        except InputError as err:
            self.log.report(err)
            return None
        if self.symbol is None:
            self.symbol = self._line_symbol
        return msg

    def _parse(self, line: int, text: bytes) -> _Msg:
        head, sep, body = text.partition(b" ")
        if not sep or not head.isdigit():
            raise self._err(line, "recv_ts_ns", f"expected '<receive time ns> <json>', got {text[:40]!r}", "bad_line")
        recv = int(head)
        if recv > _INT64_MAX:
            raise self._err(line, "recv_ts_ns", f"receive time {recv} does not fit int64 nanoseconds", "bad_line")
        try:
            obj = json.loads(body)
        except ValueError as exc:
            raise self._err(line, "json", f"not a JSON object: {exc}", "bad_json") from None
        if not isinstance(obj, dict):
            raise self._err(line, "json", f"expected a JSON object, got {type(obj).__name__}", "bad_json")
        if "lastUpdateId" in obj:
            return self._snapshot(line, recv, obj)
        data = obj.get("data", obj) if "stream" in obj else obj
        if not isinstance(data, dict):
            raise self._err(line, "data", "expected a JSON object", "bad_field")
        event = self._get(data, "e", line, str)
        if event not in (_DEPTH, _TICKER, _TRADE_MSG):
            raise self._err(line, "e", f"unknown event type {event!r} (expected depthUpdate, bookTicker or trade)",
                            "unknown_event")
        self._check_symbol(data, line)
        if event == _DEPTH:
            return _Msg(_DEPTH, line, recv, self._time(data, line), U=self._id(data, "U", line),
                        u=self._id(data, "u", line), pu=self._id(data, "pu", line),
                        bids=self._levels(data, "b", line), asks=self._levels(data, "a", line))
        if event == _TICKER:
            return _Msg(_TICKER, line, recv, u=self._id(data, "u", line),
                        bids=[(self._num(data, "b", line), self._num(data, "B", line))],
                        asks=[(self._num(data, "a", line), self._num(data, "A", line))])
        level = [(self._num(data, "p", line), self._num(data, "q", line))]
        buyer_is_maker = self._get(data, "m", line, bool)
        return _Msg(_TRADE_MSG, line, recv, self._time(data, line),
                    bids=level if buyer_is_maker else [], asks=[] if buyer_is_maker else level)

    def _snapshot(self, line: int, recv: int, obj: dict) -> _Msg:
        return _Msg(_SNAPSHOT, line, recv, self._time(obj, line), u=self._id(obj, "lastUpdateId", line),
                    bids=self._levels(obj, "bids", line), asks=self._levels(obj, "asks", line))

    def _check_symbol(self, data: dict, line: int) -> None:
        sym = self._get(data, "s", line, str).upper()
        if self.symbol is not None and sym != self.symbol:
            raise self._err(line, "s", f"symbol {sym} in a stream of {self.symbol}: one capture holds one symbol",
                            "symbol_mismatch")
        self._line_symbol = sym

    def _get(self, d: dict, key: str, line: int, typ: type):
        if key not in d:
            raise self._err(line, key, f"missing field '{key}'", "missing_field")
        v = d[key]
        if typ is int and (type(v) is not int or v < 0):
            raise self._err(line, key, f"expected a non-negative integer, got {v!r}", "bad_field")
        if typ is not int and not isinstance(v, typ):
            raise self._err(line, key, f"expected {typ.__name__}, got {v!r}", "bad_field")
        return v

    def _id(self, d: dict, key: str, line: int) -> int:
        return self._get(d, key, line, int)

    def _time(self, d: dict, line: int) -> int:
        t_ms = self._get(d, "T", line, int)
        if t_ms > _INT64_MAX // _NS_PER_MS:
            raise self._err(line, "T", f"transaction time {t_ms} ms does not fit int64 nanoseconds", "bad_field")
        return t_ms * _NS_PER_MS

    def _num(self, d: dict, key: str, line: int) -> str:
        return self._get(d, key, line, str)

    def _levels(self, d: dict, key: str, line: int) -> list[tuple[str, str]]:
        """[price, quantity] string pairs; their digits are checked when converted (phase 3)."""
        raw = self._get(d, key, line, list)
        out = []
        for i, lvl in enumerate(raw):
            if type(lvl) is not list or len(lvl) != 2:
                raise self._err(line, f"{key}[{i}]", f"expected [price, quantity], got {lvl!r}", "bad_field")
            p, q = lvl
            if type(p) is not str or type(q) is not str:
                j = 0 if type(p) is not str else 1
                raise self._err(line, f"{key}[{i}][{j}]", f"expected a decimal string, got {lvl[j]!r}", "bad_number")
            out.append((p, q))
        return out



@dataclass(frozen=True)
class _Units:
    """Integer units: ``exp`` decimals and the step (tick or lot) in those units."""

    exp: int
    step: int
    inferred: bool

    @property
    def text(self) -> str:
        return units_to_text(self.step, self.exp)



def _to_int(text: str, units: _Units, m: _Msg, side: int, i: int, j: int, pos: StreamPosition) -> int:
    """One price (``j`` 0) or quantity (``j`` 1) in integer units; prices must be positive."""
    what = "price" if j == 0 else "quantity"
    try:
        v = to_units(check_plain(text), units.exp)
        if v % units.step:
            raise OffGridError(f"{text} is not a multiple of the {what} step {units.text}")
    except OffGridError as exc:
        raise pos.error(m.line, _field_name(m, side, i, j), f"off grid: {exc}", "off_grid") from None
    except ValueError as exc:
        raise pos.error(m.line, _field_name(m, side, i, j), str(exc), "bad_number") from None
    if j == 0 and v <= 0:
        raise pos.error(m.line, _field_name(m, side, i, j), f"price must be positive, got {text}", "bad_price")
    return v



# --------------------------------------------------------------------------- phase 1: lines → messages


class _Batch:
    """The messages of a batch that parse, as arrays in line order, and their levels (bids, then asks).

    Per message: ``code``, 0-based stream ``line``, ``recv``/``ts`` (ns), ``U``/``u``/``pu``,
    ``nb``/``na`` levels per side, ``start`` its first level. Per level: the decimal scans
    ``px``/``qt`` (:class:`Scanned`); :meth:`text` gives the strings back (for the exact, slow paths).
    """

    def __init__(self, block: bytes, code, line, recv, ts, big_u, u, pu, nb, na, lv: np.ndarray,
                 extra: dict[int, tuple[str, str]]) -> None:
        self.block, self.code, self.line, self.recv, self.ts = block, code, line, recv, ts
        self.U, self.u, self.pu, self.nb, self.na, self.lv, self.extra = big_u, u, pu, nb, na, lv, extra
        nlev = nb + na
        self.start = np.zeros(len(code), np.int64)
        np.cumsum(nlev[:-1], out=self.start[1:])
        self.px = Scanned(lv[:, LV_PD], lv[:, LV_PS], lv[:, LV_PST].astype(np.int8))
        self.qt = Scanned(lv[:, LV_QD], lv[:, LV_QS], lv[:, LV_QST].astype(np.int8))

    def text(self, i: int) -> tuple[str, str]:
        """(price, quantity) strings of level ``i``."""
        if i in self.extra:
            return self.extra[i]
        r = self.lv[i]
        return (self.block[r[LV_P0]:r[LV_P1]].decode("ascii"), self.block[r[LV_Q0]:r[LV_Q1]].decode("ascii"))


class _FastParser(_Parser):
    """:class:`_Parser` behind the compiled parser (:mod:`tickreplay.adapters.binance_parse`) over a batch.

    Lines the compiled parser does not recognise exactly, and the lines before
    the first one that names the symbol, go through the exact parser.
    """

    def parse_batch(self, first: int, block: bytes) -> _Batch:
        """The messages of the lines of ``block`` (lines ``first..``) that parse; bad lines are reported."""
        buf = np.frombuffer(block, np.uint8)
        ends = np.flatnonzero(buf == 10)
        starts = np.zeros(len(ends), np.int64)
        starts[1:] = ends[:-1] + 1
        n = len(ends)
        self.lines += n
        msgs: dict[int, _Msg] = {}
        k0 = 0
        while k0 < n and self.symbol is None:
            m = self.parse(first + k0, block[starts[k0]:ends[k0]])
            if m is not None:
                msgs[k0] = m
            k0 += 1
        if k0 < n and self.symbol.isascii():
            p = parse_lines(buf, starts[k0:], ends[k0:], self.symbol)
            slow = (np.flatnonzero(p.status) + k0).tolist()
        else:
            p, slow = None, list(range(k0, n))
        for k in slow:
            m = self.parse(first + k, block[starts[k]:ends[k]])
            if m is not None:
                msgs[k] = m
        if p is not None and not msgs:
            ok = p.status == 0
            return _Batch(block, p.code[ok], np.flatnonzero(ok) + (first + k0), p.recv[ok], p.ts[ok], p.U[ok],
                          p.u[ok], p.pu[ok], p.nb[ok], p.na[ok], p.lv, {})
        return self._merge(block, first, k0, p, msgs)

    @staticmethod
    def _merge(block: bytes, first: int, k0: int, p, msgs: dict[int, _Msg]) -> _Batch:
        """The compiled parser's messages and the exact parser's in line order."""
        rows_f = sorted(msgs)
        fm = [msgs[k] for k in rows_f]
        texts = [lvl for m in fm for lvl in chain(m.bids, m.asks)]
        ps, qs = scan_plain([t[0] for t in texts]), scan_plain([t[1] for t in texts])
        lv_f = np.full((len(texts), N_LV), -1, np.int64)
        lv_f[:, LV_PD], lv_f[:, LV_PS], lv_f[:, LV_PST] = ps.digits, ps.sig, ps.status
        lv_f[:, LV_QD], lv_f[:, LV_QS], lv_f[:, LV_QST] = qs.digits, qs.sig, qs.status
        cols_f = [np.array([_CODE[m.kind] for m in fm], np.int8)] + \
            [np.array([getattr(m, a) for m in fm], np.int64) for a in ("recv_ns", "ts_ns", "U", "u", "pu")] + \
            [np.array([len(m.bids) for m in fm], np.int64), np.array([len(m.asks) for m in fm], np.int64)]
        if p is not None:
            ok = p.status == 0
            rows_c = np.flatnonzero(ok) + k0
            cols_c = [p.code[ok], p.recv[ok], p.ts[ok], p.U[ok], p.u[ok], p.pu[ok], p.nb[ok], p.na[ok]]
            lv_c = p.lv
        else:
            rows_c = np.zeros(0, np.int64)
            cols_c = [np.zeros(0, np.int8)] + [np.zeros(0, np.int64)] * 7
            lv_c = np.zeros((0, N_LV), np.int64)
        rows = np.concatenate([rows_c, np.array(rows_f, np.int64)])
        order = np.argsort(rows, kind="stable")
        cols = [np.concatenate([c, f])[order] for c, f in zip(cols_c, cols_f)]
        # levels: each message's run, in message order
        nlev = np.concatenate([cols_c[6] + cols_c[7], cols_f[6] + cols_f[7]])
        at = np.zeros(len(nlev), np.int64)
        np.cumsum(nlev[:-1], out=at[1:])
        nl = nlev[order]
        idx = np.repeat(at[order] - np.concatenate([[0], np.cumsum(nl)[:-1]]), nl) + np.arange(int(nl.sum()))
        lv = np.concatenate([lv_c, lv_f])[idx]
        moved = np.empty(len(idx), np.int64)
        moved[idx] = np.arange(len(idx))
        extra = {int(moved[len(lv_c) + i]): t for i, t in enumerate(texts)}
        return _Batch(block, cols[0], rows[order] + first, *cols[1:], lv, extra)


# --------------------------------------------------------------------------- phase 2-3: units, values


@dataclass(frozen=True)
class _Conv:
    """How one kind of value becomes integers: checked in ``check`` (the units inferred from every
    value, or given), stored in units of ``10**-exp`` (inferred again from the messages kept)."""

    check: _Units
    exp: int


def _msg_view(b: _Batch, k: int) -> _Msg:
    """Message ``k`` of a batch as a :class:`_Msg` with its level strings (for the exact, slow paths)."""
    nb, na, start = int(b.nb[k]), int(b.na[k]), int(b.start[k])
    levels = [b.text(i) for i in range(start, start + nb + na)]
    return _Msg(_NAME[int(b.code[k])], int(b.line[k]), int(b.recv[k]), int(b.ts[k]), int(b.U[k]), int(b.u[k]),
                int(b.pu[k]), levels[:nb], levels[nb:])


def _exact_values(m: _Msg, px: _Units, qty: _Units, pos: StreamPosition) -> None:
    """The first bad value of ``m`` as an :class:`InputError`, exactly as the whole-capture reader reports it."""
    for side, levels in ((1, m.bids), (-1, m.asks)):
        for i, (p, q) in enumerate(levels):
            _to_int(p, px, m, side, i, 0, pos)
            qi = _to_int(q, qty, m, side, i, 1, pos)
            if m.kind == _TRADE_MSG and qi == 0:
                raise pos.error(m.line, "q", f"trade quantity must be positive, got {q}", "bad_size")


@dataclass
class _Values:
    """A batch's messages as arrays, its level values in integers, and which messages have good values."""

    code: np.ndarray
    line: np.ndarray
    start: np.ndarray  # first value of each message
    keep: np.ndarray
    side: np.ndarray
    price: np.ndarray
    size: np.ndarray


def _values(b: _Batch, px: _Conv, qty: _Conv, pos: StreamPosition, log: AnomalyLog) -> _Values:
    """Phase 3 over a batch: every value converted in one pass; a message with a bad one is reported and dropped."""
    n = len(b.code)
    code, nb, start = b.code, b.nb, b.start
    nlev = nb + b.na
    msg_of = np.repeat(np.arange(n), nlev)
    side = np.where(np.arange(len(msg_of)) - start[msg_of] < nb[msg_of], 1, -1).astype(np.int8)
    ps, qs = b.px, b.qt
    pv, pok = _checked(ps, px)
    qv, qok = _checked(qs, qty)
    good = pok & qok & (pv > 0) & ~((code[msg_of] == _C_TRADE) & (qv == 0))
    keep = np.ones(n, bool)
    exact = []  # messages the compiled pass left to the exact conversion (units beyond 10**-18) and that pass it
    if not good.all():
        for k in np.unique(msg_of[~good]).tolist():
            try:
                _exact_values(_msg_view(b, k), px.check, qty.check, pos)
            except InputError as err:
                log.report(err)
                keep[k] = False
                continue
            exact.append(k)
    if px.exp != px.check.exp:
        pv = ps.units(px.exp)[0]
    if qty.exp != qty.check.exp:
        qv = qs.units(qty.exp)[0]
    for k in exact:
        a = int(start[k])
        for i in range(a, a + int(nlev[k])):
            p_text, q_text = b.text(i)
            pv[i], qv[i] = to_units(p_text, px.exp), to_units(q_text, qty.exp)
    return _Values(code, b.line, start, keep, side, pv, qv)


def _checked(sc: Scanned, conv: _Conv) -> tuple[np.ndarray, np.ndarray]:
    """Values in the check units and whether each passes :func:`_to_int`'s decimal and grid checks."""
    v, ok = sc.units(conv.check.exp)
    if conv.check.step != 1:
        ok &= v % conv.check.step == 0
    return v, ok


class _UnitScan:
    """First pass for inferred units: the exact result of the whole-capture reader's two inference rounds.

    Round 1 infers from every plain value of the messages that parse; a
    message with a bad value under those units is dropped and round 2 infers
    again from the rest. A message is dropped for a reason independent of
    the inferred exponent (not plain, price 0, trade quantity 0, off a given
    unit) or because a value overflows int64 at the round-1 exponent; the
    latter is kept as the exponent from which each message overflows.
    """

    def __init__(self, px: _Units | None, qty: _Units | None) -> None:
        self.given = (px, qty)
        self.exp0 = [0, 0]
        self.kept: dict[tuple[int, int], list[int]] = {}  # (overflow exp px, qty) → max significant decimals

    def add(self, b: _Batch) -> None:
        n = len(b.code)
        if not n:
            return
        nlev = b.nb + b.na
        msg_of = np.repeat(np.arange(n), nlev)
        bad = np.zeros(n, bool)
        sig_msg, ovf_msg = [], []
        for j, sc in enumerate((b.px, b.qt)):
            plain = sc.status != 1
            if plain.any():
                self.exp0[j] = max(self.exp0[j], int(sc.sig[plain].max()))
            given = self.given[j]
            if given is not None:
                v, ok = sc.units(given.exp)
                ok &= v % given.step == 0
                ovf = np.full(len(sc.digits), 999, np.int64)
            else:
                ok = sc.status == 0
                fits = np.searchsorted(_POW10, _INT64_MAX // np.maximum(sc.digits, 1), side="right") - 1
                ovf = np.where(sc.digits > 0, sc.sig + fits + 1, 999)
            zero = sc.digits == 0
            ok &= ~zero if j == 0 else ~(zero & (b.code[msg_of] == _C_TRADE))
            sm = np.zeros(n, np.int64)
            om = np.full(n, 999, np.int64)
            reduce_levels(b.start, nlev, ok, np.where(plain, sc.sig, 0), ovf, bad, sm, om)
            sig_msg.append(sm)
            ovf_msg.append(om)
        good = ~bad
        keys = (ovf_msg[0][good] << 32) | ovf_msg[1][good]
        uniq, inv = np.unique(keys, return_inverse=True)
        for j in range(2):
            best = np.zeros(len(uniq), np.int64)
            np.maximum.at(best, inv, sig_msg[j][good])
            for key, sig in zip(uniq.tolist(), best.tolist()):
                entry = self.kept.setdefault((key >> 32, key & 0xFFFFFFFF), [0, 0])
                entry[j] = max(entry[j], sig)

    def result(self) -> tuple[int, int, int, int]:
        """(check exp px, final exp px, check exp qty, final exp qty) of the inferred units."""
        final = [0, 0]
        for (op, oq), sig in self.kept.items():
            if op > self.exp0[0] and oq > self.exp0[1]:
                final = [max(final[0], sig[0]), max(final[1], sig[1])]
        return self.exp0[0], final[0], self.exp0[1], final[1]


_POW10 = np.array([10**k for k in range(19)], dtype=np.int64)


# --------------------------------------------------------------------------- phase 4: synchronisation


class _Diff:
    """A depth diff or snapshot kept for the book: ids, times and where its levels are in a batch's arrays."""

    __slots__ = ("line", "recv", "ts", "U", "u", "pu", "vals", "a", "z", "nb")

    def __init__(self, line, recv, ts, U, u, pu, vals, a, z, nb) -> None:
        self.line, self.recv, self.ts, self.U, self.u, self.pu = line, recv, ts, U, u, pu
        self.vals, self.a, self.z, self.nb = vals, a, z, nb

    def own(self) -> "_Diff":
        """Itself with copies of its own levels only (so a diff kept waiting does not keep its batch)."""
        self.vals = tuple(v[self.a:self.z].copy() for v in self.vals)
        self.a, self.z = 0, self.z - self.a
        return self


_OP_DIFF, _OP_SNAPSHOT, _OP_MARKER = 0, 1, 2


class _Sync:
    """The book sequence (snapshots and applied diffs) by Binance's futures sync rule, as a list of ops."""

    def __init__(self, pos: StreamPosition, log: AnomalyLog) -> None:
        self.pos, self.log = pos, log
        self.ops: list[tuple] = []  # (op, ts, recv, line, flags, diff or None)
        self.errors: list[tuple[int, InputError]] = []  # exchange time going back: reported in line order
        self.synced = False
        self.pending: int | None = None  # lastUpdateId of the snapshot emitted, waiting for the diff that straddles it
        self.buffer: list[_Diff] = []  # diffs waiting for a snapshot
        self.last_u = 0
        self.last_ts: int | None = None
        self.floor: int | None = None  # exchange time the tape has been emitted up to (set by the stream)
        self.max_lag_ns = 0
        self.open_gaps: list[InputError] = []
        self.gap_list: list[dict] = []
        self.depth_diffs = self.applied = self.dropped_before_sync = 0
        self.snapshots = self.snapshots_unused = self.snapshot_depth = 0

    def _time(self, m: _Diff) -> int:
        """``m``'s exchange time, checked not to go back before the previous book event's."""
        if self.last_ts is not None and m.ts < self.last_ts:
            self.errors.append((m.line, self.pos.error(
                m.line, "T", f"exchange time {m.ts} ns goes back before {self.last_ts} ns of the previous book "
                             "event", "exchange_time_backwards")))
            return self.last_ts
        if self.floor is not None and m.ts < self.floor:
            self.errors.append((m.line, _lag_error(self.pos, m.line, "book event", m.ts, self.floor, self.max_lag_ns)))
            self.last_ts = self.floor
            return self.floor
        self.last_ts = m.ts
        return m.ts

    def _apply(self, d: _Diff) -> None:
        self.ops.append((_OP_DIFF, self._time(d), d.recv, d.line, 0, d))
        self.last_u = d.u
        self.applied += 1

    def _gap(self, d: _Diff, fld: str, message: str) -> None:
        path, row = self.pos.where(d.line)
        self.gap_list.append({"file": path, "line": row, "src_row": d.line, "field": fld, "resynced_at_src_row": None})
        self.open_gaps.append(self.pos.error(d.line, fld, message, "sequence_gap"))
        ts = self.last_ts if self.floor is None else max(self.last_ts, self.floor)
        self.ops.append((_OP_MARKER, ts, d.recv, d.line, FLAG_RESYNC, None))
        self.synced = False
        self.pending = None
        self.buffer = [d.own()]

    def snapshot(self, m: _Diff) -> None:
        if self.synced:
            self.snapshots_unused += 1
            return
        self.ops.append((_OP_SNAPSHOT, self._time(m), m.recv, m.line, FLAG_RESYNC if self.gap_list else 0, m))
        self.snapshots += 1
        self.snapshot_depth = max(self.snapshot_depth, m.nb, m.z - m.a - m.nb)
        self.pending = m.u
        waiting, self.buffer = self.buffer, []
        for d in waiting:
            self._diff(d)

    def depth(self, d: _Diff) -> None:
        self.depth_diffs += 1
        self._diff(d)

    def _diff(self, d: _Diff) -> None:
        if self.synced:
            if d.pu == self.last_u:
                self._apply(d)
            else:
                self._gap(d, "pu", f"sequence gap: pu {d.pu} is not the previous diff's u {self.last_u}")
        elif self.pending is not None:
            last_id = self.pending
            if d.u < last_id:
                self.dropped_before_sync += 1
            elif d.U <= last_id:
                self._resolve_gaps(d.line)
                self.synced, self.pending = True, None
                self._apply(d)
            else:
                self._gap(d, "U", f"sequence gap: the first diff after the snapshot starts at U {d.U}, after its "
                                  f"lastUpdateId {last_id}; the updates in between are missing")
        else:
            self.buffer.append(d.own())

    def _resolve_gaps(self, line: int) -> None:
        for err in self.open_gaps:
            self.log.count("sequence_gap_resynced", str(err))
        for g in self.gap_list:
            if g["resynced_at_src_row"] is None:
                g["resynced_at_src_row"] = line
        self.open_gaps = []

    def finish(self, first_path: str) -> None:
        """Report what is left unresolved at the end of the stream."""
        for err in self.open_gaps:
            self.log.report(InputError(err.path, err.row, err.field,
                                       err.message + "; no later snapshot line resynchronised the book",
                                       "sequence_gap"))
        if not self.snapshots and self.buffer:
            self.log.report(InputError(first_path, None, "lastUpdateId",
                                       f"no REST depth snapshot line in the stream: {len(self.buffer)} depth diffs "
                                       "cannot be applied", "no_snapshot"))

    def take_events(self, first_index: int) -> tuple[dict[str, np.ndarray], list[tuple[int, int]]]:
        """The ops so far as book event columns (and ``u`` → book event index of each applied diff's last event).

        A diff's levels come removals first (stable), a snapshot's bids then asks.
        """
        ops, self.ops = self.ops, []
        if not ops:
            return {}, []
        n_ops = len(ops)
        op = np.array([o[0] for o in ops], np.int8)
        srcs: dict[int, int] = {}  # id of a levels tuple → its offset in the concatenated levels
        parts: list[tuple] = []
        first_level = np.zeros(n_ops, np.int64)
        n_lev = np.zeros(n_ops, np.int64)
        for i, o in enumerate(ops):
            d = o[5]
            if d is None:
                continue
            key = id(d.vals)
            if key not in srcs:
                srcs[key] = sum(len(p[0]) for p in parts)
                parts.append(d.vals)
            first_level[i] = srcs[key] + d.a
            n_lev[i] = d.z - d.a
        framed = (op != _OP_DIFF).astype(np.int64)  # snapshot and gap marker: SNAPSHOT_BEGIN ... SNAPSHOT_END
        cnt = n_lev + 2 * framed
        total = int(cnt.sum())
        op_of = np.repeat(np.arange(n_ops), cnt)
        ev_start = np.zeros(n_ops, np.int64)
        np.cumsum(cnt[:-1], out=ev_start[1:])
        pos = np.arange(total) - ev_start[op_of]
        lvl = pos - framed[op_of]
        is_level = (lvl >= 0) & (lvl < n_lev[op_of])
        kind = np.full(total, _LEVEL_SET, np.int8)
        kind[~is_level & (pos == 0)] = _BEGIN
        kind[~is_level & (pos > 0)] = _END
        src = (first_level[op_of] + lvl)[is_level]
        cols = {"ts_ns": np.repeat(np.array([o[1] for o in ops], np.int64), cnt),
                "recv_ts_ns": np.repeat(np.array([o[2] for o in ops], np.int64), cnt),
                "src_row": np.repeat(np.array([o[3] for o in ops], np.int64), cnt),
                "flags": np.repeat(np.array([o[4] for o in ops], np.int16), cnt),
                "kind": kind}
        for j, (name, dtype) in enumerate((("side", np.int8), ("price", np.int64), ("size", np.int64))):
            col = np.zeros(total, dtype)
            col[is_level] = (np.concatenate([p[j] for p in parts]) if len(parts) > 1 else parts[0][j])[src] \
                if parts else 0
            cols[name] = col
        # a diff's removals first, stably; snapshot and marker events keep their order
        rank = is_level & (op[op_of] == _OP_DIFF) & (cols["size"] != 0)
        order = np.argsort(2 * op_of + rank, kind="stable")  # = lexsort((rank, op_of)), faster on sorted op_of
        for name in ("side", "price", "size"):
            cols[name] = cols[name][order]
        last = first_index + ev_start + cnt - 1
        applied = [(o[5].u, int(at)) for o, at in zip(ops, last.tolist()) if o[0] == _OP_DIFF]
        return cols, applied


# --------------------------------------------------------------------------- the stream


def _units_given(option: str | None, what: str) -> _Units | None:
    if option is None:
        return None
    try:
        exp, step = parse_step(option)
    except ValueError as exc:
        raise ValueError(f"{what} option: {exc}") from None
    return _Units(exp, step, False)


@dataclass
class Tickers:
    """``bookTicker`` messages of a batch: update id, best bid price/size, best ask price/size, 0-based line."""

    u: np.ndarray
    bid_price: np.ndarray
    bid_size: np.ndarray
    ask_price: np.ndarray
    ask_size: np.ndarray
    line: np.ndarray


@dataclass
class Chunk:
    """One piece of the tape, in tape order, and for each applied diff whose last event is in it,
    its ``u`` and the chunk row of that event (the book state the diff leaves)."""

    tape: Tape
    applied_u: np.ndarray
    applied_row: np.ndarray


class BinanceStream:
    """Binance futures capture(s) read as a stream of tape :class:`Chunk` s.

    Iterate over it (once) for the chunks; afterwards ``instrument``,
    ``report`` and ``anomalies`` hold what the whole-capture reader returns.
    Chunks carry the instrument as known when they leave; only ``levels`` (the
    deepest REST snapshot so far) can still grow, on a resync with a deeper
    snapshot. ``on_tickers``, when given, is called with each batch's
    :class:`Tickers` (for ``verify``).
    """

    def __init__(self, paths: list[str | Path] | str | Path, symbol: str | None = None, tick: str | None = None,
                 lot: str | None = None, strict: bool = True, chunk_events: int = CHUNK_EVENTS,
                 on_tickers=None, max_lag_ns: int = MAX_LAG_NS) -> None:
        if isinstance(paths, (str, Path)):
            paths = [paths]
        if not paths:
            raise ValueError("read_binance needs at least one capture file")
        self.paths = list(paths)
        self.symbol = symbol
        self.px_given, self.qty_given = _units_given(tick, "tick"), _units_given(lot, "lot")
        self.strict, self.chunk_events, self.on_tickers = strict, chunk_events, on_tickers
        if max_lag_ns < 0:
            raise ValueError(f"max_lag_ns must be >= 0, got {max_lag_ns}")
        self.max_lag_ns = int(max_lag_ns)
        self.anomalies = AnomalyLog(strict=strict)
        self.pos = StreamPosition()
        self.instrument: Instrument | None = None
        self.extra_meta: dict = {}
        self.report: dict = {}
        self._parser: _FastParser | None = None

    @property
    def lines_read(self) -> int:
        """Capture lines read so far by the pass that yields the chunks."""
        return self._parser.lines if self._parser is not None else 0

    def _units(self) -> tuple[_Conv, _Conv]:
        """The units to convert in: given, or inferred by a first pass over the stream."""
        px, qty = self.px_given, self.qty_given
        if px is not None and qty is not None:
            return _Conv(px, px.exp), _Conv(qty, qty.exp)
        scan = _UnitScan(px, qty)
        parser = _FastParser(StreamPosition(), AnomalyLog(strict=False), self.symbol)
        for first, block in read_blocks(self.paths, parser.pos, parser.log, BATCH_LINES):
            scan.add(parser.parse_batch(first, block))
        e0p, ep, e0q, eq = scan.result()
        px_conv = _Conv(px, px.exp) if px is not None else _Conv(_Units(e0p, 1, True), ep)
        qty_conv = _Conv(qty, qty.exp) if qty is not None else _Conv(_Units(e0q, 1, True), eq)
        return px_conv, qty_conv

    def __iter__(self) -> Iterator[Chunk]:
        px, qty = self._units()
        self.px_units, self.qty_units = _Units(px.exp, px.check.step, px.check.inferred), \
            _Units(qty.exp, qty.check.step, qty.check.inferred)
        log, pos = self.anomalies, self.pos
        parser = _FastParser(pos, log, self.symbol)
        sync = _Sync(pos, log)
        self._parser, self._sync = parser, sync
        self._book: list[dict] = []  # book events not yet emitted (with "key", "bidx")
        self._trades: list[dict] = []
        self._applied: list[tuple[int, int]] = []  # (u, book event index) of applied diffs not yet emitted
        self._out: list[dict] = []
        self._out_n = 0
        self._events = self._book_events = self._trade_count = self._tickers = self._kept = 0
        self._last_recv = np.iinfo(np.int64).min
        self._line_max = -1
        self._last_trade_ts: int | None = None
        self._emitted: int | None = None  # every event emitted has ts_ns <= this; later ones must not be earlier
        sync.max_lag_ns = self.max_lag_ns
        for first, block in read_blocks(self.paths, pos, log, BATCH_LINES):
            b = parser.parse_batch(first, block)
            self._kept += len(b.code)
            if len(b.code):
                self._phase_values(b, px, qty)
            yield from self._emit(final=False)
        first_path = str(self.paths[0])
        if not self._kept:
            raise InputError(first_path, None, None, "no usable messages in the capture", "empty")
        if parser.symbol is None:
            raise InputError(first_path, None, "s", "no message names the symbol; pass symbol=", "no_symbol")
        sync.finish(first_path)
        yield from self._emit(final=True)
        if not self._events:
            raise InputError(first_path, None, None, "the capture yields no book or trade events", "empty")
        self.instrument = replace(self.instrument, levels=sync.snapshot_depth)
        self.report = {
            "symbol": parser.symbol,
            "files": [str(p) for p in self.paths],
            "lines": parser.lines,
            "tick": self.px_units.text,
            "tick_inferred": self.px_units.inferred,
            "lot": self.qty_units.text,
            "lot_inferred": self.qty_units.inferred,
            "events": self._events,
            "depth_diffs": sync.depth_diffs,
            "diffs_applied": sync.applied,
            "diffs_dropped_before_sync": sync.dropped_before_sync,
            "diffs_unapplied": len(sync.buffer),
            "gaps": len(sync.gap_list),
            "gap_list": sync.gap_list,
            "snapshots": sync.snapshots,
            "snapshots_unused": sync.snapshots_unused,
            "trades": self._trade_count,
            "tickers": self._tickers,
        }

    def _phase_values(self, b: _Batch, px: _Conv, qty: _Conv) -> None:
        """Phases 3-4 over one batch's messages."""
        log, pos, sync = self.anomalies, self.pos, self._sync
        v = _values(b, px, qty, pos, log)
        kept = np.flatnonzero(v.keep)
        recv = b.recv
        r = recv[kept]
        run = np.maximum.accumulate(np.concatenate([[self._last_recv], r]))
        for k in np.flatnonzero(r < run[:-1]).tolist():
            log.report(pos.error(int(v.line[kept[k]]), "recv_ts_ns", f"receive time {int(r[k])} ns goes back before "
                                 f"{int(run[k])} ns of an earlier line", "recv_time_backwards"))
        self._last_recv = int(run[-1])
        code = v.code[kept]
        vals = (v.side, v.price, v.size)
        # book messages in order, through the sync rule
        bk = kept[code <= _C_SNAPSHOT]
        for row in zip(*(a[bk].tolist() for a in (b.code, b.line, recv, b.ts, b.U, b.u, b.pu, v.start, b.nb, b.na))):
            c, line, rc, ts, big_u, u, pu, a, nb, na = row
            d = _Diff(line, rc, ts, big_u, u, pu, vals, a, a + nb + na, nb)
            if c == _C_DEPTH:
                sync.depth(d)
            else:
                sync.snapshot(d)
        errors = sync.errors
        sync.errors = []
        # trades: exchange time clamped to the previous trade's
        tk = kept[code == _C_TRADE]
        if len(tk):
            ts = b.ts[tk]
            prev = ts[0] if self._last_trade_ts is None else self._last_trade_ts
            run = np.maximum.accumulate(np.concatenate([[prev], ts]))
            for k in np.flatnonzero(ts < run[:-1]).tolist():
                line = int(v.line[tk[k]])
                errors.append((line, pos.error(line, "T", f"trade time {int(ts[k])} ns goes back before "
                                                          f"{int(run[k])} ns of the previous trade",
                                               "exchange_time_backwards")))
            ts_ns = run[1:]
            if self._emitted is not None:
                for k in np.flatnonzero((ts >= run[:-1]) & (ts < self._emitted)).tolist():
                    line = int(v.line[tk[k]])
                    errors.append((line, _lag_error(pos, line, "trade", int(ts[k]), self._emitted, self.max_lag_ns)))
                ts_ns = np.maximum(ts_ns, self._emitted)
            self._last_trade_ts = int(ts_ns[-1])
            at = v.start[tk]
            self._trades.append({"ts_ns": ts_ns, "recv_ts_ns": recv[tk], "kind": np.full(len(tk), _TRADE, np.int8),
                                 "side": v.side[at], "price": v.price[at], "size": v.size[at],
                                 "src_row": v.line[tk], "flags": np.zeros(len(tk), np.int16), "key": v.line[tk],
                                 "bidx": np.full(len(tk), -1, np.int64)})
            self._trade_count += len(tk)
        for _, err in sorted(errors, key=lambda e: e[0]):
            log.report(err)
        tick_k = kept[code == _C_TICKER]
        self._tickers += len(tick_k)
        if self.on_tickers is not None and len(tick_k):
            at = v.start[tick_k]
            self.on_tickers(Tickers(b.u[tick_k], v.price[at], v.size[at], v.price[at + 1],
                                    v.size[at + 1], v.line[tick_k]))
        self._take_book()

    def _take_book(self) -> None:
        cols, applied = self._sync.take_events(self._book_events)
        if not cols:
            return
        n = len(cols["ts_ns"])
        key = np.maximum.accumulate(np.concatenate([[self._line_max], cols["src_row"]]))[1:]
        self._line_max = int(key[-1])
        cols["key"] = key
        cols["bidx"] = np.arange(self._book_events, self._book_events + n, dtype=np.int64)
        self._book_events += n
        self._book.append(cols)
        self._applied.extend(applied)

    def _emit(self, final: bool) -> Iterator[Chunk]:
        """Move the events no later message can precede to the output; yield full chunks (all when ``final``)."""
        if final:
            self._take_book()
            cut = None
        else:
            cut = self._cut()
        if cut != -1 and (self._book or self._trades):
            parts = []
            for pend in (self._book, self._trades):
                if not pend:
                    continue
                cols = {c: np.concatenate([p[c] for p in pend]) for c in pend[0]} if len(pend) > 1 else pend[0]
                m = len(cols["ts_ns"]) if cut is None else int(np.searchsorted(cols["ts_ns"], cut, side="right"))
                parts.append({c: a[:m] for c, a in cols.items()})
                pend[:] = [{c: a[m:] for c, a in cols.items()}] if m < len(cols["ts_ns"]) else []
            cols = {c: np.concatenate([p[c] for p in parts]) for c in parts[0]} if len(parts) > 1 else parts[0]
            n = len(cols["ts_ns"])
            if n:
                by_key = np.argsort(cols["key"], kind="stable")  # then by time, stably: (ts_ns, key, arrival)
                order = by_key[np.argsort(cols["ts_ns"][by_key], kind="stable")]
                self._out.append({c: a[order] for c, a in cols.items()})
                self._out_n += n
        while self._out_n >= self.chunk_events or (final and self._out_n):
            yield self._chunk()

    def _cut(self) -> int:
        """Exchange time up to which no later message can come before the events held (-1: none yet).

        Later book events have ``ts_ns`` >= the last book event's, later trades
        >= the last trade's (each clamped), and every later message >= the latest
        exchange time read minus ``max_lag_ns``, the most one stream may trail
        another (enforced: see :func:`_lag_error`). So a capture without trades,
        or with long pauses between them, holds ``max_lag_ns`` of book events,
        not the day.
        """
        book, trade = self._sync.last_ts, self._last_trade_ts
        if book is None and trade is None:
            return -1
        floor = max(t for t in (book, trade) if t is not None) - self.max_lag_ns
        cut = min(floor if book is None else max(book, floor), floor if trade is None else max(trade, floor))
        if self._emitted is not None:
            cut = max(cut, self._emitted)
        self._emitted = self._sync.floor = cut
        return cut

    def _chunk(self) -> Chunk:
        n = min(self._out_n, self.chunk_events)
        take, m = [], 0  # the first n events held, in parts; only the columns a chunk needs are joined
        while m < n:
            part = self._out[0]
            k = len(part["ts_ns"])
            if m + k <= n:
                take.append(self._out.pop(0))
                m += k
            else:
                take.append({c: a[:n - m] for c, a in part.items()})
                self._out[0] = {c: a[n - m:] for c, a in part.items()}
                m = n
        self._out_n -= n
        out = {c: np.concatenate([p[c] for p in take]) if len(take) > 1 else take[0][c] for c in _COLS + ("bidx",)}
        cols = {c: out[c] for c in _COLS}
        if self.instrument is None:
            self._make_instrument(int(cols["ts_ns"][0]))
        bidx = out["bidx"][:n]
        # applied diffs whose last event is in this chunk
        book_rows = np.flatnonzero(bidx >= 0)
        done = 0
        hi = int(bidx[book_rows[-1]]) if len(book_rows) else -1
        while done < len(self._applied) and self._applied[done][1] <= hi:
            done += 1
        app, self._applied = self._applied[:done], self._applied[done:]
        au = np.array([a[0] for a in app], np.int64)
        ab = np.array([a[1] for a in app], np.int64)
        rows = book_rows[np.searchsorted(bidx[book_rows], ab)] if len(ab) else np.zeros(0, np.int64)
        inst = replace(self.instrument, levels=self._sync.snapshot_depth)
        # every column given (Tape.from_columns would also build its defaults for them)
        tape = Tape(instrument=inst, extra_meta=dict(self.extra_meta), order_id=np.zeros(n, np.int64), **cols)
        self._events += n
        return Chunk(tape, au, rows)

    def _make_instrument(self, first_ts: int) -> None:
        sym = self._parser.symbol
        first_path = str(self.paths[0])
        if sym is None:
            raise InputError(first_path, None, "s", "no message names the symbol; pass symbol=", "no_symbol")
        try:
            currency = quote_asset(sym)
        except ValueError as exc:
            raise InputError(first_path, None, "s", str(exc), "unknown_symbol") from None
        day = dt.datetime.fromtimestamp(first_ts // 10**9, dt.timezone.utc).date().isoformat()
        px, qty = self.px_units, self.qty_units
        self.instrument = Instrument(symbol=sym, venue=VENUE, date=day, price_scale=10**px.exp, tick_size=px.step,
                                     size_scale=10**qty.exp, lot_size=qty.step, timezone="UTC",
                                     levels=self._sync.snapshot_depth, currency=currency, source=SOURCE)
        self.extra_meta = {"tick": px.text, "lot": qty.text}
