"""The compiled run (tickreplay.engine_kernel) against the Python engine: the same orders and fills, exactly.

ChildOrderExecutor and PovExecutor (children sent and policy state too).

Random schedules (styles, sizes, times, replace/max_replaces/finish_with_market, sides), latency models with
jitter, seeds, overtaking and queue models, on three tapes: the LOBSTER AMZN level-5 day (L3), a generated
synthetic day (L3) and the Binance BTCUSDT sample (L2).
"""

from __future__ import annotations

import dataclasses

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import lobster_pair, shared_file
from tickreplay import engine_kernel
from tickreplay.adapters.binance import read_binance
from tickreplay.adapters.lobster import read_lobster
from tickreplay.adapters.synthetic import generate_day
from tickreplay.book.fast import compute_snapshots
from tickreplay.book.replay import ReplayData
from tickreplay.engine import Engine, EngineConfig, Strategy
from tickreplay.exchange import FeeSchedule, QueueModel
from tickreplay.latency import Burst, Constant, LogNormal, Normal
from tickreplay.schedule import ChildOrder, PovPolicy
from tickreplay.tape import EventKind
from tickreplay.trader.executor import ChildOrderExecutor
from tickreplay.trader.pov import PovExecutor

MS = 1_000_000
S = 1_000_000_000


@pytest.fixture(scope="module")
def amzn():
    ing = read_lobster(*lobster_pair("AMZN", 5))
    return ReplayData.build(ing.tape, ing.snapshots)


@pytest.fixture(scope="module")
def synthetic():
    tape = generate_day("liquid_large_cap", seed=3, duration_s=900)
    return ReplayData.build(tape, compute_snapshots(tape, 5))


@pytest.fixture(scope="module")
def binance():
    ing = read_binance([shared_file("binance", "btcusdt_20240808.gz")], levels=5)
    return ReplayData.build(ing.tape, ing.snapshots)


def latency():
    return st.one_of(
        st.builds(Constant, st.integers(0, 50 * MS)),
        st.builds(Normal, st.integers(0, 20 * MS), st.integers(0, 20 * MS)),
        st.builds(LogNormal, st.integers(1, 20 * MS), st.integers(0, 20 * MS)),
    )


configs = st.builds(
    EngineConfig, md_latency=latency(), entry_latency=latency(), response_latency=latency(),
    allow_overtaking=st.booleans(),
    queue_model=st.sampled_from([QueueModel("risk_averse"), QueueModel("power", 2.0), QueueModel("log")]),
    fees=st.sampled_from([FeeSchedule(), FeeSchedule(maker_bps=-0.2, taker_bps=0.3, taker_per_unit=0.001)]),
    seed=st.integers(0, 2**32),
)


