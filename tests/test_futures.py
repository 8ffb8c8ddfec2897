"""Futures: the contract multiplier in every currency figure (shortfall, fees, PnL, pre-trade), bps unchanged by it,
instruments without one exactly as before, and runs on data too short to estimate pre-trade inputs from."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings, strategies as st

from tickreplay.book.fast import compute_snapshots
from tickreplay.book.replay import ReplayData
from tickreplay.engine import Engine, EngineConfig, Strategy
from tickreplay.errors import ConfigError
from tickreplay.exchange import FeeSchedule
from tickreplay.experiment.data import from_tape
from tickreplay.experiment.run import execute, measure
from tickreplay.experiment.scenario import parse_scenario
from tickreplay.orders import NewOrder, OrderType
from tickreplay.schedule import ParentOrder
from tickreplay.tape import EventKind as K, Instrument, Tape
from tickreplay.tca import PARTS, MarketSeries, shortfall
from tickreplay.trader.pnl import pnl_table

NS = 1_000_000_000
MS = 1_000_000
T0 = 1_715_126_400 * NS  # 2024-05-07 19:00:00 America/Chicago: trade date 2024-05-08
ES = Instrument("ESM4", "XCME", "2024-05-08", price_scale=100, tick_size=25, timezone="America/Chicago",
                currency="USD", source="dbn", multiplier=50)
POINTS = ES.price_scale  # price units per index point

# The book from T0: bids 5214.00 x20; asks 5214.25 x5, 5214.50 x10 → mid 5214.125. At T0 + 60 s the bid rises to
# 5214.25 and the asks are 5214.50 → mid 5214.375 (the end mid). A trade prints at T0 + 30 s (market volume).
EVENTS = [
    (T0, K.ADD, 1, 521400, 20, 1),
    (T0, K.ADD, -1, 521425, 5, 2),
    (T0, K.ADD, -1, 521450, 10, 3),
    (T0 + 30 * NS, K.EXECUTE_VISIBLE, 1, 521400, 2, 1),
    (T0 + 60 * NS, K.ADD, 1, 521425, 4, 4),
    (T0 + 60 * NS, K.DELETE, -1, 521425, 5, 2),
    (T0 + 120 * NS, K.ADD, -1, 521475, 3, 5),
]
TF = T0 + 10 * NS  # the market order's decision time
FEES = FeeSchedule(taker_bps=1.0, taker_per_unit=0.5)


def es_tape(inst: Instrument = ES, events=EVENTS) -> Tape:
    ts, kind, side, price, size, oid = (np.array(c) for c in zip(*events))
    return Tape.from_columns(inst, ts_ns=ts, kind=kind, side=side, price=price, size=size, order_id=oid)


class MarketBuy(Strategy):
    """One market buy of ``qty`` (the Python event loop: a strategy the compiled loop does not take)."""

    def __init__(self, qty: int) -> None:
        self.qty = qty

    def on_start(self, ctx) -> None:
        ctx.send(NewOrder(1, self.qty, OrderType.MARKET, parent_id=1))


def market_buy(tape: Tape, qty: int):
    replay = ReplayData.build(tape, compute_snapshots(tape, 5))
    res = Engine(replay, EngineConfig(fees=FEES)).run(MarketBuy(qty), start_ns=TF)
    return res, MarketSeries.from_tape(tape, replay.snapshots)


# -- currency figures of a futures run, by hand ----------------------------------------------------------------------

def test_es_market_order_shortfall_and_fees_by_hand():
    """Buy 8 of a 10-contract parent: 5 @ 5214.25 and 3 @ 5214.50; 2 left for the end mid 5214.375. In dollars
    (50 $ per point per contract): half spread 8 × 0.125 × 50 = 50, book walk 3 × 0.25 × 50 = 37.50, opportunity
    2 × 0.25 × 50 = 25; fees 1 bps of the fills' true notional plus 0.50 $ a contract."""
    res, market = market_buy(es_tape(), 8)
    parent = ParentOrder(side=1, quantity=10, start_ns=TF, end_ns=T0 + 90 * NS)
    sf = shortfall(res.fills, parent, market).to_dict()
    fill_notional = (5 * 5214.25 + 3 * 5214.50) * 50  # 2,085,750 $
    fees = fill_notional * 1e-4 + 8 * 0.5
    assert list(res.fills["fee"]) == pytest.approx([5 * 5214.25 * 50 * 1e-4 + 2.5, 3 * 5214.50 * 50 * 1e-4 + 1.5],
                                                   rel=1e-12)
    assert sf["half_spread_currency"] == pytest.approx(50.0, abs=1e-9)
    assert sf["book_walk_currency"] == pytest.approx(37.5, abs=1e-9)
    assert sf["opportunity_currency"] == pytest.approx(25.0, abs=1e-9)
    assert sf["fees_currency"] == pytest.approx(fees, rel=1e-12)
    assert sf["total_currency"] == pytest.approx(50 + 37.5 + 25 + fees, rel=1e-12)
    notional = 10 * 5214.125 * 50  # 2,607,062.50 $
    assert sf["arrival_notional"] == pytest.approx(notional, rel=1e-15)
    assert sf["total_bps"] == pytest.approx(sf["total_currency"] / notional * 1e4, rel=1e-12)
    assert sf["fees_bps"] == pytest.approx(1.0 * fill_notional / notional + 4 / notional * 1e4, rel=1e-12)
    assert (sf["arrival_mid"], sf["end_mid"]) == (5214.125, 5214.375)  # prices, in index points


