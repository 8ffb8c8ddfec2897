"""The multi-venue event loop: one instrument on several venues, one :class:`~tickreplay.exchange.Exchange` each.

Each :class:`Venue` brings its own tape (:class:`~tickreplay.book.replay.ReplayData`) and its own
:class:`~tickreplay.engine.EngineConfig`: market-data, order-entry and response latency, queue model and fees.
Our orders on a venue are matched by that venue's exchange only (nothing on venue A ever fills against venue B's
book), and each venue's request and answer streams keep their own sending order (one connection per venue).

Clocks (int64 ns UTC on one time line), per venue k as in :mod:`tickreplay.engine`:

* at each wake-up at trader time ``t`` the trader sees venue k's tape up to ``t - md_latency_k`` (one draw per
  venue per wake-up; a venue's seen index never goes backwards); a subscribed market event of venue k wakes the
  trader at its exchange time + venue k's market-data latency, and the other venues are seen as of then;
* an order sent to venue k at ``t`` arrives at ``t + entry_latency_k``; its answers come back
  ``response_latency_k`` after their exchange time.

The strategy is any :class:`~tickreplay.engine.Strategy`: :attr:`VenueContext.view` is the consolidated view
(:class:`~tickreplay.venues.consolidated.ConsolidatedView`, the union of the venues' books as the trader sees
them), ``ctx.send(order, venue=...)`` picks a venue (default: the first), :meth:`VenueContext.venue_view` gives
one venue's view. With one venue, a run is the single-venue engine's run byte for byte (orders and fills, plus a
``venue`` column): the same heap order and the same random streams.

Randomness: ``SeedSequence(seed).spawn(3 * K)`` gives venue k the streams ``3k, 3k + 1, 3k + 2`` for its entry,
response and market-data latency (so venue 0's are the single-venue engine's). The seed is the run's (the
venues' ``EngineConfig.seed`` are not used).

Impact-adjusted replay across venues (``VenueEngine(..., impact=ImpactModel)``, :mod:`tickreplay.venues.impact`):
one shift for the instrument, moved by our trades on every venue and applied to every venue's matching, the
trader's views (each venue's and so the consolidated one), the market events and the order log's touches, as the
single-venue engine applies it; fills and orders gain ``impact_shift`` (before ``venue``). With one venue it is the
single-venue engine's impact run byte for byte. The model is the run's, not a venue's: a venue config with
``EngineConfig.impact`` is refused.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from tickreplay.book.replay import ReplayData
from tickreplay.book.view import BookView
from tickreplay.engine import (_ARRIVE, _DUE, _WAKE, Context, EngineConfig, MarketEvent, RunResult, ShiftedView,
                               Strategy, _answer, _apply_request, _HeapLoop, _call_strategy, _frames, _record_fill, _Row,
                               _touch)
from tickreplay.errors import ConfigError
from tickreplay.exchange import Exchange
from tickreplay.impact.replay_impact import ImpactModel
from tickreplay.orders import Fill, NewOrder, OwnOrder
from tickreplay.tape import EventKind
from tickreplay.venues.consolidated import ConsolidatedView, check_same_instrument
from tickreplay.venues.impact import SharedShift, VenueExchange, VenueShift

_INT64_MIN = np.iinfo(np.int64).min


@dataclass(frozen=True, eq=False)
class Venue:
    """One venue of the instrument: a ``name``, its replayed tape and its latency / queue / fee configuration."""

    name: str
    replay: ReplayData
    config: EngineConfig = EngineConfig()

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ConfigError(f"venue name must be a non-empty string, got {self.name!r}")
        if not isinstance(self.replay, ReplayData):
            raise ConfigError(f"venue {self.name!r}: replay must be a ReplayData, got {type(self.replay).__name__}")
        if self.config.impact is not None:
            raise ConfigError(f"venue {self.name!r}: the impact-adjusted replay across venues is the run's, one shift "
                              f"for the instrument: give the model to VenueEngine(venues, impact=...) and "
                              f"impact=None in the venue's EngineConfig")


class _Lane:
    """One venue's state during a run."""

    __slots__ = ("k", "venue", "replay", "config", "shift", "exchange", "rng_entry", "rng_resp", "rng_md",
                 "view_idx", "last_arrival", "last_response", "last_md", "md_list", "md_ptr")

    def __init__(self, k: int, venue: Venue, seeds, subscribe: tuple, shift: VenueShift | None = None) -> None:
        self.k, self.venue, self.replay, self.config = k, venue, venue.replay, venue.config
        self.shift = shift  # this venue's side of the run's shift (None: the replay does not react)
        cls = Exchange if shift is None else VenueExchange
        self.exchange = cls(venue.replay, venue.config.fees, venue.config.queue_model, shift)
        self.rng_entry, self.rng_resp, self.rng_md = (np.random.default_rng(s) for s in seeds)
        self.view_idx = -1
        self.last_arrival = self.last_response = self.last_md = _INT64_MIN
        self.md_list = venue.replay.indices_of(subscribe) if subscribe else np.zeros(0, np.int64)
        self.md_ptr = 0

    def see(self, t: int, seen_idx: int | None = None) -> None:
        """What the trader has seen of this venue at trader time ``t`` (one market-data latency draw)."""
        if seen_idx is None:
            lat = self.config.md_latency.sample(t, self.rng_md)
            seen_idx = self.replay.index_at(t - lat)
        self.view_idx = max(self.view_idx, seen_idx)


