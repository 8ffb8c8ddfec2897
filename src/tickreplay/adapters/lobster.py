"""LOBSTER (NASDAQ, order by order) message/orderbook pair → an event tape that replays exactly.

LOBSTER's message file only holds events inside the requested top-N price
window, so replaying messages alone drifts from LOBSTER's own orderbook file
(levels that come into view without a message, orders resting from before the
file or reduced while outside the window). The adapter uses both files: it
runs an :class:`~tickreplay.book.L3Book` while building the tape and, after
each message, appends the *implied* events (``FLAG_IMPLIED``, same ``src_row``
and time) that make the book's top N equal that orderbook row:

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
from itertools import islice
from pathlib import Path

import numpy as np

from tickreplay.adapters import IngestResult
from tickreplay.adapters.lobster_csv import PRICE_SCALE, Messages, Orderbook, read_pair
from tickreplay.book import L3Book
from tickreplay.book.base import BookError
from tickreplay.book.snapshots import Snapshots
from tickreplay.clock import local_midnight_ns, trading_date
from tickreplay.errors import AnomalyLog, InputError
from tickreplay.tape import FLAG_IMPLIED, FLAG_UNKNOWN_ID, EventKind, Instrument, Tape

VENUE = "NASDAQ"
TIMEZONE = "America/New_York"
TICK_SIZE = 100  # one cent in LOBSTER price units

_NAME_RE = re.compile(r"(?P<symbol>.+)_(?P<date>\d{4}-\d{2}-\d{2})_(?P<start_ms>\d+)_(?P<end_ms>\d+)_message_\d+\.csv")

_ADD, _PARTIAL, _DELETE, _EXEC = (int(k) for k in (EventKind.ADD, EventKind.PARTIAL_CANCEL,
                                                   EventKind.DELETE, EventKind.EXECUTE_VISIBLE))
_LEVEL_SET = int(EventKind.LEVEL_SET)
_HALT_KINDS = {-1: int(EventKind.HALT), 0: int(EventKind.QUOTE_RESUME), 1: int(EventKind.RESUME)}
_NO_BOOK_CHANGE = {int(EventKind.EXECUTE_HIDDEN), int(EventKind.CROSS_TRADE), *_HALT_KINDS.values(),
                   int(EventKind.SNAPSHOT_END)}


def parse_file_name(message_csv: str | Path) -> tuple[str, str] | None:
    """(symbol, date) from ``TICKER_YYYY-MM-DD_start_end_message_N.csv``; None if the name does not fit."""
    m = _NAME_RE.fullmatch(Path(message_csv).name)
    return (m.group("symbol"), m.group("date")) if m else None


class _TapeBuilder:
    """Appends events to tape columns while applying them to an L3 book; keeps the top N after each."""

    def __init__(self, levels: int) -> None:
        self.levels = levels
        self.book = L3Book()
        self.cols: tuple[list[int], ...] = tuple([] for _ in range(8))  # ts kind side price size id row flags
        self.snaps: list[list[int]] = []
        self.cur = [0] * (4 * levels)
        self.shortfall = 0
        self.implied = 0

    def emit(self, ts: int, kind: int, side: int, price: int, size: int, oid: int, row: int, flags: int) -> None:
        self.shortfall += self.book.apply(kind, side, price, size, oid)
        for col, v in zip(self.cols, (ts, kind, side, price, size, oid, row, flags)):
            col.append(v)
        if kind not in _NO_BOOK_CHANGE:
            self.cur = self._top()
        self.snaps.append(self.cur)
        self.implied += (flags & FLAG_IMPLIED) != 0

    def _top(self) -> list[int]:
        """Top N as a flat LOBSTER-layout row, empty levels (0, 0)."""
        row = [0] * (4 * self.levels)
        for off, side in ((0, -1), (2, 1)):
            j = off
            for p, s in islice(self.book.levels(side), self.levels):
                row[j], row[j + 1] = p, s
                j += 4
        return row

    def snapshot(self, ts: int, pre: dict[int, dict[int, int]]) -> None:
        """Open the tape with the pre-state ``{side: {price: size}}``."""
        self.emit(ts, int(EventKind.SNAPSHOT_BEGIN), 0, 0, 0, 0, 0, FLAG_IMPLIED)
        for side in (-1, 1):
            for p in sorted(pre[side], reverse=side == 1):
                if pre[side][p] > 0:
                    self.emit(ts, _LEVEL_SET, side, p, pre[side][p], 0, 0, FLAG_IMPLIED)
        self.emit(ts, int(EventKind.SNAPSHOT_END), 0, 0, 0, 0, 0, FLAG_IMPLIED)

    def set_level(self, ts: int, row: int, side: int, price: int, target: int) -> None:
        """Make the visible size at (side, price) ``target``: cancel known orders from the back, then LEVEL_SET."""
        known = self.book.known_size_at(side, price)
        for oid, q in reversed(self.book.orders_at(side, price)):
            if known <= target:
                break
            cut = min(q, known - target)
            self.emit(ts, _DELETE if cut == q else _PARTIAL, side, price, cut, oid, row, FLAG_IMPLIED)
            known -= cut
        if self.book.size_at(side, price) != target:
            self.emit(ts, _LEVEL_SET, side, price, target, 0, row, FLAG_IMPLIED)

    def correct(self, ts: int, row: int, target: list[int]) -> None:
        """Emit implied events until the top N equals ``target`` (a flat orderbook row)."""
        n = self.levels
        while self.cur != target:
            before = len(self.snaps)
            for off, side in ((0, -1), (2, 1)):
                want = [(target[j], target[j + 1]) for j in range(off, 4 * n, 4) if target[j + 1] > 0]
                shown = {p for p, _ in want}
                edge = want[-1][0] if len(want) == n else None
                stale = []
                for p, _ in self.book.levels(side):
                    if edge is not None and (p >= edge if side == -1 else p <= edge):
                        break
                    if p not in shown:
                        stale.append(p)
                for p in stale:
                    self.set_level(ts, row, side, p, 0)
                for p, s in want:
                    if self.book.size_at(side, p) != s:
                        self.set_level(ts, row, side, p, s)
            if len(self.snaps) == before:  # pragma: no cover - the pass above always converges
                raise AssertionError(f"row {row + 1}: corrections made no progress")


def _pre_state(msgs: Messages, ob: Orderbook) -> dict[int, dict[int, int]]:
    """The book before message 0: orderbook row 0 with message 0's own effect undone."""
    pre: dict[int, dict[int, int]] = {-1: {}, 1: {}}
    if len(ob) == 0 or not ob.ok[0]:
        return pre
    r = ob.rows[0].tolist()
    for j in range(ob.levels):
        if r[4 * j + 1]:
            pre[-1][r[4 * j]] = r[4 * j + 1]
        if r[4 * j + 3]:
            pre[1][r[4 * j + 2]] = r[4 * j + 3]
    if msgs.ok[0]:
        t, side, price, size = (int(a[0]) for a in (msgs.type, msgs.direction, msgs.price, msgs.size))
        if t == _ADD:
            pre[side][price] = max(0, pre[side].get(price, 0) - size)
        elif t in (_PARTIAL, _DELETE, _EXEC):
            pre[side][price] = pre[side].get(price, 0) + size
    return pre


