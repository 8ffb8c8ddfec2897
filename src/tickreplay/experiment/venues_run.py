"""Run a scenario with ``[[venues]]`` and ``[router]`` (docs/venues.md): load or generate the venues, route the
schedule's children, measure per venue.

The venues' tapes: with ``share`` keys, the ``[data.synthetic]`` day split across the venues
(:func:`~tickreplay.venues.generate.split_tape`, seeded by the day's seed); with ``catalog`` keys, each venue's
catalog entry read with ``[data]``'s window, levels and catalog root; with generated venues (a flow ``seed``,
:class:`~tickreplay.venues.generate.VenueGenerator`), each venue's own flow on the latent path of
``[data.synthetic]``'s instrument (regime and seed), cut to ``[data]``'s window. Venues of different instruments
or tick sizes are refused, naming the scenario file and the venue's key. The schedule's children are those
:func:`~tickreplay.experiment.plan.build_plan` makes on the *planning data* (:func:`planning_data`: ``[data]``'s
data — the generated day of all the venues, or the first venue's catalog tape — or, with generated venues, the
first venue's day). ``tickreplay run`` stores such a run like any other
(:func:`tickreplay.experiment.run.compute_run` calls :func:`plan_venues`, :func:`run_planned` and
:func:`measure_venues`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import lru_cache

import numpy as np
import pandas as pd

from tickreplay.engine import EngineConfig, RunResult
from tickreplay.errors import ConfigError, TickreplayError
from tickreplay.exchange import QueueModel
from tickreplay.experiment.data import (NS as DATA_NS, MarketData, _market_data, _window, from_tape, load_data,
                                        load_data_spec, time_grid)
from tickreplay.experiment.plan import Plan
from tickreplay.experiment.scenario import DataSpec, Scenario, VenueSpec
from tickreplay.tca.market import MarketSeries
from tickreplay.venues.consolidated import check_same_instrument
from tickreplay.venues.engine import Venue, VenueEngine
from tickreplay.venues.router_strategy import RoutedExecutor, RouterPolicy, check_policy_venues
from tickreplay.venues.tca import consolidated_market, venue_figures, venue_tca

NS = 1_000_000_000


def venue_engine_config(v: VenueSpec, seed: int) -> EngineConfig:
    lat, q = v.latency, v.queue
    return EngineConfig(md_latency=lat.market_data, entry_latency=lat.order_entry, response_latency=lat.response,
                        allow_overtaking=lat.allow_overtaking,
                        queue_model=QueueModel("risk_averse" if q.model == "risk_averse" else q.shape, q.exponent),
                        fees=v.fees, seed=seed)


def venue_data(scn: Scenario, data: MarketData | None = None) -> list[MarketData]:
    """Each venue's data, in ``[[venues]]`` order (errors name the scenario file and the venue's key). ``data``:
    the scenario's ``[data]`` as loaded (:func:`~tickreplay.experiment.data.load_data`); with ``share`` keys its
    tape (the generated day, in ``[data]``'s window) is the one split (loaded here when None). Generated venues are
    generated here, once per process for equal ``[data]`` and venues."""
    where = scn.where()
    if scn.venues[0].generator is not None:
        try:
            return list(_generated_data(scn.data, tuple((v.name, v.generator) for v in scn.venues)))
        except ConfigError as err:
            raise ConfigError(f"{where}: {err}") from None
    if scn.venues[0].share is not None:
        from tickreplay.venues.generate import split_tape

        if data is None:
            data = load_data(scn)
        day = data.tape
        tapes = split_tape(day, {v.name: v.share for v in scn.venues}, scn.data.synthetic.seed)
        return [from_tape(tapes[v.name], f"{v.name}:{data.key}", scn.data.levels, data.day_ns) for v in scn.venues]
    out = []
    for k, v in enumerate(scn.venues):
        try:
            out.append(load_data_spec(replace(scn.data, catalog=v.catalog), scn.base_dir))
        except TickreplayError as err:
            raise ConfigError(f"{where}: scenario key 'venues[{k}].catalog' ({v.catalog!r}): {err}") from None
    try:
        check_same_instrument([(v.name, d.tape.instrument, f"catalog key {v.catalog!r}")
                               for v, d in zip(scn.venues, out)])
    except ConfigError as err:
        raise ConfigError(f"{where}: {err}") from None
    return out


@lru_cache(maxsize=2)
def _generated_data(spec: DataSpec, venues: tuple) -> tuple[MarketData, ...]:
    """Generated venues' data (cached per process, as :func:`~tickreplay.experiment.data.load_data` caches
    ``[data]``): each venue's ``(name, VenueGenerator)`` flow on the latent path of ``spec.synthetic``'s regime and
    seed, with ``spec``'s window and levels; keys ``<venue>:synthetic/<instrument symbol>/<date>``."""
    from tickreplay.adapters.synthetic_regimes import resolve
    from tickreplay.book.fast import compute_snapshots
    from tickreplay.venues.generate import generated_venues

    syn = spec.synthetic
    index = {name: k for k, (name, _) in enumerate(venues)}
    tapes = generated_venues(syn.regime, syn.seed, dict(venues), syn.date, syn.duration_s,
                             lambda name: f"scenario key 'venues[{index[name]}]'")
    out = []
    for name, tape in tapes.items():
        fingerprint = tape.fingerprint()
        tape, snaps = _window(tape, compute_snapshots(tape, spec.levels), spec)
        key = f"{name}:synthetic/{tape.instrument.symbol}/{tape.instrument.date}"
        day_ns = round(resolve(syn.regime)[1].session_seconds() * DATA_NS)
        out.append(_market_data(key, tape, snaps, day_ns, {}, fingerprint))
    return tuple(out)


