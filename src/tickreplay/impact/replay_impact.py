"""The shift model of the impact-adjusted replay: how far our own fills move the replayed market.

Each **own trade** ``i`` (all fills of our orders made by one exchange action: an arriving order's walk of the
book, one tape event filling resting orders, or a re-pegged order crossing the book; side ``s_i``, size ``q_i``
size units, at exchange time ``t_i`` after tape event ``k_i``) contributes::

    c_i(t) = s_i * A_i * G(tau_i(t)) + s_i * P_i,      G(tau) = 1 / (1 + tau / tau0) ** beta

in price units, with ``M0`` the reference mid (the historical mid as of the run's start, price units):

* ``propagator``: ``A_i = G0 * 1e-4 * M0 * q_i / trade_size`` and ``P_i = permanent_bps * 1e-4 * M0 * q_i /
  trade_size``: ``G0`` is bps of ``M0`` per trade of ``trade_size`` (default: the tape's mean trade size), linear
  in the size, as the propagator model's ``G0`` per tape trade of the calibration (:mod:`.calibration`);
* ``sqrt``: ``A_i = Y * daily_vol * ((Q_i + q_i) / adv) ** delta * M0 - Y * daily_vol * (Q_i / adv) ** delta * M0``
  with ``Q_i`` our size traded on that side before trade ``i`` in this run: the increment of the square-root law
  of the parent's cumulative quantity, so that without decay a parent of ``Q`` ends at the calibrated
  ``Y * daily_vol * (Q / adv) ** delta`` whatever its child count (a law per child would sum to
  ``N ** (1 - delta)`` times it); no permanent part.

``tau_i(t)`` is ``(t - t_i) / 1e9`` seconds (``clock = "seconds"``), or the number of tape trades in tape events
``k_i + 1 .. k`` for the market as of tape event ``k`` (``clock = "trades"``; a trade = the executions at one
timestamp on one side, so the several executions of one incoming order count once).

**Rounding rule.** The shift in force is ``S(t) = tick * round_half_away(sum_i c_i(t) / tick)``: the summed
contributions rounded to the nearest tick, halves away from zero. It is piecewise constant: it changes at own
trades and where the rounded decay crosses a tick, i.e. for a single buy at ``tau`` with
``A * G(tau) = (m + 1/2) * tick``, ``tau = tau0 * ((A / ((m + 1/2) * tick)) ** (1 / beta) - 1)``
(:func:`crossing_tau`). The replay applies a change at the first tape event (or own request) at or after it:
:meth:`ShiftState.next_change` finds that event exactly, by bisection when every transient contribution has
one sign (the summed decay is monotone) and by a chunked scan otherwise.
"""

from __future__ import annotations

import math
import weakref
from dataclasses import dataclass

import numpy as np

from tickreplay.errors import ConfigError
from tickreplay.tape import TRADED_KINDS

MODELS = ("none", "propagator", "sqrt")
CLOCKS = ("seconds", "trades")
NS = 1_000_000_000


@dataclass(frozen=True)
class ImpactModel:
    """The parameters of a scenario's ``[impact]`` table (see the module docstring for the formulas).

    ``tau0`` is in the clock's unit (seconds or tape trades); ``G0`` and ``permanent_bps`` bps of the reference
    mid per trade of ``trade_size`` size units; ``Y`` dimensionless, ``delta`` the exponent, ``daily_vol`` a
    fraction per day, ``adv`` size units per day. None: from the data (:func:`for_data`, :class:`ShiftState`).
    ``calibration``: the file the parameters came from (as written in the scenario), for the record.
    """

    model: str
    beta: float
    tau0: float
    clock: str = "seconds"
    G0: float = 0.0
    permanent_bps: float = 0.0
    trade_size: float | None = None
    Y: float = 0.0
    delta: float = 0.5
    daily_vol: float | None = None
    adv: float | None = None
    calibration: str | None = None

    def __post_init__(self) -> None:
        if self.model not in MODELS[1:]:
            raise ConfigError(f"impact model must be one of {', '.join(MODELS[1:])}, got {self.model!r}")
        if self.clock not in CLOCKS:
            raise ConfigError(f"impact clock must be seconds or trades, got {self.clock!r}")
        for name in ("beta", "G0", "permanent_bps", "Y"):
            if not getattr(self, name) >= 0:
                raise ConfigError(f"impact {name} must be non-negative, got {getattr(self, name)}")
        for name in ("tau0", "delta", "trade_size", "daily_vol", "adv"):
            v = getattr(self, name)
            if v is not None and not v > 0:
                raise ConfigError(f"impact {name} must be positive, got {v}")

    def amplitude(self, size: int, ref_mid: float, trade_size: float, before: int = 0) -> tuple[float, float]:
        """(transient, permanent) amplitude of one own trade of ``size`` size units, price units (unsigned);
        ``before``: our size traded on its side earlier in the run (the ``sqrt`` model's ``Q_i``)."""
        if self.model == "propagator":
            scale = 1e-4 * ref_mid * size / trade_size
            return self.G0 * scale, self.permanent_bps * scale
        if self.daily_vol is None or self.adv is None:
            raise ConfigError("impact model 'sqrt' needs daily_vol and adv (give them in [impact] or estimate them "
                              "from the data with tickreplay.impact.replay_impact.for_data)")
        law = self.Y * self.daily_vol * ref_mid
        return law * (((before + size) / self.adv) ** self.delta - (before / self.adv) ** self.delta), 0.0

    def kernel(self, tau: np.ndarray | float) -> np.ndarray | float:
        """G(tau) = 1 / (1 + tau/tau0)^beta (1 at tau = 0)."""
        return (1.0 + np.asarray(tau, dtype=np.float64) / self.tau0) ** -self.beta


