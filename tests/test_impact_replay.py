"""Impact-adjusted replay: the shift kernel in closed form, zero coefficients = no impact byte for byte, costs that
grow with impact and with schedule speed, invariants with impact on, and the scenario's [impact] table."""

from __future__ import annotations

import json
import hashlib
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from test_exchange import BOOK, BUY, LIM, MKT, SELL, K, Script, make_replay, run
from tickreplay.adapters.synthetic import generate_day
from tickreplay.book.fast import compute_snapshots
from tickreplay.book.replay import ReplayData
from tickreplay.engine import Engine, EngineConfig
from tickreplay.errors import ConfigError
from tickreplay.experiment.scenario import parse_scenario
from tickreplay.impact.calibration import new_calibration
from tickreplay.impact.replay_impact import ImpactModel, ShiftState, crossing_tau, round_to_ticks
from tickreplay.orders import NewOrder
from tickreplay.schedule import ParentOrder, twap
from tickreplay.tca.market import MarketSeries
from tickreplay.tca.summary import measure_parent
from tickreplay.trader.executor import ChildOrderExecutor

S = 1_000_000_000


@pytest.fixture(scope="module")
def day():
    tape = generate_day("liquid_large_cap", seed=7, duration_s=900)
    snaps = compute_snapshots(tape, 5)
    return ReplayData.build(tape, snaps), MarketSeries.from_tape(tape, snaps)


def _twap_run(day, impact, n=10, horizon_s=300, qty=3000, style="market", side=1):
    replay, market = day
    t0 = replay.session_start_ns + 5 * S
    parent = ParentOrder(side, qty, t0, t0 + horizon_s * S)
    kids = twap(parent, n_children=n, style=style, lot_size=replay.instrument.lot_size)
    res = Engine(replay, EngineConfig(impact=impact)).run(ChildOrderExecutor(side, kids, 10 * S), start_ns=t0,
                                                          compiled=False)
    tca, _ = measure_parent(res.fills, res.orders, parent, market)
    return res, tca


def _digest(df: pd.DataFrame) -> str:
    return hashlib.sha256(pd.util.hash_pandas_object(df, index=True).values.tobytes()
                          + str(list(df.columns)).encode() + str(list(df.dtypes)).encode()).hexdigest()


# -- the kernel ------------------------------------------------------------------------------------

def test_a_single_buy_shifts_the_market_by_its_amplitude_and_decays_as_the_kernel_at_the_tick_crossings():
    # propagator in seconds: G0 = 500 bps of M0 = 101 (book 100 / 102, tick 1) per trade of 10 units; we buy 10:
    # A = 5.05 price units, the shift starts at 5 ticks and steps down one tick at each crossing
    model = ImpactModel("propagator", beta=0.7, tau0=0.2, G0=500.0, trade_size=10.0)
    r = make_replay(BOOK + [(10**6 * k, K.ADD, BUY, 98, 1, 100 + k) for k in range(1, 7000)], session_end_ns=10**10)
    state = ShiftState(model, r, 0)
    assert state.ref_mid == 101.0
    a = 500 * 1e-4 * 101
    state.add(BUY, 10, 5, 3)
    assert state.shift_at(5, 3) == round_to_ticks(a, 1) == 5
    ts = r.ts_ns
    after, current = 3, 5
    for m in (4, 3, 2, 1, 0):
        tau = crossing_tau(a, 1, m, model)
        assert tau == pytest.approx(0.2 * ((a / (m + 0.5)) ** (1 / 0.7) - 1))
        t_cross = 5 + tau * S  # closed form: A G(tau) = (m + 1/2) ticks
        j = state.next_change(after, current, len(ts))
        assert j == int(np.searchsorted(ts, t_cross))  # the first tape event at or after the crossing
        assert state.shift_at(int(ts[j - 1]), j - 1) == m + 1 and state.shift_at(int(ts[j]), j) == m
        after, current = j, m
    assert state.next_change(after, 0, len(ts)) == len(ts)  # decayed to 0 ticks: no change ever again
    # halves round away from zero: 2.5 ticks → 3, -2.5 → -3
    assert round_to_ticks(2.5, 1) == 3 and round_to_ticks(-2.5, 1) == -3 and round_to_ticks(2.4999, 1) == 2


