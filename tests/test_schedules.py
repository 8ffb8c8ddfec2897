"""Schedules: lot rounding, time windows, TWAP, VWAP from a handmade tape, POV reacting to volume, AC, CLI."""

from __future__ import annotations

import json
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from tickreplay.catalog import Catalog
from tickreplay.cli import main
from tickreplay.errors import ConfigError
from tickreplay.schedule import (ChildOrder, ParentOrder, PovPolicy, VolumeProfile, almgren_chriss,
                                 estimate_volume_profile, open_close_windows, pov_schedule, round_to_lots,
                                 tradable_intervals, twap, vwap)
from tickreplay.tape import EventKind, Instrument, Tape

NS = 1_000_000_000
MIN = 60 * NS
MIDNIGHT_NY = 1340251200 * NS  # 2012-06-21 00:00 America/New_York
OPEN = MIDNIGHT_NY + 34_200 * NS  # 09:30
CLOSE = MIDNIGHT_NY + 57_600 * NS  # 16:00
SESSION = ParentOrder(side=1, quantity=10_000, start_ns=OPEN, end_ns=CLOSE)


# -- lot rounding ---------------------------------------------------------------------------

def test_largest_remainder_by_hand():
    assert round_to_lots(10, [1, 1, 1]) == [4, 3, 3]
    assert round_to_lots(1000, [1, 1, 1], lot_size=100) == [400, 300, 300]
    assert round_to_lots(7, [0.5, 0.3, 0.2]) == [4, 2, 1]  # 3.5, 2.1, 1.4 → floors 3,2,1; the 0.5 remainder wins
    assert round_to_lots(100, [0, 1]) == [0, 100]
    with pytest.raises(ConfigError, match="lot_size"):
        round_to_lots(150, [1, 1], lot_size=100)
    with pytest.raises(ConfigError, match="'weights'"):
        round_to_lots(100, [0, 0])


@settings(max_examples=150, deadline=None)
@given(lots=st.integers(1, 10_000), lot=st.sampled_from([1, 10, 100, 1000]),
       weights=st.lists(st.floats(0, 1e6, allow_nan=False), min_size=1, max_size=60).filter(lambda w: sum(w) > 0))
def test_rounding_sums_exactly_to_lots(lots, lot, weights):
    q = round_to_lots(lots * lot, weights, lot)
    assert sum(q) == lots * lot
    assert all(x % lot == 0 and x >= 0 for x in q)
    w = [Fraction(x) for x in weights]
    for x, wi in zip(q, w):
        exact = Fraction(lots) * wi / sum(w)  # in lots
        assert abs(Fraction(x, lot) - exact) < 1



def fraction_round_to_lots(total: int, weights, lot_size: int = 1) -> list[int]:
    """The reference: largest-remainder rounding in ``Fraction`` arithmetic (the implementation before integers)."""
    w = [Fraction(float(x)) for x in weights]
    lots, wsum = total // lot_size, sum(w)
    raw = [lots * x / wsum for x in w]
    base = [int(r) for r in raw]
    order = sorted(range(len(w)), key=lambda i: (-(raw[i] - base[i]), i))
    for i in order[: lots - sum(base)]:
        base[i] += 1
    return [b * lot_size for b in base]


weight_values = st.one_of(st.floats(0, 1e6, allow_nan=False), st.floats(0, 1e-300), st.floats(0, 1e300),
                          st.integers(0, 10**6), st.sampled_from([0.1, 0.2, 0.3, 1 / 3, 2 / 3, 1.0, 5e-324]))


@settings(max_examples=400, deadline=None)
@given(lots=st.integers(1, 10**7), lot=st.sampled_from([1, 10, 100, 1000]),
       weights=st.lists(weight_values, min_size=1, max_size=60).filter(lambda w: sum(map(float, w)) > 0),
       ties=st.booleans())
def test_integer_rounding_is_the_fraction_rounding(lots, lot, weights, ties):
    """Integer arithmetic gives exactly the Fraction result, ties (equal weights) included."""
    if ties:
        weights = [max(weights, key=float)] * len(weights)
    assert round_to_lots(lots * lot, weights, lot) == fraction_round_to_lots(lots * lot, weights, lot)


