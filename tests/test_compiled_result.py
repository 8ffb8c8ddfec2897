"""A compiled run's result builds its frames when first read: the same frames every read, a RunResult for every
consumer (parquet, pickling to another process)."""

from __future__ import annotations

import pickle

import pandas as pd

from tickreplay.adapters.synthetic import generate_day
from tickreplay.book.fast import compute_snapshots
from tickreplay.book.replay import ReplayData
from tickreplay.engine import Engine, RunResult
from tickreplay.schedule import ParentOrder, twap
from tickreplay.trader.executor import ChildOrderExecutor

S = 1_000_000_000


def test_compiled_result_is_a_run_result_that_pickles_to_the_same_frames(tmp_path):
    tape = generate_day("liquid_large_cap", seed=2, duration_s=600)
    replay = ReplayData.build(tape, compute_snapshots(tape, 5))
    t0 = replay.session_start_ns
    parent = ParentOrder(side=1, quantity=2_000, start_ns=t0, end_ns=t0 + 500 * S)
    strategy = ChildOrderExecutor(1, twap(parent, n_children=10, style="limit_touch"), replace_after_ns=20 * S)
    res = Engine(replay).run(strategy)
    reference = Engine(replay).run(ChildOrderExecutor(1, twap(parent, n_children=10, style="limit_touch"),
                                                      replace_after_ns=20 * S), compiled=False)
    assert isinstance(res, RunResult)
    assert res.orders is res.orders  # built once
    pd.testing.assert_frame_equal(res.orders, reference.orders)
    pd.testing.assert_frame_equal(res.fills, reference.fills)
    back = pickle.loads(pickle.dumps(res))
    assert type(back) is RunResult
    pd.testing.assert_frame_equal(back.orders, reference.orders)
    pd.testing.assert_frame_equal(back.fills, reference.fills)
    res.write_parquet(tmp_path)
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "fills.parquet"), reference.fills)
