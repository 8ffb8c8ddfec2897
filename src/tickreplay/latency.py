"""Latency models: how long market data, orders and responses take, in ns.

Every model answers ``sample(now_ns, rng) -> int`` (a non-negative number of
nanoseconds) and keeps no hidden state: all randomness comes from the
``numpy.random.Generator`` the caller passes, so a run is reproducible from
its seed. Models are frozen dataclasses; scenario files name them by the keys of
:data:`LATENCY_MODELS` (parsed in :mod:`tickreplay.experiment.scenario`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import ClassVar, Protocol

import numpy as np

from tickreplay.errors import ConfigError

MS = 1_000_000  # ns per millisecond


class LatencyModel(Protocol):
    #: the standard deviation of the draws around the typical value, ns (the pre-trade latency terms use both)
    jitter_ns: int

    @property
    def typical_ns(self) -> int:
        """The model's typical latency, ns: constant, mean, median, the series' mean or the burst model's base."""
        ...

    def sample(self, now_ns: int, rng: np.random.Generator) -> int:
        """One latency draw at exchange time ``now_ns``, in ns (≥ 0)."""
        ...


@dataclass(frozen=True)
class Constant:
    """Always ``latency_ns``."""

    latency_ns: int
    jitter_ns: ClassVar[int] = 0

    def __post_init__(self) -> None:
        _non_negative("latency_ns", self.latency_ns)

    @property
    def typical_ns(self) -> int:
        return int(self.latency_ns)

    def sample(self, now_ns: int, rng: np.random.Generator) -> int:
        return int(self.latency_ns)


@dataclass(frozen=True)
class Normal:
    """Mean ``mean_ns`` with Gaussian jitter of standard deviation ``jitter_ns``, truncated at zero."""

    mean_ns: int
    jitter_ns: int

    def __post_init__(self) -> None:
        _non_negative("mean_ns", self.mean_ns)
        _non_negative("jitter_ns", self.jitter_ns)

    @property
    def typical_ns(self) -> int:
        return int(self.mean_ns)

    def sample(self, now_ns: int, rng: np.random.Generator) -> int:
        return max(0, int(round(rng.normal(self.mean_ns, self.jitter_ns))))


@dataclass(frozen=True)
class LogNormal:
    """Lognormal with median ``median_ns``; ``jitter_ns`` is the standard deviation of the draws.

    The log-scale sigma solves ``sd = median * sqrt(exp(s²)(exp(s²) − 1))``, so
    the jitter parameter means what it says in nanoseconds.
    """

    median_ns: int
    jitter_ns: int

    def __post_init__(self) -> None:
        if self.median_ns <= 0:
            raise ConfigError(f"median_ns must be positive, got {self.median_ns}")
        _non_negative("jitter_ns", self.jitter_ns)

    @property
    def typical_ns(self) -> int:
        return int(self.median_ns)

    @property
    def sigma(self) -> float:
        r = (self.jitter_ns / self.median_ns) ** 2
        # with w = exp(s²): w² − w − r = 0
        w = (1.0 + math.sqrt(1.0 + 4.0 * r)) / 2.0
        return math.sqrt(math.log(w))

    def sample(self, now_ns: int, rng: np.random.Generator) -> int:
        return int(round(self.median_ns * math.exp(self.sigma * rng.standard_normal())))


@dataclass(frozen=True)
class Empirical:
    """A recorded latency series: the latency at ``now_ns`` interpolated linearly in time.

    Before the first or after the last recorded time the end values hold.
    ``jitter_ns`` (optional) adds zero-truncated Gaussian noise around it.
    """

    times_ns: np.ndarray
    latencies_ns: np.ndarray
    jitter_ns: int = 0

    def __post_init__(self) -> None:
        t = np.asarray(self.times_ns, dtype=np.int64)
        v = np.asarray(self.latencies_ns, dtype=np.float64)
        if t.ndim != 1 or len(t) == 0 or len(t) != len(v):
            raise ConfigError("empirical latency needs equal-length, non-empty times_ns and latencies_ns")
        if np.any(np.diff(t) < 0):
            raise ConfigError("empirical latency times_ns must be increasing")
        if np.any(v < 0):
            raise ConfigError("empirical latencies_ns must be non-negative")
        object.__setattr__(self, "times_ns", t)
        object.__setattr__(self, "latencies_ns", v)

    @property
    def typical_ns(self) -> int:
        return int(round(float(self.latencies_ns.mean())))

    def sample(self, now_ns: int, rng: np.random.Generator) -> int:
        base = float(np.interp(now_ns, self.times_ns, self.latencies_ns))
        if self.jitter_ns:
            base += rng.normal(0.0, self.jitter_ns)
        return max(0, int(round(base)))


@dataclass(frozen=True)
class Burst:
    """Latency that rises with the recent tape message rate (busy market → slow path).

    latency = ``base_ns`` + ``per_msg_ns`` × (messages in the ``window_ns``
    before ``now_ns``), plus zero-truncated Gaussian ``jitter_ns``.
    ``event_ts_ns`` is the tape's sorted exchange timestamps.
    """

    base_ns: int
    per_msg_ns: int
    window_ns: int
    jitter_ns: int = 0
    event_ts_ns: np.ndarray | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        for name in ("base_ns", "per_msg_ns", "jitter_ns"):
            _non_negative(name, getattr(self, name))
        if self.window_ns <= 0:
            raise ConfigError(f"window_ns must be positive, got {self.window_ns}")
        if self.event_ts_ns is not None:
            object.__setattr__(self, "event_ts_ns", np.asarray(self.event_ts_ns, dtype=np.int64))

    @property
    def typical_ns(self) -> int:
        return int(self.base_ns)

    def on_tape(self, event_ts_ns: np.ndarray) -> "Burst":
        """This model counting the messages of a tape (sorted exchange times, ns)."""
        return replace(self, event_ts_ns=event_ts_ns)

    def recent_messages(self, now_ns: int) -> int:
        ts = self.event_ts_ns
        if ts is None:
            raise ConfigError("burst latency counts a tape's messages: bind it with on_tape(event_ts_ns) first")
        hi = np.searchsorted(ts, now_ns, side="right")
        lo = np.searchsorted(ts, now_ns - self.window_ns, side="right")
        return int(hi - lo)

    def sample(self, now_ns: int, rng: np.random.Generator) -> int:
        lat = self.base_ns + self.per_msg_ns * self.recent_messages(now_ns)
        if self.jitter_ns:
            lat += rng.normal(0.0, self.jitter_ns)
        return max(0, int(round(lat)))


def _non_negative(name: str, value: float) -> None:
    if value < 0:
        raise ConfigError(f"{name} must be non-negative, got {value}")


LATENCY_MODELS: dict[str, type] = {"constant": Constant, "normal": Normal, "lognormal": LogNormal, "empirical": Empirical, "burst": Burst}
