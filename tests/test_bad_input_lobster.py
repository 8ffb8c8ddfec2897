"""Malformed LOBSTER pairs: strict mode names file, row and field; lenient mode counts and finishes."""

from pathlib import Path

import pytest

from tickreplay.adapters.lobster import read_lobster, verify_lobster
from tickreplay.errors import InputError

CORPUS = Path(__file__).parent / "bad_input" / "lobster"
# the corpus files are named message.csv / orderbook.csv (not vendor-style names), so symbol and date are given
KW = {"symbol": "TEST", "date": "2012-06-21"}


def pair(case: str) -> tuple[Path, Path]:
    d = CORPUS / case
    return d / "message.csv", d / "orderbook.csv"


# case folder, file the error names, 1-based row, field, anomaly kind, orderbook rows lenient cannot reproduce
CASES = [
    ("column_count", "message", 3, "direction", "column_count", 0),
    ("non_numeric", "message", 2, "size", "non_numeric", 0),
    ("non_numeric_orderbook", "orderbook", 4, "bid_size_1", "non_numeric", 1),
    ("bad_time", "message", 2, "time", "non_numeric", 0),
    ("non_positive_size", "message", 3, "size", "non_positive_size", 0),
    ("time_backwards", "message", 3, "time", "time_backwards", 0),
    ("unknown_event_type", "message", 2, "type", "unknown_event_type", 0),
    ("bad_direction", "message", 2, "direction", "bad_direction", 0),
    ("off_tick_price", "message", 3, "price", "off_tick_price", 0),
    ("crossed_book", "orderbook", 2, "bid_price_1", "crossed_book", 1),
    ("row_count_mismatch", "message", 5, None, "row_count_mismatch", 0),
    ("delete_size_mismatch", "message", 5, "size", "delete_size_mismatch", 0),
    ("duplicate_order_id", "message", 3, "order_id", "duplicate_order_id", 0),
    # $0.01 (on the cent grid) in a pair trading near $100
    ("implausible_price", "message", 3, "price", "implausible_price", 0),
    ("implausible_price_orderbook", "orderbook", 2, "bid_price_1", "implausible_price", 1),
]


def test_valid_pair_reads_and_replays_every_row():
    msg, ob = pair("valid")
    res = read_lobster(msg, ob, **KW)
    assert res.anomalies.total() == 0
    out = verify_lobster(msg, ob, **KW)
    assert out["rows"] == out["rows_identical"] == 5


@pytest.mark.parametrize("case,which,row,field,kind,lost", CASES, ids=[c[0] for c in CASES])
def test_strict_names_file_row_field(case, which, row, field, kind, lost):
    msg, ob = pair(case)
    with pytest.raises(InputError) as info:
        read_lobster(msg, ob, strict=True, **KW)
    err = info.value
    path = msg if which == "message" else ob
    assert (err.path, err.row, err.field, err.kind) == (str(path), row, field, kind)
    assert str(path) in str(err) and f"row {row}" in str(err)
    if field is not None:
        assert f"field '{field}'" in str(err)


@pytest.mark.parametrize("case,which,row,field,kind,lost", CASES, ids=[c[0] for c in CASES])
def test_lenient_counts_and_keeps_the_book_right(case, which, row, field, kind, lost):
    msg, ob = pair(case)
    res = read_lobster(msg, ob, strict=False, **KW)
    assert res.anomalies.counts == {kind: 1}
    assert res.anomalies.examples[kind][0].startswith(str(msg if which == "message" else ob))
    out = verify_lobster(msg, ob, strict=False, **KW)
    assert out["anomalies"] == {kind: 1}
    assert out["rows"] == 5 - (kind == "row_count_mismatch")
    # a skipped message row is made good by the corrections; a bad orderbook row cannot be reproduced
    assert out["rows_identical"] == out["rows"] - lost


def test_unparseable_file_name_needs_symbol_and_date(tmp_path):
    msg, ob = pair("valid")
    m2, o2 = tmp_path / "messages.csv", tmp_path / "book.csv"
    m2.write_bytes(msg.read_bytes())
    o2.write_bytes(ob.read_bytes())
    with pytest.raises(InputError, match="file name"):
        read_lobster(m2, o2)
    res = read_lobster(m2, o2, symbol="XYZ", date="2012-06-21")
    assert (res.tape.instrument.symbol, res.tape.instrument.date) == ("XYZ", "2012-06-21")


def test_orderbook_width_must_be_a_multiple_of_four(tmp_path):
    msg, _ = pair("valid")
    ob = tmp_path / "orderbook.csv"
    ob.write_text("9999999999,0,1000000\n")
    with pytest.raises(InputError) as info:
        read_lobster(msg, ob, strict=False, **KW)
    assert (info.value.path, info.value.row, info.value.kind) == (str(ob), 1, "column_count")


def test_verify_command_takes_symbol_and_date_for_files_without_vendor_names(capsys):
    import json

    from tickreplay.cli import main

    msg, ob = pair("valid")
    assert main(["verify", "lobster", str(msg), str(ob), "--json"]) == 2
    assert "file name" in capsys.readouterr().err
    assert main(["verify", "lobster", str(msg), str(ob), "--symbol", "TEST", "--date", "2012-06-21", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["rows"] == out["rows_identical"] == 5


def test_implausible_price_says_what_was_expected():
    msg, ob = pair("implausible_price")
    with pytest.raises(InputError) as info:
        read_lobster(msg, ob, **KW)
    # median of the pair's prices 1000000 ($100.00): plausible is 1/50 to 50 times that
    assert "expected a plausible price, 20000 to 50000000" in str(info.value)
    assert "$100.00" in str(info.value) and str(info.value).endswith("got 100")


def test_implausible_hidden_execution_price(tmp_path):
    """A hidden print may be off the tick grid, but $0.0001 in a $100 pair is no price: strict names it,
    lenient drops the print (it never touched the book) and still reproduces every row."""
    msg, ob = pair("valid")
    m2, o2 = tmp_path / "message.csv", tmp_path / "orderbook.csv"
    m2.write_text(msg.read_text() + "34201.5,5,0,10,1,1\n")
    o2.write_text(ob.read_text() + ob.read_text().splitlines()[-1] + "\n")
    with pytest.raises(InputError) as info:
        read_lobster(m2, o2, **KW)
    assert (info.value.path, info.value.row, info.value.field, info.value.kind) == \
        (str(m2), 6, "price", "implausible_price")
    out = verify_lobster(m2, o2, strict=False, **KW)
    assert out["anomalies"] == {"implausible_price": 1}
    assert out["rows"] == out["rows_identical"] == 6 and out["hidden_executions"] == 0
    # the same print at a plausible, off-grid midpoint price is fine
    m2.write_text(msg.read_text() + "34201.5,5,0,10,1000050,1\n")
    out = verify_lobster(m2, o2, **KW)
    assert out["anomalies"] == {} and out["hidden_executions"] == 1


def test_empty_levels_do_not_move_the_plausible_range(tmp_path):
    """Empty levels (±9999999999) are not prices: a book that is mostly empty levels keeps its range."""
    d = tmp_path
    (d / "message.csv").write_text("34200.1,1,1,100,1000000,1\n34200.2,1,2,100,1000000,1\n")
    (d / "orderbook.csv").write_text("9999999999,0,1000000,100,9999999999,0,-9999999999,0\n"
                                     "9999999999,0,1000000,200,9999999999,0,-9999999999,0\n")
    out = verify_lobster(d / "message.csv", d / "orderbook.csv", **KW)
    assert out["anomalies"] == {} and out["rows_identical"] == 2
