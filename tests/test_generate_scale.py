"""Benchmark-sized generated days: ``--activity``, and LOBSTER pairs written chunk by chunk in bounded memory."""

from __future__ import annotations

import functools
import tempfile
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from tickreplay import cli
from tickreplay.adapters import lobster_writer
from tickreplay.adapters.lobster import verify_lobster
from tickreplay.adapters.lobster_writer import LobsterWriter, lobster_file_names, midnight_ns, write_lobster
from tickreplay.adapters.synthetic import DayGenerator, generate_day
from tickreplay.book.fast import apply_tape_fast, compute_snapshots
from tickreplay.errors import ConfigError
from tickreplay.tape import EventKind, Instrument, Tape

REGIME = "liquid_large_cap"
CANCELS = (EventKind.PARTIAL_CANCEL, EventKind.DELETE)


def _count(tape: Tape, *kinds: EventKind) -> int:
    return int(np.isin(tape.kind, [int(k) for k in kinds]).sum())


# -- activity -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("activity", [2.0, 0.5])
def test_activity_multiplies_the_event_rates(activity):
    """Event counts pooled over three seeds of 30 min, divided by ``activity``, against the default day's.

    Arrival and cancel intensities are exactly ``activity`` times the regime's; the counts per kind also depend
    on the price path, which runs in real time. Measured (x2 / x0.5): all events 1.01 / 1.00, adds 1.02 / 0.99,
    cancels 1.09 / 0.92, visible executions 0.84 / 1.16; seed by seed, all events 1.00-1.03 / 0.97-1.02.
    """
    base = [generate_day(REGIME, s, duration_s=1800) for s in (1, 2, 3)]
    busy = [generate_day(REGIME, s, duration_s=1800, activity=activity) for s in (1, 2, 3)]
    for kinds, lo, hi in (((*EventKind,), 0.95, 1.06), ((EventKind.ADD,), 0.95, 1.06), (CANCELS, 0.85, 1.15),
                          ((EventKind.EXECUTE_VISIBLE,), 0.75, 1.25)):
        ratio = sum(_count(t, *kinds) for t in busy) / sum(_count(t, *kinds) for t in base) / activity
        assert lo < ratio < hi, (kinds, ratio)
    for a, b in zip(base, busy):
        assert b.ts_ns[-1] - b.ts_ns[0] == pytest.approx(a.ts_ns[-1] - a.ts_ns[0], rel=1e-3)  # the same 30 min


