"""The event loop: our actions through latency into the exchange, in time order.

Three clocks, all int64 ns UTC on one time line:

* exchange time — the tape's ``ts_ns``;
* trader time ``t`` — when the strategy is woken. A decision at ``t`` sees
  only tape events with ``ts_ns <= t - md_latency`` (one draw of the
  market-data latency per wake-up; the seen index never goes backwards, so
  jitter cannot make the trader forget what it already saw);
* arrival — an order sent at ``t`` reaches the exchange at
  ``t + entry_latency`` (one draw per request; a later request never
  arrives before an earlier one unless ``allow_overtaking``). Acks, fills
  and cancel confirmations reach the strategy ``response_latency`` after
  their exchange time (FIFO likewise).

The Python loop runs over our actions and the exchange's answers (a heap),
never over tape events: passive fills are found by the exchange's numba
kernel, market-data wake-ups come from a precomputed index list of the
subscribed kinds. At equal times, exchange-side work (tape-driven fills,
then arrivals in sending order) comes before strategy wake-ups.

Impact-adjusted replay (``EngineConfig.impact``, docs/impact_replay.md): our own trades shift the replayed
market (:mod:`tickreplay.impact.replay_impact`); the exchange matches in the shifted frame, the trader's view,
market events and the order log's touches show shifted prices (the shift of the market the trader has seen), and
fills and orders gain an ``impact_shift`` column (price units). It runs on this Python loop only; without it
(``impact=None``) nothing changes, byte for byte.

Randomness: ``SeedSequence(seed).spawn(3)`` gives independent streams for
entry, response and market-data latency, in that order. The same engine
config, strategy and seed give byte-identical order logs and fills.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from tickreplay import engine_kernel
from tickreplay.book.view import BookView
from tickreplay.exchange import Exchange, FeeSchedule, QueueModel
from tickreplay.impact.replay_impact import ImpactModel, ShiftState
from tickreplay.io import atomic_path
from tickreplay.errors import ConfigError
from tickreplay.latency import Constant, LatencyModel
from tickreplay.orders import (FILL_COLUMNS, ORDER_LOG_COLUMNS, ActionStatus, Fill, Liquidity, NewOrder, OrderType,
                               OrderUpdate, OwnOrder, Status)
from tickreplay.book.replay import ReplayData
from tickreplay.tape import EventKind

_DUE, _ARRIVE, _WAKE = 0, 1, 2  # heap priorities at equal time
# output strings (one dict per enum: IntEnum members of different enums compare equal)
_TYPE_NAMES, _STATUS_NAMES, _LIQ_NAMES = ({m: m.name.lower() for m in e} for e in (OrderType, Status, Liquidity))
# a new order's row status from the order's status right after its arrival (rejections aside)
_NEW_OUTCOME = {Status.OPEN: ActionStatus.ACCEPTED, Status.FILLED: ActionStatus.FILLED,
                Status.CANCELLED: ActionStatus.DONE}


@dataclass(frozen=True)
class EngineConfig:
    """Everything that shapes a run besides the data and the strategy."""

    md_latency: LatencyModel = field(default_factory=lambda: Constant(0))
    entry_latency: LatencyModel = field(default_factory=lambda: Constant(0))
    response_latency: LatencyModel = field(default_factory=lambda: Constant(0))
    allow_overtaking: bool = False
    queue_model: QueueModel = field(default_factory=QueueModel)
    fees: FeeSchedule = field(default_factory=FeeSchedule)
    seed: int = 0
    impact: ImpactModel | None = None  # None: the replay does not react to our trades


@dataclass(frozen=True)
class MarketEvent:
    """A subscribed tape event as the strategy receives it."""

    kind: EventKind
    side: int
    price: int
    size: int
    order_id: int
    exchange_ns: int


class Strategy:
    """Base class: override what you need. Every callback gets the :class:`Context`.

    ``subscribe``: event kinds for which :meth:`on_market` is called (at
    trader time = exchange time + market-data latency).
    """

    subscribe: tuple[EventKind, ...] = ()

    def on_start(self, ctx: "Context") -> None:
        """Called once at the run's start time."""

    def on_timer(self, ctx: "Context", t_ns: int) -> None:
        """Called at a time set with ``ctx.set_timer``."""

    def on_fill(self, ctx: "Context", fill: Fill) -> None:
        """An execution of one of our orders."""

    def on_order_update(self, ctx: "Context", update: OrderUpdate) -> None:
        """The answer to one of our requests (accepted, rejected, cancelled...)."""

    def on_market(self, ctx: "Context", event: MarketEvent) -> None:
        """A subscribed market event."""


