"""TCA: hand-checked shortfall and decomposition, mirror symmetry, latency, exact telescoping, markouts, passive
fill rates, realised vs predicted, and reproducibility from stored fills."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings, strategies as st

from tickreplay.book.fast import compute_snapshots
from tickreplay.engine import Engine, EngineConfig, Strategy
from tickreplay.errors import InputError
from tickreplay.exchange import FeeSchedule
from tickreplay.impact import MarketInputs
from tickreplay.latency import Constant
from tickreplay.orders import FILL_COLUMNS, NewOrder, OrderType
from tickreplay.book.replay import ReplayData
from tickreplay.schedule import ParentOrder
from tickreplay.tape import EventKind as K, Instrument, Tape
from tickreplay.tca import (HORIZONS_NS, PARTS, MarketSeries, PreTradeInputs, fill_costs, fill_table,
                            shortfall, tca_summary)
from tickreplay.tca.shortfall import PRICE_PARTS

NS = 1_000_000_000
MS = 1_000_000
T0 = 1_704_200_000 * NS
INST = Instrument("TST", "test", "2024-01-02", price_scale=10_000, tick_size=100)
CENT = 100  # price units

# (ts, kind, side, price, size, order id). The book at T0 - 1 s: bids 100.00 x300, 99.99 x500;
# asks 100.02 x100, 100.03 x200, 100.05 x500 → mid 100.01.
EVENTS = [
    (T0 - NS, K.ADD, 1, 1_000_000, 300, 1),
    (T0 - NS, K.ADD, 1, 999_900, 500, 2),
    (T0 - NS, K.ADD, -1, 1_000_200, 100, 3),
    (T0 - NS, K.ADD, -1, 1_000_300, 200, 4),
    (T0 - NS, K.ADD, -1, 1_000_500, 500, 5),
    (T0 + NS // 2, K.ADD, 1, 1_000_100, 100, 6),  # bid 100.01 → mid 100.015
    (T0 + 5 * NS, K.DELETE, -1, 1_000_200, 100, 3),  # ask 100.03 → mid 100.02
    (T0 + 30 * NS, K.EXECUTE_VISIBLE, -1, 1_000_300, 50, 4),  # 50 traded at 100.03
    (T0 + 40 * NS, K.ADD, 1, 1_000_200, 100, 7),  # bid 100.02 → mid 100.025
    (T0 + 45 * NS, K.EXECUTE_HIDDEN, -1, 1_000_200, 30, 0),  # 30 traded at 100.02
    (T0 + 200 * NS, K.DELETE, 1, 1_000_200, 100, 7),  # mid 100.02
    (T0 + 400 * NS, K.ADD, -1, 1_000_600, 10, 8),  # deep: the tape's last event
]
TF = T0 + 100 * MS  # the market order's decision time


def make_tape(mirror_around: int | None = None) -> Tape:
    """The hand-made tape; mirrored: prices reflected around ``mirror_around`` and sides flipped."""
    ts, kind, side, price, size, oid = (np.array(c) for c in zip(*EVENTS))
    if mirror_around is not None:
        price, side = 2 * mirror_around - price, -side
    return Tape.from_columns(INST, ts_ns=ts, kind=kind, side=side, price=price, size=size, order_id=oid)


class MarketOrder(Strategy):
    def __init__(self, side: int, qty: int) -> None:
        self.side, self.qty = side, qty

    def on_start(self, ctx) -> None:
        ctx.send(NewOrder(self.side, self.qty, OrderType.MARKET, parent_id=1))


def run(tape: Tape, strategy: Strategy, latency_ns: int = 0, start_ns: int = TF):
    replay = ReplayData.build(tape, compute_snapshots(tape, 5))
    cfg = EngineConfig(entry_latency=Constant(latency_ns), fees=FeeSchedule(taker_per_unit=0.003))
    return Engine(replay, cfg).run(strategy, start_ns=start_ns), MarketSeries.from_tape(tape, replay.snapshots)


# -- the hand-checked market order -------------------------------------------------------------

def test_single_market_order_by_hand():
    """Buy 250 of a 400 parent at 100.01: walks 100 @ 100.02 and 150 @ 100.03; 150 left for the end mid 100.025.

    The touch at the fill is the ask 100.02 (bid 100.00, mid 100.01): every share pays the half spread 0.01,
    and the 150 taken at the second level pay 0.01 more for walking the book beyond the touch."""
    res, market = run(make_tape(), MarketOrder(1, 250))
    parent = ParentOrder(side=1, quantity=400, start_ns=TF, end_ns=T0 + 60 * NS)
    sf = shortfall(res.fills, parent, market).to_dict()
    ask1, mid = 100.02, 100.01
    half_spread = (ask1 - mid) * 250  # 2.50
    book_walk = 100 * (100.02 - ask1) + 150 * (100.03 - ask1)  # 1.50: the rest of the 4.00 paid vs the mid
    fees = 250 * 0.003
    opportunity = 150 * (100.025 - 100.01)
    total = half_spread + book_walk + fees + opportunity  # 7.00
    notional = 400 * 100.01
    assert sf["half_spread_currency"] == pytest.approx(half_spread, abs=1e-9)
    assert sf["book_walk_currency"] == pytest.approx(book_walk, abs=1e-9)
    assert sf["drift_arrival_to_fill_currency"] == sf["delay_currency"] == sf["timing_currency"] == 0
    assert sf["fees_currency"] == pytest.approx(fees)
    assert sf["opportunity_currency"] == pytest.approx(opportunity, abs=1e-9)
    assert sf["total_currency"] == pytest.approx(7.0, abs=1e-9) and total == pytest.approx(7.0)
    assert sf["total_bps"] == pytest.approx(7.0 / notional * 1e4, rel=1e-12)
    assert sf["half_spread_bps"] == pytest.approx(2.5 / notional * 1e4, rel=1e-12)
    assert sf["book_walk_bps"] == pytest.approx(1.5 / notional * 1e4, rel=1e-12)
    costs = fill_costs(res.fills, parent, market)
    assert list(costs["touch_fill_x2"]) == [2 * 1_000_200] * 2
    assert list(costs["book_walk_x2"]) == [0, 150 * 2 * 100]  # 150 × 2 × (100.03 − 100.02) in half price units
    assert (sf["filled"], sf["unfilled"], sf["arrival_mid"], sf["end_mid"]) == (250, 150, 100.01, 100.025)


def test_latency_moves_cost_from_spread_to_delay():
    """1 s entry latency: the order arrives after the bid rose to 100.01 (mid 100.015); same asks walked."""
    res, market = run(make_tape(), MarketOrder(1, 250), latency_ns=NS)
    parent = ParentOrder(side=1, quantity=250, start_ns=T0, end_ns=T0 + 60 * NS)
    sf = shortfall(res.fills, parent, market).to_dict()
    assert sf["delay_currency"] == pytest.approx(250 * 0.005, abs=1e-9)
    assert sf["half_spread_currency"] == pytest.approx(250 * 0.005, abs=1e-9)  # ask 100.02 − mid 100.015
    assert sf["book_walk_currency"] == pytest.approx(150 * 0.01, abs=1e-9)
    assert sf["timing_currency"] == sf["drift_arrival_to_fill_currency"] == sf["opportunity_currency"] == 0


def test_child_decided_after_a_move_pays_timing():
    """Parent at TF (mid 100.01); the child decides at T0 + 6 s (mid 100.02): 200 @ 100.03, 50 @ 100.05."""
    res, market = run(make_tape(), MarketOrder(1, 250), start_ns=T0 + 6 * NS)
    parent = ParentOrder(side=1, quantity=250, start_ns=TF, end_ns=T0 + 60 * NS)
    sf = shortfall(res.fills, parent, market).to_dict()
    assert sf["timing_currency"] == pytest.approx(250 * 0.01, abs=1e-9)
    assert sf["half_spread_currency"] == pytest.approx(250 * 0.01, abs=1e-9)  # ask 100.03 − mid 100.02
    assert sf["book_walk_currency"] == pytest.approx(50 * 0.02, abs=1e-9)  # 50 at 100.05
    assert sf["delay_currency"] == sf["drift_arrival_to_fill_currency"] == 0
    assert sf["total_currency"] - sf["fees_currency"] == pytest.approx(200 * 0.02 + 50 * 0.04, abs=1e-9)


def test_zero_latency_has_zero_delay_cost():
    res, market = run(make_tape(), MarketOrder(1, 250), latency_ns=0)
    parent = ParentOrder(side=1, quantity=250, start_ns=T0, end_ns=T0 + 60 * NS)
    assert (res.fills["decision_ns"] == res.fills["arrival_ns"]).all()
    assert shortfall(res.fills, parent, market).part_x2("delay") == 0


def test_buy_and_mirrored_sell_cost_the_same():
    """Reflect every price around the arrival mid and flip sides: a sell there costs what the buy costs here."""
    center = 1_000_100
    parents = [ParentOrder(side=s, quantity=400, start_ns=TF, end_ns=T0 + 60 * NS) for s in (1, -1)]
    out = []
    for (tape, side), parent in zip(((make_tape(), 1), (make_tape(center), -1)), parents):
        res, market = run(tape, MarketOrder(side, 250), latency_ns=NS)
        out.append(tca_summary(res.fills, res.orders, parent, market))
    buy, sell = out
    b, s = dict(buy["shortfall"]), dict(sell["shortfall"])
    assert b.pop("end_mid") + s.pop("end_mid") == pytest.approx(2 * 100.01)  # reflected
    assert b == s
    assert buy["markouts"] == sell["markouts"]
    assert buy["window"]["vwap_slippage_bps"] == pytest.approx(sell["window"]["vwap_slippage_bps"], abs=1e-12)
    assert buy["shortfall"]["total_currency"] > 0


# -- exact telescoping (hypothesis) -------------------------------------------------------------

def _brute_at(ts: np.ndarray, values: np.ndarray, t: int) -> int:
    """The value as of t, by a plain scan: last event with ts <= t, else the first."""
    k = 0
    for i, x in enumerate(ts):
        if x <= t:
            k = i
    return int(values[k])


@settings(max_examples=60, deadline=None)
@given(data=st.data(), side=st.sampled_from([1, -1]), n_events=st.integers(1, 30), n_fills=st.integers(0, 12))
def test_decomposition_adds_up_exactly(data, side, n_events, n_fills):
    ts = np.sort(np.array(data.draw(st.lists(st.integers(0, 10_000), min_size=n_events, max_size=n_events)),
                          dtype=np.int64))
    bid = np.array(data.draw(st.lists(st.integers(500, 1_500), min_size=n_events, max_size=n_events)), dtype=np.int64)
    ask = bid + np.array(data.draw(st.lists(st.integers(1, 50), min_size=n_events, max_size=n_events)), dtype=np.int64)
    mid_x2 = bid + ask
    zeros = np.zeros(n_events + 1, np.int64)
    market = MarketSeries(INST, ts, mid_x2, zeros, zeros, bid, ask)
    rows = []
    for _ in range(n_fills):
        d = data.draw(st.integers(-100, 10_100))
        a = d + data.draw(st.integers(0, 500))
        e = a + data.draw(st.integers(0, 2_000))
        rows.append(dict(order_id=1, parent_id=1, side=side, price=data.draw(st.integers(400, 1_600)),
                         size=data.draw(st.integers(1, 50)), liquidity=data.draw(st.sampled_from(["maker", "taker"])),
                         fee=data.draw(st.floats(-1, 1)), decision_ns=d, arrival_ns=a, exchange_ns=e))
    fills = pd.DataFrame(rows, columns=list(rows[0]) if rows else ["order_id", "parent_id", "side", "price", "size",
                                                                   "liquidity", "fee", "decision_ns", "arrival_ns",
                                                                   "exchange_ns"])
    qty = int(fills["size"].sum()) + data.draw(st.integers(1, 100))
    start, end = data.draw(st.integers(-100, 5_000)), data.draw(st.integers(5_001, 12_000))
    parent = ParentOrder(side=side, quantity=qty, start_ns=start, end_ns=end)
    sf = shortfall(fills, parent, market)
    m0, m1 = _brute_at(ts, mid_x2, start), _brute_at(ts, mid_x2, end)
    # Perold, directly: side × (2·Σ q p − F·2·M0) + side × U × 2·(M1 − M0), in half price units
    filled = sum(r["size"] for r in rows)
    perold_x2 = side * (2 * sum(r["size"] * r["price"] for r in rows) - filled * m0) + side * (qty - filled) * (m1 - m0)
    assert sf.total_x2 == perold_x2
    assert sum(sf.part_x2(p) for p in PARTS if p != "fees") == perold_x2
    # each part by its docstring formula, by a plain scan of the book; touch: ours for maker fills, theirs for taker
    expected = dict.fromkeys(PRICE_PARTS, 0)
    for r in rows:
        sq, mf = side * r["size"], _brute_at(ts, mid_x2, r["exchange_ns"])
        ma, md = _brute_at(ts, mid_x2, r["arrival_ns"]), _brute_at(ts, mid_x2, r["decision_ns"])
        bid_side = side == 1 if r["liquidity"] == "maker" else side == -1
        touch2 = 2 * _brute_at(ts, bid if bid_side else ask, r["exchange_ns"])
        expected["half_spread"] += sq * (touch2 - mf)
        expected["book_walk"] += sq * (2 * r["price"] - touch2)
        expected["drift_arrival_to_fill"] += sq * (mf - ma)
        expected["delay"] += sq * (ma - md)
        expected["timing"] += sq * (md - m0)
    assert {p: sf.part_x2(p) for p in PRICE_PARTS} == expected
    d = sf.to_dict()
    parts = sum(d[f"{p}_currency"] for p in PARTS)
    assert parts == pytest.approx(d["total_currency"], rel=1e-12, abs=1e-12)
    assert sum(d[f"{p}_bps"] for p in PARTS) == pytest.approx(d["total_bps"], rel=1e-12, abs=1e-12)


# -- markouts, window benchmarks -----------------------------------------------------------------

def test_markouts_read_the_right_mids():
    res, market = run(make_tape(), MarketOrder(1, 250))
    parent = ParentOrder(side=1, quantity=400, start_ns=TF, end_ns=T0 + 60 * NS)
    # mid (in cents above 100.00) as of TF + h, read off EVENTS by hand
    mid_cents = {"50ms": 1.0, "1s": 1.5, "10s": 2.0, "1min": 2.5, "5min": 2.0}
    table = fill_table(res.fills, parent, market)
    summary = tca_summary(res.fills, res.orders, parent, market)["markouts"]
    bps_per_cent = 0.01 / 100.01 * 1e4
    for label, m in mid_cents.items():
        per_fill = [(m - 2) * bps_per_cent, (m - 3) * bps_per_cent]  # fills at 100.02 and 100.03
        assert table[f"markout_{label}_bps"].tolist() == pytest.approx(per_fill, rel=1e-12)
        avg = (100 * per_fill[0] + 150 * per_fill[1]) / 250
        assert summary[label]["all_bps"] == pytest.approx(avg, rel=1e-12)
        assert summary[label]["taker_bps"] == pytest.approx(avg, rel=1e-12)
        assert summary[label]["maker_bps"] is None
        assert (summary[label]["fills"], summary[label]["fills_past_tape"]) == (2, 0)
        assert summary[label]["horizon_ns"] == HORIZONS_NS[label]


def test_markouts_past_the_tape_are_missing_not_invented():
    res, market = run(make_tape(), MarketOrder(1, 250))
    parent = ParentOrder(side=1, quantity=250, start_ns=TF, end_ns=T0 + 60 * NS)
    horizons = {"1min": 60 * NS, "10min": 600 * NS}  # the tape ends at T0 + 400 s
    from tickreplay.tca import fill_markouts, markout_summary
    m = fill_markouts(res.fills, 1, 2_000_200, market, horizons)
    assert m["markout_10min_bps"].isna().all()
    s = markout_summary(res.fills, m, horizons)
    assert s["10min"] == {"horizon_ns": 600 * NS, "all_bps": None, "maker_bps": None, "taker_bps": None,
                          "fills": 0, "fills_past_tape": 2}


def test_window_vwap_and_participation():
    from tickreplay.tca.benchmarks import window_benchmarks

    res, market = run(make_tape(), MarketOrder(1, 250))
    parent = ParentOrder(side=1, quantity=400, start_ns=TF, end_ns=T0 + 60 * NS)
    w = tca_summary(res.fills, res.orders, parent, market)["window"]
    vwap = (50 * 100.03 + 30 * 100.02) / 80  # the two prints in the window
    avg = (100 * 100.02 + 150 * 100.03) / 250
    assert w["market_volume"] == 80
    assert w["market_vwap"] == pytest.approx(vwap, rel=1e-12)
    assert w["avg_fill_price"] == pytest.approx(avg, rel=1e-12)
    assert w["vwap_slippage_bps"] == pytest.approx((avg - vwap) / 100.01 * 1e4, rel=1e-9)
    assert w["participation"] == 250 / 80 and w["participation_incl_ours"] == 250 / 330
    # all our fills came before the window's prints: no market volume while we were active
    assert w["participation_active"] is None
    # a parent whose last fill came at T0 + 40 s was active over the 50-share print at T0 + 30 s only
    late = res.fills.assign(exchange_ns=T0 + 40 * NS)
    assert window_benchmarks(late, parent, market, 2_000_200)["participation_active"] == 250 / 50
    # a window with no prints: no VWAP, no participation
    quiet = ParentOrder(side=1, quantity=400, start_ns=TF, end_ns=T0 + 20 * NS)
    w = tca_summary(res.fills, res.orders, quiet, market)["window"]
    assert (w["market_volume"], w["market_vwap"], w["vwap_slippage_bps"], w["participation"]) == (0, None, None, None)


# -- passive orders ------------------------------------------------------------------------------

def _orders(rows):
    cols = ["request_id", "order_id", "parent_id", "action", "type", "quantity", "status", "arrival_ns", "unfilled",
            "reason"]
    df = pd.DataFrame([dict(zip(cols, r)) for r in rows])
    return df.assign(final_quantity=df["quantity"])


def _fill(order_id, size, liq, t, price=1_000_000):
    return dict(fill_id=0, order_id=order_id, parent_id=1, side=1, price=price, size=size, liquidity=liq, fee=0.0,
                decision_ns=T0, arrival_ns=T0, exchange_ns=t, response_ns=t, tape_index=0, how="")


def test_passive_fill_rate_and_time_to_fill_by_hand():
    orders = _orders([
        (1, 1, 1, "new", "limit", 100, "filled", T0 + 1 * NS, 0, ""),  # 40 + 60 maker: first after 2 s, done after 4 s
        (2, 2, 1, "new", "limit", 200, "cancelled", T0 + 2 * NS, 120, "cancel_request"),  # 50 taker, then 30 maker
        (3, 3, 1, "new", "limit", 100, "filled", T0 + 3 * NS, 0, ""),  # all taker: never rested
        (4, 4, 1, "new", "market", 50, "filled", T0 + 3 * NS, 0, ""),
        (5, 5, 1, "new", "limit", 100, "rejected", T0 + 3 * NS, 100, "trading_halted"),
        (6, 6, 1, "new", "limit", 100, "cancelled", T0 + 4 * NS, 100, "cancel_request"),  # rested, never filled
        (7, 2, 0, "cancel", "limit", -1, "cancelled", T0 + 20 * NS, 0, ""),  # a cancel row: not an order
    ])
    fills = pd.DataFrame([
        _fill(1, 40, "maker", T0 + 3 * NS), _fill(1, 60, "maker", T0 + 5 * NS),
        _fill(2, 50, "taker", T0 + 2 * NS), _fill(2, 30, "maker", T0 + 12 * NS),
        _fill(3, 100, "taker", T0 + 3 * NS), _fill(4, 50, "taker", T0 + 3 * NS),
    ])
    tape = make_tape()
    market = MarketSeries.from_tape(tape, compute_snapshots(tape, 5))
    parent = ParentOrder(side=1, quantity=1000, start_ns=T0, end_ns=T0 + 60 * NS)
    p = tca_summary(fills, orders, parent, market)["passive"]
    assert p == {"orders": 3, "quantity": 100 + 150 + 100, "filled": 130, "fill_rate": 130 / 350,
                 "orders_filled": 1, "time_to_first_fill_mean_ms": 6000.0, "time_to_first_fill_median_ms": 6000.0,
                 "time_to_fill_mean_ms": 4000.0, "time_to_fill_median_ms": 4000.0}


# -- realised vs predicted -----------------------------------------------------------------------

def test_realised_next_to_the_canonical_prediction():
    res, market = run(make_tape(), MarketOrder(1, 250))
    parent = ParentOrder(side=1, quantity=400, start_ns=TF, end_ns=T0 + 60 * NS)
    inputs = PreTradeInputs(MarketInputs(adv=10_000, daily_vol=0.02, spread_bps=2.0), participation=0.1)
    s = tca_summary(res.fills, res.orders, parent, market, pretrade=inputs)
    # canonical, by hand: 0.1·σ·sqrt(Q/ADV) + 0.05·σ·participation + spread/2, in bps
    predicted = (0.1 * 0.02 * math.sqrt(400 / 10_000) + 0.05 * 0.02 * 0.1) * 1e4 + 1.0
    pt = s["pretrade"]
    assert pt["model"] == "canonical"
    assert pt["predicted_bps"] == pytest.approx(predicted, rel=1e-12)
    assert pt["realised_bps"] == s["shortfall"]["total_bps"]
    assert pt["difference_bps"] == pytest.approx(s["shortfall"]["total_bps"] - predicted, rel=1e-12)
    assert pt["breakdown"]["notional_usd"] == pytest.approx(400 * 100.01)


# -- reproducibility and bad input ---------------------------------------------------------------

class Mixed(Strategy):
    def on_start(self, ctx) -> None:
        ctx.send(NewOrder(1, 120, OrderType.MARKET, parent_id=1))
        ctx.send(NewOrder(1, 100, OrderType.LIMIT, price=1_000_000, parent_id=1))


def test_tca_reproducible_from_stored_fills(tmp_path):
    res, market = run(make_tape(), Mixed(), latency_ns=3 * MS)
    parent = ParentOrder(side=1, quantity=400, start_ns=T0, end_ns=T0 + 120 * NS)
    first = tca_summary(res.fills, res.orders, parent, market)
    res.write_parquet(tmp_path)
    fill_table(res.fills, parent, market).to_parquet(tmp_path / "fills_tca.parquet")
    again_market = MarketSeries.from_tape(make_tape(), compute_snapshots(make_tape(), 5))
    for fills_file in ("fills.parquet", "fills_tca.parquet"):
        fills = pd.read_parquet(tmp_path / fills_file)
        again = tca_summary(fills, pd.read_parquet(tmp_path / "orders.parquet"), parent, again_market)
        assert again == first
    assert json.loads(json.dumps(first, allow_nan=False)) == first


def test_bad_fills_name_row_and_field():
    res, market = run(make_tape(), MarketOrder(1, 250))
    parent = ParentOrder(side=1, quantity=400, start_ns=TF, end_ns=T0 + 60 * NS)
    bad = res.fills.copy()
    bad.loc[1, "side"] = -1
    with pytest.raises(InputError, match=r"fills, row 2, field 'side'"):
        shortfall(bad, parent, market)
    with pytest.raises(InputError, match="field 'fee'.*missing column"):
        shortfall(res.fills.drop(columns=["fee"]), parent, market)
    with pytest.raises(InputError, match="more than the parent's 200"):
        shortfall(res.fills, ParentOrder(side=1, quantity=200, start_ns=TF, end_ns=T0 + 60 * NS), market)
    other = res.fills.copy()
    other["parent_id"] = 7
    with pytest.raises(InputError, match="row 1, field 'parent_id'"):
        shortfall(other, parent, market)
    assert set(FILL_COLUMNS) <= set(res.fills.columns)


def test_nothing_filled_costs_the_move_to_the_end_price():
    """A parent with no fills: the whole quantity is costed at the end mid (100.025 vs 100.01 → 400 × 0.015)."""
    res, market = run(make_tape(), MarketOrder(1, 250))
    parent = ParentOrder(side=1, quantity=400, start_ns=TF, end_ns=T0 + 60 * NS)
    s = tca_summary(res.fills.iloc[0:0], res.orders.iloc[0:0], parent, market)
    sf = s["shortfall"]
    assert sf["total_currency"] == sf["opportunity_currency"] == pytest.approx(400 * 0.015, abs=1e-9)
    assert (sf["filled"], sf["unfilled"]) == (0, 400)
    assert s["window"]["avg_fill_price"] is None and s["window"]["participation"] == 0.0
    assert s["markouts"]["1s"]["all_bps"] is None and s["passive"]["fill_rate"] is None
    # the same parent as a sell: the price rose, so the delay in selling was a gain
    sell = ParentOrder(side=-1, quantity=400, start_ns=TF, end_ns=T0 + 60 * NS)
    empty = res.fills.iloc[0:0].assign(side=-1)
    assert shortfall(empty, sell, market).to_dict()["total_currency"] == pytest.approx(-6.0, abs=1e-9)
