"""Fill rate and time to fill of passive (resting) orders, from the order log and the fills.

A *passive order* is a new limit order of the parent that was not rejected
(its "new" row's ``status`` is not "rejected") and rested some quantity: its
order-log ``quantity`` (as sent) minus what it took
aggressively on arrival (its taker fills at its exchange arrival time) is its
passive quantity. Taker fills after arrival (a modify that re-priced it
across the spread) took quantity that had rested unfilled: it stays in the
passive quantity, not filled passively. Market and IOC orders never rest and
are not counted. (The order log's ``quantity`` is the size as sent; a modify
that raises it can make an order's maker fills exceed its passive quantity.)
These are per order, from the fills; the fill rate of each placement and
re-price by its queue ahead is in the order log's rows (``rested``,
``queue_ahead``, ``filled``, ``open_quantity``).

* ``fill_rate``: maker-filled quantity / passive quantity, over all passive orders.
* ``orders_filled``: passive orders whose whole quantity filled.
* time to first fill: first maker fill's exchange time minus the order's
  exchange arrival; time to fill: last fill's exchange time minus arrival,
  for the orders that filled completely. Mean and median in ms.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

MS = 1e6


def _stats(ns: np.ndarray, name: str) -> dict[str, float | None]:
    if len(ns) == 0:
        return {f"{name}_mean_ms": None, f"{name}_median_ms": None}
    return {f"{name}_mean_ms": float(ns.mean() / MS), f"{name}_median_ms": float(np.median(ns) / MS)}


def passive_summary(orders: pd.DataFrame, fills: pd.DataFrame) -> dict[str, float | int | None]:
    """Counts, fill rate and times to fill of the passive orders (``orders``: the parent's new-order rows)."""
    lim = orders.loc[(orders["type"].astype("string") == "limit").to_numpy(dtype=bool)
                     & (orders["status"].astype("string") != "rejected").to_numpy(dtype=bool)]
    oid = lim["order_id"].to_numpy(dtype=np.int64)
    f_oid = fills["order_id"].to_numpy(dtype=np.int64)
    f_size = fills["size"].to_numpy(dtype=np.int64)
    f_ts = fills["exchange_ns"].to_numpy(dtype=np.int64)
    maker = (fills["liquidity"].astype("string") == "maker").to_numpy(dtype=bool)
    quantity = lim["quantity"].to_numpy(dtype=np.int64)
    arrival = lim["arrival_ns"].to_numpy(dtype=np.int64)
    pos = {int(o): k for k, o in enumerate(oid)}
    taker_q, maker_q = np.zeros(len(oid), np.int64), np.zeros(len(oid), np.int64)
    on_arrival = np.zeros(len(oid), np.int64)  # taker quantity at arrival: never rested
    first = np.full(len(oid), np.iinfo(np.int64).max)
    last = np.full(len(oid), np.iinfo(np.int64).min)
    for o, q, t, mk in zip(f_oid, f_size, f_ts, maker):
        k = pos.get(int(o))
        if k is None:
            continue  # a fill of a market/IOC order: not passive
        if mk:
            maker_q[k] += q
            first[k] = min(first[k], t)
        else:
            taker_q[k] += q
            if t <= arrival[k]:
                on_arrival[k] += q
        last[k] = max(last[k], t)
    passive = quantity - on_arrival > 0
    full = passive & (maker_q + taker_q >= quantity) & (maker_q > 0)
    pq_total = int((quantity - on_arrival)[passive].sum())
    out: dict[str, float | int | None] = {
        "orders": int(passive.sum()),
        "quantity": pq_total,
        "filled": int(maker_q[passive].sum()),
        "fill_rate": float(maker_q[passive].sum() / pq_total) if pq_total else None,
        "orders_filled": int(full.sum()),
    }
    got = passive & (maker_q > 0)
    out.update(_stats((first - arrival)[got], "time_to_first_fill"))
    out.update(_stats((last - arrival)[full], "time_to_fill"))
    return out
