"""Overlay vs static, honestly: four policies over held-out parents, paired.

The experiment (``tickreplay overlay compare``):

* **Parents.** The scenario is a template: its parent's side, quantity and
  duration (``parent.end - parent.start``) and its schedule (TWAP, VWAP or
  Almgren–Chriss child orders) are rolled over the held-out range of each
  test tape, one parent per window (:func:`parent_windows`), so one day gives
  many parents. The windows stop ``tail_ns`` before the range's end, so a
  delayed child and its fills stay inside the tape.
* **Policies**, each run through the engine with the same engine config and
  the same seed per parent (so latency draws are paired):

  - ``static`` — the schedule as is;
  - ``overlay`` — the trained model picks each child's delay;
  - ``placebo`` — each child's delay is drawn at random (seeded) from the
    delays the overlay chose over all test parents: the same delay
    distribution without the information. An overlay that only beats static
    because delaying is cheap on average (e.g. a trending tape) does not
    beat the placebo;
  - ``oracle`` — the delay with the lowest counterfactual cost for that child
    (perfect foresight; labels of :func:`tickreplay.overlay.labels.counterfactual_costs`):
    the ceiling.
* **Cost** per parent: implementation shortfall (:func:`tickreplay.tca.shortfall`,
  bps of the arrival notional, positive = cost). **Saving** of a policy =
  static IS − policy IS, per parent (positive when the policy is cheaper).
* **Uncertainty**: children of one parent share a book and a schedule, so
  the unit of resampling is the parent: a percentile bootstrap over parents
  (:mod:`.stats`; seeded). The win rate is the share of parents where the
  policy was strictly cheaper.
* **Regimes**: each parent is labelled by the realised volatility and the
  mean spread of the ``regime_window_ns`` *before* its start (what a trader
  knew), cut into terciles over the test parents.

Splits (:func:`make_split`): by time (train morning / test afternoon of one
tape, with a purge gap between them), by day (train day A / test day B) and
by instrument (train one symbol / test another).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Sequence

import numpy as np
import pandas as pd

from tickreplay.adapters.synthetic import synthetic_market
from tickreplay.clock import format_local
from tickreplay.engine import Engine, EngineConfig
from tickreplay.errors import ConfigError
from tickreplay.experiment.data import MarketData
from tickreplay.experiment.plan import build_plan, engine_config
from tickreplay.overlay import stats
from tickreplay.trader.features import FEATURE_NAMES
from tickreplay.overlay.labels import DEFAULT_HORIZON_NS, counterfactual_costs
from tickreplay.overlay.model import DelayModel
from tickreplay.trader.overlay import OverlayExecutor
from tickreplay.experiment.scenario import Scenario, resolve_time
from tickreplay.schedule.base import ChildOrder, ParentOrder
from tickreplay.tape import Instrument
from tickreplay.tca import shortfall

NS = 1_000_000_000
POLICIES = ("static", "overlay", "placebo", "oracle")
SPLIT_KINDS = ("time", "day", "instrument")
DEFAULT_PURGE_NS = 60 * NS
DEFAULT_REGIME_WINDOW_NS = 300 * NS
EMPTY_ASK = 9_999_999_999  # LOBSTER's empty ask level
MIN_PARENTS_CI = 10  # a group of fewer parents gets no 95% interval (``ci95_bps`` null, ``too_few`` true)



# -- splits ---------------------------------------------------------------------------------------

@dataclass(frozen=True, eq=False)
class Segment:
    """A time range ``[start_ns, end_ns)`` of one market's data."""

    data: MarketData
    start_ns: int
    end_ns: int

    @property
    def label(self) -> str:
        """``SYMBOL DATE HH:MM:SS–HH:MM:SS`` in the instrument's local time."""
        inst = self.data.tape.instrument
        a, b = (format_local(t, inst.timezone) for t in (self.start_ns, self.end_ns))
        return f"{inst.symbol} {inst.date} {a}–{b}"


@dataclass(frozen=True, eq=False)
class Split:
    """Train on ``train``, evaluate on ``test`` (``kind`` one of :data:`SPLIT_KINDS`)."""

    kind: str
    train: Segment
    test: Segment


