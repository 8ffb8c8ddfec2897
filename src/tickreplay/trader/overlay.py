"""The overlay executor: a schedule's children, each sent now or a little later by the model's choice.

:class:`OverlayExecutor` is a :class:`~tickreplay.trader.executor.ChildOrderExecutor`
whose children are first *decided*: at a child's scheduled time ``t`` it
computes the features from ``ctx.view`` (the trader's view then), asks the
model (or a ``chooser``) for a delay ``d`` and sends the child at ``t + d``
exactly as the static executor would have sent it then (same pricing,
re-pricing and sweep rules).

Schedule safety: ``d`` never exceeds ``max_delay_ns``, the child's slack
(time to the next child's scheduled time; for the last child, to
``end_ns``) or the time left in the run, so a delayed child is always sent —
never dropped — and the parent completes as the static one would, or the
unfilled part shows in the order log like any unfilled child's.

With no model and no chooser, or ``max_delay_ns == 0``, the executor *is*
the static one: it schedules and sends exactly the same timers and orders,
so runs are byte-identical.

A ``chooser(child_index, features, t_ns) -> delay_ns`` replaces the model
(a random placebo, a hindsight oracle): its answer is capped as above and
snapped down to the delay grid.
"""

from __future__ import annotations

import bisect
from typing import Callable, NamedTuple, Protocol, Sequence

import numpy as np
import pandas as pd

from tickreplay.engine import Context
from tickreplay.checks import list_mismatch
from tickreplay.errors import ConfigError
from tickreplay.trader.executor import ChildOrderExecutor
from tickreplay.trader.features import FEATURE_NAMES, compute_features
from tickreplay.schedule.base import ChildOrder

NS = 1_000_000_000
DEFAULT_DELAYS_S = (0, 0.5, 1, 2, 5, 10)  #: the delay grid, seconds
DEFAULT_DELAYS_NS = tuple(round(d * NS) for d in DEFAULT_DELAYS_S)

Chooser = Callable[[int, np.ndarray, int], int]


class DelayPredictor(Protocol):
    """What the executor needs of a delay model (:class:`tickreplay.overlay.DelayModel` is one)."""

    feature_names: Sequence[str]
    delays_ns: Sequence[int]

    def best_delay(self, features: np.ndarray, max_delay_ns: int) -> np.ndarray:
        """Per row of ``features``: the delay (ns, on the grid, at most ``max_delay_ns``) predicted cheapest."""


class Decision(NamedTuple):
    """One child's decision: when it was due, its slack, the delay chosen (ns) and the features seen."""

    child_index: int
    time_ns: int
    slack_ns: int
    delay_ns: int
    features: np.ndarray


class OverlayExecutor(ChildOrderExecutor):
    """Send ``children`` on ``side``, each delayed by the model's (or ``chooser``'s) choice; see module docstring."""

    def __init__(self, side: int, children: Sequence[ChildOrder], model: DelayPredictor | None = None,
                 max_delay_ns: int = 0, delays_ns: Sequence[int] | None = None, chooser: Chooser | None = None,
                 end_ns: int | None = None, replace_after_ns: int = 30_000_000_000, max_replaces: int | None = None,
                 finish_with_market: bool = False) -> None:
        super().__init__(side, children, replace_after_ns, max_replaces, finish_with_market)
        if model is not None and chooser is not None:
            raise ConfigError("give a model or a chooser, not both")
        if max_delay_ns < 0:
            raise ConfigError(f"max_delay_ns must be non-negative, got {max_delay_ns}")
        grid = tuple(int(d) for d in (delays_ns if delays_ns is not None else
                                      (model.delays_ns if model is not None else DEFAULT_DELAYS_NS)))
        if model is not None:
            problems = [p for p in (list_mismatch("feature list", model.feature_names, FEATURE_NAMES),
                                    list_mismatch("delay grid (ns)", model.delays_ns, grid)) if p]
            if problems:
                raise ConfigError("delay model does not fit the overlay: " + "; ".join(problems))
        self.model, self.chooser = model, chooser
        self.max_delay_ns = int(max_delay_ns)
        self.delays_ns = np.asarray(grid, np.int64)
        self.end_ns = end_ns
        self.active = (model is not None or chooser is not None) and self.max_delay_ns > 0
        self.decisions: list[Decision] = []
        distinct = sorted({c.time_ns for c in self.children})
        self._next_ns: list[int | None] = []  # per child: the next later scheduled time (None: the last)
        for c in self.children:
            k = bisect.bisect_right(distinct, c.time_ns)
            self._next_ns.append(distinct[k] if k < len(distinct) else None)

    def on_start(self, ctx: Context) -> None:
        if not self.active:
            super().on_start(ctx)
            return
        for i, child in enumerate(self.children):
            self._at(ctx, max(child.time_ns, ctx.now_ns), "decide", i)

    def on_timer(self, ctx: Context, t_ns: int) -> None:
        if not self.active:
            super().on_timer(ctx, t_ns)
            return
        for action, what in self._due.pop(t_ns, []):
            if action == "decide":
                self._decide(ctx, what)
            elif action == "send":
                self._send(ctx, what)
            else:
                self._check(ctx, what)

    def _slack_ns(self, ctx: Context, i: int) -> int:
        nxt = self._next_ns[i]
        if nxt is None:
            nxt = self.end_ns if self.end_ns is not None else ctx.end_ns
        return max(0, min(int(nxt), ctx.end_ns) - ctx.now_ns)

    def _decide(self, ctx: Context, i: int) -> None:
        child = self.children[i]
        slack = self._slack_ns(ctx, i)
        x = compute_features(ctx.view, self.side, child.quantity, slack)
        cap = min(self.max_delay_ns, slack)
        if self.model is not None:
            d = int(self.model.best_delay(x[None, :], cap)[0])
        else:
            d = int(self.chooser(i, x, ctx.now_ns))  # type: ignore[misc]
        on_grid = self.delays_ns[self.delays_ns <= min(max(d, 0), cap)]
        d = int(on_grid[-1]) if len(on_grid) else 0
        self.decisions.append(Decision(i, ctx.now_ns, slack, d, x))
        if d == 0:
            self._send(ctx, child)
        else:
            self._at(ctx, ctx.now_ns + d, "send", child)

    def decision_table(self) -> pd.DataFrame:
        """The decisions as a DataFrame: child_index, time_ns, slack_ns, delay_ns and one column per feature."""
        feats = np.array([d.features for d in self.decisions]).reshape(len(self.decisions), len(FEATURE_NAMES))
        head = pd.DataFrame({k: np.array([getattr(d, k) for d in self.decisions], np.int64)
                             for k in ("child_index", "time_ns", "slack_ns", "delay_ns")})
        return pd.concat([head, pd.DataFrame(feats, columns=list(FEATURE_NAMES))], axis=1)


__all__ = ["DEFAULT_DELAYS_NS", "DEFAULT_DELAYS_S", "Chooser", "Decision", "DelayPredictor", "OverlayExecutor"]
