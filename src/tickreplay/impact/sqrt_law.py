"""The plain square-root law: impact = Y * sigma_daily * (Q/V)^exponent (exponent 1/2 by default)."""

from __future__ import annotations

from tickreplay.checks import non_negative, positive

Y = 1.0
EXPONENT = 0.5


def sqrt_law_bps(order_size: float, adv: float, sigma_daily: float, y: float = Y, exponent: float = EXPONENT) -> float:
    """Impact in bps of an order of ``order_size`` against ``adv`` (same units), ``sigma_daily`` a fraction."""
    order_size = positive("order_size", order_size)
    adv = positive("adv", adv)
    sigma_daily = positive("daily_vol", sigma_daily)
    y = non_negative("y", y)
    exponent = positive("exponent", exponent)
    return y * sigma_daily * (order_size / adv) ** exponent * 1e4
