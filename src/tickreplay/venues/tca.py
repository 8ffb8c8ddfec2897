"""TCA of a multi-venue run: the consolidated market, the parent's shortfall, per-venue figures, and the paired
comparison of routing policies.

* :func:`consolidated_market` — the :class:`~tickreplay.tca.market.MarketSeries` of the venues together: one row
  per event of any venue (time order; at equal times, venue order), the best bid the highest and the best ask the
  lowest of the venues' books after it, exchange time (no latency: TCA is ex post), traded volume of all venues.
  The parent's benchmark (arrival mid) and markouts use this consolidated mid.
* :func:`venue_tca` — :func:`tickreplay.tca.tca_summary` of the whole parent against the consolidated market
  (``total``), and per venue: fills, filled size, maker / taker size, fees (currency, negative = rebate), average
  price, the venue's part of the execution cost (bps of the parent's arrival notional: side × (price − arrival
  mid) × size + fees, so the venues' parts add up to the shortfall minus its opportunity part), passive fill rate
  (:mod:`tickreplay.tca.passive`) and markouts (:mod:`tickreplay.tca.markouts`; in an impact-adjusted run on the
  historical fill price, price − ``impact_shift``, against the historical mids, as the one-venue TCA has them).
* :func:`paired_comparison` — per policy, the saving against a baseline policy on the same days
  (``cost_baseline − cost_policy``, bps; positive: the policy was cheaper) with the overlay comparison's paired
  statistics (:func:`tickreplay.overlay.stats.paired_summary`: mean, median, percentile bootstrap 95% interval
  resampling days, win rate).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from tickreplay.overlay.stats import DEFAULT_N_BOOT, paired_summary
from tickreplay.schedule.base import ParentOrder
from tickreplay.tape import TRADED_KINDS
from tickreplay.tca import tca_summary
from tickreplay.tca.market import MarketSeries
from tickreplay.tca.markouts import HORIZONS_NS, fill_markouts, markout_summary
from tickreplay.tca.passive import passive_summary
from tickreplay.venues.consolidated import check_same_instrument


def consolidated_market(replays: dict) -> MarketSeries:
    """The consolidated :class:`MarketSeries` of ``{venue name: ReplayData}`` (see the module docstring)."""
    names = list(replays)
    check_same_instrument([(n, replays[n].instrument) for n in names])
    rs = [replays[n] for n in names]
    ts = np.concatenate([r.ts_ns for r in rs])
    venue = np.concatenate([np.full(len(r), k, np.int64) for k, r in enumerate(rs)])
    order = np.lexsort((venue, ts))
    ts, venue = ts[order], venue[order]
    n = len(ts)
    bid = np.zeros(n, np.int64)
    ask = np.full(n, np.iinfo(np.int64).max, np.int64)
    for k, r in enumerate(rs):
        seen = np.cumsum(venue == k) - 1  # the venue's last event at or before each merged row
        ok = seen >= 0
        s = r.snapshots
        i = np.maximum(seen, 0)
        b = np.where(ok & (s.bid_size[i, 0] > 0), s.bid_price[i, 0], 0)
        a = np.where(ok & (s.ask_size[i, 0] > 0), s.ask_price[i, 0], np.iinfo(np.int64).max)
        bid, ask = np.maximum(bid, b), np.minimum(ask, a)
    two = (bid > 0) & (ask < np.iinfo(np.int64).max)
    valid = np.flatnonzero(two)
    if len(valid) == 0:
        raise ValueError(f"venues {names}: never a two-sided consolidated book: no mid price")
    last = np.maximum.accumulate(np.where(two, np.arange(n), -1))
    book = np.where(last >= 0, last, valid[0])
    kinds = np.array([int(k) for k in TRADED_KINDS], dtype=np.int8)
    kind = np.concatenate([r.kind for r in rs])[order]
    size = np.concatenate([r.size for r in rs])[order]
    price = np.concatenate([r.price for r in rs])[order]
    vol = np.where(np.isin(kind, kinds), size, 0).astype(np.int64)
    zero = np.zeros(1, np.int64)
    return MarketSeries(instrument=rs[0].instrument, ts_ns=np.ascontiguousarray(ts),
                        mid_x2=(bid + np.where(two, ask, 0))[book], cum_volume=np.concatenate([zero, np.cumsum(vol)]),
                        cum_notional=np.concatenate([zero, np.cumsum(vol * price)]), bid=bid[book], ask=ask[book])


def venue_tca(orders: pd.DataFrame, fills: pd.DataFrame, parent: ParentOrder, market: MarketSeries,
              venues, horizons_ns: dict[str, int] = HORIZONS_NS) -> dict:
    """``{"total": tca_summary, "venues": {name: figures}}`` of one parent's multi-venue run (module docstring)."""
    total = tca_summary(fills, orders, parent, market, horizons_ns=horizons_ns)
    return {"total": total, "venues": venue_figures(orders, fills, parent, market, venues,
                                                    total["shortfall"]["arrival_notional"], horizons_ns)}


