"""The trader's side: what runs in the engine on our behalf, seeing only the trader-time view.

* :mod:`.executor` — :class:`ChildOrderExecutor`, a schedule's child orders sent, re-priced and swept
* :mod:`.pov` — :class:`PovExecutor`, participation of volume as the trader sees it
* :mod:`.overlay` — :class:`OverlayExecutor`, each child delayed by a delay model's choice
* :mod:`.features` — the overlay's features, computed from the trader's book view only
* :mod:`.market_maker` — :class:`QuoteBothSides`, an example user strategy
* :mod:`.pnl` — position, inventory and realised/unrealised PnL over time from fills
"""

from tickreplay.trader.executor import ChildOrderExecutor
from tickreplay.trader.features import FEATURE_NAMES, compute_features
from tickreplay.trader.market_maker import QuoteBothSides
from tickreplay.trader.overlay import DEFAULT_DELAYS_NS, DEFAULT_DELAYS_S, Decision, DelayPredictor, OverlayExecutor
from tickreplay.trader.pnl import pnl_table
from tickreplay.trader.pov import PovExecutor

__all__ = ["ChildOrderExecutor", "DEFAULT_DELAYS_NS", "DEFAULT_DELAYS_S", "Decision", "DelayPredictor",
           "FEATURE_NAMES", "OverlayExecutor", "PovExecutor", "QuoteBothSides", "compute_features", "pnl_table"]
