"""Binance futures (USD-M and COIN-M) raw websocket captures → event tape.

Input: gzip (or plain) text, one message per line, ``<local receive ns> <json>``.
Messages are combined-stream wrappers ``{"stream": ..., "data": {...}}`` (or
the bare ``data`` object) of kind ``depthUpdate`` (diffs: ``U``, ``u``,
``pu``, ``b``/``a`` levels with the absolute new quantity, ``"0"`` removes),
``bookTicker`` and ``trade``, plus REST depth snapshot lines
(``lastUpdateId``, ``bids``, ``asks``, no stream name). Several files are one
stream in the given order (a day file and its continuation).

Output tape (:mod:`tickreplay.tape`), ``order_id`` 0 throughout:

* a REST snapshot → SNAPSHOT_BEGIN, one LEVEL_SET per level (bids, then
  asks), SNAPSHOT_END;
* an applied diff → one LEVEL_SET per level, removals first (so no
  intermediate row is crossed unless the diff's own end state is);
* a trade → TRADE with ``side`` the *resting* side: ``m`` true means the
  buyer is the maker, so the resting side is +1 and the aggressor sells.

``ts_ns`` is the exchange's transaction time ``T`` (ms → ns): the matching
engine's time of the book change or trade, the same clock for diffs, trades
and snapshots. The event time ``E`` is when the gateway pushed the message;
it lags ``T`` by batching and is not the time the book changed. ``recv_ts_ns``
is the capture's local receive time. ``src_row`` is the 0-based line in the
concatenated stream.

Synchronisation (Binance's USD-M/COIN-M rule). Diffs that arrive before a
snapshot wait in a buffer (the REST snapshot is fetched after the stream
starts, so the diffs it needs arrive first). When a snapshot arrives it is
emitted at its own ``T``; then diffs with ``u < lastUpdateId`` are dropped
(``diffs_dropped_before_sync``), the first applied one must have
``U <= lastUpdateId <= u``, and every later diff's ``pu`` must equal the
previous applied diff's ``u``. A break is a *gap*: it is reported (count and
line), diffs stop being applied, the book is cleared by an empty
SNAPSHOT_BEGIN/SNAPSHOT_END pair flagged ``FLAG_RESYNC`` at the time of the
last good book event (so nothing downstream trades on a stale book), and the
book is rebuilt from the next snapshot line, emitted with ``FLAG_RESYNC``.
A snapshot whose ``lastUpdateId`` is older than the first diff still to come
(``U > lastUpdateId``) cannot be bridged and is a gap too (field ``U``).
Nothing is guessed. A snapshot arriving while the book is in sync is not
needed and is counted as ``snapshots_unused``.

Strict and lenient: a gap later resolved by a snapshot is counted
(``sequence_gap_resynced``) but raises in neither mode; a gap still open at
the end of the stream raises an ``InputError`` (file, line, field ``pu`` or
``U``) in strict mode and is counted as ``sequence_gap`` in lenient mode.
Every other bad line (bad JSON, missing field, non-numeric or off-grid
value, receive time or exchange time going backwards, truncated gzip)
raises in strict mode; lenient mode counts it per kind and skips the
message (a skipped diff then shows up as a gap), except time going
backwards, where the message is kept (exchange time clamped to the previous
event's so the tape stays ordered). A skipped line leaves no trace but its
own anomaly count: its receive time takes no part in the receive-time order
check of the lines around it, its symbol does not name the stream, its
values take no part in inferring the tick and lot, and it reaches neither
the book nor any count of the report except ``lines`` (lines read). So a
corrupted line with a receive time far off costs one anomaly, not one
``recv_time_backwards`` per later line. Checks run in this order, each over
the lines the previous ones kept, and strict mode raises the first problem
of the first check that finds one: line format and fields (line by line),
values (decimal, positive, on the grid), receive-time order, exchange-time
order and synchronisation.

Tape order: exchange-time order. Book events (snapshots and applied diffs)
keep their synchronisation order and trades their stream order; the two are
merged by ``ts_ns``, ties broken by arrival (capture line; for a book event,
the latest line that fed the book so far). Diffs are never reordered.

Prices and quantities: decimal strings → integers by string manipulation
(:mod:`tickreplay.adapters.decimal_units`), never via floats.
``price_scale = 10**(decimals of the tick)``, ``tick_size`` in those units
(BTCUSDT tick 0.1 → scale 10, tick 1); likewise ``size_scale``/``lot_size``
from the lot (0.001 → 1000, 1; COIN-M contracts, lot 1 → 1, 1). A value
with more significant decimals than the tick/lot allows, or not a multiple
of it, is off grid (an error). When ``tick``/``lot`` are not given they are
inferred: the tick is ``10**-d`` with ``d`` the most significant decimal
places (trailing zeros dropped) of any price in the capture, the lot
likewise from quantities. That is exact as soon as the data shows a price
(quantity) ending on a non-zero last digit of the tick (lot), which minutes
of an active market always do; it cannot see ticks that are not powers of
ten (e.g. 0.5): pass ``tick``/``lot`` for those.

Instrument: venue ``BINANCE-FUTURES``, currency the quote asset of the
symbol (``BTCUSDT`` → USDT, ``BTCUSD_PERP`` → USD), date the UTC date of the
first event, ``levels`` the depth per side of the REST snapshot (the book is
complete to that depth at sync; deeper levels are known only once a diff
touches them).
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from tickreplay.adapters import IngestResult
from tickreplay.adapters.capture_lines import StreamPosition, read_lines
from tickreplay.adapters.decimal_units import (
    OffGridError,
    check_plain,
    is_plain,
    parse_step,
    significant_decimals,
    to_units,
    units_to_text,
)
from tickreplay.book.fast import compute_snapshots
from tickreplay.errors import AnomalyLog, InputError
from tickreplay.tape import FLAG_RESYNC, EventKind, Instrument, Tape

VENUE = "BINANCE-FUTURES"
SOURCE = "binance"
#: quote assets of Binance futures symbols, longest first so USDT wins over USD
QUOTE_ASSETS = ("FDUSD", "USDT", "USDC", "BUSD", "USD")

_LEVEL_SET = int(EventKind.LEVEL_SET)
_TRADE = int(EventKind.TRADE)
_BEGIN = int(EventKind.SNAPSHOT_BEGIN)
_END = int(EventKind.SNAPSHOT_END)
_NS_PER_MS = 1_000_000
_INT64_MAX = (1 << 63) - 1
_DEPTH, _SNAPSHOT, _TRADE_MSG, _TICKER = "depthUpdate", "snapshot", "trade", "bookTicker"
_BOOK_COLS = ("ts_ns", "recv_ts_ns", "kind", "side", "price", "size", "src_row", "flags")


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
        self.lines += 1
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


def _units(option: str | None, values, what: str) -> _Units:
    if option is not None:
        try:
            exp, step = parse_step(option)
        except ValueError as exc:
            raise ValueError(f"{what} option: {exc}") from None
        return _Units(exp, step, False)
    return _Units(max((significant_decimals(v) for v in set(values) if is_plain(v)), default=0), 1, True)


def _convert(msgs: list[_Msg], px: _Units, qty: _Units, pos: StreamPosition,
             log: AnomalyLog) -> tuple[list[_Msg], list[tuple[list, list]]]:
    """Phase 3: decimal strings → integers; messages with a bad value are reported and left out.

    Returns the kept messages and, for each, its (bids, asks) in integer
    units; the messages themselves are not changed.
    """
    kept, converted = [], []
    done: tuple[dict[str, int], dict[str, int]] = ({}, {})  # price, quantity strings already converted
    for m in msgs:
        try:
            sides = []
            for side, levels in ((1, m.bids), (-1, m.asks)):
                out = []
                for i, (p, q) in enumerate(levels):
                    pi, qi = done[0].get(p), done[1].get(q)
                    if pi is None:
                        pi = done[0][p] = _to_int(p, px, m, side, i, 0, pos)
                    if qi is None:
                        qi = done[1][q] = _to_int(q, qty, m, side, i, 1, pos)
                    if m.kind == _TRADE_MSG and qi == 0:
                        raise pos.error(m.line, "q", f"trade quantity must be positive, got {q}", "bad_size")
                    out.append((pi, qi))
                sides.append(out)
        except InputError as err:
            log.report(err)
            continue
        kept.append(m)
        converted.append((sides[0], sides[1]))
    return kept, converted


def _to_units_of_kept(msgs: list[_Msg], tick: str | None, lot: str | None, pos: StreamPosition,
                      log: AnomalyLog) -> tuple[list[_Msg], _Units, _Units]:
    """Phases 2-3: units (given, or inferred from the messages kept) and the kept messages in them.

    A message dropped for a bad value must not have set an inferred tick or
    lot, so when one is dropped the units are inferred again from the rest
    (and the rest converted again; a smaller unit fits every value the larger
    one did). Levels are replaced by integers in place once the set is final.
    """
    while True:
        px = _units(tick, (p for m in msgs for lv in (m.bids, m.asks) for p, _ in lv), "tick")
        qty = _units(lot, (q for m in msgs for lv in (m.bids, m.asks) for _, q in lv), "lot")
        kept, converted = _convert(msgs, px, qty, pos, log)
        if len(kept) == len(msgs) or not (px.inferred or qty.inferred):
            break
        msgs = kept
    for m, (bids, asks) in zip(kept, converted):
        m.bids, m.asks = bids, asks
    return kept, px, qty


def _check_receive_order(msgs: list[_Msg], pos: StreamPosition, log: AnomalyLog) -> None:
    """Report each kept message whose receive time goes back before an earlier kept message's (kept as is)."""
    last: int | None = None
    for m in msgs:
        if last is not None and m.recv_ns < last:
            log.report(pos.error(m.line, "recv_ts_ns",
                                 f"receive time {m.recv_ns} ns goes back before {last} ns of an earlier line",
                                 "recv_time_backwards"))
        else:
            last = m.recv_ns


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