def test_bps_do_not_depend_on_the_multiplier_and_currency_scales_with_it():
    """The same events with multiplier 1: every price part and the bps fee are 50× smaller in currency, the
    per-contract fee is the same, and every bps figure without a per-contract fee is unchanged."""
    bps_only = FeeSchedule(taker_bps=1.5)
    out = {}
    for m in (1, 50):
        tape = es_tape(replace(ES, multiplier=m))
        replay = ReplayData.build(tape, compute_snapshots(tape, 5))
        res = Engine(replay, EngineConfig(fees=bps_only)).run(MarketBuy(8), start_ns=TF)
        parent = ParentOrder(side=1, quantity=10, start_ns=TF, end_ns=T0 + 90 * NS)
        out[m] = shortfall(res.fills, parent, MarketSeries.from_tape(tape, replay.snapshots)).to_dict()
    for part in (*PARTS, "total"):
        assert out[50][f"{part}_currency"] == pytest.approx(50 * out[1][f"{part}_currency"], rel=1e-12)
        assert out[50][f"{part}_bps"] == pytest.approx(out[1][f"{part}_bps"], rel=1e-12)
    assert out[50]["fees_bps"] == pytest.approx(1.5 * (5 * 5214.25 + 3 * 5214.50) / (10 * 5214.125), rel=1e-12)


def twap_doc(**pretrade) -> dict:
    doc = {"name": "es_twap", "seed": 1, "data": {"catalog": "dbn/ESM4/2024-05-08"},
           "parent": {"side": "buy", "quantity": 8, "start": "-1d 19:00:10", "end": "-1d 19:00:50"},
           "schedule": {"kind": "twap", "n_children": 2, "style": "market"},
           "fees": {"taker_bps": 1.0, "taker_per_unit": 0.5}}
    if pretrade:
        doc["pretrade"] = pretrade
    return doc


def run_doc(doc: dict, tape: Tape) -> dict:
    scn = parse_scenario(doc, base_dir=".")
    plan, result, data = execute(scn, from_tape(tape, "dbn/ESM4/2024-05-08"))
    return measure(scn, plan, result, data)[0], result.fills


def test_compiled_loop_fees_and_pretrade_dollars_use_the_multiplier():
    """A TWAP scenario (the compiled event loop) of two market children of 4: fees are 1 bps of price × 4 × 50
    plus 0.50 $ a contract; the pre-trade model's notional is 8 × the arrival mid × 50 $."""
    tca, fills = run_doc(twap_doc(adv=1_500_000, daily_vol=0.01, spread_bps=0.48), es_tape())
    want = fills["price"].to_numpy() / POINTS * fills["size"].to_numpy() * 50 * 1e-4 + 0.5 * fills["size"].to_numpy()
    assert fills["fee"].to_numpy() == pytest.approx(want, rel=1e-12)
    assert int(fills["size"].sum()) == 8
    sf = tca["shortfall"]
    assert sf["fees_currency"] == pytest.approx(want.sum(), rel=1e-12)
    assert sf["arrival_notional"] == pytest.approx(8 * 5214.125 * 50, rel=1e-15)
    paid = float((fills["price"] * fills["size"]).sum()) / POINTS * 50
    assert sf["total_currency"] == pytest.approx(paid - 8 * 5214.125 * 50 + want.sum(), rel=1e-12)
    pre = tca["pretrade"]["breakdown"]
    assert pre["notional_usd"] == pytest.approx(8 * 5214.125 * 50, rel=1e-15)
    assert pre["total_dollars"] == pytest.approx(pre["total_bps"] / 1e4 * pre["notional_usd"], rel=1e-12)
    assert tca["instrument"]["multiplier"] == 50


