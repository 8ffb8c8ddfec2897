"""Convert a tickreplay tape into hftbacktest 2.x event arrays (``hftbacktest.event_dtype``).

Used by ``bench_vs_hftbacktest.py``; a one-off cost per tape, not part of any timed run.

Two feeds are made from the same tape:

* :func:`to_l2_events` — Market-by-price: one ``DEPTH_EVENT`` with the level's
  absolute visible size after every tape event that changes a level (what
  ``ReplayData.level_size`` holds), and one ``TRADE_EVENT`` per print
  (visible and hidden executions, trade prints; the flag is the aggressor's
  side, i.e. the opposite of the resting side), emitted before the depth
  change it causes. ``SNAPSHOT_BEGIN`` becomes ``DEPTH_CLEAR_EVENT``.
* :func:`to_l3_events` — Market-by-order: ``ADD_ORDER_EVENT`` per add,
  ``CANCEL_ORDER_EVENT`` per delete, ``MODIFY_ORDER_EVENT`` (new remaining
  size, same price) per partial cancel, and ``FILL_EVENT`` followed by the
  modify/cancel that removes the executed size per visible execution
  (hftbacktest's L3 book, like Databento MBO, does not take size off on a
  fill). Volume the tape holds without an order id (tickreplay's
  *unattributed* volume: the vendor snapshot, levels entering the top-N
  window, orders resting from before the file) is one synthetic order per
  (side, price) whose size follows tickreplay's rules (LEVEL_SET sets it,
  unknown-id removals take from it). hftbacktest's FIFO puts it behind the
  known orders that were there before it appeared; tickreplay keeps it at
  the front. Prints that change no order (hidden executions, crosses) become
  ``TRADE_EVENT``.

Prices become floats in currency units (``price / price_scale``) and sizes
floats in traded units (``size / size_scale``), as hftbacktest stores them.
Every event carries both ``EXCH_EVENT`` and ``LOCAL_EVENT`` unless
``local_only``; ``local_ts = exch_ts + md_latency_ns``: hftbacktest's feed
latency is in the data.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from hftbacktest import (
    ADD_ORDER_EVENT, BUY_EVENT, CANCEL_ORDER_EVENT, DEPTH_CLEAR_EVENT, DEPTH_EVENT, EXCH_EVENT, FILL_EVENT,
    LOCAL_EVENT, MODIFY_ORDER_EVENT, SELL_EVENT, TRADE_EVENT, event_dtype,
)

from tickreplay.book.replay import ReplayData
from tickreplay.tape import (
    K_ADD, K_CROSS_TRADE, K_DELETE, K_EXECUTE_HIDDEN, K_EXECUTE_VISIBLE, K_LEVEL_SET, K_PARTIAL_CANCEL,
    K_SNAPSHOT_BEGIN, K_TRADE, Tape,
)

#: synthetic order ids for unattributed volume start here (far above any LOBSTER order id)
SYNTHETIC_ID_BASE = 1 << 62

_PRINT_KINDS = (K_EXECUTE_VISIBLE, K_EXECUTE_HIDDEN, K_TRADE, K_CROSS_TRADE)


def _side_flag(side: int) -> int:
    return BUY_EVENT if side == 1 else SELL_EVENT


def _pack(ev: list[int], ts: list[int], px: list[float], qty: list[float], oid: list[int], md_latency_ns: int,
          local_only: bool) -> np.ndarray:
    out = np.zeros(len(ev), dtype=event_dtype)
    where = LOCAL_EVENT if local_only else (EXCH_EVENT | LOCAL_EVENT)
    out["ev"] = np.asarray(ev, dtype=np.uint64) | np.uint64(where)
    out["exch_ts"] = ts
    out["local_ts"] = np.asarray(ts, dtype=np.int64) + md_latency_ns
    out["px"] = px
    out["qty"] = qty
    out["order_id"] = np.asarray(oid, dtype=np.uint64)
    return out


def _l2_rows(replay: ReplayData) -> tuple[np.ndarray, np.ndarray]:
    """Tape index and row code (0 clear, 1 print, 2 depth change) of every L2 row, in feed order."""
    kind = replay.kind
    parts = []
    for code, mask in enumerate((kind == K_SNAPSHOT_BEGIN, np.isin(kind, _PRINT_KINDS), replay.level_delta != 0)):
        idx = np.flatnonzero(mask)
        parts.append(np.stack([idx, np.full_like(idx, code)], axis=1))
    rows = np.concatenate(parts)
    rows = rows[np.lexsort((rows[:, 1], rows[:, 0]))]
    return rows[:, 0], rows[:, 1]


def to_l2_events(replay: ReplayData, md_latency_ns: int, local_only: bool = False) -> np.ndarray:
    """The tape as hftbacktest Market-by-price events (see the module docstring)."""
    inst = replay.instrument
    idx, code = _l2_rows(replay)
    s = replay.side[idx].astype(np.int64)
    ev = np.where(code == 0, DEPTH_CLEAR_EVENT,
                  np.where(code == 1, TRADE_EVENT | np.where(s == 1, SELL_EVENT, BUY_EVENT),  # aggressor = -resting
                           DEPTH_EVENT | np.where(s == 1, BUY_EVENT, SELL_EVENT)))
    qty = np.where(code == 1, replay.size[idx], np.where(code == 2, replay.level_size[idx], 0))
    return _pack(ev.astype(np.uint64), replay.ts_ns[idx], replay.price[idx] / float(inst.price_scale),
                 qty / float(inst.size_scale), np.zeros(len(idx), dtype=np.uint64), md_latency_ns, local_only)


def l2_tape(replay: ReplayData) -> Tape:
    """The same rows as :func:`to_l2_events` as a tickreplay L2 tape (SNAPSHOT_BEGIN, TRADE, LEVEL_SET)."""
    idx, code = _l2_rows(replay)
    kind = np.choose(code, [K_SNAPSHOT_BEGIN, K_TRADE, K_LEVEL_SET])
    size = np.where(code == 1, replay.size[idx], np.where(code == 2, replay.level_size[idx], 0))
    inst = replace(replay.instrument, source=f"{replay.instrument.source}-l2")
    return Tape.from_columns(inst, ts_ns=replay.ts_ns[idx], kind=kind, side=replay.side[idx],
                             price=np.where(code == 0, 0, replay.price[idx]), size=size)


class _L3Builder:
    """Order-by-order state while converting: live known orders and unattributed volume per level."""

    def __init__(self, price_scale: float, size_scale: float) -> None:
        self.ps, self.ss = price_scale, size_scale
        self.orders: dict[int, list[int]] = {}  # id → [side, price, remaining]
        self.unattr: dict[tuple[int, int], int] = {}  # (side, price) → size
        self.known: dict[tuple[int, int], int] = {}  # (side, price) → summed size of known orders
        self.ev: list[int] = []
        self.ts: list[int] = []
        self.px: list[float] = []
        self.qty: list[float] = []
        self.oid: list[int] = []

    def emit(self, code: int, ts: int, side: int, price: int, size: int, oid: int) -> None:
        self.ev.append(code | (_side_flag(side) if side else 0))
        self.ts.append(ts)
        self.px.append(price / self.ps)
        self.qty.append(size / self.ss)
        self.oid.append(oid)

    @staticmethod
    def synthetic_id(side: int, price: int) -> int:
        return SYNTHETIC_ID_BASE + (price << 1) + (side == 1)

    def set_unattributed(self, ts: int, side: int, price: int, new: int) -> None:
        key = (side, price)
        old = self.unattr.get(key, 0)
        if new == old:
            return
        sid = self.synthetic_id(side, price)
        if old == 0:
            self.emit(ADD_ORDER_EVENT, ts, side, price, new, sid)
        elif new == 0:
            self.emit(CANCEL_ORDER_EVENT, ts, side, price, 0, sid)
        else:
            self.emit(MODIFY_ORDER_EVENT, ts, side, price, new, sid)
        if new:
            self.unattr[key] = new
        else:
            del self.unattr[key]

    def reduce_known(self, ts: int, oid: int, size: int, fill: bool) -> None:
        o = self.orders[oid]
        side, price = o[0], o[1]
        if fill:
            self.emit(FILL_EVENT, ts, side, price, size, oid)
        o[2] -= size
        self.known[(side, price)] -= size
        if o[2] <= 0:
            del self.orders[oid]
            self.emit(CANCEL_ORDER_EVENT, ts, side, price, 0, oid)
        else:
            self.emit(MODIFY_ORDER_EVENT, ts, side, price, o[2], oid)

    def reduce_unattributed(self, ts: int, side: int, price: int, size: int, fill: bool) -> None:
        have = self.unattr.get((side, price), 0)
        take = min(have, size)
        if take and fill:
            self.emit(FILL_EVENT, ts, side, price, take, self.synthetic_id(side, price))
        elif fill:
            self.emit(TRADE_EVENT, ts, -side, price, size, 0)  # nothing there to fill: a print only
        self.set_unattributed(ts, side, price, have - take)

    def clear(self, ts: int) -> None:
        self.emit(DEPTH_CLEAR_EVENT, ts, 0, 0, 0, 0)
        self.orders.clear()
        self.unattr.clear()
        self.known.clear()


def to_l3_events(tape: Tape, md_latency_ns: int, local_only: bool = False) -> np.ndarray:
    """The tape as hftbacktest Market-by-order events (see the module docstring)."""
    inst = tape.instrument
    b = _L3Builder(float(inst.price_scale), float(inst.size_scale))
    cols = (tape.ts_ns.tolist(), tape.kind.tolist(), tape.side.tolist(), tape.price.tolist(), tape.size.tolist(),
            tape.order_id.tolist())
    for ts, kind, side, price, size, oid in zip(*cols):
        if kind == K_ADD:
            b.orders[oid] = [side, price, size]
            b.known[(side, price)] = b.known.get((side, price), 0) + size
            b.emit(ADD_ORDER_EVENT, ts, side, price, size, oid)
        elif kind in (K_PARTIAL_CANCEL, K_DELETE, K_EXECUTE_VISIBLE):
            fill = kind == K_EXECUTE_VISIBLE
            if oid in b.orders:
                b.reduce_known(ts, oid, b.orders[oid][2] if kind == K_DELETE else size, fill)
            else:
                b.reduce_unattributed(ts, side, price, size, fill)
        elif kind == K_LEVEL_SET:
            b.set_unattributed(ts, side, price, max(size - b.known.get((side, price), 0), 0))
        elif kind in (K_EXECUTE_HIDDEN, K_CROSS_TRADE, K_TRADE):
            b.emit(TRADE_EVENT, ts, -side if side else 0, price, size, 0)
        elif kind == K_SNAPSHOT_BEGIN:
            b.clear(ts)
    return _pack(b.ev, b.ts, b.px, b.qty, b.oid, md_latency_ns, local_only)
