"""What every book answers: touch, top-N, size at a price, walking the book.

Prices and sizes are venue integers. Sides: +1 bid, -1 ask. A book keeps,
per side, a ``SortedDict`` price → level; subclasses say what a level is.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

import numpy as np
from sortedcontainers import SortedDict

from tickreplay.errors import TickreplayError

EMPTY_PRICE = 0  # price of an unoccupied level in top-N arrays (its size is 0)


class BookError(TickreplayError, ValueError):
    """An event that is inconsistent with the book it is applied to."""


@dataclass(frozen=True)
class TopN:
    """Top ``n`` occupied levels per side, best first; empty slots are (0, 0)."""

    ask_price: np.ndarray
    ask_size: np.ndarray
    bid_price: np.ndarray
    bid_size: np.ndarray

    def as_row(self) -> np.ndarray:
        """Interleaved like a LOBSTER orderbook row: ask px, ask sz, bid px, bid sz per level."""
        n = len(self.ask_price)
        row = np.empty(4 * n, dtype=np.int64)
        row[0::4], row[1::4], row[2::4], row[3::4] = self.ask_price, self.ask_size, self.bid_price, self.bid_size
        return row


@dataclass(frozen=True)
class Walk:
    """Result of walking one side of the book for ``requested`` size.

    ``notional`` is the exact integer sum of price × size over the fills
    (price units × size units); ``fills`` lists (price, size) per level.
    """

    requested: int
    filled: int
    notional: int
    fills: tuple[tuple[int, int], ...]

    @property
    def unfilled(self) -> int:
        return self.requested - self.filled

    @property
    def vwap(self) -> float:
        """Volume-weighted price of the filled part, in price units (NaN if nothing filled)."""
        return self.notional / self.filled if self.filled else float("nan")


class BookBase:
    """Shared queries over ``self._sides[side]``: SortedDict price → level."""

    def __init__(self) -> None:
        self._sides: dict[int, SortedDict] = {1: SortedDict(), -1: SortedDict()}
        self.halted = False

    # -- subclasses define how big a level is ------------------------------
    def _level_size(self, level) -> int:  # pragma: no cover - abstract
        raise NotImplementedError

    # -- queries -------------------------------------------------------------
    def levels(self, side: int) -> Iterator[tuple[int, int]]:
        """(price, size) of occupied levels of ``side``, best first."""
        book = self._sides[side]
        keys = reversed(book) if side == 1 else iter(book)
        for p in keys:
            yield p, self._level_size(book[p])

    def best(self, side: int) -> tuple[int, int] | None:
        book = self._sides[side]
        if not book:
            return None
        p, lvl = book.peekitem(-1 if side == 1 else 0)
        return p, self._level_size(lvl)

    def best_bid(self) -> tuple[int, int] | None:
        return self.best(1)

    def best_ask(self) -> tuple[int, int] | None:
        return self.best(-1)

    def mid(self) -> float:
        """Mid price in price units; NaN when a side is empty."""
        b, a = self.best(1), self.best(-1)
        if b is None or a is None:
            return float("nan")
        return (b[0] + a[0]) / 2.0

    def is_crossed(self) -> bool:
        b, a = self.best(1), self.best(-1)
        return b is not None and a is not None and b[0] >= a[0]

    def size_at(self, side: int, price: int) -> int:
        lvl = self._sides[side].get(price)
        return 0 if lvl is None else self._level_size(lvl)

    def depth(self, side: int) -> int:
        """Number of occupied levels on ``side``."""
        return len(self._sides[side])

    def top(self, n: int) -> TopN:
        out = {}
        for side, name in ((-1, "ask"), (1, "bid")):
            px = np.zeros(n, np.int64)
            sz = np.zeros(n, np.int64)
            for i, (p, s) in enumerate(self.levels(side)):
                if i >= n:
                    break
                px[i], sz[i] = p, s
            out[f"{name}_price"], out[f"{name}_size"] = px, sz
        return TopN(**out)

    def walk(self, resting_side: int, quantity: int, limit_price: int | None = None) -> Walk:
        """Walk ``resting_side`` best-first for ``quantity``, not past ``limit_price``.

        A buy takes the asks: ``walk(-1, q)``; a sell takes the bids: ``walk(1, q)``.
        Nothing beyond the visible book is invented: what the book cannot
        supply is left unfilled.
        """
        if quantity <= 0:
            raise ValueError(f"walk quantity must be positive, got {quantity}")
        left, notional, fills = quantity, 0, []
        for p, s in self.levels(resting_side):
            if limit_price is not None and (p > limit_price if resting_side == -1 else p < limit_price):
                break
            take = min(left, s)
            fills.append((p, take))
            notional += p * take
            left -= take
            if left == 0:
                break
        return Walk(quantity, quantity - left, notional, tuple(fills))