def test_pnl_in_dollars():
    """Buy 2 @ 5214.25, sell 1 @ 5214.75 (realise 0.50 × 50 = 25 $, minus fees); 1 held at the mid 5214.375."""
    market = MarketSeries.from_tape(es_tape(), compute_snapshots(es_tape(), 1))
    fills = pd.DataFrame({"fill_id": [1, 2], "side": [1, -1], "price": [521425, 521475], "size": [2, 1],
                          "fee": [1.0, 0.5], "exchange_ns": [T0 + 70 * NS, T0 + 80 * NS]})
    pnl = pnl_table(fills, market, T0 + 70 * NS, T0 + 90 * NS, 10 * NS)
    last = pnl.iloc[-1]
    assert last["realised_pnl"] == pytest.approx(0.5 * 50 - 1.5)
    assert last["unrealised_pnl"] == pytest.approx((5214.375 - 5214.25) * 50)
    assert last["inventory"] == pytest.approx(5214.375 * 50)
    assert last["avg_cost"] == 5214.25 and last["mid"] == 5214.375


@settings(max_examples=60, deadline=None)
@given(price=st.integers(1, 10**9), size=st.integers(1, 10**6), bps=st.floats(-5, 5), per_unit=st.floats(-2, 2),
       m=st.sampled_from([1, 5, 50, 0.1, 1000]))
def test_fee_is_bps_of_price_times_units_times_multiplier(price, size, bps, per_unit, m):
    from tickreplay.orders import Liquidity

    fees = FeeSchedule(maker_bps=bps, maker_per_unit=per_unit)
    fee = fees.fee(Liquidity.MAKER, price, size, 100, 10, m)
    assert fee == pytest.approx(price / 100 * size / 10 * m * bps * 1e-4 + size / 10 * per_unit, rel=1e-12, abs=1e-12)
    if m == 1:  # exactly as without a multiplier
        assert fee == fees.fee(Liquidity.MAKER, price, size, 100, 10)


# -- multiplier 1: tapes, metadata and fingerprints exactly as before ------------------------------------------------

#: the fingerprint of ``es_tape`` with multiplier 1, computed by the code before ``Instrument.multiplier`` existed
FINGERPRINT_BEFORE = "blake2b-128:86ebf154e70db203de3791b9c1d2b703"
#: the tape's Parquet instrument metadata before ``Instrument.multiplier`` existed
META_BEFORE = ('{"symbol": "ESM4", "venue": "XCME", "date": "2024-05-08", "price_scale": 100, "tick_size": 25, '
               '"size_scale": 1, "lot_size": 1, "timezone": "America/Chicago", "levels": 0, "currency": "USD", '
               '"source": "dbn"}')


def test_multiplier_one_keeps_fingerprint_and_metadata(tmp_path):
    plain = es_tape(replace(ES, multiplier=1))
    assert plain.fingerprint() == FINGERPRINT_BEFORE
    assert plain.to_arrow().schema.metadata[b"tickreplay.instrument"].decode() == META_BEFORE
    assert replace(ES, multiplier=1.0) == replace(ES, multiplier=1) and replace(ES, multiplier=1.0).multiplier == 1
    fut = es_tape()
    assert fut.fingerprint() != FINGERPRINT_BEFORE  # the multiplier changes what every currency figure means
    assert json.loads(fut.to_arrow().schema.metadata[b"tickreplay.instrument"])["multiplier"] == 50
    fut.write_parquet(tmp_path / "t.parquet")
    back = Tape.read_parquet(tmp_path / "t.parquet")
    assert back.instrument == ES and back.fingerprint() == fut.fingerprint()
    from tickreplay.tape import parquet_fingerprint

    assert parquet_fingerprint(tmp_path / "t.parquet") == fut.fingerprint()


