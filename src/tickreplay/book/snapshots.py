"""Per-event top-N book snapshots: the columns replays read instead of rebuilding the book.

Row ``i`` is the visible book *after* tape event ``i``. Empty levels are
(price 0, size 0). Stored next to the tape in the catalog as
``ask_price_1..N, ask_size_1..N, bid_price_1..N, bid_size_1..N``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

_FIELDS = ("ask_price", "ask_size", "bid_price", "bid_size")


@dataclass(frozen=True)
class Snapshots:
    """Top-N after every event; each array has shape (n_events, levels), int64."""

    ask_price: np.ndarray
    ask_size: np.ndarray
    bid_price: np.ndarray
    bid_size: np.ndarray

    @property
    def levels(self) -> int:
        return self.ask_price.shape[1]

    def __len__(self) -> int:
        return self.ask_price.shape[0]

    def as_lobster_rows(self) -> np.ndarray:
        """(n_events, 4N) in LOBSTER orderbook column order, empty levels as (0, 0)."""
        n, k = self.ask_price.shape
        out = np.empty((n, 4 * k), dtype=np.int64)
        out[:, 0::4], out[:, 1::4], out[:, 2::4], out[:, 3::4] = (
            self.ask_price, self.ask_size, self.bid_price, self.bid_size)
        return out

    @classmethod
    def from_lobster_rows(cls, rows: np.ndarray) -> "Snapshots":
        rows = np.asarray(rows, dtype=np.int64)
        return cls(*(np.ascontiguousarray(rows[:, j::4]) for j in range(4)))

    def to_arrow(self) -> pa.Table:
        names, arrays = [], []
        for f in _FIELDS:
            a = getattr(self, f)
            for j in range(a.shape[1]):
                names.append(f"{f}_{j + 1}")
                arrays.append(pa.array(a[:, j]))
        return pa.Table.from_arrays(arrays, names=names)

    @classmethod
    def from_arrow(cls, table: pa.Table) -> "Snapshots":
        k = sum(1 for n in table.column_names if n.startswith("ask_price_"))
        cols = {}
        for f in _FIELDS:
            cols[f] = np.column_stack([table.column(f"{f}_{j + 1}").to_numpy() for j in range(k)]).astype(np.int64)
        return cls(**cols)

    def mid_x2(self) -> np.ndarray:
        """Twice the mid price (ask 1 + bid 1), integer; 0 where a side is empty."""
        a, b = self.ask_price[:, 0], self.bid_price[:, 0]
        return np.where((a > 0) & (b > 0), a + b, 0)
