"""Databento MBO (DBN) ingest: the shared samples' oracles, the mapping rules, bad input, CLI and a scenario run."""

from __future__ import annotations

import json
from pathlib import Path

import databento_dbn as dbn
import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings, strategies as st

from conftest import REPO, shared_file
from tickreplay.adapters.dbn import read_dbn, verify_dbn
from tickreplay.book import L3Book
from tickreplay.cli import main
from tickreplay.errors import InputError
from tickreplay.tape import FLAG_IMPLIED, FLAG_UNKNOWN_ID, TRADED_KINDS, EventKind

ESM4 = "orderbooks_mbo_2024-05-08T00-00-00_2024-05-08T00-00-02.dbn.zst"
ESM4_DEF = "orderbooks_definition.dbn.zst"
ESH4 = "esh4-glbx-mdp3-20231224.mbo.dbn.zst"
ESM3_DEF = "definition-glbx-es-fut.dbn.zst"
ES = {"tick_size": "0.25", "multiplier": "50"}
PX = 10**9  # DBN price units per currency unit


def db(name: str) -> Path:
    return shared_file("databento", name)


def esm4():
    return read_dbn(db(ESM4), definitions=db(ESM4_DEF))


# ------------------------------------------------------------------ writing small DBN files for tests


def mbo(action: str, side: str, price: float | None, size: int, oid: int, ts: int, last: bool = True,
        snapshot: bool = False, iid: int = 7) -> dbn.MBOMsg:
    """One MBO record built with databento-dbn's own constructor; ``price`` in currency units."""
    flags = (dbn.F_LAST if last else 0) | (dbn.F_SNAPSHOT if snapshot else 0)
    return dbn.MBOMsg(publisher_id=1, instrument_id=iid, ts_event=ts, order_id=oid,
                      price=dbn.UNDEF_PRICE if price is None else round(price * PX), size=size,
                      action=dbn.Action(action), side=dbn.Side(side), ts_recv=ts + 100, flags=flags, sequence=0,
                      channel_id=0)


def write_dbn(path: Path, records, schema=dbn.Schema.MBO, compress: bool = True, symbols=("TEST",)) -> Path:
    meta = dbn.Metadata(dataset="GLBX.MDP3", schema=schema, start=0, stype_in=dbn.SType.RAW_SYMBOL,
                        stype_out=dbn.SType.INSTRUMENT_ID, symbols=list(symbols))
    raw = bytes(meta.encode()) + b"".join(bytes(r) for r in records)
    path.write_bytes(pa.compress(raw, codec="zstd", asbytes=True) if compress else raw)
    return path


def records_of(path: Path) -> list:
    dec = dbn.DBNDecoder(compression=dbn.Compression.ZSTD)
    return dec.write_and_decode(path.read_bytes())[1:]


# ------------------------------------------------------------------ an independent vendor book


def vendor_books(records, iid: int):
    """Databento's book rules on decoded records (attribute access, no tickreplay code): after every F_LAST
    record, yield (record index, {side: {price: [(order id, size), ...] front first}})."""
    orders: dict[int, tuple[int, int, int]] = {}  # id → (side, price, size)
    queue: dict[tuple[int, int], list[int]] = {}
    for i, r in enumerate(records):
        if r.instrument_id != iid:
            continue
        a, side = str(r.action), {"B": 1, "A": -1}.get(str(r.side), 0)
        if a == "R":
            orders.clear()
            queue.clear()
        elif a == "A":
            orders[r.order_id] = (side, r.price, r.size)
            queue.setdefault((side, r.price), []).append(r.order_id)
        elif a in "CM" and r.order_id in orders:
            s, p, q = orders[r.order_id]
            if a == "C":
                q -= r.size
                assert q >= 0
            keep = a == "C" or (r.price == p and r.size <= q)
            if a == "M":
                q = r.size
            if not keep or q == 0:
                queue[(s, p)].remove(r.order_id)
            if q == 0:
                del orders[r.order_id]
            else:
                orders[r.order_id] = (s, r.price, q)
                if not keep:
                    queue.setdefault((s, r.price), []).append(r.order_id)
        if r.flags & dbn.F_LAST:
            book: dict[int, dict[int, list]] = {1: {}, -1: {}}
            for (s, p), ids in queue.items():
                if ids:
                    book[s][p] = [(o, orders[o][2]) for o in ids]
            yield i, book


