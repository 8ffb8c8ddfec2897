"""The simulated exchange: matches own orders against the replayed book.

It decides nothing; it answers what a real exchange would have answered,
given the historical tape (which does not react to us).

Aggressive orders (market, marketable limit, IOC) fill at arrival: with
``i`` the last tape event at or before the arrival time, the exchange walks
snapshot row ``i`` of the opposite side level by level, up to the limit
price. A replay never invents liquidity: what the top-N levels of the data
cannot supply stays unfilled (market, IOC: cancelled and reported; limit:
rests).

**Consumed-liquidity rule.** Liquidity our own fills took stays taken: after
we take ``q`` at (side, price) at event ``i``, a later own order sees that
level reduced by ``q`` until the tape next changes that level's visible size
(the first size-changing event at that (side, price) after ``i``); from then
on the tape's size is taken as the truth again. The same holds for resting
liquidity that filled one of our passive orders by crossing it.

**Passive orders and queue position.** A limit order joining (side, price)
at event ``i0`` has ``ahead`` = visible size there after ``i0`` minus what we
consumed there; own orders at one price form one queue in arrival order and
are advanced jointly by :func:`advance_level`, a numba kernel over tape index
ranges:

* L3 tapes (order ids): a cancel/delete of an order added at or before
  ``i0``, or of an id never seen added (it rested before the data started),
  reduces ``ahead``; one added after us does not. A visible execution
  consumes ``ahead`` first and fills us with the rest; an execution of an
  order added after us means FIFO has reached us: ``ahead`` = 0 and the
  execution fills us. Hidden executions at our price do not fill us (hidden
  orders queue behind displayed ones). A level-set (an adapter reconciling
  with the vendor's book) changes ``ahead`` by its change: unattributed
  volume sits at the front of the queue, as in :class:`~tickreplay.book.l3.L3Book`.
* L2 tapes (no ids): the scenario's :class:`QueueModel`. Trade prints at our
  price consume ``ahead`` first, the rest fills us. A size decrease is first
  explained by trades printed since the last depth update (a trade is never
  counted twice); the unexplained rest is a cancel: *risk-averse* ignores it
  (``ahead`` only shrinks by trades), *power*/*log* take it from ahead of us
  with probability f(ahead)/(f(ahead)+f(behind)), f(x) = x**n or log(1+x),
  applied as the expected value (deterministic, as hftbacktest does).
  ``ahead`` never exceeds the level's visible size.
* Trade-through (both): an execution on our side at a worse price than ours,
  or opposite-side liquidity arriving at a price that crosses ours, means the
  market passed through our level: ``ahead`` = 0 and that volume fills us at
  OUR price. Not while trading is halted (:attr:`ReplayData.halted`): quotes
  crossing ours during a halt or quote-only period do not trade.
* Volume is allocated once: a tape execution fills our orders at one price in
  queue order and what it gave to one order does not also move another. Across
  price levels the better-priced own order is served first and the volume it
  took is recorded per tape event (``used``) and withheld from the others.
* Out of window: when our price lies beyond the data's top-N window
  (``Instrument.levels``, e.g. a LOBSTER file's N; see
  :attr:`ReplayData.window_levels`) after some event, or the data
  resynchronises (snapshot begin), the tape no longer shows what happens at
  our price: the order's queue position becomes unknown from then on, it is
  never filled passively again (a cancel still works), and the order log
  flags it. A later own order joining that price is unknown too (its place
  behind the unknown one cannot be known).
* Session end: tape events after :attr:`ReplayData.session_end_ns` do not
  fill resting orders (the exchange no longer matches); they stay open.

**Impact-adjusted replay** (an :class:`~tickreplay.impact.replay_impact.ShiftState`; see
docs/impact_replay.md). Our own trades shift the replayed market by ``S`` (price units, a multiple of the
tick): every price of the tape is ``p_h + S`` for us. The exchange keeps its state in historical prices: an
order with limit ``L`` (our frame) matches the historical book at ``L - S`` and fills at ``p_h + S``
(aggressive) or at ``L`` (passive); consumed liquidity is kept at historical prices (the historical flow keeps
its shape relative to the shifted price). When ``S`` changes (after each own trade, and at the first tape event
where the rounded decay crosses a tick) every resting order is **re-pegged**: it leaves its queue and joins the
back of the queue at the historical level ``L - S`` (as a re-priced order does: never a better place than the
book allowed); a re-peg onto a price that crosses the historical book fills against it at ``L`` as maker
(``how`` "trade_through", as liquidity arriving through our price), except while halted. With no impact
(``S`` = 0 throughout) nothing of this runs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numba as nb
import numpy as np

from tickreplay.errors import ConfigError
from tickreplay.orders import DoneReason, Liquidity, OrderType, OwnOrder, Reject, Status
from tickreplay.book.replay import ReplayData
from tickreplay.impact.replay_impact import ShiftState
from tickreplay.tape import (
    K_ADD as _ADD, K_PARTIAL_CANCEL as _PARTIAL, K_DELETE as _DELETE, K_EXECUTE_VISIBLE as _EXEC,
    K_EXECUTE_HIDDEN as _HIDDEN, K_TRADE as _TRADE, K_LEVEL_SET as _LEVEL_SET,
    K_SNAPSHOT_BEGIN as _SNAP_BEGIN,
)


MODEL_L3, MODEL_RISK_AVERSE, MODEL_POWER, MODEL_LOG = 0, 1, 2, 3
FILLED_AT, UNKNOWN_AT = 1, 2  # status bits returned by advance_level
HOW_QUEUE, HOW_THROUGH = 1, 2
_HOW_NAMES = {HOW_QUEUE: "queue", HOW_THROUGH: "trade_through"}
# enum members as module constants: attribute access on an Enum class is slow in hot paths
_PENDING, _OPEN, _FILLED, _CANCELLED, _REJECTED = (Status.PENDING, Status.OPEN, Status.FILLED, Status.CANCELLED,
                                                   Status.REJECTED)
_MAKER, _TAKER = Liquidity.MAKER, Liquidity.TAKER
_MARKET, _LIMIT, _IOC = OrderType.MARKET, OrderType.LIMIT, OrderType.IOC


@dataclass(frozen=True)
class FeeSchedule:
    """Fees per liquidity flag, in bps of notional and/or currency per traded unit; negative = rebate.

    The notional is price × traded units × the contract multiplier (ES: $50 per index point per contract), so
    bps fees are of what the fill is worth; ``*_per_unit`` fees are per traded unit (share, contract)."""

    maker_bps: float = 0.0
    taker_bps: float = 0.0
    maker_per_unit: float = 0.0
    taker_per_unit: float = 0.0

    def fee(self, liquidity: Liquidity, price: int, size: int, price_scale: int, size_scale: int,
            multiplier: int | float = 1) -> float:
        """Fee in currency for one fill of ``size`` at ``price`` (venue integers) of a contract of ``multiplier``."""
        units = size / size_scale
        notional = price / price_scale * units * multiplier
        if liquidity == _MAKER:
            return notional * self.maker_bps * 1e-4 + units * self.maker_per_unit
        return notional * self.taker_bps * 1e-4 + units * self.taker_per_unit


@dataclass(frozen=True)
class QueueModel:
    """Queue position model for L2 tapes: ``risk_averse``, ``power`` (f = x**n) or ``log`` (f = log(1+x)).

    L3 tapes always use the exact order-by-order queue.
    """

    kind: str = "risk_averse"
    power: float = 2.0

    def __post_init__(self) -> None:
        if self.kind not in ("risk_averse", "power", "log"):
            raise ConfigError(f"queue model kind must be risk_averse, power or log, got {self.kind!r}")
        if self.kind == "power" and not self.power > 0:
            raise ConfigError(f"queue model power must be positive, got {self.power}")

    @property
    def code(self) -> int:
        return {"risk_averse": MODEL_RISK_AVERSE, "power": MODEL_POWER, "log": MODEL_LOG}[self.kind]


@nb.njit(cache=True)
def bisect(a, x, right):
    """``np.searchsorted(a, x, side="right" if right else "left")`` for a scalar ``x``, as a plain binary search
    (numba's scalar ``searchsorted`` costs tens of ns more per call)."""
    lo, hi = 0, len(a)
    while lo < hi:
        mid = (lo + hi) >> 1
        if a[mid] < x or (right and a[mid] == x):
            lo = mid + 1
        else:
            hi = mid
    return lo


@nb.njit(cache=True)
def _used_at(used_idx, used_vol, j):
    p = bisect(used_idx, j, False)
    if p < len(used_idx) and used_idx[p] == j:
        return used_vol[p]
    return 0


@nb.njit(cache=True)
def _allocate(volume, behind_from, entry, ahead, remaining, fills):
    """Give ``volume`` to the level's own orders in queue order; True if any filled.

    ``behind_from``: tape index of the executed order's ADD; own orders that
    entered before it are reached by FIFO (ahead = 0). -1: unknown order.
    """
    budget = float(volume)
    filled = False
    for o in range(len(remaining)):
        if behind_from >= 0 and behind_from > entry[o]:
            ahead[o] = 0.0
        if budget <= 0.0 or remaining[o] <= 0:
            continue
        shrink = min(ahead[o], budget)
        ahead[o] -= shrink
        f = min(remaining[o], int(math.floor(budget - shrink)))
        if f > 0:
            remaining[o] -= f
            fills[o] += f
            budget -= f
            filled = True
    return filled


@nb.njit(cache=True)
def _queue_weight(x, model, power):
    if model == MODEL_POWER:
        return x**power
    return math.log1p(x)


@nb.njit(cache=True)
def advance_level(
    kind, side, price, size, add_idx, level_delta, level_size, halted, win_price, win_size,
    start, stop, lside, lprice, model, power,
    entry, ahead, remaining, pending_trade, used_idx, used_vol, fills,
):
    """Advance the own queue at (lside, lprice) over tape events ``start:stop``.

    Updates ``ahead``/``remaining``/``fills`` in place and stops after the
    first event that fills an own order or makes the queue unknown. Returns
    (status bits, event index or ``stop``, how, pending_trade).

    The compiled loop runs this only on the events that can act on the queue: ``engine_kernel._LEVEL_KINDS``
    and ``engine_kernel._block_bounds`` list them. A new event branch here must be added there too
    (``tests/test_sparse_scan.py`` catches a mismatch on the shared tapes).
    """
    has_window = len(win_price) > 0
    through = len(kind)  # "added after everyone": trade-throughs reach all own orders
    for j in range(start, stop):
        k = kind[j]
        if k == _SNAP_BEGIN:
            return UNKNOWN_AT, j, 0, pending_trade
        s = side[j]
        px = price[j]
        how = 0
        if s == lside and px == lprice:
            if k == _PARTIAL or k == _DELETE:
                x = add_idx[j]
                gone = -level_delta[j]  # what left the visible level (unknown ids: unattributed volume only)
                for o in range(len(remaining)):
                    if x < 0 or x <= entry[o]:
                        ahead[o] = max(ahead[o] - gone, 0.0)
            elif k == _EXEC or k == _TRADE:
                if k == _TRADE:
                    pending_trade += size[j]
                behind = add_idx[j] if k == _EXEC else -1
                vol = size[j] - _used_at(used_idx, used_vol, j)
                if _allocate(vol, behind, entry, ahead, remaining, fills):
                    how = HOW_QUEUE
            elif k == _LEVEL_SET:
                d = level_delta[j]
                if model == MODEL_L3:
                    for o in range(len(remaining)):
                        ahead[o] = max(ahead[o] + d, 0.0)
                else:
                    if d < 0:
                        explained = min(-d, pending_trade)
                        pending_trade -= explained
                        u = -d - explained
                        if u > 0 and model != MODEL_RISK_AVERSE:
                            before = level_size[j] - d - explained
                            for o in range(len(remaining)):
                                front = ahead[o]
                                back = max(before - front, 0.0)
                                wf = _queue_weight(front, model, power)
                                wb = _queue_weight(back, model, power)
                                p_ahead = wf / (wf + wb) if wf + wb > 0 else 1.0
                                ahead[o] = front - p_ahead * u - max((1.0 - p_ahead) * u - back, 0.0)
                            for o in range(1, len(remaining)):  # all that is ahead of an own order is ahead of the next
                                ahead[o] = max(ahead[o], ahead[o - 1])
                    for o in range(len(remaining)):
                        ahead[o] = min(max(ahead[o], 0.0), float(level_size[j]))
        elif s == -lside and not halted[j]:
            if k == _ADD or (k == _LEVEL_SET and level_delta[j] > 0):
                if (px <= lprice) if lside == 1 else (px >= lprice):
                    added = size[j] if k == _ADD else level_delta[j]
                    vol = added - _used_at(used_idx, used_vol, j)
                    if _allocate(vol, through, entry, ahead, remaining, fills):
                        how = HOW_THROUGH
        elif s == lside and (k == _EXEC or k == _HIDDEN or k == _TRADE):
            if (px < lprice) if lside == 1 else (px > lprice):
                vol = size[j] - _used_at(used_idx, used_vol, j)
                if _allocate(vol, through, entry, ahead, remaining, fills):
                    how = HOW_THROUGH
        status = FILLED_AT if how else 0
        if has_window and win_size[j] > 0 and ((lprice < win_price[j]) if lside == 1 else (lprice > win_price[j])):
            status |= UNKNOWN_AT
        if status:
            return status, j, how, pending_trade
    return 0, stop, 0, pending_trade


class _Level:
    """Own orders resting at one (side, price), in queue order, with their state as of tape index ``k``."""

    __slots__ = ("side", "price", "orders", "entry", "ahead", "k", "pending_trade", "version", "unknown", "pending")

    def __init__(self, side: int, price: int, k: int) -> None:
        self.side = side
        self.price = price
        self.orders: list[OwnOrder] = []
        self.entry: list[int] = []
        self.ahead: list[float] = []
        self.k = k
        self.pending_trade = 0
        self.version = 0
        self.unknown = False
        self.pending = None


class Exchange:
    """Own-order state at the exchange. Every call appends reports to :attr:`reports` for the engine.

    Reports are tuples: ``("fill", order, price, size, liquidity, fee, exchange_ns, tape_index, how)``,
    ``("done", request_id, order, status, reason, exchange_ns)`` answering a request, and
    ``("due", tape_index, level, version)`` asking to be woken at that tape event.
    """

    def __init__(self, replay: ReplayData, fees: FeeSchedule, queue_model: QueueModel,
                 impact: ShiftState | None = None) -> None:
        self.r = replay
        self.fees = fees
        self.model = MODEL_L3 if replay.is_l3 else queue_model.code
        self.power = float(queue_model.power)
        self.window = {s: replay.window_columns(s) for s in (1, -1)}
        self._stop = replay.index_at(replay.session_end_ns) + 1  # tape events after the close match nothing
        self.levels: dict[tuple[int, int], _Level] = {}
        self.consumed: dict[tuple[int, int], tuple[int, int]] = {}  # (side, price) → (size, refresh index)
        # tape index → volume it gave our passive orders, as two sorted arrays for the kernel
        self.used_idx = np.zeros(0, np.int64)
        self.used_vol = np.zeros(0, np.int64)
        self.used_version = 0
        self.reports: list[tuple] = []
        inst = replay.instrument
        self._scales = (inst.price_scale, inst.size_scale, inst.multiplier)
        self.impact = impact  # a ShiftState, or None: the replay does not react
        self.shift = 0  # the shift in force, price units (our prices = historical + shift)
        self._shift_at = len(replay)  # the tape event where the shift next changes: level scans stop before it
        self.shift_version = 0

    # -- requests ------------------------------------------------------------
    def new_order(self, request_id: int, order: OwnOrder, t_ns: int) -> None:
        i = self.r.index_at(t_ns)
        order.arrival_ns, order.arrival_idx = t_ns, i
        reason = self._check_new(order, t_ns, i)
        if reason:
            order.status, order.reason = _REJECTED, reason
            self.reports.append(("done", request_id, order, _REJECTED, reason, t_ns))
            return
        order.status = _OPEN
        if self.impact is not None:
            self._sync_shift(t_ns, i)
        self._enter(order, t_ns, i)
        self.reports.append(("done", request_id, order, order.status, order.reason, t_ns))

    def cancel(self, request_id: int, order: OwnOrder | None, t_ns: int) -> str:
        """Cancel ``order``; returns the reject reason ("" when it was cancelled)."""
        reason = self._check_live(order)
        if reason:
            self.reports.append(("done", request_id, order, _REJECTED, reason, t_ns))
            return reason
        if self.impact is not None:
            self._sync_shift(t_ns, self.r.index_at(t_ns))
            reason = self._check_live(order)  # the re-peg at the shift now in force filled it first
            if reason:
                self.reports.append(("done", request_id, order, _REJECTED, reason, t_ns))
                return reason
        self._leave(order, self.r.index_at(t_ns))
        order.status, order.reason = _CANCELLED, DoneReason.CANCEL_REQUEST
        self.reports.append(("done", request_id, order, _CANCELLED, "", t_ns))
        return ""

    def modify(self, request_id: int, order: OwnOrder | None, quantity: int, price: int, t_ns: int) -> str:
        """Change total size and/or price (see :mod:`tickreplay.orders` for priority rules).

        Returns the reject reason ("" when the modify took effect).
        """
        i = self.r.index_at(t_ns)
        reason = self._check_live(order) or self._check_session(t_ns, i) or self._check_size(quantity)
        if not reason:
            reason = self._check_price(price)
        if not reason and quantity == order.quantity and price == order.price:
            reason = Reject.NOTHING_TO_MODIFY
        if reason:
            self.reports.append(("done", request_id, order, _REJECTED, reason, t_ns))
            return reason
        if self.impact is not None:
            self._sync_shift(t_ns, i)
            reason = self._check_live(order)  # the re-peg at the shift now in force filled it first
            if reason:
                self.reports.append(("done", request_id, order, _REJECTED, reason, t_ns))
                return reason
        if quantity <= order.filled:
            self._leave(order, i)
            order.quantity = order.filled
            order.status, order.reason = _FILLED, DoneReason.MODIFIED_DOWN
        elif price == order.price and quantity < order.quantity:
            lvl = self.levels[(order.side, order.price - self.shift)]
            self._advance(lvl, i)
            order.quantity = quantity
            self._reschedule(lvl)
        else:
            self._leave(order, i)
            order.price, order.quantity = price, quantity
            self._enter(order, t_ns, i)
        self.reports.append(("done", request_id, order, order.status, "", t_ns))
        return ""

    def queue_ahead(self, order: OwnOrder) -> int:
        """Market size ahead of resting ``order`` in its queue as of its level's last update (size units; the
        L2 models' expected value rounded to the nearest unit); -1 when it does not rest or its place is unknown."""
        lvl = None if order.done else self.levels.get((order.side, order.price - self.shift))
        if lvl is not None:
            for o, ahead in zip(lvl.orders, lvl.ahead):
                if o is order:
                    return -1 if math.isnan(ahead) else int(math.floor(ahead + 0.5))
        return -1

    # -- validation ----------------------------------------------------------
    def _check_new(self, order: OwnOrder, t_ns: int, i: int) -> str:
        if order.side not in (1, -1):
            return Reject.BAD_SIDE
        reason = self._check_size(order.quantity) or self._check_session(t_ns, i)
        if reason:
            return reason
        if order.type == _MARKET:
            order.price = None
            return ""
        return self._check_price(order.price)

    def _check_size(self, quantity: int) -> str:
        if quantity <= 0:
            return Reject.BAD_SIZE
        if quantity % self.r.instrument.lot_size:
            return Reject.OFF_LOT
        return ""

    def _check_price(self, price: int | None) -> str:
        if price is None:
            return Reject.NO_PRICE
        if price <= 0 or price % self.r.instrument.tick_size:
            return Reject.OFF_TICK
        return ""

    def _check_session(self, t_ns: int, i: int) -> str:
        if t_ns < self.r.session_start_ns or t_ns > self.r.session_end_ns or i < 0:
            return Reject.OUTSIDE_SESSION
        if self.r.halted[i]:
            return Reject.HALTED
        return ""

    @staticmethod
    def _check_live(order: OwnOrder | None) -> str:
        if order is None or order.status == _PENDING:
            return Reject.UNKNOWN_ORDER
        if order.done:
            return Reject.ORDER_DONE
        return ""

    # -- aggressive matching -------------------------------------------------
    def _consumed_at(self, side: int, price: int, i: int) -> int:
        c = self.consumed.get((side, price))
        return c[0] if c is not None and i < c[1] else 0

    def _consume(self, side: int, price: int, size: int, i: int) -> None:
        c = self.consumed.get((side, price))
        if c is not None and i < c[1]:
            self.consumed[(side, price)] = (c[0] + size, c[1])
        else:
            self.consumed[(side, price)] = (size, self.r.next_level_change(side, price, i))

    def _fill(self, order: OwnOrder, price: int, size: int, liq: Liquidity, t_ns: int, j: int, how: str) -> None:
        fee = self.fees.fee(liq, price, size, *self._scales)
        order.filled += size
        if order.filled == order.quantity:
            order.status = _FILLED
        self.reports.append(("fill", order, price, size, liq, fee, t_ns, j, how, self.shift))

    def _take(self, order: OwnOrder, t_ns: int, i: int, resting: bool = False) -> int:
        """Walk snapshot row ``i`` of the opposite side up to the order's limit (historical prices: ``limit -
        shift``); returns the size filled. A taker fills at each level's price + shift; a ``resting`` order (a
        re-peg crossing the book) as maker at its own limit."""
        snap = self.r.snapshots
        opp = -order.side
        px = (snap.ask_price if opp == -1 else snap.bid_price)[i]
        sz = (snap.ask_size if opp == -1 else snap.bid_size)[i]
        limit = order.price
        shift = self.shift
        if limit is not None:
            limit -= shift
        total = 0
        for lev in range(len(px)):
            q, s = int(px[lev]), int(sz[lev])
            if s <= 0:
                break
            if limit is not None and (q > limit if order.side == 1 else q < limit):
                break
            avail = s - self._consumed_at(opp, q, i)
            if avail <= 0:
                continue
            take = min(avail, order.quantity - order.filled)
            self._consume(opp, q, take, i)
            total += take
            if resting:
                self._fill(order, order.price, take, _MAKER, t_ns, i, _HOW_NAMES[HOW_THROUGH])
            else:
                self._fill(order, q + shift, take, _TAKER, t_ns, i, "walk")
            if order.filled == order.quantity:
                break
        return total

    def _enter(self, order: OwnOrder, t_ns: int, i: int) -> None:
        """Match an arriving (or re-priced) order: walk if marketable, then rest or cancel the rest."""
        taken = self._take(order, t_ns, i)
        if taken and self.impact is not None:
            self._own_trade(order.side, taken, t_ns, i)
        if order.status == _FILLED:
            return
        if order.type == _LIMIT:
            self._join(order, t_ns, i)
        else:
            order.status = _CANCELLED
            order.reason = DoneReason.IOC_REST if order.type == _IOC else DoneReason.MARKET_REST

    # -- passive queue -------------------------------------------------------
    def _join(self, order: OwnOrder, t_ns: int, i: int) -> None:
        key = (order.side, order.price - self.shift)
        lvl = self.levels.get(key)
        if lvl is None:
            lvl = self.levels[key] = _Level(order.side, key[1], i)
        else:
            self._advance(lvl, i)
        lvl.orders.append(order)
        lvl.entry.append(i)
        if lvl.unknown or self.r.out_of_window(order.side, key[1], i):
            lvl.unknown = True
            lvl.ahead.append(math.nan)
            self._mark_unknown(order, t_ns)
        else:
            ahead = max(self.r.visible_size(order.side, key[1], i) - self._consumed_at(*key, i), 0)
            lvl.ahead.append(float(ahead))
        self._reschedule(lvl)

    def _leave(self, order: OwnOrder, i: int) -> None:
        key = (order.side, order.price - self.shift)
        lvl = self.levels[key]
        self._advance(lvl, i)
        pos = next(n for n, o in enumerate(lvl.orders) if o is order)
        del lvl.orders[pos], lvl.entry[pos], lvl.ahead[pos]
        if lvl.orders:
            self._reschedule(lvl)
        else:
            lvl.version += 1
            del self.levels[key]

    @staticmethod
    def _mark_unknown(order: OwnOrder, t_ns: int) -> None:
        if not order.queue_unknown:
            order.queue_unknown, order.queue_unknown_ns = True, t_ns

    def _use(self, j: int, volume: int) -> None:
        """Record that tape event ``j`` gave ``volume`` to our passive orders."""
        pos = int(np.searchsorted(self.used_idx, j))
        if pos < len(self.used_idx) and self.used_idx[pos] == j:
            self.used_vol[pos] += volume
        else:
            idx, vol = self.used_idx, self.used_vol
            self.used_idx = np.concatenate((idx[:pos], np.array([j], np.int64), idx[pos:]))
            self.used_vol = np.concatenate((vol[:pos], np.array([volume], np.int64), vol[pos:]))
        self.used_version += 1

    def _scan(self, lvl: _Level, stop: int):
        r = self.r
        entry = np.array(lvl.entry, dtype=np.int64)
        ahead = np.array(lvl.ahead, dtype=np.float64)
        remaining = np.array([o.quantity - o.filled for o in lvl.orders], dtype=np.int64)
        fills = np.zeros(len(entry), np.int64)
        win_price, win_size = self.window[lvl.side]
        status, j, how, pending_trade = advance_level(
            r.kind, r.side, r.price, r.size, r.add_idx, r.level_delta, r.level_size, r.halted, win_price, win_size,
            lvl.k + 1, min(stop, self._stop, self._shift_at), lvl.side, lvl.price, self.model, self.power,
            entry, ahead, remaining, lvl.pending_trade, self.used_idx, self.used_vol, fills,
        )
        return status, j, how, pending_trade, ahead, fills

    def _advance(self, lvl: _Level, i: int) -> None:
        """Bring the level's queue state to tape index ``i`` (no fill can lie in between)."""
        if lvl.unknown or lvl.k >= i:
            return
        status, _, _, pending_trade, ahead, _ = self._scan(lvl, i + 1)
        if status:
            raise AssertionError("a queue event before the current time was not processed")  # pragma: no cover
        lvl.ahead, lvl.pending_trade, lvl.k = ahead.tolist(), pending_trade, i

    def _reschedule(self, lvl: _Level) -> None:
        """Find the level's next fill or unknown event and ask the engine to wake us there."""
        lvl.version += 1
        lvl.pending = None
        if lvl.unknown or not lvl.orders:
            return
        result = self._scan(lvl, self._stop)
        if result[0]:
            lvl.pending = (result, self.used_version)
            self.reports.append(("due", result[1], lvl, lvl.version))

    def level_due(self, lvl: _Level, version: int) -> None:
        """The engine's wake-up at a level's pending event: apply it (or recompute if stale)."""
        if version != lvl.version or lvl.pending is None:
            return
        (status, j, how, pending_trade, ahead, fills), used_version = lvl.pending
        if used_version != self.used_version:
            self._reschedule(lvl)
            return
        t_ns = int(self.r.ts_ns[j])
        lvl.ahead, lvl.pending_trade, lvl.k = ahead.tolist(), pending_trade, j
        total = int(fills.sum())
        if total:
            self._use(j, total)
            if self.r.side[j] == -lvl.side:  # crossing liquidity we took stays taken
                self._consume(-lvl.side, int(self.r.price[j]), total, j)
            for order, f in zip(list(lvl.orders), fills.tolist()):
                if f:
                    self._fill(order, lvl.price + self.shift, f, _MAKER, t_ns, j, _HOW_NAMES[how])
            keep = [n for n, o in enumerate(lvl.orders) if o.status == _OPEN]
            lvl.orders = [lvl.orders[n] for n in keep]
            lvl.entry = [lvl.entry[n] for n in keep]
            lvl.ahead = [lvl.ahead[n] for n in keep]
        if status & UNKNOWN_AT:
            lvl.unknown = True
            for order in lvl.orders:
                self._mark_unknown(order, t_ns)
        if not lvl.orders:
            lvl.version += 1
            del self.levels[(lvl.side, lvl.price)]
        else:
            self._reschedule(lvl)
        if total and self.impact is not None:
            self._own_trade(lvl.side, total, t_ns, j)

    # -- impact-adjusted replay ----------------------------------------------
    def _own_trade(self, side: int, size: int, t_ns: int, i: int) -> None:
        """Record an own trade with the impact model and put the shift it leaves in force."""
        self.impact.add(side, size, t_ns, i)
        self._sync_shift(t_ns, i, force=True)

    def _sync_shift(self, t_ns: int, i: int, at: int | None = None, force: bool = False) -> None:
        """Put in force the shift at exchange time ``t_ns`` for tape event ``at`` (default ``i``), the book being
        as after tape event ``i``: if it changed, re-peg every resting order. Then (if it changed or ``force``)
        find the tape event where it next changes, ask the engine to wake us there and rescan the levels."""
        at = i if at is None else at
        new = self.impact.shift_at(t_ns, at)
        if new == self.shift and not force:
            return
        self._shift_at = i + 1  # while re-pegging, level scans look no further than now
        while new != self.shift:
            self.shift = new
            for side, size in self._repeg(t_ns, i):
                self.impact.add(side, size, t_ns, i)
            new = self.impact.shift_at(t_ns, at)
        self.shift_version += 1
        end = min(len(self.r), self._stop)
        self._shift_at = self.impact.next_change(at, self.shift, end)
        if self._shift_at < end:
            self.reports.append(("shift", self._shift_at, self.shift_version))
        else:
            self._shift_at = len(self.r)
        for lvl in list(self.levels.values()):
            if not lvl.unknown:
                self._reschedule(lvl)  # dues found with the old change point may lie beyond the new one

    def _repeg(self, t_ns: int, i: int) -> list[tuple[int, int]]:
        """Move every resting order to the back of the queue at its limit minus the new shift (better-priced
        orders first); an order now crossing the historical book fills against it. Returns the own trades those
        crossings made: (side, size) per order."""
        levels = sorted(self.levels.values(), key=lambda lv: (lv.side, -lv.side * lv.price))
        orders = []
        for lvl in levels:
            self._advance(lvl, i)
            lvl.version += 1
            orders.extend(lvl.orders)
        self.levels = {}
        crossed = []
        halted = bool(self.r.halted[i]) if i >= 0 else False
        for order in orders:
            if not halted:
                size = self._take(order, t_ns, i, resting=True)
                if size:
                    crossed.append((order.side, size))
            if order.status == _OPEN:
                self._join(order, t_ns, i)
        return crossed

    def shift_due(self, version: int) -> None:
        """The engine's wake-up at the tape event where the shift changes (stale versions are ignored)."""
        if version != self.shift_version:
            return
        j = self._shift_at
        self._sync_shift(int(self.r.ts_ns[j]), j - 1, at=j, force=True)
