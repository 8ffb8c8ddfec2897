"""Read-only view of the replayed market as of a trader's time.

A :class:`BookView` is what a strategy sees: the top-N book, touch, mid,
last trade and cumulative traded volume after tape event ``index`` — the
last event the trader has received. It holds no reference a strategy could
use to reach later events: every query reads row ``index`` or earlier.
"""

from __future__ import annotations

import math

import numpy as np

from tickreplay.book.base import TopN


class BookView:
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
    def halted(self) -> bool:
        return bool(self._r.halted[self._i]) if self._i >= 0 else False
