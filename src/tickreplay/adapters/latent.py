"""A latent efficient price shared by several generated venues of one instrument.

:class:`LatentPath` draws the price the generator's own rule would (geometric random walk with the regime's
volatility, variance raised after the news, Poisson jumps, the scheduled news jump with a random sign, reflection
at the price grid's margins; :func:`~tickreplay.adapters.synthetic_kernel.latent_steps`) on a **regular time
grid** of ``step_ns`` from the open, instead of event by event. The rule that makes venues agree:

* the price **in force** at ``t`` ns after the open is ``prices[t // step_ns]`` (a step function, no
  interpolation: grid step ``k`` holds on ``[k·step, (k+1)·step)``; step 0 is ``start_price``);
* a venue's event stamped ``ts`` quotes around the price in force at ``ts`` (its reference quotes, hence its
  limit orders' prices, are set from it), so two venues with different activity see the *same* price at the
  same time, each as often as its own events sample it.

The path's draws come from ``SeedSequence(seed).spawn(3)[2]`` (the plain day of that seed, its hidden trader
and an added parent use the first draws, ``spawn(1)[0]`` and ``spawn(2)[1]``), drawn in blocks of
:data:`BLOCK_STEPS` steps, so a shorter day's path is the prefix of the whole session's. The path is drawn on
first use and kept (one path object serves every venue). Pass it as
``DayGenerator(params, flow_seed, latent=path)``; each venue keeps its own ``MarketParams`` (spread, depth,
sizes, activity, cancels…) and its own order-flow seed. :func:`generate_venues` makes the venues' tapes as
one instrument (one symbol, the venue in ``instrument.venue``; :func:`venue_day` streams one venue's day).
A venue may also *track* the path (``VenueFlow(track=True)``): its touches are put on the reference quotes
before every event, so its mid stays within about half a tick of the path (docs/generate.md).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace

import numpy as np

from tickreplay.adapters import synthetic_kernel as K
from tickreplay.adapters.synthetic_regimes import MarketParams, resolve
from tickreplay.errors import ConfigError
from tickreplay.tape import COLUMNS, Tape

__all__ = ["BLOCK_STEPS", "DEFAULT_STEP_NS", "SHARED_FIELDS", "LatentPath", "VenueFlow", "generate_venues",
           "venue_day"]

DEFAULT_STEP_NS = 10_000_000  # 10 ms grid: 2.34 M steps (18.7 MB of float64) for a 6.5 h session
BLOCK_STEPS = 1 << 16  # grid steps drawn from the generator at a time
#: MarketParams fields every venue of a latent path must share with the path's params (the instrument's)
SHARED_FIELDS = ("tick_size", "start_price", "session_start", "session_end", "timezone", "news_time")


class LatentPath:
    """The latent price of one instrument's day on a time grid (module docstring: the sampling rule).

    ``params``: a regime name or :class:`MarketParams` whose price fields (``volatility_annual``,
    ``jump_rate_per_hour``, ``jump_bps``, ``news_jump_bps``, ``news_activity_mult`` and ``news_half_life_s`` for
    the variance after the news, with :data:`SHARED_FIELDS`) define the path (a venue's own values of the price
    fields are not used); ``seed``: its seed (a
    non-negative integer); ``step_ns``: the grid step, ns (default 10 ms).
    """

    def __init__(self, params: MarketParams | str, seed: int, step_ns: int = DEFAULT_STEP_NS) -> None:
        self.regime, self.params = resolve(params)
        if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0:
            raise ConfigError(f"LatentPath seed = {seed!r}: expected a non-negative integer")
        if (not isinstance(step_ns, (int, np.integer)) or isinstance(step_ns, bool) or not
                0 < step_ns <= 60_000_000_000):
            raise ConfigError(f"LatentPath step_ns = {step_ns!r}: expected an integer number of nanoseconds in "
                              "(0, 60 s] (the grid the latent price is drawn on; default 10 ms)")
        self.seed, self.step_ns = int(seed), int(step_ns)
        self._blocks: list[np.ndarray] = [np.array([self.params.start_price / self.params.tick_size])]
        self._drawn = 1  # grid steps drawn so far (step 0 is the start price)
        self._ticks = self._blocks[0]
        self._state: tuple | None = None  # (rng, fp, fs scratch, price in ticks at the last drawn step)

    def tag(self) -> str:
        """8 hex digits naming the path (params, seed, step): a generated venue's symbol carries ``-l<tag>``."""
        text = json.dumps({"params": asdict(self.params), "seed": self.seed, "step_ns": self.step_ns},
                          sort_keys=True)
        return hashlib.blake2b(text.encode(), digest_size=4).hexdigest()

    def meta(self) -> dict:
        """What a generated day's metadata records of its latent path."""
        return {"regime": self.regime, "seed": self.seed, "step_ns": self.step_ns, "tag": self.tag(),
                "params": asdict(self.params)}

    def check_venue(self, params: MarketParams) -> None:
        """Raise ConfigError unless a venue with ``params`` can quote around this path (:data:`SHARED_FIELDS`)."""
        for name in SHARED_FIELDS:
            mine, theirs = getattr(self.params, name), getattr(params, name)
            if mine != theirs:
                raise ConfigError(f"MarketParams.{name} = {theirs!r}, but the latent path's is {mine!r}: venues "
                                  "sharing a latent price are one instrument and must agree on "
                                  f"{', '.join(SHARED_FIELDS)}")

    def _draw_block(self) -> None:
        from tickreplay.adapters.synthetic import _pack  # the generator's parameter packing (imports this module)

        p = self.params
        if self._state is None:
            rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence(self.seed).spawn(3)[2]))
            news_sign = 1.0 if rng.random() < 0.5 else -1.0
            fp, _, _, _ = _pack(p, p.session_seconds(), news_sign)
            self._state = (rng, fp, np.zeros(K.N_FS), float(self._blocks[0][0]))
        rng, fp, fs, m = self._state
        z, u, zj = rng.standard_normal(BLOCK_STEPS), rng.random(BLOCK_STEPS), rng.standard_normal(BLOCK_STEPS)
        out = np.empty(BLOCK_STEPS)
        m = K.latent_steps(fp, fs, m, self._drawn - 1, self.step_ns / 1e9, z, u, zj, out)
        self._state = (rng, fp, fs, m)
        self._blocks.append(out)
        self._drawn += BLOCK_STEPS

    def ticks(self, n_steps: int) -> np.ndarray:
        """The price (ticks, float) at grid steps ``0 .. n_steps - 1``."""
        while self._drawn < n_steps:
            self._draw_block()
        if len(self._ticks) < n_steps:
            self._ticks = np.concatenate(self._blocks)
            self._blocks = [self._ticks]
        return self._ticks[:n_steps]

    def steps_for(self, duration_s: float) -> int:
        """Grid steps that cover an event at any ns of the first ``duration_s`` seconds."""
        return int(round(duration_s * 1e9)) // self.step_ns + 1

    def prices(self, duration_s: float | None = None) -> np.ndarray:
        """The price (price units, float) at each grid step of the first ``duration_s`` seconds (default: the
        session); step ``k`` holds from ``k·step_ns`` ns after the open."""
        dur = self.params.session_seconds() if duration_s is None else duration_s
        return self.ticks(self.steps_for(dur)) * self.params.tick_size

    def price_at(self, t_ns: np.ndarray | int) -> np.ndarray:
        """The price (price units, float) in force at ``t_ns`` ns after the open (``t_ns`` ≥ 0)."""
        t = np.asarray(t_ns, dtype=np.int64)
        if t.size and t.min() < 0:
            raise ConfigError(f"LatentPath.price_at: time {int(t.min())} ns is before the open")
        k = t // self.step_ns
        return self.ticks(int(k.max()) + 1 if k.size else 1)[k] * self.params.tick_size


