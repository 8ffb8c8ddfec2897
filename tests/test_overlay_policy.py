"""Overlay executor: off = byte-identical to the static executor; delays capped by slack, never dropping a child."""

from __future__ import annotations

import io
from dataclasses import replace

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tickreplay.adapters.synthetic import REGIMES, generate_day
from tickreplay.book.fast import compute_snapshots
from tickreplay.engine import Engine, EngineConfig
from tickreplay.errors import ConfigError
from tickreplay.trader.executor import ChildOrderExecutor
from tickreplay.latency import Constant, Normal
from tickreplay.overlay import DelayModel
from tickreplay.trader import DEFAULT_DELAYS_NS, FEATURE_NAMES, OverlayExecutor
from tickreplay.book.replay import ReplayData
from tickreplay.schedule import ParentOrder, twap
from tickreplay.schedule.base import ChildOrder

NS = 1_000_000_000


@pytest.fixture(scope="module")
def replay() -> ReplayData:
    tape = generate_day(replace(REGIMES["liquid_large_cap"], refill_half_life_s=3.0), 3, duration_s=1200)
    return ReplayData.build(tape, compute_snapshots(tape, 5))


CFG = EngineConfig(md_latency=Normal(2_000_000, 500_000), entry_latency=Normal(1_000_000, 300_000),
                   response_latency=Constant(1_500_000), seed=8)


def _children(r: ReplayData, style: str, every_s: int = 20):
    start = r.session_start_ns + 60 * NS
    parent = ParentOrder(1, 6_000, start, start + 600 * NS)
    return twap(parent, interval_ns=every_s * NS, style=style)


def _parquet(df: pd.DataFrame) -> bytes:
    buf = io.BytesIO()
    pq.write_table(pa.Table.from_pandas(df, preserve_index=False), buf)
    return buf.getvalue()


def _model() -> DelayModel:
    rng = np.random.default_rng(0)
    X = rng.uniform(0, 1000, (300, len(FEATURE_NAMES)))
    Y = np.tile(np.linspace(1.0, 0.0, len(DEFAULT_DELAYS_NS)), (300, 1))  # waiting always looks cheaper
    return DelayModel(num_boost_round=5).fit(X, Y, FEATURE_NAMES, DEFAULT_DELAYS_NS)


@pytest.mark.parametrize("style", ["market", "limit_touch"])
def test_overlay_off_is_byte_identical(replay, style):
    kids = _children(replay, style)
    start = kids[0].time_ns
    static = Engine(replay, CFG).run(ChildOrderExecutor(1, kids, 15 * NS, 2, True), start_ns=start)
    model = _model()
    variants = [
        OverlayExecutor(1, kids, None, max_delay_ns=10 * NS, replace_after_ns=15 * NS, max_replaces=2,
                        finish_with_market=True),
        OverlayExecutor(1, kids, model, max_delay_ns=0, replace_after_ns=15 * NS, max_replaces=2,
                        finish_with_market=True),
        OverlayExecutor(1, kids, chooser=lambda i, x, t: 10 * NS, max_delay_ns=0, replace_after_ns=15 * NS,
                        max_replaces=2, finish_with_market=True),
    ]
    assert len(static.fills) > 0
    for ex in variants:
        res = Engine(replay, CFG).run(ex, start_ns=start)
        pd.testing.assert_frame_equal(res.orders, static.orders)
        pd.testing.assert_frame_equal(res.fills, static.fills)
        assert _parquet(res.orders) == _parquet(static.orders)
        assert _parquet(res.fills) == _parquet(static.fills)
        assert ex.decisions == []


def test_model_delays_are_capped_by_slack_and_never_drop(replay):
    kids = _children(replay, "market", every_s=3)  # 3 s apart: a 10 s wish becomes the grid's 2 s
    ex = OverlayExecutor(1, kids, _model(), max_delay_ns=10 * NS)
    res = Engine(replay, CFG).run(ex, start_ns=kids[0].time_ns)
    table = ex.decision_table()
    assert len(table) == len(kids) and list(table.columns[:4]) == ["child_index", "time_ns", "slack_ns", "delay_ns"]
    assert np.all(table["delay_ns"] <= table["slack_ns"])
    assert set(table["delay_ns"].iloc[:-1]) == {2 * NS}  # slack 3 s
    assert table["delay_ns"].iloc[-1] == 10 * NS  # the last child: slack up to the run's end
    new = res.orders[res.orders["action"] == "new"]
    assert len(new) == len(kids) and new["quantity"].sum() == 6_000  # nothing dropped
    sent = np.sort(new["decision_ns"].to_numpy())
    np.testing.assert_array_equal(sent, np.sort(table["time_ns"].to_numpy() + table["delay_ns"].to_numpy()))


def test_chooser_is_capped_and_snapped_to_the_grid(replay):
    kids = _children(replay, "market")
    calls = []

    def chooser(i, x, t):
        calls.append((i, x.shape, t))
        return [700_000_000, 4 * NS, 60 * NS, -5][i % 4]

    ex = OverlayExecutor(1, kids, chooser=chooser, max_delay_ns=5 * NS)
    res = Engine(replay, CFG).run(ex, start_ns=kids[0].time_ns)
    got = [d.delay_ns for d in ex.decisions]
    assert got == [[NS // 2, 2 * NS, 5 * NS, 0][i % 4] for i in range(len(kids))]
    assert calls[0] == (0, (len(FEATURE_NAMES),), kids[0].time_ns)
    assert (res.orders["action"] == "new").sum() == len(kids)


def test_last_child_never_delayed_past_the_run_end(replay):
    kids = _children(replay, "market")
    end = kids[-1].time_ns + 3 * NS
    ex = OverlayExecutor(1, kids, chooser=lambda i, x, t: 10 * NS, max_delay_ns=10 * NS)
    res = Engine(replay, CFG).run(ex, start_ns=kids[0].time_ns, end_ns=end)
    assert ex.decisions[-1].delay_ns == 2 * NS and ex.decisions[-1].slack_ns == 3 * NS
    assert (res.orders["action"] == "new").sum() == len(kids)


def test_model_must_fit_the_overlay():
    rng = np.random.default_rng(0)
    names = list(FEATURE_NAMES[:-1]) + ["other"]
    m = DelayModel(num_boost_round=2).fit(rng.uniform(size=(60, len(names))), rng.uniform(size=(60, 2)), names,
                                          (0, NS))
    with pytest.raises(ConfigError, match=r"feature list.*missing \['slack_s'\]"):
        OverlayExecutor(1, [], m, max_delay_ns=NS)
    with pytest.raises(ConfigError, match="not both"):
        OverlayExecutor(1, [], m, max_delay_ns=NS, chooser=lambda i, x, t: 0)


def test_slack_runs_to_the_next_distinct_scheduled_time(replay):
    t = replay.session_start_ns + 100 * NS
    kids = [ChildOrder(t, 100, "market", index=0), ChildOrder(t, 100, "market", index=1),
            ChildOrder(t + 4 * NS, 100, "market", index=2)]
    ex = OverlayExecutor(1, kids, chooser=lambda i, x, now: 10 * NS, max_delay_ns=10 * NS, end_ns=t + 5 * NS)
    Engine(replay, CFG).run(ex, start_ns=t)
    assert [(d.child_index, d.slack_ns, d.delay_ns) for d in ex.decisions] == \
        [(0, 4 * NS, 2 * NS), (1, 4 * NS, 2 * NS), (2, NS, NS)]
