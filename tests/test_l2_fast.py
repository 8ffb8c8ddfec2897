"""The compiled L2 book kept across chunks equals the whole-tape kernel, however the tape is cut."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from tickreplay.book.fast import compute_snapshots
from tickreplay.book.l2_fast import StreamingL2Book
from tickreplay.tape import EventKind, Instrument, Tape

_INST = Instrument(symbol="X", venue="V", date="2024-01-01", price_scale=10, tick_size=5)


@st.composite
def _l2_tapes(draw):
    n = draw(st.integers(1, 200))
    kinds = draw(st.lists(st.sampled_from([EventKind.LEVEL_SET] * 8 + [EventKind.SNAPSHOT_BEGIN, EventKind.TRADE]),
                          min_size=n, max_size=n))
    price = [5 * draw(st.integers(-50, 50)) + 100_000 * draw(st.sampled_from([0, 0, 0, 1])) for _ in range(n)]
    size = draw(st.lists(st.integers(0, 3), min_size=n, max_size=n))
    side = draw(st.lists(st.sampled_from([1, -1]), min_size=n, max_size=n))
    cuts = sorted(draw(st.lists(st.integers(0, n), max_size=6)))
    tape = Tape.from_columns(_INST, ts_ns=np.arange(n), kind=np.array(kinds, np.int8), side=np.array(side, np.int8),
                             price=np.array(price, np.int64), size=np.array(size, np.int64))
    return tape, cuts


@settings(max_examples=150, deadline=None)
@given(case=_l2_tapes(), levels=st.integers(1, 4))
def test_chunked_equals_whole(case, levels):
    tape, cuts = case
    want = compute_snapshots(tape, levels)
    book = StreamingL2Book(_INST.tick_size)
    got = []
    for a, b in zip([0] + cuts, cuts + [len(tape)]):
        t = tape.slice(a, b)
        got.append(book.apply(t.kind, t.side, t.price, t.size, levels))
    for f in ("ask_price", "ask_size", "bid_price", "bid_size"):
        np.testing.assert_array_equal(np.concatenate([getattr(s, f) for s in got]), getattr(want, f), err_msg=f)