def test_rounding_rejects_what_fractions_reject():
    for bad in ([float("nan"), 1.0], [float("inf")]):
        with pytest.raises((ValueError, OverflowError)):
            round_to_lots(10, bad)
    with pytest.raises(ConfigError, match="'weights'"):
        round_to_lots(10, [1.0, -0.5])
    with pytest.raises(ConfigError, match="'weights'"):
        round_to_lots(10, [])


# -- windows and TWAP ----------------------------------------------------------------------

def test_tradable_intervals_by_hand():
    assert tradable_intervals(0, 100, [(10, 20), (15, 30), (90, 120), (-5, 2)]) == [(2, 10), (30, 90)]
    assert open_close_windows(0, 100, 5, 10) == [(0, 5), (90, 100)]


def test_twap_equal_children_skip_open_and_close():
    windows = open_close_windows(OPEN, CLOSE, 5 * MIN, 10 * MIN)
    kids = twap(SESSION, n_children=25, style="limit_touch", no_trade=windows)
    assert len(kids) == 25 and {c.quantity for c in kids} == {400}
    assert kids[0].time_ns == OPEN + 5 * MIN
    step = (390 - 15) * MIN // 25
    assert [c.time_ns for c in kids] == [OPEN + 5 * MIN + i * step for i in range(25)]
    assert all(c.style == "limit_touch" and c.parent_id == 1 for c in kids)
    assert [c.index for c in kids] == list(range(25))


def test_twap_interval_mode():
    kids = twap(SESSION, interval_ns=30 * MIN, lot_size=100)
    assert len(kids) == 13 and sum(c.quantity for c in kids) == 10_000
    assert all(c.quantity % 100 == 0 for c in kids)
    with pytest.raises(ConfigError, match="n_children"):
        twap(SESSION)


@settings(max_examples=60, deadline=None)
@given(n=st.integers(1, 50), lot=st.sampled_from([1, 100]), qty_lots=st.integers(1, 500),
       wins=st.lists(st.tuples(st.integers(0, 390), st.integers(1, 60)), max_size=5),
       lam=st.sampled_from([0.0, 1e-6, 1e-4]), kind=st.sampled_from(["twap", "ac"]))
def test_children_respect_windows_and_sum(n, lot, qty_lots, wins, lam, kind):
    parent = ParentOrder(-1, qty_lots * lot, OPEN, CLOSE, parent_id=7)
    windows = [(OPEN + a * MIN, OPEN + (a + b) * MIN) for a, b in wins]
    if not tradable_intervals(parent.start_ns, parent.end_ns, windows):
        return
    if kind == "twap":
        kids = twap(parent, n_children=n, lot_size=lot, no_trade=windows)
    else:
        kids = almgren_chriss(parent, n, sigma=0.5, eta=1e-6, risk_aversion=lam, lot_size=lot, no_trade=windows)
    assert sum(c.quantity for c in kids) == parent.quantity
    for c in kids:
        assert parent.start_ns <= c.time_ns < parent.end_ns
        assert not any(a <= c.time_ns < b for a, b in windows)
        assert c.quantity % lot == 0 and c.parent_id == 7
    assert [c.time_ns for c in kids] == sorted(c.time_ns for c in kids)


def test_parent_and_child_errors_name_the_parameter():
    with pytest.raises(ConfigError, match="'quantity'"):
        ParentOrder(1, -5, OPEN, CLOSE)
    with pytest.raises(ConfigError, match="'end_ns'"):
        ParentOrder(1, 5, CLOSE, OPEN)
    with pytest.raises(ConfigError, match="'side'"):
        ParentOrder(2, 5, OPEN, CLOSE)
    with pytest.raises(ConfigError, match="'style'"):
        ChildOrder(OPEN, 5, "iceberg")
    with pytest.raises(ConfigError, match="'no_trade'"):
        twap(SESSION, n_children=3, no_trade=[(OPEN - MIN, CLOSE)])


# -- Almgren-Chriss schedule ----------------------------------------------------------------

def test_ac_schedule_lambda_zero_is_twap_and_large_lambda_front_loads():
    flat = almgren_chriss(SESSION, 10, sigma=0.5, eta=1e-6, risk_aversion=0.0)
    assert [c.quantity for c in flat] == [c.quantity for c in twap(SESSION, n_children=10)]
    assert [c.time_ns for c in flat] == [c.time_ns for c in twap(SESSION, n_children=10)]
    front = almgren_chriss(SESSION, 10, sigma=0.5, eta=1e-6, risk_aversion=1e-3)
    q = [c.quantity for c in front]
    assert q == sorted(q, reverse=True) and q[0] > 2 * 1000 and sum(q) == 10_000


