"""Almgren, Thum, Hauptmann & Li (2005), "Direct estimation of equity market impact".

The fitted 3/5-power model for an order of ``X`` shares traded over ``T``
days, with daily volume ``V``, daily volatility ``sigma`` (fraction) and
``Theta`` shares outstanding::

    permanent  I = gamma * sigma * (X/V) * (Theta/V)^(1/4)      gamma = 0.314
    temporary  K = eta * sigma * |X/(V*T)|^(3/5)                 eta   = 0.142
    realized   J = I/2 + K

All three are returned in bps (fractions × 1e4).
"""

from __future__ import annotations

from tickreplay.checks import non_negative, positive

GAMMA = 0.314
ETA = 0.142
TEMPORARY_EXPONENT = 0.6
TURNOVER_EXPONENT = 0.25

KEYS = ("permanent_bps", "temporary_bps", "realized_bps")


def almgren2005_breakdown(x_over_v: float, theta_over_v: float, sigma_daily: float, duration_days: float,
                          gamma: float = GAMMA, eta: float = ETA) -> dict[str, float]:
    """Permanent, temporary and realized impact in bps for an order of ``x_over_v`` of daily volume."""
    x_over_v = positive("order_size/adv", x_over_v)
    theta_over_v = positive("shares_outstanding/adv", theta_over_v)
    sigma_daily = positive("daily_vol", sigma_daily)
    duration_days = positive("duration_days", duration_days)
    gamma = non_negative("gamma", gamma)
    eta = non_negative("eta", eta)
    perm = gamma * sigma_daily * x_over_v * theta_over_v**TURNOVER_EXPONENT * 1e4
    temp = eta * sigma_daily * abs(x_over_v / duration_days) ** TEMPORARY_EXPONENT * 1e4
    return {"permanent_bps": perm, "temporary_bps": temp, "realized_bps": perm / 2 + temp}
