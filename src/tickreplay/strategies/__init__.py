"""Strategies that run in the engine besides the schedule executor.

* :mod:`.pov` — :class:`PovExecutor`, participation of volume as the trader sees it
* :mod:`.market_maker` — :class:`QuoteBothSides`, an example user strategy
* :mod:`.pnl` — position, inventory and realised/unrealised PnL over time from fills
"""

from tickreplay.strategies.market_maker import QuoteBothSides
from tickreplay.strategies.pnl import pnl_table
from tickreplay.strategies.pov import PovExecutor

__all__ = ["PovExecutor", "QuoteBothSides", "pnl_table"]
