"""Engine: clocks, determinism, no look-ahead, subscriptions, invariants under random order flow, executor."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from test_exchange import K, make_replay
from test_order_log import check_order_log
from tickreplay.adapters.synthetic import generate_day
from tickreplay.book.fast import compute_snapshots
from tickreplay.book.snapshots import Snapshots
from tickreplay.engine import Engine, EngineConfig, Strategy
from tickreplay.trader.executor import ChildOrderExecutor
from tickreplay.latency import Constant, Normal
from tickreplay.orders import NewOrder, OrderType
from tickreplay.book.replay import ReplayData
from tickreplay.schedule import ChildOrder

MS = 1_000_000
S = 1_000_000_000


@pytest.fixture(scope="module")
def day():
    tape = generate_day("liquid_large_cap", seed=7, duration_s=600)
    return ReplayData.build(tape, compute_snapshots(tape, 5))


class Random(Strategy):
    """Sends a pre-drawn list of orders; cancels or modifies some; remembers every price it asked for."""

    def __init__(self, plan):
        self.plan = plan  # (t, side, type, qty, ticks from touch, after_ns, action)
        self._agenda = {p[0] + k: ("send", p) for k, p in enumerate(plan)}
        self.prices: dict[int, set] = {}
        self.position = 0
        self.seen = []

    def on_start(self, ctx):
        for k, p in enumerate(self.plan):
            ctx.set_timer(p[0] + k)  # distinct times keep the plan order

    def on_timer(self, ctx, t):
        entry = self._agenda.pop(t, None)
        if entry is None:
            return
        kind, payload = entry
        if kind == "send":
            t0, side, typ, qty, ticks, after, action = payload
            view = ctx.view
            touch = view.touch(side) or view.touch(-side) or 10_000
            price = None if typ == OrderType.MARKET else touch + side * ticks * view.instrument.tick_size
            oid = ctx.send(NewOrder(side, qty, typ, price, parent_id=7))
            self.prices[oid] = {price}
            if action:
                self._later(ctx, t + after, ("act", (oid, action, price, qty, view.instrument.tick_size)))
        else:
            oid, action, price, qty, tick = payload
            if action == "cancel":
                ctx.cancel(oid)
            elif action == "down":
                ctx.modify(oid, quantity=max(qty // 2, 1))
            else:  # re-price one tick lower (a market order is done by then: rejected)
                new = (price or 10_000) - tick
                ctx.modify(oid, price=new)
                self.prices[oid].add(new)

    def _later(self, ctx, t, entry):
        while t in self._agenda:
            t += 1
        self._agenda[t] = entry
        ctx.set_timer(t)

    def on_fill(self, ctx, fill):
        self.position = ctx.position


def plan_strategy(plan):
    return Random(plan)


orders_st = st.lists(
    st.tuples(
        st.integers(0, 590 * S),  # decision time after the session start
        st.sampled_from([1, -1]),
        st.sampled_from([OrderType.MARKET, OrderType.LIMIT, OrderType.IOC]),
        st.integers(1, 40).map(lambda n: n * 100),
        st.integers(-3, 3),  # ticks from our touch (negative: more passive)
        st.integers(0, 60 * S),
        st.sampled_from([None, "cancel", "down", "reprice"]),
    ),
    min_size=1, max_size=25,
)


def check_invariants(replay, res, strategy):
    o, f = res.orders, res.fills
    new = o[o.action == "new"].set_index("order_id")
    assert (new.order_filled <= new.quantity).all() and (new.order_filled >= 0).all()  # no overfill
    per_order = f.groupby("order_id")["size"].sum()
    assert per_order.reindex(new.index, fill_value=0).tolist() == new.order_filled.tolist()  # fills = executed
    check_order_log(res)
    assert int((f.side * f["size"]).sum()) == strategy.position  # = position change
    assert (f.exchange_ns >= f.arrival_ns).all() and (f.arrival_ns >= f.decision_ns).all()
    assert (f.response_ns >= f.exchange_ns).all()
    snap = replay.snapshots
    walks = f[f.how == "walk"]
    for (i, side), g in walks.groupby(["tape_index", "side"]):  # all own walks at one book row
        px, sz = (snap.ask_price[i], snap.ask_size[i]) if side == 1 else (snap.bid_price[i], snap.bid_size[i])
        book = dict(zip(px[sz > 0].tolist(), sz[sz > 0].tolist()))
        for price, size in g.groupby("price")["size"].sum().items():
            assert price in book and size <= book[price]  # never better than the book allowed at arrival
    accepted = o[o.status != "rejected"]
    for (oid, i), g in walks.groupby(["order_id", "tape_index"]):
        req = accepted[(accepted.order_id == oid) & (accepted.arrival_idx == i)]
        assert len(req) > 0  # walks happen at the arrival of the order or of a re-pricing modify
        if new.loc[oid, "type"] != "market":
            side = int(new.loc[oid, "side"])
            limits = [int(x) for x in req.price if x >= 0] or [int(new.loc[oid, "final_price"])]
            lim = max(limits) if side == 1 else min(limits)
            assert ((g.price <= lim) if side == 1 else (g.price >= lim)).all()
    for oid, g in f[f.how != "walk"].groupby("order_id"):
        assert set(g.price.tolist()) <= strategy.prices[oid]  # passive fills at the order's price
        assert (g.liquidity == "maker").all()


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(plan=orders_st, seed=st.integers(0, 2**31), jitter_ms=st.integers(0, 20))
def test_invariants_and_determinism_under_random_orders(day, plan, seed, jitter_ms):
    cfg = EngineConfig(md_latency=Normal(2 * MS, jitter_ms * MS), entry_latency=Normal(3 * MS, jitter_ms * MS),
                       response_latency=Normal(1 * MS, jitter_ms * MS), seed=seed)
    plan = [(day.session_start_ns + p[0], *p[1:]) for p in plan]
    s = plan_strategy(plan)
    res = Engine(day, cfg).run(s)
    check_invariants(day, res, s)
    again = Engine(day, cfg).run(plan_strategy(plan))
    pd.testing.assert_frame_equal(res.orders, again.orders)
    pd.testing.assert_frame_equal(res.fills, again.fills)


def _busy_plan(day, n=40):
    rng = np.random.default_rng(0)
    t0 = day.session_start_ns + 5 * S
    return [(t0 + int(k * 7 * S), int(rng.choice([1, -1])), OrderType.LIMIT, 300, int(rng.integers(-1, 2)),
             20 * S, "reprice") for k in range(n)]


def test_same_seed_gives_identical_parquet_and_other_seeds_other_jitter(day, tmp_path):
    cfg = EngineConfig(entry_latency=Normal(5 * MS, 2 * MS), response_latency=Normal(1 * MS, MS // 2), seed=11)
    a = Engine(day, cfg).run(plan_strategy(_busy_plan(day)))
    b = Engine(day, cfg).run(plan_strategy(_busy_plan(day)))
    a.write_parquet(tmp_path / "a")
    b.write_parquet(tmp_path / "b")
    for name in ("orders.parquet", "fills.parquet"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    back = pd.read_parquet(tmp_path / "a" / "orders.parquet")
    pd.testing.assert_frame_equal(back, a.orders, check_dtype=False)
    assert len(a.fills) > 0
    c = Engine(day, dataclasses.replace(cfg, seed=12)).run(plan_strategy(_busy_plan(day)))
    assert (c.orders.arrival_ns != a.orders.arrival_ns).any()


def test_orders_keep_their_sending_order_unless_overtaking_is_allowed(day):
    t0 = day.session_start_ns + S
    plan = [(t0 + k * MS // 10, 1, OrderType.LIMIT, 100, -5, 0, None) for k in range(60)]
    cfg = EngineConfig(entry_latency=Normal(5 * MS, 3 * MS), seed=3)
    fifo = Engine(day, cfg).run(plan_strategy(plan)).orders
    assert (np.diff(fifo.arrival_ns.to_numpy()) >= 0).all()
    free = Engine(day, dataclasses.replace(cfg, allow_overtaking=True)).run(plan_strategy(plan)).orders
    assert (np.diff(free.arrival_ns.to_numpy()) < 0).any()
    assert ((free.arrival_ns - free.decision_ns) <= (fifo.arrival_ns - fifo.decision_ns)).all()


class Recorder(Strategy):
    """Wakes every 3 s, records what the view shows, and sends an order priced from it."""

    subscribe = (K.EXECUTE_VISIBLE,)

    def __init__(self, until):
        self.until = until
        self.decisions, self.market = [], []

    def on_start(self, ctx):
        ctx.set_timer(ctx.now_ns + 3 * S)

    def on_timer(self, ctx, t):
        v = ctx.view
        top = v.top(5)
        rec = (t, v.as_of_ns, v.best_bid(), v.best_ask(), v.cum_volume, v.last_trade(), v.events_seen,
               top.bid_price.tolist(), top.ask_size.tolist(), v.halted, v.spread())
        self.decisions.append(rec)
        bid = v.touch(1)
        if bid is not None:
            ctx.send(NewOrder(1, 100 + v.cum_volume % 7 * 100, OrderType.LIMIT, bid))
        if t + 3 * S < self.until:
            ctx.set_timer(t + 3 * S)

    def on_market(self, ctx, event):
        self.market.append((ctx.now_ns, event.exchange_ns, ctx.view.as_of_ns, int(event.kind)))


def _scrambled_after(replay: ReplayData, cut: int) -> ReplayData:
    """The same replay with every per-event market column after index ``cut`` changed."""
    s = replay.snapshots

    def scramble(a):
        a = a.copy()
        a[cut + 1:] = a[cut + 1:] * 3 + 1
        return a

    snaps = Snapshots(*(scramble(getattr(s, f)) for f in ("ask_price", "ask_size", "bid_price", "bid_size")))
    return dataclasses.replace(replay, snapshots=snaps, price=scramble(replay.price), size=scramble(replay.size),
                               cum_volume=scramble(replay.cum_volume))


def test_no_look_ahead_decisions_do_not_change_when_the_future_changes(day):
    md = 40 * MS
    cfg = EngineConfig(md_latency=Constant(md), entry_latency=Constant(MS), seed=1)
    t_cut = day.session_start_ns + 200 * S
    cut = day.index_at(t_cut)
    a, b = Recorder(day.session_start_ns + 400 * S), Recorder(day.session_start_ns + 400 * S)
    ra = Engine(day, cfg).run(a)
    rb = Engine(_scrambled_after(day, cut), cfg).run(b)
    before = [d for d in a.decisions if d[0] - md <= t_cut]
    assert len(before) > 50 and before == b.decisions[: len(before)]
    assert a.decisions != b.decisions  # the future did change, and later decisions saw it
    n = len(before)
    sent_a = ra.orders[ra.orders.decision_ns - md <= t_cut][["decision_ns", "price", "quantity"]]
    sent_b = rb.orders[rb.orders.decision_ns - md <= t_cut][["decision_ns", "price", "quantity"]]
    pd.testing.assert_frame_equal(sent_a, sent_b)
    assert all(d[1] is None or d[1] <= d[0] - md for d in a.decisions[:n])


def test_market_data_arrives_after_its_latency_and_only_for_subscribed_kinds(day):
    md = 7 * MS
    s = Recorder(day.session_start_ns + 30 * S)
    Engine(day, EngineConfig(md_latency=Constant(md))).run(s)
    start_idx = day.index_at(day.session_start_ns - md)
    expect = day.indices_of((K.EXECUTE_VISIBLE,))
    expect = expect[expect > start_idx]
    assert [m[1] for m in s.market] == day.ts_ns[expect].tolist()
    assert all(m[0] - m[1] == md and m[2] == m[1] and m[3] == int(K.EXECUTE_VISIBLE) for m in s.market)


def test_responses_come_back_after_the_response_latency(day):
    cfg = EngineConfig(entry_latency=Constant(2 * MS), response_latency=Constant(5 * MS))
    res = Engine(day, cfg).run(plan_strategy(_busy_plan(day, 10)))
    o, f = res.orders, res.fills
    assert ((o.arrival_ns - o.decision_ns) == 2 * MS).all() and ((o.response_ns - o.arrival_ns) == 5 * MS).all()
    assert ((f.response_ns - f.exchange_ns) == 5 * MS).all()


# -- executor ---------------------------------------------------------------------------------------------

def _exec_replay():
    ev = [(1, K.ADD, 1, 100, 500, 1), (2, K.ADD, -1, 104, 500, 2), (3, K.ADD, 1, 99, 500, 3),
          (3, K.ADD, -1, 105, 500, 4)]
    ev += [(40 * S, K.ADD, 1, 101, 50, 5), (100 * S, K.ADD, -1, 106, 10, 6)]
    return make_replay(ev, session_end_ns=200 * S)


def test_executor_market_children_go_at_their_times():
    r = _exec_replay()
    kids = [ChildOrder(10 * S, 100, "market", parent_id=3, index=0), ChildOrder(20 * S, 200, "market", 0, 3, 1)]
    res = Engine(r).run(ChildOrderExecutor(1, kids), start_ns=0)
    o = res.orders
    assert o.decision_ns.tolist() == [10 * S, 20 * S] and o.type.tolist() == ["market"] * 2
    assert o.quantity.tolist() == [100, 200] and (o.parent_id == 3).all()
    assert res.fills.price.tolist() == [104, 104]


def test_executor_rests_at_the_touch_and_replaces_after_the_delay():
    r = _exec_replay()
    kids = [ChildOrder(10 * S, 100, "limit_touch", parent_id=1)]
    res = Engine(r).run(ChildOrderExecutor(1, kids, replace_after_ns=30 * S, max_replaces=1,
                                           finish_with_market=True), start_ns=0)
    o = res.orders
    # t=10: buy at the bid 100; t=40: the bid is 101 → modify to 101; t=70: cancel, then market for the rest
    assert o.action.tolist() == ["new", "modify", "cancel", "new"]
    assert o.price.tolist()[:2] == [100, 101] and o.decision_ns.tolist()[:3] == [10 * S, 40 * S, 70 * S]
    assert o.type.iloc[3] == "market" and o.quantity.iloc[3] == 100 and o.filled.iloc[3] == 100


@pytest.mark.parametrize("style,offset,side,price", [("limit_offset", 2, 1, 98), ("limit_offset", 1, -1, 104),
                                                     ("peg_mid", 0, 1, 101), ("peg_mid", 0, -1, 102)])
def test_executor_prices_each_style(style, offset, side, price):
    r = make_replay([(1, K.ADD, 1, 100, 500, 1), (2, K.ADD, -1, 104, 500, 2), (3, K.ADD, -1, 103, 1, 3)],
                    session_end_ns=100 * S)
    res = Engine(r).run(ChildOrderExecutor(side, [ChildOrder(10 * S, 100, style, offset)]), start_ns=0)
    assert res.orders.price.iloc[0] == price


def test_executor_checks_side():
    with pytest.raises(ValueError, match="side"):
        ChildOrderExecutor(0, [])


def test_engine_config_from_a_scenario_table():
    from tickreplay.exchange import FeeSchedule, QueueModel
    from tickreplay.experiment import engine_config
    from tickreplay.experiment.data import from_tape
    from tickreplay.experiment.scenario import parse_scenario

    scn = parse_scenario({"data": {"synthetic": {"regime": "liquid_large_cap", "seed": 1}},
                          "parent": {"side": "buy", "quantity": 100, "start": "10:00", "end": "10:01"},
                          "schedule": {"kind": "twap", "n_children": 2}, "seed": 9,
                          "latency": {"order_entry": {"model": "normal", "mean_ms": 2, "jitter_ms": 0.5},
                                      "market_data": 1, "allow_overtaking": True},
                          "queue": {"model": "probabilistic", "shape": "log"}, "fees": {"taker_bps": 0.3}})
    cfg = engine_config(scn, from_tape(generate_day("liquid_large_cap", 1, duration_s=60), "t"))
    assert cfg.entry_latency == Normal(2 * MS, MS // 2) and cfg.md_latency == Constant(MS)
    assert cfg.queue_model == QueueModel("log", 2.0) and cfg.fees == FeeSchedule(taker_bps=0.3)
    assert cfg.seed == 9 and cfg.allow_overtaking