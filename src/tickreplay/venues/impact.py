"""The impact-adjusted replay across venues: one shift ``S(t)`` for the instrument, driven by our trades on every
venue and applied to every venue's book (docs/venues.md, *Impact across venues*; the shift model is
:mod:`tickreplay.impact.replay_impact`'s).

One instrument has one latent price: an own trade on venue A moves the price for venue B too. So the run keeps
one store of own trades (:class:`SharedShift`: time, venue, tape event of that venue, signed amplitudes) and each
venue's exchange asks it through a :class:`VenueShift` — the :class:`~tickreplay.impact.replay_impact.ShiftState`
interface the single-venue :class:`~tickreplay.exchange.Exchange` uses, in that venue's tape events:

* ``shift_at(t, k)`` is the rounded sum over **every** own trade (any venue) at exchange time ``t``;
* ``visible_shift(k)`` (the trader's view of venue B's tape event ``k``, and the prints of that event) counts the
  own trades on B made after an event before ``k`` (as on one venue) and the own trades on other venues made
  strictly before ``k``'s time, all evaluated at ``k``'s time;
* an own trade on A at ``t`` reaches B's exchange at B's first tape event after ``t`` (B's resting orders are
  re-pegged there, :meth:`VenueExchange.trade_elsewhere`), or at once when an own request reaches B in between
  (the request's own sync): what happens between two tape events of B is not observable on B.

Clock. Decay in seconds is one clock for every venue. A kernel in **tape trades** has no single clock across
venues (each tape counts its own prints), so ``clock = "trades"`` is refused on more than one venue (a
:class:`~tickreplay.errors.ConfigError`); on one venue it is the venue's own trade count, as the single-venue
engine has it.

Reference mid ``M0`` and ``trade_size``: on one venue exactly the single-venue engine's (the venue's mid as of the
run's start, its mean trade size). On several venues ``M0`` is the consolidated mid as of the start (highest bid,
lowest ask of the venues' books then; if a side is empty on every venue, the mean of the venues' own reference
mids), and the default ``trade_size`` the mean size of the venues' trades together (size units: all their traded
size over all their trade prints).
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

from tickreplay.errors import ConfigError
from tickreplay.exchange import Exchange
from tickreplay.impact.replay_impact import (NS, ImpactModel, ShiftState, reference_mid, round_to_ticks,
                                             trade_counts)
from tickreplay.tape import TRADED_KINDS


def consolidated_reference_mid(replays: Sequence, t_ns: int) -> float:
    """``M0`` of several venues' run starting at ``t_ns`` (price units; module docstring)."""
    bid, ask = None, None
    for r in replays:
        i = r.index_at(t_ns)
        if i < 0:
            continue
        s = r.snapshots
        if s.bid_size[i, 0] > 0:
            bid = int(s.bid_price[i, 0]) if bid is None else max(bid, int(s.bid_price[i, 0]))
        if s.ask_size[i, 0] > 0:
            ask = int(s.ask_price[i, 0]) if ask is None else min(ask, int(s.ask_price[i, 0]))
    if bid is not None and ask is not None:
        return (bid + ask) / 2.0
    return float(np.mean([reference_mid(r, t_ns) for r in replays]))


def consolidated_trade_size(replays: Sequence) -> float:
    """Mean trade size of the venues together (size units: traded size over trade prints, every venue)."""
    kinds = [int(k) for k in TRADED_KINDS]
    size = sum(int(r.size[np.isin(r.kind, kinds)].sum()) for r in replays)
    n = sum(int(trade_counts(r)[-1]) if len(r) else 0 for r in replays)
    if n == 0:
        raise ConfigError("impact model 'propagator': the venues' tapes have no trades to take trade_size from; "
                          "give impact.trade_size")
    return float(size) / n


