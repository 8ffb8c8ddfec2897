"""The ``best`` routing rule: send a child order where its expected all-in price is best.

For each venue the router walks the visible opposite side best first (partial levels taken), exactly as the
exchange fills a marketable order against a snapshot (:class:`~tickreplay.exchange.Exchange`; nothing beyond the
visible levels is assumed), and adds the taker fee the venue's :class:`~tickreplay.exchange.FeeSchedule` charges
(bps of notional and/or currency per traded unit; negative = rebate).

**All-in cost** (currency, lower is better for both sides, positive when it hurts): cash paid minus cash received,
fees included — a buy costs ``notional + fee``, a sell ``-notional + fee``.

* Default (``split=False``): the whole child goes to one venue — the one with the lowest all-in cost among those
  whose visible book can fill it entirely. Ties (all-in costs equal to 1e-12 relative) go to the venue listed
  first.
* ``split=True``: the child may be split: the router takes visible levels across all venues in order of their
  all-in cost per size unit (price plus fee), which is the cheapest split because each venue's cost is convex in
  the size taken there. Ties go to the venue listed first, then to its better level.

When no venue (or, with ``split=True``, not all venues together) shows enough size, the route has no legs and
says why (:attr:`BestRoute.reason`): a replay never invents liquidity.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tickreplay.errors import ConfigError
from tickreplay.orders import Liquidity
from tickreplay.router.venues import VenueQuote, check_venues

_TIE_REL = 1e-12


@dataclass(frozen=True)
class Leg:
    """The part of a child sent to one venue: ``size`` (size units), ``avg_price`` (price units, fees excluded),
    ``fee`` and ``all_in_cost`` (currency)."""

    venue: str
    size: int
    avg_price: float
    fee: float
    all_in_cost: float


@dataclass(frozen=True)
class BestRoute:
    """A routing decision for a marketable child of ``size`` size units on ``side`` (+1 buy, -1 sell).

    ``legs`` is empty when the visible books cannot fill the size; ``reason`` then says what they show.
    """

    side: int
    size: int
    legs: tuple[Leg, ...]
    reason: str = ""
    unit_value: float = 1.0  # currency per price unit × size unit of the instrument

    @property
    def fillable(self) -> bool:
        return bool(self.legs)

    @property
    def venue(self) -> str | None:
        """The venue of a one-leg route (None when split over several or not fillable)."""
        return self.legs[0].venue if len(self.legs) == 1 else None

    @property
    def fee(self) -> float:
        """Total taker fee, currency (negative: rebate)."""
        return sum(leg.fee for leg in self.legs)

    @property
    def all_in_cost(self) -> float:
        """Cash paid minus cash received including fees, currency (NaN when not fillable)."""
        return sum(leg.all_in_cost for leg in self.legs) if self.legs else float("nan")

    @property
    def avg_price(self) -> float:
        """Expected average fill price, price units, fees excluded (NaN when not fillable)."""
        if not self.legs:
            return float("nan")
        return sum(leg.avg_price * leg.size for leg in self.legs) / self.size

    @property
    def all_in_price(self) -> float:
        """Expected average price per size unit with fees folded in, price units (buy: higher with fees)."""
        return self.side * self.all_in_cost / (self.size * self.unit_value)


def _check_order(side: int, size: int) -> None:
    if side not in (1, -1):
        raise ConfigError(f"side must be +1 (buy) or -1 (sell), got {side!r}")
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size <= 0:
        raise ConfigError(f"size must be a positive integer (size units), got {size!r}")


def _unit_costs(v: VenueQuote, side: int, px: np.ndarray) -> np.ndarray:
    """All-in cost per size unit of taking each price level of ``v`` (currency)."""
    uv = v.instrument.unit_value
    fee = np.array([v.fee_per_size_unit(Liquidity.TAKER, int(p)) for p in px], dtype=np.float64)
    return side * px.astype(np.float64) * uv + fee


def _leg(v: VenueQuote, side: int, px: np.ndarray, take: np.ndarray) -> Leg:
    """The leg taking ``take`` size units at prices ``px`` on ``v`` (fees as the exchange charges them)."""
    i = v.instrument
    filled = int(take.sum())
    notional = int(np.dot(px, take))  # exact integer price units × size units
    fee = sum(v.fees.fee(Liquidity.TAKER, int(p), int(q), i.price_scale, i.size_scale, i.multiplier)
              for p, q in zip(px, take) if q > 0)
    return Leg(v.venue, filled, notional / filled, fee, side * notional * i.unit_value + fee)


def _walk(v: VenueQuote, side: int, size: int) -> Leg | None:
    """Walk ``v``'s opposite side for ``size``; None when its visible book holds less."""
    px, sz = v.levels(-side)
    if int(sz.sum()) < size:
        return None
    before = np.cumsum(sz) - sz
    take = np.clip(size - before, 0, sz)
    return _leg(v, side, px, take)


def route_best(venues, side: int, size: int, split: bool = False) -> BestRoute:
    """Route a marketable child of ``size`` size units on ``side`` (+1 buy, -1 sell) to the best venue(s).

    ``split=False``: one venue per child; ``split=True``: cheapest split across venues (see module docstring).
    """
    vs = check_venues(venues)
    _check_order(side, size)
    uv = vs[0].instrument.unit_value
    visible = [int(v.levels(-side)[1].sum()) for v in vs]
    shown = ", ".join(f"{v.venue} {q}" for v, q in zip(vs, visible))
    book = "ask" if side == 1 else "bid"
    if not split:
        legs = [_walk(v, side, size) for v in vs]
        ok = [leg for leg in legs if leg is not None]
        if not ok:
            hint = " (split=True could fill it)" if sum(visible) >= size else ""
            return BestRoute(side, size, (), f"no venue shows {size} on the {book} side: visible {shown}{hint}", uv)
        best = min(leg.all_in_cost for leg in ok)
        tol = _TIE_REL * max(1.0, abs(best))
        return BestRoute(side, size, (next(leg for leg in ok if leg.all_in_cost <= best + tol),), "", uv)
    if sum(visible) < size:
        return BestRoute(side, size, (), f"the venues together show {sum(visible)} < {size} on the {book} side: "
                                         f"visible {shown}", uv)
    px_all, sz_all, cost_all, venue_of, level_of = [], [], [], [], []
    for k, v in enumerate(vs):
        px, sz = v.levels(-side)
        px_all.append(px)
        sz_all.append(sz)
        cost_all.append(_unit_costs(v, side, px))
        venue_of.append(np.full(len(px), k))
        level_of.append(np.arange(len(px)))
    px, sz, cost = np.concatenate(px_all), np.concatenate(sz_all), np.concatenate(cost_all)
    k_of, lvl = np.concatenate(venue_of), np.concatenate(level_of)
    # round the unit cost so that costs equal up to float noise tie, then venue order, then level order
    scale = np.max(np.abs(cost))
    key = np.round(cost / (scale * _TIE_REL)) if scale > 0 else cost
    order = np.lexsort((lvl, k_of, key))
    before = np.cumsum(sz[order]) - sz[order]
    take = np.zeros_like(sz)
    take[order] = np.clip(size - before, 0, sz[order])
    legs = tuple(_leg(v, side, px[k_of == k], take[k_of == k]) for k, v in enumerate(vs) if take[k_of == k].any())
    return BestRoute(side, size, legs, "", uv)
