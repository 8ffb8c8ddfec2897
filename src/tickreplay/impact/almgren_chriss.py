"""Almgren & Chriss (2001): the discrete optimal liquidation trajectory and its cost.

Sell (or buy) ``X`` shares over ``T`` days in ``N`` periods of ``tau = T/N``
with linear permanent impact ``gamma`` ($/share²), linear temporary impact
``eta`` ($·day/share²), a fixed cost ``epsilon`` ($/share) and volatility
``sigma`` ($/share/day^½). With ``eta_tilde = eta - gamma*tau/2``::

    E = 1/2 gamma X² + epsilon sum|n_k| + (eta_tilde/tau) sum n_k²
    V = sigma² sum_{k=1..N} tau x_k²
    (2/tau²)(cosh(kappa tau) - 1) = lambda sigma² / eta_tilde
    x_j = X sinh(kappa (T - t_j)) / sinh(kappa T)

``lambda = 0`` gives kappa = 0 and the straight line ``x_j = X (T - t_j)/T``.
Costs are in currency, variances in currency².

The risk of an execution is AC's V: the variance of the cost of the shares
not yet executed, ``sigma² ∫ x(t)² dt``. :func:`holding_variance` is that
integral for any holdings path (steps, as in the discrete model, or linear
pieces, as in continuous trading); :func:`execution_risk_bps` is its square
root in bps of the arrival notional, the one risk figure every pre-trade
command reports, and :func:`planned_schedule_risk_bps` the same for a planned
child-order schedule. A straight-line liquidation over ``T`` days has risk
``sigma_daily * sqrt(T/3) * 1e4`` bps; ``sigma_daily * sqrt(T) * 1e4`` is the
risk of *holding* the whole position for ``T`` days.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, replace
from typing import Sequence

import numpy as np

from tickreplay.errors import ConfigError
from tickreplay.checks import non_negative, positive, positive_int


@dataclass(frozen=True)
class ACParams:
    """Inputs of the Almgren–Chriss model (units as in the module docstring)."""

    shares: float
    days: float
    periods: int
    sigma: float
    eta: float
    gamma: float = 0.0
    epsilon: float = 0.0
    risk_aversion: float = 0.0

    def __post_init__(self) -> None:
        positive("shares", self.shares)
        positive("days", self.days)
        positive_int("periods", self.periods)
        non_negative("sigma", self.sigma)
        positive("eta", self.eta)
        non_negative("gamma", self.gamma)
        non_negative("epsilon", self.epsilon)
        non_negative("risk_aversion", self.risk_aversion)
        if self.eta_tilde <= 0:
            raise ConfigError(f"parameter 'eta' must exceed gamma*tau/2 = {self.gamma * self.tau / 2:g} "
                              f"(eta_tilde = eta - gamma*tau/2 must be > 0), got eta={self.eta:g}; "
                              "use more periods or a smaller gamma")

    @property
    def tau(self) -> float:
        """Length of one period, days."""
        return self.days / self.periods

    @property
    def eta_tilde(self) -> float:
        return self.eta - self.gamma * self.tau / 2


@dataclass(frozen=True)
class ACSolution:
    """The optimal trajectory: holdings x_0..x_N (x_0 = X, x_N = 0), trades n_1..n_N, E and V."""

    params: ACParams
    kappa: float  # per day
    holdings: np.ndarray
    trades: np.ndarray
    expected_cost: float  # currency
    variance: float  # currency²

    def to_dict(self) -> dict:
        return {"kappa": self.kappa, "holdings": self.holdings.tolist(), "trades": self.trades.tolist(),
                "expected_cost": self.expected_cost, "variance": self.variance}


def kappa(p: ACParams) -> float:
    """kappa (per day) from ``(2/tau²)(cosh(kappa tau) - 1) = lambda sigma² / eta_tilde``."""
    return math.acosh(1.0 + p.risk_aversion * p.sigma**2 * p.tau**2 / (2.0 * p.eta_tilde)) / p.tau


def holdings(p: ACParams, k: float) -> np.ndarray:
    """x_j for j = 0..N; ``sinh(k(T-t))/sinh(kT)`` evaluated without overflow, straight line at k = 0."""
    t = np.arange(p.periods + 1) * p.tau
    if k == 0.0:
        frac = (p.days - t) / p.days
    else:
        # sinh(k(T-t))/sinh(kT) = e^{-kt} (1 - e^{-2k(T-t)}) / (1 - e^{-2kT})
        frac = np.exp(-k * t) * np.expm1(-2 * k * (p.days - t)) / math.expm1(-2 * k * p.days)
    x = p.shares * frac
    x[0], x[-1] = p.shares, 0.0
    return x


def expected_cost_sum(p: ACParams, x: np.ndarray) -> float:
    """E of a trajectory by the discrete sum (currency)."""
    n = -np.diff(x)
    return 0.5 * p.gamma * p.shares**2 + p.epsilon * float(np.abs(n).sum()) + p.eta_tilde / p.tau * float(n @ n)


def holding_variance(durations: Sequence[float] | np.ndarray, start: Sequence[float] | np.ndarray,
                     end: Sequence[float] | np.ndarray) -> float:
    """``∫ x(t)² dt`` of a holdings path linear within each segment: ``sum tau_k (a_k² + a_k b_k + b_k²) / 3``.

    Segment ``k`` lasts ``durations[k]`` and holds ``start[k]`` at its start and
    ``end[k]`` at its end (``start == end``: a step, held flat). Units: those of
    the durations times those of the holdings squared.
    """
    tau, a, b = (np.asarray(v, dtype=np.float64) for v in (durations, start, end))
    if not (tau.shape == a.shape == b.shape and tau.ndim == 1):
        raise ConfigError(f"holdings path: durations, start and end must be 1-d of one length, "
                          f"got shapes {tau.shape}, {a.shape}, {b.shape}")
    if np.any(tau < 0) or not np.all(np.isfinite(tau)):
        raise ConfigError("holdings path: every segment duration must be finite and >= 0")
    return float(tau @ (a * a + a * b + b * b)) / 3.0


def variance_sum(p: ACParams, x: np.ndarray) -> float:
    """V of a trajectory by the discrete sum ``sigma² sum tau x_k²`` (currency²): x_k held over period k."""
    tau = np.full(p.periods, p.tau)
    return p.sigma**2 * holding_variance(tau, x[1:], x[1:])


def execution_risk_bps(daily_vol: float, durations_days: Sequence[float] | np.ndarray,
                       start_fraction: Sequence[float] | np.ndarray, end_fraction: Sequence[float] | np.ndarray) -> float:
    """Execution risk: one standard deviation of the cost of the unexecuted position, bps of the arrival notional.

    ``daily_vol * sqrt(∫ (x(t)/X)² dt) * 1e4`` with ``t`` in trading days and
    the remaining position ``x/X`` linear within each segment (see
    :func:`holding_variance`): AC's V divided by the notional squared. One
    segment ``([T], [1], [0])`` is a straight-line liquidation,
    ``daily_vol * sqrt(T/3) * 1e4``.
    """
    daily_vol = non_negative("daily_vol", daily_vol)
    return daily_vol * math.sqrt(holding_variance(durations_days, start_fraction, end_fraction)) * 1e4


def _ns(name: str, value: int) -> int:
    """An integer time in ns; ConfigError naming ``name`` otherwise (a float would lose nanoseconds)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ConfigError(f"parameter '{name}' must be an integer (ns UTC), got {value!r}")
    return int(value)