def _read_pair(message_csv: str | Path, orderbook_csv: str | Path, log: AnomalyLog) -> tuple[Messages, Orderbook, int]:
    """Read and row-check both files; report their errors in row order; return the rows both files have."""
    msgs, m_err, ob, o_err = read_pair(message_csv, orderbook_csv, TICK_SIZE)
    n = min(len(msgs), len(ob))
    errors = sorted((e for e in m_err + o_err if e.row <= n), key=lambda e: e.row)  # stable: messages first
    for e in errors:
        log.report(e)
    if len(msgs) != len(ob):
        longer = msgs.path if len(msgs) > len(ob) else ob.path
        extra = abs(len(msgs) - len(ob))
        err = InputError(longer, n + 1, None,
                         f"message file has {len(msgs)} rows, orderbook file {len(ob)}: every message needs "
                         f"its orderbook row ({extra} rows without a partner dropped)", "row_count_mismatch")
        log.report(err)
        log.count(err.kind, str(err), extra - 1)
    return msgs, ob, n


def _ingest(message_csv: str | Path, orderbook_csv: str | Path, symbol: str | None, date: str | None,
            strict: bool) -> tuple[IngestResult, Orderbook, int]:
    if symbol is None or date is None:
        parsed = parse_file_name(message_csv)
        if parsed is None:
            raise InputError(str(message_csv), None, "file name",
                             "expected TICKER_YYYY-MM-DD_start_end_message_N.csv, or give symbol and date")
        symbol, date = symbol or parsed[0], date or parsed[1]
    midnight = local_midnight_ns(trading_date(date, "trading date"), TIMEZONE)
    log = AnomalyLog(strict=strict)
    msgs, ob, n = _read_pair(message_csv, orderbook_csv, log)
    inst = Instrument(symbol=symbol, venue=VENUE, date=date, price_scale=PRICE_SCALE, tick_size=TICK_SIZE,
                      size_scale=1, lot_size=1, timezone=TIMEZONE, levels=ob.levels, currency="USD",
                      source="lobster")
    b = _TapeBuilder(ob.levels)
    counts = {"unknown_order_events": 0, "events_on_corrected_orders": 0, "unseen_order_reductions": 0,
              "rows_needing_correction": 0}
    by_type: dict[str, int] = {}
    left: dict[int, int] = {}  # order id → size the messages leave it (0 once gone)
    where: dict[int, tuple[int, int]] = {}  # order id → (side, price) of its add
    cols = [a[:n].tolist() for a in (msgs.time_ns, msgs.type, msgs.order_id, msgs.size, msgs.price,
                                     msgs.direction)]
    m_ok, o_ok = msgs.ok[:n].tolist(), ob.ok[:n].tolist()
    targets = ob.rows[:n].tolist()
    first_ok = next((i for i in range(n) if m_ok[i]), None)
    last_ts = midnight + (cols[0][first_ok] if first_ok is not None else 0)
    if n:
        b.snapshot(last_ts, _pre_state(msgs, ob))

    for i in range(n):
        if m_ok[i]:
            t, typ, oid, size, price, side = (c[i] for c in cols)
            last_ts = ts = midnight + t
            if _message(b, log, msgs.path, i, ts, typ, oid, size, price, side, left, where, counts):
                by_type[str(typ)] = by_type.get(str(typ), 0) + 1
        if o_ok[i] and b.cur != targets[i]:
            counts["rows_needing_correction"] += 1
            b.correct(last_ts, i, targets[i])

    ts_col, kind, side_c, price_c, size_c, oid_c, row_c, flags = b.cols
    meta = {"message_file": Path(message_csv).name, "orderbook_file": Path(orderbook_csv).name}
    window = _NAME_RE.fullmatch(Path(message_csv).name)
    if window:  # the file's requested window (ms after local midnight) is the trading session
        meta["session_start_ns"] = midnight + int(window.group("start_ms")) * 1_000_000
        meta["session_end_ns"] = midnight + int(window.group("end_ms")) * 1_000_000
    tape = Tape.from_columns(inst, extra_meta=meta,
                             ts_ns=ts_col, kind=kind, side=side_c, price=price_c, size=size_c,
                             order_id=oid_c, src_row=row_c, flags=flags)
    snaps = Snapshots.from_lobster_rows(np.array(b.snaps, dtype=np.int64).reshape(len(b.snaps), 4 * ob.levels))
    report = {
        "rows": n,
        "levels": ob.levels,
        "events": len(tape),
        "messages_by_type": dict(sorted(by_type.items())),
        **counts,
        "hidden_executions": by_type.get("5", 0),
        "cross_trades": by_type.get("6", 0),
        "halts": int(np.sum((msgs.type[:n] == 7) & (msgs.price[:n] == -1) & msgs.ok[:n])),
        "implied_events": b.implied,
        "unattributed_shortfall_shares": b.shortfall,
        "times_rounded_to_ns": msgs.times_rounded,
    }
    return IngestResult(tape=tape, snapshots=snaps, anomalies=log, report=report), ob, n


