"""The router comparison inside the hedging loop: the same days, exposure and learning policy, one loop per router
(docs/loop.md, *Router comparison*; ``tickreplay loop SCENARIO --compare-routers``).

:func:`run_routers` runs :func:`~tickreplay.hedging.loop.run_loop` once per router of ``[loop.router] compare``
(:attr:`~tickreplay.hedging.loop_config.LoopConfig.router_compare`, the first the baseline) with the
:class:`~tickreplay.hedging.executors.RoutedExecutor` of that router, on the same generated days (each split
across the venues, the planted response one shift across them) and the same exposure path. With a learning policy
the router changes what the calibration learns, so the loops' paths diverge (other hedges, other calibrations):
that is the comparison of the whole loop. With ``static`` only the execution differs (the decisions still
diverge through the hedge position the fills leave).

:func:`compare_routers` reports per router the total hedge cost (currency), the variance of the daily hedged P&L
(currency²), the mean per-hedge |predicted − realised| (bps), the fees (currency), the shares filled and left
unfilled (a router that fills less pays less execution shortfall — the hedge cost counts filled shares only — and
leaves more exposure, which the hedged P&L carries; ``opportunity_cost`` records the unfilled part), the share
filled passively, the mean ``market_impact_bps`` per hedge, the calibrations' end state against the planted
``gamma`` (:func:`~tickreplay.hedging.loop_report.tracking_summary`: with learning, what each router's loop learned),
and per venue the loop's hedges' TCA (fills, shares, fees, passive fill rate, size-weighted markouts), and against the
baseline the paired bootstrap intervals over days of the difference — :func:`~tickreplay.hedging.loop_report.
paired_bootstrap` (the three-policy comparison's statistics) and, for the fees, the same day resamples (same seed,
same draws) of the fees' total — each with :func:`~tickreplay.hedging.loop_report.verdict`'s rule (lower / higher
only when the 95 % interval is clear of zero).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tickreplay.hedging.executors import Day, RoutedExecutor
from tickreplay.hedging.exposure import ExposurePath
from tickreplay.hedging.loop import LoopResult, load_exposure, run_loop
from tickreplay.hedging.loop_config import LoopConfig
from tickreplay.hedging.loop_report import (BOOTSTRAP, CI_LEVEL, _day_stats, _stats, paired_bootstrap, signed_error,
                                            tracking_summary, verdict)

NS = 1_000_000_000
STATS = {"total_hedge_cost": "total hedge cost", "hedged_pnl_variance": "variance of the hedged P&L",
         "mean_abs_error_bps": "per-hedge prediction error", "fees": "fees"}


def router_policy(spec: Any):
    """The :class:`~tickreplay.venues.router_strategy.RouterPolicy` of a ``[loop.router]`` spec (horizon in s)."""
    from tickreplay.venues.router_strategy import RouterPolicy

    return RouterPolicy(spec.policy, spec.venue, round(spec.horizon_s * NS), spec.lambda_under_ticks,
                        spec.lambda_over_ticks, spec.n_windows)


def run_routers(cfg: LoopConfig, policy: str | None = None, days: list[Day] | None = None,
                exposure: ExposurePath | None = None) -> tuple[dict[str, LoopResult], dict[str, float]]:
    """One loop per router of ``cfg.router_compare`` with learning ``policy`` (default: the scenario's) on the same
    days and exposure: ({router label: LoopResult}, {router label: CPU seconds of its loop}). Each result's
    ``days`` gains the ``route`` column (the router's label), so the stored tables group by router."""
    from tickreplay.errors import ConfigError
    from tickreplay.hedging.executors import load_days

    if cfg.router is None or not cfg.router_compare:
        raise ConfigError(f"{cfg.where()}: the router comparison needs '[loop.router]' with '[[loop.venues]]'")
    days = load_days(cfg) if days is None else days
    exposure = load_exposure(cfg, days) if exposure is None else exposure
    results, cpu = {}, {}
    for spec in cfg.router_compare:
        executor = RoutedExecutor(router_policy(spec), cfg.seed)
        t0 = time.process_time()
        r = run_loop(cfg, policy, days=days, exposure=exposure, executor=executor)
        cpu[executor.policy.label] = time.process_time() - t0
        r.days = r.days.assign(route=executor.policy.label)
        results[executor.policy.label] = r
    return results, cpu


def _days(r: LoopResult) -> pd.DataFrame:
    """The day statistics of :func:`loop_report.paired_bootstrap` plus the day's fees (currency)."""
    d = _day_stats(r)
    vf = r.venue_fills
    fees = vf.groupby("day")["fees"].sum() if len(vf) else pd.Series(dtype=float)
    d["fees"] = fees.reindex(d.index).fillna(0.0)
    return d


def _paired_total(a: pd.Series, b: pd.Series, seed: int, n: int) -> dict[str, Any]:
    """Interval of ``sum(a) − sum(b)`` over days resampled in pairs with :func:`paired_bootstrap`'s draws (same
    seed, same sequence of day indices)."""
    days = a.index.intersection(b.index)
    a, b = a.loc[days].to_numpy(np.float64), b.loc[days].to_numpy(np.float64)
    rng = np.random.default_rng(seed)
    draws = []
    for _ in range(n):
        idx = rng.integers(0, len(days), len(days))
        draws.append(a[idx].sum() - b[idx].sum())
    q = [(1 - CI_LEVEL) / 2 * 100, (1 + CI_LEVEL) / 2 * 100]
    lo, hi = np.percentile(draws, q).tolist() if draws else [float("nan")] * 2
    return {"difference": float(a.sum() - b.sum()), "ci": [lo, hi], "ci_level": CI_LEVEL, "days": int(len(days))}


def venue_summary(r: LoopResult) -> dict[str, dict[str, Any]]:
    """Per venue over the loop's hedges: shares sent and filled, fills, fees (currency), maker and taker shares, the
    passive fill rate (maker-filled over the passive orders' quantity; None without passive orders) and the
    markouts (bps, weighted by the shares each hedge filled there; None where no fill has one)."""
    vf = r.venue_fills
    out: dict[str, dict[str, Any]] = {}
    if not len(vf):
        return out
    marks = [c for c in vf.columns if c.startswith("markout_")]
    for venue, g in vf.groupby("venue", sort=False):
        w = g["filled_shares"].to_numpy(np.float64)
        row: dict[str, Any] = {k: int(g[c].sum()) for k, c in (("sent_shares", "sent_shares"),
                                                              ("filled_shares", "filled_shares"), ("fills", "fills"))}
        row["fees"] = float(g["fees"].sum())
        if "maker_shares" in g.columns:
            pq_ = int(g["passive_quantity"].sum())
            row.update(maker_shares=int(g["maker_shares"].sum()), taker_shares=int(g["taker_shares"].sum()),
                       passive_orders=int(g["passive_orders"].sum()),
                       passive_fill_rate=float(g["passive_filled"].sum()) / pq_ if pq_ else None)
        for c in marks:
            v = g[c].to_numpy(np.float64)
            ok = np.isfinite(v) & (w > 0)
            row[c] = float(v[ok] @ w[ok] / w[ok].sum()) if ok.any() else None
        out[str(venue)] = row
    return out


def _router_stats(r: LoopResult, d: pd.DataFrame, seed: int) -> dict[str, Any]:
    h = r.hedges
    done = h[h["filled_shares"] > 0] if len(h) else h
    vf = r.venue_fills
    filled = int(vf["filled_shares"].sum()) if len(vf) else 0
    maker = int(vf["maker_shares"].sum()) if len(vf) and "maker_shares" in vf.columns else 0
    traded = h[h["traded_shares"] > 0] if len(h) else h
    return {**_stats(d), "fees": float(d["fees"].sum()), "hedges": int(len(done)),
            "filled_shares": int(done["filled_shares"].sum()) if len(done) else 0,
            "unfilled_shares": int((traded["traded_shares"] - traded["filled_shares"]).sum()) if len(traded) else 0,
            "opportunity_cost": float(traded["opportunity_cost"].sum()) if len(traded) else 0.0,
            "passive_share": maker / filled if filled else None,
            "market_impact_bps": float(np.nanmean(done["market_impact_bps"])) if len(done) else None,
            "signed_error_bps": signed_error(r, seed), "updates": int(len(r.calibrations)),
            "tracking": tracking_summary(r) if len(r.calibrations) else {}, "venues": venue_summary(r)}


def compare_routers(results: dict[str, LoopResult], baseline: str | None = None, seed: int = 0,
                    n: int = BOOTSTRAP) -> dict[str, Any]:
    """The router comparison (module docstring): per router its statistics, against ``baseline`` (default: the
    first router) the paired intervals over days and a finding per statistic."""
    labels = list(results)
    baseline = baseline or labels[0]
    if baseline not in results:
        raise ValueError(f"baseline router {baseline!r} not among the routers run: {labels}")
    days = {p: _days(r) for p, r in results.items()}
    policy = next(iter(results.values())).policy
    out: dict[str, Any] = {"policy": policy, "baseline": baseline, "routers": labels,
                           "stats": {p: _router_stats(results[p], days[p], seed) for p in labels},
                           "vs_baseline": {}, "verdicts": {}, "findings": []}
    for p in labels:
        if p == baseline:
            continue
        cmp = paired_bootstrap(days[p], days[baseline], seed, n)
        cmp["fees"] = _paired_total(days[p]["fees"], days[baseline]["fees"], seed, n)
        out["vs_baseline"][p] = cmp
        out["verdicts"][p] = {k: verdict(*cmp[k]["ci"], baseline) for k in STATS}
        for k, what in STATS.items():
            lo, hi = cmp[k]["ci"]
            out["findings"].append(f"{p} ({policy}): {what} {out['verdicts'][p][k]} (difference "
                                   f"{cmp[k]['difference']:.4g}, {CI_LEVEL:.0%} CI [{lo:.4g}, {hi:.4g}] over "
                                   f"{cmp[k]['days']} days)")
    return out


def router_figure(cmp: dict[str, Any], results: dict[str, LoopResult], path: str | Path) -> Path:
    """PNG: per statistic the difference against the baseline with its 95 % interval, and each router's cumulative
    hedge cost over the days."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    others = [p for p in cmp["routers"] if p != cmp["baseline"]]
    fig, axes = plt.subplots(1, len(STATS) + 1, figsize=(4 * (len(STATS) + 1), 3.6))
    for ax, (k, what) in zip(axes, STATS.items()):
        d = [cmp["vs_baseline"][p][k]["difference"] for p in others]
        lo = [cmp["vs_baseline"][p][k]["ci"][0] for p in others]
        hi = [cmp["vs_baseline"][p][k]["ci"][1] for p in others]
        ax.bar(others, d, yerr=[np.subtract(d, lo), np.subtract(hi, d)], capsize=4)
        ax.axhline(0, color="k", lw=0.8)
        ax.set_title(f"{what}\nminus {cmp['baseline']} (95% CI)", fontsize=9)
    for p, r in results.items():
        axes[-1].plot(r.days["day"], r.days["hedge_cost"].cumsum(), marker=".", label=p)
    axes[-1].set_title(f"cumulative hedge cost ({cmp['policy']})", fontsize=9)
    axes[-1].set_xlabel("day")
    axes[-1].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
