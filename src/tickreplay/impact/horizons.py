"""Cost across execution horizons and over several days.

Multi-day splitting: a parent order split into daily slices costs the
*notional-weighted* average of the slices' bps — each day's bps apply to
that day's share of the notional — never the sum of the per-day bps.

Risk is the execution risk of the plan,
:func:`tickreplay.impact.almgren_chriss.execution_risk_bps` (one standard
deviation of the cost of the unexecuted position): each slice is sold
linearly from its day's start over its duration, and what is left waits for
the next day's start. The straight line over ``T`` days gives
``sigma * sqrt(T/3) * 1e4``; ``sigma * sqrt(T)`` would be the risk of holding
the whole order for ``T`` days, which no execution does.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Sequence

import numpy as np

from tickreplay.impact.almgren_chriss import execution_risk_bps
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


def daily_slices_path(slices: Sequence[int], durations_days: Sequence[float]) -> tuple[np.ndarray, np.ndarray,
                                                                                    np.ndarray]:
    """The remaining-position path of slices traded one a day: (segment days, start fraction, end fraction).

    Slice ``k`` starts at the start of day ``k`` (or when slice ``k-1`` ends, if
    that is later) and trades linearly over ``durations_days[k]``; the rest is
    held until the next slice starts.
    """
    total = float(sum(slices))
    left = total - np.concatenate([[0.0], np.cumsum(slices, dtype=np.float64)])
    days, a, b = [], [], []
    t = 0.0
    for k, d in enumerate(durations_days):
        if k:
            wait = max(0.0, k - t)
            days.append(wait), a.append(left[k]), b.append(left[k])
            t += wait
        days.append(d), a.append(left[k]), b.append(left[k + 1])
        t += d
    return np.array(days), np.array(a) / total, np.array(b) / total


@dataclass(frozen=True)
class SplitCost:
    """An order split over ``days``: per-day slices, their bps, the notional-weighted total and the plan's risk."""

    days: int
    slices: tuple[int, ...]  # shares per day
    daily_bps: tuple[float, ...]  # each slice's expected cost, bps of that slice's notional
    breakdowns: tuple[dict, ...]
    total_bps: float  # notional-weighted: sum(notional_d * bps_d) / sum(notional_d)
    total_dollars: float
    weighted: dict  # every *_bps entry of the breakdowns, notional-weighted; *_dollars entries summed
    elapsed_days: float  # first slice's start to last slice's end (days - 1 + last duration if each fits a day)
    execution_risk_bps: float  # std of the cost of the unexecuted position over the plan, bps of the notional


def split_cost(model: CostModel, order: PreTradeOrder, market: MarketInputs, days: int,
               spread_over_day: bool = False) -> SplitCost:
    """Price ``order`` traded in ``days`` equal daily slices.

    Each slice trades at the order's participation, or, with
    ``spread_over_day``, over its whole day (participation = slice / ADV).
    ``days = 1`` is the order unsplit.
    """
    days = positive_int("days", days)
    slices = [s for s in split_evenly(order.order_size, days) if s > 0]
    rates = [s / market.adv if spread_over_day else order.participation for s in slices]
    bds = [model.breakdown(replace(order, order_size=s, participation=p), market) for s, p in zip(slices, rates)]
    bps = [b[model.total_key] for b in bds]
    notionals = [s * order.ref_price for s in slices]
    dollars = sum(n * b / 1e4 for n, b in zip(notionals, bps))
    weighted = {k: (sum(n * bd[k] for n, bd in zip(notionals, bds)) / sum(notionals) if k.endswith("_bps")
                    else sum(bd[k] for bd in bds)) for k in bds[0] if k.endswith(("_bps", "_dollars"))}
    path = daily_slices_path(slices, [s / (p * market.adv) for s, p in zip(slices, rates)])
    return SplitCost(days, tuple(slices), tuple(bps), tuple(bds), dollars / sum(notionals) * 1e4, dollars,
                     weighted, float(path[0].sum()), execution_risk_bps(market.daily_vol, *path))


@dataclass(frozen=True)
class CurvePoint:
    """Expected cost and execution risk for one horizon; ``cost_bps`` is NaN when infeasible."""

    label: str
    horizon_days: float
    participation: float  # fraction of market volume needed (per day when split over days)
    cost_bps: float
    cost_dollars: float
    execution_risk_bps: float  # std of the cost of the unexecuted position, bps; the line over T: sigma*sqrt(T/3)

    @property
    def feasible(self) -> bool:
        return self.participation <= 1.0

    def to_dict(self) -> dict:
        return {"label": self.label, "horizon_days": self.horizon_days, "participation": self.participation,
                "cost_bps": self.cost_bps, "cost_dollars": self.cost_dollars,
                "execution_risk_bps": self.execution_risk_bps,
                "feasible": self.feasible}


def cost_curve(model: CostModel, order: PreTradeOrder, market: MarketInputs,
               horizons: tuple[tuple[str, float], ...] = HORIZONS) -> list[CurvePoint]:
    """Expected cost (bps, currency) and execution risk (bps) for each horizon.

    Up to one day the whole order trades at the participation that fills it
    in the horizon; beyond one day (whole days) it is split into daily slices,
    each spread over its day, and priced by :func:`split_cost`. Either way it
    trades linearly over the horizon, so the risk is ``sigma * sqrt(T/3)``.
    A horizon needing more than 100 % of the market volume is infeasible
    (cost NaN; the risk is that of the straight line it would need).
    """
    out = []
    for label, h in horizons:
        days = round(h) if h > 1 else 1
        p = order.order_size / days / (market.adv * min(h, 1.0))
        if p > 1.0:
            out.append(CurvePoint(label, h, p, math.nan, math.nan, execution_risk_bps(market.daily_vol, [h], [1], [0])))
            continue
        sc = split_cost(model, replace(order, participation=p), market, days, spread_over_day=days > 1)
        out.append(CurvePoint(label, h, p, sc.total_bps, sc.total_dollars, sc.execution_risk_bps))
    return out
