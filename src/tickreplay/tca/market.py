"""The market side of TCA: mid price and traded volume as functions of time.

TCA is **ex post**: it judges a finished run and may read the whole tape,
including what happened after a fill (markouts need exactly that). This is
not a look-ahead bug; the no-look-ahead rule binds decisions, not their
evaluation.

Conventions:

* "as of time ``t``" is the last event with ``ts_ns <= t`` (exchange time),
  found by ``searchsorted(ts_ns, t, 'right') - 1``, as the engine does.
* The mid is kept as ``mid_x2 = ask_1 + bid_1`` (twice the mid, an exact
  integer in price units) for events where both sides of the book exist.
  After an event with a one-sided book the last two-sided mid carries
  forward; before the first two-sided book the first one is used (the
  opening quote). A tape without any two-sided book has no mid: ValueError.
* The touch (best bid, best ask; price units) is taken from the same book
  as the mid, so ``bid + ask == mid_x2`` at every event and ``2*ask - mid_x2
  == mid_x2 - 2*bid == ask - bid`` (the spread) exactly.
* Traded volume: sizes of ``EXECUTE_VISIBLE``, ``EXECUTE_HIDDEN`` and
  ``TRADE`` events at their prices (:data:`tickreplay.tape.TRADED_KINDS`;
  auction crosses are not volume a schedule takes part in). Window sums are
  over half-open ``[t0, t1)`` in exchange time. On a replay our own fills
  are **not** in the tape (history does not react), so market volume never
  includes them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tickreplay.book.snapshots import Snapshots
from tickreplay.tape import TRADED_KINDS
from tickreplay.tape import Instrument, Tape


@dataclass(frozen=True, eq=False)
class MarketSeries:
    """Per-event mid (×2, forward-filled), touch, and prefix sums of traded volume and notional.

    ``cum_volume[k]`` / ``cum_notional[k]``: traded size units / price units × size
    units of the first ``k`` events (length ``n + 1``, starting at 0). ``bid`` /
    ``ask``: per event, best bid / ask (price units) of the book ``mid_x2`` is from.
    """

    instrument: Instrument
    ts_ns: np.ndarray
    mid_x2: np.ndarray
    cum_volume: np.ndarray
    cum_notional: np.ndarray
    bid: np.ndarray
    ask: np.ndarray

    @classmethod
    def from_tape(cls, tape: Tape, snapshots: Snapshots) -> "MarketSeries":
        """Build from a tape and its per-event snapshots (row ``i`` = book after event ``i``)."""
        n = len(tape)
        if len(snapshots) != n:
            raise ValueError(f"{len(snapshots)} snapshot rows for a tape of {n} events")
        if n == 0:
            raise ValueError("cannot measure costs on an empty tape")
        if np.any(np.diff(tape.ts_ns) < 0):
            raise ValueError("tape timestamps must be non-decreasing")
        raw = snapshots.mid_x2()
        valid = np.flatnonzero(raw > 0)
        if len(valid) == 0:
            raise ValueError(f"tape of {tape.instrument.symbol} never has both sides of the book: no mid price")
        last = np.maximum.accumulate(np.where(raw > 0, np.arange(n), -1))
        book = np.where(last >= 0, last, valid[0])  # the event whose two-sided book is the one in force
        traded = np.isin(tape.kind, np.array([int(k) for k in TRADED_KINDS], dtype=np.int8))
        vol = np.where(traded, tape.size, 0).astype(np.int64)
        zero = np.zeros(1, np.int64)
        return cls(
            instrument=tape.instrument,
            ts_ns=np.ascontiguousarray(tape.ts_ns, dtype=np.int64),
            mid_x2=np.ascontiguousarray(raw[book], dtype=np.int64),
            cum_volume=np.concatenate([zero, np.cumsum(vol)]),
            cum_notional=np.concatenate([zero, np.cumsum(vol * tape.price)]),
            bid=np.ascontiguousarray(snapshots.bid_price[book, 0], dtype=np.int64),
            ask=np.ascontiguousarray(snapshots.ask_price[book, 0], dtype=np.int64),
        )

    @property
    def end_ns(self) -> int:
        """Time of the last event: mids later than this are not known from the data."""
        return int(self.ts_ns[-1])

    def index_at(self, t_ns: np.ndarray | int) -> np.ndarray:
        """Index of the last event with ``ts_ns <= t`` (-1 before the first event)."""
        return np.searchsorted(self.ts_ns, np.asarray(t_ns, dtype=np.int64), side="right") - 1

    def mid_x2_at(self, t_ns: np.ndarray | int) -> np.ndarray:
        """Twice the mid as of ``t`` (price units, exact integers; see module docstring)."""
        i = self.index_at(t_ns)
        return self.mid_x2[np.maximum(i, 0)]

    def touch_at(self, t_ns: np.ndarray | int, side: np.ndarray | int) -> np.ndarray:
        """Best price on ``side`` (+1: bid, -1: ask) as of ``t``, price units, from the book of :meth:`mid_x2_at`."""
        i = np.maximum(self.index_at(t_ns), 0)
        return np.where(np.asarray(side) == 1, self.bid[i], self.ask[i])

    def traded(self, t0_ns: int, t1_ns: int) -> tuple[int, int]:
        """(volume in size units, notional in price × size units) traded in ``[t0, t1)``."""
        a, b = np.searchsorted(self.ts_ns, [t0_ns, t1_ns], side="left")
        b = max(a, b)
        return int(self.cum_volume[b] - self.cum_volume[a]), int(self.cum_notional[b] - self.cum_notional[a])