class _Row:
    """One request (new, cancel, modify) and what it did: its order-log row.

    ``filled``/``fees``/``notional``/``maker_qty``/``taker_qty`` add up the fills made while this action was
    in force (from its arrival until the order's next accepted action, or the order's end).
    """

    __slots__ = ("request_id", "order", "order_id", "action", "price", "quantity", "status", "reject_reason",
                 "decision_ns", "decision_idx", "arrival_ns", "arrival_idx", "response_ns", "open_quantity",
                 "rested", "queue_ahead", "filled", "fees", "notional", "maker_qty", "taker_qty", "decision_shift",
                 "arrival_shift")

    def __init__(self, request_id: int, order: OwnOrder | None, order_id: int, action: str, quantity: int | None,
                 price: int | None, decision_ns: int, decision_idx: int) -> None:
        self.request_id, self.order, self.order_id, self.action = request_id, order, order_id, action
        self.quantity, self.price = quantity, price  # as requested (None: none / unchanged until arrival)
        self.status, self.reject_reason = "", ""  # an ActionStatus once the request reached the exchange
        self.decision_ns, self.decision_idx = decision_ns, decision_idx
        self.arrival_ns = self.arrival_idx = self.response_ns = -1
        self.open_quantity = 0  # the order's open size when this action took effect (cancel: the size cancelled)
        self.rested = False  # after this action took effect the order rested in a queue at its price
        self.queue_ahead = -1  # market size ahead of it then; -1: not resting or unknown
        self.filled = self.maker_qty = self.taker_qty = self.notional = 0
        self.fees = 0.0
        self.decision_shift = self.arrival_shift = 0  # impact shift in the view at decision / at arrival

    def add_fill(self, price: int, size: int, liquidity: Liquidity, fee: float) -> None:
        """Count one fill made while this action was in force."""
        self.filled += size
        self.fees += fee
        self.notional += price * size
        if liquidity == Liquidity.MAKER:
            self.maker_qty += size
        else:
            self.taker_qty += size

    @property
    def liquidity(self) -> str:
        if self.maker_qty and self.taker_qty:
            return "mixed"
        return "maker" if self.maker_qty else ("taker" if self.taker_qty else "")


# -- the request / report / output steps shared with the multi-venue loop (tickreplay.venues.engine) ----------
def _apply_request(ex: Exchange, replay: ReplayData, in_force: dict[int, _Row], row: _Row, t: int) -> None:
    """A request reaches exchange ``ex`` (over ``replay``) at ``t``: apply it and record on its row what it did;
    ``in_force`` (order id → row of its action in force) gains the row when the exchange takes it."""
    order = row.order
    if row.action == "new":
        in_force[order.order_id] = row
        ex.new_order(row.request_id, order, t)
        row.arrival_ns, row.arrival_idx = order.arrival_ns, order.arrival_idx
        if order.status == Status.REJECTED:
            row.status, row.reject_reason = ActionStatus.REJECTED, order.reason
        else:
            row.status, row.open_quantity = _NEW_OUTCOME[order.status], order.quantity
    else:
        row.arrival_ns, row.arrival_idx = t, replay.index_at(t)
        filled_before, open_before = (order.filled, order.remaining) if order is not None else (0, 0)
        if row.action == "cancel":
            reason = ex.cancel(row.request_id, order, t)
        else:
            if row.quantity is None:
                row.quantity = order.quantity if order is not None else 0
            if row.price is None and order is not None:
                row.price = order.price
            reason = ex.modify(row.request_id, order, row.quantity, row.price, t)
        if reason:
            row.status, row.reject_reason = ActionStatus.REJECTED, reason
        else:
            in_force[order.order_id] = row
            if row.action == "cancel":
                row.status, row.open_quantity = ActionStatus.CANCELLED, open_before
            else:
                row.status = ActionStatus.MODIFIED
                row.open_quantity = max(row.quantity - filled_before, 0)
    if row.status != ActionStatus.REJECTED and row.action != "cancel" and order.status == Status.OPEN:
        row.rested, row.queue_ahead = True, ex.queue_ahead(order)


