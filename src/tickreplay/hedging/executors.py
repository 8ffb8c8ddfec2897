"""The loop's days and how a hedge is executed on them (docs/loop.md).

* :func:`load_days` — the days of a loop scenario as :class:`Day`: catalog tapes, or generated days (one regime
  per day). Each day carries the market inputs the desk knows before it trades (generated: the regime's own
  ADV, volatility and spread; catalog: the previous day's estimate, the first day its own — flagged) and the
  market's response to our trading.
* :class:`Executor` — a schedule's children in, fills and the replayed market's mids out.
  :class:`ImpactReplayExecutor` is the impact-adjusted replay (:mod:`tickreplay.impact.replay_impact`): on
  catalog tapes with the scenario's ``[loop.impact]``; on generated days with the regime's *planted* response
  as the market's reaction (the reactive market is not used yet). Each hedge is its own run from its
  requirement: the shift of an earlier hedge of the day is not carried into the next one.
* :func:`measure_hedge` — TCA (shortfall vs the arrival mid, :func:`tickreplay.tca.summary.measure_parent`)
  and the hedge as a measured parent (the columns :func:`tickreplay.impact.update.update` reads), its mids
  taken in the *replayed* market (historical mid + the shift our fills left), which a catalog read of the
  tape (:func:`tickreplay.impact.parents.measure_parents`) cannot see.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol, Sequence

import numpy as np
import pandas as pd

from tickreplay.errors import ConfigError
from tickreplay.hedging.decision import TRADING_DAY_NS
from tickreplay.hedging.loop_config import LoopConfig
from tickreplay.impact.models import MarketInputs
from tickreplay.impact.replay_impact import ImpactModel, ShiftState
from tickreplay.schedule.base import ChildOrder, ParentOrder


@dataclass(frozen=True, eq=False)
class Day:
    """One day of the loop: ``data`` (:class:`tickreplay.experiment.data.MarketData`), its session (ns UTC), the
    regime label, the desk's ``market`` inputs and where they came from, the ``response`` of the replayed market
    to our fills and, on generated days, the planted AC ``gamma`` ($/share², docs/loop.md)."""

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

    @property
    def price_scale(self) -> int:
        return int(self.data.tape.instrument.price_scale)

    @property
    def multiplier(self) -> float:
        return float(self.data.tape.instrument.multiplier)

    def mid_at(self, t_ns: np.ndarray | int) -> np.ndarray:
        """Historical mid (currency per share) as of ``t_ns``."""
        return self.data.market.mid_x2_at(t_ns) / (2.0 * self.price_scale)


def business_dates(start: str, n: int) -> list[str]:
    """``n`` consecutive business days (Mon–Fri) from ``start`` (itself if a business day), ISO text."""
    first = np.busday_offset(np.datetime64(start, "D"), 0, roll="forward")
    return [str(np.busday_offset(first, k)) for k in range(n)]


def planted_gamma(model: ImpactModel, ref_mid: float) -> float:
    """AC's permanent ``gamma`` ($/share²) of a planted propagator: ``permanent_bps`` bps of the mid per
    ``trade_size`` shares, linear in the size."""
    return model.permanent_bps * 1e-4 * ref_mid / float(model.trade_size)


def _generated_days(cfg: LoopConfig) -> list[Day]:
    from tickreplay.adapters import metaorders as M
    from tickreplay.adapters.synthetic import generate_day
    from tickreplay.adapters.synthetic_regimes import PRICE_SCALE, resolve
    from tickreplay.experiment.data import from_tape

    g = cfg.generated
    out = []
    for k, date in enumerate(business_dates(g.start_date, g.days)):
        regime = g.regimes[k % len(g.regimes)]
        _, p = resolve(regime)
        tape = generate_day(regime, g.seed + k, date=date, duration_s=g.duration_s, progress=False)
        data = from_tape(tape, f"synthetic/{tape.instrument.symbol}/{date}", 5,
                         day_ns=round(p.session_seconds() * 1e9))
        start, end = int(data.replay.session_start_ns), int(data.replay.session_end_ns)
        ref = p.start_price / PRICE_SCALE
        market = MarketInputs(adv=float(M.expected_daily_volume(p)), daily_vol=M.daily_vol(p),
                              spread_bps=max(1, round(p.spread_ticks)) * p.tick_size / p.start_price * 1e4)
        out.append(Day(k, data.key, date, regime, data, (start, end), market, "regime parameters",
                       g.planted[regime], planted_gamma(g.planted[regime], ref)))
    return out


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
    """What an executor returns: the run's ``fills`` and ``orders`` (engine tables) and the shift our trading
    left on the market (:class:`ShiftState`, None when the market does not respond)."""

    fills: pd.DataFrame
    orders: pd.DataFrame
    shift: ShiftState | None
    executor: str


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
        # the engine keeps the run's shift state; read only (a public accessor is asked for in the report)
        return Execution(res.fills, res.orders, getattr(engine, "_impact", None), self.name)


PARENT_COLUMNS = ("parent_id", "row", "instrument", "date", "regime", "side", "quantity", "arrival_ns", "end_ns",
                  "avg_price", "adv", "daily_vol", "m_arr", "m_end", "m_post", "post_clamped",
                  "arrival_spread_bps", "duration_days", "multiplier")


def replayed_mid(day: Day, shift: ShiftState | None, t_ns: int) -> float:
    """The replayed market's mid at ``t_ns`` (currency per share): historical + the shift in force."""
    mid = float(day.mid_at(t_ns))
    if shift is None:
        return mid
    k = day.data.replay.index_at(t_ns)
    return mid + shift.shift_at(int(t_ns), k) / day.price_scale


def measure_hedge(day: Day, ex: Execution, parent: ParentOrder, instrument: str, post_ns: int,
                  ) -> tuple[dict, dict | None]:
    """(TCA summary of the hedge, its measured-parent row or None when nothing filled); module docstring."""
    from tickreplay.tca.summary import measure_parent

    tca, _ = measure_parent(ex.fills, ex.orders, parent, day.data.market)
    f = ex.fills
    if not len(f):
        return tca, None
    size = f["size"].to_numpy(np.int64)
    price = f["price"].to_numpy(np.float64) / day.price_scale
    last = int(f["exchange_ns"].max())
    t_post = min(last + post_ns, day.session[1])
    snaps = day.data.snapshots
    i = max(day.data.replay.index_at(parent.start_ns - 1), 0)
    two_sided = np.flatnonzero((snaps.ask_size[: i + 1, 0] > 0) & (snaps.bid_size[: i + 1, 0] > 0))
    i = int(two_sided[-1]) if len(two_sided) else i  # the last two-sided book before the arrival
    ask, bid = float(snaps.ask_price[i, 0]), float(snaps.bid_price[i, 0])
    row = {"parent_id": str(parent.parent_id), "row": parent.parent_id, "instrument": instrument, "date": day.date,
           "regime": day.regime or "", "side": parent.side, "quantity": int(size.sum()),
           "arrival_ns": parent.start_ns, "end_ns": last, "avg_price": float((size * price).sum() / size.sum()),
           "adv": day.market.adv, "daily_vol": day.market.daily_vol,
           "m_arr": float(day.mid_at(parent.start_ns - 1)), "m_end": replayed_mid(day, ex.shift, last),
           "m_post": replayed_mid(day, ex.shift, t_post), "post_clamped": last + post_ns > day.session[1],
           "arrival_spread_bps": (ask - bid) / (ask + bid) * 2e4,
           "duration_days": (last - parent.start_ns) / TRADING_DAY_NS, "multiplier": day.multiplier}
    return tca, row
