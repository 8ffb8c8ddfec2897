"""The efficient frontier of the canonical order: expected cost vs risk over a grid of risk aversions.

The canonical model is mapped onto Almgren–Chriss: its temporary term
``eta * sigma * participation`` is linear in the trading rate, so AC's
``eta = eta_c * sigma_daily * ref_price / adv`` ($·day/share²), the half
spread is AC's fixed cost ``epsilon`` ($/share), ``sigma`` becomes
``sigma_daily * ref_price`` ($/share/day^½), and the square-root permanent
cost, which no schedule changes, is added as a constant (AC's ``gamma`` = 0).
At risk aversion 0 the trajectory is the straight line over the order's
duration and its expected cost equals the canonical total.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tickreplay.impact import almgren_chriss as ac
from tickreplay.impact.canonical import SESSION_MINUTES, permanent_bps
from tickreplay.checks import non_negative, positive
from tickreplay.impact.models import CanonicalModel, MarketInputs, PreTradeOrder

PERIOD_MINUTES = 5.0  # AC period length used for the frontier


def canonical_ac_params(order: PreTradeOrder, market: MarketInputs, model: CanonicalModel = CanonicalModel(),
                        risk_aversion: float = 0.0, period_minutes: float = PERIOD_MINUTES) -> ac.ACParams:
    """AC parameters equivalent to the canonical model over the order's duration (see module docstring)."""
    period_minutes = positive("period_minutes", period_minutes)
    days = order.duration_days(market.adv)
    periods = max(1, round(days * SESSION_MINUTES / period_minutes))
    return ac.ACParams(shares=order.order_size, days=days, periods=periods,
                       sigma=market.daily_vol * order.ref_price,
                       eta=model.eta * market.daily_vol * order.ref_price / market.adv,
                       gamma=0.0, epsilon=market.spread_bps / 2 / 1e4 * order.ref_price,
                       risk_aversion=non_negative("risk_aversion", risk_aversion))


@dataclass(frozen=True)
class Frontier:
    """Expected cost and its standard deviation (bps of notional) per risk aversion; ``chosen`` indexes the pick."""

    risk_aversion: np.ndarray
    expected_bps: np.ndarray
    std_bps: np.ndarray
    chosen: int


def efficient_frontier(order: PreTradeOrder, market: MarketInputs, model: CanonicalModel = CanonicalModel(),
                       risk_aversion: float = 0.0, n: int = 40) -> Frontier:
    """The frontier over a grid of risk aversions plus the chosen one (``risk_aversion``)."""
    p = canonical_ac_params(order, market, model, risk_aversion)
    grid = np.union1d(ac.risk_aversion_grid(p, n), [p.risk_aversion])
    e, sd = ac.frontier(p, grid)
    perm = permanent_bps(order.order_size, market.adv, market.daily_vol, model.k_perm)
    to_bps = 1e4 / order.notional
    return Frontier(grid, perm + e * to_bps, sd * to_bps, int(np.searchsorted(grid, p.risk_aversion)))


def plot_frontier(front: Frontier, path: str | Path, title: str = "Efficient frontier") -> Path:
    """Write the frontier as a PNG (matplotlib, Agg backend), the chosen point marked."""
    from tickreplay.impact.figures import pyplot, save_png

    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 4.2))
    ax.plot(front.std_bps, front.expected_bps, "-o", ms=3, label="optimal trajectories (λ grid)")
    c = front.chosen
    ax.plot(front.std_bps[c], front.expected_bps[c], "r*", ms=14,
            label=f"chosen λ = {front.risk_aversion[c]:.3g}")
    ax.set_xlabel("standard deviation of cost (bps)")
    ax.set_ylabel("expected cost (bps)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    return save_png(fig, path)
