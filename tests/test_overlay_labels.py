"""Counterfactual labels: equal to independent engine runs of the single child, and they show the planted refill signal."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from tickreplay.adapters.synthetic import REGIMES, generate_day
from tickreplay.book.fast import compute_snapshots
from tickreplay.engine import Engine, EngineConfig
from tickreplay.errors import ConfigError
from tickreplay.exchange import FeeSchedule
from tickreplay.trader.executor import ChildOrderExecutor
from tickreplay.latency import Constant, Normal
from tickreplay.overlay import build_dataset, counterfactual_costs
from tickreplay.trader import DEFAULT_DELAYS_NS, FEATURE_NAMES
from tickreplay.book.replay import ReplayData
from tickreplay.schedule.base import ChildOrder
from tickreplay.tape import EventKind

NS = 1_000_000_000
ENTRY_NS = 1_000_000
HORIZON_NS = 20 * NS


def _day(refill: float | None, seed: int, duration_s: int) -> ReplayData:
    tape = generate_day(replace(REGIMES["liquid_large_cap"], refill_half_life_s=refill), seed, duration_s=duration_s)
    return ReplayData.build(tape, compute_snapshots(tape, 5))


@pytest.fixture(scope="module")
def planted() -> ReplayData:
    return _day(3.0, 2, 1800)


def _mid(r: ReplayData, t: int) -> float:
    i = int(np.searchsorted(r.ts_ns, t, side="right")) - 1
    return (r.snapshots.bid_price[i, 0] + r.snapshots.ask_price[i, 0]) / 2


def _independent_cost(r, cfg, side, qty, style, t_send, t_decision, t_end) -> float:
    """The child through the public engine API, costed by hand: fills up to the cancel's arrival at the
    horizon end count, the rest at the mid then; bps of the mid at the decision."""
    res = Engine(r, cfg).run(ChildOrderExecutor(side, [ChildOrder(t_send, qty, style)]), start_ns=t_send, end_ns=t_end)
    f = res.fills[res.fills["exchange_ns"] <= t_end + ENTRY_NS]
    m0, m1 = _mid(r, t_decision), _mid(r, t_end)
    paid = float((f["price"] * f["size"]).sum())
    filled = int(f["size"].sum())
    fees = float(f["fee"].sum()) * r.instrument.price_scale * r.instrument.size_scale
    total = side * (paid - filled * m0) + fees + side * (qty - filled) * (m1 - m0)
    return 1e4 * total / (qty * m0)


@pytest.mark.parametrize("style,side", [("market", 1), ("market", -1), ("limit_touch", 1), ("peg_mid", -1)])
def test_costs_equal_independent_engine_runs(planted, style, side):
    r = planted
    cfg = EngineConfig(md_latency=Normal(3_000_000, 1_000_000), entry_latency=Constant(ENTRY_NS),
                       response_latency=Constant(2_000_000), fees=FeeSchedule(maker_bps=-0.2, taker_bps=0.5), seed=4)
    delays = (0, NS, 5 * NS)
    times = r.session_start_ns + np.array([100, 377, 901, 1300]) * NS
    dec = pd.DataFrame({"time_ns": times, "side": side, "quantity": 700, "style": style})
    Y = counterfactual_costs(r, dec, delays, cfg, horizon_ns=HORIZON_NS)
    assert Y.shape == (4, 3) and np.all(np.isfinite(Y))
    for n, t in enumerate(times):
        t_end = int(t) + delays[-1] + HORIZON_NS
        for k, d in enumerate(delays):
            want = _independent_cost(r, cfg, side, 700, style, int(t) + d, int(t), t_end)
            assert Y[n, k] == pytest.approx(want, rel=1e-12, abs=1e-9)
    if style == "market":
        assert np.all(Y[:, 0] > 0)  # a market child pays at least half the spread plus the taker fee


def test_bad_delay_grid_and_columns(planted):
    dec = pd.DataFrame({"time_ns": [planted.session_start_ns + 100 * NS], "side": 1, "quantity": 100,
                        "style": "market"})
    with pytest.raises(ConfigError, match="start at 0"):
        counterfactual_costs(planted, dec, (NS, 2 * NS))
    with pytest.raises(ConfigError, match="quantity"):
        counterfactual_costs(planted, dec.drop(columns="quantity"), (0, NS))


def test_build_dataset_shapes_and_drops(planted):
    r = planted
    times = np.arange(r.session_start_ns + 60 * NS, r.session_end_ns, 60 * NS)
    ds = build_dataset(r, times, 1, 300, "market", DEFAULT_DELAYS_NS, EngineConfig(), max_delay_ns=2 * NS,
                       horizon_ns=HORIZON_NS)
    fits = times + 2 * NS + HORIZON_NS <= r.session_end_ns
    assert len(ds) == fits.sum() and ds.meta["dropped"]["label_window_past_session_end"] == (~fits).sum()
    assert ds.delays_ns == (0, NS // 2, NS, 2 * NS)
    assert ds.X.shape == (len(ds), len(FEATURE_NAMES)) and ds.Y.shape == (len(ds), 4)
    assert np.all(ds.X[:, FEATURE_NAMES.index("slack_s")] == 2.0)
    dec = pd.DataFrame({"time_ns": ds.times_ns, "side": 1, "quantity": 300, "style": "market"})
    np.testing.assert_array_equal(ds.Y, counterfactual_costs(r, dec, ds.delays_ns, EngineConfig(),
                                                             horizon_ns=HORIZON_NS))
    inst = r.instrument
    assert inst.symbol.startswith("custom_") and np.all(ds.source == f"{inst.symbol}/{inst.date}")


def _after_buy_sweep(r: ReplayData, times: np.ndarray, within_ns: int) -> np.ndarray:
    """Decisions within ``within_ns`` after a buyer emptied an ask level (from the tape, not the features)."""
    swept = (r.kind == EventKind.EXECUTE_VISIBLE) & (r.side == -1) & (r.level_size == 0)
    ts = r.ts_ns[swept]
    last = np.searchsorted(ts, times, side="right") - 1
    return (last >= 0) & (times - ts[np.maximum(last, 0)] <= within_ns)


def test_planted_refill_signal_in_labels(planted):
    """With a touch that refills after a sweep, a buy waits more cheaply right after a buyer swept the asks."""
    r = planted
    times = np.arange(r.session_start_ns + 60 * NS, r.session_end_ns - 60 * NS, 3 * NS)
    ds = build_dataset(r, times, 1, 300, "market", DEFAULT_DELAYS_NS, EngineConfig(), max_delay_ns=10 * NS,
                       horizon_ns=HORIZON_NS)
    after = _after_buy_sweep(r, ds.times_ns, NS)
    saving = ds.Y[:, 0] - ds.Y[:, ds.delays_ns.index(5 * NS)]  # waiting 5 s vs now, bps (positive: cheaper)
    assert after.sum() >= 30 and (~after).sum() >= 300
    # seeds 1-4 give 0.47-0.54 bps after a sweep against 0.04-0.13 bps otherwise
    assert saving[after].mean() > 0.25
    assert saving[after].mean() > saving[~after].mean() + 0.2