def planning_data(scn: Scenario, data: MarketData) -> MarketData:
    """The data a multi-venue scenario's schedule is planned and its pre-trade inputs measured on: ``data``
    (``[data]``'s: the generated day of all ``share`` venues, or the first catalog venue's tape), or with
    generated venues the first venue's day (``[data.synthetic]``'s plain day is not on their latent path)."""
    return venue_data(scn, data)[0] if scn.venues and scn.venues[0].generator is not None else data


def venue_sources(scn: Scenario) -> dict:
    """``run.json``'s ``venues``: each venue's ``catalog`` key, its ``share``, or its ``generator`` (the settings as
    given) with the latent ``path`` (regime and seed of ``[data.synthetic]``)."""
    out = {}
    for v in scn.venues:
        if v.generator is not None:
            syn = scn.data.synthetic
            out[v.name] = {"generator": v.generator.describe(), "path": {"regime": syn.regime, "seed": syn.seed}}
        else:
            out[v.name] = {"catalog": v.catalog} if v.catalog else {"share": v.share}
    return out


def venue_fingerprints(scn: Scenario) -> list[str]:
    """What of the venues' data a run id hashes beyond ``[data]``'s: each catalog venue's tape fingerprint (as its
    entry records it; no tape read), or each generated venue's tape fingerprint (the venues are generated, once per
    process). Shared venues: none (their tapes are a seeded split of ``[data]``'s day, which the scenario's spec and
    ``[data]``'s fingerprint decide)."""
    if scn.venues and scn.venues[0].generator is not None:
        return [d.fingerprint for d in venue_data(scn)]
    if not scn.venues or scn.venues[0].catalog is None:
        return []
    from tickreplay.catalog import Catalog, default_root

    root = default_root() if scn.data.catalog_root is None else scn.path(scn.data.catalog_root)
    out = []
    for k, v in enumerate(scn.venues):
        try:
            out.append(Catalog(root).find(v.catalog).fingerprint)
        except TickreplayError as err:
            raise ConfigError(f"{scn.where()}: scenario key 'venues[{k}].catalog' ({v.catalog!r}): {err}") from None
    return out


def policy_of(scn: Scenario) -> RouterPolicy:
    """The scenario's ``[router]`` as a :class:`RouterPolicy`."""
    r = scn.router
    return RouterPolicy(r.policy, r.venue, round(r.horizon_s * NS), r.lambda_under_ticks, r.lambda_over_ticks,
                        r.n_windows)


@dataclass(frozen=True)
class VenueRun:
    """A multi-venue run: the plan (its strategy the :class:`RoutedExecutor`), the engine's result (orders and fills
    with their ``venue``), the venues and their consolidated market (TCA's benchmark and markouts)."""

    plan: Plan
    result: RunResult
    venues: list[Venue]
    market: MarketSeries


def plan_venues(scn: Scenario, data: MarketData | None = None) -> tuple[Plan, list[Venue]]:
    """The routed plan and the venues of a scenario with ``[[venues]]``. The schedule's children are made by
    :func:`~tickreplay.experiment.plan.build_plan` on ``data`` (``[data]``'s: the generated day of all the venues,
    or the first venue's catalog tape); its strategy is replaced by a :class:`RoutedExecutor` of the ``[router]``
    policy."""
    if not scn.venues:
        raise ConfigError(f"{scn.where()}: no [[venues]]: run it with tickreplay.experiment.run_file")
    from tickreplay.experiment.plan import build_plan

    data = data if data is not None else load_data(scn)
    vdata = venue_data(scn, data)
    venues = [Venue(v.name, d.replay, venue_engine_config(v, scn.seed)) for v, d in zip(scn.venues, vdata)]
    plan = build_plan(replace(scn, venues=(), router=None), planning_data(scn, data))
    ex = RoutedExecutor(plan.parent.side, plan.strategy.children, policy_of(scn), plan.parent.quantity)
    return replace(plan, strategy=ex), venues


def execute_venues(scn: Scenario, data: MarketData | None = None, policy: RouterPolicy | None = None) -> VenueRun:
    """Plan and run the scenario on its venues (no files); ``policy`` overrides ``[router]``."""
    plan, venues = plan_venues(scn, data)
    if policy is not None:
        check_policy_venues(policy, [v.name for v in venues])
        ex = plan.strategy
        plan = replace(plan, strategy=RoutedExecutor(ex.side, ex.children, policy, ex.quantity))
    return run_planned(plan, venues, scn.seed)


