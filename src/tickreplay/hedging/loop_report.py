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
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tickreplay.hedging.loop import LoopResult
from tickreplay.io import atomic_path

BOOTSTRAP = 2000
CI_LEVEL = 0.95


def _day_stats(r: LoopResult) -> pd.DataFrame:
    """Per day: hedge cost, hedged P&L, sum and count of per-hedge |error| (bps)."""
    h = r.hedges
    filled = h[h["filled_shares"] > 0] if len(h) else h
    err = filled.groupby("day")["abs_error_bps"].agg(["sum", "count"]) if len(filled) else None
    d = r.days.set_index("day")[["hedge_cost", "hedged_pnl"]].copy()
    d["err_sum"] = 0.0 if err is None else err["sum"].reindex(d.index).fillna(0.0)
    d["err_n"] = 0 if err is None else err["count"].reindex(d.index).fillna(0).astype(int)
    return d


def _stats(d: pd.DataFrame) -> dict[str, float]:
    n = d["err_n"].sum()
    return {"total_hedge_cost": float(d["hedge_cost"].sum()),
            "hedged_pnl_variance": float(d["hedged_pnl"].var(ddof=1)) if len(d) > 1 else float("nan"),
            "mean_abs_error_bps": float(d["err_sum"].sum() / n) if n else float("nan")}


def paired_bootstrap(a: pd.DataFrame, b: pd.DataFrame, seed: int = 0, n: int = BOOTSTRAP) -> dict[str, Any]:
    """Intervals of ``stat(a) − stat(b)`` for each statistic of :func:`_stats`, days resampled in pairs."""
    days = a.index.intersection(b.index)
    a, b = a.loc[days], b.loc[days]
    rng = np.random.default_rng(seed)
    draws = {k: [] for k in _stats(a)}
    for _ in range(n):
        idx = rng.integers(0, len(days), len(days))
        sa, sb = _stats(a.iloc[idx]), _stats(b.iloc[idx])
        for k in draws:
            draws[k].append(sa[k] - sb[k])
    point = {k: _stats(a)[k] - _stats(b)[k] for k in draws}
    q = [(1 - CI_LEVEL) / 2 * 100, (1 + CI_LEVEL) / 2 * 100]
    out = {}
    for k, v in draws.items():
        v = np.asarray(v, dtype=float)
        v = v[np.isfinite(v)]
        lo, hi = (np.percentile(v, q).tolist() if len(v) else [float("nan")] * 2)
        out[k] = {"difference": point[k], "ci": [lo, hi], "ci_level": CI_LEVEL, "days": int(len(days))}
    return out


def error_curve(r: LoopResult) -> pd.DataFrame:
    """Mean per-hedge |predicted − realised| (bps) per day and its running mean over the days so far."""
    d = _day_stats(r)
    out = pd.DataFrame({"day": d.index, "mean_abs_error_bps": np.where(d["err_n"] > 0, d["err_sum"] /
                                                                       d["err_n"].clip(lower=1), np.nan)})
    out["running_mean_abs_error_bps"] = d["err_sum"].cumsum().to_numpy() / d["err_n"].cumsum().clip(lower=1)
    return out.reset_index(drop=True)


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


def _slope(day: np.ndarray, y: np.ndarray) -> float:
    """Least-squares slope of ``y`` on ``day`` (NaN with fewer than two distinct days)."""
    ok = np.isfinite(y)
    d, y = day[ok], y[ok]
    if len(np.unique(d)) < 2:
        return float("nan")
    dc = d - d.mean()
    return float((dc * (y - y.mean())).sum() / (dc * dc).sum())


def error_trend(r: LoopResult, against: LoopResult | None = None, seed: int = 0,
                n: int = BOOTSTRAP) -> dict[str, Any]:
    """Slope (bps per day) of the day's mean per-hedge |predicted − realised| on the day index, and its
    percentile bootstrap interval over days (days resampled, the slope refitted); with ``against``, of the
    paired day difference ``error(r) − error(against)`` (days where both hedged)."""
    a = error_curve(r).set_index("day")["mean_abs_error_bps"]
    if against is not None:
        a = a - error_curve(against).set_index("day")["mean_abs_error_bps"]
    a = a.dropna()
    day, y = a.index.to_numpy(np.float64), a.to_numpy(np.float64)
    rng = np.random.default_rng(seed)
    draws = np.array([_slope(day[i], y[i]) for i in (rng.integers(0, len(y), len(y)) for _ in range(n))])
    draws = draws[np.isfinite(draws)]
    q = [(1 - CI_LEVEL) / 2 * 100, (1 + CI_LEVEL) / 2 * 100]
    lo, hi = np.percentile(draws, q).tolist() if len(draws) else [float("nan")] * 2
    return {"slope_bps_per_day": _slope(day, y), "ci": [lo, hi], "ci_level": CI_LEVEL, "days": int(len(y)),
            "paired_with": None if against is None else against.policy}


