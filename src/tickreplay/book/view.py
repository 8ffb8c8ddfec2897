"""Read-only view of the replayed market as of a trader's time.

A :class:`BookView` is what a strategy sees: the top-N book, touch, mid,
last trade and cumulative traded volume after tape event ``index`` — the
last event the trader has received. It holds no reference a strategy could
use to reach later events: every query reads row ``index`` or earlier.

Windowed quantities (order flow, signed trade volume, realised variance over
the last seconds) come from running totals (:class:`Flow`) read at this
view's row and at an earlier view's row (:meth:`BookView.earlier`), which is
never later than this one.
"""

from __future__ import annotations

import math
import weakref
from typing import NamedTuple

import numpy as np

from tickreplay.book.base import TopN
from tickreplay.tape import TRADED_KINDS



class Flow(NamedTuple):
    """Running totals from the first event through one row (size units, counts, ticks²)."""

    signed_volume: int  # traded volume signed by the aggressor (+ buyer-initiated): sum of -side * size
    trades: int  # trade prints
    ofi: int  # order-flow imbalance at the touch (Cont, Kukanov & Stoikov 2014), summed over events
    mid_var_ticks2: float  # sum of squared mid changes between book states (see _flow_arrays), ticks²


_FLOWS: "weakref.WeakKeyDictionary[object, tuple[np.ndarray, ...]]" = weakref.WeakKeyDictionary()


def _flow_arrays(replay) -> tuple[np.ndarray, ...]:
    """Running totals per event of one replay, computed once (every entry depends only on rows <= it).

    Order-flow imbalance and mid changes are taken between consecutive *book
    states*: the last row of each exchange timestamp with both sides quoted.
    Events sharing a timestamp (a snapshot's clear and refill, a diff's level
    sets) are one change of state, not several; a view always sits on the last
    row of its timestamp, so it sees whole states only.
    """
    hit = _FLOWS.get(replay)
    if hit is not None:
        return hit
    trade = np.isin(replay.kind, [int(k) for k in TRADED_KINDS])
    signed = np.cumsum(np.where(trade, -replay.side.astype(np.int64) * replay.size, 0))
    trades = np.cumsum(trade.astype(np.int64))
    s = replay.snapshots
    ts = replay.ts_ns
    settled = np.ones(len(ts), bool)
    settled[:-1] = ts[1:] != ts[:-1]
    k = np.flatnonzero(settled & (s.bid_size[:, 0] > 0) & (s.ask_size[:, 0] > 0))
    bp, bq = s.bid_price[k, 0], s.bid_size[k, 0]
    ap, aq = s.ask_price[k, 0], s.ask_size[k, 0]
    e = np.zeros(len(ts), np.int64)
    d = np.zeros(len(ts))
    if len(k) > 1:
        e[k[1:]] = ((bp[1:] >= bp[:-1]) * bq[1:] - (bp[1:] <= bp[:-1]) * bq[:-1]
                    - (ap[1:] <= ap[:-1]) * aq[1:] + (ap[1:] >= ap[:-1]) * aq[:-1])
        mid_x2 = (bp + ap).astype(np.float64)
        d[k[1:]] = (mid_x2[1:] - mid_x2[:-1]) / (2.0 * replay.instrument.tick_size)
    out = (signed, trades, np.cumsum(e), np.cumsum(d * d))
    _FLOWS[replay] = out
    return out


class Quotes:
    """Touch, mid and spread from a view's ``best_bid()`` / ``best_ask()`` ((price, size) or None): shared by
    :class:`BookView` and :class:`~tickreplay.venues.consolidated.ConsolidatedView`."""

    __slots__ = ()

    def touch(self, side: int) -> int | None:
        """Best price on ``side`` (+1 bid, -1 ask), or None."""
        b = self.best_bid() if side == 1 else self.best_ask()
        return None if b is None else b[0]

    def mid(self) -> float:
        """Mid price in price units; NaN when a side is empty."""
        b, a = self.best_bid(), self.best_ask()
        return (b[0] + a[0]) / 2.0 if b and a else math.nan

    def spread(self) -> int | None:
        """Best ask minus best bid in price units, or None."""
        b, a = self.best_bid(), self.best_ask()
        return a[0] - b[0] if b and a else None


class BookView(Quotes):
    """The visible market after the last event the trader has received (``index``; -1: nothing yet)."""

    __slots__ = ("_r", "_i", "now_ns")

    def __init__(self, replay, index: int, now_ns: int) -> None:
        self._r = replay
        self._i = int(index)
        self.now_ns = int(now_ns)  # the trader's clock

    @property
    def instrument(self):
        return self._r.instrument

    @property
    def as_of_ns(self) -> int | None:
        """Exchange time of the last event the trader has seen (None before the first)."""
        return int(self._r.ts_ns[self._i]) if self._i >= 0 else None

    @property
    def events_seen(self) -> int:
        """How many tape events the trader has received."""
        return self._i + 1

    def _best(self, price: np.ndarray, size: np.ndarray) -> tuple[int, int] | None:
        if self._i < 0 or size[self._i, 0] <= 0:
            return None
        return int(price[self._i, 0]), int(size[self._i, 0])

    def best_bid(self) -> tuple[int, int] | None:
        """(price, size) of the best bid, or None."""
        s = self._r.snapshots
        return self._best(s.bid_price, s.bid_size)

    def best_ask(self) -> tuple[int, int] | None:
        """(price, size) of the best ask, or None."""
        s = self._r.snapshots
        return self._best(s.ask_price, s.ask_size)

    def top(self, n: int | None = None) -> TopN:
        """Top ``n`` levels per side (copies; empty slots (0, 0))."""
        s = self._r.snapshots
        n = s.levels if n is None else min(n, s.levels)
        if self._i < 0:
            z = np.zeros(n, np.int64)
            return TopN(z, z.copy(), z.copy(), z.copy())
        i = self._i
        return TopN(s.ask_price[i, :n].copy(), s.ask_size[i, :n].copy(),
                    s.bid_price[i, :n].copy(), s.bid_size[i, :n].copy())

    def last_trade(self) -> tuple[int, int, int] | None:
        """(price, size, exchange ns) of the last trade print seen, or None."""
        if self._i < 0:
            return None
        j = int(self._r.last_trade_idx[self._i])
        if j < 0:
            return None
        return int(self._r.price[j]), int(self._r.size[j]), int(self._r.ts_ns[j])

    @property
    def cum_volume(self) -> int:
        """Market volume traded (all prints) up to the last event seen, in size units."""
        return int(self._r.cum_volume[self._i]) if self._i >= 0 else 0

    @property
    def flow(self) -> Flow:
        """Running order-flow totals through the last event seen (all zero before the first)."""
        if self._i < 0:
            return Flow(0, 0, 0, 0.0)
        signed, trades, ofi, var = _flow_arrays(self._r)
        i = self._i
        return Flow(int(signed[i]), int(trades[i]), int(ofi[i]), float(var[i]))

    def earlier(self, t_ns: int) -> "BookView":
        """The view as of exchange time ``t_ns``, never later than this view (same trader clock)."""
        return BookView(self._r, min(self._r.index_at(t_ns), self._i), self.now_ns)

    @property
    def halted(self) -> bool:
        return bool(self._r.halted[self._i]) if self._i >= 0 else False
