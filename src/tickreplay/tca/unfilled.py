"""Why the parent's unfilled shares went unfilled: every share of ``quantity − filled`` gets one reason.

Read from the order log's **final state per order**
(:data:`tickreplay.orders.ORDER_LOG_COLUMNS`), on each order's "new" row:
``unfilled`` (its final quantity minus what it filled, size units),
``reason`` (why it ended with a rest: a :class:`~tickreplay.orders.Reject`
or :class:`~tickreplay.orders.DoneReason` string; "" while it is still
live), ``quantity`` (as sent) and ``final_quantity`` (after modifies: a
modify that lowered it withdrew ``quantity − final_quantity`` shares).
The time an order ended is the latest ``arrival_ns`` of its rows whose
``status`` is not "rejected" (its last action that took effect).

The parent is short ``U = quantity − filled`` shares (filled: the fills'
total). Not every order's rest is a short share: a strategy that cancels
and re-sends (cancel/replace, a sweep of a resting rest as a market order)
sends those shares again. So the ``U`` shares are attributed in this order,
each rest capped by what is still unexplained:

1. rests of orders still live at the end of the run (``open_at_end``);
2. rests the exchange ended (beyond the visible depth, an IOC's rest,
   every reject), the most recently ended first, under the order's reason;
3. rests the strategy ended (``cancel_request``, and shares withdrawn by
   modifies: ``reduced_by_modify``), the most recently ended first: these
   are the ones a strategy re-sends, so they explain only what 1 and 2 do
   not;
4. what is left was never sent in any order (``never_sent``). Given the
   schedule's children (``time_ns``, ``planned_cum``) and the run's end
   (trader time: timers after it never fire), the shares of children planned
   after the run's end are ``not_sent_after_run_end`` and only the rest is
   ``never_sent``.

The shares add up exactly to ``U``; rest shares beyond ``U`` were re-sent
and are not listed. ``orders`` counts the orders whose rest explains at
least one share.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from tickreplay.errors import InputError
from tickreplay.orders import DoneReason, Reject
from tickreplay.schedule.base import ParentOrder
from tickreplay.tca.frames import OrderArrays, equal, strings

OPEN_AT_END = "open_at_end"
REDUCED = "reduced_by_modify"
NEVER_SENT = "never_sent"
AFTER_RUN_END = "not_sent_after_run_end"
#: reasons under which the strategy itself ended a rest (attributed last: see the module docstring)
BY_STRATEGY = (DoneReason.CANCEL_REQUEST, REDUCED)

#: how each reason reads in a sentence (a reason not listed reads as its order-log string)
LABELS = {
    DoneReason.MARKET_REST: "beyond visible depth",
    DoneReason.IOC_REST: "IOC rest cancelled",
    DoneReason.CANCEL_REQUEST: "cancelled by the strategy",
    REDUCED: "withdrawn by a modify",
    Reject.OUTSIDE_SESSION: "rejected outside trading hours",
    Reject.HALTED: "rejected in a halt",
    OPEN_AT_END: "resting at end",
    AFTER_RUN_END: "not sent: scheduled after the run's end",
    NEVER_SENT: "never sent",
}

ORDER_COLUMNS = ("order_id", "action", "status", "quantity", "final_quantity", "unfilled", "reason", "arrival_ns")


_REJECTS = frozenset(v for k, v in vars(Reject).items() if k.isupper())


def label(reason: str) -> str:
    """The reason as it reads in a sentence (a reject not in :data:`LABELS`: ``rejected: size off lot``)."""
    if reason in LABELS:
        return LABELS[reason]
    return ("rejected: " if reason in _REJECTS else "") + reason.replace("_", " ")


def _planned_after(schedule: pd.DataFrame, run_end_ns: int) -> int:
    """Shares of the schedule's children planned strictly after ``run_end_ns``."""
    t = schedule["time_ns"].to_numpy(dtype=np.int64)
    cum = schedule["planned_cum"].to_numpy(dtype=np.int64)
    if len(cum) == 0:
        return 0
    before = cum[t <= run_end_ns]
    return int(cum[-1] - (before[-1] if len(before) else 0))


def unfilled_by_reason(orders: pd.DataFrame, parent: ParentOrder, filled: int,
                       schedule: pd.DataFrame | None = None, run_end_ns: int | None = None,
                       source: str = "orders") -> dict[str, dict[str, int | str]]:
    """``{reason: {"shares", "orders", "label"}}`` for the parent's ``quantity − filled`` shares (module docstring).

    ``orders``: the parent's order log (every row); ``filled``: the parent's filled size from its fills.
    Reasons are listed by shares, largest first; the shares add up to ``parent.quantity − filled``.
    """
    missing = [c for c in ORDER_COLUMNS if c not in orders.columns]
    if missing:
        raise InputError(source, None, missing[0], f"missing column(s) {missing}")

    def ints(c: str) -> np.ndarray:
        return orders[c].to_numpy(dtype=np.int64)

    log = OrderArrays(new=equal(strings(orders["action"]), "new"), order_id=ints("order_id"),
                      arrival_ns=ints("arrival_ns"), quantity=ints("quantity"), type=None,
                      status=strings(orders["status"]), final_quantity=ints("final_quantity"),
                      unfilled=ints("unfilled"), reason=strings(orders["reason"]))
    return attribute_unfilled(log, parent, filled, schedule, run_end_ns, source)


