"""Scenario → what a run executes: the strategy, its parent order, engine configuration and pre-trade inputs."""

from __future__ import annotations

import copy
import hashlib
import importlib
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import pandas as pd

from tickreplay.catalog import Catalog, default_root
from tickreplay.clock import format_local
from tickreplay.engine import EngineConfig, Strategy
from tickreplay.errors import ConfigError
from tickreplay.exchange import QueueModel
from tickreplay.experiment.data import MarketData, time_grid
from tickreplay.experiment.scenario import Scenario, check_order, resolve_time
from tickreplay.checks import list_mismatch
from tickreplay.impact import MarketInputs, PreTradeOrder
from tickreplay.impact.almgren_chriss import planned_schedule_risk_bps
from tickreplay.impact.frontier import canonical_ac_params
from tickreplay.impact.replay_impact import for_data
from tickreplay.latency import Burst, LatencyModel
from tickreplay.overlay.model import SIDECAR, DelayModel
from tickreplay.schedule import ParentOrder, PovPolicy, almgren_chriss, twap, vwap
from tickreplay.market.profile import estimate_volume_profile
from tickreplay.schedule.base import ChildOrder
from tickreplay.tca import PreTradeInputs
from tickreplay.trader import FEATURE_NAMES, ChildOrderExecutor, OverlayExecutor, PovExecutor

NS = 1_000_000_000


@dataclass(frozen=True)
class Plan:
    """What a run executes: the strategy, the parent order TCA judges (or None) and the planned schedule."""

    strategy: Strategy
    parent: ParentOrder | None
    start_ns: int
    planned: pd.DataFrame | None  # time_ns, planned_cum (size units); None for user strategies
    overlay: dict | None = None  # an active overlay's settings (model path, grid, limits); None: no overlay


def _times(scn: Scenario, data: MarketData) -> tuple[int, int, int]:
    """(arrival, start, end) ns of the parent; errors name the scenario, the key, the window and the data's session."""
    inst = data.tape.instrument
    p, where = scn.parent, scn.where()
    try:
        start = resolve_time(p.start, inst.date, inst.timezone, "parent.start")
        end = resolve_time(p.end, inst.date, inst.timezone, "parent.end")
        arrival = start if p.arrival is None else resolve_time(p.arrival, inst.date, inst.timezone, "parent.arrival")
        check_order("parent", "start", start, "end", end)  # local and ns times compared once both are ns
        check_order("parent", "arrival", arrival, "start", start, strict=False)
    except ConfigError as err:
        raise ConfigError(f"{where}: {err}") from None
    first, last = int(data.tape.ts_ns[0]), int(data.tape.ts_ns[-1])
    s0, s1 = data.replay.session_start_ns, data.replay.session_end_ns
    if start < max(s0, first) or end > s1:
        tz = inst.timezone

        def local(t: int) -> str:  # as a scenario writes it: "-1d 19:00:00" on the evening before the date
            return format_local(t, tz, day=inst.date)

        key = "parent.end" if start >= max(s0, first) else "parent.start"
        raise ConfigError(
            f"{where}: scenario key '{key}': the parent's window {local(start)}–{local(end)} "
            f"lies outside the data {data.key} ({inst.date} {tz}): session {local(s0)}–"
            f"{local(s1)}, events {local(first)}–{local(last)}; "
            f"the window must start at or after both and end by the session's close")
    return arrival, start, end


def _ac_coefficients(scn: Scenario, data: MarketData, parent: ParentOrder) -> tuple[float, float, float]:
    """(sigma, eta, epsilon) of the AC schedule: given, or the canonical model's mapping of the data's inputs."""
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
    return DelayModel.load(path, expect_features=FEATURE_NAMES)


def input_fingerprints(scn: Scenario) -> dict:
    """Content fingerprints of what a run reads besides its data: the ``[overlay]`` model folder's files (a retrained
    model at the same path is another run) and the catalog tapes of a VWAP profile."""
    out: dict = {}
    if scn.overlay is not None and scn.overlay.active:
        folder = scn.path(scn.overlay.model).resolve()
        h = hashlib.sha256()
        for f in (folder / SIDECAR, *sorted(folder.glob("booster_*.txt"))):  # the model, not reports beside it
            if f.is_file():
                h.update(f.name.encode() + b"\0" + f.read_bytes())
        out["overlay_model"] = h.hexdigest()
    s = scn.schedule
    if s.kind == "vwap" and s.profile != "same_day":
        root = default_root() if scn.data.catalog_root is None else scn.path(scn.data.catalog_root)
        out["vwap_profile"] = [Catalog(root).find(k).fingerprint for k in s.profile]
    return out


def overlay_model(scn: Scenario) -> DelayModel:
    """The ``[overlay]`` delay model (cached per process), checked against the overlay's feature list and the
    scenario's ``delays_s``; with the scenario's ``margin_bps`` when it gives one."""
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
        differs = list_mismatch("delay grid (s)", [d / NS for d in model.delays_ns], list(o.delays_s))
        if differs:
            raise ConfigError(f"scenario key 'overlay.delays_s': the model {path} has another grid: {differs}")
    if o.margin_bps is not None and o.margin_bps != model.margin_bps:
        model = copy.copy(model)  # shares the fitted boosters; only the margin differs
        model.margin_bps = o.margin_bps
    return model


