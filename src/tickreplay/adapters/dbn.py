"""Databento MBO (market by order, DBN files) → an L3 event tape.

Decoding is done by the official ``databento-dbn`` package
(:mod:`tickreplay.adapters.dbn_records`); the mapping runs in one compiled
pass (:mod:`tickreplay.adapters.dbn_kernel`). One instrument per tape: a file
with several needs ``instrument_id``. The full rules, with the reasons, are in
``docs/databento.md``; in short:

* **Book changes come only from A, C, M and R**, as in Databento's own book:
  ``A`` → ADD; ``C`` of ``q`` → DELETE (the order is gone) or PARTIAL_CANCEL;
  ``R`` → SNAPSHOT_BEGIN (the book is cleared).
* **Modify** ``M`` (new price p', new size q'): the same price and q' <= the
  order's size keeps its queue place (PARTIAL_CANCEL of the difference;
  nothing when unchanged); a new price or a larger size loses it (DELETE at
  the old price, then ADD of the same order id at the back of p'). That is
  CME Globex's priority rule (and Databento's reference book's).
* **Trades.** ``T`` (the aggressor's print) and ``F`` (a resting order was
  filled) do not change the book: the ``C``/``M`` that follows removes the
  filled size. So an ``F`` on a known order is held as the order's *pending
  fill*, and the following ``C``/``M`` on that order becomes an
  EXECUTE_VISIBLE of up to the pending size (the rest of what it removes is a
  cancel): the book after every record equals the vendor's, and the traded
  volume is counted once, by the executions (``T`` writes no tape event: its
  volume is the same fills seen from the aggressor; the report keeps
  ``trade_volume`` next to ``fill_volume`` and ``executed_volume``). An ``F``
  on an order the feed never showed (an implied match) is an EXECUTE_HIDDEN
  print flagged ``FLAG_UNKNOWN_ID``: traded volume, no visible change.
  ``C``/``M`` on unknown orders write nothing and are counted
  (``unknown_order_events``).
* **Snapshots.** Records flagged ``F_SNAPSHOT`` are ADDs (they keep the queue
  order); a snapshot not opened by an ``R`` opens with an implied
  SNAPSHOT_BEGIN; SNAPSHOT_END (implied) follows the record flagged
  ``F_LAST`` that completes the snapshot or clear.
* **Times**: ``ts_ns`` is ``ts_event`` (the matching engine's time), except
  for snapshot records, whose ``ts_event`` is that of an older book state:
  they are at ``ts_recv``, the snapshot's generation time, when the book was
  as they show. ``recv_ts_ns`` is ``ts_recv``. ``src_row`` is the 0-based
  record index in the file (the metadata header not counted); error rows are
  1-based record numbers.
* **Prices**: DBN prices are int64 in 1e-9 units. The tape's scale is
  ``price_scale = 10**d`` units per currency unit with ``d`` the decimals of
  the tick (ES tick 0.25 → scale 100, ``tick_size`` 25, 5214.25 → 521425);
  every price must be on the tick. Sizes are contracts (``size_scale``,
  ``lot_size`` 1). The contract multiplier (ES 50) is
  ``Instrument.multiplier``, so currency figures are in dollars.
* **Instrument**: symbol, exchange, currency, tick and multiplier from the
  definition file (``min_price_increment``, ``unit_of_measure_qty``) or the
  options; GLBX datasets are in America/Chicago, and the date is the CME
  trade date (events from 17:00 Chicago time belong to the next day's).
  Session: from the first ``F_LAST`` (the first consistent book; not before
  the metadata's start) to the metadata's end (or the last event).

Strict mode raises an :class:`~tickreplay.errors.InputError` (file, record
number, field) at the first bad record; lenient mode counts each kind
(:data:`~tickreplay.adapters.dbn_kernel.ANOMALIES`) and skips the record,
except ``negative_size`` (the removal is clamped to what the order has) and
``exchange_time_backwards`` (kept at the previous event's time). Errors about
the whole file (truncated zstd, wrong schema, several instruments, a
definitions file for other instruments) raise in both modes.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np

from tickreplay.adapters import IngestResult
from tickreplay.adapters.dbn_kernel import (
    ANOMALIES, ANOMALY_FIELDS, BAD_ORDER_ID, BAD_PRICE, BAD_SIDE, BAD_SIZE, DUPLICATE, EXAMPLES, NEGATIVE,
    NO_ANOMALY, OFF_TICK, OUT_FIELDS, PRICE_MISMATCH, SIDE_MISMATCH, STATS, TIME_BACK, UNKNOWN_ACTION,
    F_LAST, F_SNAPSHOT, mbo_to_events,
)
from tickreplay.adapters.dbn_records import Definition, MboFile, read_definitions, read_mbo
from tickreplay.adapters.decimal_units import OffGridError, check_plain, significant_decimals, to_units, units_to_text
from tickreplay.book.fast import compute_snapshots
from tickreplay.errors import AnomalyLog, ConfigError, InputError
from tickreplay.tape import COLUMNS, Instrument, Tape

SOURCE = "dbn"
DBN_DECIMALS = 9  # DBN prices: int64 in units of 1e-9
CME_TIMEZONE = "America/Chicago"
CME_SESSION_OPEN_HOUR = 17  # Globex opens at 17:00 Chicago time for the next trade date
F_MAYBE_BAD_BOOK = 4


@dataclass(frozen=True)
class _Spec:
    """Instrument facts from the definition file or the options; tick and multiplier in 1e-9 units."""

    symbol: str | None
    exchange: str | None
    currency: str | None
    tick_1e9: int
    multiplier_1e9: int
    source: str  # "definitions" or "options"


def _decimal_1e9(text: str, option: str) -> int:
    """A positive decimal option such as "0.25" in 1e-9 units."""
    try:
        v = to_units(check_plain(text), DBN_DECIMALS)
    except OffGridError:
        raise ConfigError(f"{option} {text}: more than {DBN_DECIMALS} decimals (DBN prices are in 1e-9 units)") \
            from None
    except ValueError as exc:
        raise ConfigError(f"{option}: {exc}") from None
    if v <= 0:
        raise ConfigError(f"{option} must be positive, got {text}")
    return v


def _text_1e9(v: int) -> str:
    """1e-9 units → shortest decimal text: 250000000 → "0.25"."""
    s = units_to_text(abs(v), DBN_DECIMALS).rstrip("0").rstrip(".")
    return ("-" if v < 0 else "") + s


def _choose_instrument(f: MboFile, instrument_id: int | None) -> int:
    ids, counts = np.unique(f.records["instrument_id"], return_counts=True)
    if len(ids) == 0:
        raise InputError(f.path, None, None, "no MBO records in the file", "empty")
    names = _mapped_symbols(f.metadata)
    listing = ", ".join(f"{i}{' ' + names[int(i)] if int(i) in names else ''} ({c:,} records)"
                        for i, c in zip(ids.tolist(), counts.tolist()))
    if instrument_id is None:
        if len(ids) > 1:
            raise InputError(f.path, None, "instrument_id", f"{len(ids)} instruments in the file: {listing}; "
                             "choose one with --instrument-id N (Python: instrument_id=N)", "several_instruments")
        return int(ids[0])
    if instrument_id not in ids:
        raise InputError(f.path, None, "instrument_id", f"no records of instrument {instrument_id}; the file has "
                         f"{listing}", "missing_instrument")
    return instrument_id


def _mapped_symbols(metadata) -> dict[int, str]:
    """Instrument id → raw symbol, from the metadata's symbology mappings."""
    out = {}
    for raw, intervals in (metadata.mappings or {}).items():
        for iv in intervals:
            sym = str(iv.get("symbol", "")) if isinstance(iv, dict) else ""
            if sym.isdigit():
                out[int(sym)] = raw
    return out


