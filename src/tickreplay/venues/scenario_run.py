"""Run a scenario with ``[[venues]]`` and ``[router]`` (docs/venues.md): load or generate the venues, route the
schedule's children, measure per venue.

The venues' tapes: with ``share`` keys, the ``[data.synthetic]`` day split across the venues
(:func:`~tickreplay.venues.generate.split_tape`, seeded by the day's seed); with ``catalog`` keys, each venue's
catalog entry read with ``[data]``'s window, levels and catalog root. Venues of different instruments or tick
sizes are refused, naming the scenario file and the venue's key. The schedule's children are those
:func:`~tickreplay.experiment.plan.build_plan` makes on the first venue's data.
"""

from __future__ import annotations

from dataclasses import replace

from tickreplay.engine import EngineConfig
from tickreplay.errors import ConfigError
from tickreplay.exchange import QueueModel
from tickreplay.experiment.data import MarketData, from_tape, load_data_spec
from tickreplay.experiment.scenario import Scenario, VenueSpec
from tickreplay.venues.consolidated import check_same_instrument
from tickreplay.venues.engine import Venue, VenueEngine
from tickreplay.venues.router_strategy import RoutedExecutor, RouterPolicy
from tickreplay.venues.tca import consolidated_market, venue_tca

NS = 1_000_000_000


def _config(v: VenueSpec, seed: int) -> EngineConfig:
    lat, q = v.latency, v.queue
    return EngineConfig(md_latency=lat.market_data, entry_latency=lat.order_entry, response_latency=lat.response,
                        allow_overtaking=lat.allow_overtaking,
                        queue_model=QueueModel("risk_averse" if q.model == "risk_averse" else q.shape, q.exponent),
                        fees=v.fees, seed=seed)


def venue_data(scn: Scenario) -> list[MarketData]:
    """Each venue's data, in ``[[venues]]`` order (errors name the scenario file and the venue's key)."""
    where = scn.where()
    if scn.venues[0].share is not None:
        from tickreplay.adapters.synthetic import generate_day
        from tickreplay.venues.generate import split_tape

        syn = scn.data.synthetic
        day = generate_day(syn.regime, syn.seed, date=syn.date, duration_s=syn.duration_s, progress=False)
        tapes = split_tape(day, {v.name: v.share for v in scn.venues}, syn.seed)
        return [from_tape(tapes[v.name], f"{v.name}:synthetic/{day.instrument.symbol}/{day.instrument.date}",
                          scn.data.levels) for v in scn.venues]
    out = []
    for k, v in enumerate(scn.venues):
        try:
            out.append(load_data_spec(replace(scn.data, catalog=v.catalog), scn.base_dir))
        except ConfigError as err:
            raise ConfigError(f"{where}: scenario key 'venues[{k}].catalog' ({v.catalog!r}): {err}") from None
    try:
        check_same_instrument([(v.name, d.tape.instrument, f"catalog key {v.catalog!r}")
                               for v, d in zip(scn.venues, out)])
    except ConfigError as err:
        raise ConfigError(f"{where}: {err}") from None
    return out


def policy_of(scn: Scenario) -> RouterPolicy:
    """The scenario's ``[router]`` as a :class:`RouterPolicy`."""
    r = scn.router
    return RouterPolicy(r.policy, r.venue, round(r.horizon_s * NS), r.lambda_under_ticks, r.lambda_over_ticks,
                        r.n_windows)


def run_venues(scn: Scenario, policy: RouterPolicy | None = None):
    """Run the scenario on its venues: ``(result, tca, venues)`` — the engine's orders and fills (``venue``
    column), :func:`~tickreplay.venues.tca.venue_tca` of the parent, and the :class:`Venue` list. ``policy``
    overrides ``[router]`` (the router comparison runs one scenario under several policies)."""
    if not scn.venues:
        raise ConfigError(f"{scn.where()}: no [[venues]]: run it with tickreplay.experiment.run_file")
    from tickreplay.experiment.plan import build_plan

    data = venue_data(scn)
    venues = [Venue(v.name, d.replay, _config(v, scn.seed)) for v, d in zip(scn.venues, data)]
    plan = build_plan(replace(scn, venues=(), router=None), data[0])
    policy = policy or policy_of(scn)
    ex = RoutedExecutor(plan.parent.side, plan.strategy.children, policy, plan.parent.quantity)
    result = VenueEngine(venues, seed=scn.seed).run(ex, start_ns=plan.start_ns)
    market = consolidated_market({v.name: v.replay for v in venues})
    fills = result.fills[result.fills["parent_id"] == plan.parent.parent_id]
    return result, venue_tca(result.orders, fills, plan.parent, market, [v.name for v in venues]), venues