class _Watch(Script):
    """A script that also records, at each ADD after 5 ms, the event's price and the view's best bid and ask."""

    subscribe = (K.ADD,)

    def __init__(self, actions):
        super().__init__(actions)
        self.seen = []

    def on_market(self, ctx, event):
        if event.exchange_ns >= 5_000_000:  # after our buy (the book is set up before it)
            self.seen.append((event.exchange_ns, event.price, ctx.view.best_bid()[0], ctx.view.best_ask()[0]))


def test_the_trader_sees_the_shift_step_down_at_the_tape_events_after_each_crossing():
    model = ImpactModel("propagator", beta=0.5, tau0=0.05, G0=300.0, trade_size=10.0)
    r = make_replay(BOOK + [(5_000_000 + k * 2_000_000, K.ADD, BUY, 97, 1, 100 + k) for k in range(1500)],
                    session_end_ns=10**10)
    a = 300 * 1e-4 * 101  # 3.03 price units = 3.03 ticks for our 10 units at M0 = 101
    watch = _Watch([(4_000_000, "send", NewOrder(BUY, 10, MKT, None)),
                    (4_000_001, "send", NewOrder(SELL, 1, LIM, 200))])
    res = Engine(r, EngineConfig(impact=model)).run(watch, start_ns=0)
    assert res.fills.price.tolist() == [102] and res.fills.impact_shift.tolist() == [0]  # no shift before our buy
    assert res.orders.impact_shift.tolist() == [0, 3]  # the sell arrived 1 ns after: round(3.03 G(1 ns)) = 3
    crossings = [4_000_000 + crossing_tau(a, 1, m, model) * S for m in (2, 1, 0)]
    for t, price, bid, ask in watch.seen:
        expect = 3 - sum(t >= c for c in crossings)
        assert (price, bid, ask) == (97 + expect, 100 + expect, 102 + expect)
    assert {e[1] - 97 for e in watch.seen} == {3, 2, 1, 0}


# -- zero coefficients, costs ----------------------------------------------------------------------

@pytest.mark.parametrize("style", ["market", "limit_touch"])
def test_zero_coefficients_equal_no_impact_byte_for_byte(day, style):
    base, tca0 = _twap_run(day, None, style=style)
    zero, tca1 = _twap_run(day, ImpactModel("propagator", beta=0.5, tau0=5.0, G0=0.0, permanent_bps=0.0),
                           style=style)
    assert (zero.fills.impact_shift == 0).all() and (zero.orders.impact_shift == 0).all()
    assert _digest(zero.fills.drop(columns="impact_shift")) == _digest(base.fills)
    assert _digest(zero.orders.drop(columns="impact_shift")) == _digest(base.orders)
    sf0, sf1 = tca0["shortfall"], tca1["shortfall"]
    assert sf1.pop("market_impact_bps") == 0 and sf1.pop("market_impact_currency") == 0
    assert sf0 == sf1
    # the no-impact path is the compiled loop's, unchanged: the Python loop with impact=None equals it
    replay, _ = day
    t0 = replay.session_start_ns + 5 * S
    kids = twap(ParentOrder(1, 3000, t0, t0 + 300 * S), n_children=10, style=style, lot_size=1)
    compiled = Engine(replay, EngineConfig()).run(ChildOrderExecutor(1, kids, 10 * S), start_ns=t0)
    assert _digest(compiled.fills) == _digest(base.fills) and _digest(compiled.orders) == _digest(base.orders)


