"""Benchmarks over the parent's window ``[start_ns, end_ns)``: market VWAP, VWAP slippage, participation.

* Market VWAP: traded notional / traded volume on the tape in the window
  (see :mod:`.market` for what counts as traded).
* VWAP slippage, positive = cost: ``s * (our average price - market VWAP)``
  in bps of the arrival mid.
* Realised participation: our filled quantity / market volume in the
  window. On a replay our fills are **not** in the tape (history does not
  react), so the denominator is the market's volume without us;
  ``filled / (market + filled)`` is the share of the total the day would
  have printed had our trades been added.
* Active participation: our filled quantity / market volume from the
  parent's start to our last fill — what a POV schedule that finished
  early actually ran at (the window figure dilutes it over idle time).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from tickreplay.schedule.base import ParentOrder
from tickreplay.tca.market import MarketSeries


def window_benchmarks(fills: pd.DataFrame, parent: ParentOrder, market: MarketSeries,
                      arrival_mid_x2: int) -> dict[str, float | int | None]:
    """Market volume and VWAP in the window, our average price, VWAP slippage and participation."""
    return window_of(fills["size"].to_numpy(dtype=np.int64), fills["price"].to_numpy(dtype=np.int64),
                     fills["exchange_ns"], parent, market, arrival_mid_x2)


def window_of(size: np.ndarray, price: np.ndarray, exchange_ns: np.ndarray | pd.Series, parent: ParentOrder,
              market: MarketSeries, arrival_mid_x2: int) -> dict[str, float | int | None]:
    """:func:`window_benchmarks` from the fills' sizes (size units), prices (price units) and execution times
    (ns)."""
    vol, notional = market.traded(parent.start_ns, parent.end_ns)
    q = size
    filled = int(q.sum())
    ours = int(q @ price) if filled else 0
    scale = market.instrument.price_scale
    vwap = notional / vol if vol else None  # price units
    avg = ours / filled if filled else None
    slip = (parent.side * (avg - vwap) * 2 / arrival_mid_x2 * 1e4) if vwap is not None and avg is not None else None
    return {
        "market_volume": vol,
        "market_vwap": None if vwap is None else vwap / scale,
        "avg_fill_price": None if avg is None else avg / scale,
        "vwap_slippage_bps": slip,
        "participation": filled / vol if vol else None,
        "participation_incl_ours": filled / (vol + filled) if vol + filled else None,
        "participation_active": _active(exchange_ns, parent, market, filled),
    }


def _active(exchange_ns: np.ndarray | pd.Series, parent: ParentOrder, market: MarketSeries,
            filled: int) -> float | None:
    """Filled / market volume over [parent start, last fill] (None without fills or volume)."""
    if not filled:
        return None
    last = int(exchange_ns.max())
    vol, _ = market.traded(parent.start_ns, last + 1)
    return filled / vol if vol else None
