"""Counterfactual labels: what the same child order would have cost sent after each delay.

For a decision at exchange/trader time ``t`` (side ``s``, quantity ``Q``,
style) and a delay ``d`` of the grid, the child is sent at ``t + d`` through
the engine — market-data, order-entry and response latency, queue model and
fees of the :class:`~tickreplay.engine.EngineConfig` included — by a
:class:`~tickreplay.trader.executor.ChildOrderExecutor` holding that one child,
alone in the market (one engine run per (decision, delay); runs never share
consumed liquidity). Its cost, positive = worse, in bps of ``M0``, the true
mid on the exchange clock as of ``t`` (as TCA takes the arrival mid)::

    cost_bps = 1e4 * (s * (sum q*p - F*M0) + fees + s * U * (M_T - M0)) / (Q * M0)

with ``F`` the filled quantity, ``fees`` in price × size units, and the
**horizon rule** for what does not fill: every delay of a decision shares
one end ``T = t + max(delays) + horizon_ns``; at ``T`` (trader time) the
still-open rest is cancelled, and the quantity that never filled, ``U = Q - F``,
is costed at ``M_T``, the true mid as of ``T``. Fills that happen while the
cancel travels count as fills.

All the runs of a call go through the compiled loop in one call
(:func:`tickreplay.engine_kernel.run_labels`) when the latency models allow
it; otherwise, or with ``compiled=False``, each is an engine run on the
Python loop (:class:`_LabelEngine` keeps the raw fills instead of building
the result tables). Both give the costs of a normal :meth:`Engine.run`, the
same to the last bit (the tests compare them).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import pandas as pd

from tickreplay import engine_kernel
from tickreplay.engine import Context, Engine, EngineConfig
from tickreplay.checks import positive_int
from tickreplay.errors import ConfigError
from tickreplay.trader.executor import ChildOrderExecutor
from tickreplay.trader.features import FEATURE_NAMES, compute_features_many
from tickreplay.book.replay import ReplayData
from tickreplay.schedule.base import ChildOrder, check_style

NS = 1_000_000_000
DEFAULT_HORIZON_NS = 30 * NS
DEFAULT_REPLACE_AFTER_NS = 30 * NS


class _LabelExecutor(ChildOrderExecutor):
    """One child, cancelled (whatever is still open) at trader time ``stop_ns``."""

    def __init__(self, side: int, child: ChildOrder, stop_ns: int, replace_after_ns: int) -> None:
        super().__init__(side, [child], replace_after_ns)
        self.stop_ns = stop_ns

    def on_start(self, ctx: Context) -> None:
        super().on_start(ctx)
        ctx.set_timer(self.stop_ns)

    def on_timer(self, ctx: Context, t_ns: int) -> None:
        super().on_timer(ctx, t_ns)
        if t_ns == self.stop_ns:
            for oid in list(self._open):
                ctx.cancel(oid)
            self._open.clear()


class _LabelEngine(Engine):
    """An :class:`Engine` whose run returns the raw fills ``[(price, size, fee_currency), ...]``."""

    def _result(self):  # type: ignore[override]
        return [(f.price, f.size, f.fee) for f in self._fills]


def true_mid(replay: ReplayData, t_ns: int | np.ndarray) -> float | np.ndarray:
    """Mid (price units) of the book as of exchange time ``t_ns``; NaN when a side is empty or before the tape."""
    t = np.asarray(t_ns, np.int64)
    i = np.searchsorted(replay.ts_ns, t, side="right") - 1
    ic = np.maximum(i, 0)
    s = replay.snapshots
    b, a = s.bid_price[ic, 0], s.ask_price[ic, 0]
    ok = (i >= 0) & (s.bid_size[ic, 0] > 0) & (s.ask_size[ic, 0] > 0)
    mid = np.where(ok, (b + a) / 2.0, np.nan)
    return float(mid) if mid.ndim == 0 else mid


def child_cost_bps(side, quantity, filled, paid, fees, mid0, mid_end, price_scale: int, size_scale: int,
                   multiplier: float = 1):
    """Cost in bps of ``mid0`` of a child of ``quantity`` that filled ``filled`` for ``paid`` (sum of price × size)
    and ``fees`` (currency; ``multiplier``: the contract's, currency per price unit of one traded unit); the rest
    is costed at ``mid_end``. Scalars or arrays (one child per element)."""
    total = side * (paid - filled * mid0) + fees * price_scale * size_scale / multiplier
    unfilled = quantity - filled
    total = np.where(unfilled != 0, total + side * unfilled * (mid_end - mid0), total)
    return 1e4 * total / (quantity * mid0)


def _check_delays(delays_ns: Sequence[int]) -> tuple[int, ...]:
    d = tuple(int(x) for x in delays_ns)
    if not d or d[0] != 0 or any(b <= a for a, b in zip(d, d[1:])):
        raise ConfigError(f"delay grid must start at 0 and increase strictly, got {list(d)} ns")
    return d


def counterfactual_costs(replay: ReplayData, decisions: pd.DataFrame, delays_ns: Sequence[int],
                         config: EngineConfig | None = None, horizon_ns: int = DEFAULT_HORIZON_NS,
                         replace_after_ns: int = DEFAULT_REPLACE_AFTER_NS, compiled: bool = True) -> np.ndarray:
    """Cost (bps, positive = worse) of each decision's child sent after each delay: ``(n_decisions, n_delays)``.

    ``decisions``: columns ``time_ns``, ``side`` (+1/-1), ``quantity``, ``style``
    (and optionally ``offset_ticks``). See the module docstring for the
    cost and the horizon rule. NaN where the mid at ``t`` is undefined. ``compiled=False`` runs every label on
    the Python engine loop (the reference).
    """
    delays = _check_delays(delays_ns)
    missing = {"time_ns", "side", "quantity", "style"} - set(decisions.columns)
    if missing:
        raise ConfigError(f"decisions lack columns {sorted(missing)}")
    engine = _LabelEngine(replay, config or EngineConfig())
    inst = replay.instrument
    times = decisions["time_ns"].to_numpy(np.int64)
    sides = decisions["side"].to_numpy(np.int64)
    qty = decisions["quantity"].to_numpy(np.int64)
    styles = decisions["style"].astype(str).tolist()
    offsets = decisions["offset_ticks"].to_numpy(np.int64) if "offset_ticks" in decisions else np.zeros(len(times),
                                                                                                            np.int64)
    ends = times + delays[-1] + int(horizon_ns)
    mid0, mid_end = true_mid(replay, times), true_mid(replay, ends)
    out = np.full((len(times), len(delays)), np.nan)
    live = np.flatnonzero(np.isfinite(mid0))
    for n in live.tolist():  # what ChildOrder would reject, in decision order
        check_style(styles[n])
        positive_int("quantity", int(qty[n]))
    if not len(live):
        return out
    n_of = np.repeat(live, len(delays))  # run m: decision n_of[m] after delay k_of[m]
    k_of = np.tile(np.arange(len(delays)), len(live))
    send = times[n_of] + np.asarray(delays, np.int64)[k_of]
    if compiled and engine_kernel.supports_config(replay, engine.config, int(qty[live].max())):
        codes = np.array([engine_kernel.STYLE_CODES[x] for x in styles], np.int64)
        children = np.stack([send, qty[n_of], codes[n_of], offsets[n_of], np.zeros_like(send)], axis=1)
        filled, paid, fees = engine_kernel.run_labels(engine, sides[n_of], children, send, ends[n_of],
                                                      replace_after_ns)
        out[n_of, k_of] = child_cost_bps(sides[n_of], qty[n_of], filled, paid, fees, mid0[n_of], mid_end[n_of],
                                         inst.price_scale, inst.size_scale, inst.multiplier)
        return out
    for n, k, t in zip(n_of.tolist(), k_of.tolist(), send.tolist()):  # the reference: one Python engine run each
        side, q = int(sides[n]), int(qty[n])
        fills = engine.run(_LabelExecutor(side, ChildOrder(t, q, styles[n], int(offsets[n])), int(ends[n]),
                                          replace_after_ns), start_ns=t, end_ns=int(ends[n]))
        out[n, k] = child_cost_bps(side, q, sum(x for _, x, _ in fills), sum(p * x for p, x, _ in fills),
                                   sum(f for _, _, f in fills), float(mid0[n]), float(mid_end[n]), inst.price_scale,
                                   inst.size_scale, inst.multiplier)
    return out


@dataclass
class Dataset:
    """Training examples: features ``X`` (n, f), costs ``Y`` (n, k) in bps, and what each row is.

    ``mid`` (true mid at the decision, price units), ``spread_ticks`` and
    ``realised_vol_ticks`` (60 s, trader's view) are for regime breakdowns.
    ``meta``: source keys, horizon, and the count of decisions left out and why.
    """

    X: np.ndarray
    Y: np.ndarray
    times_ns: np.ndarray
    feature_names: tuple[str, ...]
    delays_ns: tuple[int, ...]
    mid: np.ndarray
    spread_ticks: np.ndarray
    realised_vol_ticks: np.ndarray
    source: np.ndarray  # one key per row (e.g. "AMZN/2012-06-21")
    meta: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.times_ns)

    def subset(self, idx: np.ndarray) -> "Dataset":
        """The rows ``idx`` (indices or a boolean mask)."""
        return Dataset(self.X[idx], self.Y[idx], self.times_ns[idx], self.feature_names, self.delays_ns,
                       self.mid[idx], self.spread_ticks[idx], self.realised_vol_ticks[idx], self.source[idx],
                       dict(self.meta))

    @staticmethod
    def concat(parts: Sequence["Dataset"]) -> "Dataset":
        """Rows of several datasets (same features and delay grid), sorted by time (stable)."""
        if not parts:
            raise ConfigError("no dataset to concatenate")
        for p in parts[1:]:
            if p.feature_names != parts[0].feature_names or p.delays_ns != parts[0].delays_ns:
                raise ConfigError("datasets differ in feature list or delay grid")
        cat = {k: np.concatenate([getattr(p, k) for p in parts])
               for k in ("X", "Y", "times_ns", "mid", "spread_ticks", "realised_vol_ticks", "source")}
        order = np.argsort(cat["times_ns"], kind="stable")
        meta = {"sources": [p.meta for p in parts]}
        return Dataset(cat["X"][order], cat["Y"][order], cat["times_ns"][order], parts[0].feature_names,
                       parts[0].delays_ns, cat["mid"][order], cat["spread_ticks"][order],
                       cat["realised_vol_ticks"][order], cat["source"][order], meta)


def decision_features(replay: ReplayData, times_ns: np.ndarray, side: int, quantity: int, slack_ns: int,
                      config: EngineConfig | None = None) -> np.ndarray:
    """Features at each decision time as the trader saw them (market-data latency drawn from the config's seed).

    The market-data latency stream is seeded like the engine's
    (``SeedSequence(seed).spawn(3)[2]``), one draw per decision.
    """
    cfg = config or EngineConfig()
    rng = np.random.default_rng(np.random.SeedSequence(cfg.seed).spawn(3)[2])
    times = np.asarray(times_ns, np.int64)
    heard = np.array([t - cfg.md_latency.sample(t, rng) for t in times.tolist()], np.int64)
    seen = np.searchsorted(replay.ts_ns, heard, side="right") - 1  # ReplayData.index_at, for all at once
    return compute_features_many(replay, seen, times, side, quantity, slack_ns)


def build_dataset(replay: ReplayData, decision_times_ns: Sequence[int], side: int, quantity: int, style: str,
                  delays_ns: Sequence[int], config: EngineConfig | None, max_delay_ns: int,
                  horizon_ns: int = DEFAULT_HORIZON_NS, offset_ticks: int = 0,
                  replace_after_ns: int = DEFAULT_REPLACE_AFTER_NS, slack_ns: int | None = None,
                  source: str | None = None, fingerprint: str | None = None) -> Dataset:
    """Features and counterfactual costs at each decision time (delays of the grid up to ``max_delay_ns``).

    ``source`` names the tape (default ``SYMBOL/DATE``); ``fingerprint`` is its content fingerprint
    (:meth:`tickreplay.tape.Tape.fingerprint` of the whole source tape), kept in ``meta`` so a model
    trained on it can refuse the same content under another name as a test tape.

    Decisions whose label window ``[t, t + max delay + horizon]`` runs past
    the session end, or whose mid at ``t`` is undefined, are left out and
    counted in ``meta["dropped"]``. ``slack_ns`` (the ``slack_s`` feature;
    default ``max_delay_ns``): free-standing training decisions have no schedule.
    """
    delays = tuple(d for d in _check_delays(delays_ns) if d <= max_delay_ns)
    times = np.asarray(decision_times_ns, np.int64)
    if np.any(np.diff(times) < 0):
        raise ConfigError("decision times must be sorted")
    inst = replay.instrument
    src = source or f"{inst.symbol}/{inst.date}"
    fits = times + delays[-1] + horizon_ns <= replay.session_end_ns
    mid = true_mid(replay, times) if len(times) else np.zeros(0)
    has_mid = np.isfinite(mid)
    keep = fits & has_mid
    times = times[keep]
    decisions = pd.DataFrame({"time_ns": times, "side": side, "quantity": quantity, "style": style,
                              "offset_ticks": offset_ticks})
    Y = counterfactual_costs(replay, decisions, delays, config, horizon_ns, replace_after_ns)
    X = decision_features(replay, times, side, quantity, max_delay_ns if slack_ns is None else slack_ns, config)
    names = FEATURE_NAMES
    meta = {"source": src, "fingerprint": fingerprint, "symbol": inst.symbol, "date": inst.date, "side": side,
            "quantity": quantity,
            "style": style, "horizon_ns": int(horizon_ns), "max_delay_ns": int(max_delay_ns),
            "dropped": {"label_window_past_session_end": int(np.sum(~fits)),
                        "no_mid_at_decision": int(np.sum(fits & ~has_mid))}}
    return Dataset(X, Y, times, names, delays, mid[keep], X[:, names.index("spread_ticks")],
                   X[:, names.index("realised_vol_60s_ticks")], np.full(len(times), src, dtype=object), meta)
