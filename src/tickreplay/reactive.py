"""The reactive market: our schedule executed inside a generated day, so that the market responds to it.

A plain replay does not react (docs/DESIGN.md, *Replay does not react*). On a generated day with planted impact
(:mod:`tickreplay.adapters.metaorders`) the market can run with our orders in the loop: our parent becomes one
more parent of the day's plan (:meth:`~tickreplay.adapters.synthetic.DayGenerator` ``added_parent``), its child
orders take liquidity in the simulated book at their arrival times, the latent price follows the planted
square-root path of our parent (the day's planted ``Y``, ``δ``, the same for every parent), and the book refills
as the generator's flow does (its arrival, cancel and refill rates, unchanged by our orders). Design
(docs/reactive.md):

* **Children.** A schedule's child orders (:mod:`tickreplay.schedule`: TWAP, VWAP, Almgren–Chriss) of style
  ``market``; other styles are refused (:class:`~tickreplay.errors.ConfigError`): a passive child would rest in
  the simulated book, which the generator does not model for outside orders.
* **Arrival.** Child ``k``, decided at ``time_ns`` (trader time; not before the parent's ``start_ns``, as the
  engine's timers), reaches the market at ``time_ns + entry latency``, drawn as the engine draws it: the
  ``EngineConfig.entry_latency`` model with ``SeedSequence(config.seed).spawn(3)[0]``, one draw per child in
  sending order, and no overtaking unless ``allow_overtaking`` (:mod:`tickreplay.engine`). A burst latency model
  counts the tape's messages, which our orders change: refused.
* **Execution** (the hidden trader's rule): a child takes liquidity at the opposite touch, front of the queue
  first, for at most the best level's size less one share; what the touch cannot give is carried to the next
  slot. After the last child come as many spare slots (decided at the mean child spacing after the last child,
  through the same latency draws) that only take the carry; what is still unfilled after them is unfilled
  (opportunity cost in the TCA).
* **Fills** are read back from the generated tape: the executions at our slots' timestamps against the opposite
  side, checked against the generator's own record of our parent. A fill is split where a child's quantity ends
  (carried shares first, oldest child first), so its ``decision_ns``/``arrival_ns`` are those of the child it
  belongs to; all fills are ``taker``, with the config's taker fees.
* **TCA**: :func:`tickreplay.tca.shortfall` on the reactive day's own tape, total in bps of the arrival notional.
  The arrival mid is the mid just before the parent's ``start_ns`` (as of ``start_ns - 1``: what the trader saw
  when deciding, the plain day's mid): a child decided at the start with zero latency executes at ``start_ns``, so
  a mid as of ``start_ns`` (at or before, inclusive) would already carry our first execution and its planted move.

:func:`compare_reactive` is the study: the same schedules on the same seeds, plain replay (the engine on the day
generated without our parent) against the reactive market, and optionally the impact-adjusted replay
(``impact``: an ``ImpactModel`` for ``EngineConfig.impact``), with bootstrap intervals over days.

A top-level module, not in :mod:`tickreplay.market`: it runs the engine, the generator and TCA, and
:mod:`tickreplay.schedule` imports :mod:`tickreplay.market` (an import cycle between the parts otherwise).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, fields, replace
from typing import Sequence

import numpy as np
import pandas as pd

from tickreplay.adapters.metaorders import SPARE_SLOTS, HiddenTrader, PlantedImpact, expected_daily_volume
from tickreplay.adapters.synthetic import DayGenerator
from tickreplay.adapters.synthetic_regimes import MarketParams
from tickreplay.engine import Engine, EngineConfig, RunResult
from tickreplay.errors import ConfigError
from tickreplay.experiment.data import MarketData, from_tape
from tickreplay.latency import Burst
from tickreplay.orders import Liquidity
from tickreplay.overlay.stats import bootstrap_ci
from tickreplay.schedule import ChildOrder, ParentOrder, twap
from tickreplay.tape import EventKind, Tape
from tickreplay.tca import Shortfall, shortfall
from tickreplay.trader import ChildOrderExecutor

__all__ = ["Comparison", "ReactiveDay", "ReactiveRun", "compare_reactive", "plain_run", "reactive_run"]

NS = 1_000_000_000
REACTIVE_SYMBOL = "reactive"  # the symbol prefix of a reactive day: its key is never the plain day's


@dataclass(frozen=True)
class ReactiveDay:
    """A generated day with planted impact (:class:`~tickreplay.adapters.synthetic.DayGenerator`'s arguments):
    ``regime`` name or params, ``seed``, ``planted`` impact, ``duration_s`` generated (None: the session),
    ``metaorders`` (the hidden trader's parents, default none), ``activity`` and ``date``."""

    regime: str | MarketParams
    seed: int
    planted: PlantedImpact
    duration_s: float | None = None
    metaorders: int | HiddenTrader = 0
    activity: float | None = None
    date: str = "2024-01-02"

    def generator(self, added_parent: tuple[int, Sequence[float], Sequence[int]] | None = None) -> DayGenerator:
        """The day's generator: the plain day, or with ``added_parent`` (our parent) in its plan."""
        return DayGenerator(self.regime, self.seed, self.date, REACTIVE_SYMBOL if added_parent is not None else None,
                            self.duration_s, self.activity, self.planted, self.metaorders, added_parent)

    def plain(self) -> MarketData:
        """The day without our parent, as the engine replays it (5 book levels)."""
        gen = self.generator()
        return from_tape(gen.tape(progress=False), gen.key, levels=5, day_ns=_day_ns(gen))


def _day_ns(gen: DayGenerator) -> int:
    return round(gen.params.session_seconds() * NS)


@dataclass(frozen=True)
class ReactiveRun:
    """One reactive run: the ``parent``, our child ``slots`` (child index, -1 for a spare slot; ``decision_ns``,
    ``arrival_ns``, ``shares``), the reactive day's ``data``, our ``fills`` (:data:`tickreplay.orders.FILL_COLUMNS`
    as the engine writes them, ``tape_index`` the execution's row of the reactive tape), the ``shortfall`` and
    ``truth`` (our parent's row of the day's metaorders table: planted expected and latent impact, bps);
    ``cpu_s``: CPU seconds of the run (generation, book, fills, TCA)."""

    parent: ParentOrder
    slots: pd.DataFrame
    data: MarketData
    fills: pd.DataFrame
    shortfall: Shortfall
    truth: dict
    cpu_s: float

    @property
    def tape(self) -> Tape:
        return self.data.tape


def _check_children(parent: ParentOrder, children: Sequence[ChildOrder], config: EngineConfig) -> list[ChildOrder]:
    if not children:
        raise ConfigError("reactive run: the schedule has no child orders")
    for k, c in enumerate(children):
        if c.style != "market":
            raise ConfigError(
                f"reactive run: child {k} has style {c.style!r}; the reactive market executes market children only "
                "(a passive or limit child would rest in the simulated book, which the generator does not model for "
                "our orders): use style = 'market', or a plain or impact-adjusted replay for passive styles")
        if c.parent_id != parent.parent_id:
            raise ConfigError(f"reactive run: child {k} belongs to parent {c.parent_id}, not {parent.parent_id}")
    if isinstance(config.entry_latency, Burst):
        raise ConfigError("reactive run: a burst entry latency counts the tape's messages, which our orders change "
                          "in the reactive market; use a constant, normal, lognormal or empirical model")
    # the engine's timers: at max(time, start), in time order, then in list order
    return sorted(children, key=lambda c: max(c.time_ns, parent.start_ns))


def _slots(parent: ParentOrder, children: list[ChildOrder], config: EngineConfig) -> pd.DataFrame:
    """Child slots then spare slots: decision and arrival (ns, the engine's entry-latency draws) and shares."""
    decision = [max(c.time_ns, parent.start_ns) for c in children]
    n = len(children)
    step = (decision[-1] - decision[0]) // (n - 1) if n > 1 else parent.end_ns - decision[0]
    spare = [decision[-1] + (j + 1) * max(step, 1) for j in range(SPARE_SLOTS * n)]
    rng = np.random.default_rng(np.random.SeedSequence(config.seed).spawn(3)[0])
    arrival, last = [], np.iinfo(np.int64).min
    for t in decision + spare:
        a = t + config.entry_latency.sample(t, rng)
        if not config.allow_overtaking:
            a = last = max(a, last)
        arrival.append(a)
    out = pd.DataFrame({"child": np.r_[np.arange(n), np.full(len(spare), -1)].astype(np.int64),
                        "decision_ns": np.array(decision + spare, np.int64),
                        "arrival_ns": np.array(arrival, np.int64),
                        "shares": np.array([c.quantity for c in children] + [0] * len(spare), np.int64)})
    return out.sort_values("arrival_ns", kind="stable").reset_index(drop=True)


def _kernel_seconds(offset_ns: np.ndarray) -> np.ndarray:
    """Seconds after the open whose ``int(t * 1e9)`` (the generator's event time) is exactly ``offset_ns``."""
    t = offset_ns / 1e9
    for _ in range(4):
        low = (t * 1e9).astype(np.int64) < offset_ns
        if not low.any():
            break
        t = np.where(low, np.nextafter(t, np.inf), t)
    return t


def reactive_run(day: ReactiveDay, parent: ParentOrder, children: Sequence[ChildOrder],
                 config: EngineConfig | None = None) -> ReactiveRun:
    """Execute ``children`` of ``parent`` inside ``day``, the market reacting (module docstring)."""
    cpu0 = time.process_time()
    config = config or EngineConfig()
    kids = _check_children(parent, children, config)
    probe = day.generator()
    open_ns = probe.open_ns
    end_s = probe.duration_s
    slots = _slots(parent, kids, config)
    if int(slots.arrival_ns[slots.child >= 0].max()) >= open_ns + end_s * NS or slots.arrival_ns.iloc[0] < open_ns:
        raise ConfigError(f"reactive run: the children reach the market outside the generated day "
                          f"({end_s:g} s from the open): generate a longer day (ReactiveDay.duration_s)")
    slots = slots[slots.arrival_ns < open_ns + end_s * NS].reset_index(drop=True)  # spare slots past the end
    times_s = _kernel_seconds(slots.arrival_ns.to_numpy() - open_ns)
    gen = day.generator((parent.side, times_s, slots.shares.to_numpy()))
    tape = gen.tape(progress=False)
    data = from_tape(tape, gen.key, levels=5, day_ns=_day_ns(gen))
    truth = gen.metaorders().to_pandas().iloc[-1].to_dict()
    fills = _fills(tape, parent, slots, gen, config)
    sf = shortfall(fills, _before(parent), data.market)
    return ReactiveRun(parent, slots, data, fills, sf, truth, time.process_time() - cpu0)


def _before(parent: ParentOrder) -> ParentOrder:
    """``parent`` starting 1 ns earlier: its arrival mid is then the reactive tape's mid before our first child (at
    ``start_ns`` with zero latency), not after it (module docstring, *TCA*)."""
    return replace(parent, start_ns=parent.start_ns - 1)


def _fills(tape: Tape, parent: ParentOrder, slots: pd.DataFrame, gen: DayGenerator,
           config: EngineConfig) -> pd.DataFrame:
    """Our executions on the reactive tape, split per child (module docstring), as the engine's fills table."""
    ours = np.isin(tape.ts_ns, slots.arrival_ns.to_numpy()) & (tape.kind == EventKind.EXECUTE_VISIBLE) \
        & (tape.side == -parent.side)
    rows = np.flatnonzero(ours)
    desk = gen.desk_fills().to_pandas()
    desk = desk[desk.parent_id == gen.parent_ids()[-1]]
    if not (np.array_equal(tape.ts_ns[rows], desk.ts_ns.to_numpy())
            and np.array_equal(tape.size[rows], desk["size"].to_numpy())):
        raise RuntimeError("reactive run: the executions at our slots' times differ from the generator's record of "
                           "our parent (a background execution at the same nanosecond?)")
    real = slots[slots.child >= 0]  # in arrival order: the carry goes to the oldest child first
    cum_c = np.cumsum(real.shares.to_numpy())
    if len(rows):
        cum_f = np.cumsum(tape.size[rows].astype(np.int64))
        cuts = np.union1d(cum_f, cum_c[cum_c < cum_f[-1]])  # where a piece ends: an execution's or a child's end
    else:
        cum_f = cuts = np.zeros(0, np.int64)
    size = np.diff(np.r_[0, cuts]).astype(np.int64)
    ex = rows[np.searchsorted(cum_f, cuts)]
    k = np.searchsorted(cum_c, cuts)  # row of ``real``
    inst = tape.instrument
    price = tape.price[ex].astype(np.int64)
    fee = np.array([config.fees.fee(Liquidity.TAKER, int(p), int(q), inst.price_scale, inst.size_scale,
                                    inst.multiplier) for p, q in zip(price, size)], np.float64)
    n = len(ex)
    t_ex = tape.ts_ns[ex].astype(np.int64)
    return pd.DataFrame({
        "fill_id": np.arange(1, n + 1, dtype=np.int64), "order_id": real.child.to_numpy()[k] + 1,
        "parent_id": np.full(n, parent.parent_id, np.int64), "side": np.full(n, parent.side, np.int8),
        "price": price, "size": size, "liquidity": pd.array(["taker"] * n, dtype="string"), "fee": fee,
        "decision_ns": real.decision_ns.to_numpy()[k], "arrival_ns": real.arrival_ns.to_numpy()[k],
        "exchange_ns": t_ex, "response_ns": t_ex, "tape_index": ex.astype(np.int64),
        "how": pd.array(["reactive"] * n, dtype="string")})


def plain_run(data: MarketData, parent: ParentOrder, children: Sequence[ChildOrder],
              config: EngineConfig | None = None) -> tuple[RunResult, Shortfall]:
    """The same children replayed by the engine on ``data`` (a plain replay, or an impact-adjusted one when
    ``config.impact`` is set), with the shortfall of the parent's fills."""
    res = Engine(data.replay, config or EngineConfig()).run(ChildOrderExecutor(parent.side, list(children)),
                                                            start_ns=parent.start_ns)
    fills = res.fills[res.fills.parent_id == parent.parent_id]
    return res, shortfall(fills, parent, data.market)


@dataclass(frozen=True)
class Comparison:
    """:func:`compare_reactive`'s result: ``days`` (one row per seed and horizon: shortfall bps per way, our
    parent's planted ``expected_impact_bps`` and ``latent_impact_bps``, fill counts, CPU seconds of the reactive
    run) and ``summary`` (per horizon and measure: mean, bootstrap interval of the mean over days)."""

    days: pd.DataFrame
    summary: pd.DataFrame
    ways: tuple[str, ...]


def compare_reactive(regime: str | MarketParams = "liquid_large_cap", seeds: Sequence[int] = tuple(range(8)),
                     horizons_min: Sequence[float] = (5, 15, 30, 60), qv: float = 0.005, side: int = 1,
                     planted: PlantedImpact = PlantedImpact(1.0, 0.5, 0.0, 0.3), n_children: int = 100,
                     start_min: float = 30.0, config: EngineConfig | None = None, impact: object | None = None,
                     n_boot: int = 2000, level: float = 0.95) -> Comparison:
    """Shortfall (bps) of TWAP parents of ``qv`` × V shares over each horizon, starting ``start_min`` after the
    open, on each seed's day: ``plain`` (engine on the day without our parent), ``reactive`` (inside the day) and,
    with ``impact`` (an ``ImpactModel``), ``impact_adjusted`` (the engine with ``EngineConfig.impact``). Paired
    differences are per day; intervals are percentile bootstrap intervals over days (``n_boot`` draws)."""
    config = config or EngineConfig()
    if impact is not None and "impact" not in {f.name for f in fields(EngineConfig)}:
        raise ConfigError("compare_reactive(impact=...): this installation's engine has no impact-adjusted replay "
                          "(EngineConfig.impact); leave impact=None to compare plain replay and the reactive market")
    if not seeds or not horizons_min:
        raise ConfigError("compare_reactive: give at least one seed and one horizon")
    duration_s = 60.0 * (start_min + 2 * max(horizons_min)) + 300.0  # the spare slots may run one horizon more
    rows = []
    for seed in seeds:
        day = ReactiveDay(regime, int(seed), planted, duration_s)
        plain = day.plain()
        open_ns = plain.replay.session_start_ns
        quantity = max(1, round(qv * expected_daily_volume(regime)))
        for h in horizons_min:
            start = open_ns + round(start_min * 60 * NS)
            parent = ParentOrder(side, quantity, start, start + round(h * 60 * NS))
            kids = twap(parent, n_children=n_children, style="market")
            row = {"seed": int(seed), "horizon_min": float(h), "quantity": quantity}
            row["plain_bps"] = plain_run(plain, parent, kids, config)[1].to_dict()["total_bps"]
            if impact is not None:
                row["impact_adjusted_bps"] = plain_run(plain, parent, kids, replace(config, impact=impact))[1] \
                    .to_dict()["total_bps"]
            run = reactive_run(day, parent, kids, config)
            row.update(reactive_bps=run.shortfall.to_dict()["total_bps"], reactive_filled=run.shortfall.filled,
                       expected_impact_bps=float(run.truth["expected_impact_bps"]),
                       latent_impact_bps=float(run.truth["latent_impact_bps"]), reactive_cpu_s=run.cpu_s)
            rows.append(row)
    days = pd.DataFrame(rows)
    ways = ("plain", "impact_adjusted", "reactive") if impact is not None else ("plain", "reactive")
    for w in ways[:-1]:
        days[f"reactive_minus_{w}_bps"] = days["reactive_bps"] - days[f"{w}_bps"]
    measures = [f"{w}_bps" for w in ways] + [f"reactive_minus_{w}_bps" for w in ways[:-1]]
    out = []
    for h, g in days.groupby("horizon_min", sort=True):
        for m in measures:
            x = g[m].to_numpy(np.float64)
            lo, hi = bootstrap_ci(x, seed=0, n_boot=n_boot, alpha=1 - level) if len(x) > 1 else (math.nan, math.nan)
            out.append({"horizon_min": h, "measure": m, "mean": float(x.mean()), "ci_low": lo, "ci_high": hi,
                        "n_days": len(x)})
    return Comparison(days, pd.DataFrame(out), ways)
