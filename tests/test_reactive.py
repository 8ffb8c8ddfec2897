"""The reactive market (tickreplay.reactive): our schedule executed inside a generated day."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from tickreplay.adapters.metaorders import HiddenTrader, PlantedImpact, expected_daily_volume
from tickreplay.adapters.synthetic import REGIMES, DayGenerator
from tickreplay.engine import EngineConfig
from tickreplay.errors import ConfigError
from tickreplay.latency import Burst, Normal
from tickreplay.reactive import ReactiveDay, compare_reactive, plain_run, reactive_run
from tickreplay.schedule import ChildOrder, ParentOrder, twap
from tickreplay.tape import EventKind

NS = 1_000_000_000
LIQUID = "liquid_large_cap"
CFG = EngineConfig(entry_latency=Normal(2_000_000, 500_000), seed=7)


def _parent(day: ReactiveDay, start_s: float, horizon_s: float, qv: float = 0.005, side: int = 1) -> ParentOrder:
    open_ns = day.generator().open_ns
    start = open_ns + round(start_s * NS)
    return ParentOrder(side, round(qv * expected_daily_volume(LIQUID)), start, start + round(horizon_s * NS))


def test_without_price_response_we_execute_exactly_as_the_hidden_trader():
    """No price response (Y = 0, G0 = 0) and a latent price that does not move (σ = 0, so the child slots' own
    diffusion draws, the only draws our parent and the hidden trader's take from different streams, play no part):
    our parent run reactively with the hidden trader's child times and sizes gives the hidden trader's day — every
    event equal (times within 1 ns: the kernel's float seconds) — and its fills, execution for execution."""
    still = replace(REGIMES[LIQUID], volatility_annual=0.0)
    none = PlantedImpact(0.0, 0.5, 0.0, 0.3)
    hidden = DayGenerator(still, 4, duration_s=1200, planted=none, metaorders=HiddenTrader(1, (2e-3, 2e-3), 0.3))
    tape_h = hidden.tape(progress=False)
    desk = hidden.desk_fills().to_pandas()
    pl, open_ns = hidden.plan, hidden.open_ns
    real = pl.ch_i[:, 1] > 0
    t_real = pl.ch_f[real, 0]
    span_ns = int(pl.span_s[0] * 1e9)
    parent = ParentOrder(int(pl.side[0]), int(pl.target[0]), open_ns + int(t_real[0] * 1e9),
                         open_ns + int(t_real[0] * 1e9) + span_ns)
    kids = [ChildOrder(open_ns + int(t * 1e9), int(q), "market", 0, parent.parent_id, i)
            for i, (t, q) in enumerate(zip(t_real, pl.ch_i[real, 1]))]
    run = reactive_run(ReactiveDay(still, 4, none, 1200), parent, kids)  # zero latency: arrival = decision
    tape_r = run.tape
    assert len(tape_r) == len(tape_h)
    for col in ("kind", "side", "price", "size", "order_id"):
        assert np.array_equal(getattr(tape_r, col), getattr(tape_h, col)), col
    assert np.abs(tape_r.ts_ns - tape_h.ts_ns).max() <= 1
    per_exec = run.fills.groupby("tape_index", sort=True)["size"].sum()
    assert np.array_equal(per_exec.to_numpy(), desk["size"].to_numpy())
    assert np.array_equal(tape_r.price[per_exec.index], np.round(desk.price.to_numpy() * 10_000).astype(np.int64))
    assert np.abs(tape_r.ts_ns[per_exec.index] - desk.ts_ns.to_numpy()).max() <= 1
    assert run.shortfall.filled == parent.quantity == int(desk["size"].sum())


def test_the_day_is_the_plain_day_until_our_first_order_arrives():
    """The same seed gives the same background draws with and without our parent: before our first arrival the
    reactive tape is the plain tape, event for event, and the arrival mid is the same."""
    day = ReactiveDay(LIQUID, 3, PlantedImpact(2.0, 0.5, 1.0, 0.3), 1800)
    parent = _parent(day, 300, 600)
    kids = twap(parent, n_children=50)
    run = reactive_run(day, parent, kids, CFG)
    plain = day.plain().tape
    first = int(run.slots.arrival_ns.min())
    n = int(np.searchsorted(plain.ts_ns, first))
    assert n > 1000 and np.searchsorted(run.tape.ts_ns, first) == n
    for col in ("ts_ns", "kind", "side", "price", "size", "order_id"):
        assert np.array_equal(getattr(run.tape, col)[:n], getattr(plain, col)[:n]), col
    assert not np.array_equal(run.tape.price[n:n + 5000], plain.price[n:n + 5000])  # then our orders change it
    assert run.shortfall.arrival_mid_x2 == plain_run(day.plain(), parent, kids, CFG)[1].arrival_mid_x2


def test_with_zero_latency_the_arrival_mid_is_the_one_before_our_first_child():
    """Zero latency: our first child executes at the parent's start, so the reactive tape's mid as of ``start_ns``
    already carries that execution and its planted move. The arrival mid must be the mid just before it — the plain
    day's mid at the start, what the trader saw when deciding — and the total is measured against it."""
    day = ReactiveDay(LIQUID, 3, PlantedImpact(2.0, 0.5, 1.0, 0.3), 1800)
    parent = _parent(day, 300, 600)
    kids = twap(parent, n_children=50)
    run = reactive_run(day, parent, kids)  # EngineConfig(): zero entry latency
    market, plain = run.data.market, day.plain()
    assert run.fills.exchange_ns.min() == parent.start_ns  # our first execution is at the start instant
    after, before = int(market.mid_x2_at(parent.start_ns)), int(market.mid_x2_at(parent.start_ns - 1))
    assert after > before  # a buy: it moved the mid as of the start
    m0 = int(plain.market.mid_x2_at(parent.start_ns))
    assert before == m0 == plain_run(plain, parent, kids)[1].arrival_mid_x2
    sf = run.shortfall
    assert sf.arrival_mid_x2 == m0
    paid_x2 = int((2 * run.fills.price * run.fills["size"]).sum())
    assert sf.total_x2 == paid_x2 - sf.filled * m0 + sf.opportunity_x2  # Perold against the mid before our start


def test_our_fills_are_executions_at_the_touch_of_the_reactive_tape():
    """Every fill is an execution of a resting ask (a buy) on the reactive tape at our slot's arrival; at each slot
    we took min(child + carry, best ask size - 1) at the best ask of the book just before; sizes add up."""
    day = ReactiveDay(LIQUID, 5, PlantedImpact(2.0, 0.5, 0.5, 0.3), 1800)
    parent = _parent(day, 300, 300)  # fast: the touch often cannot give a whole child
    run = reactive_run(day, parent, twap(parent, n_children=80), CFG)
    tape, snaps, f = run.tape, run.data.snapshots, run.fills
    assert (tape.kind[f.tape_index] == EventKind.EXECUTE_VISIBLE).all() and (tape.side[f.tape_index] == -1).all()
    assert np.array_equal(tape.ts_ns[f.tape_index], f.exchange_ns) and np.array_equal(tape.price[f.tape_index], f.price)
    per_exec = f.groupby("tape_index")["size"].sum()
    assert np.array_equal(per_exec.to_numpy(), tape.size[per_exec.index])  # split pieces add up to executions
    assert f["size"].sum() == parent.quantity == run.shortfall.filled
    assert np.array_equal(f.groupby("order_id")["size"].sum().to_numpy(), [c.quantity for c in twap(parent, 80)])
    carry, carried_slots = 0, 0
    for slot in run.slots.itertuples():
        want = slot.shares + carry
        rows = f.tape_index[f.exchange_ns == slot.arrival_ns].unique()
        took = int(tape.size[rows].sum())
        if want > 0:
            before = int(np.searchsorted(tape.ts_ns, slot.arrival_ns)) - 1  # the book just before the slot
            ask, ask_size = int(snaps.ask_price[before, 0]), int(snaps.ask_size[before, 0])
            assert took == min(want, ask_size - 1)
            assert (tape.price[rows] == ask).all()
        carry = want - took
        carried_slots += carry > 0
    assert carry == 0 and carried_slots > 0  # the carry rule was exercised


def test_a_buy_costs_more_in_the_reactive_market_than_in_plain_replay():
    """With Y > 0 a buy costs more than in plain replay: the paired interval over days is above zero at each
    speed, and the gap stays below the planted peak Y·σ·(Q/V)^δ. It is not the planted path's average
    (peak/(1+δ) for a TWAP) exactly: the two executions differ in mechanics too (reactive children take only at
    the touch and carry the rest; plain-replay market children walk the book), which docs/reactive.md states."""
    planted = PlantedImpact(4.0, 0.5, 0.0, 0.3)
    res = compare_reactive(LIQUID, seeds=range(4), horizons_min=(5, 30), qv=0.005, planted=planted, n_children=60,
                           start_min=10, n_boot=500)
    d = res.days
    peak = d.expected_impact_bps.iloc[0]
    gap = d.groupby("horizon_min").reactive_minus_plain_bps.mean()
    assert ((gap > 0.2 * peak) & (gap < 1.0 * peak)).all(), (gap, peak)
    s = res.summary.set_index(["horizon_min", "measure"])
    for h in (5.0, 30.0):
        lo, hi = s.loc[(h, "reactive_minus_plain_bps"), ["ci_low", "ci_high"]]
        assert 0 < lo <= gap[h] <= hi


def test_a_sell_pays_the_impact_too():
    planted = PlantedImpact(2.0, 0.5, 0.0, 0.3)
    day = ReactiveDay(LIQUID, 2, planted, 1800)
    parent = _parent(day, 300, 600, side=-1)
    kids = twap(parent, n_children=50)
    gap = reactive_run(day, parent, kids, CFG).shortfall.to_dict()["total_bps"] - \
        plain_run(day.plain(), parent, kids, CFG)[1].to_dict()["total_bps"]
    assert gap > 0


def test_a_seed_gives_the_same_run_and_the_engine_s_arrivals():
    day = ReactiveDay(LIQUID, 1, PlantedImpact(1.0, 0.5, 0.5, 0.3), 1800)
    parent = _parent(day, 300, 600)
    kids = twap(parent, n_children=40)
    a, b = (reactive_run(day, parent, kids, CFG) for _ in range(2))
    assert a.tape.fingerprint() == b.tape.fingerprint() and a.fills.equals(b.fills) and a.slots.equals(b.slots)
    res, _ = plain_run(day.plain(), parent, kids, CFG)  # the engine draws the same entry latencies
    new = res.orders[res.orders.action == "new"]
    real = a.slots[a.slots.child >= 0].sort_values("child")
    assert np.array_equal(new.arrival_ns.to_numpy(), real.arrival_ns.to_numpy())
    assert (real.arrival_ns > real.decision_ns).all()
    other = reactive_run(day, parent, kids, replace(CFG, seed=8))
    assert not np.array_equal(other.slots.arrival_ns, a.slots.arrival_ns)


@pytest.mark.parametrize("style", ["limit_touch", "limit_offset", "peg_mid"])
def test_passive_styles_are_refused(style):
    day = ReactiveDay(LIQUID, 1, PlantedImpact(1.0, 0.5, 0.0, 0.3), 1800)
    parent = _parent(day, 300, 600)
    with pytest.raises(ConfigError, match=f"style '{style}'.*market children only"):
        reactive_run(day, parent, twap(parent, n_children=10, style=style, offset_ticks=1))


def test_inputs_the_reactive_market_cannot_take_are_refused():
    day = ReactiveDay(LIQUID, 1, PlantedImpact(1.0, 0.5, 0.0, 0.3), 900)
    late = _parent(day, 600, 600)
    with pytest.raises(ConfigError, match="outside the generated day.*duration_s"):
        reactive_run(day, late, twap(late, n_children=10))
    ok = _parent(day, 100, 300)
    burst = EngineConfig(entry_latency=Burst(1_000_000, 1_000, NS))
    with pytest.raises(ConfigError, match="burst entry latency"):
        reactive_run(day, ok, twap(ok, n_children=10), burst)
    with pytest.raises(ConfigError, match="needs planted"):
        DayGenerator(LIQUID, 1, duration_s=900, added_parent=(1, [1.0], [100]))


def test_the_third_column_is_the_engine_s_impact_adjusted_replay():
    """With an impact model, ``impact_adjusted`` is the engine run with ``EngineConfig.impact``: zero
    coefficients give the plain replay's numbers exactly, a positive Y a higher cost. Where the engine has no
    impact-adjusted replay, asking for it is an error that says so."""
    planted = PlantedImpact(1.0, 0.5, 0.0, 0.3)
    args = dict(regime=LIQUID, seeds=range(2), horizons_min=(5,), planted=planted, n_children=30, start_min=10,
                n_boot=200)
    if "impact" not in EngineConfig.__dataclass_fields__:
        with pytest.raises(ConfigError, match="no impact-adjusted replay"):
            compare_reactive(**args, impact=object())
        return
    from tickreplay.impact.replay_impact import ImpactModel

    sqrt = dict(model="sqrt", beta=0.3, tau0=1.0, clock="trades", delta=0.5, daily_vol=0.0126, adv=4.5e6)
    zero = compare_reactive(**args, impact=ImpactModel(**sqrt, Y=0.0)).days
    assert np.array_equal(zero.impact_adjusted_bps, zero.plain_bps)
    some = compare_reactive(**args, impact=ImpactModel(**sqrt, Y=1.0))
    assert (some.days.impact_adjusted_bps > some.days.plain_bps).all()
    assert some.ways == ("plain", "impact_adjusted", "reactive")
    assert "reactive_minus_impact_adjusted_bps" in set(some.summary.measure)
