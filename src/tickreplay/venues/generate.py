"""Correlated venues of one instrument from the generator: one latent price, venue-specific books and flow.

Two ways. **Generated venues** (:class:`VenueGenerator`, what ``[[venues]]`` with a ``seed`` and
``[[loop.venues]]`` and ``tickreplay generate --venue`` use): each venue has its own ``MarketParams`` (a regime
and overrides of its order-flow fields: spread, depth, sizes, cancels…), its ``activity`` and order-flow seed,
and all venues quote around one :class:`~tickreplay.adapters.latent.LatentPath` of the instrument
(:func:`tickreplay.adapters.latent.generate_venues`; docs/generate.md), by default *tracking* it (each touch put
on its reference quote before every event), so their mids stay within a few ticks of each other.

**Split of one flow** (``[[venues]]`` with ``share``) shares the latent price *exactly*: one day
of L3 order flow is generated and its resting orders are **split across the venues**. Each order (by order id) is put on venue k with probability ``share_k`` (seeded), and every
event of that order (its add, cancels and the executions that hit it) goes to that venue's tape; a hidden
execution (no order id) is drawn the same way. So:

* every venue's book is a subset of the one generated book: no venue's bid is ever above another venue's ask,
  and all venues follow one latent price;
* a venue with a smaller share has less depth, a wider spread on average and fewer events (less activity);
  fees and latencies are the venue's own (the scenario's ``[[venues]]``);
* an aggressor that swept the generated book took the front orders of the consolidated best level: on each
  venue the executions of its own orders keep their FIFO order and prices.

What it does not give: venue-specific order-flow parameters (depth shape, order sizes, cancel rates) — the
venues differ only by their share of one flow (generated venues give them). Every draw comes from
``SeedSequence([seed, split_seed])``, so a seed gives byte-identical venue tapes.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields, replace
from typing import Any

import numpy as np

from tickreplay.adapters.latent import SHARED_FIELDS, LatentPath, VenueFlow, venue_day
from tickreplay.adapters.synthetic import DayGenerator
from tickreplay.adapters.synthetic_regimes import REGIMES, MarketParams, resolve
from tickreplay.errors import ConfigError
from tickreplay.tape import COLUMNS, Tape

#: the second entropy word of the split's SeedSequence (independent of the generator's own streams)
SPLIT_STREAM = 0x5EED_7E11


def _shares(shares: dict[str, float]) -> tuple[list[str], np.ndarray]:
    if not isinstance(shares, dict) or not shares:
        raise ConfigError("shares: expected a non-empty {venue name: share of the orders} mapping")
    names = list(shares)
    for n in names:
        if not isinstance(n, str) or not n:
            raise ConfigError(f"shares: venue names must be non-empty strings, got {n!r}")
    w = np.array([shares[n] for n in names], dtype=np.float64)
    bad = np.flatnonzero(~np.isfinite(w) | (w <= 0))
    if bad.size:
        raise ConfigError(f"shares[{names[bad[0]]!r}] = {shares[names[bad[0]]]!r}: expected a positive number")
    return names, w / w.sum()


def split_tape(tape: Tape, shares: dict[str, float], seed: int) -> dict[str, Tape]:
    """The venues' tapes of one L3 ``tape``: each order on venue k with probability ``shares[k]`` (normalised).

    Each venue's instrument is the tape's with ``venue`` set to the venue's name; its metadata records the split.
    """
    names, p = _shares(shares)
    if not np.any(tape.order_id != 0):
        raise ConfigError(f"split_tape: the tape of {tape.instrument.symbol} has no order ids (L2): only an L3 "
                          f"tape can be split order by order")
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), SPLIT_STREAM]))
    ids, inverse = np.unique(tape.order_id, return_inverse=True)
    venue_of_id = rng.choice(len(names), size=len(ids), p=p)
    venue = venue_of_id[inverse]
    anonymous = np.flatnonzero(tape.order_id == 0)  # hidden executions: one draw each
    venue[anonymous] = rng.choice(len(names), size=len(anonymous), p=p)
    out = {}
    for k, name in enumerate(names):
        keep = venue == k
        cols = {c: getattr(tape, c)[keep] for c in COLUMNS}
        meta = {**tape.extra_meta, "venue_split": {"venues": names, "shares": p.tolist(), "seed": int(seed),
                                                   "venue": name}}
        out[name] = Tape(instrument=replace(tape.instrument, venue=name), extra_meta=meta, **cols)
    return out


def generate_venues(params: MarketParams | str, seed: int, shares: dict[str, float], date: str = "2024-01-02",
                    duration_s: float | None = None, activity: float | None = None) -> dict[str, Tape]:
    """Generate one day (``params``: a regime name or MarketParams; ``activity``: the consolidated flow's rate
    multiplier) and split it across the venues by ``shares`` (see the module docstring)."""
    day = DayGenerator(params, seed, date=date, duration_s=duration_s, activity=activity)
    return split_tape(day.tape(progress=False), shares, seed)


# -- generated venues: each its own flow on the instrument's latent price ------------------------------------------

#: MarketParams fields only the latent path uses (the instrument's price: a venue's own values would be unused)
PATH_FIELDS = ("volatility_annual", "jump_rate_per_hour", "jump_bps", "news_jump_bps")
#: the instrument's fields: a generated venue takes them from the instrument, never from its own regime
INSTRUMENT_FIELDS = SHARED_FIELDS + PATH_FIELDS
#: MarketParams fields a generated venue may override (its order flow and book)
FLOW_FIELDS = tuple(f.name for f in fields(MarketParams) if f.name not in INSTRUMENT_FIELDS)
#: the keys of a generated venue besides the venue's own (name, fees, latency, queue)
GENERATOR_KEYS = ("regime", "seed", "activity", "track") + FLOW_FIELDS
#: the flow fields that set the book's margin around the price (:meth:`MarketParams.margin_ticks`), which the
#: instrument's start price must leave room for
MARGIN_FIELDS = ("depth_levels", "spread_ticks")
_INT_FIELDS = tuple(f.name for f in fields(MarketParams) if f.type == "int")


@dataclass(frozen=True)
class VenueGenerator:
    """A generated venue's order flow on the instrument's latent price (docs/venues.md).

    ``seed``: its order-flow seed; ``regime``: the regime its flow starts from (None: the instrument's);
    ``activity``: its event-rate multiplier (None: 1); ``track``: its book tracks the latent price (default);
    ``overrides``: ``(field, value)`` pairs of :data:`FLOW_FIELDS`, sorted by field. The instrument's fields
    (:data:`INSTRUMENT_FIELDS`: tick, start price, session, time zone, news time, and the price's volatility and
    jumps) are the instrument's whatever the venue's regime."""

    seed: int
    regime: str | None = None
    activity: float | None = None
    track: bool = True
    overrides: tuple[tuple[str, Any], ...] = ()

    def params(self, instrument: MarketParams | str) -> MarketParams:
        """The venue's MarketParams on ``instrument`` (a regime name or MarketParams); ConfigError if invalid."""
        _, inst = resolve(instrument)
        _, base = resolve(self.regime if self.regime is not None else inst)
        return replace(base, **{f: getattr(inst, f) for f in INSTRUMENT_FIELDS}, **dict(self.overrides))

    def flow(self, instrument: MarketParams | str) -> VenueFlow:
        """The venue's :class:`~tickreplay.adapters.latent.VenueFlow` on ``instrument``."""
        return VenueFlow(self.params(instrument), self.seed, self.activity, self.track)

    def describe(self) -> dict:
        """The settings as given (run.json's ``venues``; defaults left out)."""
        out: dict[str, Any] = {"seed": self.seed}
        if self.regime is not None:
            out["regime"] = self.regime
        if self.activity is not None:
            out["activity"] = self.activity
        if not self.track:
            out["track"] = False
        return {**out, **dict(self.overrides)}


def venue_generator(table: Mapping[str, Any], key: Callable[[str], str]) -> VenueGenerator:
    """A :class:`VenueGenerator` from a venue's generator keys (:data:`GENERATOR_KEYS`; an instrument field is
    refused). ``key(k)`` names key ``k`` in errors (e.g. ``scenario key 'venues[1].seed'``)."""
    def fail(k: str, expected: str) -> ConfigError:
        return ConfigError(f"{key(k)}: expected {expected}, got {table[k]!r}")

    def number(k: str) -> float:
        x = table[k]
        if isinstance(x, bool) or not isinstance(x, numbers.Real) or not math.isfinite(x):
            raise fail(k, "a finite number")
        return float(x)

    for k in table:
        if k in INSTRUMENT_FIELDS:
            raise ConfigError(f"{key(k)}: {k} is the instrument's, not a venue's: every generated venue quotes one "
                              f"instrument on one latent price, whose {', '.join(INSTRUMENT_FIELDS)} come from "
                              "the instrument's regime")
        if k not in GENERATOR_KEYS:
            raise ConfigError(f"{key(k)}: unknown key (a generated venue takes {', '.join(GENERATOR_KEYS)})")
    regime = table.get("regime")
    if regime is not None and regime not in REGIMES:
        raise fail("regime", "one of " + ", ".join(repr(r) for r in REGIMES))
    if "seed" not in table:
        raise ConfigError(f"{key('seed')} is required: the venue's order-flow seed (a generated venue gives its "
                          "own seed; regime, activity and MarketParams fields are optional)")
    seed = table["seed"]
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise fail("seed", "a non-negative integer")
    activity = None
    if "activity" in table:
        activity = number("activity")
        if activity <= 0:
            raise fail("activity", "a positive number (it multiplies the venue's event rates; 1: as its regime)")
    track = table.get("track", True)
    if not isinstance(track, bool):
        raise fail("track", "true or false")
    overrides = []
    for k in sorted(set(table) & set(FLOW_FIELDS)):
        x = table[k]
        if k in _INT_FIELDS:
            if isinstance(x, bool) or not isinstance(x, numbers.Integral):
                raise fail(k, "an integer")
            overrides.append((k, int(x)))
        else:
            overrides.append((k, number(k)))
    return VenueGenerator(int(seed), regime, activity, track, tuple(overrides))


def check_generators(venues: Mapping[str, VenueGenerator], instrument: MarketParams | str,
                     key: Callable[[str, str], str]) -> None:
    """ConfigError unless every venue's params are valid on ``instrument`` and the flow seeds differ. ``key(name,
    k)`` names key ``k`` of venue ``name`` in errors (``k`` None: the venue; a MarketParams error names the
    override — the start price's room for the book the larger of depth_levels and spread_ticks —, else the
    regime)."""
    seen: dict[int, str] = {}
    for name, g in venues.items():
        if g.seed in seen:
            raise ConfigError(f"{key(name, 'seed')}: venue {seen[g.seed]!r} has flow seed {g.seed} too: two venues "
                              "of one seed draw the same order flow (give each venue its own seed)")
        seen[g.seed] = name
        try:
            g.params(instrument)
        except ConfigError as err:
            field = next((k for k, _ in g.overrides if f"MarketParams.{k} " in str(err)), None)
            if field is None and "MarketParams.start_price " in str(err):  # the book's margin around the price
                margin = {k: v for k, v in g.overrides if k in MARGIN_FIELDS}
                field = max(margin, key=lambda k: math.ceil(margin[k]), default=None)  # the larger part
            where = field or ("regime" if g.regime is not None else None)
            raise ConfigError(f"{key(name, where)}: {err}") from None


def generated_venues(regime: MarketParams | str, seed: int, venues: Mapping[str, VenueGenerator],
                     date: str = "2024-01-02", duration_s: float | None = None,
                     where: Callable[[str], str] = lambda name: f"venue {name!r}") -> dict[str, Tape]:
    """The venues' tapes on one latent path of the instrument ``regime`` (its price and instrument fields) drawn
    from ``seed`` (:class:`~tickreplay.adapters.latent.LatentPath`, 10 ms grid): one instrument symbol, the venue
    in ``instrument.venue``. A venue's error starts with ``where(name)``."""
    path = LatentPath(regime, seed)
    out = {}
    for name, g in venues.items():
        try:
            day, instrument, meta = venue_day(path, name, g.flow(regime), date, duration_s)
            tape = day.tape(progress=False)
        except ConfigError as err:
            raise ConfigError(f"{where(name)}: {err}") from None
        out[name] = Tape(instrument=instrument, extra_meta=meta, **{c: getattr(tape, c) for c in COLUMNS})
    return out
