"""The square-root law fitted to measured parents: I = Y·σ_daily·(Q/V)^δ, with bootstrap intervals and OOS scores.

**Fit.** Weighted nonlinear least squares on the impact in units of daily volatility, one point per parent::

    minimise  sum_i w_i (I_i/σ_i - Y·x_i^δ)²,   x_i = Q_i/V_i,   Y >= 0,   δ in [0.05, 2]

For a fixed δ the best ``Y`` is closed-form (``sum w f y / sum w f²`` with ``f = x^δ``, ``y = I/σ``), so the fit
is a one-dimensional search over δ of the profiled sum of squares: a grid of 40 points over the bounds, then a
golden-section search in the bracket around the grid's best (tolerance below 1e-6). Dividing by σ makes parents of
quiet and volatile days count alike (the noise of ``I`` scales with σ). ``w`` = 1, except in the dynamic
update (:mod:`.update`). ``fit["delta_at_bound"]`` says when δ ended on a bound.

**Intervals.** Percentile bootstrap, resampling *parents* with replacement (never fills of one parent apart):
``B`` = 500 resamples by default, from ``numpy.random.default_rng(seed)`` (seed 0 by default), each refitted the
same way; the interval is the 2.5th-97.5th percentile (level ``ci_level`` = 0.95).

**Out of sample, always.** The parents are split by *day* (the trading date of their tape) when there are two
or more days: the latest 30 % of the days (at least one) are held out — the fit never sees a later day than the
ones it is scored on. With one day, or when the day split would leave fewer than :data:`MIN_TRAIN` parents to fit
or :data:`MIN_TEST` to score, the split is by *parent*: 30 % of the parents, drawn with the seed. A parent is
one unit either way (all its fills on one side). The same procedure is fitted on the training parents and
scored on the held-out ones, next to the uncalibrated default (:mod:`tickreplay.impact.sqrt_law`, Y = 1,
δ = 0.5) on the same parents: ``r2`` (1 - SSE/SST of I around the held-out mean), ``mae_bps`` and
``bias_bps`` (mean of measured - predicted). The published ``params`` and intervals are fitted on every parent.

**Buckets** (``by``): ``"regime"`` (the tape metadata's ``regime`` label), ``"instrument"``, or
``"vol-spread"`` (terciles, over the days, of the day's volatility and of its time-weighted spread: nine buckets
``vol low|mid|high, spread low|mid|high``, the edges in ``fit["bucket_edges"]``). Each bucket with at least
:data:`MIN_PARENTS` parents gets its own fit, intervals and OOS scores in ``fit["buckets"][label]`` (fewer:
``{"n_parents": k, "skipped": ...}``); ``params`` stay the pooled fit. Without ``by`` a fit takes one
instrument only (the file says which rows are another); with ``by`` the law, which is dimensionless, pools
instruments within a bucket.

``fit["sample"]`` keeps each parent's ``date``, ``x``, ``impact``, ``daily_vol``, ``bucket`` and
``instrument``: what :func:`tickreplay.impact.update.update` refits from.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd

from tickreplay.errors import InputError
from tickreplay.impact import sqrt_law
from tickreplay.impact.calibration import Calibration, new_calibration

BOOTSTRAP = 500  # default number of bootstrap resamples
SEED = 0
DELTA_BOUNDS = (0.05, 2.0)
CI_LEVEL = 0.95
TEST_FRACTION = 0.3
MIN_TRAIN = 14  # parents to fit on
MIN_TEST = 6  # parents to score on
MIN_PARENTS = MIN_TRAIN + MIN_TEST
BY = ("regime", "vol-spread", "instrument")
SAMPLE_COLUMNS = ("date", "x", "impact", "daily_vol", "bucket", "instrument")
_GRID = 40
_BLOCK = 64  # bootstrap rows evaluated together


def profile_fit(x: np.ndarray, y: np.ndarray, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Y and δ minimising ``sum w (y - Y x^δ)²`` for each row of ``weights`` (shape (R, n) or (n,)).

    ``x`` > 0, ``y`` = I/σ. Returns arrays of shape (R,) (or scalars' 0-d arrays for 1-d weights)."""
    one = np.ndim(weights) == 1
    W = np.atleast_2d(np.asarray(weights, dtype=np.float64))
    lx = np.log(np.asarray(x, dtype=np.float64))
    y = np.asarray(y, dtype=np.float64)
    lo, hi = DELTA_BOUNDS
    grid = np.linspace(lo, hi, _GRID)
    F = np.exp(lx[:, None] * grid[None, :])
    A, Bq, C = W @ (F * y[:, None]), W @ (F * F), W @ (y * y)
    Yg = np.maximum(A / Bq, 0.0)
    k = np.argmin(C[:, None] - 2 * Yg * A + Yg * Yg * Bq, axis=1)
    step = grid[1] - grid[0]
    a, b = np.maximum(grid[k] - step, lo), np.minimum(grid[k] + step, hi)

    def sse(d: np.ndarray, Wb: np.ndarray, Cb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        f = np.exp(d[:, None] * lx[None, :])
        wf = Wb * f
        s_fy, s_ff = wf @ y, np.einsum("ij,ij->i", wf, f)
        Y = np.maximum(s_fy / s_ff, 0.0)
        return Cb - 2 * Y * s_fy + Y * Y * s_ff, Y

    g = (math.sqrt(5) - 1) / 2
    out_d, out_y = np.empty(len(W)), np.empty(len(W))
    for s in range(0, len(W), _BLOCK):
        Wb, Cb, lo_b, hi_b = W[s:s + _BLOCK], C[s:s + _BLOCK], a[s:s + _BLOCK].copy(), b[s:s + _BLOCK].copy()
        c1, c2 = hi_b - g * (hi_b - lo_b), lo_b + g * (hi_b - lo_b)
        f1, f2 = sse(c1, Wb, Cb)[0], sse(c2, Wb, Cb)[0]
        for _ in range(int(math.ceil(math.log(1e-7 / (2 * step)) / math.log(g)))):
            left = f1 < f2  # the minimum is in [lo, c2]
            hi_b, lo_b = np.where(left, c2, hi_b), np.where(left, lo_b, c1)
            c2n, c1n = np.where(left, c1, lo_b + g * (hi_b - lo_b)), np.where(left, hi_b - g * (hi_b - lo_b), c2)
            f_new = sse(np.where(left, c1n, c2n), Wb, Cb)[0]
            f1, f2 = np.where(left, f_new, f2), np.where(left, f1, f_new)
            c1, c2 = c1n, c2n
        d = (lo_b + hi_b) / 2
        out_d[s:s + _BLOCK], out_y[s:s + _BLOCK] = d, sse(d, Wb, Cb)[1]
    return (out_y[0], out_d[0]) if one else (out_y, out_d)


def predict_impact(x: np.ndarray, daily_vol: np.ndarray, Y: float, delta: float) -> np.ndarray:
    """I (a fraction) for each parent from :func:`tickreplay.impact.sqrt_law.sqrt_law_bps` (x = Q/V)."""
    return np.fromiter((sqrt_law.sqrt_law_bps(xi, 1.0, s, Y, delta) for xi, s in zip(x, daily_vol)),
                       np.float64, len(x)) / 1e4


def scores(measured: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
    """``r2`` (around the measured mean), ``mae_bps``, ``bias_bps`` (measured - predicted) and ``n`` of I."""
    err = measured - predicted
    sst = float(((measured - measured.mean()) ** 2).sum())
    return {"r2": 1.0 - float((err**2).sum()) / sst if sst > 0 else math.nan,
            "mae_bps": float(np.abs(err).mean() * 1e4), "bias_bps": float(err.mean() * 1e4), "n": int(len(err))}


def oos_split(dates: np.ndarray, seed: int = SEED, fraction: float = TEST_FRACTION) -> dict[str, Any]:
    """Held-out parents (module docstring): ``test`` (bool per parent), ``split`` and the held-out ``test_days``.

    ``dates``: each parent's trading date (ISO text); one entry per parent, so a parent is never split."""
    dates = np.asarray(dates, dtype=object)
    n = len(dates)
    days = sorted(set(dates))
    if len(days) >= 2:
        held = days[len(days) - max(1, math.ceil(fraction * len(days))):]
        test = np.isin(dates, held)
        if (~test).sum() >= MIN_TRAIN and test.sum() >= MIN_TEST:
            return {"test": test, "split": "by day", "test_days": list(held)}
    k = min(max(MIN_TEST, math.ceil(fraction * n)), n - MIN_TRAIN)
    test = np.zeros(n, bool)
    test[np.random.default_rng(seed).permutation(n)[:k]] = True
    return {"test": test, "split": "by parent", "test_days": []}


def _too_few(n: int, what: str, where: str) -> InputError:
    return InputError(where, None, None, f"{what}: {n} parent(s); a fit needs at least {MIN_PARENTS} "
                                         f"({MIN_TRAIN} to fit and {MIN_TEST} held out to score it)")


def fit_group(sample: pd.DataFrame, weights: np.ndarray | None = None, bootstrap: int = BOOTSTRAP,
              seed: int = SEED, test: np.ndarray | None = None, split: dict | None = None,
              where: str = "<parents>", what: str = "the fit") -> dict[str, Any]:
    """One fit of ``sample`` (:data:`SAMPLE_COLUMNS`): params, intervals, OOS scores (module docstring).

    ``test``/``split``: the held-out parents and how they were chosen (default :func:`oos_split`)."""
    n = len(sample)
    if n < MIN_PARENTS:
        raise _too_few(n, what, where)
    x = sample["x"].to_numpy(np.float64)
    imp = sample["impact"].to_numpy(np.float64)
    sig = sample["daily_vol"].to_numpy(np.float64)
    y = imp / sig
    w = np.ones(n) if weights is None else np.asarray(weights, dtype=np.float64)
    Y, d = profile_fit(x, y, w)
    rng = np.random.default_rng(seed)
    counts = rng.multinomial(n, np.full(n, 1.0 / n), size=bootstrap).astype(np.float64)
    Yb, db = profile_fit(x, y, counts * w)
    q = [(1 - CI_LEVEL) / 2 * 100, (1 + CI_LEVEL) / 2 * 100]
    if test is None:
        split = oos_split(sample["date"].to_numpy(object), seed)
        test = split["test"]
    Yt, dt = profile_fit(x[~test], y[~test], w[~test])
    measured = imp[test]
    oos = {"split": split["split"], "test_days": split.get("test_days", []), "n_train": int((~test).sum()),
           "n_test": int(test.sum()), "train_params": {"Y": float(Yt), "delta": float(dt)},
           "scores": scores(measured, predict_impact(x[test], sig[test], float(Yt), float(dt))),
           "default_params": {"Y": sqrt_law.Y, "delta": sqrt_law.EXPONENT},
           "default_scores": scores(measured, predict_impact(x[test], sig[test], sqrt_law.Y, sqrt_law.EXPONENT))}
    return {"params": {"Y": float(Y), "delta": float(d)},
            "intervals": {"Y": tuple(float(v) for v in np.percentile(Yb, q)),
                          "delta": tuple(float(v) for v in np.percentile(db, q))},
            "n_parents": n, "delta_at_bound": bool(min(abs(d - b) for b in DELTA_BOUNDS) < 1e-4), "oos": oos}


def sqrt_sample(parents: pd.DataFrame) -> pd.DataFrame:
    """The per-parent quantities the fit uses (:data:`SAMPLE_COLUMNS`; ``bucket`` empty) from measured parents."""
    return pd.DataFrame({"date": parents["date"].astype(str).to_numpy(object),
                         "x": (parents["quantity"] / parents["adv"]).to_numpy(np.float64),
                         "impact": parents["impact"].to_numpy(np.float64),
                         "daily_vol": parents["daily_vol"].to_numpy(np.float64),
                         "bucket": np.full(len(parents), "", object),
                         "instrument": parents["instrument"].astype(str).to_numpy(object)})


def file_of(parents: pd.DataFrame, i: int, where: str) -> str:
    """The fills file parent ``i`` came from (column ``file`` when several files were read), else ``where``: an
    error names the file its row number is in."""
    return str(parents["file"].iat[i]) if "file" in parents else where


def bucket_labels(parents: pd.DataFrame, by: str, where: str,
                  edges: dict[str, list[float]] | None = None) -> tuple[np.ndarray, dict[str, list[float]]]:
    """Each parent's bucket under ``by`` (module docstring) and the tercile edges used (``vol-spread``;
    ``edges`` given: those, as the dynamic update keeps them)."""
    if by == "instrument":
        return parents["instrument"].astype(str).to_numpy(object), {}
    if by == "regime":
        lab = parents["regime"].astype(str).to_numpy(object)
        if (lab == "").any():
            i = int(np.argmax(lab == ""))
            raise InputError(file_of(parents, i, where), int(parents["row"].iat[i]), "tape",
                             f"tape {parents['tape'].iat[i]} has no regime label in its metadata (generated days "
                             "have one); bucket by vol-spread instead")
        return lab, {}
    if by != "vol-spread":
        raise InputError(where, None, None, f"unknown bucketing {by!r}; expected one of {', '.join(BY)}")
    if edges is None:
        days = parents.drop_duplicates("tape")
        if len(days) < 3:
            raise InputError(where, None, "tape", f"vol-spread terciles need at least 3 days, got {len(days)}")
        edges = {c: [float(v) for v in np.quantile(days[c].to_numpy(np.float64), [1 / 3, 2 / 3])]
                 for c in ("day_vol", "day_spread_bps")}
    names = np.array(["low", "mid", "high"], dtype=object)
    v = names[np.searchsorted(edges["day_vol"], parents["day_vol"].to_numpy(np.float64), side="right")]
    s = names[np.searchsorted(edges["day_spread_bps"], parents["day_spread_bps"].to_numpy(np.float64), side="right")]
    return np.array([f"vol {a}, spread {b}" for a, b in zip(v, s)], dtype=object), edges


def check_one_instrument(parents: pd.DataFrame, where: str, hint: str) -> None:
    """InputError naming the first parent of a second instrument (a fit is of one instrument unless grouped;
    generated days of one :func:`~tickreplay.adapters.synthetic.synthetic_market`, i.e. its seeds, are one)."""
    inst = parents["instrument"].astype(str).to_numpy(object)
    symbols, codes = np.unique(inst, return_inverse=True)
    market = inst
    if len(symbols) > 1:
        from tickreplay.adapters.synthetic import synthetic_market

        market = np.array([synthetic_market(s) or s for s in symbols], dtype=object)[codes]
    other = market != market[0]
    if other.any():
        i = int(np.argmax(other))
        raise InputError(file_of(parents, i, where), int(parents["row"].iat[i]), "instrument",
                         f"{inst[i]!r}, but the fit started with {inst[0]!r}: one fit is of one instrument; {hint}")


def fit_buckets(sample: pd.DataFrame, fit_group: Callable[..., dict[str, Any]], weights: np.ndarray | None,
                bootstrap: int, seed: int, test: np.ndarray | None, split: dict | None, where: str,
                flag: str) -> dict[str, Any]:
    """One fit per label of ``sample["bucket"]`` (sorted): ``fit_group(sample, weights, bootstrap, seed, test,
    split, where, label)``'s params, intervals, n_parents, ``flag`` (its bound / clamp flag) and oos; a bucket of
    fewer than MIN_PARENTS parents is skipped (saying so), and one with too few test or train parents of ``test``
    gets its own split."""
    buckets: dict[str, Any] = {}
    for label in sorted(set(sample["bucket"])):
        sel = (sample["bucket"] == label).to_numpy()
        if sel.sum() < MIN_PARENTS:
            buckets[label] = {"n_parents": int(sel.sum()), "skipped": f"needs at least {MIN_PARENTS} parents"}
            continue
        sub_test = None if test is None else test[sel]
        if sub_test is not None and (sub_test.sum() < 1 or (~sub_test).sum() < MIN_TRAIN):
            sub_test = None  # too few new parents in this bucket: its own split
        g = fit_group(sample[sel].reset_index(drop=True), None if weights is None else weights[sel], bootstrap,
                      seed, sub_test, split if sub_test is not None else None, where, f"bucket {label!r}")
        buckets[label] = {"params": g["params"], "intervals": {k: list(v) for k, v in g["intervals"].items()},
                          "n_parents": g["n_parents"], flag: g[flag], "oos": g["oos"]}
    return buckets


def calibrate_sample(sample: pd.DataFrame, *, by: str | None = None, weights: np.ndarray | None = None,
                     bootstrap: int = BOOTSTRAP, seed: int = SEED, data: list[dict] | None = None,
                     source: dict | None = None, test: np.ndarray | None = None, split: dict | None = None,
                     extra_fit: dict | None = None, where: str = "<parents>") -> Calibration:
    """The ``sqrt`` :class:`Calibration` of a sample (pooled fit, then one per bucket when ``by``)."""
    pooled = fit_group(sample, weights, bootstrap, seed, test, split, where, "all parents")
    buckets = {} if by is None else fit_buckets(sample, fit_group, weights, bootstrap, seed, test, split, where,
                                                "delta_at_bound")
    fit = {"method": "weighted nonlinear least squares on I/sigma_daily, profiled over delta (grid + golden "
                     "section)", "delta_bounds": list(DELTA_BOUNDS), "bootstrap": int(bootstrap), "seed": int(seed),
           "n_parents": pooled["n_parents"], "delta_at_bound": pooled["delta_at_bound"], "by": by,
           "buckets": buckets, "source": source or {},
           "sample": {c: sample[c].tolist() for c in SAMPLE_COLUMNS}, **(extra_fit or {})}
    if weights is not None:
        fit["weights"] = [float(v) for v in weights]
    return new_calibration("sqrt", pooled["params"], intervals=pooled["intervals"], ci_level=CI_LEVEL,
                           data=list(data or []), oos=pooled["oos"], fit=fit)


def fit_sqrt(parents: pd.DataFrame, *, by: str | None = None, bootstrap: int = BOOTSTRAP, seed: int = SEED,
             data: list[dict] | None = None, source: dict | None = None, where: str = "<parents>") -> Calibration:
    """Fit the square-root law to measured parents (:func:`tickreplay.impact.parents.measure_parents`).

    ``where``: the input (fills file or results root) errors name."""
    if by is None:
        check_one_instrument(parents, where, "filter the file, or bucket with --by instrument (or regime)")
    bad = ~(np.isfinite(parents["adv"].to_numpy(np.float64)) & np.isfinite(parents["daily_vol"].to_numpy(np.float64)))
    if bad.any():
        i = int(np.argmax(bad))
        raise InputError(file_of(parents, i, where), int(parents["row"].iat[i]), "adv" if not np.isfinite(parents["adv"].iat[i])
                         else "daily_vol", "not known for this parent")
    sample = sqrt_sample(parents)
    extra: dict[str, Any] = {}
    if by is not None:
        labels, edges = bucket_labels(parents, by, where)
        sample["bucket"] = labels
        if edges:
            extra["bucket_edges"] = edges
    return calibrate_sample(sample, by=by, bootstrap=bootstrap, seed=seed, data=data, source=source,
                            extra_fit=extra, where=where)


def summary(cal: Calibration) -> dict[str, Any]:
    """The flat summary ``calibrate sqrt --json`` prints (module docstring of the CLI)."""
    oos = cal.oos
    out = {"kind": cal.kind, "Y": cal.params["Y"], "delta": cal.params["delta"],
           "Y_ci": list(cal.intervals["Y"]), "delta_ci": list(cal.intervals["delta"]), "ci_level": cal.ci_level,
           "n_parents": cal.fit["n_parents"], "oos_split": oos["split"], "oos_n_test": oos["n_test"],
           "oos_r2": oos["scores"]["r2"], "oos_mae_bps": oos["scores"]["mae_bps"],
           "oos_bias_bps": oos["scores"]["bias_bps"],
           "default_oos_r2": oos["default_scores"]["r2"], "default_oos_mae_bps": oos["default_scores"]["mae_bps"],
           "default_oos_bias_bps": oos["default_scores"]["bias_bps"], "by": cal.fit.get("by")}
    if cal.fit.get("buckets"):
        out["buckets"] = [{"bucket": k, "n_parents": b["n_parents"], **(
            {"skipped": b["skipped"]} if "skipped" in b else
            {"Y": b["params"]["Y"], "delta": b["params"]["delta"], "Y_ci": b["intervals"]["Y"],
             "delta_ci": b["intervals"]["delta"], "oos_r2": b["oos"]["scores"]["r2"],
             "oos_mae_bps": b["oos"]["scores"]["mae_bps"], "default_oos_mae_bps": b["oos"]["default_scores"]["mae_bps"]})}
            for k, b in sorted(cal.fit["buckets"].items())]
    return out


def binned_means(x: np.ndarray, y: np.ndarray, bins: int = 12) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Geometric bin centres of ``x`` (log-spaced bins), the mean of ``y`` and its count in each non-empty bin."""
    edges = np.geomspace(x.min(), x.max() * (1 + 1e-12), bins + 1)
    k = np.clip(np.searchsorted(edges, x, side="right") - 1, 0, bins - 1)
    cnt = np.bincount(k, minlength=bins)
    mean = np.bincount(k, weights=y, minlength=bins) / np.maximum(cnt, 1)
    keep = cnt > 0
    return np.sqrt(edges[:-1] * edges[1:])[keep], mean[keep], cnt[keep]


def plot_sqrt(cal: Calibration, path: str | Path) -> Path:
    """I/σ_daily vs Q/V, log-log: each parent, binned means, the fit and the default law (PNG, Agg backend).

    Bins whose mean impact is not positive cannot be drawn on a log axis; the legend counts them."""
    from tickreplay.impact.figures import pyplot, save_png

    plt = pyplot()
    s = cal.fit["sample"]
    x = np.asarray(s["x"], np.float64)
    y = np.asarray(s["impact"], np.float64) / np.asarray(s["daily_vol"], np.float64)
    bx, by_, cnt = binned_means(x, y)
    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    pos = y > 0
    ax.scatter(x[pos], y[pos], s=4, alpha=0.25, color="0.5", label=f"parents (I > 0: {pos.sum()} of {len(y)})")
    up = by_ > 0
    ax.plot(bx[up], by_[up], "o", color="C0", label=f"binned means ({(~up).sum()} bins <= 0 not shown)")
    grid = np.geomspace(x.min(), x.max(), 100)
    Y, d = cal.params["Y"], cal.params["delta"]
    ax.plot(grid, predict_impact(grid, np.ones_like(grid), Y, d), "-", color="C3",
            label=f"fit Y = {Y:.3g} [{cal.intervals['Y'][0]:.3g}, {cal.intervals['Y'][1]:.3g}], "
                  f"δ = {d:.3g} [{cal.intervals['delta'][0]:.3g}, {cal.intervals['delta'][1]:.3g}]")
    ax.plot(grid, predict_impact(grid, np.ones_like(grid), sqrt_law.Y, sqrt_law.EXPONENT), "--", color="0.3",
            label="default Y = 1, δ = 0.5")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("Q / V (parent size / ADV)")
    ax.set_ylabel("I / σ_daily (impact in daily volatilities)")
    sc = cal.oos["scores"]
    ax.set_title(f"square-root law, {cal.fit['n_parents']} parents; OOS ({cal.oos['split']}) "
                 f"MAE {sc['mae_bps']:.3g} bps", fontsize=9)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=7)
    return save_png(fig, path)
