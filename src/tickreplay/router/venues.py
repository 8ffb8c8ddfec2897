"""What the router knows about one venue: its visible book, its fees, and what a resting order there can expect.

A :class:`VenueQuote` is a snapshot as of the trader's time (no look-ahead: build it from a
:class:`~tickreplay.book.view.BookView`, see :meth:`VenueQuote.from_view`). Prices and sizes are the venue's
integers (``Instrument.price_scale`` price units per currency unit, ``size_scale`` size units per traded unit);
the book has the shape of :class:`~tickreplay.book.base.TopN` (best first, empty slots ``(0, 0)`` after the
occupied ones). Fees are a :class:`~tickreplay.exchange.FeeSchedule` exactly as the exchange charges them: bps of
notional and/or currency per traded unit, a negative fee is a rebate.

The limit-order estimate is what Cont & Kukanov's model needs at this venue: ``queue_ahead`` (size units
resting ahead of a new order at our touch) and ``outflow_samples`` — draws of the outflow ξ at that price level
over the order's horizon (executions plus cancellations ahead of and at our order, in size units), e.g. the
outflows seen over recent windows of the same length. Our limit order of size L fills min((ξ − Q)⁺, L).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from tickreplay.book.base import TopN
from tickreplay.errors import ConfigError
from tickreplay.exchange import FeeSchedule
from tickreplay.orders import Liquidity
from tickreplay.tape import Instrument

_EMPTY_INT = np.zeros(0, np.int64)


def _int_array(values, where: str) -> np.ndarray:
    a = np.asarray(values)
    if a.ndim != 1:
        raise ConfigError(f"{where} must be one-dimensional, got shape {a.shape}")
    if a.size and not np.issubdtype(a.dtype, np.integer):
        if not np.issubdtype(a.dtype, np.floating) or not np.all(np.isfinite(a)) or np.any(a != np.round(a)):
            raise ConfigError(f"{where} must hold integers (venue units), got {a[:5]!r}")
    return a.astype(np.int64)


def _check_side(price: np.ndarray, size: np.ndarray, side: int, tick: int, where: str) -> int:
    """Validate one side of a TopN; return its number of occupied levels."""
    name = "bid" if side == 1 else "ask"
    if len(price) != len(size):
        raise ConfigError(f"{where}.{name}_price has {len(price)} levels but {name}_size has {len(size)}")
    neg = np.flatnonzero(size < 0)
    if neg.size:
        raise ConfigError(f"{where}.{name}_size[{neg[0]}] is negative ({size[neg[0]]}): sizes are >= 0")
    occ = size > 0
    n = int(occ.sum())
    if not occ[:n].all():
        gap = int(np.flatnonzero(~occ)[0])
        raise ConfigError(f"{where}.{name}_size[{gap}] is 0 before occupied levels: empty slots come last")
    if np.any(price[n:] != 0):
        raise ConfigError(f"{where}.{name}_price: an empty slot (size 0) has a nonzero price")
    px = price[:n]
    bad = np.flatnonzero((px <= 0) | (px % tick != 0))
    if bad.size:
        raise ConfigError(f"{where}.{name}_price[{bad[0]}] = {px[bad[0]]} is not a positive multiple of the "
                          f"tick size {tick}")
    worse = np.diff(px) * side  # bids fall, asks rise, strictly
    if np.any(worse >= 0):
        k = int(np.flatnonzero(worse >= 0)[0]) + 1
        raise ConfigError(f"{where}.{name}_price[{k}] = {px[k]} is not strictly worse than level {k - 1}: "
                          f"levels run best first")
    return n


@dataclass(frozen=True, eq=False)  # identity equality: it holds arrays
class VenueQuote:
    """One venue's visible book, fees and limit-order fill estimate, as of the trader's time.

    ``book``: TopN of venue integers; ``queue_ahead``: size units ahead of a new limit order at our touch;
    ``outflow_samples``: int64 draws of the outflow ξ at that level over the horizon (size units; may be empty
    when the venue is used for taking only).
    """

    venue: str
    instrument: Instrument
    book: TopN
    fees: FeeSchedule = field(default_factory=FeeSchedule)
    queue_ahead: int = 0
    outflow_samples: np.ndarray = field(default_factory=lambda: _EMPTY_INT)

    def __post_init__(self) -> None:
        where = f"venue {self.venue!r}"
        if not isinstance(self.venue, str) or not self.venue:
            raise ConfigError(f"venue name must be a non-empty string, got {self.venue!r}")
        if not isinstance(self.instrument, Instrument):
            raise ConfigError(f"{where}: instrument must be a tickreplay.tape.Instrument, got "
                              f"{type(self.instrument).__name__}")
        if not isinstance(self.fees, FeeSchedule):
            raise ConfigError(f"{where}: fees must be an exchange.FeeSchedule, got {type(self.fees).__name__}")
        tick = int(self.instrument.tick_size)
        if tick <= 0:
            raise ConfigError(f"{where}: instrument.tick_size must be positive, got {tick}")
        b = self.book
        arrays = {n: _int_array(getattr(b, n), f"{where}: book.{n}")
                  for n in ("ask_price", "ask_size", "bid_price", "bid_size")}
        book = TopN(**arrays)
        n_ask = _check_side(book.ask_price, book.ask_size, -1, tick, f"{where}: book")
        n_bid = _check_side(book.bid_price, book.bid_size, 1, tick, f"{where}: book")
        if n_ask == 0 and n_bid == 0:
            raise ConfigError(f"{where}: book is empty (no level on either side): a venue quote needs a book")
        if n_ask and n_bid and book.bid_price[0] >= book.ask_price[0]:
            raise ConfigError(f"{where}: book is crossed (bid_price[0] {book.bid_price[0]} >= ask_price[0] "
                              f"{book.ask_price[0]})")
        object.__setattr__(self, "book", book)
        q = self.queue_ahead
        if isinstance(q, bool) or not isinstance(q, (int, np.integer)) or q < 0:
            raise ConfigError(f"{where}: queue_ahead must be an integer >= 0 (size units), got {q!r}")
        object.__setattr__(self, "queue_ahead", int(q))
        xi = _int_array(self.outflow_samples, f"{where}: outflow_samples")
        neg = np.flatnonzero(xi < 0)
        if neg.size:
            raise ConfigError(f"{where}: outflow_samples[{neg[0]}] is negative ({xi[neg[0]]}): outflows are >= 0")
        xi.setflags(write=False)
        object.__setattr__(self, "outflow_samples", xi)

    @classmethod
    def from_view(cls, venue: str, view, fees: FeeSchedule | None = None, levels: int | None = None,
                  queue_ahead: int = 0, outflow_samples=_EMPTY_INT) -> "VenueQuote":
        """The quote a trader sees in ``view`` (a :class:`~tickreplay.book.view.BookView`), top ``levels``."""
        return cls(venue, view.instrument, view.top(levels), fees or FeeSchedule(), queue_ahead, outflow_samples)

    def levels(self, resting_side: int) -> tuple[np.ndarray, np.ndarray]:
        """Occupied (price, size) arrays of ``resting_side`` (+1 bids, -1 asks), best first."""
        b = self.book
        px, sz = (b.bid_price, b.bid_size) if resting_side == 1 else (b.ask_price, b.ask_size)
        n = int(np.count_nonzero(sz))
        return px[:n], sz[:n]

    def fee_per_size_unit(self, liquidity: Liquidity, price: int) -> float:
        """Fee in currency per integer size unit traded at ``price`` (negative: rebate), as the exchange charges."""
        i = self.instrument
        return self.fees.fee(liquidity, int(price), 1, i.price_scale, i.size_scale, i.multiplier)


def check_venues(venues) -> tuple[VenueQuote, ...]:
    """The venues as a tuple, checked to quote one instrument on one price grid (errors name the field)."""
    vs = tuple(venues)
    if not vs:
        raise ConfigError("venues: at least one venue quote is needed")
    for k, v in enumerate(vs):
        if not isinstance(v, VenueQuote):
            raise ConfigError(f"venues[{k}] must be a VenueQuote, got {type(v).__name__}")
    first = vs[0].instrument
    names = set()
    for k, v in enumerate(vs):
        if v.venue in names:
            raise ConfigError(f"venues[{k}].venue: {v.venue!r} appears twice")
        names.add(v.venue)
        i = v.instrument
        for attr in ("symbol", "tick_size", "price_scale", "size_scale", "multiplier", "currency"):
            if getattr(i, attr) != getattr(first, attr):
                raise ConfigError(f"venues[{k}].instrument.{attr}: {v.venue!r} has {getattr(i, attr)!r} but "
                                  f"{vs[0].venue!r} has {getattr(first, attr)!r}: the router splits one "
                                  f"instrument on one price grid")
    return vs
