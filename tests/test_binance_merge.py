"""The merge of book events and trades is bounded: a capture without trades, or with a stream that lags,
does not hold the day; a message trailing by more than ``max_lag_ns`` is an error, never misplaced."""

from __future__ import annotations

import numpy as np
import pytest

from test_binance import SNAP_ASKS, SNAP_BIDS, T0_MS, Capture
from tickreplay.adapters import binance_stream, capture_lines
from tickreplay.adapters.binance import read_binance
from tickreplay.adapters.binance_stream import BinanceStream
from tickreplay.errors import InputError
from tickreplay.tape import EventKind, concat

OPTS = {"tick": "0.1", "lot": "0.001"}
STEP_MS = 100


@pytest.fixture
def small_batches(monkeypatch):
    """Batches of a line or two, so that what the stream holds between them can be seen."""
    monkeypatch.setattr(binance_stream, "BATCH_LINES", 1)
    monkeypatch.setattr(capture_lines, "_CHUNK_BYTES", 256)


def _no_trades(n: int) -> Capture:
    cap = Capture().snapshot(100, 0, SNAP_BIDS, SNAP_ASKS)
    for i in range(n):
        cap.diff(100 + i, 101 + i, 100 + i, STEP_MS * (i + 1), b=[("99.8", f"{i % 9 + 1}.000")])
    return cap


def test_capture_without_trades_leaves_as_it_is_read(tmp_path, small_batches):
    """No trade ever comes: book events leave once they are ``max_lag_ns`` behind the latest one read (here
    1 s = 10 diffs), not at the end of the stream, and the tape is the whole-capture reader's."""
    path = _no_trades(300).write(tmp_path / "c.gz")
    stream = BinanceStream([path], chunk_events=5, max_lag_ns=10**9, **OPTS)
    held, chunks = [], []
    for chunk in stream:
        chunks.append(chunk.tape)
        held.append(stream.lines_read - 1 - int(chunk.tape.src_row.max()))
    assert len(chunks) > 50
    # lines read but not yet out: the lag (10 diffs), the line or two of a batch, the 5 events of a chunk
    assert max(held[:-1]) <= 10 + 2 + 5
    want = read_binance([path], levels=1, **OPTS).tape
    got = concat(chunks)
    for name in ("ts_ns", "recv_ts_ns", "kind", "side", "price", "size", "src_row", "flags"):
        assert np.array_equal(getattr(got, name), getattr(want, name)), name


def _lagging_trade(lag_ms: int) -> Capture:
    """Diffs every 100 ms for 3 s, then a trade stamped ``lag_ms`` before the last diff."""
    cap = _no_trades(30)
    cap.trade(STEP_MS * 30 - lag_ms, "100.0", "0.100", True)
    return cap


@pytest.mark.parametrize("lag_ms", [0, 900, 2500])
def test_trade_within_the_lag_is_merged_in_place(tmp_path, small_batches, lag_ms):
    path = _lagging_trade(lag_ms).write(tmp_path / "c.gz")
    t = read_binance([path], levels=1, **OPTS).tape  # default max_lag_ns: 10 s
    i = int(np.flatnonzero(t.kind == EventKind.TRADE)[0])
    assert t.ts_ns[i] == (T0_MS + STEP_MS * 30 - lag_ms) * 1_000_000
    assert np.all(np.diff(t.ts_ns) >= 0)
    assert t.ts_ns[i + 1:].size == 0 or t.ts_ns[i + 1] > t.ts_ns[i]


def test_trade_beyond_the_lag_is_an_error_strict_and_clamped_lenient(tmp_path, small_batches):
    path = _lagging_trade(2500).write(tmp_path / "c.gz")
    stream = BinanceStream([path], max_lag_ns=10**9, **OPTS)
    with pytest.raises(InputError) as exc:
        list(stream)
    assert (exc.value.row, exc.value.field, exc.value.kind) == (32, "T", "exchange_time_backwards")
    assert "max_lag_ns" in str(exc.value)
    stream = BinanceStream([path], max_lag_ns=10**9, strict=False, **OPTS)
    t = concat([c.tape for c in stream])
    assert dict(stream.anomalies.counts) == {"exchange_time_backwards": 1}
    assert np.all(np.diff(t.ts_ns) >= 0)
    assert (t.kind == EventKind.TRADE).sum() == 1
