"""TWAP: equal quantities at equal steps of tradable time."""

from __future__ import annotations

import math
from typing import Sequence

from tickreplay.errors import ConfigError
from tickreplay.checks import positive_int
from tickreplay.schedule.base import (ChildOrder, ParentOrder, Window, children_at, time_at_offset,
                                      tradable_ns, tradable_or_error)


def twap(parent: ParentOrder, n_children: int | None = None, interval_ns: int | None = None,
         style: str = "market", lot_size: int = 1, no_trade: Sequence[Window] = (),
         offset_ticks: int = 0) -> list[ChildOrder]:
    """Split ``parent`` into ``n_children`` (or one per ``interval_ns`` of tradable time) equal children.

    Child ``i`` goes at tradable offset ``i * D / n`` where ``D`` is the tradable
    time, so children skip the no-trade windows and all lie in ``[start, end)``.
    """
    if (n_children is None) == (interval_ns is None):
        raise ConfigError("give exactly one of parameters 'n_children' and 'interval_ns'")
    iv = tradable_or_error(parent, no_trade)
    d = tradable_ns(iv)
    n = positive_int("n_children", n_children) if n_children is not None else \
        math.ceil(d / positive_int("interval_ns", interval_ns))
    times = [time_at_offset(iv, i * d // n) for i in range(n)]
    return children_at(parent, times, [1.0] * n, style, lot_size, offset_ticks)
