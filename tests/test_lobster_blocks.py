"""Block reading of LOBSTER files: any block and read size gives the rows, masks and errors of one big block."""

from pathlib import Path

import numpy as np
import pytest

from conftest import lobster_pair
from tickreplay.adapters.lobster_csv import BlockReader, PriceCounts, PriceRange

CORPUS = Path(__file__).parent / "bad_input" / "lobster"


def read_all(path: Path, messages: bool, price_range=None, **kw):
    counts = PriceCounts()
    r = BlockReader(path, messages, 100, price_range, counts, **kw)
    blocks, vals, ok = [], [], []
    for b in r:  # a block's arrays are reused by the next
        blocks.append(b)
        vals.append(b.values.copy())
        ok.append(b.ok.copy())
    vals, ok = np.concatenate(vals), np.concatenate(ok)
    errors = [(e.row, e.field, e.kind, str(e)) for b in blocks for e in b.errors]
    lo = min(b.cand_lo for b in blocks)
    hi = max(b.cand_hi for b in blocks)
    return vals, ok, errors, sum(b.rounded for b in blocks), (lo, hi), counts.price_range()


def same(a, b):
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    assert a[2:] == b[2:]


@pytest.mark.parametrize("messages", [True, False], ids=["message", "orderbook"])
def test_small_blocks_and_reads_give_the_rows_of_one_block(messages):
    path = lobster_pair("AMZN", 5)[0 if messages else 1]
    whole = read_all(path, messages, block_rows=1 << 20)
    # lines cut by every read, blocks ending mid-buffer
    same(read_all(path, messages, block_rows=777, window_bytes=1000), whole)
    rng = whole[5]
    same(read_all(path, messages, rng, block_rows=4096, window_bytes=3333), read_all(path, messages, rng))


@pytest.mark.parametrize("case", sorted(p.name for p in CORPUS.iterdir() if p.is_dir()))
def test_bad_rows_are_found_across_block_boundaries(case, tmp_path):
    for name, messages in (("message.csv", True), ("orderbook.csv", False)):
        path = CORPUS / case / name
        whole = read_all(path, messages)
        same(read_all(path, messages, block_rows=1, window_bytes=7), whole)
        crlf = tmp_path / f"crlf_{name}"  # CR LF line ends, no newline after the last line
        crlf.write_bytes(path.read_bytes().rstrip(b"\n").replace(b"\n", b"\r\n"))
        got = read_all(crlf, messages, block_rows=2, window_bytes=5)
        assert np.array_equal(got[0], whole[0]) and np.array_equal(got[1], whole[1])
        assert [e[:3] for e in got[2]] == [e[:3] for e in whole[2]]


def test_prices_outside_the_dense_count_are_counted_exactly(tmp_path):
    # the first block places the dense count around $100; the second is all far outside it
    prices = [1_000_000 + 100 * (i % 7) for i in range(5000)] + [10**14 + 100 * (i % 3) for i in range(5001)]
    path = tmp_path / "m.csv"
    path.write_text("".join(f"{34200 + i},1,{i + 1},10,{p},1\n" for i, p in enumerate(prices)))
    expect = PriceRange.around(int(np.median(prices)))
    for kw in ({}, {"block_rows": 5000}, {"block_rows": 3}):
        assert read_all(path, True, **kw)[5] == expect