def _message(b: _TapeBuilder, log: AnomalyLog, path: str, i: int, ts: int, typ: int, oid: int, size: int,
             price: int, side: int, left: dict[int, int], where: dict[int, tuple[int, int]],
             counts: dict[str, int]) -> bool:
    """Emit the events of message row ``i``; False when it was rejected (lenient mode)."""
    if typ == 7:
        b.emit(ts, _HALT_KINDS[price], 0, 0, 0, 0, i, 0)
        return True
    if typ == _ADD:
        if oid in left:
            log.report(InputError(path, i + 1, "order_id", f"order {oid} was already added", "duplicate_order_id"))
            return False
        left[oid], where[oid] = size, (side, price)
        b.emit(ts, _ADD, side, price, size, oid, i, 0)
        return True
    if typ not in (_PARTIAL, _DELETE, _EXEC):  # hidden execution, cross trade: a print only
        b.emit(ts, typ, side, price, size, oid, i, 0)
        return True
    if oid not in left:
        counts["unknown_order_events"] += 1
        b.emit(ts, typ, side, price, size, oid, i, FLAG_UNKNOWN_ID)
        return True
    if where[oid] != (side, price):
        log.report(InputError(path, i + 1, "price", f"order {oid} rests at side {where[oid][0]} price "
                              f"{where[oid][1]}, not side {side} price {price}", "order_mismatch"))
        return False
    if size > left[oid]:
        kind = "delete_size_mismatch" if typ == _DELETE else "size_exceeds_order"
        log.report(InputError(path, i + 1, "size", f"order {oid} has {left[oid]} shares left after its "
                              f"messages, this row removes {size}", kind))
        return False
    if typ == _DELETE and size < left[oid]:
        counts["unseen_order_reductions"] += 1
    left[oid] = 0 if typ == _DELETE else left[oid] - size
    have = b.book.order(oid)[2] if oid in b.book else 0
    if size > have:  # an implied correction took (part of) this order out: treat it as unattributed volume
        counts["events_on_corrected_orders"] += 1
        if have:
            level = b.book.size_at(side, price)
            b.emit(ts, _DELETE, side, price, have, oid, i, FLAG_IMPLIED)
            b.emit(ts, _LEVEL_SET, side, price, level, 0, i, FLAG_IMPLIED)
        b.emit(ts, typ, side, price, size, oid, i, FLAG_UNKNOWN_ID)
        return True
    if typ == _DELETE and size < have:
        b.emit(ts, _PARTIAL, side, price, have - size, oid, i, FLAG_IMPLIED)
    b.emit(ts, typ, side, price, size, oid, i, 0)
    return True


