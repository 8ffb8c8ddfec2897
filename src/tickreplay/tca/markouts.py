"""Markouts: how the mid moved after each fill.

Convention (the usual one): a markout is **positive when the fill was good
for us**, i.e. the price then moved in our favour::

    markout_h = s * (mid(t_fill + h) - p)   in bps of the parent's arrival mid

(``s`` +1 buy / -1 sell, ``p`` the fill price, ``mid`` as of a time as in
:mod:`.market`). Note the sign is the opposite of a cost: a buy's spread paid
shows as a negative markout at short horizons. A horizon that reaches past
the tape's last event has no markout (NaN per fill, ``None`` in averages);
the number of fills each average uses is reported. Averages weight fills by
size.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from tickreplay.tca.frames import equal, strings
from tickreplay.tca.market import MarketSeries

MS = 1_000_000
#: label → horizon in ns
HORIZONS_NS: dict[str, int] = {"50ms": 50 * MS, "1s": 1000 * MS, "10s": 10_000 * MS, "1min": 60_000 * MS,
                               "5min": 300_000 * MS}


def column(label: str) -> str:
    """Name of the per-fill markout column for a horizon label."""
    return f"markout_{label}_bps"


def fill_markouts(fills: pd.DataFrame, side: int, arrival_mid_x2: int, market: MarketSeries,
                  horizons_ns: dict[str, int] = HORIZONS_NS) -> pd.DataFrame:
    """One ``markout_<label>_bps`` column per horizon, one row per fill (NaN past the tape's end)."""
    return pd.DataFrame(markout_columns(fills["exchange_ns"].to_numpy(dtype=np.int64),
                                        fills["price"].to_numpy(dtype=np.int64), side, arrival_mid_x2, market,
                                        horizons_ns), index=fills.index)


def markout_columns(exchange_ns: np.ndarray, price: np.ndarray, side: int, arrival_mid_x2: int, market: MarketSeries,
                    horizons_ns: dict[str, int] = HORIZONS_NS) -> dict[str, np.ndarray]:
    """:func:`fill_markouts`'s columns (float64 arrays, bps) from the fills' execution times (ns, int64) and prices
    (price units, int64)."""
    t = exchange_ns
    p2 = 2 * price
    out = {}
    for label, h in horizons_ns.items():
        m = market.mid_x2_at(t + h)
        bps = side * (m - p2) / arrival_mid_x2 * 1e4
        out[column(label)] = np.where(t + h <= market.end_ns, bps, np.nan)
    return out


def _weighted(values: np.ndarray, sizes: np.ndarray) -> float | None:
    ok = ~np.isnan(values)
    return float(values[ok] @ sizes[ok] / sizes[ok].sum()) if ok.any() else None


def markout_summary(fills: pd.DataFrame, markouts: pd.DataFrame,
                    horizons_ns: dict[str, int] = HORIZONS_NS) -> dict[str, dict]:
    """Per horizon: size-weighted average overall and per liquidity flag, fills used and fills past the tape."""
    return summarise_markouts(fills["size"].to_numpy(dtype=np.float64), strings(fills["liquidity"]),
                              {column(label): markouts[column(label)].to_numpy(dtype=np.float64, na_value=np.nan)
                               for label in horizons_ns}, horizons_ns)


def summarise_markouts(size: np.ndarray, liquidity: np.ndarray, markouts: dict[str, np.ndarray],
                       horizons_ns: dict[str, int] = HORIZONS_NS) -> dict[str, dict]:
    """:func:`markout_summary` from the fills' sizes (size units), liquidity flags (object array of str) and
    :func:`markout_columns`."""
    size = np.asarray(size, dtype=np.float64)
    out = {}
    for label, h in horizons_ns.items():
        v = markouts[column(label)]
        entry = {"horizon_ns": int(h), "all_bps": _weighted(v, size)}
        for flag in ("maker", "taker"):
            sel = equal(liquidity, flag)
            entry[f"{flag}_bps"] = _weighted(v[sel], size[sel])
        entry["fills"] = int((~np.isnan(v)).sum())
        entry["fills_past_tape"] = int(np.isnan(v).sum())
        out[label] = entry
    return out
