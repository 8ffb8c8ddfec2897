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
    """An own order's full state (the engine's and exchange's record; strategies get updates)."""

    __slots__ = (
        "order_id", "parent_id", "side", "type", "price", "quantity", "sent_price", "sent_quantity", "filled", "status", "reason",
        "decision_ns", "arrival_ns", "response_ns", "decision_idx", "arrival_idx", "entry_idx",
        "ahead_at_entry", "queue_unknown", "queue_unknown_ns", "fees", "maker_qty", "taker_qty", "notional",
    )

    def __init__(self, order_id: int, req: NewOrder, decision_ns: int, decision_idx: int) -> None:
        self.order_id = order_id
        self.parent_id = int(req.parent_id)
        self.side = int(req.side)
        self.type = OrderType(req.type)
        self.price = None if req.price is None else int(req.price)
        self.quantity = int(req.quantity)
        self.sent_price, self.sent_quantity = self.price, self.quantity  # as sent; modifies change price/quantity
        self.filled = 0
        self.status = _PENDING
        self.reason = ""
        self.decision_ns = decision_ns
        self.arrival_ns = -1
        self.response_ns = -1
        self.decision_idx = decision_idx
        self.arrival_idx = -1
        self.entry_idx = -1  # tape index at which it joined its queue
        self.ahead_at_entry = -1  # market volume ahead when it (last) joined its queue; -1: unknown / never rested
        self.queue_unknown = False
        self.queue_unknown_ns = -1
        self.fees = 0.0
        self.maker_qty = 0
        self.taker_qty = 0
        self.notional = 0  # sum of price × size over fills (price units × size units)

    @property
    def remaining(self) -> int:
        return self.quantity - self.filled if self.status in _LIVE else 0

    @property
    def done(self) -> bool:
        return self.status not in _LIVE

    @property
    def liquidity(self) -> str:
        if self.maker_qty and self.taker_qty:
            return "mixed"
        return "maker" if self.maker_qty else ("taker" if self.taker_qty else "")


#: columns of the order log, one row per request (new, cancel, modify). ``price``/``quantity`` are the
#: request's (-1: none); ``final_price``/``final_quantity``/``filled``/``unfilled`` the order's end state
#: on "new" rows.
ORDER_LOG_COLUMNS = (
    "request_id", "order_id", "parent_id", "action", "side", "type", "price", "quantity", "final_price",
    "final_quantity", "filled", "unfilled",
    "status", "reason", "decision_ns", "arrival_ns", "response_ns", "liquidity", "fees", "avg_price",
    "queue_ahead_at_entry", "queue_unknown", "queue_unknown_ns",
    "bid_decision", "ask_decision", "mid_decision", "bid_arrival", "ask_arrival", "mid_arrival",
    "decision_idx", "arrival_idx",
)

#: columns of the fills table, one row per execution
FILL_COLUMNS = (
    "fill_id", "order_id", "parent_id", "side", "price", "size", "liquidity", "fee",
    "decision_ns", "arrival_ns", "exchange_ns", "response_ns", "tape_index", "how",
)
