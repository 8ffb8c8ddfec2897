"""A run's TCA in one JSON-serialisable dict (the content of ``tca.json``), and the per-fill table.

Everything is computed from the fills, the order log, the parent order and
the tape (through :class:`.MarketSeries`), so a run's TCA can be recomputed
from its stored Parquet files and the tape alone. Undefined figures (no
fills, no market volume, markouts past the tape) are ``None``.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from tickreplay.schedule.base import ParentOrder
from tickreplay.tca.benchmarks import window_benchmarks
from tickreplay.tca.frames import check_fills, check_orders
from tickreplay.tca.market import MarketSeries
from tickreplay.tca.markouts import HORIZONS_NS, fill_markouts, markout_summary
from tickreplay.tca.passive import passive_summary
from tickreplay.tca.pretrade import PreTradeInputs, predicted_vs_realised
from tickreplay.tca.shortfall import fill_costs, shortfall
from tickreplay.tca.unfilled import unfilled_by_reason

NOTES = (
    "TCA is ex post: mids after a fill (markouts, end price) come from the whole tape.",
    "Replay does not react: historical flow ignores our orders; market volume excludes our fills.",
)


def _jsonable(x):
    """Plain Python types; NaN and infinities become None."""
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, (bool, np.bool_)):
        return bool(x)
    if isinstance(x, (int, np.integer)):
        return int(x)
    if isinstance(x, (float, np.floating)):
        return float(x) if math.isfinite(x) else None
    return x


def tca_summary(fills: pd.DataFrame, orders: pd.DataFrame, parent: ParentOrder, market: MarketSeries,
                pretrade: PreTradeInputs | None = None, horizons_ns: dict[str, int] = HORIZONS_NS,
                schedule: pd.DataFrame | None = None, run_end_ns: int | None = None) -> dict:
    """Shortfall and its decomposition, unfilled shares by reason, window benchmarks, passive fill rates,
    markouts, realised vs predicted.

    ``schedule`` (the children's ``time_ns`` and ``planned_cum``) and ``run_end_ns`` (the run's end, trader
    time), given together, name the shares of children planned after the run's end (:mod:`.unfilled`).
    """
    check_fills(fills, parent)
    new_orders = check_orders(orders, parent)
    sf = shortfall(fills, parent, market)
    inst = market.instrument
    out = {
        "instrument": {"symbol": inst.symbol, "venue": inst.venue, "date": inst.date, "currency": inst.currency,
                       "price_scale": inst.price_scale, "size_scale": inst.size_scale},
        "parent": {"parent_id": parent.parent_id, "side": parent.side, "quantity": parent.quantity,
                   "start_ns": parent.start_ns, "end_ns": parent.end_ns},
        "counts": {"fills": len(fills), "orders": len(new_orders)},
        "shortfall": sf.to_dict(),
        "unfilled": unfilled_by_reason(orders, parent, sf.filled, schedule, run_end_ns),
        "window": window_benchmarks(fills, parent, market, sf.arrival_mid_x2),
        "passive": passive_summary(new_orders, fills),
        "markouts": markout_summary(fills, fill_markouts(fills, parent.side, sf.arrival_mid_x2, market, horizons_ns),
                                    horizons_ns),
        "pretrade": None if pretrade is None else predicted_vs_realised(
            sf.bps(sf.total_currency), parent, sf.arrival_mid / inst.size_scale, pretrade),
        "notes": list(NOTES),
    }
    return _jsonable(out)


def fill_table(fills: pd.DataFrame, parent: ParentOrder, market: MarketSeries,
               horizons_ns: dict[str, int] = HORIZONS_NS) -> pd.DataFrame:
    """The fills with per-fill TCA columns appended: mids (×2), cost parts (×2) and markouts (bps).

    Meant to be stored as a run's ``fills.parquet`` so fill-quality questions
    are one SQL query away; the TCA ignores the extra columns when it reads
    them back. Markouts past the tape are nulls (SQL aggregates skip them).
    """
    costs = fill_costs(fills, parent, market)
    m0 = int(market.mid_x2_at(parent.start_ns))
    marks = fill_markouts(fills, parent.side, m0, market, horizons_ns).astype("Float64")
    base = fills.drop(columns=[c for c in (*costs.columns, *marks.columns) if c in fills.columns])
    return pd.concat([base, costs, marks], axis=1)
