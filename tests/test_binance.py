"""Binance futures adapter: decimal units, the U/u/pu sync rule, COIN-M shapes, and the real captures."""

from __future__ import annotations

import gzip
import json
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import shared_file
from tickreplay.adapters.binance import quote_asset, read_binance, verify_binance
from tickreplay.adapters.decimal_units import (
    OffGridError,
    check_plain,
    parse_step,
    significant_decimals,
    to_units,
    units_to_text,
)
from tickreplay.errors import InputError
from tickreplay.tape import FLAG_RESYNC, EventKind

T0_MS = 1723161256000


class Capture:
    """Builds a small raw capture: one ``<recv ns> <json>`` line per message, receive times increasing."""

    def __init__(self, symbol: str = "BTCUSDT") -> None:
        self.symbol = symbol
        self.stream = symbol.lower()
        self.lines: list[str] = []
        self.recv_ns = 1723161255000000000

    def _add(self, obj: dict) -> None:
        self.recv_ns += 1000
        self.lines.append(f"{self.recv_ns} {json.dumps(obj, separators=(',', ':'))}")

    def snapshot(self, last_id: int, t_ms: int, bids, asks) -> "Capture":
        self._add({"lastUpdateId": last_id, "E": T0_MS + t_ms + 1, "T": T0_MS + t_ms,
                   "bids": [list(x) for x in bids], "asks": [list(x) for x in asks]})
        return self

    def diff(self, U: int, u: int, pu: int, t_ms: int, b=(), a=()) -> "Capture":
        self._add({"stream": f"{self.stream}@depth@0ms", "data": {
            "e": "depthUpdate", "E": T0_MS + t_ms + 1, "T": T0_MS + t_ms, "s": self.symbol, "U": U, "u": u, "pu": pu,
            "b": [list(x) for x in b], "a": [list(x) for x in a]}})
        return self

    def trade(self, t_ms: int, p: str, q: str, buyer_is_maker: bool) -> "Capture":
        self._add({"stream": f"{self.stream}@trade", "data": {
            "e": "trade", "E": T0_MS + t_ms, "T": T0_MS + t_ms, "s": self.symbol, "t": len(self.lines),
            "p": p, "q": q, "X": "MARKET", "m": buyer_is_maker}})
        return self

    def ticker(self, u: int, b: str, bq: str, a: str, aq: str) -> "Capture":
        self._add({"stream": f"{self.stream}@bookTicker", "data": {
            "e": "bookTicker", "u": u, "s": self.symbol, "b": b, "B": bq, "a": a, "A": aq}})
        return self

    def write(self, path: Path) -> Path:
        with gzip.open(path, "wt") as f:
            f.write("\n".join(self.lines) + "\n")
        return path


SNAP_BIDS = [("100.0", "1.000"), ("99.9", "2.000")]
SNAP_ASKS = [("100.1", "1.500"), ("100.2", "3.000")]


def final_book(res) -> tuple[list, list]:
    """(bids, asks) of the last snapshot row as [(price, size)], best first, empty slots left out."""
    s = res.snapshots
    bids = [(int(p), int(q)) for p, q in zip(s.bid_price[-1], s.bid_size[-1]) if q]
    asks = [(int(p), int(q)) for p, q in zip(s.ask_price[-1], s.ask_size[-1]) if q]
    return bids, asks


# -- decimal strings → integers ----------------------------------------------------------------

@settings(max_examples=300, deadline=None)
@given(text=st.from_regex(r"[0-9]{1,12}(\.[0-9]{1,10})?", fullmatch=True), exp=st.integers(0, 10))
def test_to_units_matches_decimal(text, exp):
    d = Decimal(text).scaleb(exp)
    if d != d.to_integral_value():
        with pytest.raises(OffGridError):
            to_units(text, exp)
    elif d > 2**63 - 1:
        with pytest.raises(ValueError, match="too large for int64"):
            to_units(text, exp)
    else:
        assert to_units(text, exp) == int(d)
        assert Decimal(units_to_text(to_units(text, exp), exp)) == Decimal(text)
    assert significant_decimals(text) == max(0, -Decimal(text).normalize().as_tuple().exponent)


@pytest.mark.parametrize("bad", ["-1", "1e5", " 1", "1 ", "1_0", "", ".5", "5.", "+1", "1.2.3", "\u0661", "NaN",
                                 None, 5, 1.5])
def test_check_plain_rejects(bad):
    with pytest.raises(ValueError):
        check_plain(bad)


