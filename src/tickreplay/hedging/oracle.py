"""The cost our trading caused: a hedge's fills against the same day without the hedge (docs/loop.md, "The oracle").

A hedge's realised cost (shortfall vs the arrival mid ``M0``) is what the desk pays, but on a volatile day it is
dominated by the price's own move while the hedge works, which no calibration can predict. Where the day without
our hedge is known — a generated day: the reactive market's plain day (the same events until our first order, the
same latent random-walk draws after it), or the generated tape under the impact-adjusted replay (the replay's own
historical mid: the planted shift removed) — the **caused cost** measures each fill against the counterfactual mid
``m_cf`` at the fill time instead of ``M0``::

    caused = s · Σ q·(p − m_cf(t − 1 ns)) + Σ fees          (currency; s the side, + = a cost)
    realised − caused = s · Σ q·(m_cf(t − 1 ns) − M0)      the market's own move, weighted by our fills

(``t − 1 ns``: the counterfactual mid just before the fill's event). The random walk cancels; what is left is
the spread and book cost, the fees and the impact our earlier fills left on the price — the part of the cost a
calibration can learn. It is an oracle: the desk never sees it, and the calibration update never reads it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from tickreplay.tca.market import MarketSeries


def caused_cost(fills: pd.DataFrame, side: int, counterfactual: MarketSeries, unit: float) -> float:
    """The caused cost (currency, module docstring) of ``fills`` (the engine's fills table: ``price``, ``size``,
    ``fee``, ``exchange_ns``) against ``counterfactual``; ``unit``: currency of one integer price unit × one size
    unit (:attr:`tickreplay.tape.Instrument.unit_value`)."""
    if not len(fills):
        return 0.0
    q = fills["size"].to_numpy(np.int64)
    p_x2 = 2 * fills["price"].to_numpy(np.int64)
    m_x2 = counterfactual.mid_x2_at(fills["exchange_ns"].to_numpy(np.int64) - 1).astype(np.int64)
    return int(side * (q * (p_x2 - m_x2)).sum()) * unit / 2 + float(fills["fee"].sum())
