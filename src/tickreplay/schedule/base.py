"""Parent and child orders, lot rounding, and the tradable time of a parent order.

A schedule turns a :class:`ParentOrder` into a list of :class:`ChildOrder`.
Quantities are integer size units, rounded to lots by the largest-remainder
method so they always add up to the parent quantity exactly. Times are ns
UTC. A parent trades in ``[start_ns, end_ns)`` minus its no-trade windows
(half-open ``[a, b)`` intervals, e.g. the first and last minutes of the
session); no child is ever placed inside one.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass
from typing import Sequence

from tickreplay.errors import ConfigError
from tickreplay.checks import positive_int, side
from tickreplay.styles import STYLES

#: a no-trade window: half-open [start_ns, end_ns)
Window = tuple[int, int]


@dataclass(frozen=True)
class ParentOrder:
    """The order to work: ``side`` +1 buy / -1 sell, ``quantity`` in size units, over ``[start_ns, end_ns)``."""

    side: int
    quantity: int
    start_ns: int
    end_ns: int
    parent_id: int = 1

    def __post_init__(self) -> None:
        object.__setattr__(self, "side", side("side", self.side))
        positive_int("quantity", self.quantity)
        for name in ("start_ns", "end_ns", "parent_id"):
            if isinstance(getattr(self, name), bool) or not isinstance(getattr(self, name), numbers.Integral):
                raise ConfigError(f"parameter '{name}' must be an integer, got {getattr(self, name)!r}")
        if self.end_ns <= self.start_ns:
            raise ConfigError(f"parameter 'end_ns' must be after start_ns ({self.start_ns}), got {self.end_ns}")


@dataclass(frozen=True)
class ChildOrder:
    """One child order: when to send it, how much, and how (``style`` one of :data:`STYLES`)."""

    time_ns: int
    quantity: int
    style: str
    offset_ticks: int = 0  # distance from the touch for 'limit_offset', ticks (positive = more passive)
    parent_id: int = 0
    index: int = 0  # position in the parent's schedule, from 0

    def __post_init__(self) -> None:
        check_style(self.style)
        positive_int("quantity", self.quantity)


def check_style(style: str) -> str:
    if style not in STYLES:
        raise ConfigError(f"parameter 'style' must be one of {', '.join(STYLES)}, got {style!r}")
    return style


def round_to_lots(total: int, weights: Sequence[float], lot_size: int = 1) -> list[int]:
    """Split ``total`` in proportion to ``weights`` into multiples of ``lot_size`` summing to ``total``.

    Largest-remainder rounding, exact: every share gets the floor of its lot
    count, and the lots left over go to the largest fractional remainders,
    earlier positions first on ties. Each weight is taken as the exact binary
    fraction of ``float(x)``; over their common (power-of-two) denominator the
    weights are integers ``n_i``, so share ``i`` is ``lots * n_i / N`` with
    ``N = sum(n_i)`` and everything is integer arithmetic.
    """
    lot_size = positive_int("lot_size", lot_size)
    total = positive_int("quantity", total)
    if total % lot_size:
        raise ConfigError(f"parameter 'quantity' ({total}) must be a multiple of lot_size ({lot_size})")
    ratios = [float(x).as_integer_ratio() for x in weights]
    den = max((q for _, q in ratios), default=1)  # every q is a power of two: the largest is a common multiple
    num = [p * (den // q) for p, q in ratios]
    wsum = sum(num)
    if not num or any(n < 0 for n in num) or wsum == 0:
        raise ConfigError("parameter 'weights' must be non-negative with a positive sum")
    lots = total // lot_size
    base, rem = [], []
    for n in num:
        b, r = divmod(lots * n, wsum)
        base.append(b)
        rem.append(r)
    order = sorted(range(len(num)), key=lambda i: (-rem[i], i))
    for i in order[: lots - sum(base)]:
        base[i] += 1
    return [b * lot_size for b in base]


def tradable_intervals(start_ns: int, end_ns: int, no_trade: Sequence[Window] = ()) -> list[Window]:
    """``[start_ns, end_ns)`` minus the no-trade windows, as sorted disjoint half-open intervals."""
    for a, b in no_trade:
        if b <= a:
            raise ConfigError(f"parameter 'no_trade' has an empty or reversed window [{a}, {b})")
    out, cur = [], start_ns
    for a, b in sorted(no_trade):
        if b <= cur or a >= end_ns:
            continue
        if a > cur:
            out.append((cur, a))
        cur = max(cur, b)
    if cur < end_ns:
        out.append((cur, end_ns))
    return out


def time_at_offset(intervals: Sequence[Window], offset_ns: int) -> int:
    """The instant ``offset_ns`` of tradable time after the first interval's start."""
    for a, b in intervals:
        if offset_ns < b - a:
            return a + offset_ns
        offset_ns -= b - a
    raise ValueError(f"offset beyond the tradable time by {offset_ns} ns")


def tradable_ns(intervals: Sequence[Window]) -> int:
    return sum(b - a for a, b in intervals)


def open_close_windows(session_start_ns: int, session_end_ns: int, first_ns: int = 0, last_ns: int = 0) -> list[Window]:
    """No-trade windows covering the first ``first_ns`` and the last ``last_ns`` of a session."""
    out = []
    if first_ns > 0:
        out.append((session_start_ns, session_start_ns + first_ns))
    if last_ns > 0:
        out.append((session_end_ns - last_ns, session_end_ns))
    return out


def children_at(parent: ParentOrder, times_ns: Sequence[int], weights: Sequence[float], style: str,
                lot_size: int = 1, offset_ticks: int = 0) -> list[ChildOrder]:
    """Child orders at ``times_ns`` with quantities ``round_to_lots(parent.quantity, weights)``; zero lots dropped."""
    check_style(style)
    qty = round_to_lots(parent.quantity, weights, lot_size)
    kept = [(t, q) for t, q in zip(times_ns, qty) if q > 0]
    return [ChildOrder(int(t), int(q), style, offset_ticks, parent.parent_id, i) for i, (t, q) in enumerate(kept)]


def tradable_or_error(parent: ParentOrder, no_trade: Sequence[Window]) -> list[Window]:
    """The parent's tradable intervals; ConfigError when the no-trade windows leave nothing."""
    iv = tradable_intervals(parent.start_ns, parent.end_ns, no_trade)
    if not iv:
        raise ConfigError("parameter 'no_trade' covers the whole of [start_ns, end_ns): nothing can trade")
    return iv