def planned_schedule_risk_bps(times_ns: Sequence[int] | np.ndarray, quantity: float, daily_vol: float, day_ns: int,
                              *, remaining: Sequence[float] | np.ndarray | None = None,
                              cumulative: Sequence[float] | np.ndarray | None = None,
                              start_ns: int | None = None, end_ns: int | None = None) -> float:
    """Execution risk of a planned child-order schedule, bps of the arrival notional (AC's V in bps).

    ``sqrt(sum_k tau_k (x_k / X)²) * daily_vol * 1e4``: child ``k`` executes at
    ``times_ns[k]`` leaving ``x_k`` (``remaining[k]``, or ``quantity -
    cumulative[k]`` — give exactly one), held for ``tau_k`` trading days until
    the next child, ``tau_k = (times_ns[k+1] - times_ns[k]) / day_ns``. The
    whole ``quantity`` is held from ``start_ns`` (default: the first child) to
    the first child; what is left after the last child is held until
    ``end_ns``, which is required when that is not zero. ``day_ns`` is the
    length of the trading day ``daily_vol`` refers to (e.g. 6.5 h); times
    are ns UTC and should not span a session break.
    """
    quantity = positive("quantity", quantity)
    day_ns = positive_int("day_ns", day_ns)
    if (remaining is None) == (cumulative is None):
        raise ConfigError("planned schedule risk: give exactly one of 'remaining' and 'cumulative'")
    t = np.asarray(times_ns, dtype=np.int64)
    x = np.asarray(remaining if remaining is not None else quantity - np.asarray(cumulative, dtype=np.float64),
                   dtype=np.float64)
    if t.ndim != 1 or len(t) == 0 or x.shape != t.shape:
        raise ConfigError(f"planned schedule risk: times_ns and the holdings need one value per child, "
                          f"got shapes {t.shape} and {x.shape}")
    if np.any(np.diff(t) < 0):
        raise ConfigError("planned schedule risk: 'times_ns' must be non-decreasing")
    slack = 1e-9 * quantity  # float sums of the trades may miss 0 by a rounding error
    if np.any(x < -slack) or np.any(x > quantity + slack) or not np.all(np.isfinite(x)):
        raise ConfigError(f"planned schedule risk: remaining holdings must lie in [0, quantity={quantity:g}]")
    x = np.clip(x, 0.0, quantity)
    first = int(t[0]) if start_ns is None else _ns("start_ns", start_ns)
    if first > t[0]:
        raise ConfigError(f"parameter 'start_ns' ({first}) must not be after the first child ({int(t[0])})")
    if end_ns is None:
        if x[-1] > slack:
            raise ConfigError(f"parameter 'end_ns' is required: {x[-1]:g} remain after the last child")
        last = int(t[-1])
    else:
        last = _ns("end_ns", end_ns)
        if last < t[-1]:
            raise ConfigError(f"parameter 'end_ns' ({last}) must not be before the last child ({int(t[-1])})")
    gaps = np.diff(np.concatenate([[first], t, [last]])) / day_ns  # before the first child, after each child
    held = np.concatenate([[quantity], x]) / quantity
    return execution_risk_bps(daily_vol, gaps, held, held)


