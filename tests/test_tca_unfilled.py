"""Every unfilled share of a parent has a reason, and the reasons add up to quantity − filled exactly."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tickreplay.book.fast import compute_snapshots
from tickreplay.engine import Engine, EngineConfig, Strategy
from tickreplay.errors import InputError
from tickreplay.latency import Constant
from tickreplay.orders import NewOrder, OrderType
from tickreplay.book.replay import ReplayData
from tickreplay.schedule import ParentOrder
from tickreplay.tape import EventKind as K, Tape
from tickreplay.tca import MarketSeries, tca_summary, unfilled_by_reason
from tickreplay.tca.unfilled import describe
from test_tca import EVENTS, INST, MS, NS, T0, TF

COLS = ["request_id", "order_id", "parent_id", "action", "quantity", "final_quantity", "unfilled", "reason",
        "status", "arrival_ns"]


def _log(rows: list[tuple]) -> pd.DataFrame:
    return pd.DataFrame([dict(zip(COLS, r)) for r in rows], columns=COLS)


def _shares(u: dict) -> dict[str, tuple[int, int]]:
    return {k: (v["shares"], v["orders"]) for k, v in u.items()}


def test_reasons_by_hand_and_a_cancel_that_was_resent():
    """Parent 1,700, 1,050 filled → 650 short. Order 3's cancelled 200 was swept by order 4 (a market order that
    filled it all), so it is not a short share: the open order and the exchange's outcomes explain the 650."""
    log = _log([
        (1, 1, 1, "new", 1_000, 1_000, 200, "market_rest_beyond_visible_depth", "cancelled", T0),  # 800 filled
        (2, 2, 1, "new", 300, 300, 300, "", "open", T0 + NS),  # rests to the end
        (3, 3, 1, "new", 250, 250, 200, "cancel_request", "cancelled", T0 + 2 * NS),  # 50 filled, then cancelled
        (4, 3, 1, "cancel", -1, -1, 0, "", "cancelled", T0 + 9 * NS),
        (5, 4, 1, "new", 200, 200, 0, "", "filled", T0 + 9 * NS),  # the sweep: 200 filled
        (6, 5, 1, "new", 100, 100, 100, "trading_halted", "rejected", T0 + 20 * NS),
        (7, 6, 1, "new", 50, 50, 50, "outside_trading_hours", "rejected", T0 + 400 * NS),
        (8, 2, 1, "cancel", -1, -1, 0, "", "rejected", T0 + 401 * NS),  # refused: order 2 still rests
    ])
    parent = ParentOrder(side=1, quantity=1_700, start_ns=T0, end_ns=T0 + 300 * NS)
    u = unfilled_by_reason(log, parent, filled=800 + 50 + 200)
    assert _shares(u) == {"open_at_end": (300, 1), "market_rest_beyond_visible_depth": (200, 1),
                          "trading_halted": (100, 1), "outside_trading_hours": (50, 1)}
    assert describe(u) == ("unfilled 650: 300 resting at end (1 order), 200 beyond visible depth (1 order), "
                           "100 rejected in a halt (1 order), 50 rejected outside trading hours (1 order)")
    # a parent that wanted more than every rest: the cancel counts, and what is left was never sent
    big = unfilled_by_reason(log, ParentOrder(1, 3_000, T0, T0 + 300 * NS), filled=1_050)
    assert _shares(big) == {**_shares(u), "cancel_request": (200, 1), "never_sent": (1_100, 0)}
    assert sum(v["shares"] for v in big.values()) == 3_000 - 1_050
    assert list(big)[:2] == ["never_sent", "open_at_end"]  # largest first


def test_later_strategy_cancels_do_not_hide_an_earlier_exchange_outcome():
    """A sweep (cancel 50 → market 50, filled) after an earlier market order lost 10 beyond the depth: the 10
    short shares are the depth's, not the later cancel's."""
    log = _log([
        (1, 1, 1, "new", 100, 100, 10, "market_rest_beyond_visible_depth", "cancelled", T0),
        (2, 2, 1, "new", 100, 100, 50, "cancel_request", "cancelled", T0 + NS),
        (3, 2, 1, "cancel", -1, -1, 0, "", "cancelled", T0 + 5 * NS),
        (4, 3, 1, "new", 50, 50, 0, "", "filled", T0 + 5 * NS),
    ])
    u = unfilled_by_reason(log, ParentOrder(1, 200, T0, T0 + 60 * NS), filled=90 + 50 + 50)
    assert _shares(u) == {"market_rest_beyond_visible_depth": (10, 1)}