class VenueContext(Context):
    """What a strategy can see and do on several venues (valid only inside a callback).

    ``view``: the consolidated view; ``send(order, venue)``: a new order to one venue (default: the first);
    cancels and modifies go to the venue the order was sent to.
    """

    @property
    def view(self) -> ConsolidatedView:
        """The union of the venues' books, each as of now minus its market-data latency."""
        e = self._e
        return ConsolidatedView(tuple(e.venue_names), tuple(self.venue_view(n) for n in e.venue_names), e._now)

    @property
    def venues(self) -> tuple[str, ...]:
        """The venue names, in the run's order."""
        return tuple(self._e.venue_names)

    def venue_view(self, venue: str) -> BookView:
        """One venue's market as of now minus its market-data latency (shifted by our impact when the replay
        reacts: a :class:`~tickreplay.engine.ShiftedView`)."""
        lane = self._e._lane(venue)
        if lane.shift is not None:
            return ShiftedView(lane.replay, lane.view_idx, self._e._now, lane.shift.visible_shift(lane.view_idx))
        return BookView(lane.replay, lane.view_idx, self._e._now)

    def venue_config(self, venue: str) -> EngineConfig:
        """One venue's configuration (fees, latencies, queue model)."""
        return self._e._lane(venue).config

    def send(self, order: NewOrder, venue: str | None = None) -> int:
        """Send a new order to ``venue`` (default: the first); returns its order id."""
        return self._e._send(order, self._e._lane(venue).k)

    def venue_of(self, order_id: int) -> str:
        """The venue an order was sent to."""
        return self._e.venue_names[self._e._order_lane[order_id]]


