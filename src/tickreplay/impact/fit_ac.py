"""Almgren–Chriss temporary (η) and permanent (γ) impact fitted to measured parents, in ACParams units.

A parent of ``X`` shares done over ``T`` days at the constant rate ``v = X/T`` (the straight line, AC at
λ = 0) costs, per share, in the continuous model of :mod:`tickreplay.impact.almgren_chriss`::

    permanent move after the parent   s·(m_post - m_arr) = γ·X                        ($/share)
    shortfall per share               s·(p_avg  - m_arr) = ε + γ·X/2 + η·v            ($/share)

(``s`` the side, prices × the contract multiplier: currency per share or contract). Two regressions, one point
per parent, measured by :mod:`tickreplay.impact.parents` (``m_post`` is the mid ``post_ns`` after the last
fill, 10 minutes by default: the move that persists once the transient part has decayed):

1. **permanent** ``γ`` ($/share²): least squares through the origin of the persisting move on ``X``,
   ``γ = sum w X·move / sum w X²``;
2. **temporary** ``η`` ($·day/share²) and the fixed cost ``ε`` ($/share, the half spread and fees the desk pays):
   least squares with intercept of ``shortfall - γX/2`` on the trading rate ``v`` (shares per day; a day is
   390 minutes, ``parents.TRADING_DAY_NS``, unless ``day_ns`` is given to the measurement).

Parents executed in one instant (``T`` = 0: no trading rate) are left out and counted
(``fit["instant_parents"]``). ``γ`` and ``η`` are kept >= 0 (``fit["clamped"]`` names a clamped one): AC has no
negative impact. Intervals: percentile bootstrap over parents (``B`` = 500, seed 0, as :mod:`.fit_sqrt`), both
regressions refitted on each resample. Out of sample: the split of :func:`.fit_sqrt.oos_split` (by day, else
by parent); scores of the shortfall (bps of the arrival mid) predicted by the training fit, next to the
uncalibrated default — the canonical pre-trade model (:mod:`tickreplay.impact.canonical`, ``k_perm`` 0.10,
``eta`` 0.05, the parent's arrival half spread, participation ``X/(V·T)`` capped at 1) — on the same held-out
parents, and scores of the permanent move (``permanent_scores``; the canonical model predicts no move, so it
has no default there). A fit is of one instrument (γ and η are in its currency and shares).

:class:`CalibratedACModel` prices an order with the fitted η and γ (``estimate --calibration``) and
:func:`ac_frontier` gives its efficient frontier.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from tickreplay.errors import InputError
from tickreplay.impact import almgren_chriss as ac
from tickreplay.impact.calibration import Calibration, new_calibration
from tickreplay.impact.canonical import SESSION_MINUTES, canonical_breakdown
from tickreplay.impact.fit_sqrt import (BOOTSTRAP, CI_LEVEL, MIN_PARENTS, MIN_TRAIN, SEED, bucket_labels,
                                        check_one_instrument, fit_buckets, oos_split, scores)
from tickreplay.impact.frontier import PERIOD_MINUTES, Frontier
from tickreplay.impact.models import MarketInputs, PreTradeOrder

SAMPLE_COLUMNS = ("date", "X", "T", "move", "cost", "m_arr", "adv", "daily_vol", "spread_bps", "bucket",
                  "instrument")


def ac_sample(parents: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """Per-parent quantities of the regressions (:data:`SAMPLE_COLUMNS`, currency per share) and how many
    parents were left out for having no duration."""
    mult = parents["multiplier"].to_numpy(np.float64)
    side = parents["side"].to_numpy(np.float64)
    m_arr = parents["m_arr"].to_numpy(np.float64)
    T = parents["duration_days"].to_numpy(np.float64)
    keep = T > 0
    s = pd.DataFrame({"date": parents["date"].astype(str).to_numpy(object),
                      "X": parents["quantity"].to_numpy(np.float64), "T": T,
                      "move": side * (parents["m_post"].to_numpy(np.float64) - m_arr) * mult,
                      "cost": side * (parents["avg_price"].to_numpy(np.float64) - m_arr) * mult,
                      "m_arr": m_arr * mult, "adv": parents["adv"].to_numpy(np.float64),
                      "daily_vol": parents["daily_vol"].to_numpy(np.float64),
                      "spread_bps": parents["arrival_spread_bps"].to_numpy(np.float64),
                      "bucket": np.full(len(parents), "", object),
                      "instrument": parents["instrument"].astype(str).to_numpy(object)})
    return s[keep].reset_index(drop=True), int((~keep).sum())


def regress(X: np.ndarray, T: np.ndarray, move: np.ndarray, cost: np.ndarray,
            W: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(γ, η, ε) of the two regressions (module docstring) for each row of weights ``W`` (R, n); unclamped."""
    v = X / T
    gamma = (W @ (X * move)) / (W @ (X * X))
    # r = cost - gamma X / 2 = eps + eta v: weighted normal equations, r's sums linear in gamma
    s0, s1, s2 = W.sum(1), W @ v, W @ (v * v)
    sr = W @ cost - gamma / 2 * (W @ X)
    svr = W @ (v * cost) - gamma / 2 * (W @ (v * X))
    det = s0 * s2 - s1 * s1
    eta = (s0 * svr - s1 * sr) / det
    eps = (sr - eta * s1) / s0
    return gamma, eta, eps


