"""The delay model: LightGBM regressors predicting the cost of each delay of the grid.

Design: one LightGBM booster per delay. Booster 0 predicts the cost (bps)
of sending now; booster ``k`` (delay ``d_k > 0``) predicts the *extra cost
of waiting*, ``cost(d_k) - cost(0)`` — a paired difference, far less noisy
than either cost, and exactly what the decision needs. ``predict_costs``
adds them back. :meth:`DelayModel.best_delay` waits only when the predicted
saving of the best allowed delay exceeds ``margin_bps``.

Storage (never pickle): a folder with one LightGBM text model file per
delay (``booster_<k>.txt``) and ``model.json``, a sidecar with the feature
names, the delay grid, the margin, the LightGBM parameters and the training
data's ranges (``train_range``: times, sources and, per training tape, its key,
content fingerprint, decision range and label horizon under ``tapes``). :meth:`DelayModel.load` refuses a model whose
features or delay grid differ from what the caller expects, saying what differs.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

import lightgbm as lgb
import numpy as np

from tickreplay.checks import list_mismatch
from tickreplay.errors import ConfigError
from tickreplay.io import atomic_dir, json_text

FORMAT = "tickreplay.overlay.DelayModel/1"
SIDECAR = "model.json"
DEFAULT_PARAMS = {
    "objective": "regression", "learning_rate": 0.02, "num_leaves": 7, "min_data_in_leaf": 100,
    "feature_fraction": 0.9, "bagging_fraction": 1.0, "lambda_l2": 1.0, "verbose": -1, "num_threads": 1,
    "deterministic": True, "force_row_wise": True, "seed": 0,
}
DEFAULT_ROUNDS = 200
# small, slow trees: the labels are noisy (on a generated day these beat num_leaves 15 / min_data_in_leaf 20 /
# learning_rate 0.05 out of sample; benchmarks/bench_overlay.py)
MIN_EXAMPLES = 50


class DelayModel:
    """Predicts each delay's cost from the features; chooses the delay (see module docstring)."""

    def __init__(self, params: dict | None = None, num_boost_round: int = DEFAULT_ROUNDS, margin_bps: float = 0.0,
                 min_examples: int = MIN_EXAMPLES) -> None:
        self.params = {**DEFAULT_PARAMS, **(params or {})}
        self.num_boost_round = int(num_boost_round)
        self.margin_bps = float(margin_bps)
        self.min_examples = int(min_examples)
        self.boosters: list[lgb.Booster] = []
        self.feature_names: tuple[str, ...] = ()
        self.delays_ns: tuple[int, ...] = ()
        self.train_range: dict = {}

    # -- fitting -------------------------------------------------------------
    def fit(self, X: np.ndarray, Y: np.ndarray, feature_names: Sequence[str], delays_ns: Sequence[int],
            train_range: dict | None = None) -> "DelayModel":
        """Fit on features ``X`` (n, f) and costs ``Y`` (n, k) in bps for ``delays_ns`` (``delays_ns[0] == 0``).

        ``train_range``: what the data was (e.g. ``{"start_ns", "end_ns", "sources"}``), kept in the sidecar.
        Rows with a NaN cost at delay 0 (or at delay k, for booster k) are not used.
        """
        X, Y = np.asarray(X, np.float64), np.asarray(Y, np.float64)
        delays = tuple(int(d) for d in delays_ns)
        if X.ndim != 2 or X.shape[1] != len(feature_names):
            raise ConfigError(f"X has shape {X.shape}, expected (n, {len(feature_names)}) for the feature names")
        if Y.shape != (len(X), len(delays)):
            raise ConfigError(f"Y has shape {Y.shape}, expected ({len(X)}, {len(delays)}) for the delay grid")
        if not delays or delays[0] != 0:
            raise ConfigError(f"the delay grid must start at 0 (send now), got {list(delays)}")
        usable = int(np.sum(np.all(np.isfinite(Y), axis=1)))
        if usable < self.min_examples:
            raise ConfigError(f"too little data to train: {usable} examples with finite costs at every delay, "
                              f"at least {self.min_examples} needed")
        self.feature_names, self.delays_ns = tuple(feature_names), delays
        self.train_range = dict(train_range or {})
        self.boosters = []
        for k in range(len(delays)):
            y = Y[:, 0] if k == 0 else Y[:, k] - Y[:, 0]
            ok = np.isfinite(y)
            data = lgb.Dataset(X[ok], y[ok], feature_name=list(self.feature_names), free_raw_data=True)
            self.boosters.append(lgb.train(self.params, data, num_boost_round=self.num_boost_round))
        return self

    def _need_fitted(self) -> None:
        if not self.boosters:
            raise ConfigError("the delay model is not fitted")

    # -- prediction ----------------------------------------------------------
    def predict_extra(self, X: np.ndarray) -> np.ndarray:
        """Predicted ``cost(d) - cost(0)`` in bps, ``(n, n_delays)`` (column 0 is zero; negative = saving)."""
        self._need_fitted()
        X = np.atleast_2d(np.asarray(X, np.float64))
        if X.shape[1] != len(self.feature_names):
            raise ConfigError(f"X has {X.shape[1]} features, the model {len(self.feature_names)}")
        out = np.zeros((len(X), len(self.delays_ns)))
        for k in range(1, len(self.delays_ns)):
            out[:, k] = self.boosters[k].predict(X, num_threads=1)
        return out

    def predict_costs(self, X: np.ndarray) -> np.ndarray:
        """Predicted cost in bps of each delay, ``(n, n_delays)``."""
        X = np.atleast_2d(np.asarray(X, np.float64))
        extra = self.predict_extra(X)
        return extra + self.boosters[0].predict(X, num_threads=1)[:, None]

    def best_delay(self, X: np.ndarray, max_delay_ns: int, slack_ns: int | np.ndarray | None = None) -> np.ndarray:
        """Delay (ns) per row: the allowed delay (≤ ``max_delay_ns`` and ≤ ``slack_ns``) of least predicted cost,
        or 0 unless its predicted saving over sending now exceeds ``margin_bps``."""
        extra = self.predict_extra(X)
        delays = np.asarray(self.delays_ns, np.int64)
        cap = np.full(len(extra), int(max_delay_ns), np.int64)
        if slack_ns is not None:
            cap = np.minimum(cap, np.asarray(slack_ns, np.int64))
        allowed = delays[None, :] <= cap[:, None]
        allowed[:, 0] = True
        masked = np.where(allowed, extra, np.inf)
        k = np.argmin(masked, axis=1)
        saving = -masked[np.arange(len(k)), k]
        return np.where(saving > self.margin_bps, delays[k], 0).astype(np.int64)

    def feature_importance(self) -> dict[str, float]:
        """Total gain per feature over all boosters, largest first."""
        self._need_fitted()
        gain = sum(b.feature_importance(importance_type="gain") for b in self.boosters)
        pairs = sorted(zip(self.feature_names, (float(g) for g in gain)), key=lambda p: -p[1])
        return dict(pairs)

    # -- storage -------------------------------------------------------------
    def save(self, path: str | Path) -> Path:
        """Write the model folder (LightGBM text models + ``model.json``) atomically; returns it."""
        self._need_fitted()
        path = Path(path)
        files = [f"booster_{k}.txt" for k in range(len(self.boosters))]
        side = {"format": FORMAT, "feature_names": list(self.feature_names), "delays_ns": list(self.delays_ns),
                "targets": ["cost(0) bps"] + [f"cost({d} ns) - cost(0) bps" for d in self.delays_ns[1:]],
                "margin_bps": self.margin_bps, "params": self.params, "num_boost_round": self.num_boost_round,
                "min_examples": self.min_examples, "train_range": self.train_range, "files": files}
        with atomic_dir(path) as tmp:
            for name, b in zip(files, self.boosters):
                b.save_model(str(tmp / name))
            (tmp / SIDECAR).write_text(json_text(side, indent=2))
        return path

    @classmethod
    def load(cls, path: str | Path, expect_features: Sequence[str] | None = None,
             expect_delays: Sequence[int] | None = None) -> "DelayModel":
        """Read a saved model; ConfigError naming the difference when features or delay grid are not as expected."""
        path = Path(path)
        side_path = path / SIDECAR
        if not side_path.exists():
            raise ConfigError(f"{path}: not a delay model folder (no {SIDECAR})")
        try:
            side = json.loads(side_path.read_text())
        except json.JSONDecodeError as err:
            raise ConfigError(f"{side_path}: not valid JSON ({err})") from None
        if side.get("format") != FORMAT:
            raise ConfigError(f"{side_path}: format {side.get('format')!r}, expected {FORMAT!r}")
        problems = []
        if expect_features is not None:
            problems.append(list_mismatch("feature list", side["feature_names"], expect_features))
        if expect_delays is not None:
            problems.append(list_mismatch("delay grid (ns)", side["delays_ns"], [int(d) for d in expect_delays]))
        problems = [p for p in problems if p]
        if problems:
            raise ConfigError(f"{path}: " + "; ".join(problems))
        m = cls(side["params"], side["num_boost_round"], side["margin_bps"], side["min_examples"])
        m.feature_names = tuple(side["feature_names"])
        m.delays_ns = tuple(int(d) for d in side["delays_ns"])
        m.train_range = side["train_range"]
        m.boosters = [lgb.Booster(model_file=str(path / f)) for f in side["files"]]
        if len(m.boosters) != len(m.delays_ns):
            raise ConfigError(f"{side_path}: {len(m.boosters)} model files for {len(m.delays_ns)} delays")
        return m
