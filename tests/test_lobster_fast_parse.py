"""The LOBSTER line parser's unchecked fast path (``_plain_lines``) reads every buffer exactly as the
bounds-checked parser does: same rows, values, masks, line spans, rounding counts and stopping point."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from tickreplay.adapters.lobster_csv import _parse_lines, _parse_lines_checked

_FIELD = st.one_of(
    st.integers(-10**12, 10**12).map(str),
    st.sampled_from(["9999999999", "-9999999999", "0", "-0", "", "-", "1234567890123456789", "12a", " 5", "+3"]),
)
_TIME = st.one_of(
    st.tuples(st.integers(0, 10**9), st.integers(0, 10**13)).map(lambda t: f"{t[0]}.{t[1]}"),
    st.integers(0, 99999).map(str),
    st.sampled_from(["34200.", ".5", "1234567890.1", "34200.1234567895", "x"]),
)


@st.composite
def _buffers(draw, time_col: bool, ncols: int):
    lines = []
    for _ in range(draw(st.integers(0, 12))):
        k = draw(st.sampled_from([ncols, ncols, ncols, ncols - 1, ncols + 1]))
        fields = [draw(_TIME) if time_col and c == 0 else draw(_FIELD) for c in range(max(k, 0))]
        lines.append(",".join(fields) + draw(st.sampled_from(["", "", "\r", "\r\r"])))
    text = "\n".join(lines) + draw(st.sampled_from(["", "\n", "\n\n"]))
    return np.frombuffer(text.encode(), np.uint8)


def _run(parse, buf, final, ncols, time_col):
    cap = len(buf) + 2
    vals = np.full((cap, ncols), -7, np.int64)
    ok = np.zeros(cap, np.bool_)
    starts, ends = np.zeros(cap, np.int64), np.zeros(cap, np.int64)
    r, pos, slow, rounded = parse(buf, 0, len(buf), final, ncols, time_col, 100, 0, cap, vals, ok, starts, ends)
    return (r, pos, slow, rounded, vals[:r].tolist(), ok[:r].tolist(), starts[:r].tolist(), ends[:r].tolist())


@settings(max_examples=300, deadline=None)
@given(data=st.data(), final=st.booleans(), messages=st.booleans())
def test_fast_path_reads_like_the_checked_parser(data, final, messages):
    ncols = 6 if messages else 4 * data.draw(st.integers(1, 2))
    buf = data.draw(_buffers(messages, ncols))
    assert _run(_parse_lines, buf, final, ncols, messages) == _run(_parse_lines_checked, buf, final, ncols, messages)


def test_fast_path_takes_plain_lines_and_stops_at_a_partial_one():
    buf = np.frombuffer(b"1,2,3,4\r\n-5,6,7,8\n9,10,11", np.uint8)
    r, pos, slow, _, vals, ok, starts, ends = _run(_parse_lines, buf, False, 4, False)
    assert (r, pos, slow) == (2, 18, 0)
    assert vals == [[1, 2, 3, 4], [-5, 6, 7, 8]] and ok == [True, True]
    assert starts == [100, 109] and ends == [107, 117]  # file offsets (base 100), CR left out