def round_to_ticks(raw: float, tick: int) -> int:
    """``raw`` price units rounded to a multiple of ``tick``, halves away from zero."""
    return int(math.copysign(math.floor(abs(raw) / tick + 0.5), raw)) * tick


def crossing_tau(amplitude: float, tick: int, m: int, model: ImpactModel) -> float:
    """The ``tau`` (clock units) at which one contribution ``amplitude * G(tau)`` falls to ``(m + 1/2)`` ticks,
    where its rounded value steps from ``m + 1`` to ``m`` ticks (closed form; 0 if it starts below)."""
    level = (m + 0.5) * tick
    if amplitude <= level:
        return 0.0
    if model.beta == 0:
        return math.inf
    return model.tau0 * ((amplitude / level) ** (1.0 / model.beta) - 1.0)


_TRADE_COUNTS: "weakref.WeakKeyDictionary[object, np.ndarray]" = weakref.WeakKeyDictionary()


def trade_counts(replay) -> np.ndarray:
    """Per tape event: how many tape trades (executions at one timestamp on one side) happened up to it."""
    hit = _TRADE_COUNTS.get(replay)
    if hit is None:
        traded = np.flatnonzero(np.isin(replay.kind, [int(k) for k in TRADED_KINDS]))
        ts, side = replay.ts_ns[traded], replay.side[traded]
        new = np.ones(len(traded), bool)
        new[1:] = (ts[1:] != ts[:-1]) | (side[1:] != side[:-1])
        starts = np.zeros(len(replay.ts_ns), np.int64)
        starts[traded[new]] = 1
        hit = _TRADE_COUNTS[replay] = np.cumsum(starts)
    return hit


def mean_trade_size(replay) -> float:
    """Mean size of the tape's trades (size units; executions at one timestamp on one side summed)."""
    traded = np.isin(replay.kind, [int(k) for k in TRADED_KINDS])
    n = int(trade_counts(replay)[-1])
    if n == 0:
        raise ConfigError("impact model 'propagator': the tape has no trades to take trade_size from; give "
                          "impact.trade_size")
    return float(replay.size[traded].sum()) / n


def reference_mid(replay, t_ns: int) -> float:
    """The historical mid (price units) as of ``t_ns``, else the first two-sided mid after it."""
    s = replay.snapshots
    ok = (s.bid_size[:, 0] > 0) & (s.ask_size[:, 0] > 0)
    i = max(replay.index_at(t_ns), 0)
    later = np.flatnonzero(ok[i:])
    if len(later) == 0:
        raise ConfigError("impact-adjusted replay: the book has no two-sided mid at or after the run's start")
    j = i + int(later[0])
    return (int(s.bid_price[j, 0]) + int(s.ask_price[j, 0])) / 2.0


def for_data(model: ImpactModel, data) -> ImpactModel:
    """``model`` with what it leaves to the data filled in: ``daily_vol`` and ``adv`` of a sqrt model from the
    data's estimated market inputs (:attr:`~tickreplay.experiment.data.MarketData.estimated`), ``trade_size`` of
    a propagator from the tape (:func:`mean_trade_size`)."""
    from dataclasses import replace

    if model.model == "sqrt" and (model.daily_vol is None or model.adv is None):
        est = data.estimated.market
        return replace(model, daily_vol=model.daily_vol if model.daily_vol is not None else est.daily_vol,
                       adv=model.adv if model.adv is not None else est.adv)
    if model.model == "propagator" and model.trade_size is None:
        return replace(model, trade_size=mean_trade_size(data.replay))
    return model


