"""Scenario → run → results folder; several scenarios or a grid → a comparison table.

:func:`run_scenario` loads the scenario's data (cached per process: a study
replays one day many times), builds the strategy (a schedule executed by
:class:`~tickreplay.executor.ChildOrderExecutor` — or, with an active
``[overlay]``, by :class:`~tickreplay.overlay.OverlayExecutor` with the
scenario's delay model — a :class:`~tickreplay.strategies.PovExecutor`, or a
user class named ``"module:Class"``), runs the engine, measures the TCA and writes one
folder under the results root, atomically (temporary folder + rename: a
crash leaves no half-written run):

* ``scenario.toml`` — the scenario as written; ``run.json`` — run id, data, anomalies;
* ``orders.parquet`` (the order log), ``fills.parquet`` (:func:`tickreplay.tca.fill_table`);
* ``tca.json`` (:func:`tickreplay.tca.tca_summary`) when the run has a parent order;
* ``market.parquet`` — touch, mid and volume on a time grid over the run, and
  ``schedule.parquet`` — the planned cumulative quantity, for reports;
* ``pnl.parquet`` (:func:`tickreplay.strategies.pnl_table`) for user strategies,
  with its summary under ``pnl`` in ``tca.json``;
* ``decisions.parquet`` (:meth:`~tickreplay.overlay.OverlayExecutor.decision_table`)
  for overlay runs, with their summary under ``overlay`` in ``tca.json``.

An overlay that is absent, ``enabled = false`` or has ``max_delay_s = 0``
runs the static executor: the run is the static run, byte for byte.

The run id is the scenario name, the UTC time and a hash of the scenario,
so a rerun never replaces another run. :func:`compare` runs many scenarios
(optionally in worker processes) and returns one row per run.
"""

from __future__ import annotations

import copy
import hashlib
import importlib
import itertools
import json
import os
import re
import shutil
import tempfile
import tomllib
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from functools import cached_property, lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from tickreplay.book.snapshots import Snapshots
from tickreplay.catalog import Catalog
from tickreplay.engine import Engine, EngineConfig, RunResult, Strategy
from tickreplay.errors import ConfigError, TickreplayError
from tickreplay.exchange import FeeSchedule, QueueModel
from tickreplay.executor import ChildOrderExecutor
from tickreplay.impact import MarketInputs, PreTradeOrder
from tickreplay.impact.inputs import BAR_NS, EstimatedInputs, estimate_inputs
from tickreplay.latency import from_config as latency_from_config
from tickreplay.replaydata import ReplayData
from tickreplay.scenario import DataSpec, Scenario, parse_scenario, resolve_time, with_overrides

if TYPE_CHECKING:
    from tickreplay.overlay import DelayModel
from tickreplay.schedule import ParentOrder, PovPolicy, almgren_chriss, estimate_volume_profile, twap, vwap
from tickreplay.schedule.base import ChildOrder
from tickreplay.strategies.pnl import pnl_table
from tickreplay.strategies.pov import PovExecutor
from tickreplay.tape import Tape
from tickreplay.tca import MarketSeries, PreTradeInputs, fill_table, tca_summary

NS = 1_000_000_000
MARKET_POINTS = 2_000  # samples of the market path stored for reports
MARKET_TAIL_NS = 300 * NS  # the path goes on this long after the parent's end (markouts)
DEFAULT_RESULTS = "results"


# -- data -----------------------------------------------------------------------------------------

