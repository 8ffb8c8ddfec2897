"""Loop results: the results-store folder, the JSON summary, the three-policy comparison and the figures.

A loop is stored as one folder per policy under a results root, ``<root>/<name>-<policy>/``, holding
``scenario.toml`` (a copy), ``summary.json`` and the Parquet tables ``loop_hedges``, ``loop_days``,
``loop_exposure``, ``loop_calibrations`` and ``loop_decisions`` (one JSON record per decision). The store reads
every Parquet file of a run folder as a view named after it, so ``tickreplay query "SELECT * FROM loop_hedges"``
sees every stored loop (``run_id`` = the folder). Everything is written atomically.

:func:`compare` reports, per policy, the total hedge cost, the variance of the daily hedged P&L and the mean
per-hedge |predicted − realised| cost (bps), and for each learning policy against ``static`` (and ``regime``
against ``daily``) the paired bootstrap interval (resampling days, the same days for both policies) of the
difference; per policy the mean signed error realised − predicted (bps, the bias learning should remove) and the
trend of the prediction error over the days (:func:`error_trend`: the least-squares slope of the day's mean
|error| on the day, bps per day, with a bootstrap interval over days; for a learning policy also the slope of its
error minus ``static``'s on the same day, which removes how hard each day is); and per regime the planted
``gamma`` next to the calibrated one (:func:`tracking_summary`); per policy how many hedges decided with a fallback
or a floored ``eta`` (:func:`eta_sources`). A verdict needs its 95 % interval clear of zero.

Where the days have a counterfactual (:mod:`tickreplay.hedging.oracle`) the same comparison is made for the error
against the **caused** cost, |predicted − caused|, which the price's own move does not swamp, with the learning-curve
statistics of docs/loop.md ("The learning curve"): its trend within regimes (:func:`error_trend`), against
``static``'s, the first vs the second half of the days (:func:`error_halves`) and against the hedges the
calibration learned from (:func:`experience_trend`, :func:`experience_curve` and the statistic for "the error falls
with experience", :func:`experience_change`, with ``static``'s hedges at the same ranks as the control);
:func:`error_figure` and :func:`experience_figure` draw them.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd

from tickreplay.hedging.loop import LoopResult
from tickreplay.io import atomic_path

BOOTSTRAP = 2000
CI_LEVEL = 0.95


#: the two prediction errors, per hedge |predicted − measure| (bps): the column of ``loop_hedges`` and the prefix
#: of the per-day sums; ``caused`` is NaN where the day has no counterfactual (catalog days, routed days)
ERRORS = {"realised": ("abs_error_bps", "err"), "caused": ("abs_caused_error_bps", "cerr")}


def _day_stats(r: LoopResult) -> pd.DataFrame:
    """Per day: regime, hedge cost, hedged P&L, sum and count of per-hedge |error| (bps) of each of
    :data:`ERRORS` (the count: hedges with a finite error)."""
    h = r.hedges
    filled = h[h["filled_shares"] > 0] if len(h) else h
    d = r.days.set_index("day")[["regime", "hedge_cost", "hedged_pnl"]].copy()
    for col, pre in ERRORS.values():
        err = filled.groupby("day")[col].agg(["sum", "count"]) if col in filled and len(filled) else None
        d[f"{pre}_sum"] = 0.0 if err is None else err["sum"].reindex(d.index).fillna(0.0)
        d[f"{pre}_n"] = 0 if err is None else err["count"].reindex(d.index).fillna(0).astype(int)
    return d


def _stats(d: pd.DataFrame) -> dict[str, float]:
    n = d["err_n"].sum()
    return {"total_hedge_cost": float(d["hedge_cost"].sum()),
            "hedged_pnl_variance": float(d["hedged_pnl"].var(ddof=1)) if len(d) > 1 else float("nan"),
            "mean_abs_error_bps": float(d["err_sum"].sum() / n) if n else float("nan")}


def _caused_stats(d: pd.DataFrame) -> dict[str, float]:
    """:func:`_stats` and the mean per-hedge |predicted − caused| (bps; NaN without a counterfactual)."""
    n = d["cerr_n"].sum()
    return {**_stats(d), "mean_abs_caused_error_bps": float(d["cerr_sum"].sum() / n) if n else float("nan")}


def paired_bootstrap(a: pd.DataFrame, b: pd.DataFrame, seed: int = 0, n: int = BOOTSTRAP,
                     stats: Callable[[pd.DataFrame], dict[str, float]] = _stats) -> dict[str, Any]:
    """Intervals of ``stat(a) − stat(b)`` for each statistic of ``stats`` (:func:`_stats`; the comparison uses
    :func:`_caused_stats`), days resampled in pairs."""
    days = a.index.intersection(b.index)
    a, b = a.loc[days], b.loc[days]
    rng = np.random.default_rng(seed)
    draws = {k: [] for k in stats(a)}
    for _ in range(n):
        idx = rng.integers(0, len(days), len(days))
        sa, sb = stats(a.iloc[idx]), stats(b.iloc[idx])
        for k in draws:
            draws[k].append(sa[k] - sb[k])
    point = {k: stats(a)[k] - stats(b)[k] for k in draws}
    return {k: {"difference": point[k], "ci": _interval(v), "ci_level": CI_LEVEL, "days": int(len(days))}
            for k, v in draws.items()}


def error_curve(r: LoopResult) -> pd.DataFrame:
    """Per day: regime, hedges with an error, and for each of :data:`ERRORS` the mean per-hedge |error| (bps;
    NaN on a day without one) and its running mean over the days so far (``mean_abs_error_bps``,
    ``running_mean_abs_error_bps``: vs realised; ``mean_abs_caused_error_bps``, ...: vs caused)."""
    d = _day_stats(r)
    out = pd.DataFrame({"day": d.index, "regime": d["regime"].to_numpy(), "hedges": d["err_n"].to_numpy()})
    for col, pre in ERRORS.values():
        s, n = d[f"{pre}_sum"].to_numpy(np.float64), d[f"{pre}_n"].to_numpy()
        out[f"mean_{col}"] = np.where(n > 0, s / np.maximum(n, 1), np.nan)
        cum_n = np.cumsum(n)
        out[f"running_mean_{col}"] = np.where(cum_n > 0, np.cumsum(s) / np.maximum(cum_n, 1), np.nan)
    return out.reset_index(drop=True)


def hedges_learned(r: LoopResult) -> pd.Series:
    """Per traded hedge (index of ``r.hedges``): how many hedges the calibration it was decided with had learned
    from (the sum of ``n_parents`` over its key's updates up to its ``calibration_id``; 0 for the prior, the file
    calibration and ``static``)."""
    h = r.hedges[r.hedges["filled_shares"] > 0] if len(r.hedges) else r.hedges
    c = r.calibrations
    learned = dict(zip(c["to"], c.groupby("key")["n_parents"].cumsum())) if len(c) else {}
    return h["calibration_id"].map(learned).fillna(0).astype(int)


#: the bins of experience (hedges learned from; ``[edges[k], edges[k+1])``, the last open) and the two ends the
#: fall-with-experience statistic compares: fewer than ``EARLY`` hedges learned (less than a day's worth: the
#: reactive study hedges 4.4 times a day), at least ``LATE`` (over two days' worth)
EXPERIENCE_EDGES = (0, 1, 3, 6, 11, 21)
EARLY, LATE = 3, 11


def hedge_rank(r: LoopResult) -> pd.Series:
    """Per traded hedge (index of ``r.hedges``): how many traded hedges of its regime came before it — the
    experience a per-hedge regime learner would have had, the position used for a policy that never learns."""
    h = r.hedges[r.hedges["filled_shares"] > 0] if len(r.hedges) else r.hedges
    return h.groupby("regime").cumcount().astype(int)


def experience(r: LoopResult, x: str = "learned") -> pd.Series:
    """Per traded hedge its experience: ``learned`` (:func:`hedges_learned`) or ``rank`` (:func:`hedge_rank`)."""
    if x not in ("learned", "rank"):
        raise ValueError(f"experience: x is 'learned' or 'rank', got {x!r}")
    return hedges_learned(r) if x == "learned" else hedge_rank(r)


def experience_axis(policy: str) -> str:
    """The experience axis of a policy: ``rank`` for ``static`` (it learns nothing: its hedges' positions are the
    control), ``learned`` for the others."""
    return "rank" if policy == "static" else "learned"


def _hedge_table(r: LoopResult, x: str) -> pd.DataFrame:
    """Per traded hedge with a finite caused error: day, regime, experience, |predicted − caused|,
    |predicted − realised| and caused − predicted (bps)."""
    h = r.hedges[r.hedges["filled_shares"] > 0] if len(r.hedges) else r.hedges
    if not len(h):
        return pd.DataFrame(columns=["day", "regime", "x", "rank", "ce", "re", "signed"])
    t = pd.DataFrame({"day": h["day"].to_numpy(), "regime": h["regime"].to_numpy(),
                      "x": experience(r, x).to_numpy(), "rank": hedge_rank(r).to_numpy(),
                      "ce": h["abs_caused_error_bps"].to_numpy(np.float64),
                      "re": h["abs_error_bps"].to_numpy(np.float64),
                      "signed": (h["caused_cost_bps"] - h["predicted_cost_bps"]).to_numpy(np.float64)})
    return t[np.isfinite(t["ce"])].reset_index(drop=True)


def _day_regimes(*results: LoopResult) -> tuple[np.ndarray, np.ndarray]:
    """The days all ``results`` ran and each day's regime: the units of every experience bootstrap."""
    d = results[0].days.set_index("day")["regime"]
    for r in results[1:]:
        d = d.loc[d.index.intersection(r.days["day"])]
    return d.index.to_numpy(), d.to_numpy().astype(str)


