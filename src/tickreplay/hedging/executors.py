"""The loop's days and how a hedge is executed on them (docs/loop.md).

* :func:`load_days` — the days of a loop scenario as :class:`Day`: catalog tapes, or generated days (one regime
  per day). Each day carries the market inputs the desk knows before it trades (generated: the regime's own
  ADV, volatility and spread; catalog: the previous day's estimate, the first day its own — flagged) and the
  market's response to our trading. Generated days are snapshotted to their regime's ``depth_levels`` (a routed
  generated venue: its own), the levels the generator quotes, so a market order walks the whole generated book;
  catalog days keep the levels their catalog entry gives.
* :class:`Executor` — a schedule's children in, fills and the replayed market's mids out.
  :class:`ImpactReplayExecutor` is the impact-adjusted replay (:mod:`tickreplay.impact.replay_impact`): on
  catalog tapes with the scenario's ``[loop.impact]``; on generated days of ``market = "impact-replay"`` with
  the regime's planted propagator as the market's reaction. :class:`ReactiveExecutor` is the reactive market
  (:mod:`tickreplay.reactive`, generated days of ``market = "reactive"``): the hedge is one more parent of the
  generated day, its market children take liquidity in the simulated book and the latent price follows the
  regime's planted law, so the realised cost really contains the planted impact. Each hedge is its own run from
  its requirement: the response to an earlier hedge of the day is not carried into the next one.
* :func:`measure_hedge` — TCA (shortfall vs the arrival mid, :func:`tickreplay.tca.summary.measure_parent`;
  on days with a known counterfactual also the caused cost, :mod:`.oracle`) and the hedge as a measured parent
  (the columns :func:`tickreplay.impact.update.update` reads), its mids
  taken in the market the hedge was executed in (the replay: historical mid + the shift our fills left; the
  reactive market: the reactive day's own mid), which a catalog read of the tape
  (:func:`tickreplay.impact.parents.measure_parents`) cannot see.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Protocol, Sequence

import numpy as np
import pandas as pd

from tickreplay.errors import ConfigError
from tickreplay.hedging.decision import TRADING_DAY_NS
from tickreplay.hedging.loop_config import LoopConfig
from tickreplay.hedging.oracle import caused_cost
from tickreplay.impact.models import MarketInputs
from tickreplay.impact.replay_impact import ImpactModel, ShiftState
from tickreplay.schedule.base import ChildOrder, ParentOrder


@dataclass(frozen=True, eq=False)
class Day:
    """One day of the loop: ``data`` (:class:`tickreplay.experiment.data.MarketData`), its session (ns UTC), the
    regime label, the desk's ``market`` inputs and where they came from, the ``response`` of the replayed market
    to our fills, on generated days the planted AC ``gamma`` ($/share², docs/loop.md; None where the planted law
    is not AC's), on reactive days the ``reactive`` day (:class:`tickreplay.reactive.ReactiveDay`) whose plain
    version ``data`` is, and on generated days with a scheduled news event its time ``news_ns`` (ns UTC; None:
    no known event), on routed loops (``[loop.router]``) its ``venues``: the generated day split across the
    ``[[loop.venues]]`` (``data`` stays the whole day, the union of the venues' books), or generated venues on the
    day's latent path (``data``: the first venue's day with the venues' consolidated market); ``counterfactual``:
    what ``data`` is to a hedge when it is the day without that hedge (generated days under the reactive market or
    the impact-adjusted replay; :mod:`.oracle`), None where no counterfactual is known (catalog days: the historical market would have
    reacted; routed days: not measured)."""

    index: int
    key: str
    date: str
    regime: str | None
    data: Any
    session: tuple[int, int]
    market: MarketInputs
    inputs_source: str
    response: ImpactModel | None
    planted_gamma: float | None = None
    reactive: Any = None
    news_ns: int | None = None
    venues: tuple = ()  # routed loops: the day's venues (tickreplay.venues.Venue), its tape split across them
    counterfactual: str | None = None

    @property
    def price_scale(self) -> int:
        return int(self.data.tape.instrument.price_scale)

    @property
    def multiplier(self) -> float:
        return float(self.data.tape.instrument.multiplier)

    def mid_at(self, t_ns: np.ndarray | int) -> np.ndarray:
        """Historical mid (currency per share) as of ``t_ns``."""
        return self.data.market.mid_x2_at(t_ns) / (2.0 * self.price_scale)


#: :attr:`Day.counterfactual` of a reactive day (its ``data`` is the plain day) and of a generated day replayed
#: with its planted response (its ``data`` is the tape without our shift)
COUNTERFACTUAL_PLAIN_DAY = "plain day (reactive market without the hedge)"
COUNTERFACTUAL_GENERATED_TAPE = "generated tape (the impact-adjusted replay without our shift)"


def business_dates(start: str, n: int) -> list[str]:
    """``n`` consecutive business days (Mon–Fri) from ``start`` (itself if a business day), ISO text."""
    first = np.busday_offset(np.datetime64(start, "D"), 0, roll="forward")
    return [str(np.busday_offset(first, k)) for k in range(n)]


def planted_gamma(model: ImpactModel, ref_mid: float) -> float:
    """AC's permanent ``gamma`` ($/share²) of a planted propagator: ``permanent_bps`` bps of the mid per
    ``trade_size`` shares, linear in the size."""
    return model.permanent_bps * 1e-4 * ref_mid / float(model.trade_size)


def reactive_planted_gamma(planted: Any, adv: float, daily_vol: float, ref_mid: float) -> float | None:
    """AC's permanent ``gamma`` ($/share²) of the reactive market's planted law ``Y·σ_daily·(Q/V)^δ``: with
    ``δ = 1`` and no decay (``beta = 0``) the permanent move of ``Q`` shares is ``Y·σ_daily·mid·Q/V``, so
    ``gamma = Y·σ_daily·mid/V``; None for any other law (not AC's linear permanent impact)."""
    if planted.delta != 1.0 or planted.beta != 0.0:
        return None
    return planted.Y * daily_vol * ref_mid / adv


def _generated_days(cfg: LoopConfig) -> list[Day]:
    from tickreplay.adapters import metaorders as M
    from tickreplay.adapters.synthetic import generate_day
    from tickreplay.adapters.synthetic_regimes import PRICE_SCALE, resolve
    from tickreplay.clock import parse_hms
    from tickreplay.experiment.data import from_tape
    from tickreplay.reactive import ReactiveDay

    g = cfg.generated
    out = []
    for k, date in enumerate(business_dates(g.start_date, g.days)):
        regime = g.regimes[k % len(g.regimes)]
        _, p = resolve(regime)
        ref = p.start_price / PRICE_SCALE
        market = MarketInputs(adv=float(M.expected_daily_volume(p)), daily_vol=M.daily_vol(p),
                              spread_bps=max(1, round(p.spread_ticks)) * p.tick_size / p.start_price * 1e4)
        news = None if p.news_time is None else \
            parse_hms(p.news_time, "news_time") - parse_hms(p.session_start, "session_start")  # s after the open
        if g.market == "reactive":
            rday = ReactiveDay(regime, g.seed + k, g.planted[regime], g.duration_s, date=date)
            data = rday.plain()
            start, end = int(data.replay.session_start_ns), int(data.replay.session_end_ns)
            out.append(Day(k, data.key, date, regime, data, (start, end), market, "regime parameters", None,
                           reactive_planted_gamma(g.planted[regime], market.adv, market.daily_vol, ref), rday,
                           None if news is None else start + round(news * 1e9),
                           counterfactual=COUNTERFACTUAL_PLAIN_DAY))
            continue
        day_ns = round(p.session_seconds() * 1e9)
        if cfg.router is not None:  # the planted response moves every venue: one shift (venues.impact)
            data, venues = _split_venues(cfg, regime, p, g.seed + k, date, day_ns)
            start, end = int(data.replay.session_start_ns), int(data.replay.session_end_ns)
            out.append(Day(k, data.key, date, regime, data, (start, end), market, "regime parameters",
                           g.planted[regime], planted_gamma(g.planted[regime], ref),
                           news_ns=None if news is None else start + round(news * 1e9), venues=venues))
            continue
        tape = generate_day(regime, g.seed + k, date=date, duration_s=g.duration_s, progress=False)
        data = from_tape(tape, f"synthetic/{tape.instrument.symbol}/{date}", p.depth_levels, day_ns=day_ns)
        start, end = int(data.replay.session_start_ns), int(data.replay.session_end_ns)
        out.append(Day(k, data.key, date, regime, data, (start, end), market, "regime parameters",
                       g.planted[regime], planted_gamma(g.planted[regime], ref),
                       news_ns=None if news is None else start + round(news * 1e9),
                       counterfactual=COUNTERFACTUAL_GENERATED_TAPE))
    return out


def _split_venues(cfg: LoopConfig, regime: str, params: Any, seed: int, date: str, day_ns: int
                  ) -> tuple[Any, tuple]:
    """``(data, venues)`` of a routed day of ``regime`` (MarketParams ``params``) seeded ``seed`` (the day's), each
    venue with its fees, latency and queue model (:func:`tickreplay.experiment.venues_run.venue_data`'s
    construction), snapshots of every level the generator quotes (module docstring). ``share`` venues: the
    generated day split by their shares, ``data`` the whole day (the union of the venues' books). Generated
    venues: each venue's own flow on the latent path of ``regime`` and ``seed``
    (:func:`tickreplay.venues.generate.generated_venues`), its books to its own ``depth_levels``; ``data`` is
    the first venue's day with the venues' consolidated market (:func:`tickreplay.venues.tca.consolidated_market`:
    the mids and touch the hedges are measured on, as ``tickreplay run`` measures; no plain day is generated)."""
    from tickreplay.adapters.synthetic import generate_day
    from tickreplay.experiment.data import from_tape
    from tickreplay.experiment.venues_run import venue_engine_config
    from tickreplay.venues.engine import Venue
    from tickreplay.venues.generate import generated_venues, split_tape
    from tickreplay.venues.tca import consolidated_market

    g = cfg.generated
    if cfg.venues[0].generator is not None:
        names = [v.name for v in cfg.venues]
        tapes = generated_venues(regime, seed, {v.name: v.generator for v in cfg.venues}, date, g.duration_s,
                                 lambda name: f"{cfg.where()}: scenario key 'loop.venues[{names.index(name)}]' "
                                              f"(the {regime} day of {date}, seed {seed})")
        inst = tapes[cfg.venues[0].name].instrument
        key = f"synthetic/{inst.symbol}/{date}"
        vdata = [from_tape(tapes[v.name], f"{v.name}:{key}", v.generator.params(regime).depth_levels, day_ns)
                 for v in cfg.venues]
        data = replace(vdata[0], key=key, market=consolidated_market({v.name: d.replay for v, d in
                                                                      zip(cfg.venues, vdata)}))
    else:
        tape = generate_day(regime, seed, date=date, duration_s=g.duration_s, progress=False)
        data = from_tape(tape, f"synthetic/{tape.instrument.symbol}/{date}", params.depth_levels, day_ns=day_ns)
        tapes = split_tape(tape, {v.name: v.share for v in cfg.venues}, seed)
        vdata = [from_tape(tapes[v.name], f"{v.name}:{data.key}", params.depth_levels, day_ns) for v in cfg.venues]
    return data, tuple(Venue(v.name, d.replay, venue_engine_config(v, cfg.seed)) for v, d in zip(cfg.venues, vdata))


def _catalog_days(cfg: LoopConfig) -> list[Day]:
    from tickreplay.experiment.data import load_data_spec
    from tickreplay.experiment.scenario import DataSpec

    out: list[Day] = []
    prev = None
    for k, cd in enumerate(cfg.catalog_days):
        try:
            data = load_data_spec(DataSpec(catalog=cd.key, catalog_root=cfg.catalog_root), cfg.base_dir)
        except Exception as err:  # the catalog's own error, with the key's place in the scenario
            raise ConfigError(f"{cfg.where()}: scenario key 'loop.days[{k}]' ({cd.key!r}): {err}") from None
        start, end = int(data.replay.session_start_ns), int(data.replay.session_end_ns)
        if out and start < out[-1].session[1]:
            raise ConfigError(f"{cfg.where()}: scenario key 'loop.days[{k}]' ({cd.key!r}): its session "
                              f"[{start}, {end}] ns starts before loop.days[{k - 1}] ({out[-1].key!r}) ends "
                              f"({out[-1].session[1]} ns): days must be in time order without overlap")
        source = "previous day" if prev is not None else "same day (first day: look-ahead)"
        market = (prev or data).estimated.market
        out.append(Day(k, data.key, data.tape.instrument.date, cd.regime, data, (start, end), market, source,
                       cfg.impact))
        prev = data
    return out


def load_days(cfg: LoopConfig) -> list[Day]:
    """The loop's days in time order (module docstring)."""
    return _generated_days(cfg) if cfg.generated is not None else _catalog_days(cfg)


@dataclass(frozen=True, eq=False)
class Execution:
    """What an executor returns: the run's ``fills`` and ``orders`` (engine tables; ``orders`` None where no
    engine ran: the reactive market), the shift our trading left on the replayed market (:class:`ShiftState`,
    None when the replay does not respond) and ``market_data``: the market the fills were executed in when it is
    not the day's replay (the reactive day, :class:`tickreplay.experiment.data.MarketData`); ``route``: what a
    router did (:func:`route_record`; None: one venue, no router)."""

    fills: pd.DataFrame
    orders: pd.DataFrame | None
    shift: ShiftState | None
    executor: str
    market_data: Any = None
    route: dict | None = None


class Executor(Protocol):
    """Executes one hedge's children on a day, from ``start_ns`` (trader time)."""

    name: str

    def execute(self, day: Day, side: int, children: Sequence[ChildOrder], start_ns: int) -> Execution:
        ...


@dataclass(frozen=True)
class ImpactReplayExecutor:
    """The impact-adjusted replay (module docstring): children through
    :class:`~tickreplay.trader.executor.ChildOrderExecutor` (limit children re-priced every ``replace_after_ns``,
    after ``max_replaces`` the rest sent as a market order), the day's ``response`` shifting the market."""

    replace_after_ns: int = 20_000_000_000
    max_replaces: int = 2
    seed: int = 0
    name: str = "impact-adjusted replay"

    def execute(self, day: Day, side: int, children: Sequence[ChildOrder], start_ns: int) -> Execution:
        from tickreplay.engine import Engine, EngineConfig
        from tickreplay.trader.executor import ChildOrderExecutor

        engine = Engine(day.data.replay, EngineConfig(impact=day.response, seed=self.seed))
        strat = ChildOrderExecutor(side, children, self.replace_after_ns, self.max_replaces, finish_with_market=True)
        res = engine.run(strat, start_ns=start_ns, compiled=day.response is None)
        return Execution(res.fills, res.orders, engine.impact_state, self.name)


@dataclass(frozen=True)
class ReactiveExecutor:
    """The reactive market (module docstring): the hedge's market children executed inside the day's generated
    market by :func:`tickreplay.reactive.reactive_run` (touch only, carry, spare slots; zero latency unless the
    engine config's default says otherwise). ``period_ns``: the child spacing, the spare-slot step of a hedge of
    one child. Days must be generated with ``market = "reactive"``; children must be of style ``market``."""

    period_ns: int = 60_000_000_000
    seed: int = 0
    name: str = "reactive market"

    def execute(self, day: Day, side: int, children: Sequence[ChildOrder], start_ns: int) -> Execution:
        from tickreplay.engine import EngineConfig
        from tickreplay.reactive import reactive_run

        if day.reactive is None:
            raise ConfigError(f"day {day.index} ({day.key}): the reactive market needs generated days with "
                              "[loop.generate] market = \"reactive\"")
        last = max(int(c.time_ns) for c in children)
        parent = ParentOrder(side, int(sum(c.quantity for c in children)), start_ns, max(last, start_ns) +
                             self.period_ns, children[0].parent_id)
        run = reactive_run(day.reactive, parent, children, EngineConfig(seed=self.seed))
        return Execution(run.fills, None, None, self.name, run.data)


@dataclass(frozen=True)
class RoutedExecutor:
    """The smart order router on the day's venues (``[loop.router]``): the hedge's children through
    :class:`tickreplay.venues.router_strategy.RoutedExecutor` of ``policy`` on
    :class:`~tickreplay.venues.engine.VenueEngine` (each venue's own exchange, latency, queue model and fees) with
    the day's ``response`` as the impact-adjusted replay across the venues: one shift for the instrument, moved by
    the hedge's fills on every venue and applied to every venue's book (:mod:`tickreplay.venues.impact`; None:
    the venues replay plain). Historical flow does not react. The children's style is not used: the policy decides
    market or limit orders. ``seed``: the engine's."""

    policy: Any  # tickreplay.venues.router_strategy.RouterPolicy
    seed: int = 0
    name: str = "routed replay"

    def execute(self, day: Day, side: int, children: Sequence[ChildOrder], start_ns: int) -> Execution:
        from tickreplay.venues.engine import VenueEngine
        from tickreplay.venues.router_strategy import RoutedExecutor as Router

        if not day.venues:
            raise ConfigError(f"day {day.index} ({day.key}): the router needs the day split across venues "
                              "([loop.router] with [[loop.venues]])")
        quantity = int(sum(c.quantity for c in children))
        router = Router(side, children, self.policy, quantity)
        engine = VenueEngine(list(day.venues), seed=self.seed, impact=day.response)
        res = engine.run(router, start_ns=start_ns)
        end = max(max(int(c.time_ns) for c in children), start_ns + 1)
        parent = ParentOrder(side, quantity, start_ns, end, children[0].parent_id)
        return Execution(res.fills, res.orders, engine.impact_state, f"{self.name} ({self.policy.label})",
                         route=route_record(router, res.fills, [v.name for v in day.venues], res.orders, parent,
                                            day.data.market))


#: the per-venue TCA figures a route keeps (:func:`tickreplay.venues.tca.venue_figures`), flat
VENUE_TCA_KEYS = ("fills", "filled", "maker", "taker", "fees", "cost_bps", "orders")


def route_record(router: Any, fills: pd.DataFrame, venues: Sequence[str], orders: pd.DataFrame | None = None,
                 parent: ParentOrder | None = None, market: Any = None) -> dict:
    """A hedge's route: the policy (``label``), the routing decisions (time, child or sweep, size and legs as the
    router sent them), per venue the shares sent (market and limit legs) and filled, and the fills' fees; with
    ``orders``, ``parent`` and ``market`` (the consolidated market of the venues) also ``tca``: per venue
    :func:`~tickreplay.venues.tca.venue_figures` flattened — fills, filled, maker and taker shares, fees,
    ``cost_bps`` (that venue's part of the execution cost, bps of the parent's arrival notional), passive orders,
    their quantity and maker-filled shares, passive fill rate (``passive_fill_rate``, None without passive orders)
    and markouts
    (``markout_<horizon>_bps``: size-weighted, historical fill price against the historical mid)."""
    sent = {v: 0 for v in venues}
    for r in router.routes:
        for leg, size in r["legs"].items():
            sent[leg.split("@")[-1]] += int(size)
    by = fills.groupby("venue") if len(fills) else None
    filled = {v: int(by["size"].sum().get(v, 0)) if by is not None else 0 for v in venues}
    fees = {v: float(by["fee"].sum().get(v, 0.0)) if by is not None else 0.0 for v in venues}
    out = {"policy": router.policy.label, "sent": sent, "filled": filled, "fees": fees,
           "decisions": [{"time_ns": int(r["time_ns"]), "what": r["what"], "size": int(r["size"]),
                          "legs": {k: int(x) for k, x in r["legs"].items()}} for r in router.routes]}
    if orders is not None and parent is not None and market is not None:
        from tickreplay.venues.tca import venue_figures

        m0 = float(market.mid_x2_at(parent.start_ns)) / 2.0
        notional = parent.quantity * m0 * market.instrument.unit_value
        per = venue_figures(orders, fills, parent, market, venues, notional)
        out["tca"] = {v: {**{k: per[v][k] for k in VENUE_TCA_KEYS},
                          "passive_orders": per[v]["passive"]["orders"],
                          "passive_quantity": per[v]["passive"]["quantity"],
                          "passive_filled": per[v]["passive"]["filled"],
                          "passive_fill_rate": per[v]["passive"]["fill_rate"],
                          **{f"markout_{h}_bps": m["all_bps"] for h, m in per[v]["markouts"].items()}}
                      for v in venues}
    return out


def default_executor(cfg: LoopConfig) -> Executor:
    """The executor of a loop scenario: the router on the day's venues with ``[loop.router]``, the reactive market
    on ``market = "reactive"`` days, else the impact-adjusted replay."""
    if cfg.router is not None:
        from tickreplay.venues.router_strategy import RouterPolicy

        r = cfg.router
        return RoutedExecutor(RouterPolicy(r.policy, r.venue, round(r.horizon_s * 1e9), r.lambda_under_ticks,
                                           r.lambda_over_ticks, r.n_windows), cfg.seed)
    if cfg.generated is not None and cfg.generated.market == "reactive":
        return ReactiveExecutor(cfg.period_ns, cfg.seed)
    return ImpactReplayExecutor(cfg.replace_after_ns, cfg.max_replaces, cfg.seed)


PARENT_COLUMNS = ("parent_id", "row", "instrument", "date", "regime", "side", "quantity", "arrival_ns", "end_ns",
                  "avg_price", "adv", "daily_vol", "m_arr", "m_end", "m_post", "post_clamped",
                  "arrival_spread_bps", "duration_days", "multiplier")


def replayed_mid(day: Day, ex: Execution, t_ns: int) -> float:
    """The mid (currency per share) at ``t_ns`` of the market ``ex`` executed in: the reactive day's own, or the
    replay's historical mid + the shift in force."""
    if ex.market_data is not None:
        return float(ex.market_data.market.mid_x2_at(t_ns)) / (2.0 * day.price_scale)
    mid = float(day.mid_at(t_ns))
    if ex.shift is None:
        return mid
    k = day.data.replay.index_at(t_ns)
    return mid + ex.shift.shift_at(int(t_ns), k) / day.price_scale


def measure_hedge(day: Day, ex: Execution, parent: ParentOrder, instrument: str, post_ns: int,
                  ) -> tuple[dict, dict | None]:
    """(TCA summary of the hedge — with ``caused_cost`` (currency, :mod:`.oracle`) where the day has a
    counterfactual —, its measured-parent row or None when nothing filled); module docstring."""
    from tickreplay.tca.shortfall import shortfall
    from tickreplay.tca.summary import measure_parent

    data = day.data if ex.market_data is None else ex.market_data
    if ex.orders is None:  # no engine order log (the reactive market): the shortfall is the TCA the loop reads
        # our fills are events of that tape and the first child reaches it at the parent's start: the arrival mid is
        # the one just before (as of start_ns it would already carry our first child's execution and impact)
        before = replace(parent, start_ns=parent.start_ns - 1) if ex.market_data is not None else parent
        tca = {"shortfall": shortfall(ex.fills, before, data.market).to_dict()}
    else:
        tca, _ = measure_parent(ex.fills, ex.orders, parent, data.market)
    if day.counterfactual is not None:  # the oracle: never in the parent row the calibration reads
        unit = day.data.tape.instrument.unit_value
        tca["caused_cost"] = caused_cost(ex.fills, parent.side, day.data.market, unit)
    f = ex.fills
    if not len(f):
        return tca, None
    size = f["size"].to_numpy(np.int64)
    price = f["price"].to_numpy(np.float64) / day.price_scale
    last = int(f["exchange_ns"].max())
    t_post = min(last + post_ns, day.session[1])
    # the touch of the last two-sided book before the arrival, in the market the hedge is measured on
    ask, bid = (float(data.market.touch_at(parent.start_ns - 1, s)) for s in (-1, 1))
    row = {"parent_id": str(parent.parent_id), "row": parent.parent_id, "instrument": instrument, "date": day.date,
           "regime": day.regime or "", "side": parent.side, "quantity": int(size.sum()),
           "arrival_ns": parent.start_ns, "end_ns": last, "avg_price": float((size * price).sum() / size.sum()),
           "adv": day.market.adv, "daily_vol": day.market.daily_vol,
           "m_arr": float(data.market.mid_x2_at(parent.start_ns - 1)) / (2.0 * day.price_scale), "m_end": replayed_mid(day, ex, last),
           "m_post": replayed_mid(day, ex, t_post), "post_clamped": last + post_ns > day.session[1],
           "arrival_spread_bps": (ask - bid) / (ask + bid) * 2e4,
           "duration_days": (last - parent.start_ns) / TRADING_DAY_NS, "multiplier": day.multiplier}
    return tca, row