@pytest.mark.parametrize("model", [
    ImpactModel("propagator", beta=0.5, tau0=10.0, G0=1.0, permanent_bps=0.2),
    ImpactModel("propagator", beta=0.4, tau0=20.0, clock="trades", G0=1.0),
    ImpactModel("sqrt", beta=0.5, tau0=10.0, Y=0.7, delta=0.5, daily_vol=0.02, adv=2e6),
])
@pytest.mark.parametrize("side", [1, -1])
def test_a_schedule_costs_more_with_impact_on_and_the_part_adds_up(day, model, side):
    off, tca_off = _twap_run(day, None, side=side)
    on, tca_on = _twap_run(day, model, side=side)
    s_off, s_on = tca_off["shortfall"], tca_on["shortfall"]
    assert s_on["filled"] == s_off["filled"] == 3000
    assert s_on["total_bps"] > s_off["total_bps"]
    assert s_on["market_impact_bps"] > 0
    # the impact part is Σ side·S·size, and the parts still add up to the total
    f = on.fills
    unit = tca_on["shortfall"]["arrival_notional"] / (3000 * tca_on["shortfall"]["arrival_mid"])
    assert s_on["market_impact_currency"] == pytest.approx(float((side * f.impact_shift * f["size"]).sum())
                                                          / day[0].instrument.price_scale * unit)
    parts = [k for k in s_on if k.endswith("_currency") and k != "total_currency"]
    assert sum(s_on[k] for k in parts) == pytest.approx(s_on["total_currency"])
    # a market child's historical price is what the plain replay paid (the same book row), the rest is the shift
    assert ((f.price - f.impact_shift) * f["size"]).sum() == (off.fills.price * off.fills["size"]).sum()


def test_a_faster_schedule_costs_more_than_a_slower_one_of_the_same_size_with_impact_on(day):
    model = ImpactModel("propagator", beta=0.5, tau0=5.0, G0=1.5)
    fast = _twap_run(day, model, n=5, horizon_s=60)[1]["shortfall"]
    slow = _twap_run(day, model, n=20, horizon_s=600)[1]["shortfall"]
    assert fast["market_impact_bps"] > slow["market_impact_bps"] > 0
    fast0 = _twap_run(day, None, n=5, horizon_s=60)[1]["shortfall"]
    slow0 = _twap_run(day, None, n=20, horizon_s=600)[1]["shortfall"]
    # what impact adds is larger for the faster schedule
    assert fast["total_bps"] - fast0["total_bps"] > slow["total_bps"] - slow0["total_bps"]


# -- invariants with impact on ---------------------------------------------------------------------

@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(plan=st.lists(st.tuples(st.integers(0, 120), st.sampled_from([1, -1]), st.integers(1, 8) ,
                               st.sampled_from(["market", "limit"]), st.integers(-2, 3)), min_size=1, max_size=12),
       g0=st.floats(0.5, 20.0), clock=st.sampled_from(["seconds", "trades"]))
def test_invariants_with_impact_on(day, plan, g0, clock):
    replay, _ = day
    tick = replay.instrument.tick_size
    model = ImpactModel("propagator", beta=0.6, tau0=2.0 if clock == "seconds" else 30.0, clock=clock, G0=g0)
    t0 = replay.session_start_ns + 5 * S
    actions = []
    for k, (dt, side, lots, typ, ticks) in enumerate(plan):
        t = t0 + dt * S // 4 + k
        if typ == "market":
            actions.append((t, "send", NewOrder(side, 100 * lots, MKT, None), k))
        else:
            i = replay.index_at(t)
            touch = int((replay.snapshots.bid_price if side == 1 else replay.snapshots.ask_price)[i, 0])
            actions.append((t, "send", NewOrder(side, 100 * lots, LIM, touch - side * ticks * tick), k))
    res, _ = run(replay, actions, start_ns=t0, end_ns=t0 + 60 * S, impact=model)
    res2, _ = run(replay, actions, start_ns=t0, end_ns=t0 + 60 * S, impact=model)
    assert _digest(res.fills) == _digest(res2.fills) and _digest(res.orders) == _digest(res2.orders)  # determinism
    f, o = res.fills, res.orders
    new = o[o.action == "new"].set_index("order_id")
    filled = f.groupby("order_id")["size"].sum()
    for oid, q in filled.items():  # no overfill, quantity conserved
        assert q <= new.loc[oid, "quantity"]
        assert new.loc[oid, "order_filled"] == q
    assert (new.order_filled + new.unfilled == new.final_quantity).all()
    assert (f.impact_shift % tick == 0).all()
    for row in f.itertuples():
        hist = row.price - row.impact_shift
        if row.liquidity == "taker":  # no fill better than the shifted book allowed: the historical book row
            s = replay.snapshots
            book = (s.ask_price if row.side == 1 else s.bid_price)[row.tape_index]
            assert hist in set(book[book > 0].tolist())
            limit = new.loc[row.order_id, "price"]
            if limit >= 0:
                assert row.price <= limit if row.side == 1 else row.price >= limit
        else:  # a passive fill is at our own limit, never better
            assert row.price == new.loc[row.order_id, "final_price"]


