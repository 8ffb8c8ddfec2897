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
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

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


def variance_sum(p: ACParams, x: np.ndarray) -> float:
    """V of a trajectory by the discrete sum (currency²)."""
    return p.sigma**2 * p.tau * float(x[1:] @ x[1:])


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