def venue_figures(orders: pd.DataFrame, fills: pd.DataFrame, parent: ParentOrder, market: MarketSeries, venues,
                  arrival_notional: float, horizons_ns: dict[str, int] = HORIZONS_NS) -> dict[str, dict]:
    """Per venue: fills, sizes, fees, average price, its part of the cost (bps of ``arrival_notional``, the
    parent's arrival notional in currency), passive fill rate and markouts (module docstring)."""
    m0_x2 = int(market.mid_x2_at(parent.start_ns))
    uv = market.instrument.unit_value
    per = {}
    for name in venues:
        f = fills[fills["venue"] == name]
        o = orders[(orders["venue"] == name) & (orders["action"] == "new")]
        size = f["size"].to_numpy(np.int64)
        price = f["price"].to_numpy(np.int64)
        fee = float(f["fee"].sum())
        liq = f["liquidity"].astype(str).to_numpy()
        price_cost = parent.side * float(((2 * price - m0_x2) * size).sum()) / 2 * uv
        hist = f.assign(price=f["price"] - f["impact_shift"]) if "impact_shift" in f.columns else f
        marks = fill_markouts(hist, parent.side, m0_x2, market, horizons_ns)  # the tape after the fill
        per[name] = {
            "fills": int(len(f)), "filled": int(size.sum()),
            "maker": int(size[liq == "maker"].sum()), "taker": int(size[liq == "taker"].sum()),
            "fees": fee, "avg_price": float(price @ size / size.sum()) if len(f) else None,
            "cost_bps": (price_cost + fee) / arrival_notional * 1e4, "orders": int(len(o)),
            "passive": passive_summary(o, f), "markouts": markout_summary(f, marks, horizons_ns),
        }
    return per


def paired_comparison(costs: pd.DataFrame, baseline: str, seed: int = 0, n_boot: int = DEFAULT_N_BOOT) -> dict:
    """Per policy, the paired saving against ``baseline`` over the days both ran (module docstring).

    ``costs``: one row per (``day``, ``policy``) with ``cost_bps`` (the parent's shortfall, bps of its arrival
    notional). Returns ``{policy: {"n", "mean_bps", "median_bps", "ci95_bps", "win_rate", "mean_cost_bps"}}`` (the
    baseline: ``{"baseline": True, "n", "mean_cost_bps"}``).
    """
    wide = costs.pivot(index="day", columns="policy", values="cost_bps")
    if baseline not in wide.columns:
        raise ValueError(f"baseline policy {baseline!r} not among the policies run: {list(wide.columns)}")
    out = {baseline: {"baseline": True, "n": int(wide[baseline].notna().sum()),
                      "mean_cost_bps": float(wide[baseline].mean())}}
    for policy in wide.columns:
        if policy == baseline:
            continue
        ok = wide[baseline].notna() & wide[policy].notna()
        saving = (wide[baseline][ok] - wide[policy][ok]).to_numpy(np.float64)
        s = paired_summary(saving, seed=seed, n_boot=n_boot)
        out[policy] = {**s.as_dict(), "mean_cost_bps": float(wide[policy][ok].mean())}
    return out