class VenueEngine(_HeapLoop):
    """Runs a strategy over several venues of one instrument (see the module docstring); ``impact``: the
    impact-adjusted replay's model, one shift for the instrument (None: the venues replay plain)."""

    def __init__(self, venues, seed: int = 0, impact: ImpactModel | None = None) -> None:
        vs = tuple(venues)
        if not vs:
            raise ConfigError("venues: at least one venue is needed")
        for k, v in enumerate(vs):
            if not isinstance(v, Venue):
                raise ConfigError(f"venues[{k}] must be a tickreplay.venues.Venue, got {type(v).__name__}")
        names = [v.name for v in vs]
        dup = next((n for n in names if names.count(n) > 1), None)
        if dup is not None:
            raise ConfigError(f"venues: the name {dup!r} appears twice")
        check_same_instrument([(v.name, v.replay.instrument) for v in vs])
        if impact is not None and not isinstance(impact, ImpactModel):
            raise ConfigError(f"impact must be a tickreplay.impact.replay_impact.ImpactModel, got "
                              f"{type(impact).__name__}")
        self.venues = vs
        self.venue_names = names
        self.seed = int(seed)
        self.impact = impact
        self._shift: SharedShift | None = None

    @property
    def impact_state(self) -> SharedShift | None:
        """The shift the last :meth:`run` left (``shift_at(t_ns)``: our shift on the instrument's price at exchange
        time ``t_ns``); None before a run or without impact."""
        return self._shift

    def _lane(self, venue: str | None) -> _Lane:
        if venue is None:
            return self._lanes[0]
        try:
            return self._lanes[self.venue_names.index(venue)]
        except ValueError:
            raise ConfigError(f"unknown venue {venue!r} (venues: {', '.join(self.venue_names)})") from None

    # -- public --------------------------------------------------------------
    def run(self, strategy: Strategy, start_ns: int | None = None, end_ns: int | None = None) -> RunResult:
        """Run ``strategy`` from trader time ``start_ns`` to ``end_ns`` (defaults: the earliest session start and
        the latest session end of the venues). Orders and fills get a ``venue`` column (last)."""
        seeds = np.random.SeedSequence(self.seed).spawn(3 * len(self.venues))
        sub = tuple(strategy.subscribe)
        r0 = [v.replay for v in self.venues]
        self._now = int(min(r.session_start_ns for r in r0) if start_ns is None else start_ns)
        shared = self._shift = None if self.impact is None else SharedShift(self.impact, r0, self._now)
        self._lanes = [_Lane(k, v, seeds[3 * k:3 * k + 3], sub, None if shared is None else shared.lanes[k])
                       for k, v in enumerate(self.venues)]
        if shared is not None:
            shared.on_trade = self._trade_elsewhere
        self._heap: list = []
        self._seq = 0
        self._end = int(max(r.session_end_ns for r in r0) if end_ns is None else end_ns)
        self._position = 0
        self._orders: dict[int, OwnOrder] = {}
        self._order_lane: dict[int, int] = {}
        self._log: list[_Row] = []
        self._row_lane: list[int] = []
        self._in_force: dict[int, _Row] = {}
        self._fills: list[Fill] = []
        self._fill_lane: list[int] = []
        self._fill_shifts: list[int] = []
        self._strategy = strategy
        ctx = self._ctx = VenueContext(self)
        self._wake(self._now)
        for lane in self._lanes:
            lane.md_ptr = int(np.searchsorted(lane.md_list, lane.view_idx, side="right"))
            self._push_next_md(lane)
        strategy.on_start(ctx)
        return self._loop()

    # -- clocks and the heap -------------------------------------------------
    def _due(self, item: tuple) -> None:
        lane, lvl, version = item
        if lvl is None:
            lane.exchange.shift_due(version)
        else:
            lane.exchange.level_due(lvl, version)
        self._drain(lane)

    def _trade_elsewhere(self, venue: int, t: int) -> None:
        """An own trade on lane ``venue`` at ``t`` moved the shift: every other venue's exchange follows."""
        for lane in self._lanes:
            if lane.k != venue:
                lane.exchange.trade_elsewhere(t)

    def _wake(self, t: int, lane: _Lane | None = None, seen_idx: int | None = None) -> None:
        """Set the trader clock to ``t``; ``lane`` has seen ``seen_idx`` (a market event), the others draw."""
        self._now = t
        for other in self._lanes:
            other.see(t, seen_idx if other is lane else None)

    def _push_next_md(self, lane: _Lane) -> None:
        if lane.md_ptr >= len(lane.md_list):
            return
        j = int(lane.md_list[lane.md_ptr])
        lane.md_ptr += 1
        ts = int(lane.replay.ts_ns[j])
        t = max(ts + lane.config.md_latency.sample(ts, lane.rng_md), lane.last_md)
        lane.last_md = t
        self._push(t, _WAKE, 0, 0, ("market", (lane, j)))

    def _entry_time(self, lane: _Lane) -> int:
        t = self._now + lane.config.entry_latency.sample(self._now, lane.rng_entry)
        if not lane.config.allow_overtaking:
            t = max(t, lane.last_arrival)
            lane.last_arrival = t
        return t

    def _response_time(self, lane: _Lane, exchange_ns: int) -> int:
        t = exchange_ns + lane.config.response_latency.sample(exchange_ns, lane.rng_resp)
        if not lane.config.allow_overtaking:
            t = max(t, lane.last_response)
            lane.last_response = t
        return t

    # -- strategy requests ---------------------------------------------------
    def _send(self, req: NewOrder, k: int) -> int:
        lane = self._lanes[k]
        order = OwnOrder(len(self._log) + 1, req, self._now)
        self._orders[order.order_id] = order
        self._order_lane[order.order_id] = k
        row = _Row(order.order_id, order, order.order_id, "new", order.quantity, order.price, self._now,
                   lane.view_idx)
        if lane.shift is not None:
            row.decision_shift = lane.shift.visible_shift(lane.view_idx)
        self._log.append(row)
        self._row_lane.append(k)
        self._push(self._entry_time(lane), _ARRIVE, 0, 0, row)
        return order.order_id

    def _request(self, action: str, order_id: int, quantity: int | None, price: int | None) -> int:
        k = self._order_lane.get(int(order_id), 0)  # an id never sent: answered (rejected) by the first venue
        lane = self._lanes[k]
        row = _Row(len(self._log) + 1, self._orders.get(order_id), int(order_id), action, quantity, price,
                   self._now, lane.view_idx)
        if lane.shift is not None:
            row.decision_shift = lane.shift.visible_shift(lane.view_idx)
        self._log.append(row)
        self._row_lane.append(k)
        self._push(self._entry_time(lane), _ARRIVE, 0, 0, row)
        return row.request_id

    # -- exchange side -------------------------------------------------------
    def _arrive(self, t: int, row: _Row) -> None:
        """A request reaches its venue's exchange at ``t`` (as :meth:`tickreplay.engine.Engine._arrive`)."""
        lane = self._lanes[self._row_lane[row.request_id - 1]]
        shift = 0 if lane.shift is None else lane.shift.shift_at(t, lane.replay.index_at(t))  # before its fills
        _apply_request(lane.exchange, lane.replay, self._in_force, row, t)
        row.arrival_shift = shift
        self._drain(lane)

    def _drain(self, lane: _Lane) -> None:
        """Turn the venue exchanges' reports into deliveries (fills, answers) and wake-ups: ``lane``'s first, then
        (the impact replay: an own trade on ``lane`` moves the other venues' shift) the others' in venue order."""
        self._drain_one(lane)
        if self._shift is not None:
            for other in self._lanes:
                if other is not lane:
                    self._drain_one(other)

    def _drain_one(self, lane: _Lane) -> None:
        reports = lane.exchange.reports
        ts = lane.replay.ts_ns
        for rep in reports:
            tag = rep[0]
            if tag == "due":
                _, j, lvl, version = rep
                pkey = -lvl.price if lvl.side == 1 else lvl.price  # better price first
                self._push(int(ts[j]), _DUE, j, pkey, (lane, lvl, version))
            elif tag == "shift":  # before the levels' dues at that event: the shift changes first
                _, j, version = rep
                self._push(int(ts[j]), _DUE, j, -(2**62), (lane, None, version))
            elif tag == "fill":
                self._fill_shifts.append(rep[9])
                fill = _record_fill(self._in_force, len(self._fills) + 1, rep, self._response_time(lane, rep[6]))
                self._fills.append(fill)
                self._fill_lane.append(lane.k)
                self._push(fill.response_ns, _WAKE, 0, 0, ("fill", fill))
            else:
                upd = _answer(self._log, rep, self._response_time(lane, rep[5]))
                self._push(upd.response_ns, _WAKE, 0, 0, ("update", upd))
        reports.clear()

    # -- strategy side -------------------------------------------------------
    def _deliver(self, t: int, item) -> None:
        tag, obj = item
        s, ctx = self._strategy, self._ctx
        if tag == "market":
            lane, j = obj
            r = lane.replay
            self._wake(t, lane, r.index_at(int(r.ts_ns[j])))
            self._push_next_md(lane)
            price = int(r.price[j])
            if lane.shift is not None and price:
                price += lane.shift.visible_shift(j)
            s.on_market(ctx, MarketEvent(EventKind(int(r.kind[j])), int(r.side[j]), price,
                                         int(r.size[j]), int(r.order_id[j]), int(r.ts_ns[j])))
            return
        self._wake(t)
        _call_strategy(self, tag, obj)

    # -- output --------------------------------------------------------------
    def _result(self) -> RunResult:
        touches = []
        for q, k in zip(self._log, self._row_lane):
            r = self._lanes[k].replay
            touches.append((*_touch(r, q.decision_idx, q.decision_shift), *_touch(r, q.arrival_idx, q.arrival_shift)))
        orders, fills = _frames(self._log, touches, self._fills)
        if self._shift is not None:  # the shift in force at each request's arrival and at each fill
            orders["impact_shift"] = np.array([q.arrival_shift for q in self._log], np.int64)
            fills["impact_shift"] = np.array(self._fill_shifts, np.int64)
        names = np.array(self.venue_names, dtype=object)
        orders["venue"] = pd.array(names[np.array(self._row_lane, np.int64)] if self._log else [], dtype="string")
        fills["venue"] = pd.array(names[np.array(self._fill_lane, np.int64)] if self._fills else [], dtype="string")
        return RunResult(orders, fills)
