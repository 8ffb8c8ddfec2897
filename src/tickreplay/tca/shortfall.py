"""Implementation shortfall (Perold) against the arrival mid, and its decomposition.

Notation: ``s`` the parent's side (+1 buy, -1 sell), ``Q`` its quantity,
``M0`` the **arrival mid** (mid as of the parent's ``start_ns``, its decision
time), ``M1`` the **end mid** (as of ``end_ns``). Each fill has size ``q``,
price ``p``, fee ``f`` (currency, negative = rebate) and the mids as of its
child order's decision time ``m_d``, exchange arrival ``m_a`` and execution
``m_f`` (all on the one exchange-time line; see :mod:`.market`). ``m_d`` is
the true mid at the decision instant, not the staler one the trader saw
through market-data latency: what that staleness cost shows in the delay and
book parts (the order log keeps the mid the trader saw). ``T`` is the
fill's **reference touch**, from the same book as ``m_f`` (the book as of
the execution, i.e. after the tape event that filled a passive order): the
opposite side's best price for a taker fill (what crossing cost: the ask
for a buy), our own side's best price for a maker fill (where resting sits:
the bid for a buy).

Total shortfall, positive = cost, for buys and sells alike::

    IS = s * (sum q*p - F*M0) + sum f + s * U * (M1 - M0),  F = sum q, U = Q - F

Per fill, ``s*q*(p - M0)`` telescopes exactly into (one line per part of
:data:`PRICE_PARTS`, in order)::

    half_spread           = s*q*(T   - m_f)  the half spread at the fill: + paid (taker), - earned (maker)
    book_walk             = s*q*(p   - T)    price against the touch
    drift_arrival_to_fill = s*q*(m_f - m_a)  the mid's move between the order's arrival and the fill
    delay                 = s*q*(m_a - m_d)  latency: the market moved while the order travelled
    timing                = s*q*(m_d - M0)   drift between the parent's arrival and the child's decision

and ``IS = half_spread + book_walk + drift_arrival_to_fill + delay + timing +
fees + opportunity`` with ``opportunity = s*U*(M1 - M0)``.

What each term shows:

* A **market or marketable order** fills at its arrival event, so
  ``m_f == m_a`` and ``drift_arrival_to_fill`` is 0; ``half_spread`` is the
  half spread at arrival on every share and ``book_walk`` (>= 0) what walking
  the book beyond the touch cost (0 when the order fits in the best level).
* A **passive fill** earns the half spread: ``half_spread`` < 0. Its
  ``book_walk`` is 0 when our price is still the best of our side after the
  fill, positive when the book after the fill is already behind our price
  (for a buy: the best bid below our limit, because the fill emptied our
  level or the market traded through it: adverse selection at the fill
  instant), negative when the book after the fill is better than our price.
  ``drift_arrival_to_fill`` is the mid's move while it rested (for a buy,
  positive when the mid rose before we were filled).

``drift_arrival_to_fill`` is a mid move, not a modelled market impact: the
plain replay does not react to our orders (see :mod:`tickreplay.impact` for the
impact models).

**Impact-adjusted runs** (fills with an ``impact_shift`` column ``S``, price
units: the shift our earlier trades put on the replayed market,
docs/impact_replay.md) have one more part, after ``book_walk``::

    market_impact         = s*q*S            what our own earlier trades moved the price against us

and the other parts are those of the historical market: ``book_walk`` uses
the historical fill price ``p - S``, the mids and touches stay the tape's. So
``s*q*(p - M0)`` still telescopes exactly, and a run without impact has no
``market_impact`` part at all (its tables are unchanged). The price parts are exact integers in half price units ×
size units (mids are kept doubled), so they add up exactly; currency = that
× multiplier / (2 × price_scale × size_scale) (the instrument's
:attr:`~tickreplay.tape.Instrument.unit_value` / 2; the multiplier is the
contract size, 1 for shares). bps are of the arrival notional
``Q × M0 × multiplier``, so they do not depend on the multiplier.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from tickreplay.schedule.base import ParentOrder
from tickreplay.tca.frames import FillArrays, fill_arrays
from tickreplay.tca.market import MarketSeries

#: price components of the decomposition, in order (each has a ``<name>_x2`` column per fill)
PRICE_PARTS = ("half_spread", "book_walk", "drift_arrival_to_fill", "delay", "timing")
#: every component of the total, in order: what tables, reports and ``tca.json`` iterate
PARTS = (*PRICE_PARTS, "fees", "opportunity")
#: the part an impact-adjusted run adds, after ``book_walk`` (module docstring)
IMPACT_PART = "market_impact"


def parts_of(price_parts: dict) -> tuple[str, ...]:
    """:data:`PARTS` of a shortfall whose price parts are ``price_parts``: with :data:`IMPACT_PART` after
    ``book_walk`` when it has one."""
    if IMPACT_PART not in price_parts:
        return PARTS
    return (*PRICE_PARTS[:2], IMPACT_PART, *PARTS[2:])


def fill_costs(fills: pd.DataFrame, parent: ParentOrder, market: MarketSeries) -> pd.DataFrame:
    """Per fill: mids (×2) at decision, arrival and execution, the reference touch (×2) and the price parts (×2).

    All exact integers in half price units (× size units for the parts); see the module docstring.
    """
    return pd.DataFrame(cost_columns(fill_arrays(fills, parent), parent, market), index=fills.index)


def cost_columns(f: FillArrays, parent: ParentOrder, market: MarketSeries) -> dict[str, np.ndarray]:
    """:func:`fill_costs`'s columns (int64 arrays, in order) from validated fills."""
    s = parent.side
    q, t_fill = f.size, f.exchange_ns
    p2 = 2 * f.price if f.impact_shift is None else 2 * (f.price - f.impact_shift)  # historical fill price
    m0 = int(market.mid_x2_at(parent.start_ns))
    md = market.mid_x2_at(f.decision_ns)
    ma = market.mid_x2_at(f.arrival_ns)
    mf = market.mid_x2_at(t_fill)
    touch2 = 2 * market.touch_at(t_fill, np.where(f.maker, s, -s))
    parts = {
        "half_spread": s * q * (touch2 - mf), "book_walk": s * q * (p2 - touch2),
        "drift_arrival_to_fill": s * q * (mf - ma), "delay": s * q * (ma - md), "timing": s * q * (md - m0),
    }
    names = PRICE_PARTS
    if f.impact_shift is not None:
        parts[IMPACT_PART] = s * q * 2 * f.impact_shift
        names = parts_of(parts)[:-2]
    return {"mid_decision_x2": md, "mid_arrival_x2": ma, "mid_fill_x2": mf, "touch_fill_x2": touch2,
            **{f"{name}_x2": parts[name] for name in names}}


