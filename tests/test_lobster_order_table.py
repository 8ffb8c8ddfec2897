"""The LOBSTER ingest's order table follows the orders in use, and still knows every id its messages took out.

An order whose messages leave it nothing is released: its record is reused. A later ADD of its id is still a
``duplicate_order_id``, an event on it still ``size_exceeds_order`` / ``delete_size_mismatch`` (nothing left)
or ``order_mismatch`` (another side or price), as when every record was kept (these cases give the same errors
on the ingest before the table was bounded).
"""

import pytest

import tickreplay.adapters.lobster as lobster
from tickreplay.adapters.lobster import ingest_lobster, read_lobster
from tickreplay.book.fast import StreamBook
from tickreplay.catalog import Catalog
from tickreplay.errors import InputError

KW = {"symbol": "TEST", "date": "2012-06-21"}
HEAD = ["34200.000000001,1,1,100,1000000,1", "34200.000000002,1,2,50,1000100,-1"]
BOOK = "1000100,50,1000000,100"
NO_BID = "1000100,50,-9999999999,0"

# (message rows 3-4, orderbook rows 3-4, kind, what the message says)
CASES = {
    "add_after_delete": (["34200.5,3,1,100,1000000,1", "34201,1,1,30,1000000,1"], [NO_BID, NO_BID],
                         "duplicate_order_id", "order 1 was already added"),
    "cancel_after_full_execution": (["34200.5,4,1,100,1000000,1", "34201,2,1,10,1000000,1"], [NO_BID, NO_BID],
                                    "size_exceeds_order", "order 1 has 0 shares left"),
    "delete_after_delete": (["34200.5,3,1,100,1000000,1", "34201,3,1,100,1000000,1"], [NO_BID, NO_BID],
                            "delete_size_mismatch", "order 1 has 0 shares left"),
    "delete_after_delete_elsewhere": (["34200.5,3,1,100,1000000,1", "34201,3,1,100,990000,1"],
                                      [NO_BID, NO_BID], "order_mismatch", "rests at side 1 price 1000000"),
}


def write_pair(tmp_path, messages, books):
    msg, ob = tmp_path / "message.csv", tmp_path / "orderbook.csv"
    msg.write_text("\n".join(messages) + "\n")
    ob.write_text("\n".join(books) + "\n")
    return msg, ob


@pytest.mark.parametrize("case", list(CASES))
def test_an_event_on_a_released_id_is_the_error_it_always_was(case, tmp_path):
    rows, books, kind, says = CASES[case]
    msg, ob = write_pair(tmp_path, HEAD + rows, [BOOK, BOOK] + books)
    with pytest.raises(InputError) as info:
        read_lobster(msg, ob, strict=True, **KW)
    assert (info.value.row, info.value.kind) == (4, kind)
    assert says in str(info.value)
    res = read_lobster(msg, ob, strict=False, **KW)
    assert res.anomalies.counts == {kind: 1}


def test_the_order_table_follows_the_orders_in_use(tmp_path, monkeypatch):
    books: list[StreamBook] = []

    class Recorded(StreamBook):
        def __init__(self, tick_size: int) -> None:
            super().__init__(tick_size)
            books.append(self)

    monkeypatch.setattr(lobster, "StreamBook", Recorded)
    n = 20_000  # ids 10.. added and deleted one after another: never more than two in use
    messages, obs = list(HEAD), [BOOK, BOOK]
    for k in range(n):
        t = 34201 + k / 1000
        messages += [f"{t:.3f},1,{10 + k},5,990000,1", f"{t + 0.0001:.4f},3,{10 + k},5,990000,1"]
        obs += [BOOK, BOOK]
    messages.append(f"{34201 + n / 1000 + 1:.3f},1,10,5,990000,1")  # an id deleted long ago, added again
    obs.append(BOOK)
    msg, ob = write_pair(tmp_path, messages, obs)
    chunk = 1024  # room is made a chunk's worth of rows ahead
    _, _, log = ingest_lobster(msg, ob, Catalog(tmp_path / "cat"), strict=False, chunk_rows=chunk, **KW)
    assert log.counts == {"duplicate_order_id": 1}
    book = books[-1]
    assert book.rec.shape[0] <= 2 * chunk and book.ht.shape[0] <= 4 * chunk  # not one record per id ever added
    assert book.dk.shape[0] >= n  # every released id is still known