def _overlay_executor(scn: Scenario, model: DelayModel, side: int, children: list[ChildOrder], end_ns: int,
                      replace_ns: int) -> tuple[Strategy, dict]:
    """The overlay executor of the scenario's children and what the results record about it."""
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
            cat = Catalog(default_root() if scn.data.catalog_root is None else scn.path(scn.data.catalog_root))
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
    t = time_grid(start, end)
    vol = np.array([data.market.traded(start, int(x))[0] for x in t], dtype=np.float64)
    return pd.DataFrame({"time_ns": t, "planned_cum": np.minimum(np.floor(rate * vol), qty).astype(np.int64)})


def engine_config(scn: Scenario, data: MarketData) -> EngineConfig:
    """Latency models (a burst model counts this data's messages), queue model, fees, seed and impact model
    (``[impact]``, its σ and V from this data when not given) of the scenario."""
    lat = scn.latency

    def bound(model: LatencyModel) -> LatencyModel:
        return model.on_tape(data.replay.ts_ns) if isinstance(model, Burst) else model

    q = scn.queue
    queue = QueueModel("risk_averse" if q.model == "risk_averse" else q.shape, q.exponent)
    return EngineConfig(md_latency=bound(lat.market_data), entry_latency=bound(lat.order_entry),
                        response_latency=bound(lat.response), allow_overtaking=lat.allow_overtaking,
                        queue_model=queue, fees=scn.fees, seed=scn.seed,
                        impact=None if scn.impact is None else for_data(scn.impact, data))


def schedule_risk(scn: Scenario, data: MarketData, parent: ParentOrder, planned: pd.DataFrame) -> dict:
    """The pre-trade model's risk of the planned schedule (:func:`~tickreplay.impact.almgren_chriss.planned_schedule_risk_bps`,
    bps of the arrival notional) with the daily volatility and trading-day length it used.

    Without a ``[pretrade]`` table the daily volatility is estimated from the data; where the data cannot give
    it (shorter than ~3 s) the risk is ``None`` and ``unavailable`` says why and what to give. With a
    ``[pretrade]`` table, that is an error (:func:`pretrade_inputs`)."""
    day_ns = data.day_ns or int(data.tape.ts_ns[-1] - data.tape.ts_ns[0])
    if scn.pretrade is None:
        try:
            daily_vol = _estimated_market(data, PRETRADE_MARKET_KEYS).daily_vol
        except ConfigError as err:
            return {"risk_bps": None, "daily_vol": None, "day_ns": day_ns, "unavailable": str(err)}
    else:
        daily_vol = pretrade_inputs(scn, data, parent).market.daily_vol
    risk = planned_schedule_risk_bps(planned["time_ns"].to_numpy(), parent.quantity, daily_vol, day_ns,
                                     cumulative=planned["planned_cum"].to_numpy(), start_ns=parent.start_ns,
                                     end_ns=parent.end_ns)
    return {"risk_bps": risk, "daily_vol": daily_vol, "day_ns": day_ns}


def pretrade_order(scn: Scenario, data: MarketData, parent: ParentOrder) -> PreTradeOrder:
    """The parent as the pre-trade models see it: at the currency value of one size unit at the arrival mid
    (the contract multiplier included)."""
    inst = data.tape.instrument
    ref = float(data.market.mid_x2_at(parent.start_ns)) / 2 / inst.price_scale / inst.size_scale * inst.multiplier
    return PreTradeOrder(parent.side, parent.quantity, ref, _participation(scn, data, parent))


def _participation(scn: Scenario, data: MarketData, parent: ParentOrder) -> float:
    if scn.pretrade is not None and scn.pretrade.participation is not None:
        return scn.pretrade.participation
    if scn.schedule.kind == "pov":
        return scn.schedule.participation
    vol, _ = data.market.traded(parent.start_ns, parent.end_ns)
    return min(1.0, parent.quantity / max(vol, 1))


#: the market inputs a ``[pretrade]`` table may give; those it does not are estimated from the data
PRETRADE_MARKET_KEYS = ("adv", "daily_vol", "spread_bps")


def _estimated_market(data: MarketData, missing: tuple[str, ...] | list[str]) -> MarketInputs:
    """The market inputs estimated from the data; where it cannot give them, a ConfigError naming the ``missing``
    ``[pretrade]`` keys to give instead."""
    try:
        return data.estimated.market
    except ConfigError as err:
        raise ConfigError(f"{err}; give {', '.join(missing)} in the scenario's [pretrade] table (adv: size units "
                          "per day, daily_vol: a fraction, spread_bps: bps of the mid)") from None


def pretrade_inputs(scn: Scenario, data: MarketData, parent: ParentOrder) -> PreTradeInputs:
    """Model inputs: those the scenario gives, the rest estimated from the data."""
    p = scn.pretrade
    given = {k: getattr(p, k) for k in PRETRADE_MARKET_KEYS} if p else {}
    shares = p.shares_outstanding if p else None
    if p is None or any(v is None for v in given.values()):
        try:
            est = _estimated_market(data, [k for k in PRETRADE_MARKET_KEYS if given.get(k) is None])
        except ConfigError as err:
            raise ConfigError(f"{scn.where()}: {err}") from None
        market = MarketInputs(**{k: (given.get(k) if given.get(k) is not None else getattr(est, k))
                                 for k in PRETRADE_MARKET_KEYS},
                              shares_outstanding=shares, days_used=est.days_used, notes=est.notes)
    else:
        market = MarketInputs(**given, shares_outstanding=shares)
    entry = scn.latency.order_entry
    return PreTradeInputs(market, _participation(scn, data, parent), p.model if p else "canonical",
                          dict(p.params) if p else {}, latency_ms=entry.typical_ns / 1e6,
                          latency_jitter_ms=entry.jitter_ns / 1e6)