def _predict(s: pd.DataFrame, gamma: float, eta: float, eps: float) -> tuple[np.ndarray, np.ndarray]:
    """(shortfall, permanent move) in bps of the arrival mid predicted for each parent of ``s``."""
    X, T, m = (s[c].to_numpy(np.float64) for c in ("X", "T", "m_arr"))
    return (eps + gamma * X / 2 + eta * X / T) / m * 1e4, gamma * X / m * 1e4


def _default_shortfall_bps(s: pd.DataFrame) -> np.ndarray:
    """The canonical model's total cost (bps) of each parent (module docstring)."""
    out = np.empty(len(s))
    for i, (X, T, m, V, sig, spr) in enumerate(zip(*(s[c].to_numpy(np.float64) for c in
                                                     ("X", "T", "m_arr", "adv", "daily_vol", "spread_bps")))):
        out[i] = canonical_breakdown(X, V, spr, sig, min(1.0, X / (V * T)), m)["total_bps"]
    return out


def fit_ac_group(s: pd.DataFrame, weights: np.ndarray | None = None, bootstrap: int = BOOTSTRAP,
                 seed: int = SEED, test: np.ndarray | None = None, split: dict | None = None,
                 where: str = "<parents>", what: str = "the fit") -> dict[str, Any]:
    """One AC fit of a sample: params, intervals, OOS scores (module docstring)."""
    n = len(s)
    if n < MIN_PARENTS:
        raise InputError(where, None, None, f"{what}: {n} parent(s) with a duration; an Almgren–Chriss fit needs "
                                            f"at least {MIN_PARENTS} ({MIN_TRAIN} to fit, the rest held out)")
    X, T, move, cost = (s[c].to_numpy(np.float64) for c in ("X", "T", "move", "cost"))
    w = np.ones(n) if weights is None else np.asarray(weights, dtype=np.float64)
    g, e, f = (float(a[0]) for a in regress(X, T, move, cost, w[None, :]))
    counts = np.random.default_rng(seed).multinomial(n, np.full(n, 1.0 / n), size=bootstrap) * w
    gb, eb, fb = regress(X, T, move, cost, counts)
    q = [(1 - CI_LEVEL) / 2 * 100, (1 + CI_LEVEL) / 2 * 100]
    if test is None:
        split = oos_split(s["date"].to_numpy(object), seed)
        test = split["test"]
    tr = ~test
    gt, et, ft = (float(a[0]) for a in regress(X[tr], T[tr], move[tr], cost[tr], w[tr][None, :]))
    gt, et = max(gt, 0.0), max(et, 0.0)
    held = s[test]
    m = held["m_arr"].to_numpy(np.float64)
    measured_cost = held["cost"].to_numpy(np.float64) / m * 1e4
    measured_move = held["move"].to_numpy(np.float64) / m * 1e4
    pred_cost, pred_move = _predict(held, gt, et, ft)

    def bps_scores(meas: np.ndarray, pred: np.ndarray) -> dict[str, float]:  # scores() works in fractions
        return scores(meas / 1e4, pred / 1e4)

    clamped = [k for k, v in (("gamma", g), ("eta", e)) if v < 0]
    return {"params": {"eta": max(e, 0.0), "gamma": max(g, 0.0), "epsilon": f},
            "intervals": {"eta": tuple(float(v) for v in np.percentile(np.maximum(eb, 0), q)),
                          "gamma": tuple(float(v) for v in np.percentile(np.maximum(gb, 0), q)),
                          "epsilon": tuple(float(v) for v in np.percentile(fb, q))},
            "n_parents": n, "clamped": clamped,
            "oos": {"split": split["split"], "test_days": split.get("test_days", []), "n_train": int(tr.sum()),
                    "n_test": int(test.sum()), "target": "shortfall, bps of the arrival mid",
                    "train_params": {"eta": et, "gamma": gt, "epsilon": ft},
                    "scores": bps_scores(measured_cost, pred_cost),
                    "default_model": "canonical (k_perm 0.10, eta 0.05)",
                    "default_scores": bps_scores(measured_cost, _default_shortfall_bps(held)),
                    "permanent_scores": bps_scores(measured_move, pred_move)}}