# -- volume profile and VWAP from a handmade tape ----------------------------------------------

def _tape(date: str, day: int, trades: list[tuple[int, int, int]]) -> Tape:
    """Trades given as (seconds after 09:30, size, kind); an ADD in between that must not count."""
    inst = Instrument("TEST", "XNAS", date, price_scale=10_000, tick_size=100, timezone="America/New_York")
    base = OPEN + day * 86_400 * NS
    rows = sorted([(base + s * NS, k, q) for s, q, k in trades] + [(base + 5 * NS, EventKind.ADD, 10_000)])
    return Tape.from_columns(inst, ts_ns=[r[0] for r in rows], kind=[r[1] for r in rows], side=[1] * len(rows),
                             price=[400_000] * len(rows), size=[r[2] for r in rows])


VIS, HID, TRD, CROSS = EventKind.EXECUTE_VISIBLE, EventKind.EXECUTE_HIDDEN, EventKind.TRADE, EventKind.CROSS_TRADE
DAY1 = [(0, 100, VIS), (100, 300, HID), (1900, 200, TRD), (3700, 400, VIS), (3800, 999, CROSS)]
DAY2 = [(10, 300, VIS), (2000, 600, VIS), (5000, 100, TRD)]


def test_volume_profile_from_handmade_tapes():
    prof = estimate_volume_profile([_tape("2012-06-21", 0, DAY1), _tape("2012-06-22", 1, DAY2)], bin_ns=30 * MIN)
    assert prof.start_tod_ns == 34_200 * NS and prof.bin_ns == 30 * MIN and prof.days_used == 2
    day1 = np.array([400, 200, 400]) / 1000  # cross trades are not volume
    day2 = np.array([300, 600, 100]) / 1000
    np.testing.assert_allclose(prof.fractions, (day1 + day2) / 2)
    with pytest.raises(ConfigError, match="'session'"):
        estimate_volume_profile([_tape("2012-06-21", 0, DAY1)], bin_ns=30 * MIN,
                                session=(34_200 * NS, 34_200 * NS + 60 * MIN))


def test_vwap_follows_the_profile_and_partial_bins():
    prof = VolumeProfile(34_200 * NS, 30 * MIN, (0.5, 0.3, 0.2), "America/New_York")
    parent = ParentOrder(1, 1000, OPEN, OPEN + 90 * MIN)
    kids = vwap(parent, prof)
    assert [c.quantity for c in kids] == [500, 300, 200]
    assert [c.time_ns for c in kids] == [OPEN, OPEN + 30 * MIN, OPEN + 60 * MIN]
    # start 15 minutes in, and no trading in the last 15 minutes: half of bins 0 and 2 remain
    late = ParentOrder(1, 1000, OPEN + 15 * MIN, OPEN + 90 * MIN)
    kids = vwap(late, prof, lot_size=10, no_trade=[(OPEN + 75 * MIN, OPEN + 90 * MIN)])
    w = np.array([0.25, 0.3, 0.1])
    assert [c.quantity for c in kids] == round_to_lots(1000, (w / w.sum()).tolist(), 10)
    assert kids[0].time_ns == OPEN + 15 * MIN
    with pytest.raises(ConfigError, match="start_ns"):
        vwap(ParentOrder(1, 10, CLOSE, CLOSE + MIN), prof)


# -- POV -------------------------------------------------------------------------------------

def test_pov_policy_reacts_to_volume():
    pol = PovPolicy(target_rate=0.1, min_child=100, max_child=500, cap=1000, lot_size=100)
    assert pol.on_volume(OPEN, 500) == 0  # owed 50 < min_child
    assert pol.on_volume(OPEN + 1, 600) == 100  # owed 110 → one lot
    assert pol.on_volume(OPEN + 2, 0) == 0
    assert pol.on_volume(OPEN + 3, 10_000) == 500  # owed 1110 - 100, capped at max_child
    assert pol.on_volume(OPEN + 4, 0) == 400  # still owed 510, but only 400 left under the cap
    assert pol.remaining == 0 and pol.on_volume(OPEN + 5, 10_000) == 0
    with pytest.raises(ConfigError, match="'trader_time_ns'"):
        pol.on_volume(OPEN, 10)
    with pytest.raises(ConfigError, match="'observed_market_volume'"):
        pol.on_volume(OPEN + 6, -1)


