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
    if (schedule is None) != (run_end_ns is None):
        raise ValueError("give both schedule and run_end_ns, or neither")
    is_new = (orders["action"].astype("string") == "new").to_numpy(dtype=bool)
    new = orders.loc[is_new]
    rest = new["unfilled"].to_numpy(dtype=np.int64)
    bad = np.flatnonzero(rest < 0)
    if len(bad):
        row = int(np.flatnonzero(is_new)[bad[0]]) + 1
        raise InputError(source, row, "unfilled", f"expected a size >= 0, got {int(rest[bad[0]])}")
    # shares a modify took back (a modify that raised the quantity sent more: nothing withdrawn)
    withdrawn = np.maximum(new["quantity"].to_numpy(dtype=np.int64) - new["final_quantity"].to_numpy(dtype=np.int64), 0)
    took_effect = orders.loc[(orders["status"].astype("string") != "rejected").to_numpy(dtype=bool)]
    ended = took_effect.groupby("order_id")["arrival_ns"].max()
    ids = new["order_id"].to_numpy(dtype=np.int64)
    end_ns = np.maximum(ended.reindex(ids).fillna(-1).to_numpy(dtype=np.int64),
                        new["arrival_ns"].to_numpy(dtype=np.int64))
    reason = new["reason"].astype("string").fillna("").to_numpy(dtype=object)
    live = reason == ""
    reason = np.where(live, OPEN_AT_END, reason)
    # every rest: (class, -end, -order id, shares, reason); class 0 live, 1 ended by the exchange, 2 by the strategy
    rests = [(0 if live[k] else 2 if reason[k] in BY_STRATEGY else 1, -int(end_ns[k]), -int(ids[k]), int(rest[k]),
              str(reason[k])) for k in range(len(ids))]
    rests += [(2, -int(end_ns[k]), -int(ids[k]), int(withdrawn[k]), REDUCED) for k in range(len(ids))]
    left = parent.quantity - filled
    out: dict[str, dict[str, int | str]] = {}

    def add(why: str, shares: int, n_orders: int) -> None:
        e = out.setdefault(why, {"shares": 0, "orders": 0, "label": label(why)})
        e["shares"] += shares
        e["orders"] += n_orders

    for *_, shares, why in sorted(rests):
        take = min(shares, left)
        if take > 0:
            add(why, take, 1)
            left -= take
    if left > 0 and schedule is not None:
        late = min(_planned_after(schedule, run_end_ns), left)
        if late > 0:
            add(AFTER_RUN_END, late, 0)
            left -= late
    if left > 0:
        add(NEVER_SENT, left, 0)
    return dict(sorted(out.items(), key=lambda kv: (-kv[1]["shares"], kv[0])))


def describe(unfilled: dict[str, dict]) -> str:
    """One line, e.g. ``unfilled 1,234: 1,000 beyond visible depth (3 orders), 234 never sent``."""
    def one(e: dict) -> str:
        n = e["orders"]
        return f"{e['shares']:,} {e['label']}" + (f" ({n:,} order{'' if n == 1 else 's'})" if n else "")

    total = sum(e["shares"] for e in unfilled.values())
    return f"unfilled {total:,}: " + ", ".join(one(e) for e in unfilled.values())