def _spec(path: str, iid: int, symbol: str | None, definitions: str | Path | None, tick_size: str | None,
          multiplier: str | None) -> _Spec:
    opt_tick = None if tick_size is None else _decimal_1e9(tick_size, "--tick-size")
    opt_mult = None if multiplier is None else _decimal_1e9(multiplier, "--multiplier")
    if definitions is None:
        if opt_tick is None or opt_mult is None:
            missing = " and ".join(o for o, v in (("--tick-size", opt_tick), ("--multiplier", opt_mult)) if v is None)
            raise InputError(path, None, "min_price_increment",
                             f"an MBO file does not say its tick size or contract multiplier: give --definitions "
                             f"DEF.dbn.zst (the instrument definitions) or {missing}", "no_definition")
        return _Spec(None, None, None, opt_tick, opt_mult, "options")
    defs = read_definitions(definitions)
    mine = [d for d in defs if d.instrument_id == iid]
    if not mine:
        have = sorted({(d.instrument_id, d.symbol) for d in defs})
        raise InputError(str(definitions), None, "instrument_id",
                         f"the definitions are for {', '.join(f'{i} {s}' for i, s in have) or 'no instrument'}, not "
                         f"instrument {iid}{' ' + symbol if symbol else ''} of {path}", "definition_mismatch")
    d: Definition = mine[-1]
    for other in mine:
        if (other.tick_1e9, other.multiplier_1e9) != (d.tick_1e9, d.multiplier_1e9):
            raise InputError(str(definitions), None, "min_price_increment",
                             f"instrument {iid}'s definitions change its tick or multiplier; a tape has one of each",
                             "definition_changes")
    if symbol and d.symbol and d.symbol != symbol:
        raise InputError(str(definitions), None, "raw_symbol", f"instrument {iid} is {d.symbol} here but {symbol} in "
                         f"{path}'s symbology", "definition_mismatch")
    for opt, mine_v, name, def_v in (("--tick-size", opt_tick, "min_price_increment", d.tick_1e9),
                                     ("--multiplier", opt_mult, "unit_of_measure_qty", d.multiplier_1e9)):
        if mine_v is not None and mine_v != def_v:
            raise InputError(str(definitions), None, name, f"{opt} {_text_1e9(mine_v)} disagrees with the definition's "
                             f"{_text_1e9(def_v)}", "definition_mismatch")
    if d.tick_1e9 <= 0 or d.multiplier_1e9 <= 0:
        raise InputError(str(definitions), None, "min_price_increment", f"instrument {iid} has no usable tick "
                         f"({d.tick_1e9}) or multiplier ({d.multiplier_1e9}); give --tick-size and --multiplier "
                         "without --definitions", "definition_mismatch")
    return _Spec(d.symbol or None, d.exchange or None, d.currency or None, d.tick_1e9, d.multiplier_1e9, "definitions")


