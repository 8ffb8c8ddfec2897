"""Correlated generated venues: one LatentPath, venues with their own MarketParams and order-flow seeds."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tickreplay.adapters.latent import LatentPath, VenueFlow, generate_venues
from tickreplay.adapters.metaorders import PlantedImpact
from tickreplay.adapters.synthetic import REGIMES, DayGenerator, generate_day, synthetic_key, synthetic_market
from tickreplay.book.fast import compute_snapshots
from tickreplay.errors import ConfigError
from tickreplay.tape import COLUMNS, EventKind, Tape
from tickreplay.venues.consolidated import check_same_instrument

BASE = REGIMES["liquid_large_cap"]
# another venue of the same instrument: wider, shallower, bigger orders, a quarter of the activity, faster cancels
THIN = replace(BASE, spread_ticks=3.0, depth_levels=10, depth_decay=0.3, size_median=300, activity_eps=2.0,
               cancel_rate_per_s=0.05, market_share=0.1)
DUR = 900


def _offsets(day: DayGenerator, tape: Tape, path: LatentPath) -> tuple[np.ndarray, np.ndarray]:
    """Ticks of each bid ADD above its reference bid, and of each ask ADD above its reference ask, the
    references set from ``path`` at the ADD's own timestamp (the generator's quoting rule)."""
    p = day.params
    mid = path.price_at(tape.ts_ns - day.open_ns) / p.tick_size
    bid_ref = np.floor(mid - p.spread_ticks / 2 + 0.5).astype(np.int64)
    ask_ref = bid_ref + max(1, math.floor(p.spread_ticks + 0.5))
    tick = tape.price // p.tick_size
    add = tape.kind == EventKind.ADD
    bid, ask = add & (tape.side == 1), add & (tape.side == -1)
    return tick[bid] - bid_ref[bid], tick[ask] - ask_ref[ask]


@pytest.fixture(scope="module")
def venues() -> tuple[LatentPath, list[tuple[DayGenerator, Tape]]]:
    path = LatentPath("liquid_large_cap", seed=7)
    days = [DayGenerator(BASE, 1, duration_s=DUR, latent=path), DayGenerator(THIN, 2, duration_s=DUR, latent=path)]
    return path, [(d, d.tape(progress=False)) for d in days]


def test_every_venue_quotes_around_the_shared_price_at_its_own_times(venues):
    path, days = venues
    (a, ta), (b, tb) = days
    assert len(ta) > 3 * len(tb) > 0  # different activity: different event times
    assert not np.array_equal(ta.ts_ns[:1000], tb.ts_ns[:1000])
    for day, tape in days:
        bid, ask = _offsets(day, tape, path)
        # a limit order joins its reference quote or rests behind it, never inside: the shared price, read at
        # the event's own timestamp, bounds every order of every venue (the touch itself is hit often)
        assert bid.max() == 0 and ask.min() == 0
        assert np.mean(bid == 0) > 0.05 and np.mean(ask == 0) > 0.05
        assert bid.min() >= -(day.params.depth_levels - 1) - 2 and ask.max() <= day.params.depth_levels + 1
    # the price both read back at any common time is one price
    t = a.open_ns + np.arange(0, DUR * 10**9, 3_337_000_001, dtype=np.int64)
    assert np.array_equal(a.latent_price(t), b.latent_price(t))
    assert np.array_equal(a.latent_price(t), LatentPath("liquid_large_cap", seed=7).price_at(t - a.open_ns))


def test_the_bound_check_sees_another_path(venues):
    """The check above fails for a venue that quoted around another price path."""
    _, days = venues
    other = LatentPath("liquid_large_cap", seed=8)
    for day, tape in days:
        bid, ask = _offsets(day, tape, other)
        assert bid.max() > 0 or ask.min() < 0


def _mids_per_second(day: DayGenerator, tape: Tape) -> np.ndarray:
    """Book mid (ticks) in force at each whole second from 60 s to the end."""
    grid = day.open_ns + np.arange(60, day.duration_s, dtype=np.int64) * 10**9
    row = np.searchsorted(tape.ts_ns, grid, side="right") - 1
    return compute_snapshots(tape, 1).mid_x2()[row] / 2 / day.params.tick_size


def test_the_venues_mids_follow_the_shared_price(venues):
    path, days = venues
    (a, ta), (b, tb) = days
    grid = np.arange(60, DUR, dtype=np.int64) * 10**9
    latent = path.price_at(grid) / BASE.tick_size
    ma, mb = _mids_per_second(a, ta), _mids_per_second(b, tb)
    assert np.ptp(latent) > 20  # the price moved: agreement is not a flat line
    for m in (ma, mb):  # the book lags the price by a few ticks (no tracking on plain flow), nothing more
        err = m - latent
        assert abs(err.mean()) < 1.0 and err.std() < 4.0
    da, db = np.diff(ma[::60]), np.diff(mb[::60])
    assert np.corrcoef(da, db)[0, 1] > 0.7
    # a venue on another path (same params and flow seed as b) is not correlated with a
    c = DayGenerator(THIN, 2, duration_s=DUR, latent=LatentPath("liquid_large_cap", seed=8))
    mc = _mids_per_second(c, c.tape(progress=False))
    assert np.abs(mc - latent).mean() > 5.0


def test_flow_is_the_venues_own_and_deterministic(venues):
    path, days = venues
    a, ta = days[0]
    other_flow = DayGenerator(BASE, 5, duration_s=DUR, latent=path).tape(progress=False)
    assert other_flow.fingerprint() != ta.fingerprint()
    bid, ask = _offsets(a, other_flow, path)
    assert bid.max() == 0 and ask.min() == 0
    again = DayGenerator(BASE, 1, duration_s=DUR, latent=LatentPath("liquid_large_cap", seed=7)).tape(progress=False)
    assert again.fingerprint() == ta.fingerprint() and again.extra_meta == ta.extra_meta
    assert ta.extra_meta["latent"]["seed"] == 7 and ta.extra_meta["latent"]["tag"] == path.tag()
    # the latent day differs from the plain day of the same flow seed (its price is not the day's own)
    assert generate_day(BASE, 1, duration_s=DUR).fingerprint() != ta.fingerprint()


def test_plain_days_are_unchanged():
    """Pinned in tests/test_planted_impact.py before the feature existed; latent=None is that day."""
    assert generate_day("liquid_large_cap", seed=3, duration_s=300, latent=None).fingerprint() == \
        "blake2b-128:488a2aabe644e228c554375d14259215"


def test_symbol_key_and_market():
    path = LatentPath("liquid_large_cap", seed=7)
    day = DayGenerator(BASE, 1, duration_s=600, latent=path)
    assert day.instrument.symbol == f"liquid_large_cap-s1-l{path.tag()}-600s"
    assert day.key == synthetic_key(BASE, 1, "2024-01-02", 600, latent=path)
    assert synthetic_market(day.instrument.symbol) == "liquid_large_cap"  # the path is the day's, like the seed
    assert LatentPath("liquid_large_cap", seed=8).tag() != path.tag()
    assert LatentPath("liquid_large_cap", seed=7, step_ns=1_000_000).tag() != path.tag()


def test_news_jump_is_on_the_shared_path_at_the_news_time():
    p = REGIMES["news_spike"]
    path = LatentPath(p, seed=3)
    news_s = 3600.0  # 10:30 for a 09:30 open
    k = int(news_s * 1e9) // path.step_ns
    prices = path.prices(news_s + 60)
    jumps = np.abs(np.diff(np.log(prices)))
    assert np.argmax(jumps) == k - 1  # the step into the first grid time at or after the news
    assert jumps[k - 1] == pytest.approx(p.news_jump_bps * 1e-4, rel=0.05)
    day = DayGenerator(replace(p, activity_eps=3.0, spread_ticks=2.0), 4, duration_s=news_s + 60, latent=path)
    tape = day.tape(progress=False)
    bid, ask = _offsets(day, tape, path)
    assert bid.max() == 0 and ask.min() == 0


@settings(max_examples=25, deadline=None)
@given(step_ns=st.integers(1_000_000, 2_000_000_000), seed=st.integers(0, 2**32), short_s=st.floats(1.0, 600.0),
       j=st.integers(0, 10**12))
def test_path_is_a_step_function_and_a_short_day_its_prefix(step_ns, seed, short_s, j):
    long = LatentPath("high_volatility", seed, step_ns).prices(1200.0)
    short = LatentPath("high_volatility", seed, step_ns).prices(short_s)
    assert np.array_equal(short, long[: len(short)])
    assert long[0] == REGIMES["high_volatility"].start_price
    path = LatentPath("high_volatility", seed, step_ns)
    t = j % (1200 * 10**9)
    assert path.price_at(t) == long[t // step_ns] == path.price_at((t // step_ns) * step_ns)


def test_refused_inputs_name_the_problem():
    path = LatentPath("liquid_large_cap", seed=1)
    with pytest.raises(ConfigError, match="planted impact is not supported"):
        DayGenerator(BASE, 1, duration_s=60, latent=path, planted=PlantedImpact(1.0, 0.5, 0.5, 0.3), metaorders=2)
    with pytest.raises(ConfigError, match="MarketParams.tick_size = 50, but the latent path's is 100"):
        DayGenerator(replace(BASE, tick_size=50), 1, duration_s=60, latent=path)
    with pytest.raises(ConfigError, match="MarketParams.news_time"):
        DayGenerator("news_spike", 1, duration_s=60, latent=path)
    with pytest.raises(ConfigError, match="expected a LatentPath"):
        DayGenerator(BASE, 1, duration_s=60, latent=7)
    with pytest.raises(ConfigError, match="step_ns"):
        LatentPath(BASE, 1, step_ns=0)
    with pytest.raises(ConfigError, match="seed"):
        LatentPath(BASE, -1)
    with pytest.raises(ConfigError, match="no latent path"):
        DayGenerator(BASE, 1, duration_s=60).latent_price(0)


def test_generate_venues_gives_one_instrument_on_one_path(venues):
    path, days = venues
    tapes = generate_venues(path, {"A": VenueFlow(BASE, 1), "B": VenueFlow(THIN, 2)}, duration_s=DUR)
    check_same_instrument([(n, t.instrument) for n, t in tapes.items()])  # raises if they are two instruments
    assert tapes["A"].instrument.symbol == f"liquid_large_cap-s7-l{path.tag()}-{DUR}s"
    assert [t.instrument.venue for t in tapes.values()] == ["A", "B"]
    for (day, tape), name in zip(days, ("A", "B")):
        assert tapes[name].extra_meta["generated_symbol"] == day.instrument.symbol
        assert all(np.array_equal(getattr(tapes[name], c), getattr(tape, c)) for c in COLUMNS)
    with pytest.raises(ConfigError, match="expected a VenueFlow"):
        generate_venues(path, {"A": (BASE, 1)}, duration_s=60)
