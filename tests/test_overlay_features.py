"""Overlay features: values against hand computations, and no look-ahead (later events changed → same features/decision)."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest

from tickreplay.adapters.synthetic import REGIMES, generate_day
from tickreplay.book.fast import compute_snapshots
from tickreplay.book.view import BookView
from tickreplay.engine import Engine, EngineConfig
from tickreplay.latency import Constant, Normal
from tickreplay.overlay import DelayModel
from tickreplay.trader import FEATURE_NAMES, OverlayExecutor, compute_features
from tickreplay.book.replay import ReplayData
from tickreplay.schedule.base import ChildOrder
from tickreplay.tape import EventKind, Instrument, Tape

NS = 1_000_000_000
T0 = 1_700_000_000 * NS  # 2023-11-14 22:13:20 UTC = 17:13:20 in New York


def _hand_tape() -> Tape:
    """A tiny L3 tape: a book, then a buyer-initiated trade, a cancel, a sell-initiated trade."""
    A, X, C = EventKind.ADD, EventKind.EXECUTE_VISIBLE, EventKind.PARTIAL_CANCEL
    rows = [  # (t_s, kind, side, price, size, id)
        (0.0, A, 1, 9900, 300, 1), (0.0, A, 1, 9800, 200, 2), (0.0, A, -1, 10000, 100, 3),
        (0.0, A, -1, 10100, 400, 4), (0.0, A, 1, 9700, 50, 5), (0.0, A, -1, 10200, 60, 6),
        (20.0, X, -1, 10000, 40, 3),   # buyer takes 40 of the best ask
        (25.0, C, 1, 9900, 100, 1),    # best bid shrinks to 200
        (28.0, X, 1, 9900, 200, 1),    # seller takes the whole best bid: bid → 9800
        (29.5, A, -1, 10000, 10, 7),   # ask grows to 70
    ]
    inst = Instrument(symbol="HAND", venue="T", date="2023-11-14", price_scale=10_000, tick_size=100,
                      timezone="America/New_York", source="test")
    c = list(zip(*rows))
    return Tape.from_columns(inst, ts_ns=T0 + (np.array(c[0]) * NS).astype(np.int64),
                             kind=np.array(c[1], np.int8), side=np.array(c[2], np.int8),
                             price=np.array(c[3], np.int64), size=np.array(c[4], np.int64),
                             order_id=np.array(c[5], np.int64))


def test_features_by_hand():
    tape = _hand_tape()
    r = ReplayData.build(tape, compute_snapshots(tape, 5))
    now = T0 + 30 * NS
    f = dict(zip(FEATURE_NAMES, compute_features(BookView(r, len(tape) - 1, now), 1, 140, 4 * NS)))
    # book now: bids 9800x200, 9700x50 ; asks 10000x70, 10100x400, 10200x60
    assert f["spread_ticks"] == 2.0
    assert (f["near_depth_1"], f["far_depth_1"]) == (200, 70)
    assert (f["near_depth_3"], f["far_depth_3"]) == (250, 530)
    assert f["imbalance_1"] == pytest.approx(130 / 270)
    assert f["imbalance_3"] == pytest.approx(-280 / 780)
    # OFI over the last 1 s (events after t=29 s): ask 60 → 70 at the same price: -10 (buy side: × +1)
    assert f["ofi_1s"] == -10
    # last 5 s (after t=25): bid 200@9900 → 200@9800 (price down: -200), ask +10: -10 → -210
    assert f["ofi_5s"] == -210
    # last 30 s (after t=0): ask 100 → 60 (+40), bid 300 → 200 (-100), then -200, -10
    assert f["ofi_30s"] == 40 - 100 - 200 - 10
    # mid (ticks): 99.5 → 99.0 at t=28: one change of 0.5 tick
    assert f["realised_vol_10s_ticks"] == pytest.approx(0.5)
    assert f["mid_move_10s_ticks"] == pytest.approx(-0.5)
    assert (f["trades_10s"], f["trades_60s"]) == (1, 2)
    # windows are (now - W, now]: the buyer-initiated +40 at t=20 is outside the 10 s window
    assert f["signed_volume_10s"] == -200 and f["signed_volume_60s"] == 40 - 200
    assert f["since_last_trade_s"] == pytest.approx(2.0)
    assert f["time_of_day_h"] == pytest.approx(17 + 13 / 60 + 50 / 3600)
    assert f["child_over_far_depth_1"] == pytest.approx(2.0)
    assert f["child_over_near_depth_1"] == pytest.approx(0.7)
    assert f["slack_s"] == 4.0
    # a sell: near and far swap, directional features change sign
    g = dict(zip(FEATURE_NAMES, compute_features(BookView(r, len(tape) - 1, now), -1, 140, 4 * NS)))
    assert (g["near_depth_1"], g["far_depth_1"]) == (70, 200)
    assert g["imbalance_1"] == pytest.approx(-130 / 270)
    assert g["ofi_5s"] == 210 and g["signed_volume_60s"] == 160 and g["mid_move_10s_ticks"] == pytest.approx(0.5)


def test_features_before_any_event_are_nan_not_errors():
    tape = _hand_tape()
    r = ReplayData.build(tape, compute_snapshots(tape, 5))
    f = compute_features(BookView(r, -1, T0), 1, 100, 0)
    assert f.shape == (len(FEATURE_NAMES),) and f.dtype == np.float64
    assert math.isnan(f[FEATURE_NAMES.index("spread_ticks")])


# -- no look-ahead -----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def day():
    tape = generate_day(replace(REGIMES["liquid_large_cap"], refill_half_life_s=3.0), 5, duration_s=900)
    return tape, ReplayData.build(tape, compute_snapshots(tape, 5))


def _scrambled(tape: Tape, after_ns: int, seed: int) -> Tape:
    """The tape up to ``after_ns``, then a different future: another seed's orders added after ``after_ns``
    (new order ids) with all their later events; the resting orders of ``tape`` just stay."""
    other = generate_day(replace(REGIMES["liquid_large_cap"], refill_half_life_s=3.0), seed, duration_s=900)
    late = other.ts_ns > after_ns
    new_ids = other.order_id[late & (other.kind == EventKind.ADD)]
    tail = np.flatnonzero(late & np.isin(other.order_id, new_ids))
    head = np.flatnonzero(tape.ts_ns <= after_ns)
    cols = {}
    for name in ("ts_ns", "kind", "side", "price", "size", "order_id"):
        a, b = getattr(tape, name)[head], getattr(other, name)[tail]
        cols[name] = np.concatenate([a, b + 10**9 if name == "order_id" else b])
    return Tape.from_columns(tape.instrument, extra_meta=tape.extra_meta, **cols)


def _toy_model() -> DelayModel:
    """A model that waits when the far touch is thin (fit on made-up data)."""
    rng = np.random.default_rng(0)
    X = rng.uniform(0, 1000, (400, len(FEATURE_NAMES)))
    far = X[:, FEATURE_NAMES.index("far_depth_1")]
    grid = (0, NS, 2 * NS)
    Y = np.stack([np.full(400, 1.0), 1.0 - (far < 300) * 2.0, 1.0 - (far < 150) * 3.0], axis=1)
    return DelayModel(num_boost_round=20).fit(X, Y, FEATURE_NAMES, grid)


@pytest.mark.parametrize("mode", ["scramble", "truncate"])
def test_no_look_ahead(day, mode):
    tape, r = day
    cfg = EngineConfig(md_latency=Normal(2_000_000, 500_000), entry_latency=Constant(1_000_000), seed=3)
    model = _toy_model()
    times = [r.session_start_ns + k * 37 * NS for k in range(2, 22)]
    for t in times[::4]:
        # the trader at t sees at most events with ts <= t - md latency <= t: change everything after t
        other = _scrambled(tape, t, seed=11) if mode == "scramble" else tape.slice(0, r.index_at(t) + 1)
        r2 = ReplayData.build(other, compute_snapshots(other, 5))
        assert r2.index_at(t) == r.index_at(t)
        for lat in (0, 1_000_000, 5_000_000):
            i = r.index_at(t - lat)
            a = compute_features(BookView(r, i, t), 1, 300, 5 * NS)
            b = compute_features(BookView(r2, i, t), 1, 300, 5 * NS)
            np.testing.assert_array_equal(a, b)
            assert model.best_delay(a[None], 2 * NS)[0] == model.best_delay(b[None], 2 * NS)[0]
        # and through the engine: the overlay's decision for a child due at t
        out = []
        for rr in (r, r2):
            ex = OverlayExecutor(1, [ChildOrder(t, 300, "market")], model, max_delay_ns=2 * NS,
                                 delays_ns=model.delays_ns)
            Engine(rr, cfg).run(ex, start_ns=t, end_ns=t + 10 * NS)
            out.append(ex.decisions[0])
        assert out[0].delay_ns == out[1].delay_ns
        np.testing.assert_array_equal(out[0].features, out[1].features)


def test_no_look_ahead_changes_something_later(day):
    """The scramble is not a no-op: features at a later time do change."""
    tape, r = day
    t = r.session_start_ns + 200 * NS
    other = _scrambled(tape, t, seed=11)
    r2 = ReplayData.build(other, compute_snapshots(other, 5))
    later = t + 60 * NS
    a = compute_features(BookView(r, r.index_at(later), later), 1, 300, 0)
    b = compute_features(BookView(r2, r2.index_at(later), later), 1, 300, 0)
    assert not np.array_equal(a, b, equal_nan=True)