def attribute_unfilled(log: OrderArrays, parent: ParentOrder, filled: int, schedule: pd.DataFrame | None = None,
                       run_end_ns: int | None = None, source: str = "orders") -> dict[str, dict[str, int | str]]:
    """:func:`unfilled_by_reason` from the order log's columns (:class:`~tickreplay.tca.frames.OrderArrays`)."""
    missing = [c for c in ("final_quantity", "unfilled", "reason") if getattr(log, c) is None]
    if missing:
        raise InputError(source, None, missing[0], f"missing column(s) {missing}")
    if (schedule is None) != (run_end_ns is None):
        raise ValueError("give both schedule and run_end_ns, or neither")
    is_new = log.new
    rest = log.unfilled[is_new]
    bad = np.flatnonzero(rest < 0)
    if len(bad):
        row = int(np.flatnonzero(is_new)[bad[0]]) + 1
        raise InputError(source, row, "unfilled", f"expected a size >= 0, got {int(rest[bad[0]])}")
    # shares a modify took back (a modify that raised the quantity sent more: nothing withdrawn)
    withdrawn = np.maximum(log.quantity[is_new] - log.final_quantity[is_new], 0)
    ids = log.order_id[is_new]
    end_ns = np.maximum(_last_effect(log, ids), log.arrival_ns[is_new])
    reason = log.reason[is_new]
    reason[pd.isna(reason)] = ""
    live = equal(reason, "")
    reason = np.where(live, OPEN_AT_END, reason)
    # every rest: (class, -end, -order id, shares, reason), sorted; class 0 live, 1 ended by the exchange, 2 by the
    # strategy; then each takes what is still unexplained
    by_strategy = np.zeros(len(ids), bool)
    for r in BY_STRATEGY:
        by_strategy |= equal(reason, r)
    cls = np.concatenate([np.where(live, 0, np.where(by_strategy, 2, 1)), np.full(len(ids), 2)])
    why = np.concatenate([reason, np.full(len(ids), REDUCED, dtype=object)])
    shares = np.concatenate([rest, withdrawn])
    names, rank = np.unique(why, return_inverse=True)
    order = np.lexsort((rank, shares, -np.concatenate([ids, ids]), -np.concatenate([end_ns, end_ns]), cls))
    shares, rank = shares[order], rank[order]
    left = parent.quantity - filled
    take = np.minimum(shares, np.maximum(left - (np.cumsum(shares) - shares), 0))
    left -= int(take.sum())
    out: dict[str, dict[str, int | str]] = {}

    def add(why: str, shares: int, n_orders: int) -> None:
        e = out.setdefault(why, {"shares": 0, "orders": 0, "label": label(why)})
        e["shares"] += shares
        e["orders"] += n_orders

    took = take > 0
    per_shares = np.zeros(len(names), np.int64)
    np.add.at(per_shares, rank[took], take[took])
    per_orders = np.bincount(rank[took], minlength=len(names))
    for name, n_shares, n_orders in zip(names, per_shares, per_orders):
        if n_orders:
            add(str(name), int(n_shares), int(n_orders))
    if left > 0 and schedule is not None:
        late = min(_planned_after(schedule, run_end_ns), left)
        if late > 0:
            add(AFTER_RUN_END, late, 0)
            left -= late
    if left > 0:
        add(NEVER_SENT, left, 0)
    return dict(sorted(out.items(), key=lambda kv: (-kv[1]["shares"], kv[0])))


def _last_effect(log: OrderArrays, ids: np.ndarray) -> np.ndarray:
    """Per order id of ``ids``: the latest ``arrival_ns`` of its rows whose status is not "rejected" (-1: none)."""
    took_effect = ~equal(log.status, "rejected")
    oid, t = log.order_id[took_effect], log.arrival_ns[took_effect]
    if len(oid) == 0:
        return np.full(len(ids), -1, np.int64)
    known, at = np.unique(oid, return_inverse=True)
    latest = np.full(len(known), np.iinfo(np.int64).min)
    np.maximum.at(latest, at, t)
    j = np.minimum(np.searchsorted(known, ids), len(known) - 1)
    return np.where(known[j] == ids, latest[j], -1)


def describe(unfilled: dict[str, dict]) -> str:
    """One line, e.g. ``unfilled 1,234: 1,000 beyond visible depth (3 orders), 234 never sent``."""
    def one(e: dict) -> str:
        n = e["orders"]
        return f"{e['shares']:,} {e['label']}" + (f" ({n:,} order{'' if n == 1 else 's'})" if n else "")

    total = sum(e["shares"] for e in unfilled.values())
    return f"unfilled {total:,}: " + ", ".join(one(e) for e in unfilled.values())
