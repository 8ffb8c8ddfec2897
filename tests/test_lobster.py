"""LOBSTER adapter against LOBSTER's own orderbook files and independent readings of the message files."""

import csv
import datetime as dt
from collections import Counter
from decimal import ROUND_HALF_UP, Decimal
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import LOBSTER_PAIRS, lobster_pair
from tickreplay.adapters.lobster import CHUNK_ROWS, _replay_rows, read_lobster, verify_lobster
from tickreplay.adapters.lobster_csv import parse_time_ns
from tickreplay.book.base import BookError
from tickreplay.book.l3 import L3Book, top_n_rows
from tickreplay.catalog import Catalog
from tickreplay.tape import FLAG_IMPLIED, FLAG_UNKNOWN_ID, EventKind as K

NY = ZoneInfo("America/New_York")
FIRST_MESSAGE = {"AMZN": (9, 30, 0, 17459617), "AAPL": (9, 30, 0, 4241176)}  # h, m, s, ns local time


def decimal_ns(text: str) -> int:
    """Independent reference: seconds string → ns via Decimal, half up."""
    return int((Decimal(text) * 10**9).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def midnight_ns(date: str) -> int:
    d = dt.date.fromisoformat(date)
    return int(dt.datetime(d.year, d.month, d.day, tzinfo=NY).timestamp()) * 10**9


@pytest.fixture(scope="module", params=LOBSTER_PAIRS, ids=[f"{s}_{n}" for s, n in LOBSTER_PAIRS])
def case(request):
    symbol, levels = request.param
    msg, ob = lobster_pair(symbol, levels)
    with open(msg, newline="") as f:
        rows = list(csv.reader(f))
    book = np.loadtxt(ob, delimiter=",", dtype=np.int64, ndmin=2)
    book[:, 0::4][book[:, 0::4] == 9_999_999_999] = 0
    book[:, 2::4][book[:, 2::4] == -9_999_999_999] = 0
    return SimpleNamespace(symbol=symbol, levels=levels, msg=msg, ob=ob, rows=rows, book=book,
                           res=read_lobster(msg, ob), verify=verify_lobster(msg, ob))


def test_every_orderbook_row_is_reproduced(case):
    v = case.verify
    assert v["rows"] == len(case.rows) == len(case.book)
    assert v["rows_identical"] == v["rows"]
    assert v["anomalies"] == {}


def test_snapshot_after_each_rows_last_event_is_the_orderbook_row(case):
    tape, snaps = case.res.tape, case.res.snapshots
    assert len(snaps) == len(tape) and snaps.levels == case.levels
    last = np.searchsorted(tape.src_row, np.arange(len(case.book)), side="right") - 1
    np.testing.assert_array_equal(snaps.as_lobster_rows()[last], case.book)


def test_snapshots_equal_a_reference_replay_on_a_prefix(case):
    k = 4000
    np.testing.assert_array_equal(top_n_rows(case.res.tape.slice(0, k), case.levels),
                                  case.res.snapshots.as_lobster_rows()[:k])


def test_counts_agree_with_an_independent_reading(case):
    types = Counter(int(r[1]) for r in case.rows)
    seen, unknown = set(), 0
    for r in case.rows:
        if r[1] == "1":
            seen.add(r[2])
        elif r[1] in ("2", "3", "4") and r[2] not in seen:
            unknown += 1
    v, tape = case.verify, case.res.tape
    assert v["messages_by_type"] == {str(t): n for t, n in sorted(types.items())}
    assert v["hidden_executions"] == types[5]
    assert v["cross_trades"] == types[6]
    assert v["halts"] == sum(1 for r in case.rows if r[1] == "7" and r[4] == "-1")
    assert v["unknown_order_events"] == unknown > 0
    implied = (tape.flags & FLAG_IMPLIED) != 0
    assert v["implied_events"] == int(implied.sum())
    assert int((~implied).sum()) == len(case.rows)  # one vendor event per message row
    flagged = int(((tape.flags & FLAG_UNKNOWN_ID) != 0).sum())
    assert flagged == unknown + v["events_on_corrected_orders"]


def test_vendor_events_carry_the_message_fields_and_exact_times(case):
    tape = case.res.tape
    vendor = (tape.flags & FLAG_IMPLIED) == 0
    np.testing.assert_array_equal(tape.src_row[vendor], np.arange(len(case.rows)))
    midnight = midnight_ns("2012-06-21")
    np.testing.assert_array_equal(tape.ts_ns[vendor] - midnight, [decimal_ns(r[0]) for r in case.rows])
    for col, j in (("size", 3), ("price", 4), ("order_id", 2)):
        book_rows = np.array([r[1] != "7" for r in case.rows])
        np.testing.assert_array_equal(getattr(tape, col)[vendor][book_rows],
                                      [int(r[j]) for r in case.rows if r[1] != "7"])
    assert np.all(np.diff(tape.ts_ns) >= 0)
    h, m, s, ns = FIRST_MESSAGE[case.symbol]
    first = int(dt.datetime(2012, 6, 21, h, m, s, tzinfo=NY).timestamp()) * 10**9 + ns
    assert tape.ts_ns[0] == first


def test_a_message_only_replay_disagrees_on_more_than_a_tenth_of_rows(case):
    assert case.verify["message_only_rows_disagreeing"] > 0.1 * case.verify["rows"]


def _reference_replay_rows(tape, n_rows, levels, keep):
    """Reference (pure Python L3Book) message-only replay: events where ``keep``, each one the book cannot take
    skipped and counted; the top N after each source row's last event."""
    sel = np.flatnonzero(keep)
    ends = np.searchsorted(tape.src_row[sel], np.arange(n_rows), side="right").tolist()
    events = list(zip(*(c[sel].tolist() for c in (tape.kind, tape.side, tape.price, tape.size, tape.order_id))))
    book, out, rejected, j = L3Book(), np.zeros((n_rows, 4 * levels), np.int64), 0, 0
    for r in range(n_rows):
        for ev in events[j:ends[r]]:
            try:
                book.apply(*ev)
            except BookError:
                rejected += 1
        j = ends[r]
        out[r] = book.top(levels).as_row()
    return out, rejected


def test_the_compiled_message_only_replay_equals_the_l3book_one(case):
    """verify's message-only replay (compiled, in chunks of rows) gives the Python L3Book's rows and rejections,
    whatever the chunk size; the message-only keep mask of verify_lobster, and every event (no rejection)."""
    tape, n = case.res.tape, case.res.report["rows"]
    implied = (tape.flags & FLAG_IMPLIED) != 0
    opening = np.arange(len(tape)) <= np.flatnonzero(tape.kind == int(K.SNAPSHOT_END))[0]
    keep = opening | ~implied
    want, rejected = _reference_replay_rows(tape, n, case.levels, keep)
    assert rejected == case.verify["message_only_rejected_events"] > 0
    for chunk_rows in (CHUNK_ROWS, 997):
        got, got_rejected = _replay_rows(tape, n, case.levels, keep, chunk_rows=chunk_rows)
        assert got_rejected == rejected and np.array_equal(got, want)
    got, got_rejected = _replay_rows(tape, n, case.levels, np.ones(len(tape), bool), chunk_rows=4096)
    ends = np.searchsorted(tape.src_row, np.arange(n), side="right") - 1
    assert got_rejected == 0 and np.array_equal(got, case.res.snapshots.as_lobster_rows()[ends])


def test_instrument(case):
    inst = case.res.tape.instrument
    assert (inst.symbol, inst.date, inst.venue, inst.levels, inst.source) == (
        case.symbol, "2012-06-21", "NASDAQ", case.levels, "lobster")
    assert (inst.price_scale, inst.tick_size, inst.size_scale, inst.lot_size, inst.timezone) == (
        10_000, 100, 1, 1, "America/New_York")


def test_session_is_the_files_requested_window(case):
    meta = case.res.tape.extra_meta
    open_ns = int(pd.Timestamp("2012-06-21 09:30", tz="America/New_York").value)
    close_ns = int(pd.Timestamp("2012-06-21 16:00", tz="America/New_York").value)
    assert (meta["session_start_ns"], meta["session_end_ns"]) == (open_ns, close_ns)
    assert open_ns <= case.res.tape.ts_ns[0] and case.res.tape.ts_ns[-1] <= close_ns


def test_catalog_round_trip(case, tmp_path):
    res = case.res
    entry = Catalog(tmp_path).write("lobster", res.tape, res.snapshots, res.report)
    assert entry.key == f"lobster/{case.symbol}/2012-06-21"
    back = Catalog(tmp_path).find(entry.key)
    tape = back.read_tape()
    assert tape.instrument == res.tape.instrument
    for name, col in res.tape.columns().items():
        np.testing.assert_array_equal(tape.columns()[name], col)
    np.testing.assert_array_equal(back.read_snapshots(case.levels).as_lobster_rows(),
                                  res.snapshots.as_lobster_rows())
    assert back.read_report() == {**res.report, "fingerprint": res.tape.fingerprint()}


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 86_399), st.text("0123456789", max_size=14))
def test_time_parsing_is_exact(whole, frac):
    text = f"{whole}.{frac}" if frac else str(whole)
    ns, rounded = parse_time_ns(text)
    assert ns == decimal_ns(text)
    assert rounded == bool(frac[9:].strip("0"))


