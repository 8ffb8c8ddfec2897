"""POV in the engine: a :class:`~tickreplay.schedule.PovPolicy` fed with the trades the trader sees."""

from __future__ import annotations

from tickreplay.engine import Context, MarketEvent
from tickreplay.trader.executor import ChildOrderExecutor
from tickreplay.schedule.base import ChildOrder, check_style
from tickreplay.schedule.pov import PovPolicy
from tickreplay.tape import TRADED_KINDS


class PovExecutor(ChildOrderExecutor):
    """Send what the policy owes each time a trade print reaches the trader (after market-data latency).

    Children are priced and re-priced like the executor's (``style``,
    ``offset_ticks``, replace/cancel rules); their times and sizes come from
    the volume seen, so the schedule is only known after the run
    (:attr:`children` lists what was sent). The market volume is the tape's
    (history does not react, so it never contains our own fills).
    """

    subscribe = TRADED_KINDS
    compiled_loop = "pov"  #: see ChildOrderExecutor.compiled_loop

    def __init__(self, side: int, policy: PovPolicy, style: str = "market", offset_ticks: int = 0,
                 parent_id: int = 1, replace_after_ns: int = 30_000_000_000, max_replaces: int | None = None,
                 finish_with_market: bool = False) -> None:
        super().__init__(side, [], replace_after_ns, max_replaces, finish_with_market)
        self.policy = policy
        self.style = check_style(style)
        self.offset_ticks = offset_ticks
        self.parent_id = parent_id

    def on_market(self, ctx: Context, event: MarketEvent) -> None:
        q = self.policy.on_volume(ctx.now_ns, event.size)
        if q:
            child = ChildOrder(ctx.now_ns, q, self.style, self.offset_ticks, self.parent_id, len(self.children))
            self.children.append(child)
            self._send(ctx, child)