def run_planned(plan: Plan, venues: list[Venue], seed: int) -> VenueRun:
    """Run a routed plan on its venues with the engine seed ``seed``."""
    result = VenueEngine(venues, seed=seed).run(plan.strategy, start_ns=plan.start_ns)
    return VenueRun(plan, result, venues, consolidated_market({v.name: v.replay for v in venues}))


def router_summary(ex: RoutedExecutor) -> dict:
    """``tca.json``'s ``router``: the policy's settings and what it routed (decisions, size sent per leg)."""
    p = ex.policy
    legs: dict[str, int] = {}
    for r in ex.routes:
        for leg, size in r["legs"].items():
            legs[leg] = legs.get(leg, 0) + int(size)
    out = {"policy": p.kind, "label": p.label, "decisions": len(ex.routes),
           "sweeps": sum(r["what"] == "sweep" for r in ex.routes), "sent": legs}
    if p.kind == "single":
        out["venue"] = p.venue
    if p.kind == "cont-kukanov":
        out.update(horizon_s=p.horizon_ns / NS, lambda_under_ticks=p.lambda_under_ticks,
                   lambda_over_ticks=p.lambda_over_ticks, n_windows=p.n_windows)
    return out


def measure_venues(scn: Scenario, run: VenueRun, data: MarketData) -> tuple[dict, dict]:
    """``tca.json``'s content and the tables of a multi-venue run's results folder: the parent's TCA against the
    consolidated market (as a one-venue run's: shortfall, window, passive, markouts; pre-trade inputs and the
    schedule's risk from :func:`planning_data` of ``data``), ``venues`` (per-venue figures, :func:`venue_figures`)
    and ``router`` (:func:`router_summary`); tables ``orders`` and ``fills`` (their ``venue`` column; the fills with the per-fill
    TCA columns), ``schedule`` and ``market`` (the consolidated touch, :func:`consolidated_path`)."""
    from tickreplay.experiment.plan import pretrade_inputs, schedule_risk
    from tickreplay.experiment.run import MARKET_TAIL_NS, FillsWithTca
    from tickreplay.tca.summary import measure_parent

    plan, res = run.plan, run.result
    parent = plan.parent
    data = planning_data(scn, data)
    pre = pretrade_inputs(scn, data, parent) if scn.pretrade is not None else None
    fills = res.fills
    end_ns = max(v.replay.session_end_ns for v in run.venues)
    tca, columns = measure_parent(fills, res.orders, parent, run.market, pre, schedule=plan.planned,
                                  run_end_ns=end_ns)
    if plan.planned is not None and len(plan.planned):
        tca["risk"] = schedule_risk(scn, data, parent, plan.planned)
    own = fills[fills["parent_id"] == parent.parent_id]
    tca["venues"] = venue_figures(res.orders, own, parent, run.market, [v.name for v in run.venues],
                                  tca["shortfall"]["arrival_notional"])
    tca["router"] = router_summary(plan.strategy)
    tables = {"orders": res.orders, "fills": FillsWithTca(fills, columns), "schedule": plan.planned,
              "market": consolidated_path(run.market, min(parent.start_ns, plan.start_ns),
                                          parent.end_ns + MARKET_TAIL_NS)}
    return tca, tables


def run_venues(scn: Scenario, policy: RouterPolicy | None = None):
    """Run the scenario on its venues: ``(result, tca, venues)`` — the engine's orders and fills (``venue``
    column), :func:`~tickreplay.venues.tca.venue_tca` of the parent, and the :class:`Venue` list. ``policy``
    overrides ``[router]`` (the router comparison runs one scenario under several policies)."""
    run = execute_venues(scn, policy=policy)
    result, parent = run.result, run.plan.parent
    fills = result.fills[result.fills["parent_id"] == parent.parent_id]
    return result, venue_tca(result.orders, fills, parent, run.market, [v.name for v in run.venues]), run.venues


def consolidated_path(market: MarketSeries, t0: int, t1: int) -> pd.DataFrame:
    """Touch, mid (×2) and cumulative volume of the consolidated market on a time grid over ``[t0, t1]`` (ns; the
    columns of :func:`tickreplay.experiment.data.market_path`, the ``market.parquet`` of a multi-venue run)."""
    t = time_grid(t0, min(t1, int(market.ts_ns[-1])))
    i = np.searchsorted(market.ts_ns, t, side="right") - 1  # -1: before the first event (no book, no volume)
    j = np.maximum(i, 0)
    return pd.DataFrame({"ts_ns": t, "bid": np.where(i >= 0, market.bid[j], 0),
                         "ask": np.where(i >= 0, market.ask[j], 0),
                         "mid_x2": market.mid_x2_at(t), "cum_volume": market.cum_volume[i + 1]})