@pytest.mark.parametrize("text, expected", [("0.1", (1, 1)), ("0.10", (1, 1)), ("0.05", (2, 5)), ("10", (0, 10)),
                                            ("0.001", (3, 1)), ("1", (0, 1)), ("0.5", (1, 5))])
def test_parse_step(text, expected):
    assert parse_step(text) == expected


@pytest.mark.parametrize("text", ["0", "0.000", "-0.1", "abc"])
def test_parse_step_rejects(text):
    with pytest.raises(ValueError):
        parse_step(text)


@pytest.mark.parametrize("symbol, quote", [("BTCUSDT", "USDT"), ("ETHUSDC", "USDC"), ("BTCUSD_PERP", "USD"),
                                           ("ETHUSD_240927", "USD"), ("BTCUSDT_240927", "USDT")])
def test_quote_asset(symbol, quote):
    assert quote_asset(symbol) == quote


# -- the sync rule on hand-made streams -----------------------------------------------------------

def test_diff_before_snapshot_dropped_and_buffered_straddling_diff_applied(tmp_path):
    """The REST snapshot arrives after the diffs it needs: they wait, then the rule picks them."""
    cap = (Capture()
           .diff(90, 95, 89, 0, b=[("100.0", "9.000")])       # u < lastUpdateId: dropped
           .diff(96, 102, 95, 2, b=[("100.0", "1.200")])      # U <= 100 <= u: first applied, arrived first
           .snapshot(100, 1, SNAP_BIDS, SNAP_ASKS)
           .diff(103, 105, 102, 3, a=[("100.1", "0")]))
    res = read_binance([cap.write(tmp_path / "c.gz")], levels=3, lot="0.001")
    rep = res.report
    assert (rep["diffs_dropped_before_sync"], rep["diffs_applied"], rep["gaps"]) == (1, 2, 0)
    t = res.tape
    # snapshot (T=1) comes before the diff that arrived before it (T=2): exchange-time order
    assert t.kind[0] == EventKind.SNAPSHOT_BEGIN and t.src_row[0] == 2
    assert list(t.src_row[t.kind == EventKind.LEVEL_SET]) == [2, 2, 2, 2, 1, 3]
    assert np.all(np.diff(t.ts_ns) >= 0)
    assert final_book(res) == ([(1000, 1200), (999, 2000)], [(1002, 3000)])


@pytest.mark.parametrize("U, u", [(97, 100), (100, 104), (99, 103)])
def test_first_diff_straddles_last_update_id(tmp_path, U, u):
    cap = (Capture().snapshot(100, 0, SNAP_BIDS, SNAP_ASKS)
           .diff(90, 96, 89, 1, b=[("100.0", "9.000")])       # dropped: u < 100
           .diff(U, u, 96, 2, b=[("99.8", "4.000")])
           .diff(u + 1, u + 2, u, 3, a=[("100.1", "2.500")]))
    res = read_binance([cap.write(tmp_path / "c.gz")], levels=3, lot="0.001")
    assert (res.report["diffs_dropped_before_sync"], res.report["diffs_applied"]) == (1, 2)
    assert final_book(res) == ([(1000, 1000), (999, 2000), (998, 4000)], [(1001, 2500), (1002, 3000)])


def test_gap_detected_and_resynced_from_later_snapshot(tmp_path):
    cap = (Capture().snapshot(100, 0, SNAP_BIDS, SNAP_ASKS)
           .diff(99, 101, 98, 1, b=[("100.0", "1.100")])
           .diff(102, 103, 101, 2, a=[("100.1", "1.400")])
           .trade(3, "100.1", "0.100", False)
           .diff(106, 108, 105, 4, b=[("99.9", "0")])          # pu 105 != 103: gap
           .diff(109, 110, 108, 5, b=[("99.7", "1.000")])      # waits for the snapshot
           .snapshot(109, 5, [("100.0", "5.000")], [("100.3", "6.000")])
           .diff(111, 112, 110, 6, a=[("100.4", "7.000")]))
    path = cap.write(tmp_path / "c.gz")
    res = read_binance([path], levels=3, lot="0.001")  # strict: a resolved gap does not raise
    rep = res.report
    assert rep["gaps"] == 1 and rep["snapshots"] == 2
    assert rep["gap_list"] == [{"file": str(path), "line": 5, "src_row": 4, "field": "pu", "resynced_at_src_row": 5}]
    assert (rep["diffs_applied"], rep["diffs_dropped_before_sync"], rep["diffs_unapplied"]) == (4, 1, 0)
    assert res.anomalies.counts == {"sequence_gap_resynced": 1}
    t = res.tape
    begins = np.flatnonzero(t.kind == EventKind.SNAPSHOT_BEGIN)
    assert len(begins) == 3
    assert [bool(t.flags[i] & FLAG_RESYNC) for i in begins] == [False, True, True]
    # the gap marker clears the book at the time of the last good event; nothing is applied until the resync
    marker = begins[1]
    assert t.ts_ns[marker] == (T0_MS + 2) * 1_000_000 and t.src_row[marker] == 4
    assert t.kind[marker + 1] == EventKind.SNAPSHOT_END
    assert res.snapshots.bid_size[marker + 1].sum() == 0
    assert np.all(np.diff(t.ts_ns) >= 0)
    assert final_book(res) == ([(1000, 5000), (997, 1000)], [(1003, 6000), (1004, 7000)])


