"""Intraday volume profiles: the share of a session's traded volume in each time bin.

Traded volume is the size of ``EXECUTE_VISIBLE``, ``EXECUTE_HIDDEN`` and
``TRADE`` events (auction crosses, ``CROSS_TRADE``, are not volume a
schedule can take part in). Bins are measured from the local midnight of the
instrument's trading date in its time zone, so one profile applies to any day.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence
from zoneinfo import ZoneInfo

import numpy as np

from tickreplay.clock import local_date, local_midnight_ns
from tickreplay.errors import ConfigError
from tickreplay.checks import positive_int
from tickreplay.tape import TRADED_KINDS, Tape

NS_PER_S = 1_000_000_000


def trades(tape: Tape) -> tuple[np.ndarray, np.ndarray]:
    """(ts_ns, size) of the tape's traded volume, in tape order."""
    m = np.isin(tape.kind, np.array(TRADED_KINDS, dtype=np.int8))
    return tape.ts_ns[m], tape.size[m]


@dataclass(frozen=True)
class VolumeProfile:
    """Volume fractions of consecutive bins of ``bin_ns`` from ``start_tod_ns`` after local midnight."""

    start_tod_ns: int
    bin_ns: int
    fractions: tuple[float, ...]
    timezone: str = "UTC"
    days_used: int = 0  # 0: supplied by hand

    def __post_init__(self) -> None:
        positive_int("bin_ns", self.bin_ns)
        f = np.asarray(self.fractions, dtype=np.float64)
        if f.ndim != 1 or len(f) == 0 or not np.all(np.isfinite(f)) or np.any(f < 0) or f.sum() <= 0:
            raise ConfigError("parameter 'fractions' must be a non-empty list of non-negative numbers with a positive sum")
        object.__setattr__(self, "fractions", tuple(float(x) for x in f / f.sum()))
        ZoneInfo(self.timezone)

    def bins_for_day(self, ts_ns: int) -> tuple[np.ndarray, np.ndarray]:
        """(start_ns, end_ns) of every bin on the local day containing ``ts_ns``."""
        mid = local_midnight_ns(local_date(ts_ns, self.timezone), self.timezone)
        starts = mid + self.start_tod_ns + self.bin_ns * np.arange(len(self.fractions), dtype=np.int64)
        return starts, starts + self.bin_ns


def estimate_volume_profile(tapes: Sequence[Tape], bin_ns: int = 30 * 60 * NS_PER_S,
                            session: tuple[int, int] | None = None) -> VolumeProfile:
    """Average the per-day volume fractions of ``tapes`` (one tape per day, each day weighted equally).

    ``session`` is (start, end) in ns after local midnight; by default it runs
    from the first to the last trade of any day, widened to whole bins. Trades
    outside a given session raise ConfigError rather than being dropped.
    """
    bin_ns = positive_int("bin_ns", bin_ns)
    if not tapes:
        raise ConfigError("parameter 'tapes' must hold at least one tape")
    tz = tapes[0].instrument.timezone
    days = []
    for t in tapes:
        if t.instrument.timezone != tz:
            raise ConfigError(f"parameter 'tapes' mixes time zones {tz} and {t.instrument.timezone}")
        ts, size = trades(t)
        if size.sum() <= 0:
            raise ConfigError(f"parameter 'tapes': {t.instrument.symbol} {t.instrument.date} has no traded volume")
        days.append((ts - local_midnight_ns(t.instrument.date, tz), size))
    if session is None:
        start = min(int(tod.min()) for tod, _ in days) // bin_ns * bin_ns
        end = math.ceil((max(int(tod.max()) for tod, _ in days) + 1) / bin_ns) * bin_ns
    else:
        start, end = session
        if end <= start:
            raise ConfigError(f"parameter 'session' must end after it starts, got {session}")
    nbins = math.ceil((end - start) / bin_ns)
    fracs = np.zeros(nbins)
    for tod, size in days:
        idx = (tod - start) // bin_ns
        if np.any((idx < 0) | (idx >= nbins)):
            raise ConfigError(f"parameter 'session' {session} leaves out {(size[(idx < 0) | (idx >= nbins)]).sum()} "
                              "traded units of a tape")
        vol = np.bincount(idx, weights=size, minlength=nbins)
        fracs += vol / vol.sum()
    return VolumeProfile(int(start), bin_ns, tuple(fracs / len(days)), tz, len(days))
