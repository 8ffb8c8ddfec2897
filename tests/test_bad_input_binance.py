"""Malformed Binance captures: strict mode names file, line and field; lenient mode counts and goes on."""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path

import numpy as np
import pytest

from tickreplay.adapters.binance import read_binance, verify_binance
from tickreplay.errors import InputError
from tickreplay.tape import FLAG_RESYNC, EventKind

CORPUS = Path(__file__).parent / "bad_input" / "binance"
OPTS = {"tick": "0.1", "lot": "0.001"}

# file → (1-based line, field, anomaly kind, all counts in lenient mode, trades kept, diffs applied).
# A diff lost to a bad value breaks the pu chain of the diff after it: lenient mode reports that gap too.
CASES = {
    "bad_json.txt": (4, "json", "bad_json", {"bad_json": 1}, 2, 3),
    "missing_field.txt": (6, "pu", "missing_field", {"missing_field": 1, "sequence_gap": 1}, 2, 1),
    "non_numeric_price.txt": (3, "b[0][0]", "bad_number", {"bad_number": 1, "sequence_gap": 1}, 2, 0),
    "off_grid_price.txt": (8, "a[0][0]", "off_grid", {"off_grid": 1}, 2, 2),
    "off_grid_quantity.txt": (5, "q", "off_grid", {"off_grid": 1}, 1, 3),
    "recv_time_backwards.txt": (7, "recv_ts_ns", "recv_time_backwards", {"recv_time_backwards": 1}, 2, 3),
    "sequence_gap.txt": (8, "pu", "sequence_gap", {"sequence_gap": 1}, 2, 2),
    "no_receive_time.txt": (9, "recv_ts_ns", "bad_line", {"bad_line": 1}, 1, 3),
    "exchange_time_backwards.txt": (6, "T", "exchange_time_backwards", {"exchange_time_backwards": 1}, 2, 3),
}


def test_good_capture_is_clean():
    out = verify_binance([CORPUS / "good.txt"], **OPTS)
    assert out["anomalies"] == {}
    assert (out["diffs_applied"], out["diffs_dropped_before_sync"], out["trades"], out["gaps"]) == (3, 1, 2, 0)
    assert out["ticker_checks"] == out["ticker_agree"] == out["ticker_size_agree"] == 2


@pytest.mark.parametrize("name", sorted(CASES))
def test_strict_names_file_line_and_field(name):
    line, fld, kind = CASES[name][:3]
    with pytest.raises(InputError) as exc:
        read_binance([CORPUS / name], levels=2, **OPTS)
    err = exc.value
    assert (Path(err.path).name, err.row, err.field, err.kind) == (name, line, fld, kind)
    assert f"row {line}" in str(err) and f"'{fld}'" in str(err) and name in str(err)


@pytest.mark.parametrize("name", sorted(CASES))
def test_lenient_counts_and_goes_on(name):
    counts, trades, applied = CASES[name][3:]
    res = read_binance([CORPUS / name], levels=2, strict=False, **OPTS)
    assert dict(res.anomalies.counts) == counts
    kinds = res.tape.kind
    assert int((kinds == EventKind.TRADE).sum()) == trades
    assert res.report["diffs_applied"] == applied
    assert res.report["diffs_applied"] + res.report["diffs_dropped_before_sync"] + res.report["diffs_unapplied"] \
        == res.report["depth_diffs"]


def test_lenient_bad_number_reports_the_gap_it_causes():
    """Skipping the unreadable first diff after the snapshot leaves the snapshot unbridged: a gap, never a guess."""
    res = read_binance([CORPUS / "non_numeric_price.txt"], levels=2, strict=False, **OPTS)
    assert res.anomalies.counts["sequence_gap"] == 1
    assert res.report["gaps"] == 1 and res.report["gap_list"][0]["field"] == "U"
    # after the gap marker the book is empty for good: no snapshot came to resync it
    last = res.snapshots
    assert last.bid_size[-1].sum() == 0 and last.ask_size[-1].sum() == 0


def test_lenient_sequence_gap_clears_book_and_stops_applying():
    res = read_binance([CORPUS / "sequence_gap.txt"], levels=2, strict=False, **OPTS)
    t = res.tape
    marker = (t.kind == EventKind.SNAPSHOT_BEGIN) & ((t.flags & FLAG_RESYNC) != 0)
    assert marker.sum() == 1
    i = int(marker.argmax())
    assert t.src_row[i] == 7  # the breaking diff, 0-based line 7 = line 8
    assert not ((t.kind == EventKind.LEVEL_SET) & (t.src_row == 7)).any()
    assert res.snapshots.bid_size[i:].sum() == 0 and res.snapshots.ask_size[i:].sum() == 0
    assert res.report["diffs_unapplied"] == 1


def _trades_capture(n: int) -> bytes:
    """A clean trades-only capture of ``n`` lines (times increasing), long enough to cut mid-stream."""
    lines = []
    for i in range(n):
        lines.append(f'{1723161255000000000 + i * 1000} {{"stream":"btcusdt@trade","data":{{"e":"trade",'
                     f'"E":{1723161256000 + i},"T":{1723161256000 + i},"s":"BTCUSDT","t":{i},"p":"100.{i % 10}0",'
                     f'"q":"{i % 7 + 1}.{i % 1000:03d}","X":"MARKET","m":{"true" if i % 2 else "false"}}}}}\n')
    return "".join(lines).encode()


