"""An example user strategy: quote both sides at the touch, within a position limit.

Named in a scenario as ``strategy = "tickreplay.trader.market_maker:QuoteBothSides"``
with its keyword arguments under ``[schedule.params]``. It only uses the
engine's public interface (:class:`~tickreplay.engine.Strategy`, the
:class:`~tickreplay.engine.Context`), as any user strategy would.
"""

from __future__ import annotations

from tickreplay.engine import Context, Strategy
from tickreplay.orders import Fill, NewOrder, OrderType, OrderUpdate, Status

NS = 1_000_000_000


class QuoteBothSides(Strategy):
    """One limit order of ``quote_size`` at each touch, re-priced every ``requote_s``; stop after ``duration_s``.

    A side is not quoted when a full fill there would take the absolute
    position beyond ``max_position``. At the end every quote is cancelled and,
    when ``flatten``, the position is closed with a market order.
    """

    def __init__(self, quote_size: int = 100, max_position: int = 1000, requote_s: float = 5.0,
                 duration_s: float = 3600.0, flatten: bool = True) -> None:
        if quote_size <= 0 or max_position < quote_size:
            raise ValueError(f"need 0 < quote_size <= max_position, got {quote_size}, {max_position}")
        if requote_s <= 0 or duration_s <= 0:
            raise ValueError(f"requote_s and duration_s must be positive, got {requote_s}, {duration_s}")
        self.quote_size, self.max_position = int(quote_size), int(max_position)
        self.requote_ns, self.duration_ns = round(requote_s * NS), round(duration_s * NS)
        self.flatten = flatten
        self._quotes: dict[int, list[int]] = {}  # side → [order id, price, open size]
        self._end_ns = 0
        self._done = False

    def on_start(self, ctx: Context) -> None:
        self._end_ns = ctx.now_ns + self.duration_ns
        self._requote(ctx)
        ctx.set_timer(min(ctx.now_ns + self.requote_ns, self._end_ns))

    def on_timer(self, ctx: Context, t_ns: int) -> None:
        if t_ns >= self._end_ns:
            self._stop(ctx)
            return
        self._requote(ctx)
        ctx.set_timer(min(t_ns + self.requote_ns, self._end_ns))

    def _requote(self, ctx: Context) -> None:
        view = ctx.view
        for side in (1, -1):
            price = view.touch(side)
            quote = self._quotes.get(side)
            allowed = side * ctx.position + self.quote_size <= self.max_position
            if quote is not None and (not allowed or price is None):
                ctx.cancel(quote[0])
                del self._quotes[side]
            elif quote is not None and price != quote[1]:
                ctx.modify(quote[0], price=price)
                quote[1] = price
            elif quote is None and allowed and price is not None:
                oid = ctx.send(NewOrder(side, self.quote_size, OrderType.LIMIT, price))
                self._quotes[side] = [oid, price, self.quote_size]

    def _stop(self, ctx: Context) -> None:
        self._done = True
        for oid, *_ in self._quotes.values():
            ctx.cancel(oid)
        self._quotes.clear()
        if self.flatten and ctx.position:
            ctx.send(NewOrder(-1 if ctx.position > 0 else 1, abs(ctx.position), OrderType.MARKET))

    def _forget(self, order_id: int) -> bool:
        for side, quote in list(self._quotes.items()):
            if quote[0] == order_id:
                del self._quotes[side]
                return True
        return False

    def on_fill(self, ctx: Context, fill: Fill) -> None:
        quote = self._quotes.get(fill.side)
        if quote is not None and quote[0] == fill.order_id:
            quote[2] -= fill.size
            if quote[2] <= 0 and self._forget(fill.order_id) and not self._done:
                self._requote(ctx)  # a filled side is quoted again at once if the limit allows

    def on_order_update(self, ctx: Context, update: OrderUpdate) -> None:
        if update.remaining == 0 and update.status != Status.PENDING:
            self._forget(update.order_id)  # the order is over (filled, cancelled, rejected)