# A hand-made level-1 pair: every reconciliation rule once, with the exact tape it must give.
MESSAGES = """\
34200.1,1,1,100,1000000,1
34200.2,1,2,50,1000000,1
34200.3,1,3,10,1000100,-1
34200.4,3,3,10,1000100,-1
34200.5,4,777,20,1000200,-1
34200.6,3,1,60,1000000,1
34205,7,0,0,-1,-1
34206,7,0,0,1,-1
34207,5,0,10,1000150,1
"""
ORDERBOOK = """\
9999999999,0,1000000,100
9999999999,0,1000000,150
1000100,10,1000000,120
1000200,70,1000000,120
1000200,50,1000000,120
1000200,50,1000000,20
1000200,50,1000000,20
1000200,50,1000000,20
1000200,50,1000000,20
"""
I, U = FLAG_IMPLIED, FLAG_UNKNOWN_ID
EXPECTED = [  # kind, side, price, size, order id, src row, flags
    (K.SNAPSHOT_BEGIN, 0, 0, 0, 0, 0, I),
    (K.SNAPSHOT_END, 0, 0, 0, 0, 0, I),
    (K.ADD, 1, 1000000, 100, 1, 0, 0),
    (K.ADD, 1, 1000000, 50, 2, 1, 0),
    (K.ADD, -1, 1000100, 10, 3, 2, 0),
    (K.PARTIAL_CANCEL, 1, 1000000, 30, 2, 2, I),  # 30 gone without a message: from the back of the queue
    (K.DELETE, -1, 1000100, 10, 3, 3, 0),
    (K.LEVEL_SET, -1, 1000200, 70, 0, 3, I),  # a level comes into view
    (K.EXECUTE_VISIBLE, -1, 1000200, 20, 777, 4, U),  # never added: takes unattributed volume
    (K.PARTIAL_CANCEL, 1, 1000000, 40, 1, 5, I),  # DELETE of 60 on an order the messages left at 100
    (K.DELETE, 1, 1000000, 60, 1, 5, 0),
    (K.HALT, 0, 0, 0, 0, 6, 0),
    (K.RESUME, 0, 0, 0, 0, 7, 0),
    (K.EXECUTE_HIDDEN, 1, 1000150, 10, 0, 8, 0),  # off-grid hidden print: no visible change
]


def test_handmade_pair_gives_the_exact_tape(tmp_path):
    msg = tmp_path / "TEST_2012-06-21_34200000_57600000_message_1.csv"
    ob = tmp_path / "TEST_2012-06-21_34200000_57600000_orderbook_1.csv"
    msg.write_text(MESSAGES)
    ob.write_text(ORDERBOOK)
    t = read_lobster(msg, ob).tape
    got = list(zip(*(c.tolist() for c in (t.kind, t.side, t.price, t.size, t.order_id, t.src_row, t.flags))))
    assert got == [tuple(int(x) for x in e) for e in EXPECTED]
    out = verify_lobster(msg, ob)
    assert (out["rows_identical"], out["halts"], out["unknown_order_events"], out["unseen_order_reductions"],
            out["rows_needing_correction"]) == (9, 1, 1, 1, 2)