def calibrate_ac_sample(s: pd.DataFrame, *, by: str | None = None, weights: np.ndarray | None = None,
                        bootstrap: int = BOOTSTRAP, seed: int = SEED, data: list[dict] | None = None,
                        source: dict | None = None, test: np.ndarray | None = None, split: dict | None = None,
                        extra_fit: dict | None = None, where: str = "<parents>") -> Calibration:
    """The ``almgren-chriss`` :class:`Calibration` of a sample (pooled, then per bucket with ``by``)."""
    pooled = fit_ac_group(s, weights, bootstrap, seed, test, split, where, "all parents")
    buckets = {} if by is None else fit_buckets(s, fit_ac_group, weights, bootstrap, seed, test, split, where,
                                                "clamped")
    fit = {"method": "permanent: LS through 0 of the persisting mid move on X; temporary: LS of shortfall - "
                     "gamma X/2 on v = X/T with intercept epsilon", "units": "ACParams: gamma $/share^2, "
                     "eta $ day/share^2, epsilon $/share", "bootstrap": int(bootstrap), "seed": int(seed),
           "n_parents": pooled["n_parents"], "clamped": pooled["clamped"], "by": by, "buckets": buckets,
           "reference": {"price": float(np.median(s["m_arr"])), "adv": float(np.median(s["adv"])),
                         "daily_vol": float(np.median(s["daily_vol"]))},
           "source": source or {}, "sample": {c: s[c].tolist() for c in SAMPLE_COLUMNS}, **(extra_fit or {})}
    if weights is not None:
        fit["weights"] = [float(v) for v in weights]
    return new_calibration("almgren-chriss", pooled["params"], intervals=pooled["intervals"], ci_level=CI_LEVEL,
                           data=list(data or []), oos=pooled["oos"], fit=fit)


def fit_ac(parents: pd.DataFrame, *, by: str | None = None, bootstrap: int = BOOTSTRAP, seed: int = SEED,
           data: list[dict] | None = None, source: dict | None = None, post_ns: int | None = None,
           where: str = "<parents>") -> Calibration:
    """Fit AC's η and γ to measured parents (:func:`tickreplay.impact.parents.measure_parents`); ``post_ns``:
    the horizon their ``m_post`` was measured at (recorded in the file)."""
    if by != "instrument":
        check_one_instrument(parents, where, "γ and η are in one instrument's currency and shares: filter the file "
                                            "or use --by instrument")
    s, instant = ac_sample(parents)
    extra: dict[str, Any] = {"instant_parents": instant, "post_ns": post_ns,
                             "post_clamped": int(parents["post_clamped"].sum())}
    if by is not None:
        labels, edges = bucket_labels(parents[parents["duration_days"] > 0].reset_index(drop=True), by, where)
        s["bucket"] = labels
        if edges:
            extra["bucket_edges"] = edges
    return calibrate_ac_sample(s, by=by, bootstrap=bootstrap, seed=seed, data=data, source=source,
                               extra_fit=extra, where=where)


