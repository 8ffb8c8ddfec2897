"""Checks on the fills and order-log tables TCA reads (FILL_COLUMNS / ORDER_LOG_COLUMNS of :mod:`tickreplay.orders`).

A table that breaks the contract raises :class:`~tickreplay.errors.InputError`
naming the table (``source``: a file path or "fills"/"orders"), the 1-based
row and the column. TCA is strict only: these tables are a run's own output,
so a bad row is a bug to see, not an anomaly to count.

:func:`fill_arrays` and :func:`order_arrays` validate once and hand the
columns TCA reads to every measure as NumPy arrays (:class:`FillArrays`,
:class:`OrderArrays`), so a run's TCA reads each column of its tables once.
"""

from __future__ import annotations

from dataclasses import dataclass

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


def strings(col: pd.Series) -> np.ndarray:
    """A column as an object array of ``str`` (missing: ``pd.NA``), as ``col.astype("string")`` reads; a column
    already of a ``pd.NA`` string dtype is not converted first."""
    if not (isinstance(col.dtype, pd.StringDtype) and col.dtype.na_value is pd.NA):
        col = col.astype("string")
    return col.to_numpy(dtype=object)


def equal(values: np.ndarray, value: str) -> np.ndarray:
    """``values == value`` (bool) for an object array of :func:`strings`; a missing value is an error, as when
    pandas' nullable booleans are read as bool."""
    try:
        return np.asarray(values == value, dtype=bool)
    except TypeError:  # pd.NA among them: the error pandas gives
        return (pd.array(values, dtype="string") == value).to_numpy(dtype=bool)


@dataclass(frozen=True)
class FillArrays:
    """The columns of a parent's fills TCA reads, validated (:func:`fill_arrays`): prices in price units, sizes in
    size units, times in ns (int64), ``fee`` currency (float64), ``liquidity`` "maker"/"taker" (object) and
    ``maker`` (bool)."""

    order_id: np.ndarray
    parent_id: np.ndarray
    side: np.ndarray
    price: np.ndarray
    size: np.ndarray
    decision_ns: np.ndarray
    arrival_ns: np.ndarray
    exchange_ns: np.ndarray
    fee: np.ndarray
    liquidity: np.ndarray
    maker: np.ndarray
    impact_shift: np.ndarray | None = None  # price units: the impact-adjusted replay's shift at each fill

    def __len__(self) -> int:
        return len(self.size)

    @property
    def filled(self) -> int:
        """Total filled size (size units)."""
        return int(self.size.sum())


def fill_arrays(fills: pd.DataFrame, parent: ParentOrder, source: str = "fills") -> FillArrays:
    """The fills of ``parent`` as :class:`FillArrays`, validated as :func:`check_fills` does."""
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
    liq = strings(fills["liquidity"])
    _first_bad(source, ~np.isin(liq, LIQUIDITY), "liquidity", liq, "'maker' or 'taker'")
    filled = int(ints["size"].sum())
    if filled > parent.quantity:
        raise InputError(source, None, "size", f"fills total {filled}, more than the parent's {parent.quantity}")
    shift = None
    if "impact_shift" in fills.columns:  # an impact-adjusted run
        shift = fills["impact_shift"].to_numpy(dtype=np.int64)
        _first_bad(source, ints["price"] - shift <= 0, "impact_shift", shift, "a shift below the fill price")
    return FillArrays(**ints, fee=fee, liquidity=liq, maker=equal(liq, "maker"), impact_shift=shift)


def check_fills(fills: pd.DataFrame, parent: ParentOrder, source: str = "fills") -> pd.DataFrame:
    """The fills of ``parent``, validated; every row must belong to it (filter by ``parent_id`` first)."""
    fill_arrays(fills, parent, source)
    return fills


def check_orders(orders: pd.DataFrame, parent: ParentOrder, source: str = "orders") -> pd.DataFrame:
    """The parent's new-order rows of the order log, validated (cancel/modify rows are not orders)."""
    return orders.loc[_new_rows(orders, parent, source)]


def _new_rows(orders: pd.DataFrame, parent: ParentOrder, source: str) -> np.ndarray:
    """Which rows of the order log are the parent's new orders (bool), validated."""
    _require(orders, ORDER_NEEDS, source)
    new = equal(strings(orders["action"]), "new")
    pid = orders["parent_id"].to_numpy(dtype=np.int64)
    _first_bad(source, new & (pid != parent.parent_id), "parent_id", pid, f"the parent's id {parent.parent_id}")
    return new


@dataclass(frozen=True)
class OrderArrays:
    """The columns of a parent's order log TCA reads (:func:`order_arrays`), every row: ids, sizes (size units),
    ``arrival_ns``; ``type``, ``status``, ``reason`` as object arrays of ``str`` (missing: ``pd.NA``); ``new``: the
    parent's new-order rows (bool). Columns a caller's table lacks are None (the measure that needs one names
    it)."""

    new: np.ndarray
    order_id: np.ndarray
    arrival_ns: np.ndarray
    quantity: np.ndarray
    type: np.ndarray | None
    status: np.ndarray
    final_quantity: np.ndarray | None
    unfilled: np.ndarray | None
    reason: np.ndarray | None

    @property
    def n_new(self) -> int:
        """The number of the parent's new orders."""
        return int(self.new.sum())


def order_arrays(orders: pd.DataFrame, parent: ParentOrder, source: str = "orders") -> OrderArrays:
    """The order log as :class:`OrderArrays`, validated as :func:`check_orders` does."""
    new = _new_rows(orders, parent, source)

    def ints(c: str) -> np.ndarray | None:
        return orders[c].to_numpy(dtype=np.int64) if c in orders.columns else None

    return OrderArrays(new=new, order_id=ints("order_id"), arrival_ns=ints("arrival_ns"), quantity=ints("quantity"),
                       type=strings(orders["type"]),
                       status=strings(orders["status"]), final_quantity=ints("final_quantity"),
                       unfilled=ints("unfilled"),
                       reason=strings(orders["reason"]) if "reason" in orders.columns else None)
