"""The signal-free martingale market: a consistent L2 book of constant shape, fair ±1-tick shifts, determinism,
and market children that always fill at the far touch (so waiting costs a pure martingale increment)."""

from __future__ import annotations

import numpy as np
import pytest

from tickreplay.adapters.null_market import generate_martingale_market
from tickreplay.book import L2Book
from tickreplay.book.fast import compute_snapshots
from tickreplay.engine import Engine, EngineConfig
from tickreplay.errors import ConfigError
from tickreplay.trader.executor import ChildOrderExecutor
from tickreplay.latency import Constant
from tickreplay.book.replay import ReplayData
from tickreplay.schedule.base import ChildOrder
from tickreplay.tape import EventKind

NS = 1_000_000_000
TICK = 100
PROFILE = (5_000, 6_000, 7_000, 8_000)


def _ends(tape) -> np.ndarray:
    """Index of the last event of each timestamp: the book as anyone can see it at that time."""
    return np.flatnonzero(np.r_[tape.ts_ns[1:] != tape.ts_ns[:-1], True])


@pytest.fixture(scope="module")
def tape():
    return generate_martingale_market(3, 1800.0, shift_rate_per_s=0.2)


def test_replayed_book_is_never_crossed_and_keeps_its_shape(tape):
    snaps = compute_snapshots(tape, 6)
    assert np.count_nonzero(tape.kind == EventKind.SNAPSHOT_BEGIN) == 1 and tape.kind[0] == EventKind.SNAPSHOT_BEGIN
    after_open = np.flatnonzero(tape.kind == EventKind.SNAPSHOT_END)[0]
    bid, ask = snaps.bid_price[after_open:, 0], snaps.ask_price[after_open:, 0]
    assert np.all(snaps.bid_size[after_open:, 0] > 0) and np.all(snaps.ask_size[after_open:, 0] > 0)
    assert np.all((ask - bid >= TICK) & (ask - bid <= 2 * TICK))  # every row: two-sided, never crossed
    end = _ends(tape)
    bp, ap, bs, asz = (a[end] for a in (snaps.bid_price, snaps.ask_price, snaps.bid_size, snaps.ask_size))
    assert np.all(ap[:, 0] - bp[:, 0] == TICK)  # one tick of spread at every time: never crossed nor locked
    assert np.all(bp[:, :5] == bp[:, :1] - TICK * np.arange(5)) and np.all(ap[:, :5] == ap[:, :1] + TICK * np.arange(5))
    assert np.all(bs[:, 1:5] == PROFILE) and np.all(asz[:, 1:5] == PROFILE)
    assert np.all(bs[:, 5] == 0) and np.all(asz[:, 5] == 0)  # five levels, no more
    touch = np.r_[bs[:, 0], asz[:, 0]]
    assert touch.min() >= 2_000 and touch.max() <= 8_000 and np.all(touch % 100 == 0)
    assert len(np.unique(touch)) > 30  # the touch does vary


def test_a_wider_spread_and_shallower_book_keep_their_shape_too():
    t = generate_martingale_market(4, 600.0, spread_ticks=2, depth_profile=(900,), touch_size_range=(100, 300),
                                   shift_rate_per_s=0.5)
    snaps = compute_snapshots(t, 3)
    end = _ends(t)
    spread = (snaps.ask_price[:, 0] - snaps.bid_price[:, 0])[np.flatnonzero(t.kind == EventKind.SNAPSHOT_END)[0]:]
    assert np.all((spread >= 2 * TICK) & (spread <= 3 * TICK))  # every row after the opening snapshot
    assert np.all(snaps.ask_price[end, 0] - snaps.bid_price[end, 0] == 2 * TICK)
    assert np.all(snaps.bid_size[end, 1] == 900) and np.all(snaps.ask_size[end, 2] == 0)
    assert np.count_nonzero(np.diff(snaps.bid_price[end, 0])) > 200  # it did shift


def test_fast_snapshots_agree_with_an_l2book_replay(tape):
    snaps = compute_snapshots(tape, 5)
    book = L2Book()
    for i, (k, s, p, q) in enumerate(zip(tape.kind.tolist(), tape.side.tolist(), tape.price.tolist(),
                                         tape.size.tolist())):
        book.apply(k, s, p, q)
        if i % 97 == 0 or i == len(tape) - 1:
            top = book.top(5)
            for name in ("bid_price", "bid_size", "ask_price", "ask_size"):
                assert np.array_equal(getattr(top, name), getattr(snaps, name)[i]), (i, name)
    assert not book.is_crossed()


