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
"""

from __future__ import annotations

from datetime import date as Date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np

from tickreplay.book.fast import compute_snapshots
from tickreplay.io import atomic_path
from tickreplay.tape import EventKind, Tape

EMPTY_ASK = 9_999_999_999
EMPTY_BID = -9_999_999_999
_LOBSTER_TYPES = {int(k) for k in (EventKind.ADD, EventKind.PARTIAL_CANCEL, EventKind.DELETE,
                                   EventKind.EXECUTE_VISIBLE, EventKind.EXECUTE_HIDDEN, EventKind.CROSS_TRADE)}
# halt messages are type 7 with price -1 (halt), 0 (quoting resumes), 1 (trading resumes)
_HALT_PRICE = {int(EventKind.HALT): -1, int(EventKind.QUOTE_RESUME): 0, int(EventKind.RESUME): 1}


def lobster_file_names(tape: Tape, levels: int, start_s: int, end_s: int) -> tuple[str, str]:
    """LOBSTER's names: ``TICKER_DATE_STARTMS_ENDMS_{message,orderbook}_LEVELS.csv``."""
    inst = tape.instrument
    stem = f"{inst.symbol}_{inst.date}_{start_s * 1000}_{end_s * 1000}"
    return f"{stem}_message_{levels}.csv", f"{stem}_orderbook_{levels}.csv"


def seconds_after_midnight_ns(tape: Tape) -> np.ndarray:
    """Event times as int64 ns after midnight of the tape's date in its time zone."""
    inst = tape.instrument
    day = Date.fromisoformat(inst.date)
    midnight = datetime(day.year, day.month, day.day, tzinfo=ZoneInfo(inst.timezone))
    return tape.ts_ns - int(midnight.timestamp()) * 1_000_000_000


def write_lobster(tape: Tape, message_csv: str | Path, orderbook_csv: str | Path, levels: int) -> None:
    """Write ``tape`` as a LOBSTER pair with ``levels`` orderbook levels (files written atomically).

    Raises ``ValueError`` for event kinds LOBSTER has no message type for
    (L2 level sets, trade prints, snapshots) and for events before midnight
    of the tape's date.
    """
    if levels < 1:
        raise ValueError(f"levels = {levels}: expected at least 1")
    kinds = tape.kind.astype(np.int64)
    bad = ~np.isin(kinds, list(_LOBSTER_TYPES | set(_HALT_PRICE)))
    if bad.any():
        i = int(np.argmax(bad))
        raise ValueError(f"tape event {i} has kind {EventKind(kinds[i]).name}, which LOBSTER has no message for")
    t_ns = seconds_after_midnight_ns(tape)
    if len(t_ns) and t_ns.min() < 0:
        i = int(np.argmax(t_ns < 0))
        raise ValueError(f"tape event {i} is before midnight of {tape.instrument.date}")

    halt = np.isin(kinds, list(_HALT_PRICE))
    msg_type = np.where(halt, 7, kinds)
    price = tape.price.copy()
    direction = tape.side.astype(np.int64)
    size = tape.size.copy()
    oid = tape.order_id.copy()
    if halt.any():
        price[halt] = [_HALT_PRICE[k] for k in kinds[halt]]
        direction[halt], size[halt], oid[halt] = -1, 0, 0

    secs, frac = np.divmod(t_ns, 1_000_000_000)
    lines = [f"{s}.{f:09d},{k},{o},{q},{p},{d}\n" for s, f, k, o, q, p, d in
             zip(secs.tolist(), frac.tolist(), msg_type.tolist(), oid.tolist(), size.tolist(), price.tolist(),
                 direction.tolist())]
    with atomic_path(message_csv) as tmp:
        tmp.write_text("".join(lines))

    snaps = compute_snapshots(tape, levels)
    ask_px = np.where(snaps.ask_size > 0, snaps.ask_price, EMPTY_ASK)
    bid_px = np.where(snaps.bid_size > 0, snaps.bid_price, EMPTY_BID)
    rows = np.empty((len(tape), 4 * levels), np.int64)
    rows[:, 0::4], rows[:, 1::4], rows[:, 2::4], rows[:, 3::4] = ask_px, snaps.ask_size, bid_px, snaps.bid_size
    with atomic_path(orderbook_csv) as tmp:
        np.savetxt(tmp, rows, fmt="%d", delimiter=",")