@st.composite
def executors(draw, replay: ReplayData):
    """A ChildOrderExecutor over a random window of the session, and the run's start."""
    s0, s1 = replay.session_start_ns, replay.session_end_ns
    span = draw(st.sampled_from([2 * S, 60 * S, 900 * S, s1 - s0]))
    origin = draw(st.sampled_from([s0, s0 + (s1 - s0) // 2, s1 - span // 2]))
    n = draw(st.integers(1, 25))
    children = []
    for k in range(n):
        style = draw(st.sampled_from(["market", "limit_touch", "limit_offset", "peg_mid"]))
        children.append(ChildOrder(
            time_ns=origin + draw(st.integers(-S, span)), quantity=draw(st.integers(1, 400)),
            style=style, offset_ticks=draw(st.integers(-3, 6)) if style == "limit_offset" else 0,
            parent_id=draw(st.integers(1, 3)), index=k))
    ex = ChildOrderExecutor(
        draw(st.sampled_from([1, -1])), children,
        replace_after_ns=draw(st.sampled_from([20 * MS, 300 * MS, 2 * S, 30 * S])),
        max_replaces=draw(st.one_of(st.none(), st.integers(0, 4))), finish_with_market=draw(st.booleans()))
    start = draw(st.sampled_from([None, origin]))
    end = draw(st.sampled_from([None, origin + span // 2]))
    return ex, start, end


def assert_same(replay: ReplayData, config: EngineConfig, ex: ChildOrderExecutor, start, end) -> None:
    assert engine_kernel.supports(replay, config, ex)
    engine = Engine(replay, config)
    twin = ChildOrderExecutor(ex.side, ex.children, ex.replace_after_ns, ex.max_replaces, ex.finish_with_market)
    slow = engine.run(twin, start_ns=start, end_ns=end, compiled=False)
    fast = engine.run(ex, start_ns=start, end_ns=end)
    pd.testing.assert_frame_equal(fast.orders, slow.orders, check_exact=True)
    pd.testing.assert_frame_equal(fast.fills, slow.fills, check_exact=True)
    assert ex.unpriced == twin.unpriced


SETTINGS = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@settings(max_examples=60, **SETTINGS)
@given(data=st.data(), config=configs)
def test_same_as_python_on_amzn_l3(amzn, data, config):
    assert_same(amzn, config, *data.draw(executors(amzn)))


@settings(max_examples=60, **SETTINGS)
@given(data=st.data(), config=configs)
def test_same_as_python_on_synthetic_day(synthetic, data, config):
    assert_same(synthetic, config, *data.draw(executors(synthetic)))


@settings(max_examples=60, **SETTINGS)
@given(data=st.data(), config=configs)
def test_same_as_python_on_binance_l2(binance, data, config):
    assert_same(binance, config, *data.draw(executors(binance)))


def test_the_benchmark_days_are_the_same(amzn):
    """The passive cancel-replace day and a swept peg day: many modifies, passive fills, unknown queues."""
    s0 = amzn.session_start_ns
    children = [ChildOrder(s0 + k * 60 * S, 100, style, 1, 1, k)
                for k, style in enumerate(["limit_touch", "peg_mid", "limit_offset"] * 130)]
    cfg = EngineConfig(md_latency=Normal(MS, MS // 5), entry_latency=Normal(2 * MS, MS // 2),
                       response_latency=LogNormal(MS, MS // 5), seed=5)
    assert_same(amzn, cfg, ChildOrderExecutor(1, children, 30 * S), None, None)
    assert_same(amzn, cfg, ChildOrderExecutor(-1, children, 10 * S, 3, True), None, None)


def test_a_run_larger_than_its_first_guess_is_redone_with_more_room(amzn):
    """Five passive children re-priced every 20 ms for ten minutes: many requests per child."""
    s0 = amzn.session_start_ns
    children = [ChildOrder(s0 + S, 50, "limit_offset", k, 1, k) for k in range(2, 7)]
    cfg = EngineConfig(md_latency=Normal(MS, MS), entry_latency=Normal(MS, MS), response_latency=Constant(MS))
    res = Engine(amzn, cfg).run(ChildOrderExecutor(1, children, 20 * MS), end_ns=s0 + 600 * S)
    assert len(res.orders) > 4 * len(children) + 64  # beyond the first allocation
    assert_same(amzn, cfg, ChildOrderExecutor(1, children, 20 * MS), None, s0 + 600 * S)


def test_other_strategies_and_latencies_run_on_the_python_loop(synthetic):
    class Mine(ChildOrderExecutor):
        pass

    class Other(Strategy):  # no children at all
        pass

    children = [ChildOrder(synthetic.session_start_ns, 10, "market")]
    cfg = EngineConfig()
    assert engine_kernel.supports(synthetic, cfg, ChildOrderExecutor(1, children))
    assert not engine_kernel.supports(synthetic, cfg, Mine(1, children))
    assert not engine_kernel.supports(synthetic, cfg, Other())
    burst = dataclasses.replace(cfg, entry_latency=Burst(MS, 10, S).on_tape(synthetic.ts_ns))
    assert not engine_kernel.supports(synthetic, burst, ChildOrderExecutor(1, children))


def test_a_used_executor_or_an_instance_subscription_runs_on_the_python_loop(amzn):
    """The compiled loop starts from a fresh executor with its class's subscription; anything else would differ
    from the Python loop (which keeps an executor's state across runs and wakes on the instance's kinds)."""
    s0 = amzn.session_start_ns
    children = [ChildOrder(s0 + k * S, 100, "limit_touch", 0, 1, k) for k in range(1, 4)]
    cfg = EngineConfig(md_latency=Normal(MS, MS), entry_latency=Normal(2 * MS, MS))
    used = ChildOrderExecutor(1, children, 5 * S)
    Engine(amzn, cfg).run(used, end_ns=s0 + 2 * S, compiled=False)  # ends with orders open: state left on it
    assert not used.fresh and not engine_kernel.supports(amzn, cfg, used)
    subscribed = ChildOrderExecutor(1, children, 5 * S)
    subscribed.subscribe = (EventKind.EXECUTE_VISIBLE,)
    assert not engine_kernel.supports(amzn, cfg, subscribed)
    ref = ChildOrderExecutor(1, children, 5 * S)
    ref.subscribe = (EventKind.EXECUTE_VISIBLE,)
    got = Engine(amzn, cfg).run(subscribed, end_ns=s0 + 60 * S)
    want = Engine(amzn, cfg).run(ref, end_ns=s0 + 60 * S, compiled=False)
    pd.testing.assert_frame_equal(got.fills, want.fills)
    pd.testing.assert_frame_equal(got.orders, want.orders)


@st.composite
def pov_executors(draw, replay: ReplayData):
    """A PovExecutor over a random part of the session (policy window, no-trade windows, style, limits)."""
    s0, s1 = replay.session_start_ns, replay.session_end_ns
    a = draw(st.integers(s0 - S, s1))
    b = draw(st.integers(a + 1, s1 + S))
    lot = draw(st.sampled_from([1, 10]))
    min_child = draw(st.integers(1, 300))
    no_trade = draw(st.lists(st.tuples(st.integers(s0, s1), st.integers(1, 600 * S)).map(lambda w: (w[0], w[0] + w[1])),
                             max_size=2))
    policy = PovPolicy(draw(st.floats(0.001, 0.5)), min_child, min_child + draw(st.integers(lot, 2_000)),
                       lot * draw(st.integers(1, 5_000)), lot, draw(st.sampled_from([None, a])),
                       draw(st.sampled_from([None, b])), tuple(no_trade))
    style = draw(st.sampled_from(["market", "limit_touch", "limit_offset", "peg_mid"]))
    ex = PovExecutor(draw(st.sampled_from([1, -1])), policy, style, draw(st.integers(-2, 4)), draw(st.integers(1, 3)),
                     draw(st.sampled_from([20 * MS, 2 * S, 30 * S])), draw(st.one_of(st.none(), st.integers(0, 3))),
                     draw(st.booleans()))
    return ex, draw(st.sampled_from([None, a])), draw(st.sampled_from([None, b]))


def _twin(ex: PovExecutor) -> PovExecutor:
    p = ex.policy
    return PovExecutor(ex.side, PovPolicy(p.target_rate, p.min_child, p.max_child, p.cap, p.lot_size, p.start_ns,
                                          p.end_ns, p.no_trade), ex.style, ex.offset_ticks, ex.parent_id,
                       ex.replace_after_ns, ex.max_replaces, ex.finish_with_market)


@settings(max_examples=40, **SETTINGS)
@given(data=st.data(), config=configs, name=st.sampled_from(["amzn", "synthetic", "binance"]))
def test_pov_same_as_python(amzn, synthetic, binance, data, config, name):
    """PovExecutor on the compiled loop: same orders, fills, children sent and policy state as the Python loop."""
    replay = {"amzn": amzn, "synthetic": synthetic, "binance": binance}[name]
    ex, start, end = data.draw(pov_executors(replay))
    assert engine_kernel.supports(replay, config, ex)
    twin = _twin(ex)
    engine = Engine(replay, config)
    slow = engine.run(twin, start_ns=start, end_ns=end, compiled=False)
    fast = engine.run(ex, start_ns=start, end_ns=end)
    pd.testing.assert_frame_equal(fast.orders, slow.orders, check_exact=True)
    pd.testing.assert_frame_equal(fast.fills, slow.fills, check_exact=True)
    assert ex.children == twin.children and ex.unpriced == twin.unpriced
    assert (ex.policy.market_volume, ex.policy.sent, ex.policy.last_time_ns) == (
        twin.policy.market_volume, twin.policy.sent, twin.policy.last_time_ns)


def test_a_used_pov_policy_runs_on_the_python_loop(synthetic):
    ex = PovExecutor(1, PovPolicy(0.1, 10, 100, 1_000))
    assert engine_kernel.supports(synthetic, EngineConfig(), ex)
    Engine(synthetic).run(ex)
    assert ex.policy.last_time_ns is not None and not engine_kernel.supports(synthetic, EngineConfig(), ex)