def test_shares_withdrawn_by_a_modify_and_planned_after_the_run_end():
    log = _log([
        (1, 1, 1, "new", 300, 120, 0, "modified_to_filled_size", "filled", T0),  # 120 filled, then modified down
        (2, 1, 1, "modify", 100, -1, 0, "", "filled", T0 + NS),
        (3, 2, 1, "new", 100, 200, 0, "", "filled", T0 + 2 * NS),  # raised to 200 and filled: nothing withdrawn
    ])
    schedule = pd.DataFrame({"time_ns": np.array([T0, T0 + 2 * NS, T0 + 70 * NS], np.int64),
                             "planned_cum": np.array([300, 400, 1_000], np.int64)})
    parent = ParentOrder(1, 1_000, T0, T0 + 80 * NS)
    u = unfilled_by_reason(log, parent, filled=320, schedule=schedule, run_end_ns=T0 + 60 * NS)
    # 680 short: 180 withdrawn by order 1's modify; of the 500 never sent, all were planned after the run's end
    assert _shares(u) == {"not_sent_after_run_end": (500, 0), "reduced_by_modify": (180, 1)}
    without = unfilled_by_reason(log, parent, filled=320)
    assert _shares(without) == {"never_sent": (500, 0), "reduced_by_modify": (180, 1)}
    late = unfilled_by_reason(log, parent, filled=320, schedule=schedule, run_end_ns=T0 + 80 * NS)
    assert _shares(late) == {"never_sent": (500, 0), "reduced_by_modify": (180, 1)}  # nothing planned after it
    with pytest.raises(ValueError, match="both"):
        unfilled_by_reason(log, parent, filled=320, schedule=schedule)


def test_bad_order_log_names_the_row_and_field():
    log = _log([(1, 1, 1, "new", 100, 100, 0, "", "filled", T0), (2, 2, 1, "new", 100, 100, -5, "", "open", T0)])
    parent = ParentOrder(1, 200, T0, T0 + NS)
    with pytest.raises(InputError, match=r"orders, row 2, field 'unfilled'"):
        unfilled_by_reason(log, parent, filled=100)
    with pytest.raises(InputError, match=r"field 'reason'.*missing column"):
        unfilled_by_reason(log.drop(columns=["reason"]), parent, filled=100)


# -- on engine runs ------------------------------------------------------------------------------

class _Many(Strategy):
    """A market buy beyond the visible depth, a deep limit left resting, a limit cancelled, one sent in a halt and
    one that reaches the exchange after the session's end."""

    def on_start(self, ctx) -> None:
        ctx.send(NewOrder(1, 1_000, OrderType.MARKET, parent_id=1))  # 800 visible on the ask side
        ctx.send(NewOrder(1, 300, OrderType.LIMIT, price=990_000, parent_id=1))
        self.cancel_me = ctx.send(NewOrder(1, 200, OrderType.LIMIT, price=990_000, parent_id=1))
        for t in (T0 + 10 * NS, T0 + 55 * NS, T0 + 400 * NS):
            ctx.set_timer(t)

    def on_timer(self, ctx, t_ns: int) -> None:
        if t_ns == T0 + 10 * NS:
            ctx.cancel(self.cancel_me)
        elif t_ns == T0 + 55 * NS:
            ctx.send(NewOrder(1, 100, OrderType.LIMIT, price=990_000, parent_id=1))  # halted 50-60 s
        else:
            ctx.send(NewOrder(1, 50, OrderType.LIMIT, price=990_000, parent_id=1))  # arrives after the last event


def test_engine_run_accounts_for_every_share():
    rows = [*EVENTS, (T0 + 50 * NS, K.HALT, 0, 0, 0, 0), (T0 + 60 * NS, K.RESUME, 0, 0, 0, 0)]
    rows.sort(key=lambda r: r[0])
    ts, kind, side, price, size, oid = (np.array(c) for c in zip(*rows))
    tape = Tape.from_columns(INST, ts_ns=ts, kind=kind, side=side, price=price, size=size, order_id=oid)
    replay = ReplayData.build(tape, compute_snapshots(tape, 5))
    res = Engine(replay, EngineConfig(entry_latency=Constant(MS))).run(_Many(), start_ns=TF)
    market = MarketSeries.from_tape(tape, replay.snapshots)
    parent = ParentOrder(side=1, quantity=2_000, start_ns=TF, end_ns=T0 + 300 * NS)
    s = tca_summary(res.fills, res.orders, parent, market)
    filled = int(res.fills["size"].sum())
    assert filled == 800
    assert _shares(s["unfilled"]) == {"open_at_end": (300, 1), "market_rest_beyond_visible_depth": (200, 1),
                                      "cancel_request": (200, 1), "never_sent": (350, 0),
                                      "trading_halted": (100, 1), "outside_trading_hours": (50, 1)}
    assert sum(v["shares"] for v in s["unfilled"].values()) == s["shortfall"]["unfilled"] == 2_000 - filled