def test_old_metadata_reads_as_multiplier_one():
    import pyarrow as pa

    table = es_tape(replace(ES, multiplier=1)).to_arrow()
    meta = dict(table.schema.metadata)
    assert b"multiplier" not in meta[b"tickreplay.instrument"]
    back = Tape.from_arrow(pa.Table.from_arrays(table.columns, schema=table.schema.with_metadata(meta)))
    assert back.instrument.multiplier == 1 and back.instrument.unit_value == 1 / 100


@pytest.mark.parametrize("bad", [0, -50, float("nan"), float("inf"), True, "50"])
def test_multiplier_must_be_a_positive_number(bad):
    with pytest.raises(ValueError, match="multiplier must be a positive number"):
        replace(ES, multiplier=bad)


# -- short data: pre-trade inputs only when asked for -----------------------------------------------------------------

SHORT = [(T0 + t, k, s, p, q, o) for t, k, s, p, q, o in [
    (0, K.ADD, 1, 521400, 20, 1), (0, K.ADD, -1, 521425, 5, 2), (0, K.ADD, -1, 521450, 10, 3),
    (800 * MS, K.EXECUTE_VISIBLE, 1, 521400, 2, 1), (1500 * MS, K.ADD, -1, 521475, 3, 4)]]


def short_doc(**pretrade) -> dict:
    doc = twap_doc(**pretrade)
    doc["parent"].update(start="-1d 19:00:00.2", end="-1d 19:00:01.2")
    return doc


def test_short_data_without_pretrade_runs_and_says_why_there_is_no_risk():
    """1.5 s of data: too short to estimate volatility from; a run without [pretrade] does not need it."""
    tca, fills = run_doc(short_doc(), es_tape(events=SHORT))
    assert int(fills["size"].sum()) == 8 and tca["pretrade"] is None
    risk = tca["risk"]
    assert risk["risk_bps"] is None and risk["daily_vol"] is None
    assert "1.5 s of events: too short" in risk["unavailable"]
    assert "give adv, daily_vol, spread_bps in the scenario's [pretrade] table" in risk["unavailable"]


def test_short_data_with_pretrade_names_what_to_give():
    with pytest.raises(ConfigError, match=r"too short to estimate .* give daily_vol, spread_bps in the scenario's "
                                          r"\[pretrade\] table"):
        run_doc(short_doc(adv=1_500_000), es_tape(events=SHORT))
    tca, _ = run_doc(short_doc(adv=1_500_000, daily_vol=0.01, spread_bps=0.48), es_tape(events=SHORT))
    assert tca["risk"]["risk_bps"] > 0 and "unavailable" not in tca["risk"]
    assert tca["pretrade"]["daily_vol"] == 0.01


def test_almgren_chriss_coefficients_are_in_dollars():
    """The AC schedule's sigma, eta, epsilon come from the canonical model at the contract's dollar value (risk
    aversion is in 1/$): sigma = daily_vol × arrival mid × 50."""
    from tickreplay.experiment.plan import _ac_coefficients, _times

    doc = twap_doc(adv=1_500_000, daily_vol=0.01, spread_bps=0.48)
    doc["schedule"] = {"kind": "almgren_chriss", "n_children": 2, "risk_aversion": 1e-6, "style": "market"}
    scn = parse_scenario(doc, base_dir=".")
    data = from_tape(es_tape(), "dbn/ESM4/2024-05-08")
    arrival, start, end = _times(scn, data)
    sigma, eta, epsilon = _ac_coefficients(scn, data, ParentOrder(1, 8, start, end))
    dollars = 5214.125 * 50  # one contract at the arrival mid
    assert sigma == pytest.approx(0.01 * dollars, rel=1e-12)
    assert epsilon == pytest.approx(0.48 / 2 / 1e4 * dollars, rel=1e-12)


def test_overlay_label_cost_counts_fees_against_the_contract_notional() -> None:
    """An ES child: 2 contracts at 5214.25 against a 5214.00 mid, $5 fees; notional 2 x 5214 x $50 = $521,400."""
    from tickreplay.overlay.labels import child_cost_bps

    got = child_cost_bps(1, 2, 2, 2 * 521425, 5.0, 521400.0, 521400.0, 100, 1, 50)
    assert got == pytest.approx(1e4 * (2 * 0.25 * 50 + 5.0) / 521_400)
    same_as_shares = child_cost_bps(1, 2, 2, 2 * 521425, 5.0, 521400.0, 521400.0, 100, 1)
    assert same_as_shares == pytest.approx(1e4 * (2 * 0.25 + 5.0) / (2 * 5214))  # multiplier 1: the old formula
