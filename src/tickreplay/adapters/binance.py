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
The stream assumes a message's exchange time trails the latest one already
read by at most ``max_lag_ns`` (10 s) so that the merge holds seconds, not
the day (:mod:`tickreplay.adapters.binance_stream`); a message trailing by
more is an ``exchange_time_backwards`` error (lenient: clamped).

Prices and quantities: decimal strings → integers by exact integer
arithmetic on their digits (:mod:`tickreplay.adapters.decimal_units`,
compiled over a batch), never via floats.
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

Reading is streamed (:mod:`tickreplay.adapters.binance_stream`): the capture
is read in batches and the tape leaves in bounded chunks
(:class:`~tickreplay.adapters.binance_stream.BinanceStream`); the functions
here collect the chunks into one tape. The book is rebuilt by the compiled
L2 kernel (:class:`tickreplay.book.l2_fast.StreamingL2Book`) chunk by chunk.
"""


from __future__ import annotations

from pathlib import Path

import numpy as np

from tickreplay.adapters import IngestResult
from tickreplay.adapters.binance_stream import (  # noqa: F401  (re-exported)
    QUOTE_ASSETS,
    SOURCE,
    VENUE,
    BinanceStream,
    Tickers,
    quote_asset,
)
from tickreplay.book.l2_fast import StreamingL2Book
from tickreplay.book.snapshots import Snapshots
from tickreplay.tape import COLUMNS, Tape

_SNAP_FIELDS = ("ask_price", "ask_size", "bid_price", "bid_size")


def read_binance(paths: list[str | Path], symbol: str | None = None, tick: str | None = None,
                 lot: str | None = None, levels: int = 20, strict: bool = True) -> IngestResult:
    """Read Binance futures capture file(s), one stream in the given order, into a tape.

    ``tick``/``lot``: decimal strings (e.g. "0.1", "0.001"); inferred from the
    data when None (see the module docstring). ``levels``: depth of the
    per-event top-N snapshots. ``strict``: raise at the first bad line, or
    count anomalies per kind and go on.
    """
    if levels <= 0:
        raise ValueError(f"levels must be positive, got {levels}")
    stream = BinanceStream(paths, symbol, tick, lot, strict)
    tapes, snaps, book = [], [], None
    for chunk in stream:
        if book is None:
            book = StreamingL2Book(chunk.tape.instrument.tick_size)
        t = chunk.tape
        tapes.append(t)
        snaps.append(book.apply(t.kind, t.side, t.price, t.size, levels))
    cols = {n: np.concatenate([getattr(t, n) for t in tapes]) for n in COLUMNS}
    tape = Tape(instrument=stream.instrument, extra_meta=dict(stream.extra_meta), **cols)
    snapshots = Snapshots(*(np.concatenate([getattr(s, f) for s in snaps]) for f in _SNAP_FIELDS))
    return IngestResult(tape=tape, snapshots=snapshots, anomalies=stream.anomalies, report=stream.report)


class _TickerCheck:
    """Checks each ``bookTicker`` against the book after the applied diff with the same update id.

    The book's top level after each applied diff is kept by ``u`` (in
    arrays, 40 bytes a diff); a ticker waits until the diffs up to its ``u``
    have left the stream, then is looked up (the latest applied diff of that
    ``u`` wins, as in a dict). A ``bookTicker``'s ``u`` is the book's update
    id and never decreases along the stream, so once tickers up to ``u`` are
    checked, the tops of diffs with a smaller ``u`` are dropped: memory is the
    diffs between the ticker stream and the book, not the day.
    """

    def __init__(self) -> None:
        self.pending: list[Tickers] = []
        self.u: list[np.ndarray] = []
        self.top: list[np.ndarray] = []  # (n, 4): bid price, bid size, ask price, ask size
        self.last_u = -1
        self.checked_u = -1  # the largest u of a ticker checked so far
        self.checks = self.agree = self.size_agree = 0
        self.disagreements: list[tuple[int, list, list]] = []  # (line, ticker, book), the 5 first lines

    def add_tickers(self, t: Tickers) -> None:
        self.pending.append(t)

    def add_book(self, u: np.ndarray, top: np.ndarray) -> None:
        if len(u):
            self.u.append(u)
            self.top.append(top)
            self.last_u = max(self.last_u, int(u.max()))

    def resolve(self, final: bool) -> None:
        if not self.pending or not self.u:
            if final:
                self.pending = []
            return
        t = Tickers(*(np.concatenate([getattr(p, f) for p in self.pending]) for f in Tickers.__dataclass_fields__))
        ready = np.ones(len(t.u), bool) if final else t.u <= self.last_u
        rest = Tickers(*(getattr(t, f)[~ready] for f in Tickers.__dataclass_fields__))
        self.pending = [rest] if len(rest.u) else []
        if len(self.u) > 1:
            self.u, self.top = [np.concatenate(self.u)], [np.concatenate(self.top)]
        u_all, top_all = self.u[0], self.top[0]
        order = np.argsort(u_all, kind="stable")
        us = u_all[order]
        tu = t.u[ready]
        pos = np.searchsorted(us, tu, side="right") - 1
        hit = (pos >= 0) & (us[np.maximum(pos, 0)] == tu)
        book = top_all[order[pos[hit]]]
        tick = np.stack([t.bid_price[ready], t.bid_size[ready], t.ask_price[ready], t.ask_size[ready]], 1)[hit]
        px_ok = (book[:, 0] == tick[:, 0]) & (book[:, 2] == tick[:, 2])
        sz_ok = px_ok & (book[:, 1] == tick[:, 1]) & (book[:, 3] == tick[:, 3])
        self.checks += int(hit.sum())
        self.agree += int(px_ok.sum())
        self.size_agree += int(sz_ok.sum())
        lines = t.line[ready][hit]
        for k in np.flatnonzero(~sz_ok)[:5].tolist():
            self.disagreements.append((int(lines[k]), tick[k].tolist(), book[k].tolist()))
        self.disagreements = sorted(self.disagreements)[:5]
        if len(tu):
            self.checked_u = max(self.checked_u, int(tu.max()))
            keep = u_all >= self.checked_u
            self.u, self.top = [u_all[keep]], [top_all[keep]]


def verify_binance(paths: list[str | Path], tick: str | None = None, lot: str | None = None,
                   strict: bool = True) -> dict:
    """Replay a capture and check the book against every ``bookTicker`` that shares an update id with it.

    A ticker is checked when its ``u`` equals the ``u`` of an applied diff
    (the book state after that diff). ``ticker_agree``: best bid and best ask
    prices both agree; ``ticker_size_agree``: prices and sizes of both sides agree.
    """
    check = _TickerCheck()
    stream = BinanceStream(paths, None, tick, lot, strict, on_tickers=check.add_tickers)
    book = None
    for chunk in stream:
        t = chunk.tape
        if book is None:
            book = StreamingL2Book(t.instrument.tick_size)
        top = book.apply(t.kind, t.side, t.price, t.size, 1)
        r = chunk.applied_row
        check.add_book(chunk.applied_u, np.stack([top.bid_price[r, 0], top.bid_size[r, 0], top.ask_price[r, 0],
                                                  top.ask_size[r, 0]], 1))
        check.resolve(final=False)
    check.resolve(final=True)
    disagreements = []
    for line, tk, bk in check.disagreements:
        path, row = stream.pos.where(line)
        disagreements.append({"file": path, "line": row, "ticker": tk, "book": bk})
    keys = ("symbol", "tick", "lot", "events", "depth_diffs", "diffs_applied", "diffs_dropped_before_sync",
            "diffs_unapplied", "gaps", "snapshots", "snapshots_unused", "trades", "tickers")
    return {
        "ticker_checks": check.checks,
        "ticker_agree": check.agree,
        "ticker_size_agree": check.size_agree,
        **{k: stream.report[k] for k in keys},
        "ticker_disagreements": disagreements,
        "anomalies": {k: int(v) for k, v in sorted(stream.anomalies.counts.items())},
    }