def expected_cost_closed_form(p: ACParams, k: float) -> float:
    """The paper's closed form of E on the optimal trajectory (currency)."""
    X, T, tau = p.shares, p.days, p.tau
    base = 0.5 * p.gamma * X**2 + p.epsilon * X
    if k == 0.0:
        return base + p.eta_tilde * X**2 / T
    # tanh(k tau/2) (tau sinh(2kT) + 2T sinh(k tau)) / (2 tau² sinh²(kT)), with the sinh² divided out
    a, b = k * tau, k * T
    ratio = 2 * (math.exp(a - 2 * b) - math.exp(-a - 2 * b)) / math.expm1(-2 * b) ** 2  # sinh(a)/sinh²(b)
    return base + p.eta_tilde * X**2 * math.tanh(a / 2) * (2 * tau / math.tanh(b) + 2 * T * ratio) / (2 * tau**2)


def variance_closed_form(p: ACParams, k: float) -> float:
    """The paper's closed form of V on the optimal trajectory (currency²)."""
    X, T, tau, N = p.shares, p.days, p.tau, p.periods
    if k == 0.0:
        return p.sigma**2 * tau * X**2 * (N - 1) * (2 * N - 1) / (6 * N)
    # (tau sinh(kT) cosh(k(T-tau)) - T sinh(k tau)) / (sinh²(kT) sinh(k tau))
    a, b = k * tau, k * T
    first = tau * math.cosh(b - a) / (math.sinh(b) * math.sinh(a))
    second = T * 4 * math.exp(-2 * b) / math.expm1(-2 * b) ** 2  # T / sinh²(b)
    return 0.5 * p.sigma**2 * X**2 * (first - second)


def solve(p: ACParams) -> ACSolution:
    """The optimal trajectory for ``p`` and its E and V (discrete sums over the trajectory)."""
    k = kappa(p)
    x = holdings(p, k)
    return ACSolution(p, k, x, -np.diff(x), expected_cost_sum(p, x), variance_sum(p, x))


def frontier(p: ACParams, risk_aversions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(E, sqrt V) of the optimal trajectory for each risk aversion (the efficient frontier)."""
    sols = [solve(replace(p, risk_aversion=float(lam))) for lam in risk_aversions]
    return np.array([s.expected_cost for s in sols]), np.sqrt([s.variance for s in sols])


def risk_aversion_grid(p: ACParams, n: int = 40, max_kappa_t: float = 20.0) -> np.ndarray:
    """Risk aversions from 0 to where kappa*T reaches ``max_kappa_t``, log-spaced (kappa*T from 0.01)."""
    if p.sigma == 0:
        return np.zeros(1)
    kt = np.geomspace(0.01, max_kappa_t, n - 1)
    k = kt / p.days
    lam = (np.cosh(k * p.tau) - 1) * 2 * p.eta_tilde / (p.tau**2 * p.sigma**2)
    return np.concatenate([[0.0], lam])
