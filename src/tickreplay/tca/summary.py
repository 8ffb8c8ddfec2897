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
from tickreplay.tca.benchmarks import window_of
from tickreplay.tca.frames import fill_arrays, order_arrays
from tickreplay.tca.market import MarketSeries
from tickreplay.tca.markouts import HORIZONS_NS, markout_columns, summarise_markouts
from tickreplay.tca.passive import summarise_passive
from tickreplay.tca.pretrade import PreTradeInputs, predicted_vs_realised
from tickreplay.tca.shortfall import cost_columns, shortfall_of
from tickreplay.tca.unfilled import attribute_unfilled

NOTES = (
    "TCA is ex post: mids after a fill (markouts, end price) come from the whole tape.",
    "Replay does not react: historical flow ignores our orders; market volume excludes our fills.",
)
IMPACT_NOTE = ("Impact-adjusted replay: our trades shifted the replayed prices (the market_impact part); markouts, "
               "window benchmarks and the end mid are the historical market's; market volume excludes our fills.")


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


def _historical(f) -> np.ndarray:
    """Fill prices in the historical market's frame (an impact-adjusted run's fill price less its shift): markouts
    measure what the tape did after a fill, our own impact being the shortfall's ``market_impact`` part."""
    return f.price if f.impact_shift is None else f.price - f.impact_shift


def tca_summary(fills: pd.DataFrame, orders: pd.DataFrame, parent: ParentOrder, market: MarketSeries,
                pretrade: PreTradeInputs | None = None, horizons_ns: dict[str, int] = HORIZONS_NS,
                schedule: pd.DataFrame | None = None, run_end_ns: int | None = None) -> dict:
    """Shortfall and its decomposition, unfilled shares by reason, window benchmarks, passive fill rates,
    markouts, realised vs predicted.

    ``schedule`` (the children's ``time_ns`` and ``planned_cum``) and ``run_end_ns`` (the run's end, trader
    time), given together, name the shares of children planned after the run's end (:mod:`.unfilled`).
    """
    return measure_parent(fills, orders, parent, market, pretrade, horizons_ns, schedule, run_end_ns)[0]


def measure_parent(fills: pd.DataFrame, orders: pd.DataFrame, parent: ParentOrder, market: MarketSeries,
                   pretrade: PreTradeInputs | None = None, horizons_ns: dict[str, int] = HORIZONS_NS,
                   schedule: pd.DataFrame | None = None,
                   run_end_ns: int | None = None) -> tuple[dict, dict[str, np.ndarray]]:
    """:func:`tca_summary` and the columns :func:`fill_table` appends to the fills (in order; the markouts as
    float64, NaN past the tape), from one read of each table: what a run stores, computed once."""
    f = fill_arrays(fills, parent)
    log = order_arrays(orders, parent)
    costs = cost_columns(f, parent, market)
    sf = shortfall_of(f, costs, parent, market)
    marks = markout_columns(f.exchange_ns, _historical(f), parent.side, sf.arrival_mid_x2, market, horizons_ns)
    new = log.new
    inst = market.instrument
    out = {
        "instrument": {"symbol": inst.symbol, "venue": inst.venue, "date": inst.date, "currency": inst.currency,
                       "price_scale": inst.price_scale, "size_scale": inst.size_scale,
                       **({"multiplier": inst.multiplier} if inst.multiplier != 1 else {})},
        "parent": {"parent_id": parent.parent_id, "side": parent.side, "quantity": parent.quantity,
                   "start_ns": parent.start_ns, "end_ns": parent.end_ns},
        "counts": {"fills": len(f), "orders": log.n_new},
        "shortfall": sf.to_dict(),
        "unfilled": attribute_unfilled(log, parent, sf.filled, schedule, run_end_ns),
        "window": window_of(f.size, f.price, f.exchange_ns, parent, market, sf.arrival_mid_x2),
        "passive": summarise_passive(log.order_id[new], log.type[new], log.status[new], log.quantity[new],
                                     log.arrival_ns[new], f.order_id, f.size, f.exchange_ns, f.maker),
        "markouts": summarise_markouts(f.size, f.liquidity, marks, horizons_ns),
        "pretrade": None if pretrade is None else predicted_vs_realised(
            sf.bps(sf.total_currency), parent, sf.arrival_mid * inst.multiplier / inst.size_scale, pretrade),
        "notes": list(NOTES) if f.impact_shift is None else [NOTES[0], IMPACT_NOTE],
    }
    return _jsonable(out), {**costs, **marks}


def fill_table(fills: pd.DataFrame, parent: ParentOrder, market: MarketSeries,
               horizons_ns: dict[str, int] = HORIZONS_NS) -> pd.DataFrame:
    """The fills with per-fill TCA columns appended: mids (×2), cost parts (×2) and markouts (bps).

    Meant to be stored as a run's ``fills.parquet`` so fill-quality questions
    are one SQL query away; the TCA ignores the extra columns when it reads
    them back. Markouts past the tape are nulls (SQL aggregates skip them).
    """
    f = fill_arrays(fills, parent)
    m0 = int(market.mid_x2_at(parent.start_ns))
    return with_fill_columns(fills, {**cost_columns(f, parent, market),
                                     **markout_columns(f.exchange_ns, _historical(f), parent.side, m0, market,
                                                       horizons_ns)})


def with_fill_columns(fills: pd.DataFrame, columns: dict[str, np.ndarray]) -> pd.DataFrame:
    """:func:`fill_table` from the appended columns (:func:`measure_parent`'s second value): the markouts become
    nullable floats (NaN: null)."""
    costs = pd.DataFrame({c: v for c, v in columns.items() if not c.startswith("markout_")}, index=fills.index)
    marks = pd.DataFrame({c: v for c, v in columns.items() if c.startswith("markout_")},
                         index=fills.index).astype("Float64")
    base = fills.drop(columns=[c for c in (*costs.columns, *marks.columns) if c in fills.columns])
    return pd.concat([base, costs, marks], axis=1)