class ShiftState:
    """The own trades of one run and the shift they put in force (see the module docstring).

    ``shift_at(t_ns, k)``: the rounded shift (price units) for the market at exchange time ``t_ns`` as of tape
    event ``k``, from every own trade so far; :meth:`visible_shift` the same for what a trader's view of tape
    event ``k`` shows (own trades after event ``k`` not yet included).
    """

    _CHUNK = 4096

    def __init__(self, model: ImpactModel, replay, start_ns: int) -> None:
        self.model = model
        self.replay = replay
        self.tick = int(replay.instrument.tick_size)
        self.ref_mid = reference_mid(replay, start_ns)
        self.trade_size = (model.trade_size if model.trade_size is not None
                           else (mean_trade_size(replay) if model.model == "propagator" else 1.0))
        self.counts = trade_counts(replay) if model.clock == "trades" else None
        self.t_ns = np.zeros(0, np.int64)
        self.k = np.zeros(0, np.int64)
        self.amp = np.zeros(0, np.float64)  # signed transient amplitudes, price units
        self.perm = np.zeros(0, np.float64)  # signed permanent parts, price units
        self.permanent = 0.0  # their sum
        self.traded = {1: 0, -1: 0}  # our size traded so far per side (the sqrt model's cumulative quantity)

    def add(self, side: int, size: int, t_ns: int, k: int) -> None:
        """Record an own trade of ``size`` size units on ``side`` at ``t_ns`` after tape event ``k``."""
        a, p = self.model.amplitude(size, self.ref_mid, self.trade_size, self.traded[side])
        self.traded[side] += size
        self.t_ns = np.append(self.t_ns, np.int64(t_ns))
        self.k = np.append(self.k, np.int64(k))
        self.amp = np.append(self.amp, side * a)
        self.perm = np.append(self.perm, side * p)
        self.permanent = float(self.perm.sum())

    def _tau(self, t_ns, k, n: int) -> np.ndarray:
        """tau (clock units) of the first ``n`` own trades at (``t_ns``, tape event ``k``), one row per time."""
        if self.counts is None:
            return np.subtract.outer(np.asarray(t_ns, np.int64), self.t_ns[:n]) / NS
        kf = self.k[:n]
        cf = np.where(kf >= 0, self.counts[np.maximum(kf, 0)], 0)
        ck = np.where(np.asarray(k) >= 0, self.counts[np.maximum(np.asarray(k, np.int64), 0)], 0)
        return np.subtract.outer(ck, cf).astype(np.float64)

    def raw_at(self, t_ns, k, n: int | None = None):
        """The summed contributions (price units, unrounded) at (``t_ns``, ``k``) of the first ``n`` own trades."""
        n = len(self.amp) if n is None else n
        transient = (self.amp[:n] * self.model.kernel(self._tau(t_ns, k, n))).sum(axis=-1)
        return transient + (self.permanent if n == len(self.amp) else float(self.perm[:n].sum()))

    def shift_at(self, t_ns: int, k: int) -> int:
        """The shift in force (price units, a multiple of the tick) at ``t_ns`` as of tape event ``k``."""
        if len(self.amp) == 0:
            return 0
        return round_to_ticks(float(self.raw_at(t_ns, k)), self.tick)

    def visible_shift(self, k: int) -> int:
        """The shift in the market as of tape event ``k`` (what a view of it shows): own trades made after a tape
        event before ``k``, at ``k``'s time."""
        if k < 0 or len(self.amp) == 0:
            return 0
        n = int(np.searchsorted(self.k, k, side="left"))  # own trades are recorded in tape order
        if n == 0:
            return 0
        return round_to_ticks(float(self.raw_at(int(self.replay.ts_ns[k]), k, n)), self.tick)

    def _rounded(self, idx: np.ndarray) -> np.ndarray:
        raw = self.raw_at(self.replay.ts_ns[idx], idx)
        return np.copysign(np.floor(np.abs(raw) / self.tick + 0.5), raw).astype(np.int64) * self.tick

    def next_change(self, after: int, current: int, stop: int) -> int:
        """The first tape event in ``after + 1 .. stop - 1`` whose shift differs from ``current``; ``stop`` if none."""
        lo = after + 1
        if lo >= stop or len(self.amp) == 0 or self.model.beta == 0:
            return stop
        bound = np.abs(self.amp).sum()  # |transient| at lo is at most this
        if round_to_ticks(self.permanent + bound, self.tick) == current == round_to_ticks(self.permanent - bound,
                                                                                       self.tick):
            return stop  # the decay can never move the rounded shift again
        if (self.amp >= 0).all() or (self.amp <= 0).all():
            if self._rounded(np.array([stop - 1]))[0] == current:
                return stop
            hi = stop - 1  # monotone: the first differing event by bisection
            while lo < hi:
                mid = (lo + hi) // 2
                if self._rounded(np.array([mid]))[0] != current:
                    hi = mid
                else:
                    lo = mid + 1
            return lo
        while lo < stop:
            idx = np.arange(lo, min(lo + self._CHUNK, stop), dtype=np.int64)
            diff = np.flatnonzero(self._rounded(idx) != current)
            if len(diff):
                return int(idx[diff[0]])
            lo = int(idx[-1]) + 1
        return stop