def read_lobster(message_csv: str | Path, orderbook_csv: str | Path, symbol: str | None = None,
                 date: str | None = None, strict: bool = True) -> IngestResult:
    """Read a LOBSTER pair into a tape (plus the top-N book after every event) that replays to every row.

    Symbol and date come from the message file name unless given; the level
    count N from the orderbook's column count (4N).
    """
    return _ingest(message_csv, orderbook_csv, symbol, date, strict)[0]


def _replay_rows(tape: Tape, n_rows: int, levels: int, keep: np.ndarray | None = None) -> tuple[np.ndarray, int]:
    """Replay ``tape`` (only events where ``keep``) through a fresh L3Book.

    Returns the book's top N after the last event of each source row, shape
    (n_rows, 4N), and how many events the book rejected (skipped).
    """
    sel = np.ones(len(tape), bool) if keep is None else keep
    src = tape.src_row[sel]
    ends = np.searchsorted(src, np.arange(n_rows), side="right").tolist()
    events = list(zip(*(c[sel].tolist() for c in (tape.kind, tape.side, tape.price, tape.size, tape.order_id))))
    book, out, rejected, j = L3Book(), np.zeros((n_rows, 4 * levels), np.int64), 0, 0
    apply = book.apply
    for r in range(n_rows):
        for ev in events[j:ends[r]]:
            try:
                apply(*ev)
            except BookError:
                if keep is None:
                    raise
                rejected += 1
        j = ends[r]
        out[r] = book.top(levels).as_row()
    return out, rejected


def verify_lobster(message_csv: str | Path, orderbook_csv: str | Path, strict: bool = True,
                   symbol: str | None = None, date: str | None = None) -> dict:
    """Ingest a pair, replay the stored tape through a fresh L3Book and compare every orderbook row.

    ``rows_identical``: rows whose top N after the row's last tape event equals
    the orderbook row (a bad orderbook row in lenient mode never counts).
    ``message_only_rows_disagreeing``: the same replay with the vendor messages
    only (the opening snapshot, no implied corrections; events the book cannot
    take are skipped and counted in ``message_only_rejected_events``).
    ``symbol``/``date`` as for :func:`read_lobster` (default: from the file name).
    """
    res, ob, n = _ingest(message_csv, orderbook_csv, symbol, date, strict)
    tape, rows, ok = res.tape, ob.rows[:n], ob.ok[:n]
    full, _ = _replay_rows(tape, n, ob.levels)
    implied = (tape.flags & FLAG_IMPLIED) != 0
    ends = np.flatnonzero(tape.kind == int(EventKind.SNAPSHOT_END))
    opening = np.arange(len(tape)) <= (ends[0] if len(ends) else -1)
    msg_only, rejected = _replay_rows(tape, n, ob.levels, keep=opening | ~implied)
    return {
        **res.report,
        "rows_identical": int(np.sum(ok & (full == rows).all(axis=1))),
        "message_only_rows_disagreeing": int(np.sum(ok & (msg_only != rows).any(axis=1))),
        "message_only_rejected_events": rejected,
        "anomalies": res.anomalies.to_dict()["counts"],
    }