def tape_books(tape, rows):
    """The tape replayed through L3Book: the same shape as :func:`vendor_books` after the last event of each
    record in ``rows``; prices back in DBN's 1e-9 units."""
    unit = PX // tape.instrument.price_scale
    book, j, cols = L3Book(), 0, [c.tolist() for c in (tape.kind, tape.side, tape.price, tape.size, tape.order_id)]
    ends = np.searchsorted(tape.src_row, rows, side="right")
    for row, end in zip(rows, ends.tolist()):
        for ev in zip(*(c[j:end] for c in cols)):
            book.apply(*ev)
        j = end
        out = {s: {p * unit: book.orders_at(s, p) for p, _ in book.levels(s)} for s in (1, -1)}
        yield row, out


# ------------------------------------------------------------------ the shared samples


def test_esm4_oracles():
    res = esm4()
    rep = res.report
    assert (rep["records"], rep["events"], rep["symbol"], rep["instrument_id"]) == (13_796, 185, "ESM4", 5602)
    assert rep["actions"] == {"A": 13_678, "C": 80, "F": 5, "M": 27, "R": 1, "T": 5}
    assert rep["unknown_order_events"] == {"C": 0, "M": 0, "F": 0}
    assert rep["negative_sizes"] == 0 and res.anomalies.total() == 0
    assert (rep["clears"], rep["snapshots"]) == (1, 1)
    # every fill's size is removed by the C/M after it, as an execution; T is the same volume seen by the aggressor
    assert rep["trade_volume"] == rep["fill_volume"] == rep["executed_volume"] == 6
    assert rep["unremoved_fill_volume"] == 0
    tape = res.tape
    traded = np.isin(tape.kind, [int(k) for k in TRADED_KINDS])
    assert int(tape.size[traded].sum()) == 6  # counted once
    assert not np.any(tape.kind == EventKind.TRADE)
    inst = tape.instrument
    assert (inst.symbol, inst.venue, inst.date, inst.timezone, inst.currency) == \
        ("ESM4", "XCME", "2024-05-08", "America/Chicago", "USD")
    assert (inst.price_scale, inst.tick_size, inst.levels) == (100, 25, 0)
    assert inst.multiplier == 50 and "multiplier" not in tape.extra_meta and tape.extra_meta["tick"] == "0.25"
    assert np.all(tape.price % inst.tick_size == 0)
    assert (tape.extra_meta["session_start_ns"], tape.extra_meta["session_end_ns"]) == \
        (1_715_126_400_000_000_000, 1_715_126_402_000_000_000)


def test_esm4_times_snapshot_at_generation_time():
    res = esm4()
    tape, recs = res.tape, records_of(db(ESM4))
    assert np.all(np.diff(tape.ts_ns) >= 0)
    assert tape.kind[0] == EventKind.SNAPSHOT_BEGIN and tape.flags[0] == 0  # the file's own clear (R)
    end = int(np.flatnonzero(tape.kind == EventKind.SNAPSHOT_END)[0])
    assert tape.flags[end] & FLAG_IMPLIED and tape.src_row[end] == 13_600  # after the snapshot's F_LAST record
    assert recs[13_600].flags & dbn.F_LAST and recs[13_600].flags & dbn.F_SNAPSHOT
    snap_ts = {r.ts_recv for r in recs[:13_601]}
    assert set(tape.ts_ns[: end + 1].tolist()) == snap_ts == {1_715_126_400_000_000_000}
    live = slice(end + 1, None)
    src = tape.src_row[live]
    assert tape.ts_ns[live].tolist() == [recs[i].ts_event for i in src.tolist()]
    assert tape.recv_ts_ns.tolist() == [recs[i].ts_recv for i in tape.src_row.tolist()]


def test_esm4_book_equals_vendor_book_after_every_event():
    """Level sizes and queue order (ids, front first) after every F_LAST, against Databento's rules."""
    res, recs = esm4(), records_of(db(ESM4))
    want = list(vendor_books(recs, 5602))
    got = list(tape_books(res.tape, [i for i, _ in want]))
    assert len(want) == 185
    assert got == want


def test_esm4_verify_and_top_of_book():
    out = verify_dbn(db(ESM4), definitions=db(ESM4_DEF))
    assert (out["records"], out["events"], out["checked_events"]) == (13_796, 185, 185)
    assert out["crossed_after_last"] == 0 and out["negative_sizes"] == 0
    assert out["unknown_order_events"] == {"C": 0, "M": 0, "F": 0} and out["trades"] == 5
    _, last = list(vendor_books(records_of(db(ESM4)), 5602))[-1]
    bid, ask = max(last[1]), min(last[-1])
    assert out["final_top"] == {"bid": [f"{bid / PX:.2f}", sum(q for _, q in last[1][bid])],
                                "ask": [f"{ask / PX:.2f}", sum(q for _, q in last[-1][ask])]}
    assert out["final_top"] == {"bid": ["5214.00", 28], "ask": ["5214.25", 17]}


