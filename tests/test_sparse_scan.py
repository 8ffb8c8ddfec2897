"""The compiled loop's sparse queue scan (engine_kernel._advance_sparse) against exchange.advance_level run on
every event: the same status, event, fill kind, pending trade volume and own-queue state, exactly.

The sparse scan skips the events that cannot act on the queue (per-level event lists and per-block bounds built
once per tape); a skipped event that could act would change a fill or a queue position here. Random queues at
random prices (in the book, deeper than the window, through the touch), spans, models and used volumes, on the
LOBSTER AMZN level-5 day (L3, a 5-level window), a generated day (L3, snapshots at the start) and the Binance
BTCUSDT sample (L2: level-sets, trade prints, a window).
"""

from __future__ import annotations

import numba as nb
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import lobster_pair, shared_file
from tickreplay import engine_kernel as ek
from tickreplay.adapters.binance import read_binance
from tickreplay.adapters.lobster import read_lobster
from tickreplay.adapters.synthetic import generate_day
from tickreplay.book.fast import compute_snapshots
from tickreplay.book.replay import ReplayData
from tickreplay.exchange import MODEL_L3, MODEL_LOG, MODEL_POWER, MODEL_RISK_AVERSE, advance_level
from tickreplay.tape import TRADED_KINDS


@pytest.fixture(scope="module")
def tapes() -> dict[str, ReplayData]:
    ing = read_lobster(*lobster_pair("AMZN", 5))
    syn = generate_day("liquid_large_cap", seed=5, duration_s=600)
    bn = read_binance([shared_file("binance", "btcusdt_20240808.gz")], levels=5)
    return {"amzn": ReplayData.build(ing.tape, ing.snapshots),
            "synthetic": ReplayData.build(syn, compute_snapshots(syn, 5)),
            "binance": ReplayData.build(bn.tape, bn.snapshots)}


@nb.njit
def _sparse(tp, lside, lprice, start, stop, model, power, wp, ws, entry, ahead, remaining, pending, used_idx,
            used_vol, fills):
    t = ek._make_tape(tp)
    out = ek._advance_sparse(ek._view(t), lside, lprice, start, stop, model, power, wp, ws, entry, ahead, remaining,
                             pending, used_idx, used_vol, fills)
    ek._keep(t, t)
    return out


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_sparse_scan_equals_the_dense_scan(tapes, data):
    name = data.draw(st.sampled_from(sorted(tapes)))
    r = tapes[name]
    n = len(r)
    s = r.snapshots
    side = data.draw(st.sampled_from([1, -1]))
    i0 = data.draw(st.integers(0, n - 2))
    px, sz = (s.bid_price, s.bid_size) if side == 1 else (s.ask_price, s.ask_size)
    levels = px.shape[1]
    where = data.draw(st.integers(-3, levels + 3))  # < 0: through the touch; >= levels: beyond the window
    tick = r.instrument.tick_size
    if 0 <= where < levels and sz[i0, where] > 0:
        price = int(px[i0, where])
    else:
        touch = int(px[i0, 0]) if sz[i0, 0] > 0 else int(np.median(r.price[r.price > 0]))
        price = touch - side * where * tick
    if price <= 0:
        price = tick
    start = i0 + 1
    stop = min(n, start + data.draw(st.sampled_from([1, 17, 300, 5_000, n])))
    k = data.draw(st.integers(1, 4))
    entry = np.sort(np.array(data.draw(st.lists(st.integers(max(0, i0 - 500), i0), min_size=k, max_size=k)),
                             np.int64))
    ahead = np.array(data.draw(st.lists(st.floats(0, 5_000, allow_nan=False), min_size=k, max_size=k)))
    remaining = np.array(data.draw(st.lists(st.integers(1, 3_000), min_size=k, max_size=k)), np.int64)
    pending = data.draw(st.integers(0, 500))
    used = sorted(set(data.draw(st.lists(st.integers(start, max(start, stop - 1)), max_size=6))))
    used_idx = np.array(used, np.int64)
    used_vol = np.array(data.draw(st.lists(st.integers(1, 400), min_size=len(used), max_size=len(used))), np.int64)
    model = MODEL_L3 if r.is_l3 and data.draw(st.booleans()) else data.draw(
        st.sampled_from([MODEL_RISK_AVERSE, MODEL_POWER, MODEL_LOG]))
    power = 2.0
    wp, ws = r.window_columns(side)

    def state():
        return entry.copy(), ahead.copy(), remaining.copy(), np.zeros(k, np.int64)

    dense_state, sparse_state = state(), state()
    e, a, rem, f = dense_state
    dense = advance_level(r.kind, r.side, r.price, r.size, r.add_idx, r.level_delta, r.level_size, r.halted, wp, ws,
                          start, stop, side, price, model, power, e, a, rem, pending, used_idx, used_vol, f)
    e, a, rem, f = sparse_state
    sparse = _sparse(ek._tape(r)[0], side, price, start, stop, model, power, wp, ws, e, a, rem, pending, used_idx,
                     used_vol, f)
    assert tuple(int(x) for x in sparse) == tuple(int(x) for x in dense)
    for x, y in zip(sparse_state, dense_state):
        np.testing.assert_array_equal(x, y)


def test_block_bounds_flag_every_event_that_can_act(tapes):
    """Each crossing add, trade through and window exit of the AMZN day lies in a block its bounds flag."""
    r = tapes["amzn"]
    tp = ek._tape(r)[0]
    blocks = np.arange(len(r)) >> ek._BLOCK_SHIFT
    for side, (lo, hi) in ((1, (tp[23], tp[24])), (-1, (tp[25], tp[26]))):
        wp, ws = r.window_columns(side)
        exits = np.flatnonzero(ws > 0)
        # a queue one tick behind the window's last level is flagged where that level is
        x = (wp[exits] - side * r.instrument.tick_size) * side
        assert np.all(hi[blocks[exits]] > x)
        traded = np.flatnonzero((r.side == side) & np.isin(r.kind, [int(k) for k in TRADED_KINDS]))
        x = (r.price[traded] + side * r.instrument.tick_size) * side  # one tick better: traded through
        assert np.all(lo[blocks[traded]] <= x)