class _Sync:
    """Phase 4: the book sequence (snapshots and applied diffs) by Binance's futures sync rule."""

    def __init__(self, pos: StreamPosition, log: AnomalyLog) -> None:
        self.pos, self.log = pos, log
        self.cols: dict[str, list[int]] = {c: [] for c in _BOOK_COLS}
        self.synced = False
        self.pending: _Msg | None = None  # snapshot emitted, waiting for the diff that straddles it
        self.buffer: list[_Msg] = []  # diffs waiting for a snapshot
        self.last_u = 0
        self.last_ts: int | None = None
        self.open_gaps: list[InputError] = []
        self.gap_list: list[dict] = []
        self.applied_at: dict[int, int] = {}  # diff u → index of the book sequence's event after it
        self.depth_diffs = self.applied = self.dropped_before_sync = 0
        self.snapshots = self.snapshots_unused = self.snapshot_depth = 0

    # -- emitting -------------------------------------------------------------
    def _emit(self, ts: int, recv: int, kind: int, side: int, price: int, size: int, line: int, flags: int) -> None:
        c = self.cols
        c["ts_ns"].append(ts)
        c["recv_ts_ns"].append(recv)
        c["kind"].append(kind)
        c["side"].append(side)
        c["price"].append(price)
        c["size"].append(size)
        c["src_row"].append(line)
        c["flags"].append(flags)

    def _emit_levels(self, ts: int, recv: int, line: int, flags: int, levels: list[tuple[int, int, int]]) -> None:
        """One LEVEL_SET per (side, price, size), all at one time and line."""
        n = len(levels)
        c = self.cols
        for name, v in (("ts_ns", ts), ("recv_ts_ns", recv), ("kind", _LEVEL_SET), ("src_row", line), ("flags", flags)):
            c[name].extend([v] * n)
        for name, j in (("side", 0), ("price", 1), ("size", 2)):
            c[name].extend([lvl[j] for lvl in levels])

    def _time(self, m: _Msg) -> int:
        """``m``'s exchange time, checked not to go back before the previous book event's."""
        if self.last_ts is not None and m.ts_ns < self.last_ts:
            self.log.report(self.pos.error(
                m.line, "T", f"exchange time {m.ts_ns} ns goes back before {self.last_ts} ns of the previous book "
                             "event", "exchange_time_backwards"))
            return self.last_ts
        self.last_ts = m.ts_ns
        return m.ts_ns

    def _emit_snapshot(self, m: _Msg, flags: int) -> None:
        ts = self._time(m)
        self._emit(ts, m.recv_ns, _BEGIN, 0, 0, 0, m.line, flags)
        self._emit_levels(ts, m.recv_ns, m.line, flags, [(1, p, q) for p, q in m.bids] + [(-1, p, q) for p, q in m.asks])
        self._emit(ts, m.recv_ns, _END, 0, 0, 0, m.line, flags)
        self.snapshots += 1
        self.snapshot_depth = max(self.snapshot_depth, len(m.bids), len(m.asks))

    def _apply(self, d: _Msg) -> None:
        ts = self._time(d)
        levels = [(1, p, q) for p, q in d.bids] + [(-1, p, q) for p, q in d.asks]
        levels.sort(key=lambda lvl: lvl[2] != 0)  # removals first (stable)
        self._emit_levels(ts, d.recv_ns, d.line, 0, levels)
        self.last_u = d.u
        self.applied += 1
        self.applied_at[d.u] = len(self.cols["ts_ns"]) - 1

    def _gap(self, d: _Msg, fld: str, message: str) -> None:
        path, row = self.pos.where(d.line)
        self.gap_list.append({"file": path, "line": row, "src_row": d.line, "field": fld, "resynced_at_src_row": None})
        self.open_gaps.append(self.pos.error(d.line, fld, message, "sequence_gap"))
        self._emit(self.last_ts, d.recv_ns, _BEGIN, 0, 0, 0, d.line, FLAG_RESYNC)
        self._emit(self.last_ts, d.recv_ns, _END, 0, 0, 0, d.line, FLAG_RESYNC)
        self.synced = False
        self.pending = None
        self.buffer = [d]

    # -- messages -------------------------------------------------------------
    def snapshot(self, m: _Msg) -> None:
        if self.synced:
            self.snapshots_unused += 1
            return
        self._emit_snapshot(m, FLAG_RESYNC if self.gap_list else 0)
        self.pending = m
        waiting, self.buffer = self.buffer, []
        for d in waiting:
            self._diff(d)

    def depth(self, d: _Msg) -> None:
        self.depth_diffs += 1
        self._diff(d)

    def _diff(self, d: _Msg) -> None:
        if self.synced:
            if d.pu == self.last_u:
                self._apply(d)
            else:
                self._gap(d, "pu", f"sequence gap: pu {d.pu} is not the previous diff's u {self.last_u}")
        elif self.pending is not None:
            last_id = self.pending.u
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
            self.buffer.append(d)

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