def session_bounds(data: MarketData) -> tuple[int, int]:
    """Where parents may run (ns): from the later of the session open and the tape's first event (a tape may start
    after the open, e.g. AAPL's first event at 09:30:00.004), to the session close."""
    return max(data.replay.session_start_ns, int(data.tape.ts_ns[0])), data.replay.session_end_ns


def make_split(kind: str, train: MarketData, test: MarketData | None = None, *, cut_ns: int | None = None,
               purge_ns: int = DEFAULT_PURGE_NS) -> Split:
    """Train/test segments of one split kind.

    * ``time``: one tape (``train``); train on ``[open, cut - purge)``, test on
      ``[cut, close)``; ``cut_ns`` defaults to the session's midpoint. The purge
      gap keeps every training label window (decision + max delay + fills) out
      of the test range: make it at least the max delay plus a child's life.
    * ``day``: train on all of ``train``, test on all of ``test``: one instrument on different dates (for
      generated days, one market: :func:`~tickreplay.adapters.synthetic.synthetic_market`).
    * ``instrument``: train on all of ``train``, test on all of ``test``: different symbols.
    """
    if kind not in SPLIT_KINDS:
        raise ConfigError(f"split kind must be one of {', '.join(SPLIT_KINDS)}, got {kind!r}")
    if kind == "time":
        if test is not None and test is not train:
            raise ConfigError("a 'time' split cuts one tape: give no test data")
        t0, t1 = session_bounds(train)
        cut = (t0 + t1) // 2 if cut_ns is None else int(cut_ns)
        if not t0 < cut - purge_ns < cut < t1:
            raise ConfigError(f"time split: cut {cut} minus purge {purge_ns} ns must lie inside the session "
                              f"[{t0}, {t1})")
        return Split(kind, Segment(train, t0, cut - purge_ns), Segment(train, cut, t1))
    if test is None:
        raise ConfigError(f"a '{kind}' split needs test data")
    a, b = train.tape.instrument, test.tape.instrument
    if kind == "day" and (_instrument(a) != _instrument(b) or a.date == b.date):
        raise ConfigError(f"day split: expected one symbol on two dates, got {a.symbol} {a.date} and "
                          f"{b.symbol} {b.date}")
    if kind == "instrument" and a.symbol == b.symbol:
        raise ConfigError(f"instrument split: expected two symbols, got {a.symbol} twice")
    return Split(kind, Segment(train, *session_bounds(train)), Segment(test, *session_bounds(test)))


def _instrument(inst: Instrument) -> str:
    """What stays the same across an instrument's days: its symbol (a generated day's: the market it names)."""
    return (synthetic_market(inst.symbol) if inst.source == "synthetic" else None) or inst.symbol


# -- parents --------------------------------------------------------------------------------------

def parent_windows(start_ns: int, end_ns: int, duration_ns: int, step_ns: int | None = None,
                   tail_ns: int = 0) -> list[tuple[int, int]]:
    """Parent windows ``[s, s + duration)`` every ``step_ns`` (default: back to back) in ``[start, end - tail)``."""
    step = duration_ns if step_ns is None else step_ns
    if duration_ns <= 0 or step <= 0:
        raise ConfigError(f"parent duration and step must be positive, got {duration_ns} and {step} ns")
    last = end_ns - tail_ns - duration_ns
    return [(s, s + duration_ns) for s in range(int(start_ns), int(last) + 1, int(step))]


def _check_template(scn: Scenario) -> None:
    if scn.parent is None or scn.schedule.kind in ("pov", "strategy"):
        raise ConfigError("overlay compare needs a scenario with a [parent] and a twap, vwap or almgren_chriss "
                          f"schedule, got schedule kind '{scn.schedule.kind}'")


def parent_plans(scn: Scenario, data: MarketData,
                 windows: Sequence[tuple[int, int]]) -> list[tuple[ParentOrder, list[ChildOrder]]]:
    """The scenario's parent and schedule moved to each window: (parent, children) per window."""
    _check_template(scn)
    out = []
    for start, end in windows:
        moved = replace(scn, parent=replace(scn.parent, start=int(start), end=int(end), arrival=None),
                        overlay=None)  # the static schedule's children; the policies delay them
        plan = build_plan(moved, data)
        out.append((plan.parent, list(plan.strategy.children)))
    return out


