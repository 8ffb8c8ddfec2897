"""The canonical pre-trade breakdown (published_examples.toml, section 1).

A square-root permanent term, a temporary term linear in the participation
rate, half the quoted spread, and the price drift expected over the order's
latency::

    permanent_bps   = k_perm * sigma_daily * sqrt(order_size / adv) * 1e4
    temporary_bps   = eta * sigma_daily * participation * 1e4
    half_spread_bps = spread_bps / 2
    total_bps       = permanent + temporary + half_spread
    duration_min    = order_size / (participation * adv) * session_minutes
    latency_drift_bps       = sigma_daily * sqrt(latency_s / session_s) * 1e4
    latency_drift_worst_bps = the same at latency + 2 * jitter

``sigma_daily`` and ``participation`` are fractions (1.8 % → 0.018).
"""

from __future__ import annotations

import math

from tickreplay.checks import non_negative, positive, fraction

K_PERM = 0.10  # default permanent-impact coefficient
ETA = 0.05  # default temporary-impact coefficient
SESSION_MINUTES = 390.0  # one trading day (09:30-16:00), minutes
SESSION_SECONDS = SESSION_MINUTES * 60.0

#: the keys of :func:`canonical_breakdown`, in print order
KEYS = ("permanent_bps", "temporary_bps", "half_spread_bps", "total_bps", "total_dollars", "notional_usd",
        "duration_minutes", "latency_drift_bps", "latency_drift_worst_bps")


def permanent_bps(order_size: float, adv: float, sigma_daily: float, k_perm: float = K_PERM) -> float:
    """Permanent impact, bps: ``k_perm * sigma * sqrt(order_size / adv) * 1e4``."""
    return k_perm * sigma_daily * math.sqrt(order_size / adv) * 1e4


def temporary_bps(participation: float, sigma_daily: float, eta: float = ETA) -> float:
    """Temporary impact, bps: ``eta * sigma * participation * 1e4``."""
    return eta * sigma_daily * participation * 1e4


def duration_minutes(order_size: float, adv: float, participation: float,
                     session_minutes: float = SESSION_MINUTES) -> float:
    """Minutes of trading needed at ``participation`` of ``adv`` per session."""
    return order_size / (participation * adv) * session_minutes


def latency_drift_bps(latency_ms: float, sigma_daily: float, session_seconds: float = SESSION_SECONDS) -> float:
    """One standard deviation of the price move over ``latency_ms``, bps (diffusion over the session)."""
    return sigma_daily * math.sqrt(latency_ms / 1000.0 / session_seconds) * 1e4


def canonical_breakdown(order_size: float, adv: float, spread_bps: float, sigma_daily: float,
                        participation: float, ref_price: float, latency_ms: float = 0.0,
                        latency_jitter_ms: float = 0.0, k_perm: float = K_PERM, eta: float = ETA) -> dict[str, float]:
    """The full breakdown with the keys of :data:`KEYS`; costs are positive for buys and sells alike."""
    order_size = positive("order_size", order_size)
    adv = positive("adv", adv)
    spread_bps = non_negative("spread_bps", spread_bps)
    sigma_daily = positive("daily_vol", sigma_daily)
    participation = fraction("participation", participation)
    ref_price = positive("ref_price", ref_price)
    latency_ms = non_negative("latency_ms", latency_ms)
    latency_jitter_ms = non_negative("latency_jitter_ms", latency_jitter_ms)
    k_perm = non_negative("k_perm", k_perm)
    eta = non_negative("eta", eta)

    perm = permanent_bps(order_size, adv, sigma_daily, k_perm)
    temp = temporary_bps(participation, sigma_daily, eta)
    half = spread_bps / 2
    total = perm + temp + half
    notional = order_size * ref_price
    return {
        "permanent_bps": perm,
        "temporary_bps": temp,
        "half_spread_bps": half,
        "total_bps": total,
        "total_dollars": total / 1e4 * notional,
        "notional_usd": notional,
        "duration_minutes": duration_minutes(order_size, adv, participation),
        "latency_drift_bps": latency_drift_bps(latency_ms, sigma_daily),
        "latency_drift_worst_bps": latency_drift_bps(latency_ms + 2 * latency_jitter_ms, sigma_daily),
    }