@dataclass
class _Ingested:
    tape: Tape
    log: AnomalyLog
    report: dict
    tickers: list[_Msg]
    applied_rows: dict[int, int]  # diff u → tape row of the book state after it
    pos: StreamPosition


def _ingest(paths: list[str | Path], symbol: str | None, tick: str | None, lot: str | None,
            strict: bool) -> _Ingested:
    if isinstance(paths, (str, Path)):
        paths = [paths]
    if not paths:
        raise ValueError("read_binance needs at least one capture file")
    log = AnomalyLog(strict=strict)
    pos = StreamPosition()
    parser = _Parser(pos, log, symbol)
    msgs = [m for m in (parser.parse(line, text) for line, text in read_lines(paths, pos, log)) if m is not None]
    if not msgs:
        raise InputError(str(paths[0]), None, None, "no usable messages in the capture", "empty")
    if parser.symbol is None:
        raise InputError(str(paths[0]), None, "s", "no message names the symbol; pass symbol=", "no_symbol")
    msgs, px, qty = _to_units_of_kept(msgs, tick, lot, pos, log)
    _check_receive_order(msgs, pos, log)

    sync = _Sync(pos, log)
    trades = {c: [] for c in _BOOK_COLS}
    tickers: list[_Msg] = []
    last_trade_ts: int | None = None
    for m in msgs:
        if m.kind == _DEPTH:
            sync.depth(m)
        elif m.kind == _SNAPSHOT:
            sync.snapshot(m)
        elif m.kind == _TICKER:
            tickers.append(m)
        else:
            ts = m.ts_ns
            if last_trade_ts is not None and ts < last_trade_ts:
                log.report(pos.error(m.line, "T", f"trade time {ts} ns goes back before {last_trade_ts} ns of the "
                                                  "previous trade", "exchange_time_backwards"))
                ts = last_trade_ts
            last_trade_ts = ts
            side, (p, q) = (1, m.bids[0]) if m.bids else (-1, m.asks[0])
            for c, v in zip(_BOOK_COLS, (ts, m.recv_ns, _TRADE, side, p, q, m.line, 0)):
                trades[c].append(v)
    sync.finish(str(paths[0]))

    book = {c: np.asarray(v, dtype=np.int64) for c, v in sync.cols.items()}
    trade = {c: np.asarray(v, dtype=np.int64) for c, v in trades.items()}
    # merge by exchange time; ties by arrival; each sequence keeps its own order
    line_key = np.concatenate([np.maximum.accumulate(book["src_row"]) if len(book["src_row"]) else book["src_row"],
                               trade["src_row"]])
    ts = np.concatenate([book["ts_ns"], trade["ts_ns"]])
    order = np.lexsort((np.arange(len(ts)), line_key, ts))
    cols = {c: np.concatenate([book[c], trade[c]])[order] for c in _BOOK_COLS}
    if not len(order):
        raise InputError(str(paths[0]), None, None, "the capture yields no book or trade events", "empty")
    row_of = np.empty(len(order), np.int64)
    row_of[order] = np.arange(len(order))
    applied_rows = {u: int(row_of[i]) for u, i in sync.applied_at.items()}

    sym = parser.symbol
    try:
        currency = quote_asset(sym)
    except ValueError as exc:
        raise InputError(str(paths[0]), None, "s", str(exc), "unknown_symbol") from None
    day = dt.datetime.fromtimestamp(int(cols["ts_ns"][0]) // 10**9, dt.timezone.utc).date().isoformat()
    inst = Instrument(symbol=sym, venue=VENUE, date=day, price_scale=10**px.exp, tick_size=px.step,
                      size_scale=10**qty.exp, lot_size=qty.step, timezone="UTC", levels=sync.snapshot_depth,
                      currency=currency, source=SOURCE)
    tape = Tape.from_columns(inst, extra_meta={"tick": px.text, "lot": qty.text}, order_id=np.zeros(len(order), np.int64),
                             **cols)
    report = {
        "symbol": sym,
        "files": [str(p) for p in paths],
        "lines": parser.lines,
        "tick": px.text,
        "tick_inferred": px.inferred,
        "lot": qty.text,
        "lot_inferred": qty.inferred,
        "events": len(tape),
        "depth_diffs": sync.depth_diffs,
        "diffs_applied": sync.applied,
        "diffs_dropped_before_sync": sync.dropped_before_sync,
        "diffs_unapplied": len(sync.buffer),
        "gaps": len(sync.gap_list),
        "gap_list": sync.gap_list,
        "snapshots": sync.snapshots,
        "snapshots_unused": sync.snapshots_unused,
        "trades": len(trade["ts_ns"]),
        "tickers": len(tickers),
    }
    return _Ingested(tape, log, report, tickers, applied_rows, pos)


def read_binance(paths: list[str | Path], symbol: str | None = None, tick: str | None = None,
                 lot: str | None = None, levels: int = 20, strict: bool = True) -> IngestResult:
    """Read Binance futures capture file(s), one stream in the given order, into a tape.

    ``tick``/``lot``: decimal strings (e.g. "0.1", "0.001"); inferred from the
    data when None (see the module docstring). ``levels``: depth of the
    per-event top-N snapshots. ``strict``: raise at the first bad line, or
    count anomalies per kind and go on.
    """
    ing = _ingest(paths, symbol, tick, lot, strict)
    snaps = compute_snapshots(ing.tape, levels)
    return IngestResult(tape=ing.tape, snapshots=snaps, anomalies=ing.log, report=ing.report)


def verify_binance(paths: list[str | Path], tick: str | None = None, lot: str | None = None,
                   strict: bool = True) -> dict:
    """Replay a capture and check the book against every ``bookTicker`` that shares an update id with it.

    A ticker is checked when its ``u`` equals the ``u`` of an applied diff
    (the book state after that diff). ``ticker_agree``: best bid and best ask
    prices both agree; ``ticker_size_agree``: prices and sizes of both sides agree.
    """
    ing = _ingest(paths, None, tick, lot, strict)
    top = compute_snapshots(ing.tape, 1)
    checks = agree = size_agree = 0
    disagreements = []
    for t in ing.tickers:
        row = ing.applied_rows.get(t.u)
        if row is None:
            continue
        checks += 1
        (bp, bq), (ap, aq) = t.bids[0], t.asks[0]
        px_ok = top.bid_price[row, 0] == bp and top.ask_price[row, 0] == ap
        sz_ok = px_ok and top.bid_size[row, 0] == bq and top.ask_size[row, 0] == aq
        agree += bool(px_ok)
        size_agree += bool(sz_ok)
        if not sz_ok and len(disagreements) < 5:
            path, line = ing.pos.where(t.line)
            disagreements.append({"file": path, "line": line, "ticker": [bp, bq, ap, aq],
                                  "book": [int(top.bid_price[row, 0]), int(top.bid_size[row, 0]),
                                           int(top.ask_price[row, 0]), int(top.ask_size[row, 0])]})
    keys = ("symbol", "tick", "lot", "events", "depth_diffs", "diffs_applied", "diffs_dropped_before_sync",
            "diffs_unapplied", "gaps", "snapshots", "snapshots_unused", "trades", "tickers")
    return {
        "ticker_checks": checks,
        "ticker_agree": agree,
        "ticker_size_agree": size_agree,
        **{k: ing.report[k] for k in keys},
        "ticker_disagreements": disagreements,
        "anomalies": {k: int(v) for k, v in sorted(ing.log.counts.items())},
    }
