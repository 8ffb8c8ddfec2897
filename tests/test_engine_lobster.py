"""Engine oracles on the LOBSTER AMZN level-5 sample: aggressive walks, L3 queue position, latency.

The expected values are computed here from the raw CSV files with plain
Python/numpy (the orderbook file's rows, the message file's events), not with
tickreplay code.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pytest

from conftest import lobster_pair
from tickreplay.adapters.lobster import read_lobster
from tickreplay.engine import Engine, EngineConfig, Strategy
from tickreplay.latency import Constant
from tickreplay.orders import NewOrder, OrderType
from tickreplay.book.replay import ReplayData

EMPTY = 9999999999
MS = 1_000_000


class Raw:
    """The raw files: message times (ns UTC), columns, and orderbook rows."""

    def __init__(self, msg_path, ob_path):
        m = pd.read_csv(msg_path, header=None, dtype=str)
        midnight = dt.datetime(2012, 6, 21, tzinfo=ZoneInfo("America/New_York"))
        base = int(midnight.timestamp()) * 10**9
        whole_frac = m[0].str.split(".", expand=True)
        frac = whole_frac[1].fillna("").str.ljust(9, "0").str[:9]
        self.t = base + whole_frac[0].astype(np.int64).to_numpy() * 10**9 + frac.astype(np.int64).to_numpy()
        self.typ, self.oid, self.size, self.price, self.dir = (m[c].astype(np.int64).to_numpy() for c in range(1, 6))
        self.ob = pd.read_csv(ob_path, header=None).to_numpy(np.int64)

    def asks(self, i):
        row = self.ob[i]
        return [(int(p), int(s)) for p, s in zip(row[0::4], row[1::4]) if s > 0 and abs(p) != EMPTY]

    def bids(self, i):
        row = self.ob[i]
        return [(int(p), int(s)) for p, s in zip(row[2::4], row[3::4]) if s > 0 and abs(p) != EMPTY]

    def size_at(self, i, side, price):
        for p, s in (self.bids(i) if side == 1 else self.asks(i)):
            if p == price:
                return s
        return 0

    def gap_rows(self, n, min_gap_ns=1000):
        """``n`` message rows i spread over the day with a time gap before row i+1."""
        ok = np.flatnonzero(np.diff(self.t) > min_gap_ns)
        ok = ok[(ok > 2000) & (ok < len(self.t) - 2000)]
        return ok[np.linspace(0, len(ok) - 1, n).astype(int)]


@pytest.fixture(scope="module")
def amzn():
    msg, ob = lobster_pair("AMZN", 5)
    res = read_lobster(msg, ob)
    return ReplayData.build(res.tape, res.snapshots), res.tape, Raw(msg, ob)


class SendAt(Strategy):
    """Sends the given orders at their trader times."""

    def __init__(self, plan):
        self.plan = sorted(plan, key=lambda x: x[0])

    def on_start(self, ctx):
        for t, _ in self.plan:
            ctx.set_timer(t)
        self._k = 0

    def on_timer(self, ctx, t):
        ctx.send(self.plan[self._k][1])
        self._k += 1


def run(replay, plan, **cfg):
    return Engine(replay, EngineConfig(**cfg)).run(SendAt(plan), start_ns=replay.session_start_ns)


def walk(levels, qty):
    out, left = [], qty
    for p, s in levels:
        take = min(s, left)
        out.append((p, take))
        left -= take
        if not left:
            break
    return out


@pytest.mark.parametrize("side", [1, -1])
def test_market_order_gets_the_vwap_of_walking_orderbook_row_i(amzn, side):
    replay, _, raw = amzn
    for i in raw.gap_rows(6):
        arrival = (int(raw.t[i]) + int(raw.t[i + 1])) // 2
        levels = raw.asks(i) if side == 1 else raw.bids(i)
        visible = sum(s for _, s in levels)
        for qty in (1, 150, 1000, visible + 77):
            res = run(replay, [(arrival, NewOrder(side, qty, OrderType.MARKET))])
            expect = walk(levels, qty)
            got = list(zip(res.fills.price.tolist(), res.fills["size"].tolist()))
            assert got == expect, (i, qty)
            o = res.orders.iloc[0]
            filled = sum(s for _, s in expect)
            assert o.filled == filled and o.unfilled == qty - filled
            assert o.avg_price * filled == pytest.approx(sum(p * s for p, s in expect), rel=1e-12)
            if qty > visible:  # a replay cannot invent liquidity beyond the data's top N
                assert o.unfilled == qty - visible and o.order_status == "cancelled"
                assert o.reason == "market_rest_beyond_visible_depth"
            else:
                assert o.order_status == "filled"


def brute_force_passive_buy(raw, i, qty):
    """Fills of a buy limit joining the best bid between message i and i+1, from the raw files alone.

    The documented rule: ahead = visible size at our price; cancels of orders
    that were resting before us (added at or before row i, or never added)
    remove what left the visible level; an execution of an order added after
    us means FIFO reached us (ahead = 0); an execution consumes ahead first
    and fills us with the rest; executions on the bid side below our price,
    or sells added at or below it, fill us at once. The run stops when our
    price leaves the file's 5-level window.
    """
    price = raw.bids(i)[0][0]
    ahead = raw.bids(i)[0][1]
    added_row = {}
    for j in range(i + 1):
        if raw.typ[j] == 1:
            added_row[int(raw.oid[j])] = j
    left, fills = qty, []
    for j in range(i + 1, len(raw.t)):
        typ, oid, size, px, d = (int(a[j]) for a in (raw.typ, raw.oid, raw.size, raw.price, raw.dir))
        if typ == 1:
            added_row.setdefault(oid, j)
        fill = 0
        before_us = added_row.get(oid, -1) <= i
        if d == 1 and px == price and typ in (2, 3) and before_us:
            gone = raw.size_at(j - 1, 1, price) - raw.size_at(j, 1, price)
            ahead = max(ahead - gone, 0)
        elif d == 1 and px == price and typ == 4:
            if not before_us:
                ahead = 0
            shrink = min(ahead, size)
            ahead -= shrink
            fill = min(left, size - shrink)
        elif (d == 1 and px < price and typ in (4, 5)) or (d == -1 and typ == 1 and px <= price):
            ahead = 0
            fill = min(left, size)
        if fill:
            fills.append((j, fill))
            left -= fill
            if not left:
                return fills, False
        bid5_px, bid5_sz = raw.ob[j][4 * 4 + 2], raw.ob[j][4 * 4 + 3]
        if bid5_sz > 0 and price < bid5_px:
            return fills, True
    return fills, False


def test_passive_buy_at_the_best_bid_fills_when_the_volume_ahead_is_consumed(amzn):
    replay, tape, raw = amzn
    seen_fill = seen_queue_fill = 0
    for i in raw.gap_rows(12):
        arrival = (int(raw.t[i]) + int(raw.t[i + 1])) // 2
        price = raw.bids(i)[0][0]
        res = run(replay, [(arrival, NewOrder(1, 300, OrderType.LIMIT, price))])
        expect, unknown = brute_force_passive_buy(raw, i, 300)
        got = [(int(tape.src_row[j]), int(s)) for j, s in zip(res.fills.tape_index, res.fills["size"])]
        assert got == expect, i
        o = res.orders.iloc[0]
        assert o.queue_ahead == raw.bids(i)[0][1]
        assert bool(o.queue_unknown) == unknown
        assert (res.fills.price == price).all() and (res.fills.liquidity == "maker").all()
        seen_fill += bool(expect)
        seen_queue_fill += int((res.fills.how == "queue").sum())
    assert seen_fill >= 6 and seen_queue_fill >= 3  # the oracle exercised real queue fills


def test_entry_latency_changes_the_fill_and_the_order_log_shows_why(amzn):
    replay, _, raw = amzn
    ask1 = raw.ob[:, 0]
    # a decision moment where the best ask 200 ms later is higher than at decision time
    rows = raw.gap_rows(400)
    later = np.searchsorted(raw.t, raw.t[rows] + 200 * MS + 1, side="right") - 1
    moved = rows[ask1[later] > ask1[rows]]
    assert len(moved) > 0
    i = int(moved[0])
    t = (int(raw.t[i]) + int(raw.t[i + 1])) // 2
    fast = run(replay, [(t, NewOrder(1, 100, OrderType.MARKET))])
    slow = run(replay, [(t, NewOrder(1, 100, OrderType.MARKET))], entry_latency=Constant(200 * MS))
    f, s = fast.orders.iloc[0], slow.orders.iloc[0]
    assert f.ask_decision == f.ask_arrival == raw.asks(i)[0][0]
    assert s.ask_decision == f.ask_decision and s.ask_arrival > s.ask_decision  # the book moved while in flight
    assert s.arrival_ns - s.decision_ns == 200 * MS and f.arrival_ns == f.decision_ns
    assert s.avg_price > f.avg_price
    j = np.searchsorted(raw.t, t + 200 * MS, side="right") - 1
    assert slow.fills.price.iloc[0] == raw.asks(j)[0][0]


def test_precomputed_level_sizes_and_add_indices(amzn):
    replay, tape, raw = amzn
    rows = np.random.default_rng(5).integers(0, len(tape), 1500)
    for i in rows:  # the per-level index reproduces every level of the vendor's book after event i
        for side, px, sz in ((1, replay.snapshots.bid_price, replay.snapshots.bid_size),
                             (-1, replay.snapshots.ask_price, replay.snapshots.ask_size)):
            for p, s in zip(px[i], sz[i]):
                if s > 0:
                    assert replay.level_size_at(side, int(p), int(i)) == s
    last_add, expect = {}, []
    for j, (k, oid) in enumerate(zip(tape.kind.tolist(), tape.order_id.tolist())):
        if oid and k == 1:
            last_add[oid] = j
        expect.append(last_add.get(oid, -1) if oid else -1)
    assert replay.add_idx.tolist() == expect
