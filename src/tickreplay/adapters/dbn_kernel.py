"""The Databento MBO → tape state machine, one numba pass over the records of one instrument.

See :mod:`tickreplay.adapters.dbn` for the mapping rules. The kernel keeps
the vendor's book of orders (id → side, price, size, fill not yet removed)
and writes tape events into one int64 array of :data:`OUT_FIELDS` rows. Bad
records are counted per kind (:data:`ANOMALIES`) with up to
:data:`EXAMPLES` examples each (record index, a detail value); in strict
mode the pass stops at the first one.
"""

from __future__ import annotations

import numpy as np
from numba import njit, types
from numba.typed import Dict

from tickreplay.tape import FLAG_IMPLIED, FLAG_UNKNOWN_ID
from tickreplay.tape import (
    K_ADD, K_DELETE, K_EXECUTE_HIDDEN, K_EXECUTE_VISIBLE, K_PARTIAL_CANCEL, K_SNAPSHOT_BEGIN, K_SNAPSHOT_END,
)

#: rows of the kernel's output array, in order
OUT_FIELDS = ("ts_ns", "recv_ts_ns", "kind", "side", "price", "size", "order_id", "src_row", "flags")

#: anomaly kinds (index → name) and the record field each one names
ANOMALIES = ("bad_side", "bad_price", "off_tick_price", "bad_size", "duplicate_order_id", "order_side_mismatch",
             "order_price_mismatch", "negative_size", "unknown_action", "exchange_time_backwards", "bad_order_id")
ANOMALY_FIELDS = ("side", "price", "price", "size", "order_id", "side", "price", "size", "action", "ts_event",
                  "order_id")
(BAD_SIDE, BAD_PRICE, OFF_TICK, BAD_SIZE, DUPLICATE, SIDE_MISMATCH, PRICE_MISMATCH, NEGATIVE, UNKNOWN_ACTION,
 TIME_BACK, BAD_ORDER_ID) = range(len(ANOMALIES))
NO_ANOMALY = -1
EXAMPLES = 5

#: counters the pass keeps (index → report key)
STATS = ("events", "clears", "snapshots", "unknown_cancels", "unknown_modifies", "unknown_fills",
         "executed_volume", "unknown_fill_volume", "modifies_price_change", "modifies_size_increase",
         "modifies_size_decrease", "modifies_unchanged", "unremoved_fill_volume")
(S_EVENTS, S_CLEARS, S_SNAPSHOTS, S_UNKNOWN_C, S_UNKNOWN_M, S_UNKNOWN_F, S_EXEC_VOL, S_UNKNOWN_F_VOL, S_MOD_PRICE,
 S_MOD_UP, S_MOD_DOWN, S_MOD_SAME, S_UNREMOVED) = range(len(STATS))

A_ADD, A_CANCEL, A_MODIFY, A_CLEAR, A_TRADE, A_FILL, A_NONE = (ord(c) for c in "ACMRTFN")
SIDE_ASK, SIDE_BID = ord("A"), ord("B")
F_LAST, F_SNAPSHOT = 128, 32
UNDEF_PRICE = np.iinfo(np.int64).max


@njit(cache=True)
def _emit(out, j, t, recv, kind, side, price, size, oid, row, flag):
    out[0, j] = t
    out[1, j] = recv
    out[2, j] = kind
    out[3, j] = side
    out[4, j] = price
    out[5, j] = size
    out[6, j] = oid
    out[7, j] = row
    out[8, j] = flag
    return j + 1


@njit(cache=True)
def _note(code, i, detail, counts, examples):
    m = counts[code]
    if m < EXAMPLES:
        examples[code, m, 0] = i
        examples[code, m, 1] = detail
    counts[code] += 1


@njit(cache=True)
def _pending_total(slot_of, orders):
    total = 0
    for k in slot_of.values():
        total += orders[3, k]
    return total


