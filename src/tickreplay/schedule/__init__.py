"""Schedules: parent order → child orders (TWAP, VWAP, POV, Almgren–Chriss)."""

from tickreplay.schedule.almgren_chriss import almgren_chriss
from tickreplay.schedule.base import (STYLES, ChildOrder, ParentOrder, open_close_windows, round_to_lots,
                                      tradable_intervals)
from tickreplay.schedule.pov import PovPolicy, pov_schedule
from tickreplay.market.profile import VolumeProfile, estimate_volume_profile
from tickreplay.schedule.twap import twap
from tickreplay.schedule.vwap import vwap

__all__ = ["STYLES", "ChildOrder", "ParentOrder", "PovPolicy", "VolumeProfile", "almgren_chriss",
           "estimate_volume_profile", "open_close_windows", "pov_schedule", "round_to_lots", "tradable_intervals",
           "twap", "vwap"]