def _hedge_weights(tables: list[pd.DataFrame], days: np.ndarray, regimes: np.ndarray, seed: int,
                   n: int) -> list[np.ndarray]:
    """Two-stage bootstrap weights, one matrix (draws × hedges) per table: in each draw the days are resampled
    within their regime — the same days for every table (paired by day) — and each drawn day's hedges are
    resampled with replacement, so that a bin whose hedges fall on one day still shows its hedges' spread."""
    rng = np.random.default_rng(seed)
    rows = [[np.flatnonzero(t["day"].to_numpy() == d) for d in days] for t in tables]
    out = [np.zeros((n, len(t))) for t in tables]
    for k in range(n if len(days) else 0):
        counts = np.bincount(_resample(regimes, rng), minlength=len(days))
        for d in np.flatnonzero(counts):
            for rk, w in zip(rows, out):
                if len(rk[d]):
                    w[k, rk[d]] += rng.multinomial(counts[d] * len(rk[d]), np.full(len(rk[d]), 1.0 / len(rk[d])))
    return out


def _means(w: np.ndarray, y: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Per row of weights ``w`` the weighted mean of ``y`` over ``mask`` (NaN where the row weighs none of it)."""
    den = w @ mask.astype(np.float64)
    num = w @ np.where(mask, y, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)


def experience_curve(r: LoopResult, x: str | None = None, edges: tuple[int, ...] = EXPERIENCE_EDGES, seed: int = 0,
                     n: int = BOOTSTRAP) -> pd.DataFrame:
    """Per regime (and ``pooled``: every regime's hedges) and bin of experience (``x``: :func:`experience`, default
    :func:`experience_axis` of the policy): hedges, days, the mean |predicted − caused| (bps) with its bootstrap
    interval (:func:`_hedge_weights`: days resampled within their regime, then hedges within days; draws without
    a hedge in the bin left out), the mean |predicted − realised| and the mean signed caused error (caused −
    predicted, bps: > 0 the model under-predicts)."""
    x = x or experience_axis(r.policy)
    t = _hedge_table(r, x)
    days, regimes = _day_regimes(r)
    w = _hedge_weights([t], days, regimes, seed, n)[0]
    ce, xs, g_all = t["ce"].to_numpy(np.float64), t["x"].to_numpy(), t["regime"].to_numpy()
    rows = []
    for g in sorted(set(g_all)) + ["pooled"]:
        for k, lo in enumerate(edges):
            hi = edges[k + 1] if k + 1 < len(edges) else np.inf
            m = (xs >= lo) & (xs < hi) & ((g_all == g) if g != "pooled" else True)
            if not m.any():
                continue
            b = t[m]
            rows.append({"regime": g, "learned_from": lo, "learned_to": None if hi == np.inf else int(hi),
                         "hedges": int(m.sum()), "days": int(b["day"].nunique()),
                         "mean_abs_caused_error_bps": float(b["ce"].mean()), "ci": _interval(_means(w, ce, m)),
                         "mean_abs_error_bps": float(b["re"].mean()),
                         "mean_caused_minus_predicted_bps": float(b["signed"].mean()), "x": x})
    return pd.DataFrame(rows, columns=["regime", "learned_from", "learned_to", "hedges", "days",
                                       "mean_abs_caused_error_bps", "ci", "mean_abs_error_bps",
                                       "mean_caused_minus_predicted_bps", "x"])


def experience_change(r: LoopResult, against: LoopResult | None = None, seed: int = 0, n: int = BOOTSTRAP,
                      early: int = EARLY, late: int = LATE) -> dict[str, Any]:
    """Does the caused-cost error fall with experience? Within each regime, the mean |predicted − caused| (bps) of
    the hedges with at least ``late`` hedges of experience minus that of the hedges with fewer than ``early``
    (:func:`experience`, each policy on its :func:`experience_axis`; < 0: the error falls), and pooled: the mean of
    the regimes' changes over the regimes with hedges at both ends. With ``against``, the paired difference
    change(r) − change(against), ``against``'s ends taken at the regime ranks (:func:`hedge_rank`) that ``r``'s
    early and late hedges hold — the same positions in the regime, so that a position effect without learning
    cancels (a learner's count of hedges learned trails its rank: hedges in flight, the post-trade wait).
    Bootstrap: :func:`_hedge_weights` (days resampled within their regime, the same
    days for both policies, then hedges within days); a draw without a hedge at an end of a regime that has both
    is left out (``valid_draws``). Also per regime the days of the hedges with little experience
    (``early_days``) and the regime's first day."""
    pair = [r] if against is None else [r, against]
    days, regimes = _day_regimes(*pair)
    tables = [_hedge_table(p, experience_axis(p.policy)) for p in pair]
    tables = [t[t["day"].isin(days)].reset_index(drop=True) for t in tables]
    ones = [np.ones((1, len(t))) for t in tables]
    w = _hedge_weights(tables, days, regimes, seed, n)

    def ends(g: str) -> list[tuple[np.ndarray, np.ndarray]]:
        """Per table the (early, late) masks of regime ``g``: ``r``'s by its experience; ``against``'s at the
        regime ranks ``r``'s early and late hedges hold (the same positions, whatever its own axis)."""
        t = tables[0]
        rg, xs = t["regime"].to_numpy() == g, t["x"].to_numpy()
        out = [(rg & (xs < early), rg & (xs >= late))]
        if against is not None:
            u = tables[1]
            ug, rk = u["regime"].to_numpy() == g, u["rank"].to_numpy()
            out.append(tuple(ug & np.isin(rk, t["rank"].to_numpy()[m]) for m in out[0]))
        return out

    masks = {g: ends(g) for g in set(regimes)}
    keep = sorted(g for g in masks if all(e.any() and lt.any() for e, lt in masks[g]))

    def change(g: str, ws: list[np.ndarray]) -> np.ndarray:
        v = [_means(wk, t["ce"].to_numpy(np.float64), lt) - _means(wk, t["ce"].to_numpy(np.float64), e)
             for t, wk, (e, lt) in zip(tables, ws, masks[g])]
        return v[0] if against is None else v[0] - v[1]

    def pooled(ws: list[np.ndarray]) -> np.ndarray:
        return np.mean([change(g, ws) for g in keep], axis=0) if keep else np.full(len(ws[0]), np.nan)

    pool_draws = pooled(w)
    t0 = tables[0]
    per = {}
    for g in keep:
        rg, xs, ce = t0["regime"].to_numpy() == g, t0["x"].to_numpy(), t0["ce"].to_numpy(np.float64)
        e, lt = rg & (xs < early), rg & (xs >= late)
        per[g] = {"early_bps": float(ce[e].mean()), "late_bps": float(ce[lt].mean()),
                  "early_hedges": int(e.sum()), "late_hedges": int(lt.sum()),
                  "change_bps": float(change(g, ones)[0]), "ci": _interval(change(g, w)),
                  "early_days": sorted(int(d) for d in set(t0.loc[e, "day"])),
                  "first_day": int(days[regimes == g].min())}
    return {"change_bps": float(pooled(ones)[0]), "ci": _interval(pool_draws), "ci_level": CI_LEVEL,
            "valid_draws": int(np.isfinite(pool_draws).sum()), "draws": int(len(pool_draws)), "early": early,
            "late": late, "regimes": per, "x": experience_axis(r.policy),
            "paired_with": None if against is None else against.policy, "days": int(len(days))}


def tracking(r: LoopResult) -> pd.DataFrame:
    """Per regime and update: the calibrated gamma next to the planted one ($/share²), and their gap."""
    c = r.calibrations
    if not len(c):
        return pd.DataFrame(columns=["key", "day", "gamma", "planted_gamma", "gap"])
    planted = r.days.groupby("regime")["planted_gamma"].first()
    out = c[["key", "day", "gamma", "eta"]].copy()
    out["planted_gamma"] = out["key"].map(planted)
    out["gap"] = (out["gamma"] - out["planted_gamma"]).abs()
    return out


def verdict(lo: float, hi: float, other: str) -> str:
    """The rule every finding uses: ``lower`` / ``higher`` when the interval of the difference is clear of zero,
    else ``not distinguishable from <other>``."""
    return "lower" if hi < 0 else "higher" if lo > 0 else f"not distinguishable from {other}"


def _slope(day: np.ndarray, y: np.ndarray, group: np.ndarray | None = None) -> float:
    """Least-squares slope of ``y`` on ``day`` (NaN with fewer than two distinct days); with ``group``, within
    groups (a separate intercept per group: both centred on their group's mean)."""
    ok = np.isfinite(y)
    d, y = day[ok].astype(np.float64), y[ok].astype(np.float64)
    if len(np.unique(d)) < 2:
        return float("nan")
    g = np.zeros(len(d)) if group is None else np.asarray(group)[ok]
    dc, yc = d.copy(), y.copy()
    for k in np.unique(g):
        m = g == k
        dc[m] -= d[m].mean()
        yc[m] -= y[m].mean()
    den = (dc * dc).sum()
    return float((dc * yc).sum() / den) if den > 0 else float("nan")


def _resample(strata: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Indices of one bootstrap draw: within each stratum, as many draws with replacement as it has members."""
    return np.concatenate([rng.choice(np.flatnonzero(strata == s), int((strata == s).sum()))
                           for s in np.unique(strata)])


def _interval(draws: list[float] | np.ndarray) -> list[float]:
    """The percentile interval (``CI_LEVEL``) of the finite ``draws``; NaNs when none is finite."""
    v = np.asarray(draws, dtype=np.float64)
    v = v[np.isfinite(v)]
    q = [(1 - CI_LEVEL) / 2 * 100, (1 + CI_LEVEL) / 2 * 100]
    return np.percentile(v, q).tolist() if len(v) else [float("nan")] * 2


def _day_errors(r: LoopResult, against: LoopResult | None, measure: str) -> pd.DataFrame:
    """Per day with an error: regime and the day's mean |error| of ``measure`` (``realised``/``caused``), or its
    paired difference ``error(r) − error(against)``."""
    col = f"mean_{ERRORS[measure][0]}"
    c = error_curve(r).set_index("day")
    y = c[col]
    if against is not None:
        y = y - error_curve(against).set_index("day")[col]
    return pd.DataFrame({"regime": c["regime"], "y": y}).dropna().reset_index()


def error_trend(r: LoopResult, against: LoopResult | None = None, seed: int = 0, n: int = BOOTSTRAP,
                measure: str = "realised", within_regime: bool = False) -> dict[str, Any]:
    """Slope (bps per day) of the day's mean per-hedge |error| (``measure``: vs ``realised`` or ``caused`` cost)
    on the day index, and its percentile bootstrap interval over days (days resampled, the slope refitted); with
    ``against``, of the paired day difference ``error(r) − error(against)`` (days where both hedged). With
    ``within_regime``, the slope within regimes (an intercept per regime; days resampled within their regime),
    so that a regime's error level does not count as a trend when the regimes' days are not spread evenly."""
    a = _day_errors(r, against, measure)
    day, y = a["day"].to_numpy(np.float64), a["y"].to_numpy(np.float64)
    g = a["regime"].to_numpy() if within_regime else None
    strata = a["regime"].to_numpy() if within_regime else np.zeros(len(a))
    rng = np.random.default_rng(seed)
    draws = [_slope(day[i], y[i], None if g is None else g[i]) for i in (_resample(strata, rng) for _ in range(n))] \
        if len(a) else []
    lo, hi = _interval(draws)
    return {"slope_bps_per_day": _slope(day, y, g), "ci": [lo, hi], "ci_level": CI_LEVEL, "days": int(len(y)),
            "paired_with": None if against is None else against.policy, "measure": measure,
            "within_regime": within_regime}


def error_halves(r: LoopResult, against: LoopResult | None = None, seed: int = 0, n: int = BOOTSTRAP,
                 measure: str = "caused") -> dict[str, Any]:
    """The day's mean |error| (``measure``; with ``against`` the paired day difference) averaged over the first
    and the second half of the days (by day index; an odd middle day goes to the second), and the difference
    second − first with its bootstrap interval (days resampled within their half and regime)."""
    a = _day_errors(r, against, measure)
    days = np.sort(a["day"].unique())
    first = a["day"].isin(days[: len(days) // 2]).to_numpy()
    y = a["y"].to_numpy(np.float64)
    strata = np.char.add(np.where(first, "1:", "2:"), a["regime"].to_numpy().astype(str))

    def diff(i: np.ndarray) -> float:
        f = first[i]
        return float(y[i][~f].mean() - y[i][f].mean()) if f.any() and (~f).any() else float("nan")

    rng = np.random.default_rng(seed)
    lo, hi = _interval([diff(_resample(strata, rng)) for _ in range(n)] if len(a) else [])
    return {"first_half_bps": float(y[first].mean()) if first.any() else float("nan"),
            "second_half_bps": float(y[~first].mean()) if (~first).any() else float("nan"),
            "difference": diff(np.arange(len(y))), "ci": [lo, hi], "ci_level": CI_LEVEL,
            "days": [int(first.sum()), int((~first).sum())], "paired_with": None if against is None else
            against.policy, "measure": measure}


def experience_trend(r: LoopResult, seed: int = 0, n: int = BOOTSTRAP) -> dict[str, Any]:
    """Slope of the per-hedge |predicted − caused| (bps) on ``log2(1 + hedges learned)`` (:func:`hedges_learned`)
    within regimes — bps per doubling of what the calibration learned from —, with its bootstrap interval (days
    resampled within their regime, each with all its hedges); NaN for a policy that never learns."""
    h = r.hedges[r.hedges["filled_shares"] > 0] if len(r.hedges) else r.hedges
    x = np.log2(1.0 + hedges_learned(r).to_numpy(np.float64))
    y = h["abs_caused_error_bps"].to_numpy(np.float64) if len(h) else np.zeros(0)
    g, day = h["regime"].to_numpy(), h["day"].to_numpy()
    days = np.unique(day)
    regime = np.array([g[day == d][0] for d in days])
    rows = [np.flatnonzero(day == d) for d in days]
    rng = np.random.default_rng(seed)
    draws = []
    for _ in range(n if len(days) else 0):
        i = np.concatenate([rows[k] for k in _resample(regime, rng)])
        draws.append(_slope(x[i], y[i], g[i]))
    lo, hi = _interval(draws)
    return {"slope_bps_per_doubling": _slope(x, y, g) if len(x) else float("nan"), "ci": [lo, hi],
            "ci_level": CI_LEVEL, "hedges": int(np.isfinite(y).sum()), "days": int(len(days)),
            "max_learned": int(hedges_learned(r).max()) if len(h) else 0}


def signed_error(r: LoopResult, seed: int = 0, n: int = BOOTSTRAP, measure: str = "realised") -> dict[str, Any]:
    """Mean measured − predicted cost per hedge (bps; > 0: the model under-predicts), ``measure`` the realised or
    the caused cost (hedges with a finite one), bootstrap over days."""
    h = r.hedges[r.hedges["filled_shares"] > 0] if len(r.hedges) else r.hedges
    e = (h[f"{measure}_cost_bps"] - h["predicted_cost_bps"]).to_numpy(np.float64) if len(h) else np.zeros(0)
    g = h["day"].to_numpy()[np.isfinite(e)]
    e = e[np.isfinite(e)]
    days = np.unique(g)
    by = [e[g == d] for d in days]
    rng = np.random.default_rng(seed)
    draws = [np.concatenate([by[i] for i in rng.integers(0, len(by), len(by))]).mean() for _ in range(n)] \
        if len(by) else []
    lo, hi = _interval(draws)
    return {"mean_bps": float(e.mean()) if len(e) else float("nan"), "ci": [lo, hi], "hedges": int(len(e)),
            "days": int(len(days)), "median_abs_bps": float(np.median(np.abs(e))) if len(e) else float("nan"),
            "measure": measure}


def tracking_summary(r: LoopResult) -> dict[str, Any]:
    """Per calibration key: the planted ``gamma`` ($/share²; for the pooled key ``all``, each regime's), the
    calibrated ``gamma`` after the key's last update with its interval, the ratio calibrated / planted and
    whether the planted value is inside the interval; the number of updates."""
    c = r.calibrations
    planted = r.days.groupby("regime")["planted_gamma"].first().dropna().to_dict()
    out: dict[str, Any] = {}
    for key, g in (c.groupby("key", sort=True) if len(c) else []):
        last = g.iloc[-1]
        lo, hi = float(last["gamma_ci_low"]), float(last["gamma_ci_high"])
        ref = planted if key == "all" else {key: planted.get(key, float("nan"))}
        out[key] = {"updates": int(len(g)), "gamma": float(last["gamma"]), "gamma_ci": [lo, hi],
                    "planted_gamma": ref,
                    "ratio": {k: float(last["gamma"]) / v for k, v in ref.items() if v},
                    "planted_inside_ci": {k: bool(lo <= v <= hi) for k, v in ref.items()}}
    return out


def eta_sources(r: LoopResult) -> dict[str, int]:
    """Hedges traded by the source of the ``eta`` they were decided with: ``fit``, ``fallback`` (the fit clamped
    ``eta``, the key's last unclamped one used) and ``floor`` (no usable fallback: the η floor)."""
    h = r.hedges
    done = h[h["filled_shares"] > 0] if len(h) else h
    counts = done["eta_source"].value_counts() if len(done) else {}
    return {k: int(counts.get(k, 0)) for k in ("fit", "fallback", "floor")}


STAT_NAMES = {"total_hedge_cost": "total hedge cost", "hedged_pnl_variance": "variance of the hedged P&L",
              "mean_abs_error_bps": "per-hedge prediction error",
              "mean_abs_caused_error_bps": "per-hedge prediction error of the caused cost"}


def _findings(p: str, cmp: dict[str, Any], other: str) -> list[str]:
    out = []
    for k, what in STAT_NAMES.items():
        lo, hi = cmp[k]["ci"]
        if not np.isfinite(cmp[k]["difference"]):
            out.append(f"{p}: {what} not measured (no day with a counterfactual)")
            continue
        out.append(f"{p}: {what} {verdict(lo, hi, other)} (difference {cmp[k]['difference']:.4g}, "
                   f"{CI_LEVEL:.0%} CI [{lo:.4g}, {hi:.4g}] over {cmp[k]['days']} days)")
    return out


def direction_words(lo: float, hi: float, flat: str) -> str:
    """``falls`` / ``rises`` when the interval ``[lo, hi]`` is clear of zero, else ``flat``."""
    return "falls" if hi < 0 else "rises" if lo > 0 else flat


def trend_words(lo: float, hi: float) -> str:
    """The trend rule (:func:`direction_words` of a slope's interval)."""
    return direction_words(lo, hi, "shows no trend distinguishable from zero")


def _caused_findings(out: dict[str, Any]) -> list[str]:
    """Plain-words findings of the caused-cost statistics of :func:`compare` (docs/loop.md, "The oracle")."""
    lines = []
    for p, t in out["caused_error_trend"].items():
        lo, hi = t["ci"]
        lines.append(f"{p}: its caused-cost prediction error {trend_words(lo, hi)} over the days within regimes "
                     f"(slope {t['slope_bps_per_day']:.3g} bps/day, {CI_LEVEL:.0%} CI [{lo:.3g}, {hi:.3g}])")
    for p, t in out.get("caused_error_trend_vs_static", {}).items():
        lo, hi = t["ci"]
        lines.append(f"{p}: its caused-cost prediction error minus static's {trend_words(lo, hi)} over the days "
                     f"within regimes (slope {t['slope_bps_per_day']:.3g} bps/day, {CI_LEVEL:.0%} CI "
                     f"[{lo:.3g}, {hi:.3g}])")
    for p, t in out.get("caused_error_halves_vs_static", {}).items():
        lo, hi = t["ci"]
        lines.append(f"{p}: its caused-cost prediction error minus static's {trend_words(lo, hi)} from the first "
                     f"half of the days to the second ({t['first_half_bps']:.3g} → {t['second_half_bps']:.3g} bps, "
                     f"difference {t['difference']:.3g}, {CI_LEVEL:.0%} CI [{lo:.3g}, {hi:.3g}])")
    for p, t in out.get("experience_trend", {}).items():
        lo, hi = t["ci"]
        lines.append(f"{p}: its caused-cost prediction error {trend_words(lo, hi)} with the hedges its calibration "
                     f"learned from ({t['slope_bps_per_doubling']:.3g} bps per doubling, {CI_LEVEL:.0%} CI "
                     f"[{lo:.3g}, {hi:.3g}], up to {t['max_learned']} hedges)")
    for p, t in out.get("experience_change", {}).items():
        lines.append(_experience_line(p, t))
    for p, t in out.get("experience_change_vs_static", {}).items():
        lines.append(_experience_line(p, t))
    return lines


def change_words(lo: float, hi: float) -> str:
    """The experience rule (:func:`direction_words` of a change's interval)."""
    return direction_words(lo, hi, "does not change distinguishably from zero")


def _experience_line(p: str, t: dict[str, Any]) -> str:
    """One finding of :func:`experience_change`."""
    lo, hi = t["ci"]
    axis = ("hedges its calibration learned from" if t["x"] == "learned" else
            "the hedge's rank within its regime, the control: it learns nothing")
    who = p if t["paired_with"] is None else f"{p} minus {t['paired_with']}"
    ends = "; ".join(f"{g} {v['early_bps']:.3g} → {v['late_bps']:.3g} bps ({v['early_hedges']} → "
                     f"{v['late_hedges']} hedges, change {v['change_bps']:.3g} [{v['ci'][0]:.3g}, {v['ci'][1]:.3g}])"
                     for g, v in t["regimes"].items()) if t["paired_with"] is None else \
        "; ".join(f"{g} {v['change_bps']:.3g} [{v['ci'][0]:.3g}, {v['ci'][1]:.3g}]" for g, v in t["regimes"].items())
    return (f"{who}: the caused-cost error {change_words(lo, hi)} with experience (x = {axis}; ≥ {t['late']} minus "
            f"< {t['early']}, within regimes): change {t['change_bps']:.3g} bps, {CI_LEVEL:.0%} CI [{lo:.3g}, {hi:.3g}] "
            f"({t['valid_draws']}/{t['draws']} draws); {ends or 'no regime has hedges at both ends'}")


def compare(results: dict[str, LoopResult], seed: int = 0) -> dict[str, Any]:
    """The three-policy comparison (module docstring), plus where learning does not pay."""
    stats = {p: _day_stats(r) for p, r in results.items()}
    out: dict[str, Any] = {"policies": {p: {**_caused_stats(d), "eta_sources": eta_sources(results[p])}
                                        for p, d in stats.items()}, "vs_static": {}, "findings": []}
    if "static" in stats:
        for p, d in stats.items():
            if p == "static":
                continue
            cmp = paired_bootstrap(d, stats["static"], seed, stats=_caused_stats)
            out["vs_static"][p] = cmp
            out["findings"] += _findings(p, cmp, "static")
    if "regime" in stats and "daily" in stats:
        out["regime_vs_daily"] = paired_bootstrap(stats["regime"], stats["daily"], seed, stats=_caused_stats)
        out["findings"] += _findings("regime vs daily", out["regime_vs_daily"], "daily")
    out["signed_error_bps"] = {p: signed_error(r, seed) for p, r in results.items()}
    out["error_trend"] = {p: error_trend(r, seed=seed) for p, r in results.items()}
    static = results.get("static")
    learning = {p: r for p, r in results.items() if p != "static"}
    if static is not None:
        out["error_trend_vs_static"] = {p: error_trend(r, static, seed) for p, r in learning.items()}
        for p, t in out["error_trend_vs_static"].items():
            lo, hi = t["ci"]
            out["findings"].append(f"{p}: its prediction error minus static's {trend_words(lo, hi)} over the days "
                                   f"(slope {t['slope_bps_per_day']:.3g} bps/day, {CI_LEVEL:.0%} CI "
                                   f"[{lo:.3g}, {hi:.3g}])")
    if any(np.isfinite(v["mean_abs_caused_error_bps"]) for v in out["policies"].values()):
        out["signed_caused_error_bps"] = {p: signed_error(r, seed, measure="caused") for p, r in results.items()}
        out["caused_error_trend"] = {p: error_trend(r, seed=seed, measure="caused", within_regime=True)
                                     for p, r in results.items()}
        if static is not None:
            out["caused_error_trend_vs_static"] = {p: error_trend(r, static, seed, measure="caused",
                                                                  within_regime=True) for p, r in learning.items()}
            out["caused_error_halves_vs_static"] = {p: error_halves(r, static, seed) for p, r in learning.items()}
        out["experience_trend"] = {p: experience_trend(r, seed) for p, r in learning.items()
                                   if len(r.calibrations)}
        out["experience_curve"] = {p: experience_curve(r, seed=seed).to_dict("records") for p, r in results.items()}
        out["experience_change"] = {p: experience_change(r, seed=seed) for p, r in results.items()}
        if static is not None:
            out["experience_change_vs_static"] = {p: experience_change(r, static, seed) for p, r in learning.items()}
        out["findings"] += _caused_findings(out)
    out["error_curve"] = {p: error_curve(r).to_dict("records") for p, r in results.items()}
    out["tracking"] = {p: tracking_summary(r) for p, r in results.items() if len(r.calibrations)}
    for p, r in results.items():
        curve = error_curve(r)
        e = curve["mean_abs_error_bps"].dropna().to_numpy()
        if len(e) >= 4:
            half = len(e) // 2
            out.setdefault("error_first_vs_second_half_bps", {})[p] = [float(e[:half].mean()),
                                                                       float(e[half:].mean())]
    return out


def summary(r: LoopResult) -> dict[str, Any]:
    """The JSON summary of one policy's loop."""
    h = r.hedges
    done = h[h["filled_shares"] > 0] if len(h) else h
    routed = len(r.venue_fills) > 0
    out = {"policy": r.policy, "days": int(len(r.days)), "requirements": int(len(h)),
           "hedges": int(len(done)), "paused": int(h["paused"].sum()) if len(h) else 0,
           "unhedged_shares_paused": int(h.loc[h["paused"], "unhedged_shares"].sum()) if len(h) else 0,
           **_caused_stats(_day_stats(r)), "eta_sources": eta_sources(r), "updates": int(len(r.calibrations)),
           "route": sorted(set(h["route"])) if routed else "single",
           "executor": sorted(set(done["executor"])) if len(done) else [],
           "note": "reactive market: each hedge ran inside its generated day, the latent price following the "
                   "planted law; the response to one hedge is not carried into the next"
                   if "reactive market" in set(done["executor"] if len(done) else []) else
                   "routed replay: each day split across the venues; the planted response is one shift of the "
                   "instrument's price, moved by the hedge's fills on every venue (impact-adjusted replay across "
                   "venues); historical flow does not react" if routed else
                   "replay: the market responds to our fills through the impact-adjusted replay only (on "
                   "generated days: the planted response); historical flow does not react"}
    if routed:  # per venue over the loop: shares sent and filled, fills, fees (currency)
        v = r.venue_fills.groupby("venue")[["sent_shares", "filled_shares", "fills", "fees"]].sum()
        out["venues"] = {name: {k: (float(x) if k == "fees" else int(x)) for k, x in row.items()}
                         for name, row in v.iterrows()}
    return out


def write_loop(root: str | Path, name: str, r: LoopResult, scenario_text: str | None = None) -> Path:
    """Write one policy's loop folder under ``root`` (module docstring); replaces an older one atomically."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    final = root / f"{name}-{r.policy}"
    tmp = root / f".{final.name}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    tables = {"loop_hedges": r.hedges, "loop_days": r.days, "loop_exposure": r.exposure,
              "loop_calibrations": r.calibrations,
              "loop_decisions": pd.DataFrame({"hedge": range(len(r.decisions)),
                                              "decision_json": [json.dumps(d) for d in r.decisions]})}
    if len(r.venue_fills):  # routed loops: per hedge and venue
        tables["loop_venue_fills"] = r.venue_fills
    for tname, df in tables.items():
        pq.write_table(pa.Table.from_pandas(df, preserve_index=False), tmp / f"{tname}.parquet")
    (tmp / "summary.json").write_text(json.dumps(summary(r), indent=2, default=float))
    if scenario_text is not None:
        (tmp / "scenario.toml").write_text(scenario_text)
    old = root / f".{final.name}.old"
    if final.exists():
        final.rename(old)
    tmp.rename(final)
    shutil.rmtree(old, ignore_errors=True)
    return final


def write_json(path: str | Path, obj: Any) -> Path:
    """``obj`` as JSON at ``path``, atomically."""
    path = Path(path)
    with atomic_path(path) as tmp:
        Path(tmp).write_text(json.dumps(obj, indent=2, default=float))
    return path


def figures(results: dict[str, LoopResult], folder: str | Path) -> list[Path]:
    """PNG figures: exposure and hedges over time, predicted vs realised cost per hedge, calibration parameters
    over days (planted gamma marked), cumulative hedge cost and residual risk, prediction error over days, and
    the learning curves (:func:`error_figure`, :func:`experience_figure`)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    first = next(iter(results.values()))
    fig, ax = plt.subplots(figsize=(10, 4))
    x = first.exposure
    ax.plot(np.arange(len(x)), x["exposure_shares"], lw=0.8, label="exposure")
    for p, r in results.items():
        ax.plot(np.arange(len(r.exposure)), r.exposure["net_shares"], lw=0.8, label=f"net ({p})")
    ax.set_xlabel("observation (days in order)")
    ax.set_ylabel("shares")
    ax.legend()
    ax.set_title("exposure and hedged net exposure")
    out.append(_save(fig, folder / "exposure_hedges.png"))
    fig, ax = plt.subplots(figsize=(5, 5))
    for p, r in results.items():
        h = r.hedges[r.hedges["filled_shares"] > 0] if len(r.hedges) else r.hedges
        ax.scatter(h["predicted_cost_bps"], h["realised_cost_bps"], s=12, label=p)
    ax.axline((0, 0), slope=1, color="grey", lw=0.8)
    ax.set_xlabel("predicted cost, bps")
    ax.set_ylabel("realised cost (shortfall vs arrival), bps")
    ax.legend()
    out.append(_save(fig, folder / "predicted_vs_realised.png"))
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for p, r in results.items():
        c = r.calibrations
        for key, g in (c.groupby("key") if len(c) else []):
            axes[0].plot(g["day"], g["gamma"], marker=".", label=f"{p} {key}")
            axes[1].plot(g["day"], g["eta"], marker=".", label=f"{p} {key}")
    planted = first.days.groupby("regime")["planted_gamma"].first().dropna()
    for regime, g in planted.items():
        axes[0].axhline(g, ls="--", lw=0.8, color="grey")
        axes[0].annotate(f"planted {regime}", (0, g), fontsize=7)
    axes[0].set_title("gamma ($/share²) by update")
    axes[1].set_title("eta ($·day/share²) by update")
    for a in axes:
        a.set_xlabel("day")
    axes[0].legend(fontsize=7)
    out.append(_save(fig, folder / "calibration_over_days.png"))
    fig, axes = plt.subplots(1, 3, figsize=(14, 4))
    for p, r in results.items():
        axes[0].plot(r.days["day"], r.days["hedge_cost"].cumsum(), label=p)
        axes[1].plot(r.days["day"], r.days["residual_risk_end"], label=p)
        curve = error_curve(r)
        axes[2].plot(curve["day"], curve["running_mean_abs_error_bps"], label=p)
    axes[0].set_title("cumulative hedge cost (currency)")
    axes[1].set_title("residual risk at day end (currency, 1-day sd)")
    axes[2].set_title("running mean |predicted − realised|, bps")
    for a in axes:
        a.set_xlabel("day")
        a.legend()
    out.append(_save(fig, folder / "cost_risk_error.png"))
    out.append(error_figure(results, folder / "error_over_days.png"))
    out.append(experience_figure(results, folder / "error_by_experience.png"))
    return out


def error_figure(results: dict[str, LoopResult], path: str | Path) -> Path:
    """``error_over_days.png``: :func:`draw_learning_curves` on one row of two panels."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(12, 4.2))
    draw_learning_curves(results, axes)
    return _save(fig, Path(path))


def experience_figure(results: dict[str, LoopResult], path: str | Path, seed: int = 0) -> Path:
    """``error_by_experience.png``: :func:`draw_experience_curves`, one panel per regime and one pooled."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = len(set(next(iter(results.values())).days["regime"])) + 1
    fig, axes = plt.subplots(1, n, figsize=(5 * n, 4.2), sharey=True)
    draw_experience_curves(results, list(np.atleast_1d(axes)), seed)
    return _save(fig, Path(path))


def draw_learning_curves(results: dict[str, LoopResult], axes) -> None:
    """The per-day learning curves on two matplotlib axes: per policy the day's mean |predicted − realised| and
    |predicted − caused| (bps) over the days, the regimes' days shaded."""
    from matplotlib.patches import Patch

    first = next(iter(results.values()))
    regimes = first.days["regime"].to_numpy()
    palette = ("#dde8f5", "#f2f2f2", "#f5e6dd", "#e4f2dd")  # cycled: catalog loops may label any number of regimes
    shades = {g: palette[i % len(palette)] for i, g in enumerate(sorted(set(regimes)))}
    for ax in axes[:2]:
        for k, g in enumerate(regimes):
            ax.axvspan(k - 0.5, k + 0.5, color=shades[g], lw=0)
    for p, r in results.items():
        c = error_curve(r)
        axes[0].plot(c["day"], c["mean_abs_error_bps"], marker=".", label=p)
        axes[1].plot(c["day"], c["mean_abs_caused_error_bps"], marker=".", label=p)
    axes[0].set_title("|predicted − realised| (vs the arrival mid), bps")
    axes[1].set_title("|predicted − caused| (vs the day without the hedge), bps")
    for ax in axes[:2]:
        ax.set_xlabel("day (shading: regime)")
        ax.set_ylim(bottom=0)
    lines = axes[0].get_legend_handles_labels()[0]
    axes[0].legend(handles=lines + [Patch(color=c, label=g) for g, c in shades.items()], fontsize=7)


def bin_label(lo: int, hi: int | None) -> str:
    """``0``, ``1–2``, …, ``21+``: a bin of hedges of experience."""
    return f"{lo}+" if hi is None else str(lo) if hi == lo + 1 else f"{lo}–{hi - 1}"


def draw_experience_curves(results: dict[str, LoopResult], axes, seed: int = 0) -> None:
    """The experience curves (:func:`experience_curve`) on one axis per regime and a last one pooled: per policy
    the mean |predicted − caused| (bps) per bin of experience with its 95 % interval over days — the learning
    policies against the hedges their calibration learned from, ``static`` (the control) against the hedge's
    rank within its regime."""
    edges = EXPERIENCE_EDGES
    labels = [bin_label(lo, edges[k + 1] if k + 1 < len(edges) else None) for k, lo in enumerate(edges)]
    curves = {p: experience_curve(r, seed=seed) for p, r in results.items()}
    regimes = sorted(set(next(iter(results.values())).days["regime"])) + ["pooled"]
    for ax, g in zip(axes, regimes):
        for k, (p, c) in enumerate(curves.items()):
            x = c[c["regime"] == g]
            pos = np.array([edges.index(v) for v in x["learned_from"]]) + (k - 1) * 0.08
            ci = np.array(x["ci"].tolist(), dtype=np.float64).reshape(-1, 2)
            y = x["mean_abs_caused_error_bps"].to_numpy(np.float64)
            ax.errorbar(pos, y, yerr=[y - ci[:, 0], ci[:, 1] - y], marker="o", ms=4, capsize=2, color=f"C{k}",
                        ls="--" if p == "static" else "-", label=f"{p} ({experience_axis(p)})")
        ax.set_xticks(range(len(edges)), labels)
        ax.set_xlabel("hedges learned from (static: rank in its regime)")
        ax.set_title(f"|predicted − caused| by experience, {g}")
        ax.set_ylim(bottom=0)
    axes[0].set_ylabel("bps (95 % CI: days, then hedges resampled)")
    axes[0].legend(fontsize=7)


def _save(fig, path: Path) -> Path:
    import matplotlib.pyplot as plt

    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