def summary(cal: Calibration) -> dict[str, Any]:
    """The flat summary ``calibrate almgren-chriss --json`` prints."""
    o = cal.oos
    out = {"kind": cal.kind, **{k: cal.params[k] for k in ("eta", "gamma", "epsilon") if k in cal.params},
           **{f"{k}_ci": list(v) for k, v in cal.intervals.items()}, "ci_level": cal.ci_level,
           "n_parents": cal.fit["n_parents"], "instant_parents": cal.fit.get("instant_parents", 0),
           "oos_split": o["split"], "oos_n_test": o["n_test"], "oos_r2": o["scores"]["r2"],
           "oos_mae_bps": o["scores"]["mae_bps"], "oos_bias_bps": o["scores"]["bias_bps"],
           "default_oos_r2": o["default_scores"]["r2"], "default_oos_mae_bps": o["default_scores"]["mae_bps"],
           "default_oos_bias_bps": o["default_scores"]["bias_bps"],
           "permanent_oos_r2": o["permanent_scores"]["r2"], "permanent_oos_mae_bps": o["permanent_scores"]["mae_bps"],
           "by": cal.fit.get("by")}
    if cal.fit.get("buckets"):
        out["buckets"] = [{"bucket": k, "n_parents": b["n_parents"], **(
            {"skipped": b["skipped"]} if "skipped" in b else
            {"eta": b["params"]["eta"], "gamma": b["params"]["gamma"], "eta_ci": b["intervals"]["eta"],
             "gamma_ci": b["intervals"]["gamma"], "oos_mae_bps": b["oos"]["scores"]["mae_bps"],
             "default_oos_mae_bps": b["oos"]["default_scores"]["mae_bps"]})}
            for k, b in sorted(cal.fit["buckets"].items())]
    return out


@dataclass(frozen=True)
class CalibratedACModel:
    """Almgren–Chriss with calibrated ``eta`` ($·day/share²) and ``gamma`` ($/share²): the order done on the
    straight line (λ = 0) over its duration at the participation, in 5-minute periods; the half spread of the
    market inputs is AC's fixed cost ε. Valid for the instrument the calibration was fitted on."""

    eta: float
    gamma: float
    name: str = "almgren-chriss"
    total_key: str = "total_bps"

    def params(self, order: PreTradeOrder, market: MarketInputs, risk_aversion: float = 0.0) -> ac.ACParams:
        """The order's :class:`~tickreplay.impact.almgren_chriss.ACParams` (σ = daily vol × price)."""
        days = order.duration_days(market.adv)
        periods = max(1, round(days * SESSION_MINUTES / PERIOD_MINUTES))
        return ac.ACParams(shares=order.order_size, days=days, periods=periods,
                           sigma=market.daily_vol * order.ref_price, eta=self.eta, gamma=self.gamma,
                           epsilon=market.spread_bps / 2 / 1e4 * order.ref_price, risk_aversion=risk_aversion)

    def breakdown(self, order: PreTradeOrder, market: MarketInputs) -> dict[str, float]:
        p = self.params(order, market)
        sol = ac.solve(p)
        to_bps = 1e4 / order.notional
        perm = 0.5 * p.gamma * p.shares**2 * to_bps
        half = p.epsilon * p.shares * to_bps
        total = sol.expected_cost * to_bps
        return {"permanent_bps": perm, "temporary_bps": total - perm - half, "half_spread_bps": half,
                "total_bps": total, "total_dollars": sol.expected_cost, "notional_usd": order.notional,
                "duration_days": p.days, "execution_risk_bps": math.sqrt(sol.variance) * to_bps}


def ac_frontier(order: PreTradeOrder, market: MarketInputs, model: CalibratedACModel, risk_aversion: float = 0.0,
                n: int = 40) -> Frontier:
    """The efficient frontier (bps of the notional) of ``model`` for the order, the chosen λ marked."""
    p = model.params(order, market, risk_aversion)
    grid = np.union1d(ac.risk_aversion_grid(p, n), [p.risk_aversion])
    e, sd = ac.frontier(p, grid)
    to_bps = 1e4 / order.notional
    return Frontier(grid, e * to_bps, sd * to_bps, int(np.searchsorted(grid, p.risk_aversion)))