def _record_fill(in_force: dict[int, _Row], fill_id: int, rep: tuple, response_ns: int) -> Fill:
    """An exchange "fill" report → the :class:`Fill` the strategy hears of at ``response_ns`` (trader time),
    counted on the row of the order's action in force."""
    _, order, price, size, liq, fee, t_ex, j, how, _shift = rep
    in_force[order.order_id].add_fill(price, size, liq, fee)
    return Fill(fill_id, order.order_id, order.parent_id, order.side, price, size, liq, fee, order.decision_ns,
                order.arrival_ns, t_ex, response_ns, j, how)


def _answer(log: list[_Row], rep: tuple, response_ns: int) -> OrderUpdate:
    """An exchange "done" report → the :class:`OrderUpdate` the strategy hears of at ``response_ns`` (trader
    time); the request's row records that time."""
    _, request_id, order, status, reason, t_ex = rep
    rec = log[request_id - 1]
    rec.response_ns = response_ns
    filled = order.filled if order is not None else 0
    remaining = order.remaining if order is not None else 0
    return OrderUpdate(request_id, rec.order_id, rec.action, status, reason, filled, remaining, t_ex, response_ns)


def _call_strategy(engine, tag: str, obj) -> None:
    """Deliver a timer, fill or order update to ``engine``'s strategy (a fill moves its position first)."""
    s, ctx = engine._strategy, engine._ctx
    if tag == "timer":
        s.on_timer(ctx, obj)
    elif tag == "fill":
        engine._position += obj.side * obj.size
        s.on_fill(ctx, obj)
    else:
        s.on_order_update(ctx, obj)


def _touch(replay: ReplayData, i: int, shift: int = 0) -> tuple[int, int, float]:
    """Best bid, best ask and mid (price units, each + ``shift`` where the side has a price) after tape event
    ``i``; ``(0, 0, nan)`` before the first event."""
    if i < 0:
        return 0, 0, np.nan
    s = replay.snapshots
    b, a = int(s.bid_price[i, 0]), int(s.ask_price[i, 0])
    mid = (b + a) / 2.0 + shift if b > 0 and a > 0 else np.nan
    return (b + shift if b > 0 else b), (a + shift if a > 0 else a), mid


