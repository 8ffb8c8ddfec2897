"""The overlay dataset's fast paths against their references, on three tapes (LOBSTER AMZN L3, a generated day,
Binance L2), bit for bit, NaNs included:

* batched compiled label runs (engine_kernel.run_labels) against one Python engine run per (decision, delay),
  over random decisions (times, sides, quantities, styles, offsets), delay grids, horizons, replace intervals and
  latency models;
* the features of many decisions at once (compute_features_many) against compute_features on one view each.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import lobster_pair, shared_file
from tickreplay.adapters.binance import read_binance
from tickreplay.adapters.lobster import read_lobster
from tickreplay.adapters.synthetic import generate_day
from tickreplay.book.fast import compute_snapshots
from tickreplay.book.replay import ReplayData
from tickreplay.engine import EngineConfig
from tickreplay.exchange import FeeSchedule, QueueModel
from tickreplay.latency import Burst, Constant, LogNormal, Normal
from tickreplay.book.view import BookView
from tickreplay.overlay.labels import counterfactual_costs
from tickreplay.trader.features import compute_features, compute_features_many

MS = 1_000_000
S = 1_000_000_000


@pytest.fixture(scope="module")
def tapes():
    ing = read_lobster(*lobster_pair("AMZN", 5))
    amzn = ReplayData.build(ing.tape, ing.snapshots)
    tape = generate_day("liquid_large_cap", seed=4, duration_s=900)
    synthetic = ReplayData.build(tape, compute_snapshots(tape, 5))
    ing = read_binance([shared_file("binance", "btcusdt_20240808.gz")], levels=5)
    return {"amzn": amzn, "synthetic": synthetic, "binance": ReplayData.build(ing.tape, ing.snapshots)}


def latency():
    return st.one_of(st.builds(Constant, st.integers(0, 20 * MS)),
                     st.builds(Normal, st.integers(0, 10 * MS), st.integers(0, 10 * MS)),
                     st.builds(LogNormal, st.integers(1, 10 * MS), st.integers(0, 10 * MS)))


configs = st.builds(
    EngineConfig, md_latency=latency(), entry_latency=latency(), response_latency=latency(),
    allow_overtaking=st.booleans(),
    queue_model=st.sampled_from([QueueModel("risk_averse"), QueueModel("power", 2.0), QueueModel("log")]),
    fees=st.sampled_from([FeeSchedule(), FeeSchedule(maker_bps=-0.2, taker_bps=0.3, taker_per_unit=0.001)]),
    seed=st.integers(0, 2**32))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                 HealthCheck.function_scoped_fixture])
@given(data=st.data(), config=configs, name=st.sampled_from(["amzn", "synthetic", "binance"]))
def test_batched_labels_equal_one_python_run_each(tapes, data, config, name):
    r = tapes[name]
    s0, s1 = r.session_start_ns, r.session_end_ns
    n = data.draw(st.integers(1, 12))
    times = sorted(data.draw(st.lists(st.integers(s0 - S, s1 - 40 * S), min_size=n, max_size=n)))
    decisions = pd.DataFrame({
        "time_ns": times,
        "side": data.draw(st.lists(st.sampled_from([1, -1]), min_size=n, max_size=n)),
        "quantity": data.draw(st.lists(st.integers(1, 2_000), min_size=n, max_size=n)),
        "style": data.draw(st.lists(st.sampled_from(["market", "limit_touch", "limit_offset", "peg_mid"]),
                                    min_size=n, max_size=n)),
        "offset_ticks": data.draw(st.lists(st.integers(-3, 5), min_size=n, max_size=n)),
    })
    delays = data.draw(st.sampled_from([(0,), (0, 500 * MS, 2 * S), (0, 10 * MS, S, 5 * S, 10 * S)]))
    horizon = data.draw(st.sampled_from([S, 20 * S]))
    replace_after = data.draw(st.sampled_from([50 * MS, 2 * S, 30 * S]))
    fast = counterfactual_costs(r, decisions, delays, config, horizon, replace_after)
    slow = counterfactual_costs(r, decisions, delays, config, horizon, replace_after, compiled=False)
    np.testing.assert_array_equal(fast, slow)


@pytest.mark.parametrize("style", ["limit_touch", "market"])
def test_large_children(tapes, style):
    """Large children: passive ones re-priced every 10 ms (many requests per run, beyond the first room), market
    ones walking the book (several fills per run)."""
    r = tapes["amzn"]
    times = r.session_start_ns + np.arange(1, 30) * 600 * S
    decisions = pd.DataFrame({"time_ns": times, "side": 1, "quantity": 5_000, "style": style})
    cfg = EngineConfig(md_latency=Normal(MS, MS), entry_latency=Normal(MS, MS // 2), seed=9)
    fast = counterfactual_costs(r, decisions, (0, 5 * S), cfg, 60 * S, 10 * MS)
    slow = counterfactual_costs(r, decisions, (0, 5 * S), cfg, 60 * S, 10 * MS, compiled=False)
    np.testing.assert_array_equal(fast, slow)
    assert np.isfinite(fast).all()


def test_latencies_the_kernel_cannot_draw_use_the_python_runs(tapes):
    r = tapes["synthetic"]
    decisions = pd.DataFrame({"time_ns": [r.session_start_ns + 60 * S], "side": [1], "quantity": [100],
                              "style": ["market"]})
    burst = EngineConfig(entry_latency=Burst(MS, 10, S).on_tape(r.ts_ns))
    np.testing.assert_array_equal(counterfactual_costs(r, decisions, (0, S), burst),
                                  counterfactual_costs(r, decisions, (0, S), burst, compiled=False))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                 HealthCheck.function_scoped_fixture])
@given(data=st.data(), name=st.sampled_from(["amzn", "synthetic", "binance"]), side=st.sampled_from([1, -1]),
       quantity=st.integers(1, 5_000), slack=st.integers(0, 60 * S))
def test_features_of_many_decisions_equal_one_view_each(tapes, data, name, side, quantity, slack):
    """compute_features_many (the dataset build) against compute_features on one BookView per decision."""
    r = tapes[name]
    n = data.draw(st.integers(1, 30))
    idx = np.array(data.draw(st.lists(st.integers(-1, len(r) - 1), min_size=n, max_size=n)), np.int64)
    lag = np.array(data.draw(st.lists(st.integers(0, 120 * S), min_size=n, max_size=n)), np.int64)
    now = np.where(idx >= 0, r.ts_ns[np.maximum(idx, 0)], r.ts_ns[0] - S) + lag
    many = compute_features_many(r, idx, now, side, quantity, slack)
    one = np.array([compute_features(BookView(r, int(i), int(t)), side, quantity, slack)
                    for i, t in zip(idx.tolist(), now.tolist())])
    assert many.tobytes() == one.tobytes()