@dataclass(frozen=True)
class Shortfall:
    """Implementation shortfall of one parent; the parts are exact (half price units × size units).

    ``price_parts_x2``: each of :data:`PRICE_PARTS` summed over the fills (see :meth:`part_x2`).
    """

    side: int
    quantity: int
    filled: int
    arrival_mid_x2: int
    end_mid_x2: int
    price_parts_x2: dict[str, int]
    opportunity_x2: int
    fees: float  # currency, negative = net rebate
    price_scale: int
    size_scale: int
    multiplier: int | float = 1  # contract size: currency per (price in currency units × traded unit)

    @property
    def unit(self) -> float:
        """Currency of one (half price unit × size unit): :attr:`~tickreplay.tape.Instrument.unit_value` / 2."""
        return self.multiplier / (2 * self.price_scale * self.size_scale)

    @property
    def unfilled(self) -> int:
        return self.quantity - self.filled

    def part_x2(self, part: str) -> int:
        """One price part of :data:`PARTS` (all but fees), exact (half price units × size units)."""
        return self.opportunity_x2 if part == "opportunity" else self.price_parts_x2[part]

    @property
    def total_x2(self) -> int:
        """All price parts (everything but fees), exact."""
        return sum(self.price_parts_x2.values()) + self.opportunity_x2

    @property
    def arrival_mid(self) -> float:
        """``M0`` as a price (currency units per traded unit, before the multiplier)."""
        return self.arrival_mid_x2 / (2 * self.price_scale)

    @property
    def end_mid(self) -> float:
        """``M1`` as a price (currency units per traded unit, before the multiplier)."""
        return self.end_mid_x2 / (2 * self.price_scale)

    @property
    def arrival_notional(self) -> float:
        """``Q × M0 × multiplier`` in currency: the bps denominator."""
        return self.quantity * self.arrival_mid_x2 * self.unit

    def currency(self, part: str) -> float:
        """One component of :data:`PARTS` in currency."""
        return self.fees if part == "fees" else self.part_x2(part) * self.unit

    @property
    def total_currency(self) -> float:
        return self.total_x2 * self.unit + self.fees

    def bps(self, currency: float) -> float:
        """``currency`` in bps of the arrival notional."""
        return currency / self.arrival_notional * 1e4

    def to_dict(self) -> dict[str, float | int]:
        """Flat dict: totals and every component in currency and bps, plus quantities and reference mids."""
        out: dict[str, float | int] = {
            "total_bps": self.bps(self.total_currency), "total_currency": self.total_currency,
        }
        for part in parts_of(self.price_parts_x2):
            c = self.currency(part)
            out[f"{part}_bps"], out[f"{part}_currency"] = self.bps(c), c
        out.update(quantity=self.quantity, filled=self.filled, unfilled=self.unfilled, arrival_mid=self.arrival_mid,
                   end_mid=self.end_mid, arrival_notional=self.arrival_notional)
        return out


def shortfall(fills: pd.DataFrame, parent: ParentOrder, market: MarketSeries) -> Shortfall:
    """Perold shortfall of ``parent`` from its fills, decomposed (see module docstring)."""
    f = fill_arrays(fills, parent)
    return shortfall_of(f, cost_columns(f, parent, market), parent, market)


def shortfall_of(f: FillArrays, costs: dict[str, np.ndarray], parent: ParentOrder,
                 market: MarketSeries) -> Shortfall:
    """:func:`shortfall` from validated fills and their :func:`cost_columns`."""
    filled = f.filled
    m0, m1 = (int(x) for x in market.mid_x2_at(np.array([parent.start_ns, parent.end_ns])))
    return Shortfall(
        side=parent.side, quantity=parent.quantity, filled=filled, arrival_mid_x2=m0, end_mid_x2=m1,
        price_parts_x2={p: int(costs[f"{p}_x2"].sum()) for p in PRICE_PARTS + ((IMPACT_PART,) if f"{IMPACT_PART}_x2"
                                                                                  in costs else ())},
        opportunity_x2=parent.side * (parent.quantity - filled) * (m1 - m0),
        fees=float(f.fee.sum()),
        price_scale=market.instrument.price_scale, size_scale=market.instrument.size_scale,
        multiplier=market.instrument.multiplier,
    )