@dataclass(frozen=True)
class VenueFlow:
    """One generated venue's own order flow: ``params`` (a regime name or MarketParams: spread, depth, sizes,
    activity_eps, cancels…), its flow ``seed``, an ``activity`` multiplier (None: 1) and whether its book
    ``track`` s the path (``DayGenerator(track=...)``)."""

    params: MarketParams | str
    seed: int
    activity: float | None = None
    track: bool = False

    def tag(self) -> str:
        """8 hex digits naming the flow (params, seed, activity, track): ``tickreplay generate --venue`` puts it
        in a venue's catalog source, as the venues share the instrument's symbol."""
        act = 1.0 if self.activity is None else float(self.activity)
        text = json.dumps({"params": asdict(resolve(self.params)[1]), "seed": int(self.seed), "activity": act,
                           "track": bool(self.track)}, sort_keys=True)
        return hashlib.blake2b(text.encode(), digest_size=4).hexdigest()


def venue_day(latent: LatentPath, name: str, flow: VenueFlow, date: str = "2024-01-02",
              duration_s: float | None = None):
    """``(day, instrument, meta)`` of one venue: its :class:`~tickreplay.adapters.synthetic.DayGenerator` on
    ``latent`` and the instrument and metadata its tape carries as a venue of the path's instrument (the
    path's symbol, ``venue`` = ``name``; ``generated_symbol``: the venue's own day symbol)."""
    from tickreplay.adapters.synthetic import DayGenerator, synthetic_symbol

    if not isinstance(name, str) or not name:
        raise ConfigError(f"venues: venue names must be non-empty strings, got {name!r}")
    if not isinstance(flow, VenueFlow):
        raise ConfigError(f"venues[{name!r}] = {flow!r}: expected a VenueFlow(params, seed, activity)")
    symbol = synthetic_symbol(latent.params, latent.seed, duration_s, latent=latent)
    day = DayGenerator(flow.params, flow.seed, date=date, duration_s=duration_s, activity=flow.activity,
                       latent=latent, track=flow.track)
    meta = {**day.meta, "generated_symbol": day.instrument.symbol, "venue": name}
    return day, replace(day.instrument, symbol=symbol, venue=name), meta


def generate_venues(latent: LatentPath, venues: Mapping[str, VenueFlow], date: str = "2024-01-02",
                    duration_s: float | None = None) -> dict[str, Tape]:
    """Each venue's day (``DayGenerator(flow.params, flow.seed, latent=latent)``) as a tape of one instrument.

    The tapes share the instrument symbol ``synthetic_symbol(latent.params, latent.seed, duration_s,
    latent=latent)`` (the path's market; the day's seed is the path's) and carry the venue name in
    ``instrument.venue``; each tape's metadata keeps its venue's own generated symbol (``generated_symbol``).
    """
    if not isinstance(venues, Mapping) or not venues:
        raise ConfigError("venues: expected a non-empty {venue name: VenueFlow(params, seed)} mapping")
    out = {}
    for name, flow in venues.items():
        day, instrument, meta = venue_day(latent, name, flow, date, duration_s)
        tape = day.tape(progress=False)
        out[name] = Tape(instrument=instrument, extra_meta=meta, **{c: getattr(tape, c) for c in COLUMNS})
    return out
