"""The micro-delay overlay's learning side: counterfactual labels, the LightGBM delay model, its training.

Modules: :mod:`.labels` (costs of each delay through the engine), :mod:`.model`
(:class:`DelayModel`), :mod:`.train` (time-ordered validation and fitting),
:mod:`.stats` (paired bootstrap statistics). What runs in the engine — the
features the trader can compute and :class:`~tickreplay.trader.OverlayExecutor` —
is on the trader's side (:mod:`tickreplay.trader`); the held-out comparison of
policies is an experiment (:mod:`tickreplay.experiment.evaluate`).
"""

from tickreplay.overlay.labels import Dataset, build_dataset, counterfactual_costs
from tickreplay.overlay.model import DelayModel
from tickreplay.overlay.train import time_split, train_model

__all__ = ["Dataset", "DelayModel", "build_dataset", "counterfactual_costs", "time_split", "train_model"]