def test_unresolved_gap_strict_raises_lenient_counts(tmp_path):
    cap = (Capture().snapshot(100, 0, SNAP_BIDS, SNAP_ASKS)
           .diff(99, 101, 98, 1, b=[("100.0", "1.100")])
           .diff(104, 105, 103, 2, b=[("99.9", "0")])
           .trade(3, "100.0", "0.100", True))
    path = cap.write(tmp_path / "c.gz")
    with pytest.raises(InputError) as exc:
        read_binance([path], levels=3, lot="0.001")
    assert (exc.value.path, exc.value.row, exc.value.field, exc.value.kind) == (str(path), 3, "pu", "sequence_gap")
    res = read_binance([path], levels=3, strict=False, lot="0.001")
    assert res.anomalies.counts == {"sequence_gap": 1}
    assert res.report["diffs_unapplied"] == 1
    assert final_book(res) == ([], [])
    assert (res.tape.kind == EventKind.TRADE).sum() == 1


def test_snapshot_older_than_stream_is_a_gap(tmp_path):
    cap = Capture().snapshot(100, 0, SNAP_BIDS, SNAP_ASKS).diff(105, 110, 104, 1, b=[("100.0", "1.100")])
    path = cap.write(tmp_path / "c.gz")
    with pytest.raises(InputError) as exc:
        read_binance([path], levels=3, lot="0.001")
    assert (exc.value.row, exc.value.field, exc.value.kind) == (2, "U", "sequence_gap")


def test_no_snapshot(tmp_path):
    cap = Capture().diff(99, 101, 98, 1, b=[("100.0", "1.100")]).trade(2, "100.0", "0.100", True)
    path = cap.write(tmp_path / "c.gz")
    with pytest.raises(InputError) as exc:
        read_binance([path], levels=3, lot="0.001")
    assert exc.value.kind == "no_snapshot" and exc.value.field == "lastUpdateId"
    res = read_binance([path], levels=3, strict=False, lot="0.001")
    assert res.anomalies.counts == {"no_snapshot": 1} and res.report["diffs_unapplied"] == 1
    assert list(res.tape.kind) == [EventKind.TRADE]


def test_snapshot_while_in_sync_is_counted_not_applied(tmp_path):
    cap = (Capture().snapshot(100, 0, SNAP_BIDS, SNAP_ASKS)
           .diff(99, 101, 98, 1, b=[("100.0", "1.100")])
           .snapshot(101, 1, [("50.0", "1.000")], [("150.0", "1.000")]))
    res = read_binance([cap.write(tmp_path / "c.gz")], levels=3, lot="0.001")
    assert (res.report["snapshots"], res.report["snapshots_unused"]) == (1, 1)
    assert final_book(res)[0][0] == (1000, 1100)


def test_trades_resting_side_and_tie_order(tmp_path):
    cap = (Capture().snapshot(100, 0, SNAP_BIDS, SNAP_ASKS)
           .trade(1, "100.1", "0.500", False)   # buyer is taker: resting ask
           .diff(99, 101, 98, 1, a=[("100.1", "1.000")])
           .trade(1, "100.0", "0.250", True))   # buyer is maker: resting bid
    res = read_binance([cap.write(tmp_path / "c.gz")], levels=2, lot="0.001")
    t = res.tape
    tr = np.flatnonzero(t.kind == EventKind.TRADE)
    assert list(t.side[tr]) == [-1, 1]
    assert list(t.price[tr]) == [1001, 1000] and list(t.size[tr]) == [500, 250]
    # same exchange time: arrival order (trade, diff, trade)
    tail = [(int(k), int(r)) for k, r in zip(t.kind, t.src_row) if r >= 1]
    assert tail == [(EventKind.TRADE, 1), (EventKind.LEVEL_SET, 2), (EventKind.TRADE, 3)]
    assert (t.ts_ns[tr] == (T0_MS + 1) * 1_000_000).all()
    assert (t.recv_ts_ns[tr] == [1723161255000002000, 1723161255000004000]).all()
    assert (t.order_id == 0).all()