# -- the scenario's [impact] table -----------------------------------------------------------------

_DOC = {"data": {"synthetic": {"regime": "liquid_large_cap", "seed": 1}},
        "parent": {"side": "buy", "quantity": 1000, "start": "10:00:00", "end": "10:10:00"},
        "schedule": {"kind": "twap", "n_children": 4}}


def _parse(impact, base_dir="."):
    return parse_scenario({**_DOC, **({} if impact is None else {"impact": impact})}, "t", base_dir)


def test_no_impact_table_and_model_none_keep_the_run_spec():
    plain = _parse(None)
    assert plain.impact is None and "impact" not in plain.spec()
    assert _parse({"model": "none"}).spec() == plain.spec()
    on = _parse({"model": "propagator", "G0": 1.0, "beta": 0.5, "tau0": 10})
    assert on.spec()["impact"]["G0"] == 1.0 and on.spec() != plain.spec()


@pytest.mark.parametrize("table, key", [
    ({"model": "linear"}, "impact.model"),
    ({"model": "propagator", "G0": -1.0, "beta": 0.5, "tau0": 10}, "impact.G0"),
    ({"model": "propagator", "G0": 1.0, "beta": -0.5, "tau0": 10}, "impact.beta"),
    ({"model": "sqrt", "Y": 0.5, "delta": 0.5, "beta": 0.5, "tau0": 0}, "impact.tau0"),
    ({"model": "propagator", "G0": 1.0, "beta": 0.5}, "impact.tau0"),
    ({"model": "sqrt", "G0": 1.0}, "impact.G0"),
    ({"model": "none", "beta": 0.5}, "impact.beta"),
    ({"model": "propagator", "G0": 1.0, "beta": 0.5, "tau0": 1, "speed": 2}, "impact.speed"),
])
def test_scenario_errors_name_the_key(table, key):
    with pytest.raises(ConfigError, match=f"'{key}'"):
        _parse(table)


def test_a_calibration_file_gives_the_parameters_and_must_fit_the_model(tmp_path: Path):
    new_calibration("propagator", {"G0": 1.2, "beta": 0.3, "lag0": 5.0}).write(tmp_path / "prop.json")
    new_calibration("sqrt", {"Y": 0.8, "delta": 0.5}).write(tmp_path / "sqrt.json")
    scn = _parse({"model": "propagator", "calibration": "prop.json", "permanent_bps": 0.1}, tmp_path)
    # the calibrated G(l) = G0 / (1 + l/lag0)^beta holds from lag 1 (the mid before the next trade); the replay's
    # kernel is in force from tau = 0 trades after our trade: G_replay(tau) = G(tau + 1) at every tau
    model = scn.impact
    assert (model.beta, model.clock) == (0.3, "trades")
    tau = np.arange(0, 50)
    assert np.allclose(model.G0 * model.kernel(tau), 1.2 / (1 + (tau + 1) / 5.0) ** 0.3, rtol=1e-12)
    assert scn.impact.permanent_bps == 0.1
    with pytest.raises(ConfigError, match="'impact.calibration'.*expected a 'propagator' calibration"):
        _parse({"model": "propagator", "calibration": "sqrt.json"}, tmp_path)
    with pytest.raises(ConfigError, match="'impact.G0': also given by the calibration file"):
        _parse({"model": "propagator", "calibration": "prop.json", "G0": 2.0}, tmp_path)
    with pytest.raises(ConfigError, match="'impact.clock'"):
        _parse({"model": "propagator", "calibration": "prop.json", "clock": "seconds"}, tmp_path)
    with pytest.raises(ConfigError, match="'impact.beta' is required"):  # sqrt's decay is not in its calibration
        _parse({"model": "sqrt", "calibration": "sqrt.json", "tau0": 10}, tmp_path)
    s = _parse({"model": "sqrt", "calibration": "sqrt.json", "beta": 0.5, "tau0": 10}, tmp_path)
    assert (s.impact.Y, s.impact.delta) == (0.8, 0.5)