def test_trades_print_at_the_touch_and_change_no_level(tape):
    snaps = compute_snapshots(tape, 1)
    i = np.flatnonzero(tape.kind == EventKind.TRADE)
    assert 0.4 * 1800 < len(i) < 0.6 * 1800  # rate 0.5/s
    best = np.where(tape.side[i] == 1, snaps.bid_price[i, 0], snaps.ask_price[i, 0])
    assert np.array_equal(tape.price[i], best)
    assert np.array_equal(snaps.bid_size[i], snaps.bid_size[i - 1])
    assert np.array_equal(snaps.ask_size[i], snaps.ask_size[i - 1])
    assert set(np.unique(tape.side[i])) == {1, -1}
    assert tape.size[i].min() >= 100 and tape.size[i].max() <= 500


def test_mid_moves_by_fair_independent_one_tick_steps():
    t = generate_martingale_market(7, 20_000.0, shift_rate_per_s=1.0, jitter_rate_per_s=0.5, trade_rate_per_s=0.1)
    snaps = compute_snapshots(t, 1)
    end = _ends(t)
    mid2 = (snaps.bid_price[end, 0] + snaps.ask_price[end, 0])
    step = np.diff(mid2) // 2
    moved = step != 0
    inc = step[moved] // TICK
    n = len(inc)
    assert set(np.unique(inc)) == {-1, 1}
    assert abs(n - 20_000) < 5 * np.sqrt(20_000)  # Poisson count at 1/s
    assert abs(inc.mean()) < 4 / np.sqrt(n)  # fair coin
    assert abs(np.corrcoef(inc[:-1], inc[1:])[0, 1]) < 4 / np.sqrt(n)  # independent increments
    # the book just before a shift says nothing about its direction: touch imbalance is uncorrelated with it
    before = end[:-1][moved]
    bid, ask = snaps.bid_size[before, 0], snaps.ask_size[before, 0]
    imb = (bid - ask) / (bid + ask)
    assert abs(np.corrcoef(imb, inc)[0, 1]) < 4 / np.sqrt(n)
    gaps_s = np.diff(t.ts_ns[end[1:][moved]]) / NS
    assert abs(gaps_s.mean() - 1.0) < 4 / np.sqrt(n) and abs(gaps_s.std() - 1.0) < 0.05  # exponential gaps


def test_same_seed_same_tape_other_seed_other_tape():
    a, b = generate_martingale_market(5, 600.0), generate_martingale_market(5, 600.0)
    c = generate_martingale_market(6, 600.0)
    assert all(np.array_equal(x, y) for x, y in zip(a.columns().values(), b.columns().values()))
    assert a.extra_meta == b.extra_meta
    assert len(a) != len(c) or not np.array_equal(a.price, c.price)
    for col in ("ts_ns", "price", "size"):
        assert getattr(a, col).dtype == np.int64
    assert np.all(np.diff(a.ts_ns) >= 0)
    assert a.ts_ns[0] == a.extra_meta["session_start_ns"] and a.ts_ns[-1] < a.extra_meta["session_end_ns"]
    assert a.extra_meta["session_end_ns"] - a.extra_meta["session_start_ns"] == 600 * NS


def test_a_whole_parent_at_once_fills_at_the_far_touch():
    """Ten market children of 200 sent at the same instant (worst case for our consumed liquidity) all fill at
    the best ask as of their arrival: no child walks the book, so a delay changes the cost by the mid move only."""
    t = generate_martingale_market(2, 900.0, shift_rate_per_s=0.5)
    r = ReplayData.build(t, compute_snapshots(t, 5))
    cfg = EngineConfig(entry_latency=Constant(1_000_000))
    for k in range(20):
        t0 = r.session_start_ns + (30 + 40 * k) * NS
        children = [ChildOrder(t0, 200, "market", index=j) for j in range(10)]
        res = Engine(r, cfg).run(ChildOrderExecutor(1, children), start_ns=t0, end_ns=t0 + 5 * NS)
        f = res.fills
        assert f["size"].sum() == 2_000
        i = np.searchsorted(r.ts_ns, f["exchange_ns"].to_numpy(), side="right") - 1
        assert np.array_equal(f["price"].to_numpy(), r.snapshots.ask_price[i, 0])


@pytest.mark.parametrize("kw,match", [
    ({"duration_s": 0}, "duration_s"),
    ({"spread_ticks": 0}, "spread_ticks"),
    ({"start_price": 100_050}, "start_price"),
    ({"touch_size_range": (2_050, 8_000)}, "touch_size_range"),
    ({"depth_profile": (5_000, 0)}, "depth_profile"),
    ({"shift_rate_per_s": -1.0}, "shift_rate_per_s"),
    ({"start_price": 600, "shift_rate_per_s": 5.0}, "no room"),
])
def test_bad_parameters_are_named(kw, match):
    args = {"duration_s": 600.0, **kw}
    with pytest.raises(ConfigError, match=match):
        generate_martingale_market(1, **args)


def test_bad_seed_is_refused():
    with pytest.raises(ConfigError, match="seed"):
        generate_martingale_market(-1, 60.0)
