"""POV: send a target share of the market volume seen so far, as the volume is seen.

:class:`PovPolicy` is stateful: the engine calls :meth:`PovPolicy.on_volume`
whenever the trader (at trader time, after market-data latency) sees market
volume, and sends what it returns. :func:`pov_schedule` drives it over a
realised volume series for pre-trade what-ifs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from tickreplay.errors import ConfigError
from tickreplay.checks import fraction, positive_int
from tickreplay.schedule.base import ChildOrder, ParentOrder, Window, check_style, tradable_intervals


@dataclass
class PovPolicy:
    """Participate at ``target_rate`` of the market volume observed in ``[start_ns, end_ns)``.

    The market volume is that of *others* (exclude our own fills). A child is
    sent once the shortfall ``floor(target_rate * volume) - sent`` reaches
    ``min_child`` (rounded down to lots, at most ``max_child``); nothing more
    than ``cap`` (the parent quantity) is ever sent, and the last remainder may
    be smaller than ``min_child``. Volume seen outside the window or inside a
    no-trade window does not count (no catch-up burst afterwards).
    """

    target_rate: float
    min_child: int
    max_child: int
    cap: int
    lot_size: int = 1
    start_ns: int | None = None
    end_ns: int | None = None
    no_trade: Sequence[Window] = ()
    market_volume: int = field(default=0, init=False)
    sent: int = field(default=0, init=False)
    last_time_ns: int | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        fraction("target_rate", self.target_rate)
        positive_int("lot_size", self.lot_size)
        positive_int("min_child", self.min_child)
        positive_int("max_child", self.max_child)
        positive_int("cap", self.cap)
        if self.max_child < self.min_child:
            raise ConfigError(f"parameter 'max_child' ({self.max_child}) must be >= min_child ({self.min_child})")
        if self.max_child < self.lot_size:
            raise ConfigError(f"parameter 'max_child' ({self.max_child}) must be >= lot_size ({self.lot_size})")
        if self.cap % self.lot_size:
            raise ConfigError(f"parameter 'cap' ({self.cap}) must be a multiple of lot_size ({self.lot_size})")
        for a, b in self.no_trade:
            if b <= a:
                raise ConfigError(f"parameter 'no_trade' has an empty or reversed window [{a}, {b})")

    @property
    def remaining(self) -> int:
        return self.cap - self.sent

    def _active(self, t: int) -> bool:
        if (self.start_ns is not None and t < self.start_ns) or (self.end_ns is not None and t >= self.end_ns):
            return False
        return not any(a <= t < b for a, b in self.no_trade)

    def on_volume(self, trader_time_ns: int, observed_market_volume: int) -> int:
        """Record market volume seen at ``trader_time_ns`` (since the last call); return the quantity to send now."""
        if observed_market_volume < 0:
            raise ConfigError(f"parameter 'observed_market_volume' must be >= 0, got {observed_market_volume}")
        if self.last_time_ns is not None and trader_time_ns < self.last_time_ns:
            raise ConfigError(f"parameter 'trader_time_ns' went backwards: {trader_time_ns} < {self.last_time_ns}")
        self.last_time_ns = trader_time_ns
        if not self._active(trader_time_ns) or self.remaining == 0:
            return 0
        self.market_volume += int(observed_market_volume)
        shortfall = math.floor(self.target_rate * self.market_volume) - self.sent
        if self.remaining < self.min_child and shortfall >= self.remaining:
            q = self.remaining
        else:
            q = min(shortfall, self.max_child, self.remaining) // self.lot_size * self.lot_size
            if q < self.min_child:
                return 0
        self.sent += q
        return q


def pov_schedule(parent: ParentOrder, target_rate: float, min_child: int, max_child: int,
                 times_ns: Sequence[int], volumes: Sequence[int], style: str = "market", lot_size: int = 1,
                 no_trade: Sequence[Window] = (), offset_ticks: int = 0) -> tuple[list[ChildOrder], int]:
    """Children a :class:`PovPolicy` sends over a realised volume series; also returns the unsent quantity.

    ``times_ns`` are the trader times the volumes are seen at (non-decreasing).
    POV only completes if the market trades enough: what is left is returned,
    never forced out at the end.
    """
    check_style(style)
    times = np.asarray(times_ns, dtype=np.int64)
    vols = np.asarray(volumes, dtype=np.int64)
    if times.shape != vols.shape:
        raise ConfigError(f"parameters 'times_ns' and 'volumes' differ in length ({len(times)} vs {len(vols)})")
    tradable_intervals(parent.start_ns, parent.end_ns, no_trade)
    pol = PovPolicy(target_rate, min_child, max_child, parent.quantity, lot_size, parent.start_ns, parent.end_ns,
                    tuple(no_trade))
    out: list[ChildOrder] = []
    lo, hi = np.searchsorted(times, [parent.start_ns, parent.end_ns])
    for t, v in zip(times[lo:hi].tolist(), vols[lo:hi].tolist()):
        q = pol.on_volume(t, v)
        if q:
            out.append(ChildOrder(t, q, style, offset_ticks, parent.parent_id, len(out)))
        if pol.remaining == 0:
            break
    return out, pol.remaining