def test_tick_and_lot_inferred_or_given(tmp_path):
    cap = (Capture().snapshot(100, 0, [("100.50", "1.00"), ("100.00", "2.50")], [("101.00", "1.00")])
           .diff(99, 101, 98, 1, a=[("101.50", "3.00")]))
    path = cap.write(tmp_path / "c.gz")
    inst = read_binance([path], levels=2).tape.instrument
    assert (inst.price_scale, inst.tick_size, inst.size_scale, inst.lot_size) == (10, 1, 10, 1)
    res = read_binance([path], tick="0.5", lot="0.01", levels=2)
    inst = res.tape.instrument
    assert (inst.price_scale, inst.tick_size, inst.size_scale, inst.lot_size) == (10, 5, 100, 1)
    assert final_book(res) == ([(1005, 100), (1000, 250)], [(1010, 100), (1015, 300)])
    assert (res.report["tick"], res.report["lot"], res.report["tick_inferred"]) == ("0.5", "0.01", False)
    with pytest.raises(InputError) as exc:
        read_binance([path], tick="1", levels=2)
    assert (exc.value.row, exc.value.field, exc.value.kind) == (1, "bids[0][0]", "off_grid")


def test_coin_margined_capture(tmp_path):
    """COIN-M: symbol BTCUSD_PERP, quantities in whole contracts, quoted in USD; nothing assumes USDT."""
    cap = (Capture("BTCUSD_PERP").snapshot(500, 0, [("61800.1", "120"), ("61800.0", "7")], [("61800.2", "33")])
           .diff(499, 503, 497, 1, b=[("61800.1", "100")], a=[("61800.3", "5")])
           .ticker(503, "61800.1", "100", "61800.2", "33")
           .trade(2, "61800.2", "3", False)
           .diff(504, 506, 503, 3, a=[("61800.2", "30")])
           .ticker(506, "61800.1", "100", "61800.2", "30"))
    path = cap.write(tmp_path / "coin.gz")
    res = read_binance([path], levels=2)
    inst = res.tape.instrument
    assert (inst.symbol, inst.venue, inst.currency, inst.source) == ("BTCUSD_PERP", "BINANCE-FUTURES", "USD", "binance")
    assert (inst.price_scale, inst.tick_size, inst.size_scale, inst.lot_size) == (10, 1, 1, 1)
    assert (inst.date, inst.timezone, inst.levels) == ("2024-08-08", "UTC", 2)
    assert final_book(res) == ([(618001, 100), (618000, 7)], [(618002, 30), (618003, 5)])
    out = verify_binance([path])
    assert out["ticker_checks"] == out["ticker_agree"] == out["ticker_size_agree"] == 2


def test_other_symbol_in_stream_is_an_error(tmp_path):
    cap = Capture().snapshot(100, 0, SNAP_BIDS, SNAP_ASKS).diff(99, 101, 98, 1)
    cap.lines.append(Capture("ETHUSDT").trade(2, "2000.00", "1.000", True).lines[0].replace("1723161255000001000",
                                                                                            "1723161255000009000"))
    with pytest.raises(InputError) as exc:
        read_binance([cap.write(tmp_path / "c.gz")], levels=2, lot="0.001")
    assert (exc.value.row, exc.value.field, exc.value.kind) == (3, "s", "symbol_mismatch")


# -- the real captures ------------------------------------------------------------------------------

CAPTURES = ["btcusdt_20240808.gz", "ethusdt_20240808.gz"]


@pytest.mark.parametrize("name", CAPTURES)
def test_real_capture_agrees_with_every_book_ticker(name):
    out = verify_binance([shared_file("binance", name)])
    print(name, json.dumps(out, sort_keys=True))
    assert out["ticker_checks"] > 500
    assert out["ticker_agree"] == out["ticker_checks"]
    assert out["ticker_size_agree"] == out["ticker_checks"]
    assert out["gaps"] == 0 and out["anomalies"] == {} and out["diffs_unapplied"] == 0
    assert out["diffs_applied"] + out["diffs_dropped_before_sync"] == out["depth_diffs"]
    assert out["snapshots"] == 1 and out["diffs_dropped_before_sync"] > 0


def _raw_lines(name: str) -> list[bytes]:
    with gzip.open(shared_file("binance", name), "rb") as f:
        return f.read().splitlines(keepends=True)


