"""_chunk_span reads only the ends of each good orderbook row's sides: the same (lowest, highest) price as
the minimum and maximum over every occupied level of the good rows and visible messages."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from tickreplay.adapters.lobster import _chunk_span


@st.composite
def _chunk(draw):
    levels = draw(st.integers(1, 4))
    n = draw(st.integers(1, 6))
    ob = np.zeros((n, 4 * levels), np.int64)
    for i in range(n):  # a good row: occupied levels first, asks rising above bids falling, empty (0, 0)
        mid = draw(st.integers(1000, 2000)) * 100
        for off, sign in ((0, 1), (2, -1)):
            k = draw(st.integers(0, levels))
            gaps = draw(st.lists(st.integers(1, 5), min_size=k, max_size=k))
            ob[i, off:off + 4 * k:4] = mid + sign * 100 * np.cumsum(gaps)
            ob[i, off + 1:off + 4 * k:4] = draw(st.integers(1, 500))
    ob_ok = np.array(draw(st.lists(st.booleans(), min_size=n, max_size=n)))
    m = np.zeros((n, 6), np.int64)
    m[:, 1] = draw(st.lists(st.integers(1, 7), min_size=n, max_size=n))
    m[:, 4] = draw(st.lists(st.integers(1, 400), min_size=n, max_size=n))
    m[:, 4] *= 1000
    m_ok = np.array(draw(st.lists(st.booleans(), min_size=n, max_size=n)))
    return m, m_ok, ob, ob_ok


@settings(max_examples=300, deadline=None)
@given(_chunk())
def test_the_span_is_the_extremes_of_every_occupied_level(chunk):
    m, m_ok, ob, ob_ok = chunk
    visible = m_ok & (m[:, 1] >= 1) & (m[:, 1] <= 4)
    prices = np.concatenate([m[visible, 4], ob[ob_ok][:, 0::2].ravel()])
    prices = prices[prices > 0]
    lo, hi, adds, removals = _chunk_span(m, m_ok, ob, ob_ok)
    if len(prices):
        assert (lo, hi) == (prices.min(), prices.max())
    else:
        assert lo > hi
    assert (adds, removals) == (int(np.sum(visible & (m[:, 1] == 1))), int(np.sum(visible & (m[:, 1] != 1))))
