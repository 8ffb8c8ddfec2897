"""Almgren–Chriss schedule: the optimal trajectory's trades (formulas in tickreplay.impact.almgren_chriss)."""

from __future__ import annotations

from typing import Sequence

from tickreplay.impact import almgren_chriss as ac
from tickreplay.checks import positive, positive_int
from tickreplay.schedule.base import (ChildOrder, ParentOrder, Window, children_at, time_at_offset,
                                      tradable_ns, tradable_or_error)

TRADING_DAY_NS = 23_400 * 1_000_000_000  # 6.5 h: the "day" of sigma and eta


def almgren_chriss(parent: ParentOrder, n_children: int, sigma: float, eta: float, gamma: float = 0.0,
                   epsilon: float = 0.0, risk_aversion: float = 0.0, style: str = "market", lot_size: int = 1,
                   no_trade: Sequence[Window] = (), day_ns: int = TRADING_DAY_NS,
                   offset_ticks: int = 0) -> list[ChildOrder]:
    """Child ``k`` trades the AC optimal ``n_k`` at the start of period ``k`` of the tradable time.

    ``sigma`` ($/share/day^½), ``eta`` ($·day/share²), ``gamma`` ($/share²),
    ``epsilon`` ($/share) are per ``day_ns`` of tradable time; the horizon T
    is the tradable time in those days.
    """
    n = positive_int("n_children", n_children)
    iv = tradable_or_error(parent, no_trade)
    d = tradable_ns(iv)
    params = ac.ACParams(shares=parent.quantity, days=d / positive("day_ns", day_ns), periods=n, sigma=sigma,
                         eta=eta, gamma=gamma, epsilon=epsilon, risk_aversion=risk_aversion)
    sol = ac.solve(params)
    times = [time_at_offset(iv, k * d // n) for k in range(n)]
    return children_at(parent, times, sol.trades.tolist(), style, lot_size, offset_ticks)
