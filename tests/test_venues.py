"""Several venues of one instrument: the multi-venue replay, the consolidated view, routing and per-venue TCA."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from test_engine import Random, orders_st
from test_exchange import INST, Script, make_replay
from tickreplay.adapters.synthetic import generate_day
from tickreplay.book.fast import compute_snapshots
from tickreplay.book.replay import ReplayData
from tickreplay.engine import Engine, EngineConfig, Strategy
from tickreplay.errors import ConfigError
from tickreplay.exchange import FeeSchedule
from tickreplay.experiment.scenario import parse_scenario
from tickreplay.latency import Constant, Normal
from tickreplay.orders import NewOrder, OrderType
from tickreplay.schedule import ChildOrder, ParentOrder, twap
from tickreplay.tape import EventKind as K
from tickreplay.trader.executor import ChildOrderExecutor
from tickreplay.venues import Venue, VenueEngine
from tickreplay.venues.compare import GeneratedVenues, ParentPlan, compare_routers
from tickreplay.venues.generate import split_tape
from tickreplay.venues.router_strategy import RoutedExecutor, RouterPolicy, touch_outflows
from tickreplay.venues.tca import consolidated_market, paired_comparison

MS = 1_000_000
S = 1_000_000_000
BUY, SELL = 1, -1


@pytest.fixture(scope="module")
def day():
    tape = generate_day("liquid_large_cap", seed=7, duration_s=600)
    return ReplayData.build(tape, compute_snapshots(tape, 5))


@pytest.fixture(scope="module")
def two():
    """Two venues split from one generated day: A holds ~65% of the orders, B ~35%."""
    tape = generate_day("liquid_large_cap", seed=5, duration_s=900)
    tapes = split_tape(tape, {"A": 0.65, "B": 0.35}, seed=5)
    return {n: ReplayData.build(t, compute_snapshots(t, 5)) for n, t in tapes.items()}


CFG_A = EngineConfig(md_latency=Constant(1 * MS), entry_latency=Normal(2 * MS, 1 * MS),
                     response_latency=Constant(1 * MS), fees=FeeSchedule(maker_bps=-0.2, taker_bps=0.3))
CFG_B = EngineConfig(md_latency=Constant(7 * MS), entry_latency=Normal(5 * MS, 3 * MS),
                     response_latency=Constant(2 * MS), fees=FeeSchedule(maker_bps=-0.1, taker_bps=0.1))


def _venues(two):
    return [Venue("A", two["A"], CFG_A), Venue("B", two["B"], CFG_B)]


# -- one venue through the multi-venue path is the single-venue engine -----------------------------

class Watching(Random):
    subscribe = (K.EXECUTE_VISIBLE, K.DELETE)

    def on_market(self, ctx, event):
        self.seen.append((event.exchange_ns, ctx.view.mid()))


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(plan=orders_st, seed=st.integers(0, 2**31))
def test_one_venue_equals_single_venue_engine(day, plan, seed):
    plan = [(day.session_start_ns + p[0], *p[1:]) for p in plan]
    cfg = EngineConfig(md_latency=Normal(2 * MS, 1 * MS), entry_latency=Normal(3 * MS, 2 * MS),
                       response_latency=Normal(1 * MS, 1 * MS), seed=seed)
    for cls in (Random, Watching):
        ref_strategy, strategy = cls(plan), cls(plan)
        ref = Engine(day, cfg).run(ref_strategy, compiled=False)
        got = VenueEngine([Venue("X", day, cfg)], seed=seed).run(strategy)
        assert (got.orders["venue"] == "X").all() and (got.fills["venue"] == "X").all()
        pd.testing.assert_frame_equal(got.orders.drop(columns="venue"), ref.orders, check_exact=True)
        pd.testing.assert_frame_equal(got.fills.drop(columns="venue"), ref.fills, check_exact=True)
        assert strategy.seen == ref_strategy.seen  # the consolidated view of one venue is that venue's view


def test_one_venue_equals_compiled_children(day):
    t0 = day.session_start_ns + 10 * S
    children = twap(ParentOrder(BUY, 3000, t0, t0 + 500 * S), n_children=15, style="limit_touch", lot_size=100)
    cfg = EngineConfig(md_latency=Constant(1 * MS), entry_latency=Normal(2 * MS, 1 * MS), seed=4,
                       fees=FeeSchedule(maker_bps=-0.2, taker_bps=0.3))
    ref = Engine(day, cfg).run(ChildOrderExecutor(BUY, children, 20 * S, 2, True), start_ns=t0)
    got = VenueEngine([Venue("X", day, cfg)], seed=4).run(ChildOrderExecutor(BUY, children, 20 * S, 2, True),
                                                          start_ns=t0)
    assert len(ref.fills) > 5
    pd.testing.assert_frame_equal(got.fills.drop(columns="venue"), ref.fills, check_exact=True)
    pd.testing.assert_frame_equal(got.orders.drop(columns="venue"), ref.orders, check_exact=True)


# -- venues are matched apart ------------------------------------------------------------------------

def _hand_venues():
    # A: ask 105 x 100 then, at t=50, a sell execution at our bid's price on B only.
    a = make_replay([(0, K.ADD, SELL, 105, 100, 1), (0, K.ADD, BUY, 99, 100, 2), (60, K.ADD, BUY, 98, 5, 3)])
    b = make_replay([(0, K.ADD, SELL, 101, 100, 11), (0, K.ADD, BUY, 100, 100, 12),
                     (50, K.EXECUTE_VISIBLE, BUY, 100, 100, 12), (55, K.ADD, SELL, 100, 50, 13)])
    return a, b


def test_orders_on_one_venue_never_fill_against_another_venues_book():
    a, b = _hand_venues()
    s = Script([(10, "send", NewOrder(BUY, 30, OrderType.MARKET), "mkt"),
                (10, "send", NewOrder(BUY, 20, OrderType.LIMIT, 100), "lim")])
    res = VenueEngine([Venue("A", a), Venue("B", b)]).run(s)
    f = res.fills
    # the market buy on A walks A's ask (105), not B's cheaper 101; the limit at 100 on A rests at A's price
    # 100 (a new level on A), and B's execution at 100 and B's ask arriving at 100 do not touch it
    assert f[["order_id", "price", "size", "venue"]].values.tolist() == [[1, 105, 30, "A"]]
    lim = res.orders[res.orders.order_id == 2].iloc[0]
    assert lim.order_status == "open" and lim.venue == "A"
    # the same limit sent to B: B's execution at 100 clears the queue ahead of it (order 12 rested first), then
    # B's ask arriving at 100 crosses it: a trade-through fill at our price, on B

    class ToB(Strategy):
        def on_start(self, ctx):
            ctx.set_timer(10)

        def on_timer(self, ctx, t):
            ctx.send(NewOrder(BUY, 20, OrderType.LIMIT, 100), venue="B")

    res = VenueEngine([Venue("A", a), Venue("B", b)]).run(ToB())
    assert res.fills[["price", "size", "venue", "how", "exchange_ns"]].values.tolist() == [
        [100, 20, "B", "trade_through", 55]]


def test_unknown_venue_and_different_instruments_are_refused():
    a, b = _hand_venues()
    other = dataclasses.replace(b, instrument=dataclasses.replace(INST, tick_size=5))
    with pytest.raises(ConfigError, match=r"venues\[1\]\.tick_size: venue 'B' has 5 but venue 'A' has 1"):
        VenueEngine([Venue("A", a), Venue("B", other)])
    renamed = dataclasses.replace(b, instrument=dataclasses.replace(INST, symbol="OTHER"))
    with pytest.raises(ConfigError, match=r"venues\[1\]\.symbol"):
        VenueEngine([Venue("A", a), Venue("B", renamed)])
    with pytest.raises(ConfigError, match="appears twice"):
        VenueEngine([Venue("A", a), Venue("A", b)])

    class Lost(Strategy):
        def on_start(self, ctx):
            ctx.send(NewOrder(BUY, 1, OrderType.MARKET), venue="C")

    with pytest.raises(ConfigError, match="unknown venue 'C'"):
        VenueEngine([Venue("A", a), Venue("B", b)]).run(Lost())


# -- the consolidated view ---------------------------------------------------------------------------

class Looker(Strategy):
    def __init__(self, times):
        self.times, self.seen = times, []

    def on_start(self, ctx):
        for t in self.times:
            ctx.set_timer(t)

    def on_timer(self, ctx, t):
        v = ctx.view
        self.seen.append((t, v.best_bid(), v.best_ask(), v.top(3)))


def _best_at(replay, t, side):
    i = replay.index_at(t)
    s = replay.snapshots
    px, sz = (s.bid_price, s.bid_size) if side == 1 else (s.ask_price, s.ask_size)
    return (int(px[i, 0]), int(sz[i, 0])) if i >= 0 and sz[i, 0] > 0 else None


def test_consolidated_touch_is_max_bid_min_ask_at_trader_time(two):
    start = two["A"].session_start_ns
    times = [start + k * 997 * MS for k in range(1, 600)]
    lat = {"A": 1 * MS, "B": 250 * MS}  # B's market data is a quarter second late
    venues = [Venue(n, two[n], EngineConfig(md_latency=Constant(lat[n]))) for n in ("A", "B")]
    s = Looker(times)
    VenueEngine(venues).run(s)
    differs = 0
    for t, bid, ask, top in s.seen:
        quotes = {n: (_best_at(two[n], t - lat[n], 1), _best_at(two[n], t - lat[n], -1)) for n in lat}
        bids = [q[0] for q in quotes.values() if q[0]]
        asks = [q[1] for q in quotes.values() if q[1]]
        hi, lo = max(p for p, _ in bids), min(p for p, _ in asks)
        assert bid == (hi, sum(q for p, q in bids if p == hi))
        assert ask == (lo, sum(q for p, q in asks if p == lo))
        assert top.bid_price[0] == hi and top.ask_price[0] == lo and np.all(np.diff(top.bid_price[top.bid_size > 0]) < 0)
        # not what the venues showed at t without their latency
        now = [_best_at(two[n], t, 1) for n in lat]
        differs += max(p for p, _ in now if p) != hi
    assert differs > 0  # the latency matters: the test would catch a view ignoring it


# -- routing -------------------------------------------------------------------------------------------

def _walk_cost(replay, i, side, size, fees, inst):
    """Brute force: the all-in cost (currency) of taking ``size`` from row ``i`` of the opposite side."""
    s = replay.snapshots
    px, sz = (s.ask_price[i], s.ask_size[i]) if side == 1 else (s.bid_price[i], s.bid_size[i])
    left, cost = size, 0.0
    for p, q in zip(px.tolist(), sz.tolist()):
        if q <= 0 or left == 0:
            break
        take = min(q, left)
        cost += side * p * take * inst.unit_value + fees.fee(2, p, take, inst.price_scale, inst.size_scale)
        left -= take
    return None if left else cost


def test_best_sends_each_child_where_the_brute_force_all_in_price_is_lowest(two):
    venues = [Venue("A", two["A"], EngineConfig(md_latency=Constant(1 * MS), fees=FeeSchedule(taker_bps=0.3))),
              Venue("B", two["B"], EngineConfig(md_latency=Constant(4 * MS), fees=FeeSchedule(taker_bps=0.05)))]
    t0 = two["A"].session_start_ns + 30 * S
    children = twap(ParentOrder(BUY, 12_000, t0, t0 + 800 * S), n_children=40, style="market", lot_size=100)
    ex = RoutedExecutor(BUY, children, RouterPolicy("best"))
    VenueEngine(venues).run(ex, start_ns=t0)
    inst = two["A"].instrument
    checked = set()
    for route in ex.routes:
        t, size = route["time_ns"], route["size"]
        costs = {v.name: _walk_cost(v.replay, v.replay.index_at(t - v.config.md_latency.latency_ns), BUY, size,
                                    v.config.fees, inst) for v in venues}
        ok = {n: c for n, c in costs.items() if c is not None}
        if not ok:
            continue
        best = min(ok.values())
        (venue,) = route["legs"]  # one venue could fill it: the whole child goes there
        assert ok[venue] <= best + 1e-9 * abs(best)
        checked.add(venue)
    assert checked == {"A", "B"}  # both venues win sometimes: the test sees the choice


def test_cont_kukanov_outflows_read_only_what_the_trader_saw(two):
    r = two["A"]
    from tickreplay.book.view import BookView

    i = len(r) // 2
    xi = touch_outflows(BookView(r, i, int(r.ts_ns[i])), BUY, 10 * S, 5, r.session_start_ns)
    cut = dataclasses.replace(r, level_delta=np.where(np.arange(len(r)) > i, -10**9, r.level_delta))
    from tickreplay.venues import router_strategy

    router_strategy._OUTFLOW.pop(r, None)
    xi_cut = touch_outflows(BookView(cut, i, int(r.ts_ns[i])), BUY, 10 * S, 5, r.session_start_ns)
    assert xi.tolist() == xi_cut.tolist() and len(xi) == 5 and (xi >= 0).all() and xi.sum() > 0


@pytest.mark.parametrize("policy", [RouterPolicy("single", "B"), RouterPolicy("best"),
                                    RouterPolicy("cont-kukanov", horizon_ns=40 * S)], ids=lambda p: p.label)
def test_routed_parent_fills_exactly_its_quantity(two, policy):
    t0 = two["A"].session_start_ns + 60 * S
    children = twap(ParentOrder(SELL, 5000, t0, t0 + 600 * S), n_children=10, style="market", lot_size=100)
    ex = RoutedExecutor(SELL, children, policy)
    res = VenueEngine(_venues(two), seed=2).run(ex, start_ns=t0)
    assert int(res.fills["size"].sum()) == ex.filled == 5000
    if policy.kind == "single":
        assert set(res.fills["venue"]) == {"B"}
    if policy.kind == "cont-kukanov":
        assert (res.fills["liquidity"] == "maker").any() and res.orders["type"].eq("limit").any()


# -- invariants on two venues ---------------------------------------------------------------------------

class TwoVenueRandom(Random):
    """Random's plan, each order sent to venue A or B by its size's parity."""

    def on_timer(self, ctx, t):
        send = ctx.send
        ctx.send = lambda order: send(order, venue="A" if (order.quantity // 100) % 2 else "B")
        try:
            super().on_timer(ctx, t)
        finally:
            del ctx.send


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(plan=orders_st, seed=st.integers(0, 2**31))
def test_invariants_on_two_venues(two, plan, seed):
    start = two["A"].session_start_ns
    plan = [(start + p[0], *p[1:]) for p in plan]
    strategy = TwoVenueRandom(plan)
    res = VenueEngine(_venues(two), seed=seed).run(strategy)
    o, f = res.orders, res.fills
    new = o[o.action == "new"].set_index("order_id")
    assert (new.order_filled <= new.quantity).all()  # no overfill
    per_order = f.groupby("order_id")["size"].sum().reindex(new.index, fill_value=0)
    assert per_order.tolist() == new.order_filled.tolist()  # conservation: fills = what the orders executed
    assert int((f.side * f["size"]).sum()) == strategy.position
    assert (f["venue"].to_numpy() == new.loc[f.order_id, "venue"].to_numpy()).all()  # filled where it was sent
    for row in f.itertuples():
        r = two[row.venue]
        s = r.snapshots
        assert 0 <= row.tape_index < len(r) and r.ts_ns[row.tape_index] <= row.exchange_ns
        if row.liquidity == "taker":  # a walk of that venue's book: a price it showed then, never a better one
            i = row.tape_index
            px, sz = (s.ask_price[i], s.ask_size[i]) if row.side == 1 else (s.bid_price[i], s.bid_size[i])
            assert row.price in px[sz > 0].tolist()
        else:  # passive: at a limit price we asked for, when that venue's tape traded there or through it
            assert row.price in strategy.prices[row.order_id]
            assert r.ts_ns[row.tape_index] == row.exchange_ns


def test_determinism(two):
    t0 = two["A"].session_start_ns + 60 * S
    children = twap(ParentOrder(BUY, 4000, t0, t0 + 400 * S), n_children=8, style="market", lot_size=100)
    runs = [VenueEngine(_venues(two), seed=9).run(RoutedExecutor(BUY, children,
                                                                 RouterPolicy("cont-kukanov", horizon_ns=30 * S)),
                                                  start_ns=t0) for _ in range(2)]
    pd.testing.assert_frame_equal(runs[0].fills, runs[1].fills, check_exact=True)
    pd.testing.assert_frame_equal(runs[0].orders, runs[1].orders, check_exact=True)
    tape = generate_day("liquid_large_cap", seed=2, duration_s=60)
    a, b = split_tape(tape, {"A": 1, "B": 1}, 2), split_tape(tape, {"A": 1, "B": 1}, 2)
    assert a["A"].fingerprint() == b["A"].fingerprint() and a["B"].fingerprint() == b["B"].fingerprint()


# -- generated venues ------------------------------------------------------------------------------------

def test_split_venues_share_one_book(two):
    tape = generate_day("liquid_large_cap", seed=5, duration_s=900)
    whole = compute_snapshots(tape, 5)
    merged = consolidated_market(two)
    # the consolidated book of the split venues is the generated book after every timestamp's events
    assert np.array_equal(merged.ts_ns, tape.ts_ns)
    last = np.append(tape.ts_ns[1:] != tape.ts_ns[:-1], True)
    both = last & (whole.bid_size[:, 0] > 0) & (whole.ask_size[:, 0] > 0)
    assert both.sum() > 1000
    assert np.array_equal(merged.bid[both], whole.bid_price[both, 0])
    assert np.array_equal(merged.ask[both], whole.ask_price[both, 0])
    # the smaller venue is thinner and has fewer events
    depth = {n: r.snapshots.bid_size[:, 0].mean() for n, r in two.items()}
    assert len(two["B"]) < len(two["A"]) and depth["B"] < depth["A"]


def test_router_comparison_is_paired_by_day():
    spec = GeneratedVenues("liquid_large_cap", {"A": 0.65, "B": 0.35}, {"A": CFG_A, "B": CFG_B}, duration_s=900)
    pols = [RouterPolicy("single", "A"), RouterPolicy("best"), RouterPolicy("cont-kukanov", horizon_ns=40 * S)]
    table, cmp = compare_routers(spec, ParentPlan(quantity=3000, start_s=120, length_s=600, n_children=10),
                                 pols, days=[1, 2, 3])
    assert set(table["policy"]) == {"single:A", "best", "cont-kukanov"} and len(table) == 9
    assert (table["filled"] == 3000).all()
    wide = table.pivot(index="day", columns="policy", values="cost_bps")
    saving = wide["single:A"] - wide["best"]
    assert cmp["best"]["mean_bps"] == pytest.approx(saving.mean())
    assert cmp["best"]["n"] == 3 and cmp["single:A"]["baseline"]
    lo, hi = cmp["cont-kukanov"]["ci95_bps"]
    assert lo <= cmp["cont-kukanov"]["mean_bps"] <= hi


def test_paired_comparison_needs_its_baseline():
    costs = pd.DataFrame({"day": [1, 1], "policy": ["best", "single:A"], "cost_bps": [1.0, 2.0]})
    with pytest.raises(ValueError, match="baseline policy 'cont-kukanov'"):
        paired_comparison(costs, "cont-kukanov")


# -- scenarios ---------------------------------------------------------------------------------------------

BASE = {"data": {"synthetic": {"regime": "liquid_large_cap", "seed": 3, "duration_s": 900}},
        "parent": {"side": "buy", "quantity": 3000, "start": "09:32:00", "end": "09:42:00"},
        "schedule": {"kind": "twap", "n_children": 10, "lot_size": 100},
        "router": {"policy": "best"},
        "venues": [{"name": "A", "share": 0.6, "fees": {"taker_bps": 0.3}, "latency": {"market_data": 1}},
                   {"name": "B", "share": 0.4, "queue": {"model": "probabilistic"}}]}


def test_scenario_venues_table_parses_and_runs():
    from tickreplay.experiment.venues_run import run_venues

    scn = parse_scenario(BASE)
    assert [v.name for v in scn.venues] == ["A", "B"] and scn.venues[0].fees.taker_bps == 0.3
    assert scn.venues[0].latency.market_data == Constant(1 * MS)
    result, tca, venues = run_venues(scn)
    assert tca["total"]["shortfall"]["filled"] == 3000
    assert sum(v["filled"] for v in tca["venues"].values()) == 3000
    assert set(result.fills["venue"]) <= {"A", "B"}
    # a one-venue scenario's spec (so its run id) does not mention venues
    one = parse_scenario({k: v for k, v in BASE.items() if k not in ("venues", "router")})
    assert "venues" not in one.spec() and "router" not in one.spec()


@pytest.mark.parametrize("change, message", [
    ({"router": None}, r"'\[router\]' is required"),
    ({"venues": [{"name": "A", "share": 1}, {"name": "A", "share": 1}]}, r"'venues\[1\]\.name'.*twice"),
    ({"venues": [{"name": "A", "share": 1, "catalog": "x"}]}, r"'venues\[0\]': give exactly one"),
    ({"venues": [{"name": "A", "share": 1}, {"name": "B", "catalog": "k"}]}, "every venue"),
    ({"router": {"policy": "single"}}, r"'router\.venue': required"),
    ({"router": {"policy": "single", "venue": "Z"}}, "unknown venue 'Z'"),
    ({"venues": [{"name": "A", "share": 1, "fees": {"taker": 1}}]}, r"unknown scenario key 'venues\[0\]\.fees\.taker'"),
])
def test_bad_venues_tables(change, message):
    doc = {**BASE, **{k: v for k, v in change.items() if v is not None}}
    for k, v in change.items():
        if v is None:
            doc.pop(k)
    with pytest.raises(ConfigError, match=message):
        parse_scenario(doc)


def test_catalog_venues_of_different_instruments_name_the_key(tmp_path):
    from tickreplay.catalog import Catalog
    from tickreplay.experiment.venues_run import venue_data

    cat = Catalog(tmp_path / "replay")
    a = generate_day("liquid_large_cap", seed=1, duration_s=60)
    b = generate_day("thin_small_cap", seed=1, duration_s=60)
    ka = cat.write("synthetic", a, compute_snapshots(a, 5)).key
    kb = cat.write("synthetic", b, compute_snapshots(b, 5)).key
    doc = {**BASE, "data": {"catalog": ka, "catalog_root": str(tmp_path / "replay")},
           "venues": [{"name": "A", "catalog": ka}, {"name": "B", "catalog": kb}]}
    scn = dataclasses.replace(parse_scenario(doc), source="two.toml")
    with pytest.raises(ConfigError, match=rf"two\.toml: venues\[1\]\.symbol: venue 'B' \(catalog key '{kb}'\)"):
        venue_data(scn)


# -- the results store: tickreplay run / compare / query ---------------------------------------------------------

def _write_scenario(path, doc):
    import tomli_w

    path.write_text(tomli_w.dumps(doc))
    return path


def test_venue_scenario_is_stored_like_any_run_and_queryable(tmp_path):
    import json

    from tickreplay.experiment.run import run_file
    from tickreplay.experiment.scenario import load_scenario
    from tickreplay.experiment.sweep import compare, read_grid
    from tickreplay.results import query
    from tickreplay.experiment.venues_run import run_venues

    two = _write_scenario(tmp_path / "two.toml", {**BASE, "name": "two", "seed": 4,
                                                  "router": {"policy": "cont-kukanov", "horizon_s": 20}})
    one = _write_scenario(tmp_path / "one.toml", {k: v for k, v in BASE.items() if k not in ("venues", "router")})
    out = tmp_path / "results"
    o = run_file(two, out)
    run_file(one, out)
    assert run_file(two, out).skipped  # the same content is the same run id
    stored = pd.read_parquet(o.path / "fills.parquet")
    orders = pd.read_parquet(o.path / "orders.parquet")
    # the stored tables are the venue engine's (oracle: run_venues, the multi-venue run without the store)
    result, vt, _ = run_venues(load_scenario(two))
    pd.testing.assert_frame_equal(stored[list(result.fills.columns)], result.fills, check_dtype=False)
    assert list(orders["venue"]) == list(result.orders["venue"])
    tca = json.loads((o.path / "tca.json").read_text())
    sf = tca["shortfall"]
    assert sf["total_bps"] == pytest.approx(vt["total"]["shortfall"]["total_bps"], abs=1e-12)
    assert tca["venues"].keys() == vt["venues"].keys()
    for name in ("A", "B"):
        for k in ("fills", "filled", "maker", "taker", "orders"):
            assert tca["venues"][name][k] == vt["venues"][name][k]
        assert tca["venues"][name]["cost_bps"] == pytest.approx(vt["venues"][name]["cost_bps"], abs=1e-12)
    assert sum(v["filled"] for v in tca["venues"].values()) == sf["filled"] == 3000
    assert sum(v["cost_bps"] for v in tca["venues"].values()) == pytest.approx(
        sf["total_bps"] - sf["opportunity_bps"], abs=1e-9)
    assert tca["router"]["policy"] == "cont-kukanov" and tca["router"]["horizon_s"] == 20
    assert sum(tca["router"]["sent"].values()) >= 3000
    meta = json.loads((o.path / "run.json").read_text())
    assert meta["venues"] == {"A": {"share": 0.6}, "B": {"share": 0.4}}
    # a grid over router.policy, stored in a batch, next to the folder runs
    grid = tmp_path / "grid.toml"
    grid.write_text('base = "two.toml"\n[sweep]\n"router.policy" = ["best", "cont-kukanov"]\n')
    table = compare(read_grid(grid).scenarios, out, progress=False, batch_size=10)
    assert list(table["skipped"]) == [False, False] and table["total_bps"].notna().all()
    per = query("SELECT run_id, venue, sum(size) AS filled FROM fills GROUP BY ALL ORDER BY ALL", out)
    plain = per[per["venue"].isna()]
    assert len(plain) == 1 and plain["filled"].iloc[0] == 3000  # the one-venue run: venue is null
    runs = query("SELECT run_id, router_label, venues_A_filled + venues_B_filled AS filled FROM runs "
                 "WHERE router_label IS NOT NULL ORDER BY router_label", out)
    assert list(runs["router_label"]) == ["best", "cont-kukanov", "cont-kukanov"] and set(runs["filled"]) == {3000}
    for rid, f in zip(runs["run_id"], runs["filled"]):
        assert per[(per["run_id"] == rid) & per["venue"].notna()]["filled"].sum() == f


def test_catalog_venue_run_id_follows_every_venues_tape(tmp_path):
    from tickreplay.catalog import Catalog
    from tickreplay.experiment.data import load_data
    from tickreplay.experiment.run import run_id_for, run_scenario

    cat = Catalog(tmp_path / "replay")
    day = generate_day("liquid_large_cap", seed=2, duration_s=300)

    def write(split_seed):
        t = split_tape(day, {"A": 0.6, "B": 0.4}, seed=split_seed)
        return [cat.write(n, t[n], compute_snapshots(t[n], 5), force=True).key for n in ("A", "B")]

    ka, kb = write(1)
    doc = {**BASE, "data": {"catalog": ka, "catalog_root": str(tmp_path / "replay")},
           "parent": {**BASE["parent"], "start": "09:31:00", "end": "09:33:00"},
           "venues": [{"name": "A", "catalog": ka}, {"name": "B", "catalog": kb}]}
    scn = parse_scenario(doc, base_dir=tmp_path)
    first = run_id_for(scn, load_data(scn))
    assert run_id_for(scn, load_data(scn)) == first
    o = run_scenario(scn, tmp_path / "results")
    fills = pd.read_parquet(o.path / "fills.parquet")
    assert o.run_id == first and set(fills["venue"]) == {"A", "B"} and fills["size"].sum() == 3000
    assert o.tca["venues"]["A"]["filled"] + o.tca["venues"]["B"]["filled"] == 3000
    t = split_tape(day, {"A": 0.6, "B": 0.4}, seed=9)
    cat.write("B", t["B"], compute_snapshots(t["B"], 5), force=True)  # venue B's tape changes, A's does not
    assert run_id_for(scn, load_data(scn)) != first
    bad = parse_scenario({**doc, "venues": [{"name": "A", "catalog": ka}, {"name": "B", "catalog": "B/X/2024-01-02"}]},
                         base_dir=tmp_path)
    with pytest.raises(ConfigError, match=r"'venues\[1\]\.catalog' \('B/X/2024-01-02'\)"):
        run_id_for(bad, load_data(bad))