def signed_error(r: LoopResult, seed: int = 0, n: int = BOOTSTRAP) -> dict[str, Any]:
    """Mean realised − predicted cost per hedge (bps; > 0: the model under-predicts), bootstrap over days."""
    h = r.hedges[r.hedges["filled_shares"] > 0] if len(r.hedges) else r.hedges
    e = (h["realised_cost_bps"] - h["predicted_cost_bps"]).to_numpy(np.float64)
    g = h["day"].to_numpy()
    days = np.unique(g)
    by = [e[g == d] for d in days]
    rng = np.random.default_rng(seed)
    draws = [np.concatenate([by[i] for i in rng.integers(0, len(by), len(by))]).mean() for _ in range(n)] \
        if len(by) else []
    q = [(1 - CI_LEVEL) / 2 * 100, (1 + CI_LEVEL) / 2 * 100]
    lo, hi = np.percentile(draws, q).tolist() if len(draws) else [float("nan")] * 2
    return {"mean_bps": float(e.mean()) if len(e) else float("nan"), "ci": [lo, hi], "hedges": int(len(e)),
            "days": int(len(days)), "median_abs_bps": float(np.median(np.abs(e))) if len(e) else float("nan")}


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


def _findings(p: str, cmp: dict[str, Any], other: str) -> list[str]:
    out = []
    for k, what in (("total_hedge_cost", "total hedge cost"), ("hedged_pnl_variance", "variance of the hedged P&L"),
                    ("mean_abs_error_bps", "per-hedge prediction error")):
        lo, hi = cmp[k]["ci"]
        out.append(f"{p}: {what} {verdict(lo, hi, other)} (difference {cmp[k]['difference']:.4g}, "
                   f"{CI_LEVEL:.0%} CI [{lo:.4g}, {hi:.4g}] over {cmp[k]['days']} days)")
    return out


def compare(results: dict[str, LoopResult], seed: int = 0) -> dict[str, Any]:
    """The three-policy comparison (module docstring), plus where learning does not pay."""
    stats = {p: _day_stats(r) for p, r in results.items()}
    out: dict[str, Any] = {"policies": {p: {**_stats(d), "eta_sources": eta_sources(results[p])}
                                        for p, d in stats.items()}, "vs_static": {}, "findings": []}
    if "static" in stats:
        for p, d in stats.items():
            if p == "static":
                continue
            cmp = paired_bootstrap(d, stats["static"], seed)
            out["vs_static"][p] = cmp
            out["findings"] += _findings(p, cmp, "static")
    if "regime" in stats and "daily" in stats:
        out["regime_vs_daily"] = paired_bootstrap(stats["regime"], stats["daily"], seed)
        out["findings"] += _findings("regime vs daily", out["regime_vs_daily"], "daily")
    out["signed_error_bps"] = {p: signed_error(r, seed) for p, r in results.items()}
    out["error_trend"] = {p: error_trend(r, seed=seed) for p, r in results.items()}
    if "static" in results:
        out["error_trend_vs_static"] = {p: error_trend(r, results["static"], seed) for p, r in results.items()
                                        if p != "static"}
        for p, t in out["error_trend_vs_static"].items():
            lo, hi = t["ci"]
            trend = "falls" if hi < 0 else "rises" if lo > 0 else "shows no trend distinguishable from zero"
            out["findings"].append(f"{p}: its prediction error minus static's {trend} over the days (slope "
                                   f"{t['slope_bps_per_day']:.3g} bps/day, {CI_LEVEL:.0%} CI [{lo:.3g}, {hi:.3g}])")
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
           **_stats(_day_stats(r)), "eta_sources": eta_sources(r), "updates": int(len(r.calibrations)),
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
    over days (planted gamma marked), cumulative hedge cost and residual risk, prediction error over days."""
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
    return out


def _save(fig, path: Path) -> Path:
    import matplotlib.pyplot as plt

    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