def _frames(log: list[_Row], touches: list[tuple], fills: list[Fill]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The order log and fills frames (:mod:`tickreplay.orders` columns); ``touches[n]`` is request ``n``'s
    decision and arrival :func:`_touch` (six values)."""
    rows = []
    for q, touch in zip(log, touches):
        o = q.order
        if o is None:  # a request naming an order id we never sent
            head, end_state = (q.order_id, 0, 0, ""), ("", 0, -1, -1, 0, "", False, -1)
        else:
            head = (o.order_id, o.parent_id, o.side, _TYPE_NAMES[o.type])
            end_state = (_STATUS_NAMES[o.status], o.filled, -1 if o.price is None else o.price, o.quantity,
                         o.quantity - o.filled, o.reason, o.queue_unknown, o.queue_unknown_ns)
        rows.append((
            q.request_id, head[0], head[1], q.action, head[2], head[3],
            -1 if q.price is None else q.price, -1 if q.quantity is None else q.quantity,
            q.status, q.reject_reason, q.open_quantity, q.filled, q.liquidity, q.fees,
            q.notional / q.filled if q.filled else np.nan, q.rested, q.queue_ahead,
            *end_state, q.decision_ns, q.arrival_ns, q.response_ns, *touch, q.decision_idx, q.arrival_idx,
        ))
    orders = pd.DataFrame.from_records(rows, columns=list(ORDER_LOG_COLUMNS))
    fills_df = pd.DataFrame.from_records(
        [(f.fill_id, f.order_id, f.parent_id, f.side, f.price, f.size, _LIQ_NAMES[f.liquidity], f.fee,
          f.decision_ns, f.arrival_ns, f.exchange_ns, f.response_ns, f.tape_index, f.how) for f in fills],
        columns=list(FILL_COLUMNS))
    return orders.astype(_ORDER_DTYPES), fills_df.astype(_FILL_DTYPES)


class Context:
    """What a strategy can see and do. Valid only inside a callback."""

    def __init__(self, engine: "Engine") -> None:
        self._e = engine

    @property
    def now_ns(self) -> int:
        """The trader's clock."""
        return self._e._now

    @property
    def view(self) -> BookView:
        """The market as of now minus market-data latency (shifted by our impact when the replay reacts)."""
        e = self._e
        if e._impact is not None:
            return ShiftedView(e.replay, e._view_idx, e._now, e._impact.visible_shift(e._view_idx))
        return BookView(e.replay, e._view_idx, e._now)

    @property
    def position(self) -> int:
        """Signed size filled so far, from the fills the strategy has received."""
        return self._e._position

    def send(self, order: NewOrder) -> int:
        """Send a new order; returns its order id (answers come via callbacks)."""
        return self._e._send(order)

    def cancel(self, order_id: int) -> int:
        """Request a cancel; returns the request id."""
        return self._e._request("cancel", order_id, None, None)

    def modify(self, order_id: int, quantity: int | None = None, price: int | None = None) -> int:
        """Request a new total quantity and/or price (None: unchanged); returns the request id."""
        return self._e._request("modify", order_id, quantity, price)

    @property
    def end_ns(self) -> int:
        """The run's end (trader time): timers after it are not called."""
        return self._e._end

    def set_timer(self, t_ns: int) -> None:
        """Wake :meth:`Strategy.on_timer` at trader time ``t_ns`` (not in the past; ignored after :attr:`end_ns`)."""
        if t_ns < self._e._now:
            raise ValueError(f"timer at {t_ns} is before now ({self._e._now})")
        if t_ns <= self._e._end:
            self._e._push(int(t_ns), _WAKE, 0, 0, ("timer", int(t_ns)))


class ShiftedView(BookView):
    """A :class:`BookView` of the impact-adjusted replay: every price is the historical one + ``shift`` (price
    units); sizes, volumes and flow totals are the tape's."""

    __slots__ = ("shift",)

    def __init__(self, replay, index: int, now_ns: int, shift: int) -> None:
        super().__init__(replay, index, now_ns)
        self.shift = int(shift)

    def _best(self, price: np.ndarray, size: np.ndarray) -> tuple[int, int] | None:
        b = super()._best(price, size)
        return None if b is None else (b[0] + self.shift, b[1])

    def top(self, n: int | None = None):
        t = super().top(n)
        if self._i < 0:
            return t
        return type(t)(np.where(t.ask_size > 0, t.ask_price + self.shift, t.ask_price), t.ask_size,
                       np.where(t.bid_size > 0, t.bid_price + self.shift, t.bid_price), t.bid_size)

    def last_trade(self) -> tuple[int, int, int] | None:
        t = super().last_trade()
        return None if t is None else (t[0] + self.shift, t[1], t[2])

    def earlier(self, t_ns: int) -> BookView:
        v = super().earlier(t_ns)
        return ShiftedView(self._r, v._i, self.now_ns, self.shift)


@dataclass
class RunResult:
    """Order log (one row per request, see :mod:`tickreplay.orders`) and fills (one row per execution)."""

    orders: pd.DataFrame
    fills: pd.DataFrame

    def write_parquet(self, folder: str | Path) -> None:
        """Write ``orders.parquet`` and ``fills.parquet`` atomically into ``folder``."""
        folder = Path(folder)
        for name, df in (("orders", self.orders), ("fills", self.fills)):
            with atomic_path(folder / f"{name}.parquet") as tmp:
                pq.write_table(pa.Table.from_pandas(df, preserve_index=False), tmp)


class _CompiledResult(RunResult):
    """A compiled run's result: its frames are built from the kernel's arrays when first read (a run whose tables
    nobody reads does not pay for them); the same frames as the Python loop's."""

    def __init__(self, build: Callable[[], tuple[pd.DataFrame, pd.DataFrame]]) -> None:
        self._build: Callable[[], tuple[pd.DataFrame, pd.DataFrame]] | None = build
        self._frames: tuple[pd.DataFrame, pd.DataFrame] | None = None

    def _built(self) -> tuple[pd.DataFrame, pd.DataFrame]:
        if self._frames is None:
            self._frames, self._build = self._build(), None
        return self._frames

    @property
    def orders(self) -> pd.DataFrame:  # type: ignore[override]
        return self._built()[0]

    @property
    def fills(self) -> pd.DataFrame:  # type: ignore[override]
        return self._built()[1]

    def __reduce__(self):
        return RunResult, self._built()  # pickles as the plain result


class _HeapLoop:
    """The heap both Python loops (:class:`Engine`, :class:`~tickreplay.venues.VenueEngine`) run on: entries
    ``(t_ns, priority, sub-key, sub-key, sequence, item)`` popped in that order; a subclass sets ``_heap`` and
    ``_seq`` and handles a due level (``_due``), an arrival (``_arrive``) and a delivery (``_deliver``)."""

    _heap: list
    _seq: int

    def _push(self, t: int, prio: int, sub1: int, sub2: int, item) -> None:
        self._seq += 1
        heapq.heappush(self._heap, (t, prio, sub1, sub2, self._seq, item))

    def _loop(self) -> RunResult:
        """Pop the heap until it is empty; the run's result."""
        heap = self._heap
        while heap:
            t, prio, _, _, _, item = heapq.heappop(heap)
            if prio == _DUE:
                self._due(item)
            elif prio == _ARRIVE:
                self._arrive(t, item)
            else:
                self._deliver(t, item)
        return self._result()


class Engine(_HeapLoop):
    """Runs strategies over one :class:`ReplayData` (reuse it across runs)."""

    def __init__(self, replay: ReplayData, config: EngineConfig | None = None) -> None:
        self.replay = replay
        self.config = config or EngineConfig()
        self._impact: ShiftState | None = None

    # -- public --------------------------------------------------------------
    @property
    def impact_state(self) -> ShiftState | None:
        """The shift state the last :meth:`run` left (the impact-adjusted replay, ``config.impact``): read it,
        e.g. ``shift_at(t_ns, k)``, for the replayed mid after our trades; None before a run or without impact."""
        return self._impact

    def run(self, strategy: Strategy, start_ns: int | None = None, end_ns: int | None = None,
            compiled: bool = True) -> RunResult:
        """Run ``strategy`` from trader time ``start_ns`` (default: session start).

        Timers up to ``end_ns`` (default: session end) are called; the run
        ends when nothing is left to do (answers to requests still arrive
        after ``end_ns``; orders still resting then have ``order_status`` "open").

        A :class:`~tickreplay.trader.executor.ChildOrderExecutor` or a fresh
        :class:`~tickreplay.trader.pov.PovExecutor` with constant, normal or lognormal latencies runs in the
        compiled loop of :mod:`tickreplay.engine_kernel` (same result, byte for byte);
        ``compiled=False`` forces this Python loop, the reference (every other strategy runs on it).
        """
        cfg, r = self.config, self.replay
        if compiled and engine_kernel.supports(r, cfg, strategy):
            return _CompiledResult(engine_kernel.run(self, strategy, start_ns, end_ns))
        self._rng_entry, self._rng_resp, self._rng_md = (
            np.random.default_rng(s) for s in np.random.SeedSequence(cfg.seed).spawn(3))
        self._heap: list = []
        self._seq = 0
        self._now = int(r.session_start_ns if start_ns is None else start_ns)
        self._impact = None if cfg.impact is None else ShiftState(cfg.impact, r, self._now)
        self._exchange = Exchange(r, cfg.fees, cfg.queue_model, self._impact)
        self._fill_shifts: list[int] = []
        self._arrival_shift = 0
        self._end = int(r.session_end_ns if end_ns is None else end_ns)
        self._view_idx = -1
        self._last_arrival = self._last_response = self._last_md = np.iinfo(np.int64).min
        self._position = 0
        self._orders: dict[int, OwnOrder] = {}
        self._log: list[_Row] = []  # in request order (request id - 1)
        self._in_force: dict[int, _Row] = {}  # order id → the row of its action in force at the exchange
        self._fills: list[tuple] = []
        self._strategy = strategy
        ctx = self._ctx = Context(self)
        self._md_list = r.indices_of(tuple(strategy.subscribe)) if strategy.subscribe else np.zeros(0, np.int64)
        self._wake(self._now)
        self._md_ptr = int(np.searchsorted(self._md_list, self._view_idx, side="right"))
        self._push_next_md()
        strategy.on_start(ctx)
        return self._loop()

    # -- clocks and the heap -------------------------------------------------
    def _due(self, item: tuple) -> None:
        if item[0] is None:
            self._exchange.shift_due(item[1])
        else:
            self._exchange.level_due(item[0], item[1])
        self._drain()

    def _wake(self, t: int, seen_idx: int | None = None) -> None:
        """Set the trader clock to ``t`` and what the trader has seen."""
        self._now = t
        if seen_idx is None:
            lat = self.config.md_latency.sample(t, self._rng_md)
            seen_idx = self.replay.index_at(t - lat)
        self._view_idx = max(self._view_idx, seen_idx)

    def _push_next_md(self) -> None:
        if self._md_ptr >= len(self._md_list):
            return
        j = int(self._md_list[self._md_ptr])
        self._md_ptr += 1
        ts = int(self.replay.ts_ns[j])
        t = max(ts + self.config.md_latency.sample(ts, self._rng_md), self._last_md)
        self._last_md = t
        self._push(t, _WAKE, 0, 0, ("market", j))

    def _entry_time(self) -> int:
        t = self._now + self.config.entry_latency.sample(self._now, self._rng_entry)
        if not self.config.allow_overtaking:
            t = max(t, self._last_arrival)
            self._last_arrival = t
        return t

    def _response_time(self, exchange_ns: int) -> int:
        t = exchange_ns + self.config.response_latency.sample(exchange_ns, self._rng_resp)
        if not self.config.allow_overtaking:
            t = max(t, self._last_response)
            self._last_response = t
        return t

    # -- strategy requests ---------------------------------------------------
    def _send(self, req: NewOrder) -> int:
        order = OwnOrder(len(self._log) + 1, req, self._now)
        self._orders[order.order_id] = order
        row = _Row(order.order_id, order, order.order_id, "new", order.quantity, order.price, self._now,
                   self._view_idx)
        if self._impact is not None:
            row.decision_shift = self._impact.visible_shift(self._view_idx)
        self._log.append(row)
        self._push(self._entry_time(), _ARRIVE, 0, 0, row)
        return order.order_id

    def _request(self, action: str, order_id: int, quantity: int | None, price: int | None) -> int:
        row = _Row(len(self._log) + 1, self._orders.get(order_id), int(order_id), action, quantity, price,
                   self._now, self._view_idx)
        if self._impact is not None:
            row.decision_shift = self._impact.visible_shift(self._view_idx)
        self._log.append(row)
        self._push(self._entry_time(), _ARRIVE, 0, 0, row)
        return row.request_id

    # -- exchange side -------------------------------------------------------
    def _arrive(self, t: int, row: _Row) -> None:
        """A request reaches the exchange at ``t``: apply it and record on its row what it did."""
        if self._impact is not None:  # the shift in force when the request arrives, before its own fills
            self._arrival_shift = self._impact.shift_at(t, self.replay.index_at(t))
        _apply_request(self._exchange, self.replay, self._in_force, row, t)
        row.arrival_shift = self._arrival_shift
        self._drain()

    def _drain(self) -> None:
        """Turn the exchange's reports into deliveries (fills, answers) and wake-ups."""
        reports = self._exchange.reports
        ts = self.replay.ts_ns
        for rep in reports:
            tag = rep[0]
            if tag == "due":
                _, j, lvl, version = rep
                pkey = -lvl.price if lvl.side == 1 else lvl.price  # better price first
                self._push(int(ts[j]), _DUE, j, pkey, (lvl, version))
            elif tag == "shift":  # before the levels' dues at that event: the shift changes first
                _, j, version = rep
                self._push(int(ts[j]), _DUE, j, -(2**62), (None, version))
            elif tag == "fill":
                self._fill_shifts.append(rep[9])
                fill = _record_fill(self._in_force, len(self._fills) + 1, rep, self._response_time(rep[6]))
                self._fills.append(fill)
                self._push(fill.response_ns, _WAKE, 0, 0, ("fill", fill))
            else:
                upd = _answer(self._log, rep, self._response_time(rep[5]))
                self._push(upd.response_ns, _WAKE, 0, 0, ("update", upd))
        reports.clear()

    # -- strategy side -------------------------------------------------------
    def _deliver(self, t: int, item) -> None:
        tag, obj = item
        s, ctx = self._strategy, self._ctx
        if tag == "market":
            self._wake(t, self.replay.index_at(int(self.replay.ts_ns[obj])))
            self._push_next_md()
            r = self.replay
            price = int(r.price[obj])
            if self._impact is not None and price:
                price += self._impact.visible_shift(obj)
            s.on_market(ctx, MarketEvent(EventKind(int(r.kind[obj])), int(r.side[obj]), price,
                                         int(r.size[obj]), int(r.order_id[obj]), int(r.ts_ns[obj])))
            return
        self._wake(t)
        _call_strategy(self, tag, obj)

    # -- output --------------------------------------------------------------
    def _result(self) -> RunResult:
        r = self.replay
        touches = [(*_touch(r, q.decision_idx, q.decision_shift), *_touch(r, q.arrival_idx, q.arrival_shift))
                   for q in self._log]
        orders, fills = _frames(self._log, touches, self._fills)
        if self._impact is not None:  # the shift in force at each request's arrival and at each fill
            orders["impact_shift"] = np.array([q.arrival_shift for q in self._log], np.int64)
            fills["impact_shift"] = np.array(self._fill_shifts, np.int64)
        return RunResult(orders, fills)


_I64 = "int64"
_ORDER_DTYPES = {
    "request_id": _I64, "order_id": _I64, "parent_id": _I64, "action": "string", "side": "int8", "type": "string",
    "price": _I64, "quantity": _I64, "status": "string", "reject_reason": "string", "open_quantity": _I64,
    "filled": _I64, "liquidity": "string", "fees": "float64", "avg_price": "float64", "rested": "bool",
    "queue_ahead": _I64, "order_status": "string", "order_filled": _I64, "final_price": _I64, "final_quantity": _I64,
    "unfilled": _I64, "reason": "string", "queue_unknown": "bool", "queue_unknown_ns": _I64,
    "decision_ns": _I64, "arrival_ns": _I64, "response_ns": _I64,
    "bid_decision": _I64, "ask_decision": _I64, "mid_decision": "float64",
    "bid_arrival": _I64, "ask_arrival": _I64, "mid_arrival": "float64", "decision_idx": _I64, "arrival_idx": _I64,
}
_FILL_DTYPES = {
    "fill_id": _I64, "order_id": _I64, "parent_id": _I64, "side": "int8", "price": _I64, "size": _I64,
    "liquidity": "string", "fee": "float64", "decision_ns": _I64, "arrival_ns": _I64, "exchange_ns": _I64,
    "response_ns": _I64, "tape_index": _I64, "how": "string",
}
