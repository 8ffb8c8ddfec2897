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

from tickreplay.tca.frames import equal, strings

MS = 1e6


def _stats(ns: np.ndarray, name: str) -> dict[str, float | None]:
    if len(ns) == 0:
        return {f"{name}_mean_ms": None, f"{name}_median_ms": None}
    return {f"{name}_mean_ms": float(ns.mean() / MS), f"{name}_median_ms": float(np.median(ns) / MS)}


def passive_summary(orders: pd.DataFrame, fills: pd.DataFrame) -> dict[str, float | int | None]:
    """Counts, fill rate and times to fill of the passive orders (``orders``: the parent's new-order rows)."""
    return summarise_passive(orders["order_id"].to_numpy(dtype=np.int64), strings(orders["type"]),
                             strings(orders["status"]), orders["quantity"].to_numpy(dtype=np.int64),
                             orders["arrival_ns"].to_numpy(dtype=np.int64), fills["order_id"].to_numpy(dtype=np.int64),
                             fills["size"].to_numpy(dtype=np.int64), fills["exchange_ns"].to_numpy(dtype=np.int64),
                             equal(strings(fills["liquidity"]), "maker"))


def summarise_passive(order_id: np.ndarray, type_: np.ndarray, status: np.ndarray, quantity: np.ndarray,
                      arrival_ns: np.ndarray, fill_order_id: np.ndarray, fill_size: np.ndarray,
                      fill_ns: np.ndarray, maker: np.ndarray) -> dict[str, float | int | None]:
    """:func:`passive_summary` from the new orders' columns (ids, ``type`` and ``status`` strings, quantity in size
    units, exchange arrival ns) and the fills' (order id, size, execution ns, maker flag)."""
    lim = equal(type_, "limit") & ~equal(status, "rejected")
    oid, quantity, arrival = order_id[lim], quantity[lim], arrival_ns[lim]
    n = len(oid)
    # each fill's passive order: the last one of its id (a fill of a market/IOC order has none: not passive)
    by_id = np.argsort(oid, kind="stable")
    sorted_ids = oid[by_id]
    j = np.searchsorted(sorted_ids, fill_order_id, side="right") - 1
    hit = j >= 0
    hit[hit] = sorted_ids[j[hit]] == fill_order_id[hit]
    k = by_id[j[hit]]
    q, t, mk = fill_size[hit], fill_ns[hit], maker[hit]
    maker_q, taker_q = np.zeros(n, np.int64), np.zeros(n, np.int64)
    on_arrival = np.zeros(n, np.int64)  # taker quantity at arrival: never rested
    first = np.full(n, np.iinfo(np.int64).max)
    last = np.full(n, np.iinfo(np.int64).min)
    np.add.at(maker_q, k[mk], q[mk])
    np.minimum.at(first, k[mk], t[mk])
    tk = ~mk
    np.add.at(taker_q, k[tk], q[tk])
    at_arrival = tk & (t <= arrival[k])
    np.add.at(on_arrival, k[at_arrival], q[at_arrival])
    np.maximum.at(last, k, t)
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