@dataclass(frozen=True, eq=False)
class MarketData:
    """One scenario's data: the tape, its snapshots, the replay precomputation and the TCA's market series."""

    key: str
    tape: Tape
    snapshots: Snapshots
    replay: ReplayData
    market: MarketSeries
    day_ns: int | None  # the trading day's length when the source knows it (generated days)
    report: dict = field(default_factory=dict)

    @cached_property
    def estimated(self) -> EstimatedInputs:
        """ADV, daily volatility, spread and volume profile of this data (5-minute bars; >= 20 bars on short data)."""
        span = int(self.tape.ts_ns[-1] - self.tape.ts_ns[0])
        bar = BAR_NS if span >= 20 * BAR_NS else max(NS, span // 20)
        return estimate_inputs([_InMemoryEntry(self)], bar_ns=bar, day_ns=self.day_ns,
                               profile_bin_ns=min(30 * 60 * NS, max(NS, span // 4)))


@dataclass(frozen=True)
class _InMemoryEntry:
    """What :func:`estimate_inputs` reads from a catalog entry, for data already in memory."""

    data: MarketData

    @property
    def key(self) -> str:
        return self.data.key

    def read_tape(self) -> Tape:
        return self.data.tape

    def read_snapshots(self) -> Snapshots:
        return self.data.snapshots


def _window(tape: Tape, snaps: Snapshots, spec: DataSpec) -> tuple[Tape, Snapshots]:
    if spec.start is None and spec.end is None:
        return tape, snaps
    inst = tape.instrument
    lo = 0 if spec.start is None else int(np.searchsorted(
        tape.ts_ns, resolve_time(spec.start, inst.date, inst.timezone, "data.start"), side="left"))
    hi = len(tape) if spec.end is None else int(np.searchsorted(
        tape.ts_ns, resolve_time(spec.end, inst.date, inst.timezone, "data.end"), side="right"))
    if hi <= lo:
        raise ConfigError(f"scenario keys 'data.start'/'data.end' leave no event of {inst.symbol} {inst.date}")
    return tape.slice(lo, hi), Snapshots(*(getattr(snaps, f)[lo:hi] for f in
                                           ("ask_price", "ask_size", "bid_price", "bid_size")))


@lru_cache(maxsize=4)
def _load(spec: DataSpec, base_dir: str) -> MarketData:
    from tickreplay.book.fast import compute_snapshots

    def path(p: str) -> Path:
        q = Path(p).expanduser()
        return q if q.is_absolute() else Path(base_dir) / q

    day_ns, report = None, {}
    if spec.catalog is not None:
        entry = Catalog(path(spec.catalog_root)).find(spec.catalog)
        tape = entry.read_tape()
        levels = [k for k in entry.snapshot_levels() if k >= spec.levels]
        snaps = entry.read_snapshots(levels[0] if levels else None)
        key, report = entry.key, entry.read_report()
    elif spec.lobster is not None:
        from tickreplay.adapters.lobster import read_lobster

        lob = spec.lobster
        res = read_lobster(path(lob.message), path(lob.orderbook), lob.symbol, lob.date, strict=spec.strict)
        tape, snaps = res.tape, res.snapshots
        key = f"lobster/{tape.instrument.symbol}/{tape.instrument.date}"
        report = {"anomalies": res.anomalies.to_dict(), **res.report}
    else:
        from tickreplay.adapters.synthetic import generate_day
        from tickreplay.adapters.synthetic_regimes import resolve

        syn = spec.synthetic
        tape = generate_day(syn.regime, syn.seed, date=syn.date, duration_s=syn.duration_s)
        snaps = compute_snapshots(tape, spec.levels)
        key = f"synthetic/{syn.regime}/seed{syn.seed}"
        day_ns = round(resolve(syn.regime)[1].session_seconds() * NS)
    tape, snaps = _window(tape, snaps, spec)
    replay = ReplayData.build(tape, snaps)
    return MarketData(key, tape, snaps, replay, MarketSeries.from_tape(tape, snaps), day_ns, report)


def load_data(scenario: Scenario) -> MarketData:
    """The scenario's data, loaded once per process for equal data specs."""
    return load_data_spec(scenario.data, scenario.base_dir)


def load_data_spec(spec: DataSpec, base_dir: str | Path = ".") -> MarketData:
    """The data of a ``[data]`` table (relative paths against ``base_dir``), cached per process."""
    return _load(spec, str(Path(base_dir).resolve()))


# -- strategy -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Plan:
    """What a run executes: the strategy, the parent order TCA judges (or None) and the planned schedule."""

    strategy: Strategy
    parent: ParentOrder | None
    start_ns: int
    planned: pd.DataFrame | None  # time_ns, planned_cum (size units); None for user strategies
    overlay: dict | None = None  # an active overlay's settings (model path, grid, limits); None: no overlay


def _times(scn: Scenario, data: MarketData) -> tuple[int, int, int]:
    inst = data.tape.instrument
    p = scn.parent
    start = resolve_time(p.start, inst.date, inst.timezone, "parent.start")
    end = resolve_time(p.end, inst.date, inst.timezone, "parent.end")
    arrival = start if p.arrival is None else resolve_time(p.arrival, inst.date, inst.timezone, "parent.arrival")
    if end <= start:
        raise ConfigError(f"scenario key 'parent.end' must be after parent.start ({p.start}), got {p.end!r}")
    if arrival > start:
        raise ConfigError(f"scenario key 'parent.arrival' must not be after parent.start ({p.start}), "
                          f"got {p.arrival!r}")
    return arrival, start, end


def _ac_coefficients(scn: Scenario, data: MarketData, parent: ParentOrder) -> tuple[float, float, float]:
    """(sigma, eta, epsilon) of the AC schedule: given, or the canonical model's mapping of the data's inputs."""
    from tickreplay.impact.frontier import canonical_ac_params

    s = scn.schedule
    order = pretrade_order(scn, data, parent)
    p = canonical_ac_params(order, pretrade_inputs(scn, data, parent).market)
    return (s.sigma if s.sigma is not None else p.sigma, s.eta if s.eta is not None else p.eta, p.epsilon)


def _load_class(path: str) -> type:
    module, _, name = path.partition(":")
    try:
        cls = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError) as err:
        raise ConfigError(f"scenario key 'schedule.strategy': cannot load {path!r} ({err})") from None
    if not (isinstance(cls, type) and issubclass(cls, Strategy)):
        raise ConfigError(f"scenario key 'schedule.strategy': {path!r} is not a tickreplay.engine.Strategy class")
    return cls


@lru_cache(maxsize=4)
def _read_model(path: str, mtime_ns: int) -> DelayModel:
    from tickreplay.overlay import FEATURE_NAMES, DelayModel

    return DelayModel.load(path, expect_features=FEATURE_NAMES)


def overlay_model(scn: Scenario) -> DelayModel:
    """The ``[overlay]`` delay model (cached per process), checked against the overlay's feature list and the
    scenario's ``delays_s``; with the scenario's ``margin_bps`` when it gives one."""
    from tickreplay.overlay.model import SIDECAR, _diff

    o = scn.overlay
    path = scn.path(o.model).resolve()
    sidecar = path / SIDECAR
    if not sidecar.is_file():
        raise ConfigError(f"scenario key 'overlay.model': {path} is not a delay model folder (no {SIDECAR}); "
                          f"train one with 'tickreplay overlay train --scenario ... --out {o.model}'")
    try:
        model = _read_model(str(path), sidecar.stat().st_mtime_ns)
    except ConfigError as err:
        raise ConfigError(f"scenario key 'overlay.model': {err}") from None
    if o.delays_s is not None:
        differs = _diff("delay grid (s)", [d / NS for d in model.delays_ns], list(o.delays_s))
        if differs:
            raise ConfigError(f"scenario key 'overlay.delays_s': the model {path} has another grid: {differs}")
    if o.margin_bps is not None and o.margin_bps != model.margin_bps:
        model = copy.copy(model)  # shares the fitted boosters; only the margin differs
        model.margin_bps = o.margin_bps
    return model


def _overlay_executor(scn: Scenario, model: DelayModel, side: int, children: list[ChildOrder], end_ns: int,
                      replace_ns: int) -> tuple[Strategy, dict]:
    """The overlay executor of the scenario's children and what the results record about it."""
    from tickreplay.overlay import OverlayExecutor

    o, s = scn.overlay, scn.schedule
    ex = OverlayExecutor(side, children, model, round(o.max_delay_s * NS), model.delays_ns, end_ns=end_ns,
                         replace_after_ns=replace_ns, max_replaces=s.max_replaces,
                         finish_with_market=s.finish_with_market)
    info = {"model": str(scn.path(o.model).resolve()), "max_delay_s": o.max_delay_s,
            "delays_s": [d / NS for d in model.delays_ns], "margin_bps": model.margin_bps,
            "model_train_range": model.train_range}
    return ex, info


def build_plan(scn: Scenario, data: MarketData) -> Plan:
    """The strategy for the scenario's schedule, its parent order and the planned cumulative quantity."""
    s = scn.schedule
    inst = data.tape.instrument
    if s.kind == "strategy":
        cls = _load_class(s.strategy)
        try:
            strategy = cls(**s.params)
        except (TypeError, ValueError) as err:
            raise ConfigError(f"scenario key 'schedule.params': {s.strategy} refused them ({err})") from None
        if scn.parent is None:
            return Plan(strategy, None, data.replay.session_start_ns, None)
        arrival, start, end = _times(scn, data)
        return Plan(strategy, ParentOrder(scn.parent.side, scn.parent.quantity, arrival, end), start, None)
    arrival, start, end = _times(scn, data)
    side, qty = scn.parent.side, scn.parent.quantity
    parent = ParentOrder(side, qty, arrival, end)
    sched_parent = ParentOrder(side, qty, start, end)
    lot = s.lot_size or inst.lot_size
    replace_ns = round(s.cancel_replace_after_s * NS)
    common = dict(style=s.style, lot_size=lot, offset_ticks=s.offset_ticks)
    if s.kind == "pov":
        policy = PovPolicy(s.participation, s.min_child, s.max_child, qty, lot, start, end)
        strategy = PovExecutor(side, policy, s.style, s.offset_ticks, parent.parent_id, replace_ns, s.max_replaces,
                               s.finish_with_market)
        return Plan(strategy, parent, arrival, _pov_plan(data, s.participation, qty, start, end))
    if s.kind == "twap":
        children = twap(sched_parent, n_children=s.n_children,
                        interval_ns=None if s.interval_s is None else round(s.interval_s * NS), **common)
    elif s.kind == "vwap":
        bin_ns = round(s.profile_bin_min * 60 * NS)
        if s.profile == "same_day":
            profile = estimate_volume_profile([data.tape], bin_ns)
        else:
            cat = Catalog(scn.path(scn.data.catalog_root))
            profile = estimate_volume_profile([cat.find(k).read_tape() for k in s.profile], bin_ns)
        children = vwap(sched_parent, profile, **common)
    else:
        sigma, eta, eps = _ac_coefficients(scn, data, parent)
        day_ns = data.day_ns or int(data.tape.ts_ns[-1] - data.tape.ts_ns[0])
        children = almgren_chriss(sched_parent, s.n_children, sigma, eta, epsilon=eps, risk_aversion=s.risk_aversion,
                                  day_ns=day_ns, **common)
    strategy: Strategy = ChildOrderExecutor(side, children, replace_ns, s.max_replaces, s.finish_with_market)
    overlay = None
    if scn.overlay is not None and scn.overlay.enabled:
        model = overlay_model(scn)  # checked even when max_delay_s = 0: a wrong model fails before any run
        if scn.overlay.active:
            strategy, overlay = _overlay_executor(scn, model, side, children, end, replace_ns)
    planned = pd.DataFrame({"time_ns": np.array([c.time_ns for c in children], np.int64),
                            "planned_cum": np.cumsum([c.quantity for c in children]).astype(np.int64)})
    return Plan(strategy, parent, arrival, planned, overlay)


def _pov_plan(data: MarketData, rate: float, qty: int, start: int, end: int) -> pd.DataFrame:
    """POV's target path: ``min(rate × market volume since start, quantity)`` on the market grid."""
    t = _grid(start, end)
    vol = np.array([data.market.traded(start, int(x))[0] for x in t], dtype=np.float64)
    return pd.DataFrame({"time_ns": t, "planned_cum": np.minimum(np.floor(rate * vol), qty).astype(np.int64)})


# -- engine config and pre-trade ------------------------------------------------------------------

def engine_config(scn: Scenario, data: MarketData) -> EngineConfig:
    """Latency models, queue model, fees and seed of the scenario."""
    lat = scn.latency
    models = {}
    for key, attr in (("market_data", "md_latency"), ("order_entry", "entry_latency"),
                      ("response", "response_latency")):
        try:
            models[attr] = latency_from_config(getattr(lat, key), data.replay.ts_ns)
        except (ConfigError, TypeError, ValueError) as err:
            raise ConfigError(f"scenario key 'latency.{key}': {err}") from None
    q = scn.queue
    queue = QueueModel("risk_averse" if q.model == "risk_averse" else q.shape, q.exponent)
    return EngineConfig(**models, allow_overtaking=lat.allow_overtaking, queue_model=queue,
                        fees=FeeSchedule(**asdict(scn.fees)), seed=scn.seed)


def pretrade_order(scn: Scenario, data: MarketData, parent: ParentOrder) -> PreTradeOrder:
    """The parent as the pre-trade models see it: at the arrival mid per size unit."""
    inst = data.tape.instrument
    ref = float(data.market.mid_x2_at(parent.start_ns)) / 2 / inst.price_scale / inst.size_scale
    return PreTradeOrder(parent.side, parent.quantity, ref, _participation(scn, data, parent))


def _participation(scn: Scenario, data: MarketData, parent: ParentOrder) -> float:
    if scn.pretrade is not None and scn.pretrade.participation is not None:
        return scn.pretrade.participation
    if scn.schedule.kind == "pov":
        return scn.schedule.participation
    vol, _ = data.market.traded(parent.start_ns, parent.end_ns)
    return min(1.0, parent.quantity / max(vol, 1))


def pretrade_inputs(scn: Scenario, data: MarketData, parent: ParentOrder) -> PreTradeInputs:
    """Model inputs: those the scenario gives, the rest estimated from the data."""
    p = scn.pretrade
    given = {k: getattr(p, k) for k in ("adv", "daily_vol", "spread_bps")} if p else {}
    shares = p.shares_outstanding if p else None
    if p is None or any(v is None for v in given.values()):
        est = data.estimated.market
        market = MarketInputs(**{k: (given.get(k) if given.get(k) is not None else getattr(est, k))
                                 for k in ("adv", "daily_vol", "spread_bps")},
                              shares_outstanding=shares, days_used=est.days_used, notes=est.notes)
    else:
        market = MarketInputs(**given, shares_outstanding=shares)
    lat_ms = _mean_ms(scn.latency.order_entry)
    return PreTradeInputs(market, _participation(scn, data, parent), p.model if p else "canonical",
                          dict(p.params) if p else {}, latency_ms=lat_ms)


def _mean_ms(cfg: Any) -> float:
    """A latency table's typical value in ms (constant/mean/median), for the model's latency term."""
    if isinstance(cfg, (int, float)):
        return float(cfg)
    for key in ("latency", "mean", "median"):
        for suffix, scale in (("_ms", 1.0), ("_us", 1e-3), ("_ns", 1e-6)):
            if f"{key}{suffix}" in cfg:
                return float(cfg[f"{key}{suffix}"]) * scale
    return 0.0


# -- one run --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class RunOutcome:
    """A finished run: its id and folder, the scenario and the TCA (``tca.json``'s content)."""

    run_id: str
    path: Path
    scenario: Scenario
    tca: dict


def _grid(t0: int, t1: int) -> np.ndarray:
    step = max(NS // 10, (t1 - t0) // MARKET_POINTS)
    return np.arange(t0, t1 + 1, step, dtype=np.int64)


def market_path(data: MarketData, t0: int, t1: int) -> pd.DataFrame:
    """Touch, mid (×2) and cumulative market volume as of each point of a grid over ``[t0, t1]``."""
    t = _grid(t0, min(t1, int(data.tape.ts_ns[-1])))
    i = np.searchsorted(data.replay.ts_ns, t, side="right") - 1  # -1: before the first event (no book, no volume)
    j = np.maximum(i, 0)
    snap = data.snapshots
    return pd.DataFrame({"ts_ns": t, "bid": np.where(i >= 0, snap.bid_price[j, 0], 0),
                         "ask": np.where(i >= 0, snap.ask_price[j, 0], 0),
                         "mid_x2": data.market.mid_x2_at(t), "cum_volume": data.market.cum_volume[i + 1]})


def scenario_hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:8]


def new_run_id(name: str, text: str, root: Path) -> str:
    """``<name>_<UTC yyyymmdd-HHMMSS>_<hash>``, with ``-2``, ``-3``... if that folder exists."""
    safe = re.sub(r"[^A-Za-z0-9_.=+-]+", "-", name).strip("-.") or "run"
    base = f"{safe}_{datetime.now(timezone.utc):%Y%m%d-%H%M%S}_{scenario_hash(text)}"
    run_id, k = base, 1
    while (root / run_id).exists():
        k += 1
        run_id = f"{base}-{k}"
    return run_id


def _write_parquet(df: pd.DataFrame, path: Path) -> None:
    pq.write_table(pa.Table.from_pandas(df, preserve_index=False), path)


def execute(scn: Scenario, data: MarketData | None = None) -> tuple[Plan, RunResult, MarketData]:
    """Run the scenario in the engine (no files): the plan, the engine's result and the data."""
    data = data or load_data(scn)
    plan = build_plan(scn, data)
    result = Engine(data.replay, engine_config(scn, data)).run(plan.strategy, start_ns=plan.start_ns)
    return plan, result, data


def measure(scn: Scenario, plan: Plan, result: RunResult, data: MarketData) -> tuple[dict, dict[str, pd.DataFrame]]:
    """``tca.json``'s content and the tables of the results folder."""
    tables = {"orders": result.orders}
    tca: dict = {}
    fills = result.fills
    if plan.parent is not None:
        pre = pretrade_inputs(scn, data, plan.parent) if scn.pretrade is not None else None
        tca = tca_summary(fills, result.orders, plan.parent, data.market, pre)
        tables["fills"] = fill_table(fills, plan.parent, data.market)
        t0, t1 = plan.parent.start_ns, plan.parent.end_ns + MARKET_TAIL_NS
    else:
        tables["fills"] = fills
        t0 = plan.start_ns
        t1 = int(max(fills["exchange_ns"].max() if len(fills) else t0, t0 + NS))
    if plan.planned is not None:
        tables["schedule"] = plan.planned
    if plan.overlay is not None:
        decisions = plan.strategy.decision_table()
        tables["decisions"] = decisions
        tca["overlay"] = overlay_summary(decisions, plan.overlay)
    if scn.schedule.kind == "strategy":
        end = int(max(t1, fills["exchange_ns"].max() if len(fills) else t1))
        pnl = pnl_table(fills, data.market, plan.start_ns, end, round(scn.pnl_step_s * NS))
        tables["pnl"] = pnl
        tca["pnl"] = pnl_summary(pnl, fills)
        t1 = end
    tables["market"] = market_path(data, min(t0, plan.start_ns), t1)
    return tca, tables


def overlay_summary(decisions: pd.DataFrame, settings: dict) -> dict:
    """How many children the overlay delayed and by how much (seconds; ``delay_counts``: children per delay),
    with its settings (JSON-ready)."""
    delay_s = decisions["delay_ns"].to_numpy(np.int64) / NS
    values, counts = np.unique(delay_s, return_counts=True)
    return {"n_children": int(len(delay_s)), "n_delayed": int(np.sum(delay_s > 0)),
            "mean_delay_s": float(delay_s.mean()) if len(delay_s) else 0.0,
            "max_delay_used_s": float(delay_s.max()) if len(delay_s) else 0.0,
            "delay_counts": {f"{v:g}": int(c) for v, c in zip(values, counts)}, **settings}


def pnl_summary(pnl: pd.DataFrame, fills: pd.DataFrame) -> dict:
    """Final position and PnL, extremes, and traded volume of a user strategy (JSON-ready)."""
    last = pnl.iloc[-1] if len(pnl) else None
    out = {k: (float(last[k]) if last is not None else 0.0)
           for k in ("realised_pnl", "unrealised_pnl", "total_pnl", "fees", "inventory")}
    out.update(final_position=int(last["position"]) if last is not None else 0,
               max_abs_position=int(pnl["position"].abs().max()) if len(pnl) else 0,
               fills=int(len(fills)), volume=int(fills["size"].sum()) if len(fills) else 0,
               min_total_pnl=float(pnl["total_pnl"].min()) if len(pnl) else 0.0,
               max_total_pnl=float(pnl["total_pnl"].max()) if len(pnl) else 0.0)
    return out


def run_scenario(scn: Scenario, out_root: str | Path = DEFAULT_RESULTS, text: str | None = None) -> RunOutcome:
    """Run ``scn`` and write its results folder under ``out_root`` (see module docstring).

    ``text``: the scenario file's content, copied as ``scenario.toml``
    (default: the scenario's document written back as TOML).
    """
    text = text if text is not None else dumps_toml(scn.raw)
    plan, result, data = execute(scn)
    tca, tables = measure(scn, plan, result, data)
    root = Path(out_root)
    run_id = new_run_id(scn.name, text, root)
    meta = {"run_id": run_id, "scenario": scn.name, "data": data.key, "base_dir": str(Path(scn.base_dir).resolve()),
            "created_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "instrument": asdict(data.tape.instrument), "ingest": data.report,
            "unpriced_children": getattr(plan.strategy, "unpriced", 0)}
    root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{run_id}.", suffix=".tmp", dir=root))
    try:
        (tmp / "scenario.toml").write_text(text, encoding="utf-8")  # TOML is UTF-8
        for name, df in tables.items():
            _write_parquet(df, tmp / f"{name}.parquet")
        (tmp / "tca.json").write_text(json.dumps(tca, indent=2))
        run_id = _publish(tmp, root, run_id, meta)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
    return RunOutcome(run_id, root / run_id, scn, tca)


def _publish(tmp: Path, root: Path, run_id: str, meta: dict) -> str:
    """Rename the finished folder ``tmp`` to ``root/run_id``, never over another run: a run that took the id
    meanwhile (another process, same scenario, same second) makes this one ``-2``, ``-3``...; returns the id."""
    base, k = run_id, 1
    while True:
        (tmp / "run.json").write_text(json.dumps({**meta, "run_id": run_id}, indent=2, default=str))
        try:
            os.rename(tmp, root / run_id)  # fails on a folder that holds files (a run), never replaces it
            return run_id
        except OSError:
            if not (root / run_id).exists():
                raise
        k += 1
        run_id = f"{base}-{k}"


def run_file(path: str | Path, out_root: str | Path = DEFAULT_RESULTS) -> RunOutcome:
    """Load a scenario file and run it (its text is copied into the results)."""
    from tickreplay.scenario import load_scenario

    path = Path(path)
    return run_scenario(load_scenario(path), out_root, path.read_text())


# -- many runs ------------------------------------------------------------------------------------

def load_grid(path: str | Path) -> list[Scenario]:
    """Scenarios of a grid file: ``base`` (a scenario file, relative to the grid) and ``[sweep]``.

    Every ``[sweep]`` key is a dotted scenario key (``"schedule.style"``)
    with a list of values; the grid is their Cartesian product, in file
    order. Each scenario is named ``<name>[key=value,...]`` (``name``
    defaults to the base scenario's).
    """
    path = Path(path)
    try:
        doc = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{path}: not valid TOML ({err})") from None
    unknown = set(doc) - {"base", "name", "sweep"}
    if unknown:
        raise ConfigError(f"{path}: unknown grid key '{sorted(unknown)[0]}' (known: base, name, sweep)")
    if not isinstance(doc.get("base"), str):
        raise ConfigError(f"{path}: grid key 'base' must name a scenario file")
    sweep = doc.get("sweep", {})
    if not isinstance(sweep, dict) or not sweep or \
            not all(isinstance(v, list) and v for v in sweep.values()):
        raise ConfigError(f"{path}: grid key 'sweep' must be a table of non-empty lists")
    base_path = path.parent / doc["base"]
    try:
        base = tomllib.loads(base_path.read_text())
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{base_path}: not valid TOML ({err})") from None
    name = doc.get("name", base.get("name", base_path.stem))
    out = []
    for combo in itertools.product(*sweep.values()):
        over = dict(zip(sweep, combo))
        label = ",".join(f"{k.split('.')[-1]}={v}" for k, v in over.items())
        sdoc = with_overrides(base, {**over, "name": f"{name}[{label}]"})
        try:
            out.append(parse_scenario(sdoc, base_dir=base_path.parent))
        except ConfigError as err:
            raise ConfigError(f"{path}: {label}: {err}") from None
    return out


def _run_doc(doc: dict, name: str, base_dir: str, out_root: str, text: str | None) -> RunOutcome:
    return run_scenario(parse_scenario(doc, name, base_dir), out_root, text)


def compare(scenarios: Sequence[Scenario], out_root: str | Path = DEFAULT_RESULTS, jobs: int = 1,
            progress: bool = True, texts: Sequence[str | None] | None = None) -> pd.DataFrame:
    """Run every scenario (``jobs`` > 1: in worker processes) and return one row per run, in input order."""
    from tqdm import tqdm

    texts = list(texts) if texts is not None else [None] * len(scenarios)
    outcomes: list[RunOutcome | None] = [None] * len(scenarios)
    with tqdm(total=len(scenarios), desc="runs", unit="run", disable=not progress, leave=False) as bar:
        if jobs <= 1:
            for k, scn in enumerate(scenarios):
                outcomes[k] = run_scenario(scn, out_root, texts[k])
                bar.update()
        else:
            with ProcessPoolExecutor(max_workers=jobs) as pool:
                futs = {pool.submit(_run_doc, s.raw, s.name, s.base_dir, str(out_root), texts[k]): k
                        for k, s in enumerate(scenarios)}
                for fut in as_completed(futs):
                    outcomes[futs[fut]] = fut.result()
                    bar.update()
    return comparison_table([o for o in outcomes if o is not None])


def comparison_row(o: RunOutcome) -> dict:
    """The figures a comparison shows for one run (None where the run has no such figure)."""
    s = o.scenario.schedule
    tca = o.tca
    sf = tca.get("shortfall", {})
    win = tca.get("window", {})
    pre = tca.get("pretrade") or {}
    mk = tca.get("markouts", {})
    row = {"run_id": o.run_id, "name": o.scenario.name, "kind": s.kind, "style": s.style,
           "filled_pct": 100.0 * sf["filled"] / sf["quantity"] if sf else None,
           "total_bps": sf.get("total_bps")}
    for part in ("spread", "impact", "delay", "timing", "fees", "opportunity"):
        row[f"{part}_bps"] = sf.get(f"{part}_bps")
    row["vwap_slippage_bps"] = win.get("vwap_slippage_bps")
    row["participation"] = win.get("participation")
    row["participation_active"] = win.get("participation_active")
    row["markout_1min_bps"] = (mk.get("1min") or {}).get("all_bps")
    row["predicted_bps"] = pre.get("predicted_bps")
    if "pnl" in tca:
        row.update(total_pnl=tca["pnl"]["total_pnl"], final_position=tca["pnl"]["final_position"])
    return row


def comparison_table(outcomes: Sequence[RunOutcome]) -> pd.DataFrame:
    return pd.DataFrame([comparison_row(o) for o in outcomes])


# -- TOML out -------------------------------------------------------------------------------------

def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, str):
        return _toml_str(v)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{_toml_key(k)} = {_toml_value(x)}" for k, x in v.items()) + "}"
    raise TickreplayError(f"cannot write {v!r} as TOML")


def _toml_str(s: str) -> str:
    """A TOML basic string: JSON's escapes, but non-ASCII characters as themselves (JSON escapes those beyond
    the BMP as surrogate pairs, which TOML refuses) and DEL escaped (TOML refuses it raw)."""
    return json.dumps(s, ensure_ascii=False).replace("\x7f", "\\u007f")


def _toml_key(k: str) -> str:
    return k if re.fullmatch(r"[A-Za-z0-9_-]+", k) else _toml_str(k)


def dumps_toml(doc: dict) -> str:
    """A scenario document as TOML: top-level scalars, then one ``[table]`` per section (nested tables inline)."""
    lines = [f"{_toml_key(k)} = {_toml_value(v)}" for k, v in doc.items() if not isinstance(v, dict)]
    for k, v in doc.items():
        if isinstance(v, dict):
            lines += ["", f"[{_toml_key(k)}]"] + [f"{_toml_key(a)} = {_toml_value(b)}" for a, b in v.items()]
    return "\n".join(lines) + "\n"


__all__ = ["MarketData", "Plan", "RunOutcome", "build_plan", "compare", "comparison_table", "dumps_toml",
           "engine_config", "execute", "load_data", "load_data_spec", "load_grid", "market_path", "measure", "new_run_id",
           "overlay_model", "overlay_summary", "pretrade_inputs", "run_file", "run_scenario"]
