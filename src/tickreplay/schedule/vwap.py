"""VWAP: quantities in proportion to the expected volume of each bin of an intraday profile."""

from __future__ import annotations

from typing import Sequence

from tickreplay.errors import ConfigError
from tickreplay.schedule.base import ChildOrder, ParentOrder, Window, children_at, tradable_or_error
from tickreplay.market.profile import VolumeProfile


def vwap(parent: ParentOrder, profile: VolumeProfile, style: str = "market", lot_size: int = 1,
         no_trade: Sequence[Window] = (), offset_ticks: int = 0) -> list[ChildOrder]:
    """One child per profile bin overlapping the tradable time, at the bin's first tradable instant.

    A bin's weight is its volume fraction times the tradable share of the bin
    (volume assumed uniform within a bin), so a parent starting mid-session
    or skipping a no-trade window gets only the volume it can take part in.
    The bins are those of the local day of ``start_ns``: one parent, one day.
    """
    iv = tradable_or_error(parent, no_trade)
    starts, ends = profile.bins_for_day(parent.start_ns)
    times, weights = [], []
    for s, e, f in zip(starts.tolist(), ends.tolist(), profile.fractions):
        overlaps = [(max(s, a), min(e, b)) for a, b in iv if max(s, a) < min(e, b)]
        if not overlaps or f == 0:
            continue
        times.append(overlaps[0][0])
        weights.append(f * sum(b - a for a, b in overlaps) / (e - s))
    if not weights:
        raise ConfigError("parameters 'start_ns'/'end_ns' do not overlap any profile bin with volume")
    return children_at(parent, times, weights, style, lot_size, offset_ticks)