def _mean_resting_orders(tape: Tape) -> float:
    """Resting orders at ten points of the day."""
    ends = np.linspace(len(tape) // 10, len(tape), 10).astype(int)
    return float(np.mean([apply_tape_fast(tape.slice(0, i)).n_orders for i in ends]))


@pytest.mark.parametrize("activity", [4.0, 0.5])
def test_activity_keeps_the_book_depth(activity):
    """Cancels scale with arrivals, so the resting book stays the regime's (measured x0.86-1.09 over seeds 4-5;
    with the cancel hazard left alone it would hold about ``activity`` times the orders)."""
    base = _mean_resting_orders(generate_day(REGIME, 4, duration_s=1800))
    busy = _mean_resting_orders(generate_day(REGIME, 4, duration_s=1800, activity=activity))
    assert 0.8 < busy / base < 1.25


def test_activity_is_deterministic_and_one_is_the_default():
    a = generate_day(REGIME, 5, duration_s=300, activity=3)
    b = generate_day(REGIME, 5, duration_s=300, activity=3.0)
    default = generate_day(REGIME, 5, duration_s=300)
    assert a.fingerprint() == b.fingerprint() != default.fingerprint()
    assert a.instrument.symbol == "liquid_large_cap-x3-s5-300s" and a.extra_meta["activity"] == 3.0
    one = generate_day(REGIME, 5, duration_s=300, activity=1)
    assert one.fingerprint() == default.fingerprint() and one.instrument == default.instrument
    assert "activity" not in default.extra_meta  # the default day's metadata is as it always was


@pytest.mark.parametrize("bad", [0, -1.5, float("nan"), float("inf"), True, "2"])
def test_bad_activity_is_a_config_error(bad):
    with pytest.raises(ConfigError, match="activity"):
        generate_day(REGIME, 1, duration_s=10, activity=bad)


@pytest.mark.parametrize("bad", ["0", "-2", "nan", "inf"])
def test_bad_activity_on_the_command_line(bad, tmp_path, capsys):
    assert cli.main(["generate", "--seed", "1", "--duration-s", "10", "--activity", bad,
                     "--lobster-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert f"--activity {bad}" in err and "positive number" in err
    assert list(tmp_path.iterdir()) == []


# -- chunked LOBSTER writing ----------------------------------------------------------------------------------


def _chunks(tape: Tape, cuts: list[int]) -> Iterator[dict[str, np.ndarray]]:
    bounds = [0, *sorted(set(c for c in cuts if 0 < c < len(tape))), len(tape)]
    for lo, hi in zip(bounds, bounds[1:]):
        yield {k: getattr(tape, k)[lo:hi] for k in ("ts_ns", "kind", "side", "price", "size", "order_id")}


def _write_chunked(tape: Tape, cuts: list[int], msg, ob, levels: int, bounds: tuple[int, int]) -> None:
    with LobsterWriter(msg, ob, levels, tape.instrument, bounds) as w:
        for c in _chunks(tape, cuts):
            w.write(**c)
    assert w.rows == len(tape)


@functools.cache
def _small_day() -> tuple[Tape, tuple[int, int], bytes, bytes]:
    """A small busy day, its price bounds and its unchunked LOBSTER pair (levels 4) as bytes."""
    day = DayGenerator("thin_small_cap", 6, duration_s=900, activity=6)
    tape = day.tape()
    with tempfile.TemporaryDirectory() as d:
        msg, ob = Path(d) / "m.csv", Path(d) / "o.csv"
        write_lobster(tape, msg, ob, 4)
        return tape, day.price_bounds(), msg.read_bytes(), ob.read_bytes()


@settings(max_examples=15, deadline=None)
@given(cuts=st.lists(st.integers(0, 12_000), max_size=8), block=st.sampled_from([1, 7, 1 << 15]),
       buffer=st.sampled_from([4096, 1 << 23]))
def test_a_chunked_write_equals_the_whole_tape_write_byte_for_byte(tmp_path_factory, cuts, block, buffer):
    tape, bounds, msg_bytes, ob_bytes = _small_day()
    assert len(tape) > 12_000
    d = tmp_path_factory.mktemp("chunked")
    with pytest.MonkeyPatch.context() as mp:  # small blocks and buffers exercise every boundary
        mp.setattr(lobster_writer, "BOOK_BLOCK_ROWS", block)
        mp.setattr(lobster_writer, "BUFFER_BYTES", buffer)
        _write_chunked(tape, cuts, d / "m.csv", d / "o.csv", 4, bounds)
    assert (d / "m.csv").read_bytes() == msg_bytes
    assert (d / "o.csv").read_bytes() == ob_bytes


def test_generate_command_streams_the_same_pair_and_verify_accepts_it(tmp_path):
    args = ["generate", "--seed", "2", "--duration-s", "120", "--activity", "6", "--levels", "5"]
    assert cli.main([*args, "--lobster-dir", str(tmp_path)]) == 0
    tape = generate_day(REGIME, 2, duration_s=120, activity=6)
    msg_name, ob_name = lobster_file_names(tape, 5, 34200, 34320)
    assert msg_name.startswith("liquid_large_cap-x6-s2-120s_2024-01-02_")
    write_lobster(tape, tmp_path / "m.csv", tmp_path / "o.csv", 5)
    assert (tmp_path / msg_name).read_bytes() == (tmp_path / "m.csv").read_bytes()
    assert (tmp_path / ob_name).read_bytes() == (tmp_path / "o.csv").read_bytes()
    out = verify_lobster(tmp_path / msg_name, tmp_path / ob_name)
    assert out["rows"] == out["rows_identical"] == len(tape)


def _reference_lobster(tape: Tape, levels: int) -> tuple[bytes, bytes]:
    """The writer as it was before its compiled formatting: Python f-strings and ``np.savetxt``."""
    import io

    kinds = tape.kind.astype(np.int64)
    halt_price = {int(EventKind.HALT): -1, int(EventKind.QUOTE_RESUME): 0, int(EventKind.RESUME): 1}
    halt = np.isin(kinds, list(halt_price))
    msg_type, price, direction = np.where(halt, 7, kinds), tape.price.copy(), tape.side.astype(np.int64)
    size, oid = tape.size.copy(), tape.order_id.copy()
    price[halt] = [halt_price[k] for k in kinds[halt]]
    direction[halt], size[halt], oid[halt] = -1, 0, 0
    secs, frac = np.divmod(tape.ts_ns - midnight_ns(tape.instrument), 1_000_000_000)
    msg = "".join(f"{s}.{f:09d},{k},{o},{q},{p},{d}\n" for s, f, k, o, q, p, d in
                  zip(secs.tolist(), frac.tolist(), msg_type.tolist(), oid.tolist(), size.tolist(), price.tolist(),
                      direction.tolist()))
    snaps = compute_snapshots(tape, levels)
    rows = np.empty((len(tape), 4 * levels), np.int64)
    rows[:, 0::4] = np.where(snaps.ask_size > 0, snaps.ask_price, lobster_writer.EMPTY_ASK)
    rows[:, 2::4] = np.where(snaps.bid_size > 0, snaps.bid_price, lobster_writer.EMPTY_BID)
    rows[:, 1::4], rows[:, 3::4] = snaps.ask_size, snaps.bid_size
    buf = io.BytesIO()
    np.savetxt(buf, rows, fmt="%d", delimiter=",")
    return msg.encode(), buf.getvalue()


def test_every_message_type_is_written_as_before(tmp_path):
    """Halts, hidden prints, crosses, big ids and times late in the day, against the f-string/savetxt writer."""
    inst = Instrument(symbol="T", venue="X", date="2024-03-11", price_scale=10_000, tick_size=100)
    k = EventKind
    rows = [(k.ADD, 1, 1_000_000, 300, 1), (k.ADD, -1, 1_000_100, 5, 2), (k.ADD, 1, 999_900, 7, 9_876_543_210),
            (k.EXECUTE_HIDDEN, 1, 1_000_000, 40, 0), (k.HALT, 0, 0, 0, 0), (k.QUOTE_RESUME, 0, 0, 0, 0),
            (k.RESUME, 0, 0, 0, 0), (k.CROSS_TRADE, -1, 1_000_000, 100, 0), (k.EXECUTE_VISIBLE, 1, 1_000_000, 300, 1),
            (k.PARTIAL_CANCEL, 1, 999_900, 2, 9_876_543_210), (k.DELETE, -1, 1_000_100, 5, 2)]
    kind, side, price, size, oid = (np.array(c, np.int64) for c in zip(*rows))
    ts = midnight_ns(inst) + np.array([34_200 * 10**9, 34_200 * 10**9 + 1, 50_000 * 10**9 + 999_999_999,
                                       *range(57_599 * 10**9, 57_599 * 10**9 + 8)])
    tape = Tape.from_columns(inst, ts_ns=ts, kind=kind.astype(np.int8), side=side.astype(np.int8), price=price,
                             size=size, order_id=oid)
    want_msg, want_ob = _reference_lobster(tape, 3)
    write_lobster(tape, tmp_path / "m.csv", tmp_path / "o.csv", 3)
    _write_chunked(tape, [3, 4, 8], tmp_path / "cm.csv", tmp_path / "co.csv", 3, (990_000, 1_010_000))
    for m, o in (("m.csv", "o.csv"), ("cm.csv", "co.csv")):
        assert (tmp_path / m).read_bytes() == want_msg
        assert (tmp_path / o).read_bytes() == want_ob


def test_a_bad_event_names_its_index_and_leaves_no_file(tmp_path):
    tape = generate_day(REGIME, 1, duration_s=30)
    i = 500
    size = tape.size.copy()
    first_add = int(np.argmax(tape.kind[i:] != EventKind.ADD)) + i  # a removal after event i
    size[first_add] += 10**9
    bad = Tape(instrument=tape.instrument, **{**tape.columns(), "size": size})
    with pytest.raises(ValueError, match=f"tape event {first_add} .*where the book holds"):
        _write_chunked(bad, [100, 1000], tmp_path / "m.csv", tmp_path / "o.csv", 2, (0, 2_100_000))
    assert list(tmp_path.iterdir()) == []
    price = tape.price.copy()
    price[i] += 1
    off = Tape(instrument=tape.instrument, **{**tape.columns(), "price": price})
    with pytest.raises(ValueError, match=f"tape event {i} .*off the tick grid"):
        _write_chunked(off, [7], tmp_path / "m.csv", tmp_path / "o.csv", 2, (0, 2_100_000))
    assert list(tmp_path.iterdir()) == []


def _peak_bytes_streaming(activity: float, tmp_path: Path) -> tuple[int, int]:
    """(events, peak traced bytes) of generating and writing a 10-minute day chunk by chunk."""
    day = DayGenerator(REGIME, 1, duration_s=600, activity=activity)
    tracemalloc.start()
    try:
        with LobsterWriter(tmp_path / "m.csv", tmp_path / "o.csv", 10, day.instrument, day.price_bounds()) as w:
            for chunk in day.chunks(progress=False):
                w.write(**chunk)
        return w.rows, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_memory_of_a_streamed_day_does_not_grow_with_its_length(tmp_path):
    """Measured: 48.4 MB traced at x10, x20 and x80 alike (fixed buffers: draws, one chunk, text)."""
    _peak_bytes_streaming(1, tmp_path)  # first use: one-time allocations (numba's cache, ...)
    small_n, small_peak = _peak_bytes_streaming(10, tmp_path)
    big_n, big_peak = _peak_bytes_streaming(80, tmp_path)
    assert big_n > 7 * small_n > 800_000
    # the whole day in memory would take >= 34 bytes/event (tape columns) + 320 (top-10 book); order slots
    # kept for every order of the day (not reused) would take 72 bytes per order
    assert big_peak < 1.1 * small_peak
    assert big_peak < 64 * 2**20
