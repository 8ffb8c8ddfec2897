"""Market inputs estimated from catalog entries (one entry = one instrument-day).

* ADV: traded volume per day (``EXECUTE_VISIBLE + EXECUTE_HIDDEN + TRADE``
  sizes, tape size units), averaged over the days.
* Daily volatility: realised volatility of the mid price sampled every
  ``bar_ns`` (last mid at or before each bar end, both sides of the book
  present). The squared log returns of all days are pooled, and the mean
  per-bar variance is scaled to a day: ``sigma_daily² = mean(r²) * day_ns / bar_ns``.
  With a single day of data this is the only option (close-to-close needs
  many days); it measures the session's diffusion, not the overnight gap.
* Average spread: time-weighted mean of ``(ask - bid) / mid`` in bps over the
  time both sides are present.
* Intraday volume profile: :func:`tickreplay.market.profile.estimate_volume_profile`.

``day_ns`` is the length of a trading day. By default each tape's own span
(first to last event) is taken as its day, right for full-session files
(e.g. LOBSTER 09:30-16:00). For a partial capture give the venue's day
(e.g. 24 h for crypto): volume is then scaled by ``day_ns / span`` as well.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from tickreplay.catalog import Entry
from tickreplay.errors import ConfigError
from tickreplay.checks import positive_int
from tickreplay.impact.models import MarketInputs
from tickreplay.market.profile import VolumeProfile, estimate_volume_profile, trades
from tickreplay.tape import Tape
from tickreplay.book.snapshots import Snapshots

BAR_NS = 5 * 60 * 1_000_000_000
PROFILE_BIN_NS = 30 * 60 * 1_000_000_000


@dataclass(frozen=True)
class DayStats:
    """What one catalog entry contributes."""

    key: str
    span_ns: int  # first to last event
    volume: float  # traded volume scaled to one day, size units
    returns: np.ndarray  # log mid returns per bar
    spread_bps: float  # time-weighted
    last_mid: float  # a price: currency units per traded unit (before the contract multiplier)


@dataclass(frozen=True)
class EstimatedInputs:
    """Market inputs with the profile, a reference price and the per-day figures behind them.

    ``ref_price``: the currency value of one traded unit at the last mid (the last day's mid × the contract
    multiplier; the price itself for shares), what :class:`~tickreplay.impact.PreTradeOrder` takes."""

    market: MarketInputs
    profile: VolumeProfile
    ref_price: float
    days: tuple[DayStats, ...]


def day_stats(key: str, tape: Tape, snaps: Snapshots, bar_ns: int = BAR_NS, day_ns: int | None = None) -> DayStats:
    """Volume, bar returns, spread and last mid of one tape with its top-of-book snapshots."""
    if len(tape) < 2:
        raise ConfigError(f"catalog entry {key} has {len(tape)} events: too few to estimate anything")
    ts = tape.ts_ns
    span = int(ts[-1] - ts[0])
    day = span if day_ns is None else day_ns
    if span <= 0:
        raise ConfigError(f"catalog entry {key} spans no time")
    _, size = trades(tape)
    ask, bid = snaps.ask_price[:, 0].astype(np.float64), snaps.bid_price[:, 0].astype(np.float64)
    ok = (ask > 0) & (bid > 0) & (ask > bid)
    if not ok.any():
        raise ConfigError(f"catalog entry {key} never has both sides of the book")
    mid = (ask + bid) / 2
    # time-weighted spread: each event's book holds until the next event
    dt = np.diff(ts).astype(np.float64)
    w = np.where(ok[:-1], dt, 0.0)
    if w.sum() <= 0:
        raise ConfigError(f"catalog entry {key} never has both sides of the book for any length of time")
    spread = float(((ask - bid) / np.where(ok, mid, 1.0) * 1e4)[:-1] @ w / w.sum())
    # last valid mid at or before each bar end
    vt, vm = ts[ok], mid[ok]
    grid = vt[0] + bar_ns * np.arange(int((vt[-1] - vt[0]) // bar_ns) + 1, dtype=np.int64)
    sampled = vm[np.searchsorted(vt, grid, side="right") - 1]
    rets = np.diff(np.log(sampled))
    return DayStats(key, span, float(size.sum()) * day / span, rets, spread,
                    float(vm[-1]) / tape.instrument.price_scale)


def estimate_inputs(entries: Sequence[Entry], bar_ns: int = BAR_NS, day_ns: int | None = None,
                    profile_bin_ns: int = PROFILE_BIN_NS, shares_outstanding: float | None = None) -> EstimatedInputs:
    """ADV, daily volatility, average spread and volume profile from catalog entries (see module docstring)."""
    bar_ns = positive_int("bar_ns", bar_ns)
    if day_ns is not None:
        positive_int("day_ns", day_ns)
    if not entries:
        raise ConfigError("parameter 'from_catalog' needs at least one catalog entry")
    tapes, stats = [], []
    for e in entries:
        tape = e.read_tape()
        tapes.append(tape)
        stats.append(day_stats(e.key, tape, e.read_snapshots(), bar_ns, day_ns))
    symbols = {t.instrument.symbol for t in tapes}
    if len(symbols) > 1:
        raise ConfigError(f"parameter 'from_catalog' mixes symbols {sorted(symbols)}")
    rets = np.concatenate([s.returns for s in stats])
    if len(rets) < 2:
        raise ConfigError(f"parameter 'bar_ns' ({bar_ns}) leaves fewer than 2 mid returns: use a shorter bar")
    day_len = np.mean([s.span_ns if day_ns is None else day_ns for s in stats])
    sigma = math.sqrt(float(np.mean(rets**2)) * day_len / bar_ns)
    notes = (f"{len(stats)} day(s): {', '.join(s.key for s in stats)}",
             f"daily vol from {len(rets)} mid returns of {bar_ns / 1e9:g} s bars scaled by sqrt(day/bar)")
    market = MarketInputs(adv=float(np.mean([s.volume for s in stats])), daily_vol=sigma,
                          spread_bps=float(np.mean([s.spread_bps for s in stats])),
                          shares_outstanding=shares_outstanding, days_used=len(stats), notes=notes)
    ref_price = stats[-1].last_mid * tapes[-1].instrument.multiplier
    return EstimatedInputs(market, estimate_volume_profile(tapes, profile_bin_ns), ref_price, tuple(stats))
