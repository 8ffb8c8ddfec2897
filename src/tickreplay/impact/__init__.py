"""Pre-trade cost models: one formula, one place (TCA imports them from here).

* :mod:`.canonical` — the canonical breakdown (sqrt permanent, linear temporary, half spread, latency drift)
* :mod:`.almgren_chriss` — AC (2001) optimal trajectory, closed-form and discrete E and V, frontier;
  the one execution-risk formula (``execution_risk_bps``, ``planned_schedule_risk_bps``)
* :mod:`.almgren2005` — Almgren et al. (2005) 3/5-power model
* :mod:`.sqrt_law` — plain square-root law
* :mod:`.models` — orders, market inputs, the model registry (``get_model``)
* :mod:`.horizons` — cost across horizons, multi-day splitting
* :mod:`.frontier` — efficient frontier of the canonical order and its figure
* :mod:`.inputs` — market inputs estimated from catalog entries
* :mod:`.trades` — signed, grouped trades from a tape's prints
* :mod:`.propagator` — propagator kernel from public trades (Toeplitz), fits, OOS, figure
* :mod:`.calibration` — calibration files (JSON): parameters, intervals, provenance, OOS scores
"""

from tickreplay.impact.canonical import canonical_breakdown
from tickreplay.impact.models import (MODELS, Almgren2005Model, CanonicalModel, MarketInputs, PreTradeOrder,
                                      SqrtLawModel, get_model)

__all__ = ["MODELS", "Almgren2005Model", "CanonicalModel", "MarketInputs", "PreTradeOrder", "SqrtLawModel",
           "canonical_breakdown", "get_model"]
