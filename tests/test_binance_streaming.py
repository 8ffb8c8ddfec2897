"""Streamed Binance ingest: identical to the whole-capture reader on the shared captures, chunked or not.

The expected values were recorded with the whole-capture reader (commit
f76ff6d) before the ingest was streamed: the tape's ``fingerprint()``, a
blake2b-128 of the top-20 snapshot arrays, the ingest report (without
``files``) and ``verify_binance``'s output.
"""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest

from conftest import shared_file
from tickreplay.adapters.binance import read_binance, verify_binance
from tickreplay.adapters.binance_stream import BinanceStream
from tickreplay.book.fast import compute_snapshots
from tickreplay.tape import concat

RECORDED = {
    'btcusdt_20240808.gz': {
        "fingerprint": 'blake2b-128:d122132d447c655914ae6e326780162f',
        "snapshots20": '01ac8d01f3c9cae83f6f4867131a45e4',
        "report": json.loads("{\"depth_diffs\": 6551, \"diffs_applied\": 6547, \"diffs_dropped_before_sync\": 4, \"diffs_unapplied\": 0, \"events\": 466577, \"gap_list\": [], \"gaps\": 0, \"lines\": 93954, \"lot\": \"0.001\", \"lot_inferred\": true, \"snapshots\": 1, \"snapshots_unused\": 0, \"symbol\": \"BTCUSDT\", \"tick\": \"0.1\", \"tick_inferred\": true, \"tickers\": 66089, \"trades\": 21313}"),
        "verify": json.loads("{\"anomalies\": {}, \"depth_diffs\": 6551, \"diffs_applied\": 6547, \"diffs_dropped_before_sync\": 4, \"diffs_unapplied\": 0, \"events\": 466577, \"gaps\": 0, \"lot\": \"0.001\", \"snapshots\": 1, \"snapshots_unused\": 0, \"symbol\": \"BTCUSDT\", \"tick\": \"0.1\", \"ticker_agree\": 629, \"ticker_checks\": 629, \"ticker_disagreements\": [], \"ticker_size_agree\": 629, \"tickers\": 66089, \"trades\": 21313}"),
    },
    'ethusdt_20240808.gz': {
        "fingerprint": 'blake2b-128:38043829faa25ae7490d9145a7ad627b',
        "snapshots20": 'f8e9c2bb5aa042de51a49e6b685d3708',
        "report": json.loads("{\"depth_diffs\": 6586, \"diffs_applied\": 6581, \"diffs_dropped_before_sync\": 5, \"diffs_unapplied\": 0, \"events\": 444489, \"gap_list\": [], \"gaps\": 0, \"lines\": 74655, \"lot\": \"0.001\", \"lot_inferred\": true, \"snapshots\": 1, \"snapshots_unused\": 0, \"symbol\": \"ETHUSDT\", \"tick\": \"0.01\", \"tick_inferred\": true, \"tickers\": 53992, \"trades\": 14076}"),
        "verify": json.loads("{\"anomalies\": {}, \"depth_diffs\": 6586, \"diffs_applied\": 6581, \"diffs_dropped_before_sync\": 5, \"diffs_unapplied\": 0, \"events\": 444489, \"gaps\": 0, \"lot\": \"0.001\", \"snapshots\": 1, \"snapshots_unused\": 0, \"symbol\": \"ETHUSDT\", \"tick\": \"0.01\", \"ticker_agree\": 551, \"ticker_checks\": 551, \"ticker_disagreements\": [], \"ticker_size_agree\": 551, \"tickers\": 53992, \"trades\": 14076}"),
    },
}


def _snapshots_hash(s) -> str:
    h = hashlib.blake2b(digest_size=16)
    for f in ("ask_price", "ask_size", "bid_price", "bid_size"):
        a = np.ascontiguousarray(getattr(s, f), dtype="<i8")
        h.update(f"\n{f}:{a.shape}\n".encode())
        h.update(a.data)
    return h.hexdigest()


@pytest.mark.parametrize("name", sorted(RECORDED))
def test_identical_to_the_whole_capture_reader(name):
    path = shared_file("binance", name)
    want = RECORDED[name]
    res = read_binance([path], levels=20)
    assert res.tape.fingerprint() == want["fingerprint"]
    assert _snapshots_hash(res.snapshots) == want["snapshots20"]
    assert {k: v for k, v in res.report.items() if k != "files"} == want["report"]
    assert dict(res.anomalies.counts) == {}
    assert verify_binance([path]) == want["verify"]


@pytest.mark.parametrize("name", sorted(RECORDED))
def test_small_chunks_and_given_units_change_nothing(name):
    """Chunks of 50k events with tick/lot given (one pass): the same tape; every chunk is in tape order and
    bounded; the compiled book kept across chunks equals the whole-tape kernel."""
    path = shared_file("binance", name)
    want = RECORDED[name]
    stream = BinanceStream([path], tick=want["report"]["tick"], lot=want["report"]["lot"], chunk_events=50_000)
    chunks = [c.tape for c in stream]
    assert all(len(t) <= 50_000 for t in chunks) and len(chunks) > 5
    tape = concat(chunks)
    tape = type(tape)(instrument=stream.instrument, extra_meta=stream.extra_meta, **tape.columns())
    assert tape.fingerprint() == want["fingerprint"]
    assert {k: v for k, v in stream.report.items() if k not in ("files", "tick_inferred", "lot_inferred")} == \
        {k: v for k, v in want["report"].items() if k not in ("tick_inferred", "lot_inferred")}
    assert _snapshots_hash(compute_snapshots(tape, 20)) == want["snapshots20"]