def test_pov_last_remainder_may_be_below_min_child_and_windows_ignore_volume():
    pol = PovPolicy(0.5, min_child=300, max_child=1000, cap=350, start_ns=OPEN, end_ns=CLOSE,
                    no_trade=[(OPEN, OPEN + MIN)])
    assert pol.on_volume(OPEN + 1, 10_000) == 0  # inside the no-trade window: not counted
    assert pol.on_volume(OPEN + MIN, 600) == 300
    assert pol.on_volume(OPEN + MIN + 1, 100) == 50  # remainder 50 < min_child, owed 350 - 300 >= 50
    with pytest.raises(ConfigError, match="'max_child'"):
        PovPolicy(0.1, min_child=10, max_child=5, cap=100)
    with pytest.raises(ConfigError, match="'target_rate'"):
        PovPolicy(1.5, min_child=1, max_child=5, cap=100)


def test_pov_schedule_over_a_volume_series():
    times = OPEN + np.arange(100) * MIN
    vols = np.full(100, 1000)
    kids, unsent = pov_schedule(SESSION, 0.2, 200, 1000, times, vols, style="peg_mid")
    assert unsent == 0 and sum(c.quantity for c in kids) == 10_000
    assert [c.quantity for c in kids] == [200] * 50  # 20% of 1000 per minute
    assert kids[-1].time_ns == OPEN + 49 * MIN and all(c.style == "peg_mid" for c in kids)
    kids, unsent = pov_schedule(SESSION, 0.2, 200, 1000, times[:10], vols[:10])
    assert unsent == 10_000 - 2000 and sum(c.quantity for c in kids) == 2000
    # twice the volume early → twice the child size
    v2 = vols.copy()
    v2[:5] = 2000
    kids, _ = pov_schedule(SESSION, 0.2, 200, 1000, times, v2)
    assert [c.quantity for c in kids[:6]] == [400] * 5 + [200]


# -- CLI ----------------------------------------------------------------------------------------

def test_schedule_cli_twap_json(capsys):
    argv = ["schedule", "twap", "--side", "sell", "--quantity", "1000", "--start", "2012-06-21T09:30-04:00",
            "--end", "2012-06-21T16:00-04:00", "--children", "4", "--lot-size", "100", "--no-trade-open-min", "5",
            "--style", "limit_offset", "--offset-ticks", "2", "--json"]
    assert main(argv) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["total"] == 1000 and [c["quantity"] for c in out["children"]] == [300, 300, 200, 200]
    assert out["children"][0]["time_ns"] == OPEN + 5 * MIN and out["children"][0]["offset_ticks"] == 2
    assert main(argv[:7] + ["2012-06-21T09:30"] + argv[8:]) == 2
    assert "--start" in capsys.readouterr().err


def test_schedule_cli_vwap_and_pov_from_catalog(tmp_path, capsys):
    from tickreplay.book.snapshots import Snapshots

    cat = Catalog(tmp_path)
    for i, (date, trades) in enumerate([("2012-06-21", DAY1), ("2012-06-22", DAY2)]):
        t = _tape(date, i, trades)
        z = np.zeros((len(t), 1), np.int64)
        cat.write("test", t, Snapshots(z, z, z, z))
    argv = ["schedule", "vwap", "--side", "buy", "--quantity", "1000", "--start", str(OPEN), "--end", str(CLOSE),
            "--from-catalog", "test/TEST/2012-06-21", "test/TEST/2012-06-22", "--catalog", str(tmp_path), "--json"]
    assert main(argv) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["profile_days"] == 2 and [c["quantity"] for c in out["children"]] == [350, 400, 250]
    argv = ["schedule", "pov", "--side", "buy", "--quantity", "100", "--start", str(OPEN), "--end", str(CLOSE),
            "--from-catalog", "test/TEST/2012-06-21", "--catalog", str(tmp_path), "--target-pct", "10",
            "--min-child", "10", "--max-child", "100", "--json"]
    assert main(argv) == 0
    out = json.loads(capsys.readouterr().out)
    assert [c["quantity"] for c in out["children"]] == [10, 30, 20, 40] and out["unsent"] == 0
