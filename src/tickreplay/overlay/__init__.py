"""The micro-delay overlay: features from the trader's view, counterfactual labels, a LightGBM delay model,
and the executor that delays child orders by the model's choice.

Modules: :mod:`.features` (what the trader could see), :mod:`.labels` (costs of
each delay through the engine), :mod:`.model` (:class:`DelayModel`),
:mod:`.policy` (:class:`OverlayExecutor`), :mod:`.train` (time-ordered
validation and fitting).
"""

from tickreplay.overlay.features import FEATURE_NAMES, compute_features
from tickreplay.overlay.labels import (DEFAULT_DELAYS_NS, DEFAULT_DELAYS_S, Dataset, build_dataset,
                                       counterfactual_costs)
from tickreplay.overlay.model import DelayModel
from tickreplay.overlay.policy import Decision, OverlayExecutor
from tickreplay.overlay.train import time_split, train_model

__all__ = ["DEFAULT_DELAYS_NS", "DEFAULT_DELAYS_S", "Dataset", "Decision", "DelayModel", "FEATURE_NAMES",
           "OverlayExecutor", "build_dataset", "compute_features", "counterfactual_costs", "time_split", "train_model"]
