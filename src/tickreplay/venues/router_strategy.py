"""A schedule whose children a routing policy sends across venues (runs on :class:`~tickreplay.venues.VenueEngine`).

:class:`RoutedExecutor` works one parent: at each child's time it routes what the schedule asks for by then and
is neither filled nor on its way (``target − filled − outstanding``, so what a child did not get carries to the
next). Policies (:class:`RouterPolicy`), all deciding from what the trader sees then (each venue's view, delayed by
its own market-data latency; no look-ahead):

* ``single`` — the child as one market order to ``venue``;
* ``best`` — :func:`~tickreplay.router.route_best`: the whole child to the venue whose visible book gives the
  lowest all-in cost (walk of the levels + its taker fee); when no single venue shows the size, the cheapest
  split across venues; when all venues together do not, what they show (the rest carries over). One market order
  per leg, to its venue;
* ``cont-kukanov`` — :func:`~tickreplay.router.route_cont_kukanov`: a market order to the best-priced venue and
  limit orders at each venue's own touch, sized by the Cont–Kukanov single-period model with the queue ahead
  (that venue's touch size) and outflow scenarios from that venue's recent tape (:func:`touch_outflows`, the
  ``n_windows`` windows of the horizon's length before the last event seen there), under/over-fill penalties
  ``lambda_under_ticks`` / ``lambda_over_ticks`` (ticks per size unit, converted to currency). Limits still open
  after ``horizon_ns`` are cancelled (their rest carries over); once the child's target is filled the others are
  cancelled at once. The model may book more than the child in total (over-booking venues that fill only some
  of the time): the executor caps market + limits at what the parent still needs, so the parent never overfills.
  The solver works in ``unit`` size units (default: the smallest multiple of the instrument's lot that makes the
  child at most :data:`MAX_UNITS` units): Q rounded up, ξ down, the child rounded down (its rest carries over).

After the last child (at its time + ``horizon_ns``) open limits are cancelled and what is left of the parent is
swept by market orders (``single``: on its venue; otherwise the ``best`` split), also when cancels confirm
later (at most :data:`MAX_SWEEPS` rounds, none after the run's end). Sizes are in size units, times in ns.
"""

from __future__ import annotations

import weakref
from collections import defaultdict
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from tickreplay.engine import Strategy
from tickreplay.errors import ConfigError
from tickreplay.orders import Fill, NewOrder, OrderType, OrderUpdate, Status
from tickreplay.router import VenueQuote, route_best, route_cont_kukanov
from tickreplay.schedule.base import ChildOrder

POLICIES = ("single", "best", "cont-kukanov")
MAX_UNITS = 50  # cont-kukanov: the child in at most this many solver units (the exact solve grows like units^K)
MAX_SWEEPS = 20  # market rounds after the last child (a book emptied by our own fills cannot loop forever)
_DONE = (Status.FILLED, Status.CANCELLED, Status.REJECTED)


@dataclass(frozen=True)
class RouterPolicy:
    """A routing policy (see the module docstring): ``kind`` one of :data:`POLICIES`."""

    kind: str
    venue: str | None = None  # single: the venue
    horizon_ns: int = 30_000_000_000  # cont-kukanov: how long its limit orders rest
    lambda_under_ticks: float = 4.0  # cont-kukanov: penalty per size unit short of the child, ticks
    lambda_over_ticks: float = 4.0  # cont-kukanov: penalty per size unit beyond it, ticks
    n_windows: int = 40  # cont-kukanov: outflow scenarios per venue
    unit: int | None = None  # cont-kukanov: the solver's size unit (default: see MAX_UNITS)

    def __post_init__(self) -> None:
        if self.kind not in POLICIES:
            raise ConfigError(f"router policy must be one of {', '.join(POLICIES)}, got {self.kind!r}")
        if self.kind == "single" and not self.venue:
            raise ConfigError("router policy 'single' needs a venue")
        if self.horizon_ns <= 0 or self.n_windows <= 0:
            raise ConfigError(f"router policy: horizon_ns and n_windows must be positive, got {self.horizon_ns}, "
                              f"{self.n_windows}")
        if not (self.lambda_under_ticks >= 0 and self.lambda_over_ticks >= 0):
            raise ConfigError("router policy: lambda_under_ticks and lambda_over_ticks must be >= 0")
        if self.unit is not None and self.unit <= 0:
            raise ConfigError(f"router policy: unit must be a positive integer, got {self.unit}")

    @property
    def label(self) -> str:
        """``single:<venue>``, ``best`` or ``cont-kukanov``."""
        return f"single:{self.venue}" if self.kind == "single" else self.kind


_OUTFLOW: "weakref.WeakKeyDictionary[object, dict]" = weakref.WeakKeyDictionary()