def test_esh4_snapshot_only_file():
    out = verify_dbn(db(ESH4), **ES)
    assert (out["records"], out["events"], out["actions"]) == (8_725, 1, {"A": 8_725})
    assert out["crossed_after_last"] == 0 and out["negative_sizes"] == 0 and out["snapshots"] == 1
    assert out["date"] == "2023-12-24"
    res = read_dbn(db(ESH4), **ES)
    tape = res.tape
    assert tape.kind[0] == EventKind.SNAPSHOT_BEGIN and tape.flags[0] & FLAG_IMPLIED  # no R: implied clear
    assert tape.kind[-1] == EventKind.SNAPSHOT_END
    want = list(vendor_books(records_of(db(ESH4)), 17077))
    assert list(tape_books(tape, [i for i, _ in want])) == want


# ------------------------------------------------------------------ mapping rules on small files


def test_modify_priority_rule(tmp_path):
    """Same price and smaller size keeps the queue place; a larger size or a new price goes to the back."""
    recs = [mbo("A", "B", 100, 5, 1, 10), mbo("A", "B", 100, 5, 2, 20),
            mbo("M", "B", 100, 3, 1, 30),   # smaller: order 1 stays first
            mbo("M", "B", 100, 4, 1, 40),   # larger: order 1 goes behind order 2
            mbo("M", "B", 100, 5, 2, 50),   # unchanged
            mbo("M", "B", 99.75, 5, 2, 60)]  # new price
    res = read_dbn(write_dbn(tmp_path / "m.dbn.zst", recs), **ES)
    books = [b[1][100 * PX] if 100 * PX in b[1] else None for _, b in tape_books(res.tape, range(6))]
    assert books[2] == [(1, 3), (2, 5)]
    assert books[3] == [(2, 5), (1, 4)]
    assert books[4] == books[3]
    assert books[5] == [(1, 4)]
    assert res.report["modifies"] == {"price_change": 1, "size_increase": 1, "size_decrease": 1, "unchanged": 1}
    kinds = res.tape.kind.tolist()
    assert kinds == [EventKind.ADD, EventKind.ADD, EventKind.PARTIAL_CANCEL, EventKind.DELETE, EventKind.ADD,
                     EventKind.DELETE, EventKind.ADD]


def test_fill_then_cancel_is_one_execution(tmp_path):
    recs = [mbo("A", "A", 101, 3, 1, 10), mbo("A", "A", 101, 2, 2, 20),
            mbo("T", "B", 101, 4, 99, 30, last=False),
            mbo("F", "A", 101, 3, 1, 30, last=False), mbo("F", "A", 101, 1, 2, 30, last=False),
            mbo("C", "A", 101, 3, 1, 30, last=False), mbo("M", "A", 101, 1, 2, 30),
            mbo("F", "A", 101, 2, 777, 40)]  # an order the feed never showed
    res = read_dbn(write_dbn(tmp_path / "f.dbn.zst", recs), **ES)
    t = res.tape
    ex = t.kind == EventKind.EXECUTE_VISIBLE
    assert t.order_id[ex].tolist() == [1, 2] and t.size[ex].tolist() == [3, 1]
    assert t.src_row[ex].tolist() == [5, 6]  # at the C/M that removes the filled size
    hidden = np.flatnonzero(t.kind == EventKind.EXECUTE_HIDDEN)
    assert len(hidden) == 1 and t.flags[hidden[0]] & FLAG_UNKNOWN_ID and t.size[hidden[0]] == 2
    assert not np.any(t.kind == EventKind.TRADE) and not np.any(t.kind == EventKind.DELETE)
    rep = res.report
    assert (rep["trade_volume"], rep["fill_volume"], rep["executed_volume"], rep["unknown_fill_volume"]) == (4, 6, 4, 2)
    assert rep["unknown_order_events"] == {"C": 0, "M": 0, "F": 1}
    assert list(tape_books(t, [7]))[0][1] == {1: {}, -1: {101 * PX: [(2, 1)]}}