class SharedShift:
    """The own trades of one multi-venue run and the one shift they put in force (module docstring).

    ``lanes[k]``: venue ``k``'s :class:`VenueShift`. ``on_trade(venue, t_ns)`` (set by the engine) is called after
    each own trade that moves the shift (non-zero amplitude), so the other venues' exchanges follow.
    """

    def __init__(self, model: ImpactModel, replays: Sequence, start_ns: int) -> None:
        replays = list(replays)
        if model.clock == "trades" and len(replays) > 1:
            raise ConfigError("impact clock 'trades' on several venues: a kernel in tape trades has no single clock "
                              "across venues (each venue's tape counts its own prints); give the decay in seconds "
                              "(clock = \"seconds\", tau0 in seconds) for a multi-venue run")
        self.model = model
        self.tick = int(replays[0].instrument.tick_size)
        one = len(replays) == 1
        self.ref_mid = reference_mid(replays[0], start_ns) if one else consolidated_reference_mid(replays, start_ns)
        if model.trade_size is not None:
            self.trade_size = float(model.trade_size)
        elif model.model == "propagator":
            self.trade_size = consolidated_trade_size(replays)
        else:
            self.trade_size = 1.0
        self.t_ns = np.zeros(0, np.int64)
        self.k = np.zeros(0, np.int64)  # the tape event of the trade's own venue
        self.venue = np.zeros(0, np.int64)
        self.amp = np.zeros(0, np.float64)  # signed transient amplitudes, price units
        self.perm = np.zeros(0, np.float64)  # signed permanent parts, price units
        self.permanent = 0.0
        self.traded = {1: 0, -1: 0}  # our size traded so far per side, all venues (the sqrt law's quantity)
        self.on_trade: Callable[[int, int], None] | None = None
        self.lanes = [VenueShift(self, k, r) for k, r in enumerate(replays)]

    def add(self, venue: int, side: int, size: int, t_ns: int, k: int) -> None:
        """Record an own trade of ``size`` size units on ``side`` at ``t_ns`` after tape event ``k`` of ``venue``."""
        a, p = self.model.amplitude(size, self.ref_mid, self.trade_size, self.traded[side])
        self.traded[side] += size
        self.t_ns = np.append(self.t_ns, np.int64(t_ns))
        self.k = np.append(self.k, np.int64(k))
        self.venue = np.append(self.venue, np.int64(venue))
        self.amp = np.append(self.amp, side * a)
        self.perm = np.append(self.perm, side * p)
        self.permanent = float(self.perm.sum())
        if (a or p) and self.on_trade is not None:
            self.on_trade(venue, t_ns)

    def shift_at(self, t_ns: int, k: int = -1) -> int:
        """The shift in force (price units) at exchange time ``t_ns``; ``k``: a tape event of the first venue (the
        trades clock, one venue only)."""
        return self.lanes[0].shift_at(t_ns, k)


class VenueShift(ShiftState):
    """Venue ``venue``'s side of a :class:`SharedShift`: the :class:`ShiftState` questions in that venue's tape
    events (``replay``), over the run's own trades on every venue."""

    def __init__(self, shared: SharedShift, venue: int, replay) -> None:  # noqa: super().__init__ not called
        self.shared, self.venue = shared, venue
        self.model, self.replay, self.tick = shared.model, replay, shared.tick
        self.ref_mid, self.trade_size = shared.ref_mid, shared.trade_size
        self.counts = trade_counts(replay) if shared.model.clock == "trades" else None

    # the own trades are the run's, every venue's
    t_ns = property(lambda self: self.shared.t_ns)
    k = property(lambda self: self.shared.k)
    amp = property(lambda self: self.shared.amp)
    perm = property(lambda self: self.shared.perm)
    permanent = property(lambda self: self.shared.permanent)
    traded = property(lambda self: self.shared.traded)

    def add(self, side: int, size: int, t_ns: int, k: int) -> None:
        """Record an own trade on this venue (``k``: this venue's tape event)."""
        self.shared.add(self.venue, side, size, t_ns, k)

    def visible_shift(self, k: int) -> int:
        """The shift in this venue's market as of its tape event ``k`` (module docstring: this venue's own trades
        after an event before ``k``, other venues' trades before ``k``'s time)."""
        s = self.shared
        if k < 0 or len(s.amp) == 0:
            return 0
        t = int(self.replay.ts_ns[k])
        seen = np.where(s.venue == self.venue, s.k < k, s.t_ns < t)
        n = int(seen.sum())
        if n == 0:
            return 0
        if seen[:n].all():  # the first n trades: the single-venue computation
            return round_to_ticks(float(self.raw_at(t, k, n)), self.tick)
        raw = (s.amp[seen] * self.model.kernel((t - s.t_ns[seen]) / NS)).sum() + float(s.perm[seen].sum())
        return round_to_ticks(float(raw), self.tick)


class VenueExchange(Exchange):
    """A venue's :class:`~tickreplay.exchange.Exchange` in a multi-venue impact run: it also follows the shift
    moved by our trades on the other venues (:meth:`trade_elsewhere`)."""

    def trade_elsewhere(self, t_ns: int) -> None:
        """An own trade on another venue at ``t_ns`` moved the shift: put it in force at this venue's first tape
        event after ``t_ns`` (resting orders re-pegged there, and the next change point found again); a request
        arriving before that syncs on its own. Nothing to do when a change is already due at or before that event
        (it is recomputed there with every trade so far)."""
        j = self.r.index_at(t_ns) + 1
        end = min(len(self.r), self._stop)
        if j >= end or j >= self._shift_at:
            return
        self.shift_version += 1
        self._shift_at = j
        self.reports.append(("shift", j, self.shift_version))
        for lvl in list(self.levels.values()):
            if not lvl.unknown:
                self._reschedule(lvl)  # their next events may lie beyond the change point
