"""Transaction cost analysis of a run: realised costs from fills, the order log and the tape.

* :mod:`.market` — mid and traded volume as functions of time (:class:`MarketSeries`)
* :mod:`.shortfall` — implementation shortfall vs the arrival mid and its exact decomposition
* :mod:`.unfilled` — the parent's unfilled shares by reason (order log's final states)
* :mod:`.benchmarks` — market VWAP over the window, VWAP slippage, participation
* :mod:`.passive` — fill rate and time to fill of resting orders
* :mod:`.markouts` — mid moves after each fill at fixed horizons
* :mod:`.pretrade` — realised cost next to the pre-trade model (from :mod:`tickreplay.impact`)
* :mod:`.summary` — everything in one JSON-serialisable dict (``tca.json``) and the per-fill table

Costs are positive when they hurt the trader, for buys and sells alike, in
currency and in bps of the arrival notional. Markouts are the exception:
positive when the fill was good for us (see :mod:`.markouts`).
"""

from tickreplay.tca.benchmarks import window_benchmarks
from tickreplay.tca.market import MarketSeries
from tickreplay.tca.markouts import HORIZONS_NS, fill_markouts, markout_summary
from tickreplay.tca.passive import passive_summary
from tickreplay.tca.pretrade import PreTradeInputs, predicted_vs_realised
from tickreplay.tca.shortfall import PARTS, Shortfall, fill_costs, shortfall
from tickreplay.tca.summary import fill_table, tca_summary
from tickreplay.tca.unfilled import unfilled_by_reason

__all__ = ["HORIZONS_NS", "PARTS", "MarketSeries", "PreTradeInputs", "Shortfall", "fill_costs", "fill_markouts",
           "fill_table", "markout_summary", "passive_summary", "predicted_vs_realised", "shortfall", "tca_summary",
           "unfilled_by_reason", "window_benchmarks"]