def test_unknown_cancel_and_modify_are_counted_not_guessed(tmp_path):
    recs = [mbo("A", "B", 100, 5, 1, 10), mbo("C", "B", 100, 1, 42, 20), mbo("M", "B", 100, 1, 43, 30)]
    res = read_dbn(write_dbn(tmp_path / "u.dbn.zst", recs), **ES)
    assert res.report["unknown_order_events"] == {"C": 1, "M": 1, "F": 0}
    assert len(res.tape) == 1 and res.anomalies.total() == 0


def test_fill_not_removed_is_reported(tmp_path):
    recs = [mbo("A", "B", 100, 5, 1, 10), mbo("F", "B", 100, 2, 1, 20), mbo("R", "N", None, 0, 0, 30)]
    res = read_dbn(write_dbn(tmp_path / "p.dbn.zst", recs), **ES)
    assert res.report["unremoved_fill_volume"] == 2 and res.report["executed_volume"] == 0


OPS = st.lists(st.tuples(st.sampled_from("ACMF"), st.integers(0, 5), st.integers(-3, 3), st.integers(1, 6)),
               max_size=40)


@settings(max_examples=60, deadline=None)
@given(OPS)
def test_random_flows_replay_to_the_vendor_book(tmp_path_factory, ops):
    """Whatever consistent flow of adds, cancels, modifies and fills: the tape's book equals the vendor's after
    every record, and the executed volume is the removed part of the fills."""
    live: dict[int, list] = {}  # id → [side, ticks, size, pending fill]
    recs, next_id, fills_removed = [], 1, 0
    for t, (a, k, dticks, q) in enumerate(ops):
        ids = sorted(live)
        if a == "A" or not ids:
            side = "B" if k % 2 else "A"
            ticks = (-1 - abs(dticks)) if side == "B" else (1 + abs(dticks))  # bids below 0, asks above: no cross
            live[next_id] = [side, ticks, q, 0]
            recs.append(mbo("A", side, 5000 + ticks * 0.25, q, next_id, t))
            next_id += 1
            continue
        oid = ids[k % len(ids)]
        side, ticks, size, pend = live[oid]
        if a == "F":
            f = min(q, size - pend)
            if f:
                recs.append(mbo("F", side, 5000 + ticks * 0.25, f, oid, t))
                live[oid][3] += f
        elif a == "C":
            c = min(q, size)
            recs.append(mbo("C", side, 5000 + ticks * 0.25, c, oid, t))
            fills_removed += min(pend, c)
            live[oid][2:] = [size - c, pend - min(pend, c)]
            if size == c:
                del live[oid]
        else:
            nt = (-1 - abs(dticks)) if side == "B" else (1 + abs(dticks))
            keep = nt == ticks and q <= size
            fills_removed += min(pend, size - q if keep else size)
            recs.append(mbo("M", side, 5000 + nt * 0.25, q, oid, t))
            live[oid] = [side, nt, q, pend - min(pend, size - q if keep else size)]
    if not recs:
        return
    path = write_dbn(tmp_path_factory.mktemp("flow") / "x.dbn.zst", recs)
    res = read_dbn(path, **ES)
    want = list(vendor_books(records_of(path), 7))
    assert list(tape_books(res.tape, [i for i, _ in want])) == want
    assert res.report["executed_volume"] == fills_removed
    assert res.anomalies.total() == 0


# ------------------------------------------------------------------ bad input


