"""The streaming LOBSTER ingest writes exactly what the in-memory ingest of before wrote.

The fingerprints below were recorded from the ingest as it was before streaming
(commit f76ff6d, pure-Python book): the tape's :meth:`Tape.fingerprint`, a
blake2b-128 of the per-event top-N snapshots in LOBSTER column order
(little-endian int64), and the ingest report.
"""

import hashlib

import numpy as np
import pytest

from conftest import lobster_pair
from tickreplay.adapters.lobster import ingest_lobster, read_lobster
from tickreplay.catalog import Catalog

BEFORE = {
    ("AMZN", 5): ("blake2b-128:5acd8f9e0f5aef5af0de2e98f7f174a1", "82df305cb47fedea86eed5ff4f2b94ae", {
        "cross_trades": 0, "events": 182835, "events_on_corrected_orders": 1793, "halts": 0,
        "hidden_executions": 2445, "implied_events": 26900, "levels": 5,
        "messages_by_type": {"1": 77381, "2": 450, "3": 66685, "4": 8974, "5": 2445}, "rows": 155935,
        "rows_needing_correction": 15246, "times_rounded_to_ns": 1, "unattributed_shortfall_shares": 236692,
        "unknown_order_events": 8491, "unseen_order_reductions": 5}),
    ("AMZN", 1): ("blake2b-128:4ab6dac47fa06b3d35897751c9c2901a", "7ffa8a05346b8415285485c97545aa41", {
        "cross_trades": 0, "events": 76546, "events_on_corrected_orders": 869, "halts": 0,
        "hidden_executions": 2445, "implied_events": 19031, "levels": 1,
        "messages_by_type": {"1": 27845, "2": 16, "3": 18235, "4": 8974, "5": 2445}, "rows": 57515,
        "rows_needing_correction": 9525, "times_rounded_to_ns": 0, "unattributed_shortfall_shares": 118897,
        "unknown_order_events": 7467, "unseen_order_reductions": 1}),
    ("AAPL", 1): ("blake2b-128:ff659d55d1504b4cd24d468cf1100032", "922aae1c359d37b1eff843c62decac8f", {
        "cross_trades": 0, "events": 155984, "events_on_corrected_orders": 1170, "halts": 0,
        "hidden_executions": 11332, "implied_events": 37487, "levels": 1,
        "messages_by_type": {"1": 54818, "2": 252, "3": 28437, "4": 23658, "5": 11332}, "rows": 118497,
        "rows_needing_correction": 19204, "times_rounded_to_ns": 0, "unattributed_shortfall_shares": 223289,
        "unknown_order_events": 14980, "unseen_order_reductions": 4}),
}
PAIRS = list(BEFORE)
IDS = [f"{s}_{n}" for s, n in PAIRS]


def snapshot_hash(snaps) -> str:
    rows = np.ascontiguousarray(snaps.as_lobster_rows(), dtype="<i8")
    return hashlib.blake2b(rows.tobytes(), digest_size=16).hexdigest()


@pytest.mark.parametrize("pair", PAIRS, ids=IDS)
def test_read_lobster_reproduces_the_ingest_of_before(pair):
    fingerprint, snaps, report = BEFORE[pair]
    res = read_lobster(*lobster_pair(*pair))
    assert res.tape.fingerprint() == fingerprint
    assert snapshot_hash(res.snapshots) == snaps
    assert res.report == report
    assert res.anomalies.total() == 0


@pytest.mark.parametrize("pair", PAIRS, ids=IDS)
def test_catalog_entry_of_the_streaming_ingest_is_the_ingest_of_before(pair, tmp_path):
    fingerprint, snaps, report = BEFORE[pair]
    cat = Catalog(tmp_path)
    entry, rep, log = ingest_lobster(*lobster_pair(*pair), cat, chunk_rows=20_000)  # many chunks and row groups
    assert log.total() == 0
    assert {k: rep[k] for k in report} == report
    stored = entry.read_report()
    assert stored["fingerprint"] == fingerprint
    tape = entry.read_tape()
    assert tape.fingerprint() == fingerprint
    assert snapshot_hash(entry.read_snapshots()) == snaps
    assert not list(entry.folder.glob("book_top*.parquet"))  # no per-event book stored


def test_a_window_read_from_a_checkpoint_is_the_day_sliced(tmp_path, monkeypatch):
    """read_window rebuilds the book from the checkpoint before the window: the same events and top-N as the
    whole day's, sliced; and it reads only the row groups from that checkpoint on."""
    import tickreplay.catalog as catalog

    monkeypatch.setattr(catalog, "CHECKPOINT_EVENTS", 15_000)
    entry, _, _ = ingest_lobster(*lobster_pair("AMZN", 5), Catalog(tmp_path), chunk_rows=10_000)
    assert len(entry._checkpoint_before(10**9)[1]) > 1  # checkpoints were written, and hold a book
    day, snaps = entry.read_tape(), entry.read_snapshots()
    rows = snaps.as_lobster_rows()
    ts = day.ts_ns
    for a, b in [(0.5, 0.52), (0.0, 0.01), (0.9, 1.0), (0.3, 0.7)]:
        t0, t1 = int(ts[int(a * (len(ts) - 1))]), int(ts[int(b * (len(ts) - 1))])
        lo, hi = np.searchsorted(ts, t0, side="left"), np.searchsorted(ts, t1, side="right")
        win, wsnaps = entry.read_window(t0, t1)
        assert win.fingerprint() == day.slice(lo, hi).fingerprint()
        np.testing.assert_array_equal(wsnaps.as_lobster_rows(), rows[lo:hi])
    calls = []
    real = catalog.pq.ParquetFile.read_row_groups
    monkeypatch.setattr(catalog.pq.ParquetFile, "read_row_groups",
                        lambda self, groups, **kw: calls.append(list(groups)) or real(self, groups, **kw))
    t0, t1 = int(ts[-2000]), int(ts[-1])
    entry.read_window(t0, t1)
    n_groups = catalog.pq.ParquetFile(entry.folder / "tape.parquet").num_row_groups
    assert calls and len(calls[0]) <= 3 < n_groups


def test_stream_book_checkpoint_rebuilds_the_book():
    """A StreamBook fed a tape in chunks, checkpointed, then continued from the checkpoint by the kernel, gives
    the top-N compute_snapshots gives over the whole tape."""
    from tickreplay.adapters.synthetic import generate_day
    from tickreplay.book.fast import StreamBook, compute_snapshots, snapshots_from_checkpoint

    tape = generate_day("liquid_large_cap", seed=3, duration_s=600)
    full = compute_snapshots(tape, 5).as_lobster_rows()
    book = StreamBook(tape.instrument.tick_size)
    cut = 0
    for cut in range(0, len(tape) // 2, 997):
        book.apply(tape.slice(cut, cut + 997))
    at = cut + 997
    cp = book.checkpoint()
    assert (cp[1:, 0] == 1).sum() == book.n_orders
    again = snapshots_from_checkpoint(cp, tape.slice(at, len(tape)), 5)
    np.testing.assert_array_equal(again.as_lobster_rows(), full[at:])