def _multiplier(multiplier_1e9: int) -> int | float:
    """The contract multiplier in 1e-9 units → :attr:`Instrument.multiplier` (50, or 0.1 for a fractional one)."""
    whole, rest = divmod(multiplier_1e9, 10**DBN_DECIMALS)
    return whole if rest == 0 else float(_text_1e9(multiplier_1e9))


def _price_units(tick_1e9: int) -> tuple[int, int, int]:
    """(decimals d, DBN units per tape unit, tick in tape units) for a tick in 1e-9 units."""
    d = significant_decimals(units_to_text(tick_1e9, DBN_DECIMALS))
    unit = 10 ** (DBN_DECIMALS - d)
    return d, unit, tick_1e9 // unit


def _trade_date(ts_ns: int, timezone: str, cme: bool) -> str:
    local = dt.datetime.fromtimestamp(ts_ns // 10**9, ZoneInfo(timezone))
    day = local.date() + dt.timedelta(days=1 if cme and local.hour >= CME_SESSION_OPEN_HOUR else 0)
    return day.isoformat()


_ACTION_NAMES = {ord(c): c for c in "ACMRTFN"}


def _error(path: str, rec: np.void, row: int, code: int, detail: int, unit: int, tick_1e9: int) -> InputError:
    """The InputError for anomaly ``code`` at a record (``row``: 0-based index in the file)."""
    a = chr(int(rec["action"])) if 32 <= int(rec["action"]) < 127 else f"\\x{int(rec['action']):02x}"
    px, q, oid = int(rec["price"]), int(rec["size"]), int(rec["order_id"])
    side = chr(int(rec["side"])) if 32 <= int(rec["side"]) < 127 else f"\\x{int(rec['side']):02x}"
    messages = {
        BAD_SIDE: f"'{a}' record with side {side!r}, expected 'A' (ask) or 'B' (bid)",
        BAD_PRICE: f"'{a}' record without a price (UNDEF_PRICE)",
        OFF_TICK: f"price {_text_1e9(px)} is not a multiple of the tick {_text_1e9(tick_1e9)}",
        BAD_SIZE: f"'{a}' record with size {q}, expected a positive size",
        DUPLICATE: f"add of order {oid}, which is already resting (size {detail})",
        SIDE_MISMATCH: f"'{a}' of order {oid} on side {side!r}, but it rests on side {'B' if detail == 1 else 'A'!r}",
        PRICE_MISMATCH: f"'{a}' of order {oid} at price {_text_1e9(px)}, but it rests at {_text_1e9(detail * unit)}",
        NEGATIVE: f"'{a}' of {q} on order {oid}, which has {detail}: its size would go negative",
        UNKNOWN_ACTION: f"action '{a}', expected one of A C M R T F N",
        TIME_BACK: f"ts_event {int(rec['ts_event'])} ns goes back before {detail} ns of the previous event",
        BAD_ORDER_ID: f"add with order id {int(rec['order_id'])}: expected 1 .. 2**63-1",
    }
    return InputError(path, row + 1, ANOMALY_FIELDS[code], messages[code], ANOMALIES[code])


@dataclass
class _Ingested:
    tape: Tape
    log: AnomalyLog
    report: dict
    last_rows: np.ndarray  # file record index of every F_LAST record of the instrument


def _ingest(path: str | Path, definitions: str | Path | None, instrument_id: int | None, tick_size: str | None,
            multiplier: str | None, strict: bool) -> _Ingested:
    f = read_mbo(path)
    iid = _choose_instrument(f, instrument_id)
    md = f.metadata
    mapped = _mapped_symbols(md).get(iid)
    spec = _spec(f.path, iid, mapped, definitions, tick_size, multiplier)
    decimals, unit, tick = _price_units(spec.tick_1e9)

    rows = np.flatnonzero(f.records["instrument_id"] == iid)
    r = f.records[rows]
    action = r["action"].astype(np.int64)
    flags = r["flags"].astype(np.int64)
    kinds, counts_by = np.unique(action, return_counts=True)
    n_cancel_modify = int(np.sum((action == ord("C")) | (action == ord("M"))))
    n_markers = 2 * int(np.sum(action == ord("R")) + np.sum((flags & F_SNAPSHOT) != 0)) + 2
    out = np.zeros((len(OUT_FIELDS), len(r) + n_cancel_modify + 2 * int(np.sum(action == ord("M"))) + n_markers),
                   np.int64)
    counts = np.zeros(len(ANOMALIES), np.int64)
    examples = np.zeros((len(ANOMALIES), EXAMPLES, 2), np.int64)
    stats = np.zeros(len(STATS), np.int64)
    n_out, code, at = mbo_to_events(
        r["ts_event"].view(np.int64), r["ts_recv"].view(np.int64), action, r["side"].astype(np.int64),
        r["price"], r["size"].astype(np.int64), r["order_id"].view(np.int64), flags, rows.astype(np.int64),
        np.int64(spec.tick_1e9), np.int64(unit), strict, int(np.sum(action == ord("A"))), out, counts, examples, stats)
    if code != NO_ANOMALY:
        raise _error(f.path, r[at], int(rows[at]), code, int(examples[code, counts[code] - 1, 1]), unit,
                     spec.tick_1e9)
    log = AnomalyLog(strict=strict)
    for c in np.flatnonzero(counts).tolist():
        shown = min(int(counts[c]), EXAMPLES)
        for m in range(shown):
            i, detail = (int(x) for x in examples[c, m])
            log.report(_error(f.path, r[i], int(rows[i]), c, detail, unit, spec.tick_1e9))
        if counts[c] > shown:
            log.count(ANOMALIES[c], "", int(counts[c]) - shown)
    if n_out == 0:
        raise InputError(f.path, None, None, f"instrument {iid}: no record changes the book", "empty")

    cols = {name: out[k, :n_out] for k, name in enumerate(OUT_FIELDS)}
    cols = {name: np.ascontiguousarray(v, dtype=COLUMNS[name]) for name, v in cols.items()}
    ts = cols["ts_ns"]
    last_rows = rows[(flags & F_LAST) != 0]
    dataset = str(md.dataset)
    cme = dataset.startswith("GLBX")
    timezone = CME_TIMEZONE if cme else "UTC"
    symbol = spec.symbol or mapped or (md.symbols[0] if len(md.symbols or []) == 1 else str(iid))
    first_last = np.searchsorted(cols["src_row"], last_rows[0], side="right") - 1 if len(last_rows) else 0
    start = max(int(ts[max(first_last, 0)]), int(md.start))
    end = max(int(md.end), int(ts[-1])) if md.end is not None else int(ts[-1])
    stat = dict(zip(STATS, (int(x) for x in stats)))
    inst = Instrument(symbol=symbol, venue=spec.exchange or dataset, date=_trade_date(int(ts[0]), timezone, cme),
                      price_scale=10**decimals, tick_size=tick, size_scale=1, lot_size=1, timezone=timezone,
                      levels=0, currency=spec.currency or "USD", source=SOURCE,
                      multiplier=_multiplier(spec.multiplier_1e9))
    meta = {"file": Path(f.path).name, "dataset": dataset, "instrument_id": iid, "tick": _text_1e9(spec.tick_1e9),
            "session_start_ns": start, "session_end_ns": end}
    if definitions is not None:
        meta["definitions_file"] = Path(definitions).name
    tape = Tape.from_columns(inst, extra_meta=meta, **cols)
    action_counts = {chr(int(k)) if 32 <= int(k) < 127 else str(int(k)): int(c) for k, c in zip(kinds, counts_by)}
    is_t, is_f = action == ord("T"), action == ord("F")
    size = r["size"].astype(np.int64)
    report = {
        "file": f.path,
        "definitions": None if definitions is None else str(definitions),
        "instrument_from": spec.source,
        "dataset": dataset,
        "instrument_id": iid,
        "symbol": symbol,
        "tick": meta["tick"],
        "multiplier": _text_1e9(spec.multiplier_1e9),
        "price_scale": 10**decimals,
        "records": len(r),
        "records_in_file": len(f.records),
        "other_instrument_records": len(f.records) - len(r),
        "events": stat["events"],
        "records_after_last_event": int(len(r) - 1 - np.flatnonzero((flags & F_LAST) != 0)[-1]) if len(last_rows)
        else len(r),
        "tape_events": n_out,
        "actions": dict(sorted(action_counts.items())),
        "trades": int(is_t.sum()),
        "trade_volume": int(size[is_t].sum()),
        "fills": int(is_f.sum()),
        "fill_volume": int(size[is_f].sum()),
        "executed_volume": stat["executed_volume"],
        "unknown_fill_volume": stat["unknown_fill_volume"],
        "unremoved_fill_volume": stat["unremoved_fill_volume"],
        "unknown_order_events": {"C": stat["unknown_cancels"], "M": stat["unknown_modifies"],
                                 "F": stat["unknown_fills"]},
        "modifies": {k.removeprefix("modifies_"): stat[k] for k in STATS if k.startswith("modifies_")},
        "clears": stat["clears"],
        "snapshots": stat["snapshots"],
        "snapshot_records": int(np.sum((flags & F_SNAPSHOT) != 0)),
        "maybe_bad_book_records": int(np.sum((flags & F_MAYBE_BAD_BOOK) != 0)),
        "negative_sizes": int(counts[NEGATIVE]),
    }
    return _Ingested(tape, log, report, last_rows)


def read_dbn(path: str | Path, definitions: str | Path | None = None, instrument_id: int | None = None,
             tick_size: str | None = None, multiplier: str | None = None, levels: int = 10,
             strict: bool = True) -> IngestResult:
    """Read a Databento MBO file (``.dbn.zst`` or plain ``.dbn``) into a tape and its top-``levels`` snapshots.

    ``definitions``: a definition-schema DBN file naming the instrument's tick
    and multiplier; otherwise give ``tick_size`` and ``multiplier`` as decimal
    strings ("0.25", "50"). ``instrument_id``: required when the file holds
    several instruments.
    """
    ing = _ingest(path, definitions, instrument_id, tick_size, multiplier, strict)
    return IngestResult(tape=ing.tape, snapshots=compute_snapshots(ing.tape, levels), anomalies=ing.log,
                        report=ing.report)


def _price_text(p: int, decimals: int) -> str:
    return ("-" if p < 0 else "") + units_to_text(abs(p), decimals)


def verify_dbn(path: str | Path, definitions: str | Path | None = None, instrument_id: int | None = None,
               tick_size: str | None = None, multiplier: str | None = None) -> dict:
    """Replay a file's tape through the book kernel and check it after every ``F_LAST`` record.

    Bad records are counted, not raised (a check reports everything it
    finds); file-level problems still raise. ``crossed_after_last``: event
    ends whose best bid >= best ask (both sides present); ``crossed_mid_event``:
    crossed states inside an event (legitimate, only F_LAST states must be
    consistent); ``negative_sizes``: cancels, modifies and fills that would take
    an order below zero.
    """
    ing = _ingest(path, definitions, instrument_id, tick_size, multiplier, strict=False)
    tape = ing.tape
    top = compute_snapshots(tape, 1)
    bid, ask = top.bid_price[:, 0], top.ask_price[:, 0]
    crossed = (top.bid_size[:, 0] > 0) & (top.ask_size[:, 0] > 0) & (bid >= ask)
    at_last = np.searchsorted(tape.src_row, ing.last_rows, side="right") - 1
    at_last = np.unique(at_last[at_last >= 0])
    mid = np.ones(len(tape), bool)
    mid[at_last] = False
    d = int(np.log10(tape.instrument.price_scale))
    final = {"bid": [_price_text(int(bid[-1]), d), int(top.bid_size[-1, 0])] if top.bid_size[-1, 0] else None,
             "ask": [_price_text(int(ask[-1]), d), int(top.ask_size[-1, 0])] if top.ask_size[-1, 0] else None}
    rep = ing.report
    keys = ("symbol", "instrument_id", "tick", "multiplier", "records", "events", "tape_events", "actions", "trades",
            "trade_volume", "fills", "fill_volume", "executed_volume", "unknown_fill_volume", "unremoved_fill_volume",
            "unknown_order_events", "modifies", "clears", "snapshots", "negative_sizes")
    return {
        **{k: rep[k] for k in keys},
        "checked_events": len(at_last),
        "crossed_after_last": int(crossed[at_last].sum()),
        "crossed_mid_event": int(crossed[mid].sum()),
        "final_top": final,
        "date": tape.instrument.date,
        "anomalies": {k: int(v) for k, v in sorted(ing.log.counts.items())},
    }
