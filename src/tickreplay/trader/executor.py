"""A strategy that executes a schedule's child orders (:class:`tickreplay.schedule.ChildOrder`).

Each child is sent at its ``time_ns`` (trader time), priced from the view at
that moment by its style:

* ``market`` — a market order;
* ``limit_touch`` — a limit at our side's touch (best bid for a buy);
* ``limit_offset`` — ``offset_ticks`` ticks behind the touch (positive = more passive);
* ``peg_mid`` — a limit at the mid, rounded to the tick grid on the passive side.

A resting child that is still open ``replace_after_ns`` after it was (last)
placed is cancel-replaced (a modify: it loses priority) at its style's price
from the view then; if that price is unchanged it keeps its place (a rejected
modify, e.g. during a halt, leaves the old price, re-priced at the next check). After
``max_replaces`` re-pricings (None: no limit) the next check cancels it and,
when ``finish_with_market``, sends the unfilled rest as a market order. When
our side of the book is empty a limit child cannot be priced; it is retried
``replace_after_ns`` later (counted in :attr:`unpriced`).
"""

from __future__ import annotations

from collections import defaultdict
from typing import Sequence

from tickreplay.engine import Context, Strategy
from tickreplay.orders import Fill, NewOrder, OrderType, OrderUpdate, Status
from tickreplay.schedule.base import ChildOrder


class ChildOrderExecutor(Strategy):
    """Send child orders for one parent on ``side`` (+1 buy, -1 sell); see the module docstring."""

    #: this exact class runs on :mod:`tickreplay.engine_kernel`'s compiled loop (a subclass must set its own)
    compiled_loop = "children"

    def __init__(self, side: int, children: Sequence[ChildOrder], replace_after_ns: int = 30_000_000_000,
                 max_replaces: int | None = None, finish_with_market: bool = False) -> None:
        if side not in (1, -1):
            raise ValueError(f"side must be +1 or -1, got {side}")
        if replace_after_ns <= 0:
            raise ValueError(f"replace_after_ns must be positive, got {replace_after_ns}")
        self.side = side
        self.children = list(children)
        self.replace_after_ns = int(replace_after_ns)
        self.max_replaces = max_replaces
        self.finish_with_market = finish_with_market
        self.unpriced = 0
        self._due: dict[int, list[tuple[str, object]]] = defaultdict(list)
        self._open: dict[int, list] = {}  # order id → [child, quantity, filled, replaces, price]
        self._sweep: dict[int, int] = {}  # cancel request id → order id whose rest goes to market
        self._repricing: dict[int, tuple[int, int, int]] = {}  # modify request id → (order id, old price, new price)

    @property
    def fresh(self) -> bool:
        """True until the executor has run: no order, timer or unpriced retry from an earlier run, and the
        class's own market-data subscription (what the compiled loop reproduces)."""
        return (not (self.unpriced or self._due or self._open or self._sweep or self._repricing)
                and tuple(self.subscribe) == tuple(type(self).subscribe))

    def _at(self, ctx: Context, t_ns: int, action: str, what: object) -> None:
        if not self._due.get(t_ns):
            ctx.set_timer(t_ns)
        self._due[t_ns].append((action, what))

    def on_start(self, ctx: Context) -> None:
        for child in self.children:
            self._at(ctx, max(child.time_ns, ctx.now_ns), "send", child)

    def on_timer(self, ctx: Context, t_ns: int) -> None:
        for action, what in self._due.pop(t_ns, []):
            if action == "send":
                self._send(ctx, what)
            else:
                self._check(ctx, what)

    def _price(self, ctx: Context, child: ChildOrder) -> int | None:
        view = ctx.view
        tick = view.instrument.tick_size
        if child.style == "peg_mid":
            b, a = view.best_bid(), view.best_ask()
            if b is None or a is None:
                return None
            twice = b[0] + a[0]
            steps = twice // (2 * tick) if self.side == 1 else -(-twice // (2 * tick))
            return steps * tick
        touch = view.touch(self.side)
        if touch is None:
            return None
        offset = child.offset_ticks if child.style == "limit_offset" else 0
        return touch - self.side * offset * tick

    def _send(self, ctx: Context, child: ChildOrder, quantity: int | None = None) -> None:
        qty = child.quantity if quantity is None else quantity
        if child.style == "market":
            ctx.send(NewOrder(self.side, qty, OrderType.MARKET, None, child.parent_id))
            return
        price = self._price(ctx, child)
        if price is None:
            self.unpriced += 1
            self._at(ctx, ctx.now_ns + self.replace_after_ns, "send", child)
            return
        oid = ctx.send(NewOrder(self.side, qty, OrderType.LIMIT, price, child.parent_id))
        self._open[oid] = [child, qty, 0, 0, price]
        self._at(ctx, ctx.now_ns + self.replace_after_ns, "check", oid)

    def _check(self, ctx: Context, oid: int) -> None:
        state = self._open.get(oid)
        if state is None:
            return
        child, _, _, replaces, price = state
        if self.max_replaces is not None and replaces >= self.max_replaces:
            rid = ctx.cancel(oid)
            if self.finish_with_market:
                self._sweep[rid] = oid
            return
        state[3] += 1
        new = self._price(ctx, child)
        if new is not None and new != price:
            self._repricing[ctx.modify(oid, price=new)] = (oid, price, new)
            state[4] = new
        self._at(ctx, ctx.now_ns + self.replace_after_ns, "check", oid)

    def on_fill(self, ctx: Context, fill: Fill) -> None:
        state = self._open.get(fill.order_id)
        if state is not None:
            state[2] += fill.size
            if state[2] >= state[1]:
                del self._open[fill.order_id]

    def on_order_update(self, ctx: Context, update: OrderUpdate) -> None:
        if update.action == "new" and update.status != Status.OPEN:
            self._open.pop(update.order_id, None)  # rejected, or filled/ended at arrival
        elif update.action == "modify" and update.request_id in self._repricing:
            oid, old, new = self._repricing.pop(update.request_id)
            state = self._open.get(oid)
            if update.status == Status.REJECTED and state is not None and state[4] == new:
                state[4] = old  # the order is still at its old price
        elif update.action == "cancel" and update.status == Status.CANCELLED:
            state = self._open.pop(update.order_id, None)
            oid = self._sweep.pop(update.request_id, None)
            if oid is not None and state is not None and state[1] > update.filled:
                market = ChildOrder(ctx.now_ns, state[1] - update.filled, "market", 0, state[0].parent_id,
                                    state[0].index)
                self._send(ctx, market)