@njit(cache=True)
def _record(a, s, px, q, oid, t, recv, row, tick, unit, slot_of, orders, nslot, out, j, stats):
    """Apply one non-clear record; returns (anomaly code, events written so far, slots used, detail)."""
    if a == A_TRADE or a == A_NONE:
        return NO_ANOMALY, j, nslot, 0
    if a != A_ADD and a != A_CANCEL and a != A_MODIFY and a != A_FILL:
        return UNKNOWN_ACTION, j, nslot, 0
    side = 1 if s == SIDE_BID else (-1 if s == SIDE_ASK else 0)
    known = oid in slot_of
    if a == A_ADD:
        if side == 0:
            return BAD_SIDE, j, nslot, 0
        if px == UNDEF_PRICE:
            return BAD_PRICE, j, nslot, 0
        if px % tick != 0:
            return OFF_TICK, j, nslot, 0
        if q <= 0:
            return BAD_SIZE, j, nslot, 0
        if oid <= 0:
            return BAD_ORDER_ID, j, nslot, 0
        if known:
            return DUPLICATE, j, nslot, orders[2, slot_of[oid]]
        k = nslot
        slot_of[oid] = k
        orders[0, k] = side
        orders[1, k] = px // unit
        orders[2, k] = q
        orders[3, k] = 0
        j = _emit(out, j, t, recv, K_ADD, side, px // unit, q, oid, row, 0)
        return NO_ANOMALY, j, nslot + 1, 0
    if q <= 0:
        return BAD_SIZE, j, nslot, 0
    if not known:
        if a == A_CANCEL:
            stats[S_UNKNOWN_C] += 1
        elif a == A_MODIFY:
            stats[S_UNKNOWN_M] += 1
        else:  # a fill of an order the feed never showed (e.g. implied): a print, no visible change
            if px == UNDEF_PRICE:
                return BAD_PRICE, j, nslot, 0
            if px % tick != 0:
                return OFF_TICK, j, nslot, 0
            stats[S_UNKNOWN_F] += 1
            stats[S_UNKNOWN_F_VOL] += q
            j = _emit(out, j, t, recv, K_EXECUTE_HIDDEN, side, px // unit, q, oid, row, FLAG_UNKNOWN_ID)
        return NO_ANOMALY, j, nslot, 0
    k = slot_of[oid]
    o_side, o_price, o_size, pend = orders[0, k], orders[1, k], orders[2, k], orders[3, k]
    if side != o_side:
        return SIDE_MISMATCH, j, nslot, o_side
    if a != A_MODIFY and px != o_price * unit:
        return PRICE_MISMATCH, j, nslot, o_price
    code = NO_ANOMALY
    if a == A_FILL:  # no book change: the C/M that follows removes the filled size (as an execution)
        pend += q
        if pend > o_size:
            code = NEGATIVE
            pend = o_size
        orders[3, k] = pend
        return code, j, nslot, o_size
    if a == A_CANCEL:
        if q > o_size:
            code = NEGATIVE
            q = o_size
        e = min(pend, q)
        if e > 0:
            j = _emit(out, j, t, recv, K_EXECUTE_VISIBLE, o_side, o_price, e, oid, row, 0)
            stats[S_EXEC_VOL] += e
        left = o_size - q
        if q - e > 0:
            j = _emit(out, j, t, recv, K_DELETE if left == 0 else K_PARTIAL_CANCEL, o_side, o_price, q - e, oid,
                      row, 0)
        if left == 0:
            stats[S_UNREMOVED] += pend - e
            del slot_of[oid]
        else:
            orders[2, k] = left
            orders[3, k] = pend - e
        return code, j, nslot, o_size
    # modify: same price and not larger keeps the queue place; a new price or a larger size goes to the back
    if px == UNDEF_PRICE:
        return BAD_PRICE, j, nslot, 0
    if px % tick != 0:
        return OFF_TICK, j, nslot, 0
    new_price = px // unit
    if new_price == o_price and q <= o_size:
        r = o_size - q
        if r == 0:
            stats[S_MOD_SAME] += 1
            return NO_ANOMALY, j, nslot, 0
        stats[S_MOD_DOWN] += 1
        e = min(pend, r)
        if e > 0:
            j = _emit(out, j, t, recv, K_EXECUTE_VISIBLE, o_side, o_price, e, oid, row, 0)
            stats[S_EXEC_VOL] += e
        if r - e > 0:
            j = _emit(out, j, t, recv, K_PARTIAL_CANCEL, o_side, o_price, r - e, oid, row, 0)
        orders[2, k] = q
        orders[3, k] = pend - e
        return NO_ANOMALY, j, nslot, 0
    stats[S_MOD_PRICE if new_price != o_price else S_MOD_UP] += 1
    e = min(pend, o_size)
    if e > 0:
        j = _emit(out, j, t, recv, K_EXECUTE_VISIBLE, o_side, o_price, e, oid, row, 0)
        stats[S_EXEC_VOL] += e
    if o_size - e > 0:
        j = _emit(out, j, t, recv, K_DELETE, o_side, o_price, o_size - e, oid, row, 0)
    j = _emit(out, j, t, recv, K_ADD, o_side, new_price, q, oid, row, 0)
    orders[1, k] = new_price
    orders[2, k] = q
    orders[3, k] = pend - e
    return NO_ANOMALY, j, nslot, 0


@njit(cache=True)
def mbo_to_events(ts_event, ts_recv, action, side, price, size, order_id, flags, row, tick, unit, strict,
                  n_slots, out, counts, examples, stats):
    """Run the records; fill ``out`` (OUT_FIELDS x capacity). Returns (events written, anomaly code, index).

    ``tick``: price increment and ``unit``: DBN price units per tape price
    unit, both in DBN's 1e-9 units. ``examples[kind, m] = (record index,
    detail)``. With ``strict`` the pass stops at the first anomaly and
    returns its code and record index (else NO_ANOMALY, -1).
    """
    slot_of = Dict.empty(key_type=types.int64, value_type=types.int64)
    orders = np.zeros((4, max(n_slots, 1)), np.int64)  # side, price (tape units), size, fill not yet removed
    nslot = 0
    j = 0
    last_t = np.iinfo(np.int64).min
    snap_open = False
    prev_snap = False
    for i in range(len(action)):
        a = action[i]
        fl = flags[i]
        is_snap = (fl & F_SNAPSHOT) != 0
        t = ts_recv[i] if is_snap else ts_event[i]  # a snapshot shows the book as of its generation (ts_recv)
        if t < last_t:  # kept, at the previous event's time
            _note(TIME_BACK, i, last_t, counts, examples)
            if strict:
                return j, TIME_BACK, i
            t = last_t
        last_t = t
        if a == A_CLEAR or (is_snap and not prev_snap):  # a snapshot not opened by a clear clears the book too
            stats[S_UNREMOVED] += _pending_total(slot_of, orders)
            slot_of.clear()
            j = _emit(out, j, t, ts_recv[i], K_SNAPSHOT_BEGIN, 0, 0, 0, 0, row[i], 0 if a == A_CLEAR else FLAG_IMPLIED)
            snap_open = True
            stats[S_CLEARS] += a == A_CLEAR
            stats[S_SNAPSHOTS] += is_snap
        prev_snap = is_snap
        if a != A_CLEAR:
            code, j, nslot, detail = _record(a, side[i], price[i], size[i], order_id[i], t, ts_recv[i], row[i],
                                             tick, unit, slot_of, orders, nslot, out, j, stats)
            if code != NO_ANOMALY:
                _note(code, i, detail, counts, examples)
                if strict:
                    return j, code, i
        if fl & F_LAST:
            stats[S_EVENTS] += 1
            if snap_open:
                j = _emit(out, j, t, ts_recv[i], K_SNAPSHOT_END, 0, 0, 0, 0, row[i], FLAG_IMPLIED)
                snap_open = False
    stats[S_UNREMOVED] += _pending_total(slot_of, orders)
    return j, NO_ANOMALY, -1
