"""Paired-comparison statistics for the overlay evaluation (pure numpy).

Every figure here is a function of per-unit paired differences
``d_i = cost_static_i - cost_policy_i`` (bps; positive when the policy is
cheaper).  Units are parents: children of one parent share a book and a
schedule, so they are dependent and resampling them one by one would make
the interval too narrow.  When per-child differences are given with their
parent ids, :func:`block_bootstrap_ci` resamples whole parents (a cluster,
or block, bootstrap) and recomputes the child-weighted mean.

Confidence intervals are percentile bootstrap intervals: resample the units
with replacement ``n_boot`` times from a seeded ``numpy.random.Generator``,
take the mean of each resample, and report the ``alpha/2`` and
``1 - alpha/2`` quantiles of those means.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

DEFAULT_N_BOOT = 2000
DEFAULT_ALPHA = 0.05


@dataclass(frozen=True)
class PairedSummary:
    """Summary of paired savings ``static - policy`` (bps)."""

    n: int
    mean_bps: float
    median_bps: float
    ci95_bps: tuple[float, float]
    win_rate: float

    def as_dict(self) -> dict:
        """JSON-ready dict."""
        return {
            "n": self.n,
            "mean_bps": self.mean_bps,
            "median_bps": self.median_bps,
            "ci95_bps": [self.ci95_bps[0], self.ci95_bps[1]],
            "win_rate": self.win_rate,
        }


def _as_finite_1d(values: np.ndarray, name: str) -> np.ndarray:
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim != 1:
        raise ValueError(f"{name}: expected a 1-d array, got shape {arr.shape}")
    if arr.size == 0:
        raise ValueError(f"{name}: expected at least one value, got none")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name}: expected finite values, got NaN or inf")
    return arr


def bootstrap_ci(
    diffs_bps: np.ndarray,
    *,
    seed: int,
    n_boot: int = DEFAULT_N_BOOT,
    alpha: float = DEFAULT_ALPHA,
) -> tuple[float, float]:
    """Percentile bootstrap ``1 - alpha`` interval of the mean of independent units."""
    d = _as_finite_1d(diffs_bps, "diffs_bps")
    return block_bootstrap_ci(d, np.arange(d.size), seed=seed, n_boot=n_boot, alpha=alpha)


def block_bootstrap_ci(
    diffs_bps: np.ndarray,
    block_ids: np.ndarray,
    *,
    seed: int,
    n_boot: int = DEFAULT_N_BOOT,
    alpha: float = DEFAULT_ALPHA,
) -> tuple[float, float]:
    """Percentile bootstrap interval of the pooled mean, resampling whole blocks.

    ``block_ids[i]`` names the block (parent) of ``diffs_bps[i]``.  Each
    replicate draws as many blocks as there are, with replacement, and takes
    the mean over all values of the drawn blocks (so larger blocks weigh more,
    as in the point estimate ``diffs_bps.mean()``).
    """
    d = _as_finite_1d(diffs_bps, "diffs_bps")
    ids = np.asarray(block_ids)
    if ids.shape != d.shape:
        raise ValueError(f"block_ids: expected shape {d.shape}, got {ids.shape}")
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha: expected 0 < alpha < 1, got {alpha}")
    if n_boot < 1:
        raise ValueError(f"n_boot: expected >= 1, got {n_boot}")
    _, inverse = np.unique(ids, return_inverse=True)
    n_blocks = int(inverse.max()) + 1
    sums = np.bincount(inverse, weights=d, minlength=n_blocks)
    counts = np.bincount(inverse, minlength=n_blocks).astype(np.float64)
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, n_blocks, size=(n_boot, n_blocks))
    means = sums[draws].sum(axis=1) / counts[draws].sum(axis=1)
    lo, hi = np.quantile(means, [alpha / 2.0, 1.0 - alpha / 2.0])
    return float(lo), float(hi)


def win_rate(diffs_bps: np.ndarray) -> float:
    """Share of units where the policy was strictly cheaper (``diff > 0``)."""
    d = _as_finite_1d(diffs_bps, "diffs_bps")
    return float(np.mean(d > 0.0))


def paired_summary(
    diffs_bps: np.ndarray,
    block_ids: np.ndarray | None = None,
    *,
    seed: int,
    n_boot: int = DEFAULT_N_BOOT,
    alpha: float = DEFAULT_ALPHA,
) -> PairedSummary:
    """Mean, median, bootstrap CI (by block when ``block_ids`` given) and win rate."""
    d = _as_finite_1d(diffs_bps, "diffs_bps")
    ids = np.arange(d.size) if block_ids is None else block_ids
    ci = block_bootstrap_ci(d, ids, seed=seed, n_boot=n_boot, alpha=alpha)
    return PairedSummary(
        n=int(d.size),
        mean_bps=float(d.mean()),
        median_bps=float(np.median(d)),
        ci95_bps=ci,
        win_rate=win_rate(d),
    )


def tercile_edges(values: np.ndarray) -> tuple[float, float]:
    """The 1/3 and 2/3 quantiles of ``values`` (finite values only)."""
    v = _as_finite_1d(values, "values")
    lo, hi = np.quantile(v, [1.0 / 3.0, 2.0 / 3.0])
    return float(lo), float(hi)


def terciles(values: np.ndarray, edges: tuple[float, float] | None = None) -> np.ndarray:
    """Tercile label 0 (low), 1 (mid), 2 (high) of each value.

    ``edges`` default to :func:`tercile_edges` of ``values``; pass edges
    computed on other data (e.g. training) to label new data on the same
    scale.  A value equal to an edge goes to the lower tercile.
    """
    v = _as_finite_1d(values, "values")
    lo, hi = tercile_edges(v) if edges is None else edges
    if lo > hi:
        raise ValueError(f"edges: expected lo <= hi, got {lo} > {hi}")
    return np.searchsorted(np.array([lo, hi]), v, side="left").astype(np.int64)


def captured_share(policy_saving_bps: float, oracle_saving_bps: float) -> float:
    """Share of the oracle's saving the policy captured; NaN when the oracle saves nothing."""
    if not oracle_saving_bps > 0.0:
        return float("nan")
    return float(policy_saving_bps / oracle_saving_bps)
