"""The ``cont-kukanov`` rule: split a child between a market order and limit orders on K venues.

Cont & Kukanov, *Optimal order placement in limit order markets* (Quantitative Finance 2017; arXiv 1210.1625),
single-period model, written for a buy of ``S`` size units (a sell is its mirror image):

* decision X = (M, L_1..L_K): M size units by market order now, L_k by limit order joining venue k's touch
  behind a queue of Q_k;
* ξ_k: the outflow at venue k's touch over the horizon (executions and cancellations); the limit order fills
  φ_k = min((ξ_k − Q_k)⁺, L_k) and the order has filled A = M + Σ_k φ_k;
* cost, currency per size unit relative to the mid:

      V(X, ξ) = (h + f)·M − Σ_k (h + r_k)·φ_k + λ_u·(S − A)⁺ + λ_o·(A − S)⁺

  h: half-spread (a market order pays the mid + h, a filled limit order the mid − h), f: taker fee of the
  market order, r_k: rebate of a passive fill at venue k (positive = received; a FeeSchedule's maker fee is
  −r_k), λ_u / λ_o: penalties per size unit under / over the target at the horizon.

The solvers minimise the sample mean of V over the outflow scenarios given (``outflows[n, k]``: the n-th joint
draw of ξ_k; draws of venues sampled independently can be stacked row by row), in integer size units:

* :func:`solve_one_venue` — the paper's closed form for one venue: the optimum fills exactly S if everything
  fills (M + L = S) and L* = F⁻¹(p) − Q clipped to [0, S], with p = (2h + f + r)/(λ_u + h + r) and F the
  distribution of ξ (for samples: the smallest L with F(Q + L) ≥ p). So it is all limit (M = 0) when
  λ_u ≤ (2h + f + r)/F(Q + S) − (h + r) and all market (L = 0) when λ_u ≥ (2h + f + r)/F(Q) − (h + r). It
  holds when over-filling never pays (λ_o ≥ h + r) and λ_u + h + r > 0.
* :func:`solve` — the exact integer optimum for any K (no convexity needed): it enumerates the limit sizes
  and, for each, every M at once from the distribution of Σ_k φ_k (see :func:`solve`). Its work grows like
  Π_k (L_k range) × (N + S), so it suits a few venues; beyond ``max_work`` it refuses instead of running for
  hours.

Ties (equal E[V] to 1e-9 relative) go to the smallest total limit size Σ L_k (less left resting), then the
smallest L_1, L_2, …, then the smallest M.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from tickreplay.errors import ConfigError
from tickreplay.orders import Liquidity
from tickreplay.router.venues import check_venues

_TIE_REL = 1e-9
_CHUNK_CELLS = 4_000_000  # limit-size vectors × samples per vectorised block


@dataclass(frozen=True)
class Split:
    """An optimal split: ``market`` and ``limits[k]`` in size units, ``expected_cost`` = E[V] in currency."""

    market: int
    limits: tuple[int, ...]
    expected_cost: float


def _num(x, name: str) -> float:
    if isinstance(x, bool) or not isinstance(x, (int, float, np.integer, np.floating)) or not math.isfinite(x):
        raise ConfigError(f"{name} must be a finite number, got {x!r}")
    return float(x)


def _inputs(size, queue, outflows, half_spread, fee, rebates, lambda_u, lambda_o):
    """Checked (S, Q (K,), ξ (N, K), h, f, r (K,), λ_u, λ_o); errors name the argument."""
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size <= 0:
        raise ConfigError(f"size must be a positive integer (size units), got {size!r}")
    q = np.atleast_1d(np.asarray(queue))
    if q.ndim != 1 or q.size == 0 or not np.issubdtype(q.dtype, np.integer) or np.any(q < 0):
        raise ConfigError(f"queue must hold one integer >= 0 per venue (size units), got {queue!r}")
    k = q.size
    xi = np.asarray(outflows)
    if xi.ndim == 1 and k == 1:
        xi = xi[:, None]
    if xi.ndim != 2 or xi.shape[1] != k or xi.shape[0] == 0:
        raise ConfigError(f"outflows must be an (N, K={k}) array of outflow draws with N >= 1, got shape "
                          f"{xi.shape}")
    if not np.issubdtype(xi.dtype, np.integer):
        raise ConfigError(f"outflows must hold integers (size units), got dtype {xi.dtype}")
    if np.any(xi < 0):
        n, j = np.argwhere(xi < 0)[0]
        raise ConfigError(f"outflows[{n}, {j}] is negative ({xi[n, j]}): outflows are >= 0")
    r = np.atleast_1d(np.asarray(rebates, dtype=np.float64))
    if r.shape != (k,) or not np.all(np.isfinite(r)):
        raise ConfigError(f"rebates must hold one finite number per venue ({k}), got {rebates!r}")
    h, f = _num(half_spread, "half_spread"), _num(fee, "fee")
    lu, lo = _num(lambda_u, "lambda_u"), _num(lambda_o, "lambda_o")
    if h < 0:
        raise ConfigError(f"half_spread must be >= 0 (currency per size unit), got {h}")
    if lu < 0 or lo < 0:
        raise ConfigError(f"lambda_u and lambda_o must be >= 0, got {lu}, {lo}")
    if h + f + lo <= 0:
        raise ConfigError(f"half_spread + fee + lambda_o = {h + f + lo} <= 0: buying beyond the target would "
                          f"earn money, the problem has no optimum; check fee and lambda_o")
    return int(size), q.astype(np.int64), xi.astype(np.int64), h, f, r, lu, lo


def expected_cost(market: int, limits, size: int, queue, outflows, half_spread: float, fee: float, rebates,
                  lambda_u: float, lambda_o: float) -> float:
    """E[V] of the split (``market``, ``limits``) over the outflow draws, currency (the model's V, term by term)."""
    s, q, xi, h, f, r, lu, lo = _inputs(size, queue, outflows, half_spread, fee, rebates, lambda_u, lambda_o)
    lim = np.atleast_1d(np.asarray(limits, dtype=np.int64))
    if lim.shape != q.shape or np.any(lim < 0) or market < 0:
        raise ConfigError(f"market and limits must be >= 0 with one limit per venue, got {market}, {limits!r}")
    filled = np.minimum(np.maximum(xi - q, 0), lim)  # (N, K)
    a = market + filled.sum(axis=1)
    v = ((h + f) * market - filled @ (h + r) + lu * np.maximum(s - a, 0) + lo * np.maximum(a - s, 0))
    return float(v.mean())


def solve_one_venue(size: int, queue: int, outflows, half_spread: float, fee: float, rebate: float,
                    lambda_u: float, lambda_o: float) -> Split:
    """The paper's closed-form optimum on one venue (sizes in size units, costs in currency per size unit)."""
    s, q, xi, h, f, r, lu, lo = _inputs(size, [queue], outflows, half_spread, fee, [rebate], lambda_u, lambda_o)
    r0 = float(r[0])
    if lo < h + r0:
        raise ConfigError(f"the closed form needs lambda_o >= half_spread + rebate ({h + r0}), got lambda_o "
                          f"{lo}: over-filling pays here; use solve()")
    if lu + h + r0 <= 0:
        raise ConfigError(f"the closed form needs lambda_u + half_spread + rebate > 0, got {lu + h + r0}")
    p = (2 * h + f + r0) / (lu + h + r0)
    y = np.sort(xi[:, 0]) - int(q[0])  # ξ − Q, sorted
    cdf = np.searchsorted(y, np.arange(s + 1), side="right") / len(y)  # F(Q + L) for L = 0..S
    ok = np.flatnonzero(cdf >= p)
    lim = int(ok[0]) if ok.size else s
    m = s - lim
    return Split(m, (lim,), expected_cost(m, [lim], s, q, xi, h, f, r, lu, lo))


def solve(size: int, queue, outflows, half_spread: float, fee: float, rebates, lambda_u: float, lambda_o: float,
          max_work: float = 2e8) -> Split:
    """The exact integer minimiser of E[V] over the outflow draws ``outflows`` (N, K) for K venues.

    With Φ = Σ_k φ_k and (x)⁺ = x + (−x)⁺, E[V] = (h + f + λ_o)·M + Σ_k (λ_o − h − r_k)·E[φ_k] − λ_o·S
    + (λ_u + λ_o)·E[(S − M − Φ)⁺], and E[(c − Φ)⁺] = Σ_{j<c} P(Φ ≤ j) gives every M ∈ [0, S] from one histogram
    of Φ. Search range (nothing better lies outside): M ≤ S (a market order past the target only adds
    h + f + λ_o > 0); L_k ≤ max ξ_k − Q_k (a larger order fills no more), and L_k ≤ S when λ_o ≥ h + r_k (a
    share filled past the target earns h + r_k and costs λ_o). ``max_work`` bounds the limit-size vectors ×
    (N + S) evaluated.
    """
    s, q, xi, h, f, r, lu, lo = _inputs(size, queue, outflows, half_spread, fee, rebates, lambda_u, lambda_o)
    y = np.maximum(xi - q, 0)  # (N, K) fillable at each venue
    n, k = y.shape
    top = y.max(axis=0)
    top = np.where(lo >= h + r, np.minimum(top, s), top)
    dims = tuple(int(t) + 1 for t in top)
    cells = math.prod(dims)
    if cells * (n + s) > max_work:
        raise ConfigError(f"the exact solve would evaluate {cells} limit-size vectors × {n + s} (over max_work "
                          f"{max_work:g}): use fewer outflow draws, a smaller child or fewer venues")
    # E[min(Y_k, l)] = Σ_{j<l} P(Y_k > j), for l = 0..top_k
    mean_fill = []
    for j in range(k):
        ys = np.sort(y[:, j])
        above = 1.0 - np.searchsorted(ys, np.arange(top[j]), side="right") / n
        mean_fill.append(np.concatenate([[0.0], np.cumsum(above)]))
    m_grid = np.arange(s + 1)
    coef_m = (h + f + lo) * m_grid - lo * s
    best_val, best_key = math.inf, None
    tol = _TIE_REL * max(1.0, (abs(h) + abs(f) + float(np.abs(r).max()) + lu + lo) * s)
    chunk = max(1, _CHUNK_CELLS // n)
    for start in range(0, cells, chunk):
        idx = np.arange(start, min(cells, start + chunk))
        lims = np.stack(np.unravel_index(idx, dims), axis=1)  # (R, K)
        phi = np.zeros((len(idx), n), np.int64)
        lin = np.zeros(len(idx))
        for j in range(k):
            phi += np.minimum(y[None, :, j], lims[:, j, None])
            lin += (lo - h - r[j]) * mean_fill[j][lims[:, j]]
        rows = np.repeat(np.arange(len(idx)), n)
        hist = np.bincount(rows * (s + 1) + np.minimum(phi, s).ravel(), minlength=len(idx) * (s + 1))
        cdf = np.cumsum(hist.reshape(len(idx), s + 1), axis=1) / n  # P(Φ ≤ j), j = 0..S
        g = np.concatenate([np.zeros((len(idx), 1)), np.cumsum(cdf, axis=1)[:, :s]], axis=1)  # G(c), c = 0..S
        cost = lin[:, None] + coef_m[None, :] + (lu + lo) * g[:, s - m_grid]  # (R, S + 1) over M
        low = float(cost.min())
        if low > best_val + tol:
            continue
        rr, mm = np.nonzero(cost <= low + tol)
        order = np.lexsort((mm, *lims[rr].T[::-1], lims[rr].sum(axis=1)))
        i = order[0]
        key = (int(lims[rr[i]].sum()), *map(int, lims[rr[i]]), int(mm[i]))
        val = float(cost[rr[i], mm[i]])
        if val < best_val - tol:
            best_val, best_key = val, key
        elif val <= best_val + tol and key < best_key:
            best_val, best_key = min(val, best_val), key
    market, limits = best_key[-1], tuple(best_key[1:-1])
    return Split(market, limits, expected_cost(market, limits, s, q, xi, h, f, r, lu, lo))


@dataclass(frozen=True)
class KukanovRoute:
    """A Cont–Kukanov split of a child over venue quotes.

    ``market`` size units go to ``market_venue`` by market order, ``limits[venue]`` size units rest at that
    venue's touch; ``half_spread``, ``fee`` and ``rebates`` (currency per size unit) are the model's h, f, r_k
    as derived from the quotes; ``expected_cost`` is E[V] (currency, relative to the consolidated mid).
    """

    side: int
    size: int
    market_venue: str
    market: int
    limits: dict[str, int]
    half_spread: float
    fee: float
    rebates: dict[str, float]
    expected_cost: float


def route_cont_kukanov(venues, side: int, size: int, lambda_u: float, lambda_o: float,
                       max_work: float = 2e8) -> KukanovRoute:
    """Split a child of ``size`` size units on ``side`` (+1 buy, -1 sell) over ``venues`` by :func:`solve`.

    From the quotes: the consolidated touch gives the mid and h (half the consolidated spread, currency per
    size unit); the market order goes to the venue quoting the best opposite price with the lowest taker fee
    there (ties: listed first) and f is that fee; a limit order joins each venue's own touch, Q_k is its
    ``queue_ahead``, ξ_k its ``outflow_samples`` (the n-th draws of all venues form one scenario, so every venue
    needs the same number), and r_k is its maker rebate (−maker fee) plus what its touch gains over the
    consolidated touch (zero when it is at the consolidated best).
    """
    vs = check_venues(venues)
    if side not in (1, -1):
        raise ConfigError(f"side must be +1 (buy) or -1 (sell), got {side!r}")
    uv = vs[0].instrument.unit_value
    take = [v.levels(-side)[0] for v in vs]
    rest = [v.levels(side)[0] for v in vs]
    for v, px in zip(vs, rest):
        if not len(px):
            raise ConfigError(f"venue {v.venue!r}: book has no {'bid' if side == 1 else 'ask'} level to join")
    if not any(len(px) for px in take):
        raise ConfigError(f"venues: no venue shows an {'ask' if side == 1 else 'bid'} for the market order")
    n = {len(v.outflow_samples) for v in vs}
    if len(n) != 1 or 0 in n:
        raise ConfigError("venues: outflow_samples must be non-empty and of one length across venues (one "
                          f"scenario per row), got lengths {[len(v.outflow_samples) for v in vs]}")
    far = min if side == 1 else max
    opp = far(int(px[0]) for px in take if len(px))
    own = (max if side == 1 else min)(int(px[0]) for px in rest)
    h = abs(opp - own) / 2 * uv
    fees = [v.fee_per_size_unit(Liquidity.TAKER, opp) if len(px) and px[0] == opp else math.inf
            for v, px in zip(vs, take)]
    mk = int(np.argmin(fees))
    if side * (opp - own) < 0:  # a crossed consolidated view: the market order is through our
        # own best price, no limit can do better, and the model's half spread would be negative: take it all
        return KukanovRoute(side, int(size), vs[mk].venue, int(size), {v.venue: 0 for v in vs}, -abs(opp - own) / 2
                            * uv, float(fees[mk]), {v.venue: 0.0 for v in vs}, float((fees[mk] - abs(opp - own) / 2
                                                                                        * uv) * size))
    rebates = np.array([-v.fee_per_size_unit(Liquidity.MAKER, int(px[0])) + side * (own - int(px[0])) * uv
                        for v, px in zip(vs, rest)])
    outflows = np.stack([v.outflow_samples for v in vs], axis=1)
    sp = solve(size, [v.queue_ahead for v in vs], outflows, h, fees[mk], rebates, lambda_u, lambda_o, max_work)
    return KukanovRoute(side, int(size), vs[mk].venue, sp.market, {v.venue: l for v, l in zip(vs, sp.limits)},
                        h, float(fees[mk]), {v.venue: float(x) for v, x in zip(vs, rebates)}, sp.expected_cost)
