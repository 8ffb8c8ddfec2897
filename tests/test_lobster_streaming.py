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
