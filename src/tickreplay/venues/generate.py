"""Correlated venues of one instrument from the generator: one latent price, venue-specific books and flow.

Two ways. Venues with their own ``MarketParams`` (spread, depth, activity) and order-flow seeds on one shared
latent price path: :func:`tickreplay.adapters.latent.generate_venues` (a :class:`~tickreplay.adapters.latent.LatentPath`
drawn on a time grid, every venue quoting around the price in force at its own event times; docs/generate.md).
The mode built here, which ``[[venues]]`` scenarios with ``share`` use, shares the latent price *exactly*: one day
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
venues differ only by their share of one flow (the latent-path mode above gives them; scenarios do not reach it
yet). Every draw comes from ``SeedSequence([seed, split_seed])``, so a
seed gives byte-identical venue tapes.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from tickreplay.adapters.synthetic import DayGenerator
from tickreplay.adapters.synthetic_regimes import MarketParams
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
