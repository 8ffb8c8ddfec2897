"""Checks on the fills and order-log tables TCA reads (FILL_COLUMNS / ORDER_LOG_COLUMNS of :mod:`tickreplay.orders`).

A table that breaks the contract raises :class:`~tickreplay.errors.InputError`
naming the table (``source``: a file path or "fills"/"orders"), the 1-based
row and the column. TCA is strict only: these tables are a run's own output,
so a bad row is a bug to see, not an anomaly to count.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from tickreplay.errors import InputError
from tickreplay.schedule.base import ParentOrder

FILL_NEEDS = ("order_id", "parent_id", "side", "price", "size", "liquidity", "fee",
              "decision_ns", "arrival_ns", "exchange_ns")
ORDER_NEEDS = ("order_id", "parent_id", "action", "type", "quantity", "status", "arrival_ns")
LIQUIDITY = ("maker", "taker")


def _require(df: pd.DataFrame, needs: tuple[str, ...], source: str) -> None:
    missing = [c for c in needs if c not in df.columns]
    if missing:
        raise InputError(source, None, missing[0], f"missing column(s) {missing}")


def _first_bad(source: str, mask: np.ndarray, field: str, values: np.ndarray, expected: str) -> None:
    bad = np.flatnonzero(mask)
    if len(bad):
        i = int(bad[0])
        raise InputError(source, i + 1, field, f"expected {expected}, got {values[i]!r}")


def check_fills(fills: pd.DataFrame, parent: ParentOrder, source: str = "fills") -> pd.DataFrame:
    """The fills of ``parent``, validated; every row must belong to it (filter by ``parent_id`` first)."""
    _require(fills, FILL_NEEDS, source)
    ints = {c: fills[c].to_numpy(dtype=np.int64) for c in FILL_NEEDS if c not in ("liquidity", "fee")}
    _first_bad(source, ints["parent_id"] != parent.parent_id, "parent_id", ints["parent_id"],
               f"the parent's id {parent.parent_id}")
    _first_bad(source, ints["side"] != parent.side, "side", ints["side"], f"the parent's side {parent.side:+d}")
    _first_bad(source, ints["size"] <= 0, "size", ints["size"], "a positive size")
    _first_bad(source, ints["price"] <= 0, "price", ints["price"], "a positive price")
    _first_bad(source, ints["arrival_ns"] < ints["decision_ns"], "arrival_ns", ints["arrival_ns"],
               "arrival at or after decision_ns")
    _first_bad(source, ints["exchange_ns"] < ints["arrival_ns"], "exchange_ns", ints["exchange_ns"],
               "execution at or after arrival_ns")
    fee = fills["fee"].to_numpy(dtype=np.float64)
    _first_bad(source, ~np.isfinite(fee), "fee", fee, "a finite fee")
    liq = fills["liquidity"].astype("string").to_numpy(dtype=object)
    _first_bad(source, ~np.isin(liq, LIQUIDITY), "liquidity", liq, "'maker' or 'taker'")
    filled = int(ints["size"].sum())
    if filled > parent.quantity:
        raise InputError(source, None, "size", f"fills total {filled}, more than the parent's {parent.quantity}")
    return fills


def check_orders(orders: pd.DataFrame, parent: ParentOrder, source: str = "orders") -> pd.DataFrame:
    """The parent's new-order rows of the order log, validated (cancel/modify rows are not orders)."""
    _require(orders, ORDER_NEEDS, source)
    new = (orders["action"].astype("string") == "new").to_numpy(dtype=bool)
    pid = orders["parent_id"].to_numpy(dtype=np.int64)
    _first_bad(source, new & (pid != parent.parent_id), "parent_id", pid, f"the parent's id {parent.parent_id}")
    return orders.loc[new]
