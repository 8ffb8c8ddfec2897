"""The writer's hashed L2 checkpoint book gives what the order book (StreamBook) gives on the same chunks:
the same checkpoint rows after every chunk, an error on the same tapes, and the same book after handing
over to StreamBook when order events appear."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from tickreplay.book.fast import S_PMIN, StreamBook
from tickreplay.book.l2_fast import L2CheckpointBook
from tickreplay.tape import (K_ADD, K_LEVEL_SET, K_SNAPSHOT_BEGIN, K_SNAPSHOT_END, K_TRADE, Instrument, Tape)

INST = Instrument("X", "V", "2024-01-01", price_scale=10, tick_size=5)

event = st.one_of(
    st.tuples(st.just(K_LEVEL_SET), st.sampled_from([1, -1]), st.integers(-40, 40).map(lambda t: 5 * t),
              st.integers(0, 3)),
    st.tuples(st.just(K_LEVEL_SET), st.sampled_from([1, -1]), st.sampled_from([-10**8, 10**8, 5000]).map(lambda t: 5 * t),
              st.integers(0, 3)),  # far prices: a grid too wide for StreamBook (an error there, so here too)
    st.tuples(st.sampled_from([K_TRADE, K_SNAPSHOT_END]), st.just(1), st.just(5), st.just(1)),
    st.tuples(st.just(K_SNAPSHOT_BEGIN), st.just(0), st.just(0), st.just(0)),
    st.tuples(st.just(K_LEVEL_SET), st.sampled_from([1, -1, 0]), st.integers(-3, 3), st.integers(-1, 2)),  # bad
)


def tape_of(rows: list[tuple[int, int, int, int]]) -> Tape:
    a = np.array(rows, np.int64).reshape(-1, 4)
    return Tape.from_columns(INST, ts_ns=np.arange(len(a)), kind=a[:, 0], side=a[:, 1], price=a[:, 2],
                             size=a[:, 3])


def outcome(book, chunks: list[Tape], l2: bool) -> list:
    out = []
    for t in chunks:
        try:
            book.apply(t.kind, t.side, t.price, t.size) if l2 else book.apply(t)
        except ValueError:  # the order book's FastBookError is one too
            return out + ["error"]
        out.append(book.checkpoint().tolist())
    return out


@settings(max_examples=300, deadline=None)
@given(st.lists(st.lists(event, max_size=60), min_size=1, max_size=5))
def test_checkpoints_and_errors_as_stream_book(chunks_rows) -> None:
    # the first event a level near the others: StreamBook cannot take a snapshot before its grid exists
    chunks = [tape_of([(K_LEVEL_SET, 1, 0, 1)] * (i == 0) + r) for i, r in enumerate(chunks_rows)]
    assert outcome(L2CheckpointBook(5), chunks, True) == outcome(StreamBook(5), chunks, False)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.sampled_from([1, -1]), st.integers(-40, 40), st.integers(0, 3)), max_size=80))
def test_hand_over_to_stream_book(levels) -> None:
    l2 = tape_of([(K_LEVEL_SET, s, 5 * t, q) for s, t, q in levels])
    l3 = tape_of([(K_ADD, 1, 5 * 50, 2), (K_LEVEL_SET, -1, 5 * 60, 1)]).slice(0, 2)
    l3 = Tape.from_columns(INST, ts_ns=l3.ts_ns, kind=l3.kind, side=l3.side, price=l3.price, size=l3.size,
                           order_id=np.array([7, 0]))
    ref = StreamBook(5)
    ref.apply(l2)
    ref.apply(l3)
    fast = L2CheckpointBook(5)
    fast.apply(l2.kind, l2.side, l2.price, l2.size)
    book = fast.to_stream_book()
    book.apply(l3)
    assert book.checkpoint().tolist() == ref.checkpoint().tolist()
    assert (book.grid, int(book.sc[S_PMIN])) == (ref.grid, int(ref.sc[S_PMIN]))


def test_table_grows_past_its_first_size() -> None:
    t = tape_of([(K_LEVEL_SET, 1, 5 * i, 1 + i % 3) for i in range(5000)])
    fast, ref = L2CheckpointBook(5), StreamBook(5)
    fast.apply(t.kind, t.side, t.price, t.size)
    ref.apply(t)
    assert fast.checkpoint().tolist() == ref.checkpoint().tolist()


def test_writer_fingerprint_is_the_tapes(tmp_path) -> None:
    """TapeWriter.fingerprint (read back without pandas, several row groups, sliced chunks) = the tape's."""
    from tickreplay.tape import TapeWriter, concat, parquet_fingerprint

    rng = np.random.default_rng(3)
    parts = [tape_of([(K_LEVEL_SET, int(s), 5 * int(p), int(q)) for s, p, q in
                      zip(rng.choice([1, -1], n), rng.integers(-50, 50, n), rng.integers(0, 9, n))]) for n in (7, 40, 13)]
    parts = [Tape.from_columns(INST, ts_ns=t.ts_ns, kind=t.kind, side=t.side, price=t.price, size=t.size,
                               recv_ts_ns=rng.integers(0, 10**9, len(t)), order_id=rng.integers(0, 99, len(t)),
                               flags=rng.integers(0, 4, len(t)).astype(np.int16)) for t in parts]
    w = TapeWriter(tmp_path / "t.parquet", INST, row_group_events=16)
    for t in parts:
        w.write(t.slice(1, len(t)))
    w.close()
    whole = concat([t.slice(1, len(t)) for t in parts])
    assert w.fingerprint() == parquet_fingerprint(tmp_path / "t.parquet") == whole.fingerprint()
