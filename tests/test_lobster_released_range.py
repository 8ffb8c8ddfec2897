"""Released ids are probed only within the range of ids released so far (S_DMIN..S_DMAX): ids at both edges
of that range are still found (a re-ADD is a duplicate), ids just outside are new orders."""

import pytest

from tickreplay.adapters.lobster import read_lobster
from tickreplay.errors import InputError

KW = {"symbol": "TEST", "date": "2012-06-21"}
HEAD = ["34200.000000001,1,1,100,1000000,1", "34200.000000002,1,2,50,1000100,-1"]
BOOK = "1000100,50,1000000,100"  # one level: the adds at 990000 are outside the window


def _pair(tmp_path, later):
    released = ["34200.1,1,5,10,990000,1", "34200.2,1,9,10,990000,1", "34200.3,3,5,10,990000,1",
                "34200.4,3,9,10,990000,1"]
    messages = HEAD + released + later
    msg, ob = tmp_path / "message.csv", tmp_path / "orderbook.csv"
    msg.write_text("\n".join(messages) + "\n")
    ob.write_text("\n".join([BOOK] * len(messages)) + "\n")
    return msg, ob


@pytest.mark.parametrize("oid", [5, 9])
def test_an_add_of_the_smallest_or_largest_released_id_is_a_duplicate(oid, tmp_path):
    msg, ob = _pair(tmp_path, [f"34200.5,1,{oid},10,990000,1"])
    with pytest.raises(InputError) as info:
        read_lobster(msg, ob, **KW)
    assert (info.value.row, info.value.kind) == (7, "duplicate_order_id")


def test_ids_outside_the_released_range_are_new_orders(tmp_path):
    msg, ob = _pair(tmp_path, ["34200.5,1,4,10,990000,1", "34200.6,1,10,10,990000,1",
                               "34200.7,1,7,10,990000,1"])  # 7: inside the range, never released
    res = read_lobster(msg, ob, **KW)
    assert res.anomalies.total() == 0 and res.report["messages_by_type"]["1"] == 7