def template_duration_ns(scn: Scenario, data: MarketData) -> int:
    """``parent.end - parent.start`` of the scenario, resolved on ``data``'s date."""
    _check_template(scn)
    inst = data.tape.instrument
    s = resolve_time(scn.parent.start, inst.date, inst.timezone, "parent.start")
    e = resolve_time(scn.parent.end, inst.date, inst.timezone, "parent.end")
    if e <= s:
        raise ConfigError(f"scenario key 'parent.end' must be after parent.start, got {scn.parent.end!r}")
    return e - s


# -- regimes --------------------------------------------------------------------------------------

def regime_features(data: MarketData, times_ns: np.ndarray, window_ns: int = DEFAULT_REGIME_WINDOW_NS) -> pd.DataFrame:
    """Per time ``t``: realised volatility (bps per sqrt(s), 1-s mid changes) and mean spread (bps of the mid)
    over ``[t - window, t]``, from data as of each instant (nothing after ``t``)."""
    steps = max(2, int(window_ns // NS))
    t = np.asarray(times_ns, dtype=np.int64)
    grid = t[:, None] - window_ns + np.arange(steps + 1, dtype=np.int64)[None, :] * (window_ns // steps)
    mid = data.market.mid_x2_at(grid).astype(np.float64)
    ret_bps = np.diff(np.log(mid), axis=1) * 1e4
    vol = ret_bps.std(axis=1) / np.sqrt(window_ns / steps / NS)
    snaps = data.replay.snapshots
    idx = np.maximum(np.searchsorted(data.replay.ts_ns, grid, side="right") - 1, 0)
    ask, bid = snaps.ask_price[idx, 0], snaps.bid_price[idx, 0]
    two_sided = (bid > 0) & (ask > bid) & (ask < EMPTY_ASK)
    spread = np.where(two_sided, (ask - bid) / (mid / 2.0) * 1e4, np.nan)
    seen = two_sided.any(axis=1)
    mean_spread = np.full(len(t), np.nan)
    mean_spread[seen] = np.nanmean(spread[seen], axis=1)
    return pd.DataFrame({"vol_bps": vol, "spread_bps": mean_spread})


# -- running the policies -------------------------------------------------------------------------

@dataclass
class Evaluation:
    """Per parent (``per_parent``) and per child (``children``) results of :func:`evaluate`.

    ``per_parent``: ``tape``, ``parent``, ``start_ns``, ``end_ns``, ``n_children``,
    ``<policy>_bps`` (IS, bps, positive = cost) and ``<policy>_filled`` per policy,
    ``vol_bps``, ``spread_bps``. ``children``: ``tape``, ``parent``, ``child_index``,
    ``time_ns``, ``slack_ns`` and ``<policy>_delay_ns`` for the three delaying policies.
    """

    per_parent: pd.DataFrame
    children: pd.DataFrame

    def summary(self, seed: int = 0, n_boot: int = stats.DEFAULT_N_BOOT) -> dict:
        return summarize(self.per_parent, self.children, seed=seed, n_boot=n_boot)


@dataclass(frozen=True)
class _ParentJob:
    data: MarketData
    tape: str
    parent: ParentOrder
    children: list[ChildOrder]
    config: EngineConfig


def _cost_bps(job: _ParentJob, strategy: OverlayExecutor) -> tuple[float, int]:
    result = Engine(job.data.replay, job.config).run(strategy, start_ns=job.parent.start_ns)
    fills = result.fills[result.fills["parent_id"].to_numpy() == job.parent.parent_id]
    sf = shortfall(fills, job.parent, job.data.market)
    return sf.bps(sf.total_currency), sf.filled


def _executor(job: _ParentJob, scn: Scenario, **kw) -> OverlayExecutor:
    """The parent's executor with the scenario's re-pricing rules; no model and no chooser = static."""
    s = scn.schedule
    return OverlayExecutor(job.parent.side, job.children, end_ns=job.parent.end_ns,
                           replace_after_ns=round(s.cancel_replace_after_s * NS), max_replaces=s.max_replaces,
                           finish_with_market=s.finish_with_market, **kw)


def _decisions(ex: OverlayExecutor) -> pd.DataFrame:
    return pd.DataFrame(ex.decisions).sort_values("child_index", kind="stable").reset_index(drop=True)


def _oracle_chooser(costs: np.ndarray, delays_ns: np.ndarray, max_delay_ns: int):
    """Per child the delay (≤ max delay and the child's slack) of least hindsight cost."""
    slack_col = FEATURE_NAMES.index("slack_s")

    def choose(i: int, x: np.ndarray, t_ns: int) -> int:
        cap = min(max_delay_ns, int(round(x[slack_col] * NS)))
        allowed = (delays_ns <= cap) & np.isfinite(costs[i])
        allowed[0] = True
        return int(delays_ns[np.argmin(np.where(allowed, costs[i], np.inf))])

    return choose


def _placebo_chooser(pool_ns: np.ndarray, rng: np.random.Generator):
    """Each child's delay drawn at random from ``pool_ns`` (the overlay's chosen delays)."""

    def choose(i: int, x: np.ndarray, t_ns: int) -> int:
        return int(pool_ns[rng.integers(len(pool_ns))])

    return choose


def evaluate(scn: Scenario, segments: Sequence[Segment], model: DelayModel, *, max_delay_ns: int,
             step_ns: int | None = None, seed: int = 0, regime_window_ns: int = DEFAULT_REGIME_WINDOW_NS,
             horizon_ns: int = DEFAULT_HORIZON_NS, allow_overlap: bool = False) -> Evaluation:
    """Run static, overlay, placebo and oracle on every parent window of every test segment.

    Every segment must be held out (:func:`check_held_out`: not the model's training content in an overlapping
    range) unless ``allow_overlap``.

    Parents follow the scenario template (:func:`parent_windows` every ``step_ns``,
    default back to back, ending ``max_delay_ns + horizon_ns`` before each segment's
    end). Parent ``k`` runs with the scenario's engine config re-seeded from
    ``SeedSequence([seed, k])``, the same for every policy. The placebo draws from
    the pooled overlay delays of all parents with a generator seeded the same way.
    """
    if not allow_overlap:
        for seg in segments:
            check_held_out(model, seg.data.key, seg.start_ns, seg.end_ns, seg.data.fingerprint,
                           seg.data.tape.instrument.timezone)
    delays = np.asarray(model.delays_ns, np.int64)
    grid = delays[delays <= max_delay_ns]
    jobs: list[_ParentJob] = []
    for seg in segments:
        duration = template_duration_ns(scn, seg.data)
        windows = parent_windows(seg.start_ns, seg.end_ns, duration, step_ns, tail_ns=max_delay_ns + horizon_ns)
        base = engine_config(scn, seg.data)
        for parent, children in parent_plans(scn, seg.data, windows):
            k = len(jobs)
            cfg = replace(base, seed=int(np.random.SeedSequence([seed, k]).generate_state(1)[0]))
            jobs.append(_ParentJob(seg.data, seg.data.key, parent, children, cfg))
    if not jobs:
        raise ConfigError("no parent to compare: every held-out range is shorter than one parent window "
                          "plus the max delay and label horizon")
    rows, child_rows, overlay_delays = [], [], []
    for k, job in enumerate(jobs):
        row = {"tape": job.tape, "parent": k, "start_ns": job.parent.start_ns, "end_ns": job.parent.end_ns,
               "n_children": len(job.children)}
        row["static_bps"], row["static_filled"] = _cost_bps(job, _executor(job, scn))
        overlay = _executor(job, scn, model=model, max_delay_ns=max_delay_ns, delays_ns=model.delays_ns)
        row["overlay_bps"], row["overlay_filled"] = _cost_bps(job, overlay)
        decisions = _decisions(overlay)
        overlay_delays.append(decisions["delay_ns"].to_numpy(np.int64))
        cf = pd.DataFrame({"time_ns": [c.time_ns for c in job.children], "side": job.parent.side,
                           "quantity": [c.quantity for c in job.children],
                           "style": [c.style for c in job.children],
                           "offset_ticks": [c.offset_ticks for c in job.children]})
        costs = counterfactual_costs(job.data.replay, cf, tuple(int(d) for d in grid), job.config, horizon_ns)
        oracle = _executor(job, scn, chooser=_oracle_chooser(costs, grid, max_delay_ns),
                           max_delay_ns=max_delay_ns, delays_ns=model.delays_ns)
        row["oracle_bps"], row["oracle_filled"] = _cost_bps(job, oracle)
        rows.append(row)
        child_rows.append((decisions, _decisions(oracle)))
    pool = np.concatenate(overlay_delays)
    for k, job in enumerate(jobs):
        rng = np.random.default_rng(np.random.SeedSequence([seed, k, 1]))
        placebo = _executor(job, scn, chooser=_placebo_chooser(pool, rng), max_delay_ns=max_delay_ns,
                            delays_ns=model.delays_ns)
        rows[k]["placebo_bps"], rows[k]["placebo_filled"] = _cost_bps(job, placebo)
        over, orc = child_rows[k]
        plc = _decisions(placebo)
        child_rows[k] = pd.DataFrame({
            "tape": job.tape, "parent": k, "child_index": over["child_index"].to_numpy(np.int64),
            "time_ns": over["time_ns"].to_numpy(np.int64), "slack_ns": over["slack_ns"].to_numpy(np.int64),
            "overlay_delay_ns": over["delay_ns"].to_numpy(np.int64),
            "placebo_delay_ns": plc["delay_ns"].to_numpy(np.int64),
            "oracle_delay_ns": orc["delay_ns"].to_numpy(np.int64)})
    per_parent = pd.DataFrame(rows)
    regimes = pd.concat([regime_features(job.data, np.array([job.parent.start_ns]), regime_window_ns)
                         for job in jobs], ignore_index=True)
    per_parent = pd.concat([per_parent, regimes], axis=1)
    return Evaluation(per_parent, pd.concat(child_rows, ignore_index=True))


# -- summary --------------------------------------------------------------------------------------

def _saving_block(saving: np.ndarray, seed: int, n_boot: int) -> dict:
    """Mean, median, win rate and 95% bootstrap interval of per-parent savings (bps); with fewer than
    :data:`MIN_PARENTS_CI` parents ``ci95_bps`` is None and ``too_few`` True."""
    s = stats.paired_summary(saving, seed=seed, n_boot=n_boot)
    too_few = len(saving) < MIN_PARENTS_CI
    return {"mean_saving_bps": s.mean_bps, "median_saving_bps": s.median_bps,
            "ci95_bps": None if too_few else list(s.ci95_bps), "too_few": too_few, "win_rate": s.win_rate}


def _breakdown(per_parent: pd.DataFrame, column: str, seed: int, n_boot: int) -> list[dict]:
    values = per_parent[column].to_numpy(dtype=np.float64)
    ok = np.isfinite(values)
    if ok.sum() < 3:
        return []
    edges = stats.tercile_edges(values[ok])
    labels = np.full(len(values), -1)
    labels[ok] = stats.terciles(values[ok], edges)
    saving = (per_parent["static_bps"] - per_parent["overlay_bps"]).to_numpy(dtype=np.float64)
    bounds = (-np.inf, edges[0], edges[1], np.inf)
    out = []
    for k, name in enumerate(("low", "mid", "high")):
        sel = labels == k
        row: dict = {"tercile": name, "from": float(bounds[k]), "to": float(bounds[k + 1]),
                     "n_parents": int(sel.sum())}
        row.update(_saving_block(saving[sel], seed, n_boot) if sel.any() else {"ci95_bps": None, "too_few": True})
        out.append(row)
    return out


def summarize(per_parent: pd.DataFrame, children: pd.DataFrame, *, seed: int = 0,
              n_boot: int = stats.DEFAULT_N_BOOT) -> dict:
    """The comparison as a JSON-ready dict (see the module docstring).

    ``per_parent``: one row per parent with ``<policy>_bps`` (IS, bps) for each
    of :data:`POLICIES`, ``n_children``, ``vol_bps`` and ``spread_bps``;
    ``children``: one row per child with ``overlay_delay_ns``.
    Top-level keys: ``n_parents``, ``n_children``, ``mean_saving_bps`` (static − overlay,
    positive = the overlay is cheaper), ``median_saving_bps``, ``ci95_bps``, ``win_rate``,
    ``oracle_saving_bps``, ``placebo_saving_bps``, ``captured_share`` (overlay saving / oracle
    saving), ``overlay_vs_placebo`` (placebo − overlay), ``policies`` (per policy: counts,
    mean/median IS and its saving vs static), ``regimes`` (volatility and spread terciles),
    ``overlay_delays_s`` (how often the overlay chose each delay). Every interval over fewer than
    :data:`MIN_PARENTS_CI` parents (a tercile, or the whole comparison) is null with ``too_few`` true.
    """
    if len(per_parent) == 0:
        raise ConfigError("no parent to compare: the held-out range is shorter than one parent window")
    cost = {p: per_parent[f"{p}_bps"].to_numpy(dtype=np.float64) for p in POLICIES}
    n_children = int(per_parent["n_children"].sum())
    policies = {}
    for p in POLICIES:
        block = {"n_parents": len(per_parent), "n_children": n_children, "mean_is_bps": float(cost[p].mean()),
                 "median_is_bps": float(np.median(cost[p]))}
        if p != "static":
            block["saving_vs_static"] = _saving_block(cost["static"] - cost[p], seed, n_boot)
        policies[p] = block
    head = policies["overlay"]["saving_vs_static"]
    oracle = policies["oracle"]["saving_vs_static"]
    placebo = policies["placebo"]["saving_vs_static"]
    delays = children["overlay_delay_ns"].to_numpy(dtype=np.int64)
    values, counts = np.unique(delays, return_counts=True)
    return {
        "n_parents": len(per_parent),
        "n_children": n_children,
        **head,
        "overlay_minus_static_bps": -head["mean_saving_bps"],
        "oracle_saving_bps": oracle["mean_saving_bps"],
        "oracle_ci95_bps": oracle["ci95_bps"],
        "too_few": head["too_few"],
        "placebo_saving_bps": placebo["mean_saving_bps"],
        "placebo_ci95_bps": placebo["ci95_bps"],
        "captured_share": stats.captured_share(head["mean_saving_bps"], oracle["mean_saving_bps"]),
        "overlay_vs_placebo": _saving_block(cost["placebo"] - cost["overlay"], seed, n_boot),
        "policies": policies,
        "regimes": {"volatility": _breakdown(per_parent, "vol_bps", seed, n_boot),
                    "spread": _breakdown(per_parent, "spread_bps", seed, n_boot)},
        "overlay_delays_s": {f"{v / NS:g}": int(c) for v, c in zip(values, counts)},
    }


# -- held out ------------------------------------------------------------------------------------

def _range_text(start_ns: int, end_ns: int, tz: str | None) -> str:
    text = f"[{start_ns}, {end_ns}] ns"
    return text if tz is None else f"{text} ({format_local(start_ns, tz)}–{format_local(end_ns, tz)})"


def check_held_out(model: DelayModel, key: str, start_ns: int, end_ns: int, fingerprint: str | None = None,
                   timezone: str | None = None) -> None:
    """ConfigError when ``[start, end)`` of tape ``key`` overlaps the model's training data (label windows included).

    A tape is the same as a training tape when its content ``fingerprint`` is
    (whatever its key or path), or, for a training tape recorded without a
    fingerprint (models trained before fingerprints were recorded), when its
    key is. ``timezone`` (the instrument's) adds local clock times to the error.
    """
    tr = model.train_range or {}
    tapes = tr.get("tapes")
    if tapes is None:  # a model from before per-tape records: one range over all its sources, matched by key
        tapes = ([{"key": k, "fingerprint": None, "start_ns": tr["start_ns"], "end_ns": tr["end_ns"],
                   "label_horizon_ns": tr.get("label_horizon_ns", 0)} for k in tr.get("sources", [])]
                 if "start_ns" in tr else [])
    for t in tapes:
        same_content = fingerprint is not None and t.get("fingerprint") == fingerprint
        if not (same_content or (t.get("fingerprint") is None and t["key"] == key)):
            continue
        first, last = int(t["start_ns"]), int(t["end_ns"]) + int(t.get("label_horizon_ns", 0))
        if start_ns <= last and first < end_ns:
            what = (f"the same content (fingerprint {fingerprint}) as training tape {t['key']}" if same_content
                    else f"training tape {t['key']} (matched by key: the model records no fingerprint)")
            raise ConfigError(f"{key}: the test range {_range_text(start_ns, end_ns, timezone)} is {what}, "
                              f"whose training range is {_range_text(first, last, timezone)} (label windows "
                              "included): they overlap, so it is not held out")
