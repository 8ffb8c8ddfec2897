"""Order-flow totals of the trader's view count whole book states, not the events that build them."""

import numpy as np

from tickreplay.book.fast import compute_snapshots
from tickreplay.book.view import BookView
from tickreplay.book.replay import ReplayData
from tickreplay.tape import EventKind as K, Instrument, Tape

INST = Instrument("T", "test", "2024-01-02", price_scale=10_000, tick_size=100)


def _replay(events):
    cols = {k: np.array(v) for k, v in zip(("ts_ns", "kind", "side", "price", "size"), zip(*events))}
    tape = Tape.from_columns(INST, **cols)
    return ReplayData.build(tape, compute_snapshots(tape, 3))


def _book(ts, bid, ask, size=500):
    """A full snapshot at ``ts``: one bid and one ask level."""
    return [(ts, K.SNAPSHOT_BEGIN, 0, 0, 0), (ts, K.LEVEL_SET, 1, bid, size),
            (ts, K.LEVEL_SET, -1, ask, size), (ts, K.SNAPSHOT_END, 0, 0, 0)]


def _flow_at_end(replay):
    i = len(replay.ts_ns) - 1
    return BookView(replay, i, int(replay.ts_ns[i])).flow


def test_a_move_made_by_a_snapshot_counts_once_and_is_no_order_flow():
    # three snapshots: the book shifts up one tick, then up one more; same sizes throughout
    r = _replay(_book(1, 10_000, 10_100) + _book(2, 10_100, 10_200) + _book(3, 10_200, 10_300))
    f = _flow_at_end(r)
    assert f.mid_var_ticks2 == 2.0  # two one-tick moves
    # OFI of an up-shift with equal sizes: +bid size (new better bid) + ask size (ask moved away) each time
    assert f.ofi == 2 * (500 + 500)


def test_level_sets_at_one_timestamp_are_one_state_change():
    # shift up one tick by level sets at one timestamp: add the new bid, remove the old ask, add the new ask,
    # remove the old bid (intermediate rows show a two-tick-wide or locked book)
    ev = _book(1, 10_000, 10_100) + [
        (2, K.LEVEL_SET, -1, 10_200, 500), (2, K.LEVEL_SET, -1, 10_100, 0),
        (2, K.LEVEL_SET, 1, 10_100, 500), (2, K.LEVEL_SET, 1, 10_000, 0)]
    f = _flow_at_end(_replay(ev))
    assert f.mid_var_ticks2 == 1.0
    assert f.ofi == 500 + 500


def test_a_view_mid_way_through_a_timestamp_cannot_exist():
    r = _replay(_book(1, 10_000, 10_100) + _book(2, 10_100, 10_200))
    # views are built from the trader's clock: the index is always the last row of its timestamp
    assert all(r.ts_ns[r.index_at(t)] == t and (r.index_at(t) + 1 == len(r.ts_ns) or r.ts_ns[r.index_at(t) + 1] > t)
               for t in (1, 2))


def test_every_volume_figure_counts_the_same_prints():
    """The trader's cumulative volume, TCA's market volume and the VWAP profile agree (auction crosses excluded)."""
    from tickreplay.market.profile import trades
    from tickreplay.tca.market import MarketSeries

    events = _book(1, 10_000, 10_100) + [
        (2, K.EXECUTE_HIDDEN, -1, 10_050, 30, 0), (3, K.TRADE, -1, 10_100, 40, 0),
        (4, K.CROSS_TRADE, 0, 10_050, 1_000, 0), (5, K.TRADE, 1, 10_000, 7, 0)]
    r = _replay(events)
    tape = Tape.from_columns(INST, **{k: np.array(v) for k, v in
                                      zip(("ts_ns", "kind", "side", "price", "size"), zip(*events))})
    view = BookView(r, len(r.ts_ns) - 1, 5)
    market_volume, _ = MarketSeries.from_tape(tape, r.snapshots).traded(0, 6)
    assert view.cum_volume == market_volume == int(trades(tape)[1].sum()) == 30 + 40 + 7
    assert view.flow.trades == 3 and view.flow.signed_volume == 30 + 40 - 7
    assert view.last_trade() == (10_000, 7, 5)
