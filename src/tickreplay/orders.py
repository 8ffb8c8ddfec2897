"""Own orders: what a strategy sends, what the exchange keeps, and the records a run writes.

A strategy sends :class:`NewOrder`, and cancels or modifies by order id.
The engine gives every request a row in the order log (see
:data:`ORDER_LOG_COLUMNS`) and every execution a row in the fills
(:data:`FILL_COLUMNS`). Prices and sizes are venue integers, times int64 ns.

Modify semantics: ``quantity`` is the new *total* order size (filled part
included, as FIX's OrderQty), so a modify racing a fill stays well defined.
A size decrease at the same price keeps queue priority; a price change or a
size increase loses it (the order re-enters at the back of its new level,
and is matched aggressively first if the new price is marketable). A new
total at or below the filled size ends the order.

**The order log.** One row per request (``action`` new, modify or cancel),
in request order. A request *takes effect* when it reaches the exchange and
is not rejected; it is *in force* from then until the same order's next
request takes effect or the order ends. Row columns say what that one
request did; ``order_*``/``final_*``/``unfilled``/``reason`` and the
``queue_unknown`` pair are the order's end state, the same on every row of
the order (a request naming an order id never sent: ``order_status`` "",
-1 / 0 / ""). Per order, ``filled`` summed over its rows = ``order_filled``
= its fills' sizes.

====================  ==========================================================================
column                meaning
====================  ==========================================================================
request_id            1, 2, … in request order (a new order's id is its request id)
order_id, parent_id   the order the request is about, and its parent
action                "new", "modify" or "cancel"
side, type            the order's (+1 buy / -1 sell; "market", "limit", "ioc")
price, quantity       the request's: new = as sent; modify = new price and new total size (an
                      unchanged one filled in at arrival); -1 = none (cancel; market price)
status                what the request did (:class:`ActionStatus`): new → "accepted" (resting,
                      after any aggressive fill), "filled" (completely, on arrival) or "done"
                      (market/IOC: the exchange cancelled the rest; ``reason`` says why);
                      modify → "modified"; cancel → "cancelled"; any → "rejected"
reject_reason         why the request was rejected (a :class:`Reject` string); "" otherwise
open_quantity         the order's open size when the request took effect, before any fill under
                      it (cancel: the size it cancelled; rejected: 0)
filled                size filled while this request was in force (a cancel: 0)
liquidity             of those fills: "maker", "taker", "mixed" or ""
fees, avg_price       of those fills: fees in currency (negative = rebate); size-weighted price
                      (NaN without fills)
rested                after the request took effect the order rested in a queue at ``price``
                      (a placement, a re-price or resize, or a size-down keeping its place)
queue_ahead           market size ahead of it in that queue at that moment (size units; L2
                      models: expected value, rounded); -1 when not rested or unknown
order_status          the order's end state: "open" (still resting at the run's end),
                      "filled", "cancelled" (by request, or a market/IOC rest) or "rejected"
order_filled          the order's total filled size
final_price           its price at the end (-1: market)
final_quantity        its total size at the end (after modifies; a modify down to the filled
                      size ends it at that size)
unfilled              final_quantity - order_filled (a rejected order: all of it)
reason                why it ended with an unfilled rest: a :class:`DoneReason` or (rejected
                      new order) :class:`Reject` string; "" when filled or still open
queue_unknown(_ns)    its queue position became unknown (beyond the data's window) and when
decision_ns           trader time the request was decided
arrival_ns            exchange time it arrived (-1: never)
response_ns           trader time the answer reached the strategy
bid/ask/mid_decision  touch and mid the trader saw at the decision (0 / NaN: none)
bid/ask/mid_arrival   touch and mid at the exchange at arrival
decision_idx,         tape indices of those two books
arrival_idx
====================  ==========================================================================

What a strategy receives is unchanged by this: an :class:`OrderUpdate`
carries the order's status and filled size when the exchange answered.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum


class OrderType(IntEnum):
    MARKET = 1  # walks the opposite side; the rest is cancelled
    LIMIT = 2  # walks up to its price if marketable; the rest rests
    IOC = 3  # immediate-or-cancel limit: walks up to its price; the rest is cancelled


class Liquidity(IntEnum):
    NONE = 0
    MAKER = 1  # passive fill of a resting order
    TAKER = 2  # aggressive fill at arrival


class Status(IntEnum):
    PENDING = 0  # sent, not yet at the exchange
    OPEN = 1  # resting at the exchange
    FILLED = 2
    CANCELLED = 3  # by request, or the unfilled rest of a market/IOC order
    REJECTED = 4


_PENDING = Status.PENDING
_LIVE = frozenset({Status.PENDING, Status.OPEN})


class Reject:
    """Reasons an exchange refuses a request (strings in the order log)."""

    BAD_SIDE = "side_not_plus_or_minus_one"
    BAD_SIZE = "size_not_positive"
    OFF_LOT = "size_off_lot"
    NO_PRICE = "limit_without_price"
    OFF_TICK = "price_off_tick_grid"
    OUTSIDE_SESSION = "outside_trading_hours"
    HALTED = "trading_halted"
    UNKNOWN_ORDER = "unknown_order"
    ORDER_DONE = "order_already_done"
    NOTHING_TO_MODIFY = "modify_without_change"


class ActionStatus:
    """What one order-log row's action did: the order log's ``status`` (see the module docstring)."""

    ACCEPTED = "accepted"  # new: at the exchange, resting at its price (after any aggressive fill on arrival)
    FILLED = "filled"  # new: filled completely on arrival
    DONE = "done"  # new market/IOC: filled what it could on arrival, the exchange cancelled the rest
    MODIFIED = "modified"  # modify: took effect
    CANCELLED = "cancelled"  # cancel: took effect
    REJECTED = "rejected"  # refused (``reject_reason`` says why): the action never took effect


class DoneReason:
    """Why an order that was not rejected ended with an unfilled rest."""

    CANCEL_REQUEST = "cancel_request"
    IOC_REST = "ioc_rest_cancelled"
    MARKET_REST = "market_rest_beyond_visible_depth"
    MODIFIED_DOWN = "modified_to_filled_size"


@dataclass(frozen=True)
class NewOrder:
    """A new order as a strategy sends it. ``price`` is required for LIMIT and IOC."""

    side: int  # +1 buy, -1 sell
    quantity: int  # size units, a multiple of the instrument's lot size
    type: OrderType = OrderType.LIMIT
    price: int | None = None  # venue price units, on the tick grid
    parent_id: int = 0


@dataclass(frozen=True)
class Fill:
    """One execution of an own order, as the strategy receives it."""

    fill_id: int
    order_id: int
    parent_id: int
    side: int
    price: int
    size: int
    liquidity: Liquidity
    fee: float  # currency units; negative = rebate
    decision_ns: int  # trader time the order was decided
    arrival_ns: int  # exchange time the order arrived
    exchange_ns: int  # exchange time of this execution
    response_ns: int  # trader time the strategy hears of it
    tape_index: int  # tape event the execution happened at (the arrival index for aggressive fills)
    how: str  # "walk" (aggressive), "queue" (passive, queue reached) or "trade_through" (passive)


@dataclass(frozen=True)
class OrderUpdate:
    """A status message for one request (ack, reject, cancel confirm, done), as the strategy receives it."""

    request_id: int
    order_id: int
    action: str  # "new", "cancel", "modify"
    status: Status
    reason: str  # reject or done reason; "" otherwise
    filled: int  # order's filled size at the exchange when this was sent
    remaining: int  # order's open size at the exchange when this was sent
    exchange_ns: int
    response_ns: int


class OwnOrder:
    """An own order's state at the exchange (per-request figures live in the order log; strategies get updates)."""

    __slots__ = (
        "order_id", "parent_id", "side", "type", "price", "quantity", "filled", "status", "reason",
        "decision_ns", "arrival_ns", "arrival_idx", "queue_unknown", "queue_unknown_ns",
    )

    def __init__(self, order_id: int, req: NewOrder, decision_ns: int) -> None:
        self.order_id = order_id
        self.parent_id = int(req.parent_id)
        self.side = int(req.side)
        self.type = OrderType(req.type)
        self.price = None if req.price is None else int(req.price)  # current; modifies change price/quantity
        self.quantity = int(req.quantity)
        self.filled = 0
        self.status = _PENDING
        self.reason = ""
        self.decision_ns = decision_ns
        self.arrival_ns = -1
        self.arrival_idx = -1
        self.queue_unknown = False
        self.queue_unknown_ns = -1

    @property
    def remaining(self) -> int:
        return self.quantity - self.filled if self.status in _LIVE else 0

    @property
    def done(self) -> bool:
        return self.status not in _LIVE


#: columns of the order log, one row per request; see the module docstring for each column's meaning
ORDER_LOG_COLUMNS = (
    "request_id", "order_id", "parent_id", "action", "side", "type", "price", "quantity",
    "status", "reject_reason", "open_quantity", "filled", "liquidity", "fees", "avg_price", "rested", "queue_ahead",
    "order_status", "order_filled", "final_price", "final_quantity", "unfilled", "reason",
    "queue_unknown", "queue_unknown_ns",
    "decision_ns", "arrival_ns", "response_ns",
    "bid_decision", "ask_decision", "mid_decision", "bid_arrival", "ask_arrival", "mid_arrival",
    "decision_idx", "arrival_idx",
)

#: columns of the fills table, one row per execution
FILL_COLUMNS = (
    "fill_id", "order_id", "parent_id", "side", "price", "size", "liquidity", "fee",
    "decision_ns", "arrival_ns", "exchange_ns", "response_ns", "tape_index", "how",
)