def _complete_lines(data: bytes) -> int:
    """Reference: complete lines zlib can recover from a truncated gzip (independent of the adapter's reader)."""
    d = zlib.decompressobj(16 + zlib.MAX_WBITS)
    return d.decompress(data).count(b"\n")


@pytest.mark.parametrize("keep", [0.3, 0.6, 0.9])
def test_truncated_gzip(tmp_path, keep):
    text = _trades_capture(400)
    packed = gzip.compress(text, compresslevel=1)
    cut = packed[: int(len(packed) * keep)]
    path = tmp_path / "cut.gz"
    path.write_bytes(cut)
    good = _complete_lines(cut)
    assert 0 < good < text.count(b"\n")
    with pytest.raises(InputError) as exc:
        read_binance([path], levels=2, **OPTS)
    assert (exc.value.path, exc.value.row, exc.value.field, exc.value.kind) == (str(path), good, "gzip", "truncated_gzip")
    res = read_binance([path], levels=2, strict=False, **OPTS)
    assert res.anomalies.counts["truncated_gzip"] == 1
    assert res.report["lines"] == good


def test_truncation_in_first_file_of_a_split_stream_is_named(tmp_path):
    text = _trades_capture(400)
    packed = gzip.compress(text, compresslevel=1)
    first, second = tmp_path / "day.gz", tmp_path / "day.1.gz"
    first.write_bytes(packed[: len(packed) // 2])
    second.write_bytes(gzip.compress(text))
    with pytest.raises(InputError) as exc:
        read_binance([first, second], levels=2, **OPTS)
    assert exc.value.path == str(first) and exc.value.kind == "truncated_gzip"


FAR_FUTURE_NS, FAR_PAST_NS = 1723161255000004500 + 10**15, 1000
# a corrupted line, the 0-based stream line it is inserted at in good.txt, the units to read with; each is
# named after the one anomaly kind it must count
DROPPED_LINES = {
    "bad_json": ('{"stream":"btcusdt@trade","data":{"e":"trade","E":17231612', 4, OPTS),
    "missing_field": ('{"stream":"btcusdt@trade","data":{"e":"trade","s":"BTCUSDT","p":"100.10","q":"0.500",'
                      '"m":false}}', 4, OPTS),
    # first line of the stream, another symbol: it must not name the stream (nothing after it would fit)
    "missing_field-first": ('{"stream":"ethusdt@trade","data":{"e":"trade","s":"ETHUSDT","p":"100.10",'
                            '"q":"0.500","m":false}}', 0, OPTS),
    "off_grid": ('{"stream":"btcusdt@trade","data":{"e":"trade","T":1723161256002,"s":"BTCUSDT","p":"100.15",'
                 '"q":"0.500","m":false}}', 4, OPTS),
    # units inferred: the dropped line's 7-decimal quantity must not make the lot 0.0000001
    "bad_number": ('{"stream":"btcusdt@trade","data":{"e":"trade","T":1723161256002,"s":"BTCUSDT","p":"1e2",'
                   '"q":"0.0000001","m":false}}', 4, {}),
}


@pytest.mark.parametrize("recv_ns", [FAR_FUTURE_NS, FAR_PAST_NS], ids=["future", "past"])
@pytest.mark.parametrize("case", sorted(DROPPED_LINES))
def test_lenient_dropped_line_leaves_no_trace(tmp_path, case, recv_ns):
    """A dropped line counts its own anomaly once and changes nothing else: not the receive-time order
    check of the lines after it, not the symbol or the units, the book, the trades or the report."""
    body, at, opts = DROPPED_LINES[case]
    kind = case.split("-")[0]
    good = (CORPUS / "good.txt").read_text().splitlines(keepends=True)
    bad = tmp_path / "bad.txt"
    bad.write_text("".join(good[:at] + [f"{recv_ns} {body}\n"] + good[at:]))
    clean = read_binance([CORPUS / "good.txt"], levels=2, strict=False, **opts)
    res = read_binance([bad], levels=2, strict=False, **opts)
    assert dict(res.anomalies.counts) == {kind: 1}
    assert res.anomalies.counts["recv_time_backwards"] == 0
    t, c = res.tape, clean.tape
    assert (t.instrument, t.extra_meta) == (c.instrument, c.extra_meta)
    for name in ("ts_ns", "recv_ts_ns", "kind", "side", "price", "size", "order_id", "flags"):
        assert np.array_equal(getattr(t, name), getattr(c, name)), name
    # the same events, from the same lines: those after the inserted one are one line further down
    assert np.array_equal(t.src_row, c.src_row + (c.src_row >= at))
    for name in ("bid_price", "bid_size", "ask_price", "ask_size"):
        assert np.array_equal(getattr(res.snapshots, name), getattr(clean.snapshots, name)), name
    differ = {"lines", "files"}
    assert {k: v for k, v in res.report.items() if k not in differ} == \
        {k: v for k, v in clean.report.items() if k not in differ}
    assert res.report["lines"] == clean.report["lines"] + 1