def test_split_stream_reads_as_one(tmp_path):
    lines = _raw_lines("ethusdt_20240808.gz")[:40_000]
    whole, first, rest = tmp_path / "whole.gz", tmp_path / "day.gz", tmp_path / "day.1.gz"
    whole.write_bytes(gzip.compress(b"".join(lines), compresslevel=1))
    n = 17_011  # mid-stream, after the snapshot
    first.write_bytes(gzip.compress(b"".join(lines[:n]), compresslevel=1))
    rest.write_bytes(gzip.compress(b"".join(lines[n:]), compresslevel=1))
    a = read_binance([whole], levels=5)
    b = read_binance([first, rest], levels=5)
    assert a.tape.instrument == b.tape.instrument
    for col, arr in a.tape.columns().items():
        np.testing.assert_array_equal(arr, getattr(b.tape, col), err_msg=col)
    for f in ("ask_price", "ask_size", "bid_price", "bid_size"):
        np.testing.assert_array_equal(getattr(a.snapshots, f), getattr(b.snapshots, f))
    assert b.report["gaps"] == 0 and b.report["lines"] == len(lines)


def _reference_books(lines: list[bytes], price_scale: int, size_scale: int, depth: int):
    """Independent replay with Decimal dicts: {diff line: (bids, asks) top ``depth`` after it}."""
    book = {1: {}, -1: {}}
    waiting, last_id, prev_u, out = [], None, None, {}

    def apply(line, x):
        for side, key in ((1, "b"), (-1, "a")):
            for p, q in x[key]:
                if Decimal(q) == 0:
                    book[side].pop(Decimal(p), None)
                else:
                    book[side][Decimal(p)] = Decimal(q)
        if x["b"] or x["a"]:
            top = []
            for side in (1, -1):
                prices = sorted(book[side], reverse=side == 1)[:depth]
                top.append([(int(p * price_scale), int(book[side][p] * size_scale)) for p in prices])
            out[line] = tuple(top)

    def diff(line, x):
        nonlocal prev_u
        if prev_u is None:
            if x["u"] < last_id:
                return
            assert x["U"] <= last_id
        else:
            assert x["pu"] == prev_u
        apply(line, x)
        prev_u = x["u"]

    for i, raw in enumerate(lines):
        obj = json.loads(raw.split(b" ", 1)[1])
        if "lastUpdateId" in obj:
            last_id = obj["lastUpdateId"]
            for side, key in ((1, "bids"), (-1, "asks")):
                book[side] = {Decimal(p): Decimal(q) for p, q in obj[key]}
            for j, x in waiting:
                diff(j, x)
        elif obj["data"]["e"] == "depthUpdate":
            if last_id is None:
                waiting.append((i, obj["data"]))
            else:
                diff(i, obj["data"])
    return out


def test_book_after_each_diff_matches_reference_replay(tmp_path):
    lines = _raw_lines("btcusdt_20240808.gz")[:6000]
    path = tmp_path / "head.gz"
    path.write_bytes(gzip.compress(b"".join(lines), compresslevel=1))
    res = read_binance([path], levels=10)
    inst = res.tape.instrument
    assert (inst.price_scale, inst.tick_size, inst.size_scale, inst.lot_size, inst.currency, inst.levels) == \
        (10, 1, 1000, 1, "USDT", 1000)
    ref = _reference_books(lines, inst.price_scale, inst.size_scale, 10)
    assert len(ref) > 300
    t, s = res.tape, res.snapshots
    is_level = t.kind == EventKind.LEVEL_SET
    for line, (bids, asks) in ref.items():
        row = int(np.flatnonzero(is_level & (t.src_row == line))[-1])
        assert list(zip(s.bid_price[row].tolist(), s.bid_size[row].tolist())) == bids, line
        assert list(zip(s.ask_price[row].tolist(), s.ask_size[row].tolist())) == asks, line
    # trades: side from m, integer price/size from the strings, tape in exchange-time order
    raw_trades = [json.loads(r.split(b" ", 1)[1])["data"] for r in lines if b"@trade" in r]
    tr = t.kind == EventKind.TRADE
    assert list(t.side[tr]) == [1 if x["m"] else -1 for x in raw_trades]
    assert list(t.size[tr]) == [int(Decimal(x["q"]) * 1000) for x in raw_trades]
    assert list(t.ts_ns[tr]) == [x["T"] * 1_000_000 for x in raw_trades]
    assert np.all(np.diff(t.ts_ns) >= 0)
