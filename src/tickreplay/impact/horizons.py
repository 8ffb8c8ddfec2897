"""Cost across execution horizons and over several days.

Multi-day splitting: a parent order split into daily slices costs the
*notional-weighted* average of the slices' bps — each day's bps apply to
that day's share of the notional — never the sum of the per-day bps.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from tickreplay.checks import positive_int
from tickreplay.impact.models import CostModel, MarketInputs, PreTradeOrder

#: (label, horizon in trading days) of the default cost curve; a trading day is 390 minutes
HORIZONS: tuple[tuple[str, float], ...] = (
    ("1 min", 1 / 390), ("10 min", 10 / 390), ("1 h", 60 / 390), ("half day", 0.5), ("1 day", 1.0),
    ("2 days", 2.0), ("3 days", 3.0), ("4 days", 4.0), ("5 days", 5.0))


def split_evenly(total: int, parts: int) -> list[int]:
    """``total`` shares in ``parts`` integer slices differing by at most one share (earlier slices larger)."""
    q, r = divmod(total, parts)
    return [q + (1 if i < r else 0) for i in range(parts)]


@dataclass(frozen=True)
class SplitCost:
    """An order split over ``days``: per-day slices, their bps, and the notional-weighted total."""

    days: int
    slices: tuple[int, ...]  # shares per day
    daily_bps: tuple[float, ...]  # each slice's expected cost, bps of that slice's notional
    breakdowns: tuple[dict, ...]
    total_bps: float  # notional-weighted: sum(notional_d * bps_d) / sum(notional_d)
    total_dollars: float
    weighted: dict  # every *_bps entry of the breakdowns, notional-weighted; *_dollars entries summed
    elapsed_days: float  # from the first slice's start to the last slice's end (days - 1 + last slice's duration)


def split_cost(model: CostModel, order: PreTradeOrder, market: MarketInputs, days: int,
               spread_over_day: bool = False) -> SplitCost:
    """Price ``order`` traded in ``days`` equal daily slices.

    Each slice trades at the order's participation, or, with
    ``spread_over_day``, over its whole day (participation = slice / ADV).
    """
    days = positive_int("days", days)
    slices = [s for s in split_evenly(order.order_size, days) if s > 0]
    bds = [model.breakdown(replace(order, order_size=s,
                                   participation=s / market.adv if spread_over_day else order.participation), market)
           for s in slices]
    bps = [b[model.total_key] for b in bds]
    notionals = [s * order.ref_price for s in slices]
    dollars = sum(n * b / 1e4 for n, b in zip(notionals, bps))
    weighted = {k: (sum(n * bd[k] for n, bd in zip(notionals, bds)) / sum(notionals) if k.endswith("_bps")
                    else sum(bd[k] for bd in bds)) for k in bds[0] if k.endswith(("_bps", "_dollars"))}
    p_last = slices[-1] / market.adv if spread_over_day else order.participation
    elapsed = len(slices) - 1 + slices[-1] / (p_last * market.adv)
    return SplitCost(days, tuple(slices), tuple(bps), tuple(bds), dollars / sum(notionals) * 1e4, dollars,
                     weighted, elapsed)


def risk_bps(daily_vol: float, days: float) -> float:
    """The risk of waiting: one standard deviation of the price move over ``days``, ``sigma * sqrt(T) * 1e4``."""
    return daily_vol * math.sqrt(days) * 1e4


@dataclass(frozen=True)
class CurvePoint:
    """Expected cost and the risk of waiting for one horizon; ``cost_bps`` is NaN when infeasible."""

    label: str
    horizon_days: float
    participation: float  # fraction of market volume needed (per day when split over days)
    cost_bps: float
    cost_dollars: float
    risk_bps: float  # sigma_daily * sqrt(horizon_days) * 1e4: one std of the price move while waiting

    @property
    def feasible(self) -> bool:
        return self.participation <= 1.0

    def to_dict(self) -> dict:
        return {"label": self.label, "horizon_days": self.horizon_days, "participation": self.participation,
                "cost_bps": self.cost_bps, "cost_dollars": self.cost_dollars, "risk_bps": self.risk_bps,
                "feasible": self.feasible}


def cost_curve(model: CostModel, order: PreTradeOrder, market: MarketInputs,
               horizons: tuple[tuple[str, float], ...] = HORIZONS) -> list[CurvePoint]:
    """Expected cost (bps, currency) and risk of waiting for each horizon.

    Up to one day the whole order trades at the participation that fills it
    in the horizon; beyond one day (whole days) it is split into daily slices,
    each spread over its day, and priced by :func:`split_cost`. A horizon
    needing more than 100 % of the market volume is infeasible (cost NaN).
    """
    out = []
    for label, h in horizons:
        risk = risk_bps(market.daily_vol, h)
        days = round(h) if h > 1 else 1
        p = order.order_size / days / (market.adv * min(h, 1.0))
        if p > 1.0:
            out.append(CurvePoint(label, h, p, math.nan, math.nan, risk))
            continue
        if days == 1:
            bd = model.breakdown(replace(order, participation=p), market)
            bps = bd[model.total_key]
            dollars = bps / 1e4 * order.notional
        else:
            sc = split_cost(model, order, market, days, spread_over_day=True)
            bps, dollars = sc.total_bps, sc.total_dollars
        out.append(CurvePoint(label, h, p, bps, dollars, risk))
    return out