def _touch_outflow_cumsum(replay, side: int) -> np.ndarray:
    """Running total per event of the size that left ``side``'s best level (executions and cancels at the price
    that was the touch before the event), size units; computed once per replay and side."""
    per = _OUTFLOW.setdefault(replay, {})
    if side not in per:
        snap = replay.snapshots
        best = (snap.bid_price if side == 1 else snap.ask_price)[:, 0]
        before = np.concatenate([[0], best[:-1]])
        out = np.where((replay.side == side) & (replay.price == before) & (replay.level_delta < 0),
                       -replay.level_delta, 0).astype(np.int64)
        per[side] = np.cumsum(out)
    return per[side]


def touch_outflows(view, side: int, horizon_ns: int, n_windows: int, since_ns: int) -> np.ndarray:
    """Outflow at ``side``'s touch (size units) in each of the last ``n_windows`` windows of ``horizon_ns`` before
    the last event of ``view`` (a venue's BookView), none starting before ``since_ns``; newest first. Reads only
    events the view has seen."""
    i = view._i
    if i < 0:
        return np.zeros(1, np.int64)
    r = view._r
    c = _touch_outflow_cumsum(r, side)
    end = int(r.ts_ns[i])
    m = max(1, min(n_windows, (end - since_ns) // horizon_ns))
    edges = end - horizon_ns * np.arange(m + 1)
    idx = np.minimum(np.searchsorted(r.ts_ns, edges, side="right") - 1, i)
    val = np.where(idx >= 0, c[np.maximum(idx, 0)], 0)
    return (val[:-1] - val[1:]).astype(np.int64)


class RoutedExecutor(Strategy):
    """Execute ``children`` of one parent on ``side`` (+1 buy, -1 sell) through ``policy`` (module docstring)."""

    def __init__(self, side: int, children: Sequence[ChildOrder], policy: RouterPolicy,
                 parent_quantity: int | None = None) -> None:
        if side not in (1, -1):
            raise ConfigError(f"side must be +1 or -1, got {side}")
        if not children:
            raise ConfigError("RoutedExecutor: no children to execute")
        self.side, self.policy = side, policy
        self.children = sorted(children, key=lambda c: c.time_ns)
        self.quantity = int(parent_quantity if parent_quantity is not None else sum(c.quantity for c in children))
        self.filled = 0
        self.routes: list[dict] = []  # one record per routing decision
        self._target = 0
        self._open: dict[int, int] = {}  # order id → size still open (or on its way)
        self._limits: set[int] = set()  # open cont-kukanov limit orders
        self._due: dict[int, list] = defaultdict(list)
        self._finishing = False
        self._sweeps = 0

    # -- timers ----------------------------------------------------------------
    def _at(self, ctx, t: int, what) -> None:
        t = max(int(t), ctx.now_ns)
        if t not in self._due:
            ctx.set_timer(t)
        self._due[t].append(what)

    def on_start(self, ctx) -> None:
        for child in self.children:
            self._at(ctx, child.time_ns, ("child", child))
        self._at(ctx, self.children[-1].time_ns + self.policy.horizon_ns, ("finish", None))

    def on_timer(self, ctx, t_ns: int) -> None:
        for what, obj in self._due.pop(t_ns, []):
            if what == "child":
                self._target += obj.quantity
                self._child(ctx, obj)
            elif what == "expire":
                self._cancel(ctx, [o for o in obj if o in self._limits])
            else:
                self._finishing = True
                self._target = self.quantity
                self._cancel(ctx, list(self._limits))
                self._sweep(ctx)

    # -- accounting ------------------------------------------------------------
    @property
    def outstanding(self) -> int:
        """Size sent and not yet filled or done, size units."""
        return sum(self._open.values())

    def _need(self) -> int:
        return max(0, min(self._target, self.quantity) - self.filled - self.outstanding)

    def on_fill(self, ctx, fill: Fill) -> None:
        self.filled += fill.size
        if fill.order_id in self._open:
            self._open[fill.order_id] = max(self._open[fill.order_id] - fill.size, 0)
        if self._limits and self.filled >= min(self._target, self.quantity):
            self._cancel(ctx, list(self._limits))

    def on_order_update(self, ctx, update: OrderUpdate) -> None:
        if update.status in _DONE:
            self._open.pop(update.order_id, None)
            self._limits.discard(update.order_id)
            if self._finishing:
                self._sweep(ctx)

    def _cancel(self, ctx, order_ids) -> None:
        for oid in order_ids:
            self._limits.discard(oid)
            ctx.cancel(oid)

    def _send(self, ctx, venue: str, size: int, price: int | None = None) -> int:
        typ = OrderType.MARKET if price is None else OrderType.LIMIT
        oid = ctx.send(NewOrder(self.side, int(size), typ, price, self.children[0].parent_id), venue)
        self._open[oid] = int(size)
        return oid

    # -- routing ---------------------------------------------------------------
    def _quotes(self, ctx, **extra) -> list[VenueQuote]:
        out = []
        for name in ctx.venues:
            view = ctx.venue_view(name)
            if view.best_bid() is None and view.best_ask() is None:
                continue
            out.append(VenueQuote.from_view(name, view, ctx.venue_config(name).fees, **extra.get(name, {})))
        return out

    def _market(self, ctx, size: int, kind: str) -> None:
        """Send ``size`` by market order(s): to the single venue, else by the ``best`` rule."""
        if size <= 0:
            return
        if self.policy.kind == "single":
            self._send(ctx, self.policy.venue, size)
            self.routes.append({"time_ns": ctx.now_ns, "what": kind, "size": size, "legs": {self.policy.venue: size}})
            return
        quotes = self._quotes(ctx)
        if not quotes:
            return
        route = route_best(quotes, self.side, size)
        if not route.fillable:
            route = route_best(quotes, self.side, size, split=True)
        if not route.fillable:  # the venues together show less: take what they show, the rest carries over
            shown = sum(int(q.levels(-self.side)[1].sum()) for q in quotes)
            if shown <= 0:
                return
            route = route_best(quotes, self.side, shown, split=True)
        for leg in route.legs:
            self._send(ctx, leg.venue, leg.size)
        self.routes.append({"time_ns": ctx.now_ns, "what": kind, "size": size,
                            "legs": {leg.venue: leg.size for leg in route.legs}})

    def _sweep(self, ctx) -> None:
        if self._sweeps >= MAX_SWEEPS or ctx.now_ns > ctx.end_ns:
            return
        self._sweeps += 1
        self._market(ctx, self._need(), "sweep")

    def _child(self, ctx, child: ChildOrder) -> None:
        size = self._need()
        if size <= 0:
            return
        if self.policy.kind != "cont-kukanov":
            self._market(ctx, size, "child")
            return
        self._kukanov(ctx, size)

    def _kukanov(self, ctx, size: int) -> None:
        p, side = self.policy, self.side
        inst = ctx.venue_view(ctx.venues[0]).instrument
        lot = inst.lot_size
        unit = p.unit or lot * max(1, -(-size // (lot * MAX_UNITS)))
        lots = size // unit
        if lots <= 0:
            return
        start = min(ctx.venue_view(n)._r.session_start_ns for n in ctx.venues)
        extra = {}
        for name in ctx.venues:
            view = ctx.venue_view(name)
            own = view.best_bid() if side == 1 else view.best_ask()
            if own is None:
                continue
            xi = touch_outflows(view, side, p.horizon_ns, p.n_windows, start)
            extra[name] = {"queue_ahead": -(-own[1] // unit), "outflow_samples": xi // unit}
        n = min((len(e["outflow_samples"]) for e in extra.values()), default=0)
        for e in extra.values():
            e["outflow_samples"] = e["outflow_samples"][:n]
        quotes = [q for q in self._quotes(ctx, **extra) if q.venue in extra]
        if not quotes or not any(len(q.levels(-side)[0]) for q in quotes):
            self._market(ctx, size, "child")
            return
        tick_value = inst.tick_size * inst.unit_value
        route = route_cont_kukanov(quotes, side, lots, p.lambda_under_ticks * tick_value,
                                   p.lambda_over_ticks * tick_value)
        room = self.quantity - self.filled - self.outstanding  # never book beyond the parent
        market = min(route.market * unit, room)
        sent = {}
        if market > 0:  # the model prices the market leg at the touch; its venues and depth are `best`'s job
            legs = route_best(quotes, side, market, split=True)
            if not legs.fillable:
                shown = sum(int(q.levels(-side)[1].sum()) for q in quotes)
                legs = route_best(quotes, side, min(market, shown), split=True) if shown > 0 else None
            for leg in (legs.legs if legs is not None else ()):
                self._send(ctx, leg.venue, leg.size)
                sent["market@" + leg.venue] = sent.get("market@" + leg.venue, 0) + leg.size
                room -= leg.size
        placed = []
        for q in quotes:
            lim = min(route.limits.get(q.venue, 0) * unit, room)
            if lim <= 0:
                continue
            price = int(q.levels(side)[0][0])
            oid = self._send(ctx, q.venue, lim, price)
            self._limits.add(oid)
            placed.append(oid)
            sent["limit@" + q.venue] = lim
            room -= lim
        self.routes.append({"time_ns": ctx.now_ns, "what": "child", "size": size, "legs": sent,
                            "expected_cost": route.expected_cost * unit})
        if placed:
            self._at(ctx, ctx.now_ns + p.horizon_ns, ("expire", placed))


def check_policy_venues(policy: RouterPolicy, venues: Sequence[str]) -> None:
    """ConfigError unless the policy's venue (``single``) is one of ``venues``."""
    if policy.kind == "single" and policy.venue not in venues:
        raise ConfigError(f"router policy 'single': unknown venue {policy.venue!r} (venues: {', '.join(venues)})")

