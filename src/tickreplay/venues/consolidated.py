"""The consolidated view: the union of the venues' books as the trader sees them.

Each venue's :class:`~tickreplay.book.view.BookView` is as of the trader's clock minus that venue's market-data
latency; the consolidated book merges them price by price (sizes at one price added over the venues), so the
consolidated best bid is the highest of the venues' best bids and the best ask the lowest of their best asks.
With per-venue latencies it can be *crossed* (a bid on one venue at or above an ask on another, as a real
consolidated feed can be): :meth:`ConsolidatedView.crossed` says so; :meth:`mid` is then still (bid + ask) / 2.

It answers the :class:`BookView` questions a schedule's executor asks (touch, best bid / ask, mid, spread, top-N,
last trade, traded volume, halted), so an existing strategy runs unchanged on several venues; a question that
has no consolidated meaning (``flow``: running totals of one tape) is asked per venue
(:meth:`ConsolidatedView.venue`).
"""

from __future__ import annotations

import numpy as np

from tickreplay.book.base import TopN
from tickreplay.book.view import BookView, Quotes
from tickreplay.errors import ConfigError
from tickreplay.tape import Instrument

#: instrument fields that must agree across the venues of one instrument
SAME_FIELDS = ("symbol", "tick_size", "price_scale", "size_scale", "lot_size", "multiplier", "currency")


def check_same_instrument(named, where: str = "venues") -> None:
    """ConfigError unless every ``(name, Instrument)`` or ``(name, Instrument, note)`` quotes the first's instrument
    on the same grid; the error names ``<where>[k].<field>`` and both venues (with their note, e.g. a data key)."""
    items = [(x[0], x[1], f" ({x[2]})" if len(x) > 2 else "") for x in named]
    first_name, first, first_note = items[0]
    for k, (name, inst, note) in enumerate(items):
        if not isinstance(inst, Instrument):
            raise ConfigError(f"{where}[{k}] ({name!r}): instrument must be a tickreplay.tape.Instrument")
        for attr in SAME_FIELDS:
            if getattr(inst, attr) != getattr(first, attr):
                raise ConfigError(f"{where}[{k}].{attr}: venue {name!r}{note} has {getattr(inst, attr)!r} but venue "
                                  f"{first_name!r}{first_note} has {getattr(first, attr)!r}: the venues of one run "
                                  f"quote one instrument on one price grid")


class ConsolidatedView(Quotes):
    """The union of the venues' views at trader time ``now_ns`` (see the module docstring); ``touch``, ``mid``
    (NaN when a side is empty everywhere) and ``spread`` as a :class:`~tickreplay.book.view.BookView`'s."""

    __slots__ = ("names", "views", "now_ns")

    def __init__(self, names: tuple[str, ...], views: tuple[BookView, ...], now_ns: int) -> None:
        self.names, self.views, self.now_ns = names, views, int(now_ns)

    @property
    def instrument(self) -> Instrument:
        """The first venue's instrument (all venues share symbol, tick and scales)."""
        return self.views[0].instrument

    def venue(self, name: str) -> BookView:
        """One venue's view."""
        try:
            return self.views[self.names.index(name)]
        except ValueError:
            raise ConfigError(f"unknown venue {name!r} (venues: {', '.join(self.names)})") from None

    @property
    def as_of_ns(self) -> int | None:
        """Exchange time of the latest event seen on any venue (None before the first)."""
        ts = [v.as_of_ns for v in self.views if v.as_of_ns is not None]
        return max(ts) if ts else None

    @property
    def events_seen(self) -> int:
        return sum(v.events_seen for v in self.views)

    def _best(self, side: int) -> tuple[int, int] | None:
        quotes = [q for q in ((v.best_bid() if side == 1 else v.best_ask()) for v in self.views) if q is not None]
        if not quotes:
            return None
        price = max(q[0] for q in quotes) if side == 1 else min(q[0] for q in quotes)
        return price, sum(q[1] for q in quotes if q[0] == price)

    def best_bid(self) -> tuple[int, int] | None:
        """(price, size summed over the venues quoting it) of the highest bid, or None."""
        return self._best(1)

    def best_ask(self) -> tuple[int, int] | None:
        """(price, size summed over the venues quoting it) of the lowest ask, or None."""
        return self._best(-1)

    def best_venues(self, side: int) -> tuple[str, ...]:
        """The venues quoting the consolidated best price on ``side`` (+1 bid, -1 ask), in venue order."""
        b = self._best(side)
        if b is None:
            return ()
        return tuple(n for n, v in zip(self.names, self.views) if v.touch(side) == b[0])

    def crossed(self) -> bool:
        """The consolidated best bid is at or above the best ask (venues seen with different delays)."""
        s = self.spread()
        return s is not None and s <= 0

    def top(self, n: int | None = None) -> TopN:
        """Top ``n`` consolidated levels per side (default: the deepest venue's depth), sizes summed per price."""
        tops = [v.top(n) for v in self.views]
        depth = max(len(t.bid_price) for t in tops) if n is None else n
        out = []
        for side in (-1, 1):
            px = np.concatenate([t.ask_price if side == -1 else t.bid_price for t in tops])
            sz = np.concatenate([t.ask_size if side == -1 else t.bid_size for t in tops])
            keep = sz > 0
            prices, inverse = np.unique(px[keep], return_inverse=True)
            sizes = np.bincount(inverse, weights=sz[keep], minlength=len(prices)).astype(np.int64)
            if side == 1:
                prices, sizes = prices[::-1], sizes[::-1]
            p, s = np.zeros(depth, np.int64), np.zeros(depth, np.int64)
            m = min(depth, len(prices))
            p[:m], s[:m] = prices[:m], sizes[:m]
            out += [p, s]
        return TopN(out[0], out[1], out[2], out[3])

    def last_trade(self) -> tuple[int, int, int] | None:
        """(price, size, exchange ns) of the latest trade print seen on any venue (ties: first venue)."""
        trades = [t for t in (v.last_trade() for v in self.views) if t is not None]
        return max(trades, key=lambda t: t[2]) if trades else None

    @property
    def cum_volume(self) -> int:
        """Market volume traded on all venues up to what the trader has seen of each, size units."""
        return sum(v.cum_volume for v in self.views)

    def earlier(self, t_ns: int) -> "ConsolidatedView":
        """Every venue's view as of exchange time ``t_ns``, never later than this one."""
        return ConsolidatedView(self.names, tuple(v.earlier(t_ns) for v in self.views), self.now_ns)

    @property
    def halted(self) -> bool:
        """Every venue is halted."""
        return all(v.halted for v in self.views)