def test_the_shipped_impact_scenario_costs_more_than_its_plain_twin(tmp_path):
    """scenarios/twap_impact.toml is twap_market.toml with an [impact] table; run both as `tickreplay run` does
    (the scenario's [impact] reaches the engine through experiment.plan.engine_config)."""
    from tickreplay.experiment.run import run_file

    root = Path(__file__).resolve().parents[1] / "scenarios"
    costs = {}
    for name in ("twap_market", "twap_impact"):
        out = run_file(root / f"{name}.toml", tmp_path / "results")
        costs[name] = json.loads((out.path / "tca.json").read_text())["shortfall"]
    assert costs["twap_impact"]["market_impact_bps"] > 0 and "market_impact_bps" not in costs["twap_market"]
    assert costs["twap_impact"]["total_bps"] > costs["twap_market"]["total_bps"]


def test_a_resting_order_is_re_pegged_and_fills_at_its_own_price_when_the_decay_brings_the_book_to_it():
    # book 100 / 102 (tick 1); our market buy of 10 pushes the market up by round(2.02) = 2 ticks; a buy resting
    # at 103 (inside our shifted 102 / 104) sits at historical 101; when the shift decays to 1 tick it is re-pegged
    # to historical 102, the ask: it fills there against the 40 left (10 we took stay taken), at its own 103
    model = ImpactModel("propagator", beta=0.5, tau0=0.05, G0=200.0, trade_size=10.0)
    r = make_replay(BOOK + [(5_000_000 + k * 2_000_000, K.ADD, BUY, 97, 1, 100 + k) for k in range(500)],
                    session_end_ns=10**10)
    res, _ = run(r, [(4_000_000, "send", NewOrder(BUY, 10, MKT, None)),
                     (4_000_001, "send", NewOrder(BUY, 45, LIM, 103))], impact=model)
    f = res.fills
    t_cross = 4_000_000 + crossing_tau(200 * 1e-4 * 101, 1, 1, model) * S
    first = int(np.searchsorted(r.ts_ns, t_cross))
    assert f[["price", "size", "liquidity", "how", "impact_shift"]].values.tolist() == [
        [102, 10, "taker", "walk", 0], [103, 40, "maker", "trade_through", 1]]
    assert f.exchange_ns.iloc[1] == r.ts_ns[first]
    assert res.orders.queue_ahead.tolist()[1] == 0  # at historical 101 nothing rested ahead of it
    # without impact the same buy at 103 is marketable at once: it takes 40 at 102 and 5 at 103 as a taker
    plain, _ = run(r, [(4_000_000, "send", NewOrder(BUY, 10, MKT, None)),
                       (4_000_001, "send", NewOrder(BUY, 45, LIM, 103))])
    assert plain.fills[["price", "size", "liquidity"]].values.tolist() == [
        [102, 10, "taker"], [102, 40, "taker"], [103, 5, "taker"]]


def test_the_sqrt_model_is_the_law_of_the_cumulative_quantity_whatever_the_child_count():
    """Without decay (beta = 0) a parent of Q ends at Y sigma (Q/V)^delta M0 for 1, 10 or 100 children: each own
    trade adds its increment of the law; a law per child would give N^(1 - delta) times it."""
    from tickreplay.impact.replay_impact import ShiftState

    model = ImpactModel("sqrt", beta=0.0, tau0=1.0, Y=1.0, delta=0.5, daily_vol=0.02, adv=1e6)
    replay = make_replay(BOOK, session_end_ns=10**10)
    for n in (1, 10, 100):
        state = ShiftState(model, replay, 0)
        for j in range(n):
            state.add(BUY, 10_000 // n, 1_000 + j, 0)
        law = 1.0 * 0.02 * (10_000 / 1e6) ** 0.5 * state.ref_mid
        assert state.raw_at(2_000, 0) == pytest.approx(law, rel=1e-12), n
