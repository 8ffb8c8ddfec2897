"""Time-ordered validation and fitting of the delay model.

:func:`time_split` gives walk-forward folds (or one split at a given time)
that are *purged*: a training example at ``t`` has a label window
``[t, t + label_horizon_ns]`` (the longest delay plus the label horizon),
and no training label window may reach the test window
``[first test t, last test t + label_horizon_ns]``. Walk-forward trains
only on the past, so the rule is ``t_train + label_horizon_ns < first test t``.

:func:`train_model` scores each fold out of sample, then fits the returned
model on every example (the folds estimate how that model does on new data).
The model's ``train_range`` records each training tape (:func:`training_tapes`:
key, content fingerprint, decision range and label horizon), what
``overlay compare`` checks a test tape against.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from tickreplay.errors import ConfigError
from tickreplay.overlay.labels import Dataset
from tickreplay.overlay.model import DEFAULT_ROUNDS, MIN_EXAMPLES, DelayModel

MIN_TEST = 20


def time_split(times_ns: Sequence[int], label_horizon_ns: int, n_folds: int | None = None,
               test_start_ns: int | None = None) -> list[tuple[np.ndarray, np.ndarray]]:
    """(train indices, test indices) per fold, purged (see module docstring).

    ``n_folds``: walk-forward — the examples in time order are cut into
    ``n_folds + 1`` blocks of equal count; fold ``k`` tests block ``k`` and
    trains on the purged past. ``test_start_ns``: one fold testing every
    example at or after it. Give exactly one.
    """
    if (n_folds is None) == (test_start_ns is None):
        raise ConfigError("give exactly one of n_folds and test_start_ns")
    t = np.asarray(times_ns, np.int64)
    h = int(label_horizon_ns)
    if h < 0:
        raise ConfigError(f"label_horizon_ns must be non-negative, got {h}")
    if test_start_ns is not None:
        test = np.flatnonzero(t >= test_start_ns)
        return [(np.flatnonzero(t + h < (t[test].min() if len(test) else test_start_ns)), test)]
    if n_folds < 1:
        raise ConfigError(f"n_folds must be at least 1, got {n_folds}")
    order = np.argsort(t, kind="stable")
    folds = []
    for block in np.array_split(order, n_folds + 1)[1:]:
        test = np.sort(block)
        if len(test) == 0:
            continue
        folds.append((np.flatnonzero(t + h < t[test].min()), test))
    return folds


def label_horizon_ns(dataset: Dataset) -> int:
    """The longest label window of the dataset: its longest delay plus its (longest) label horizon."""
    metas = dataset.meta.get("sources", [dataset.meta])
    return int(max(dataset.delays_ns) + max(m.get("horizon_ns", 0) for m in metas))


def training_tapes(dataset: Dataset) -> list[dict]:
    """Per training tape: ``key``, content ``fingerprint`` (None if not given), ``start_ns``/``end_ns`` (first
    and last decision used) and ``label_horizon_ns`` (its longest delay plus its label horizon), by key."""
    metas = dataset.meta.get("sources", [dataset.meta])
    out = []
    for key in sorted({str(s) for s in dataset.source}):
        mine = [m for m in metas if m.get("source") == key]
        times = dataset.times_ns[dataset.source == key]
        prints = sorted({m["fingerprint"] for m in mine if m.get("fingerprint")})
        if len(prints) > 1:
            raise ConfigError(f"training tape {key}: two different contents under one key ({', '.join(prints)})")
        out.append({"key": key, "fingerprint": prints[0] if prints else None, "start_ns": int(times.min()),
                    "end_ns": int(times.max()),
                    "label_horizon_ns": int(max(dataset.delays_ns) + max((m.get("horizon_ns", 0) for m in mine),
                                                                         default=0))})
    return out


def worse_than_zero(report: dict) -> list[dict]:
    """The delays (> 0) whose out-of-sample error of the extra cost of waiting is worse than predicting zero:
    ``delay_s``, ``mae_extra_bps`` and ``mae_extra_zero_bps`` each (bps)."""
    oos = report["oos"]
    return [{"delay_s": d / 1e9, "mae_extra_bps": oos["mae_extra_bps"][k],
             "mae_extra_zero_bps": oos["mae_extra_zero_bps"][k]}
            for k, d in enumerate(report["delays_ns"])
            if d > 0 and oos["mae_extra_bps"][k] > oos["mae_extra_zero_bps"][k]]


def _fold_scores(model: DelayModel, ds: Dataset, max_delay_ns: int) -> dict:
    Y = ds.Y
    pred = model.predict_costs(ds.X)
    extra_true = Y - Y[:, [0]]
    extra_pred = pred - pred[:, [0]]
    chosen = model.best_delay(ds.X, max_delay_ns)
    k = np.searchsorted(np.asarray(ds.delays_ns), chosen)
    realised = Y[np.arange(len(Y)), k]
    allowed = np.asarray(ds.delays_ns) <= max_delay_ns
    return {
        "n_test": len(ds),
        "mae_cost_bps": np.nanmean(np.abs(pred - Y), axis=0).tolist(),
        "mae_extra_bps": np.nanmean(np.abs(extra_pred - extra_true), axis=0).tolist(),
        "mae_extra_zero_bps": np.nanmean(np.abs(extra_true), axis=0).tolist(),
        "saving_bps": float(np.nanmean(Y[:, 0] - realised)),
        "oracle_saving_bps": float(np.nanmean(Y[:, 0] - np.nanmin(Y[:, allowed], axis=1))),
        "share_delayed": float(np.mean(chosen > 0)),
    }


def train_model(dataset: Dataset, n_folds: int | None = 3, test_start_ns: int | None = None,
                params: dict | None = None, num_boost_round: int = DEFAULT_ROUNDS, margin_bps: float = 0.0,
                min_train: int = MIN_EXAMPLES, min_test: int = MIN_TEST,
                max_delay_ns: int | None = None) -> tuple[DelayModel, dict]:
    """Score walk-forward folds (or one split at ``test_start_ns``) out of sample, then fit on all examples.

    Report: per fold and averaged over folds (weighted by test size), per
    delay: ``mae_cost_bps`` (predicted vs realised cost), ``mae_extra_bps``
    (predicted vs realised extra cost of waiting) next to
    ``mae_extra_zero_bps`` (the error of always predicting no difference —
    the bar a useful model clears); the realised ``saving_bps`` of the
    model's choices against sending now, the ``oracle_saving_bps`` of the
    hindsight-best delay, ``share_delayed``; and the final model's
    ``feature_importance`` (total gain); ``worse_than_zero`` lists the delays
    where ``mae_extra_bps > mae_extra_zero_bps`` (:func:`worse_than_zero`). A fold with fewer than ``min_train``
    training or ``min_test`` test examples is a ConfigError giving the counts.
    """
    ok = np.all(np.isfinite(dataset.Y), axis=1)
    ds = dataset.subset(ok) if not ok.all() else dataset
    horizon = label_horizon_ns(ds)
    max_delay = int(max(ds.delays_ns) if max_delay_ns is None else max_delay_ns)
    folds = time_split(ds.times_ns, horizon, n_folds if test_start_ns is None else None, test_start_ns)
    scores = []
    for f, (tr, te) in enumerate(folds):
        if len(tr) < min_train or len(te) < min_test:
            raise ConfigError(
                f"too little data for the split: fold {f + 1} of {len(folds)} has {len(tr)} training examples "
                f"(after purging label windows of {horizon / 1e9:g} s) and {len(te)} test examples, of "
                f"{len(ds)} in all; at least {min_train} training and {min_test} test examples needed")
        sub = ds.subset(tr)
        model = DelayModel(params, num_boost_round, margin_bps, min_train).fit(sub.X, sub.Y, ds.feature_names,
                                                                               ds.delays_ns)
        fold = _fold_scores(model, ds.subset(te), max_delay)
        fold.update(n_train=len(tr), test_start_ns=int(ds.times_ns[te].min()), test_end_ns=int(ds.times_ns[te].max()))
        scores.append(fold)
    if not scores:
        raise ConfigError(f"too little data for the split: {len(ds)} examples give no test fold")
    w = np.array([s["n_test"] for s in scores], np.float64)
    oos = {key: (np.average([s[key] for s in scores], axis=0, weights=w).tolist())
           for key in ("mae_cost_bps", "mae_extra_bps", "mae_extra_zero_bps", "saving_bps", "oracle_saving_bps",
                       "share_delayed")}
    sources = sorted({str(s) for s in ds.source})
    final = DelayModel(params, num_boost_round, margin_bps, min_train).fit(
        ds.X, ds.Y, ds.feature_names, ds.delays_ns,
        {"start_ns": int(ds.times_ns.min()), "end_ns": int(ds.times_ns.max()), "sources": sources,
         "n_examples": len(ds), "label_horizon_ns": horizon, "tapes": training_tapes(ds)})
    report = {"n_examples": len(ds), "n_dropped_nan": int(np.sum(~ok)), "delays_ns": list(ds.delays_ns),
              "label_horizon_ns": horizon, "folds": scores, "oos": oos,
              "feature_importance": final.feature_importance()}
    report["worse_than_zero"] = worse_than_zero(report)
    return final, report