def test_truncated_zstd(tmp_path):
    data = db(ESM4).read_bytes()
    for cut in (len(data) - 3, len(data) // 2, 10):
        p = tmp_path / f"cut{cut}.dbn.zst"
        p.write_bytes(data[:cut])
        with pytest.raises(InputError, match="truncated") as exc:
            read_dbn(p, definitions=db(ESM4_DEF))
        assert exc.value.path == str(p) and exc.value.field == "zstd"


def test_truncated_inside_a_record(tmp_path):
    recs = [mbo("A", "B", 100, 5, i + 1, i) for i in range(4)]
    p = write_dbn(tmp_path / "r.dbn", recs, compress=False)
    p.write_bytes(p.read_bytes()[:-20])
    with pytest.raises(InputError, match=r"ends inside record 4") as exc:
        read_dbn(p, **ES)
    assert exc.value.row == 4


def test_not_dbn(tmp_path):
    p = tmp_path / "x.dbn.zst"
    p.write_bytes(b"ts,price\n1,2\n")
    with pytest.raises(InputError, match="not a DBN file"):
        read_dbn(p, **ES)


def test_wrong_schema_mbp1(tmp_path):
    rec = dbn.MBP1Msg(publisher_id=1, instrument_id=7, ts_event=10, price=100 * PX, size=1, action=dbn.Action.ADD,
                      side=dbn.Side.BID, depth=0, ts_recv=11, flags=dbn.F_LAST, sequence=1)
    p = write_dbn(tmp_path / "mbp1.dbn.zst", [rec], schema=dbn.Schema.MBP_1)
    with pytest.raises(InputError, match="schema is mbp-1, expected mbo") as exc:
        read_dbn(p, **ES)
    assert (exc.value.path, exc.value.field, exc.value.kind) == (str(p), "schema", "wrong_schema")
    with pytest.raises(InputError, match="expected definition"):  # an MBO file given as definitions
        read_dbn(db(ESM4), definitions=db(ESM4))


def test_several_instruments_need_an_id(tmp_path):
    recs = [mbo("A", "B", 100, 5, 1, 10, iid=7), mbo("A", "A", 100.25, 5, 2, 20, iid=8),
            mbo("A", "A", 100.5, 1, 3, 30, iid=8)]
    p = write_dbn(tmp_path / "two.dbn.zst", recs)
    with pytest.raises(InputError, match=r"2 instruments in the file: 7 \(1 records\), 8 \(2 records\)") as exc:
        read_dbn(p, **ES)
    assert exc.value.kind == "several_instruments"
    res = read_dbn(p, instrument_id=8, **ES)
    assert res.report["records"] == 2 and res.report["other_instrument_records"] == 1
    assert res.tape.src_row.tolist() == [1, 2]  # record indexes in the file
    with pytest.raises(InputError, match="no records of instrument 9"):
        read_dbn(p, instrument_id=9, **ES)


def test_definitions_that_do_not_match():
    with pytest.raises(InputError, match=r"definitions are for 95414 ESM3, not instrument 17077 ESH4") as exc:
        read_dbn(db(ESH4), definitions=db(ESM3_DEF))
    assert exc.value.path == str(db(ESM3_DEF)) and exc.value.kind == "definition_mismatch"
    with pytest.raises(InputError, match=r"--tick-size 0.5 disagrees with the definition's 0.25"):
        read_dbn(db(ESM4), definitions=db(ESM4_DEF), tick_size="0.5")
    with pytest.raises(InputError, match="give --definitions DEF.dbn.zst .*or --tick-size and --multiplier"):
        read_dbn(db(ESH4))


# (records, 1-based record number, field, kind, lenient counts, tape kinds kept in lenient mode)
A1 = ("A", "B", 100, 5, 1, 10)
BAD = {
    "negative_size": ([A1, ("C", "B", 100, 7, 1, 20)], 2, "size", {"negative_size": 1},
                      [EventKind.ADD, EventKind.DELETE]),
    "duplicate_order_id": ([A1, ("A", "B", 100, 1, 1, 20)], 2, "order_id", {"duplicate_order_id": 1},
                           [EventKind.ADD]),
    "off_tick_price": ([A1, ("A", "B", 100.1, 1, 2, 20)], 2, "price", {"off_tick_price": 1}, [EventKind.ADD]),
    "bad_side": ([("A", "N", 100, 1, 2, 5), A1], 1, "side", {"bad_side": 1}, [EventKind.ADD]),
    "bad_price": ([A1, ("A", "A", None, 1, 2, 20)], 2, "price", {"bad_price": 1}, [EventKind.ADD]),
    "order_price_mismatch": ([A1, ("C", "B", 99, 1, 1, 20)], 2, "price", {"order_price_mismatch": 1},
                             [EventKind.ADD]),
    "order_side_mismatch": ([A1, ("M", "A", 100, 1, 1, 20)], 2, "side", {"order_side_mismatch": 1},
                            [EventKind.ADD]),
    "bad_size": ([A1, ("A", "B", 100, 0, 2, 20)], 2, "size", {"bad_size": 1}, [EventKind.ADD]),
    "exchange_time_backwards": ([A1, ("A", "B", 100, 1, 2, 5)], 2, "ts_event", {"exchange_time_backwards": 1},
                                [EventKind.ADD, EventKind.ADD]),
}


@pytest.mark.parametrize("kind", sorted(BAD))
def test_bad_records_strict_and_lenient(tmp_path, kind):
    recs, row, fld, counts, kept = BAD[kind]
    p = write_dbn(tmp_path / f"{kind}.dbn.zst", [mbo(*r) for r in recs])
    with pytest.raises(InputError) as exc:
        read_dbn(p, **ES)
    err = exc.value
    assert (err.path, err.row, err.field, err.kind) == (str(p), row, fld, kind)
    assert f"row {row}" in str(err) and str(p) in str(err)
    res = read_dbn(p, strict=False, **ES)
    assert dict(res.anomalies.counts) == counts
    assert res.tape.kind.tolist() == [int(k) for k in kept]
    assert np.all(np.diff(res.tape.ts_ns) >= 0)


def test_unknown_action(tmp_path):
    q = write_dbn(tmp_path / "plain.dbn", [mbo(*A1), mbo(*A1)], compress=False)
    data = bytearray(q.read_bytes())
    data[-56 + 38] = ord("X")  # the action byte of the last record (MboMsg: action at byte 38 of 56)
    q.write_bytes(bytes(data))
    with pytest.raises(InputError, match="action 'X'") as exc:
        read_dbn(q, **ES)
    assert (exc.value.row, exc.value.field) == (2, "action")
    assert dict(read_dbn(q, strict=False, **ES).anomalies.counts) == {"unknown_action": 1}


# ------------------------------------------------------------------ command line and a scenario


def test_cli_verify_json(capsys):
    code = main(["verify", "dbn", str(db(ESM4)), "--definitions", str(db(ESM4_DEF)), "--json"])
    out = json.loads(capsys.readouterr().out)
    assert code == 0
    for key in ("records", "events", "crossed_after_last", "negative_sizes", "unknown_order_events", "trades"):
        assert key in out
    assert (out["records"], out["events"], out["crossed_after_last"], out["negative_sizes"], out["trades"]) == \
        (13_796, 185, 0, 0, 5)
    assert out["unknown_order_events"] == {"C": 0, "M": 0, "F": 0}
    code = main(["verify", "dbn", str(db(ESH4)), "--tick-size", "0.25", "--multiplier", "50", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert code == 0 and (out["records"], out["events"], out["crossed_after_last"]) == (8_725, 1, 0)


def test_cli_errors_name_the_file(capsys):
    code = main(["verify", "dbn", str(db(ESH4)), "--definitions", str(db(ESM3_DEF))])
    err = capsys.readouterr().err
    assert code != 0 and ESM3_DEF in err and "17077" in err


def test_ingest_and_run_the_example_scenario(tmp_path, monkeypatch, capsys):
    from tickreplay.experiment.run import run_file

    cat = tmp_path / "replay"
    code = main(["ingest", "dbn", str(db(ESM4)), "--definitions", str(db(ESM4_DEF)), "--catalog", str(cat)])
    assert code == 0 and "wrote dbn/ESM4/2024-05-08" in capsys.readouterr().out
    assert main(["ingest", "dbn", str(db(ESM4)), "--definitions", str(db(ESM4_DEF)), "--catalog", str(cat)]) != 0
    monkeypatch.setenv("TICKREPLAY_CATALOG", str(cat))
    outcome = run_file(REPO / "scenarios" / "es_mbo_twap.toml", tmp_path / "results")
    import pandas as pd

    from tickreplay.catalog import Catalog

    fills = pd.read_parquet(outcome.path / "fills.parquet")
    assert int(fills["size"].sum()) == 10 and set(fills["side"]) == {1}
    snaps = Catalog(cat).find("dbn/ESM4/2024-05-08").read_snapshots()
    idx = fills["tape_index"].to_numpy()
    assert np.all(fills["price"].to_numpy() == snaps.ask_price[idx, 0])  # market buys at the book's best ask
    assert outcome.tca["instrument"]["symbol"] == "ESM4" and outcome.tca["shortfall"]["filled"] == 10
    # times written "-1d 19:00:00.25"/"-1d 19:00:01.75": the evening of 2024-05-07 before trade date 2024-05-08
    assert (outcome.tca["parent"]["start_ns"], outcome.tca["parent"]["end_ns"]) == \
        (1_715_126_400_250_000_000, 1_715_126_401_750_000_000)
    # in dollars: 50 $ per index point per contract (price units: 100 per point)
    sf, m0 = outcome.tca["shortfall"], outcome.tca["shortfall"]["arrival_mid"]
    paid = float((fills["price"] * fills["size"]).sum()) / 100
    assert outcome.tca["instrument"]["multiplier"] == 50
    assert sf["total_currency"] == pytest.approx((paid - 10 * m0) * 50, rel=1e-12) and sf["total_currency"] > 0
    assert sf["arrival_notional"] == pytest.approx(10 * m0 * 50, rel=1e-15)
