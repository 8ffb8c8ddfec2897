"""The compiled run of a :class:`~tickreplay.trader.executor.ChildOrderExecutor` (or
:class:`~tickreplay.trader.pov.PovExecutor`): engine, exchange and executor in one numba loop.

:meth:`tickreplay.engine.Engine.run` uses it automatically when the strategy is exactly one of those two and the
three latency models are :class:`~tickreplay.latency.Constant`, :class:`~tickreplay.latency.Normal` or
:class:`~tickreplay.latency.LogNormal`; anything else runs on the Python loop, which stays the reference. Both
give the same order log and fills, byte for byte (``tests/test_fast_engine.py`` compares them over random
schedules, POV policies, latencies, seeds and tapes). :func:`run_labels` runs many one-child label runs of the
overlay (:mod:`tickreplay.overlay.labels`) in one call.

It is a line-by-line port of ``Engine`` / ``Exchange`` / ``ChildOrderExecutor`` / ``PovPolicy``: the same heap
keys ``(time, priority, sub1, sub2, sequence)`` (a binary heap in an array; keys are unique, so any correct heap
pops in the same order), the same report order, the same per-level queue kernel
(:func:`tickreplay.exchange.advance_level`), the consumed-liquidity and used-volume rules. Latencies are drawn
up front from the same ``SeedSequence(seed).spawn(3)`` generators (a batch of draws equals the same number of
single draws) and consumed in the order the Python engine draws them; when a run needs more draws, or more room
for requests, fills or heap entries than was allocated, it is run again from the start with twice the room
(the same seed gives the same prefix, so the result does not depend on the first guess).

Speed: every state array is preallocated by the caller and *borrowed* for the loop (:func:`_borrow`: numba
would otherwise incref/decref every array argument of every helper call atomically, which cost half the run);
the tape and the state travel to every helper as two structs (:class:`_TapeType`, :class:`_StateType`;
numba passes an array argument as its ~7 members, which cost a fifth of the run);
maps (live levels, consumed liquidity, actions due per time) are arrays, not typed dicts.

Sizes, prices and times are venue integers and int64 ns, as everywhere; a price ``NONE`` is a market order's.
"""

from __future__ import annotations

import math
import weakref
from itertools import chain
from typing import Callable

import numba as nb
from numba.core import cgutils, imputils
from numba.core.datamodel import models
from numba.core.typing.templates import AttributeTemplate
from numba.experimental import structref
from numba.extending import (infer_getattr, intrinsic, lower_getattr_generic, lower_setattr_generic, overload,
                             register_model)
import numpy as np
import pandas as pd
from pandas.api.internals import create_dataframe_from_blocks

from tickreplay.exchange import _HOW_NAMES, HOW_QUEUE, HOW_THROUGH, MODEL_L3, UNKNOWN_AT, advance_level, bisect
from tickreplay.latency import Constant, LogNormal, Normal
from tickreplay.orders import FILL_COLUMNS, ORDER_LOG_COLUMNS, ActionStatus, DoneReason, Reject
from tickreplay.tape import (K_ADD, K_DELETE, K_EXECUTE_HIDDEN, K_EXECUTE_VISIBLE, K_LEVEL_SET, K_PARTIAL_CANCEL,
                             K_SNAPSHOT_BEGIN, K_TRADE)

NONE = np.iinfo(np.int64).min  # "no price" (a market order), "unchanged" in a modify request
EMPTY = NONE  # a free row of an open-addressing map

# heap priorities and tags
_DUE, _ARRIVE, _WAKE = 0, 1, 2
_T_DUE, _T_ARRIVE, _T_TIMER, _T_FILL, _T_UPDATE, _T_MARKET = 0, 1, 2, 3, 4, 5
# actions, order types, statuses (tickreplay.orders values), liquidity, styles
_NEW, _CANCEL, _MODIFY = 0, 1, 2
_MARKET, _LIMIT = 1, 2
_PENDING, _OPEN, _FILLED, _CANCELLED, _REJECTED = 0, 1, 2, 3, 4
_MAKER, _TAKER = 1, 2
_HOW_WALK = 0
STYLE_CODES = {"market": 0, "limit_touch": 1, "limit_offset": 2, "peg_mid": 3}
_S_MARKET, _S_TOUCH, _S_OFFSET, _S_PEG = 0, 1, 2, 3
# reason codes (reject or done reason; 0 = "")
REASONS = ("", Reject.OFF_LOT, Reject.BAD_SIZE, Reject.NO_PRICE, Reject.OFF_TICK, Reject.OUTSIDE_SESSION,
           Reject.HALTED, Reject.UNKNOWN_ORDER, Reject.ORDER_DONE, Reject.NOTHING_TO_MODIFY,
           DoneReason.CANCEL_REQUEST, DoneReason.MARKET_REST)
(_R_OFF_LOT, _R_BAD_SIZE, _R_NO_PRICE, _R_OFF_TICK, _R_OUTSIDE, _R_HALTED, _R_UNKNOWN, _R_DONE, _R_NOTHING,
 _R_CANCEL_REQUEST, _R_MARKET_REST) = range(1, 12)
# order-log row status codes (0 = "")
ROW_STATUSES = ("", ActionStatus.ACCEPTED, ActionStatus.FILLED, ActionStatus.DONE, ActionStatus.MODIFIED,
                ActionStatus.CANCELLED, ActionStatus.REJECTED)
_A_ACCEPTED, _A_FILLED, _A_DONE, _A_MODIFIED, _A_CANCELLED, _A_REJECTED = range(1, 7)

# counters in ST
(S_NREQ, S_NFILL, S_NREP, S_NLVL, S_SEQ, S_NUSED, S_USEDVER, S_IENT, S_IRESP, S_IMD, S_LASTARR, S_LASTRESP,
 S_NOW, S_VIEW, S_END, S_NACT, S_UNPRICED, S_OVER, S_NHEAP, S_NLIVE, S_NCM, S_NDUE, S_NCH, S_MDPTR, S_LASTMD,
 S_MVOL, S_SENT, S_LASTT) = range(28)
_NS = 28  # S_NCH: children rows in use; S_MD*: market-data subscription; S_MVOL, S_SENT, S_LASTT: the POV policy
# request (order-log row) columns in RQ
(Q_OID, Q_ACTION, Q_PRICE, Q_QTY, Q_STATUS, Q_REJECT, Q_DECNS, Q_DECIDX, Q_ARRNS, Q_ARRIDX, Q_RESPNS, Q_OPEN,
 Q_RESTED, Q_QAHEAD, Q_FILLED, Q_NOTIONAL, Q_MAKER, Q_TAKER, Q_UPDSTATUS, Q_UPDFILLED) = range(20)
_NQ = 20
# order columns in OR (indexed by order id = the new order's request id)
(O_PARENT, O_SIDE, O_TYPE, O_PRICE, O_QTY, O_FILLED, O_STATUS, O_REASON, O_DECNS, O_ARRNS, O_ARRIDX, O_QU,
 O_QUNS, O_INFORCE, O_NEXT, O_PREV, O_ENTRY, O_PFILL,
 X_OPEN, X_CHILD, X_QTY, X_FILLED, X_REPL, X_PRICE, X_SWEEP, X_RPOLD, X_RPNEW, X_RPACTIVE) = range(28)
_NO = 28
# level columns in LV
(L_SIDE, L_PRICE, L_K, L_PT, L_VER, L_UNK, L_HEAD, L_TAIL, L_N, L_PEND, L_PSTATUS, L_PJ, L_PHOW, L_PPT,
 L_PUSED) = range(15)
_NL = 15
# fill columns in FL
F_OID, F_PRICE, F_SIZE, F_LIQ, F_EX, F_RESP, F_J, F_HOW = range(8)
_NF = 8
# report tags
_P_DUE, _P_FILL, _P_DONE = 0, 1, 2
# parameters in PI (ints) and PF (floats)
(P_START, P_END, P_LOT, P_TICK, P_WINDOW, P_MODEL, P_STOP, P_OVERTAKE, P_SIDE, P_RA, P_MAXR, P_FINISH,
 P_CENT, P_CRESP, P_CMD, P_PSCALE, P_SSCALE, P_CLOSE, P_POV, P_POVMIN, P_POVMAX, P_POVCAP, P_POVLOT, P_POVSTART,
 P_POVEND, P_POVSTYLE, P_POVOFF, P_POVPARENT) = range(28)
_NP = 28  # P_POV*: a PovExecutor's policy (P_POV = 1) and children  # P_CLOSE: trader time at which every open child is cancelled (NONE: never), see run_batch
PF_POWER, PF_MBPS, PF_TBPS, PF_MUNIT, PF_TUNIT, PF_RATE = range(6)
PF_MULT = 6  # the contract multiplier: bps fees are of price × units × multiplier


# -- tape lookups (ReplayData's methods) -------------------------------------
@nb.njit(cache=True)
def _index_at(ts, t):
    return bisect(ts, t, True) - 1


@nb.njit(cache=True)
def _level_events(lvl_keys, lvl_idx, side, price):
    key = price * 2 + (1 if side > 0 else 0)
    lo = bisect(lvl_keys, key, False)
    hi = bisect(lvl_keys, key, True)
    return lvl_idx[lo:hi]


@nb.njit(cache=True)
def _next_level_change(tp, side, price, i):
    events = _level_events(tp.lvl_keys, tp.lvl_idx, side, price)
    pos = bisect(events, i, True)
    return events[pos] if pos < len(events) else len(tp.ts)


@nb.njit(cache=True)
def _visible_size(tp, side, price, i):
    px = tp.bid_px[i] if side == 1 else tp.ask_px[i]
    sz = tp.bid_sz[i] if side == 1 else tp.ask_sz[i]
    for lev in range(len(px)):
        if px[lev] == price:
            return sz[lev]
    last = px[len(px) - 1]
    if sz[len(sz) - 1] == 0 or ((price > last) if side == 1 else (price < last)):
        return 0
    events = _level_events(tp.lvl_keys, tp.lvl_idx, side, price)  # ReplayData.level_size_at
    pos = bisect(events, i, True) - 1
    if pos < 0:
        return 0
    j = events[pos]
    if tp.last_snap[i] > j:
        return 0
    return tp.level_size[j]


@nb.njit(cache=True)
def _out_of_window(tp, state, side, price, i):
    pi = state.pi
    n = pi[P_WINDOW]
    if n == 0 or i < 0:
        return False
    if side == 1:
        return tp.bid_sz[i, n - 1] > 0 and price < tp.bid_px[i, n - 1]
    return tp.ask_sz[i, n - 1] > 0 and price > tp.ask_px[i, n - 1]


# -- state helpers -------------------------------------------------------------
@nb.njit(cache=True)
def _before(heap, x, y):
    """Heap row ``x`` sorts before row ``y``: keys (time, priority, sub1, sub2, sequence), the last unique."""
    for c in range(5):
        if heap[x, c] != heap[y, c]:
            return heap[x, c] < heap[y, c]
    return False


@nb.njit(cache=True)
def _swap(heap, x, y):
    for c in range(8):
        heap[x, c], heap[y, c] = heap[y, c], heap[x, c]


@nb.njit(cache=True)
def _push(state, t, prio, s1, s2, tag, a, b):
    """Push (t, prio, s1, s2, sequence; tag, a, b) on the binary heap ``heap[:st[S_NHEAP]]`` (rows of 8 int64)."""
    heap, st = state.heap, state.st
    st[S_SEQ] += 1
    n = st[S_NHEAP]
    if n >= len(heap):
        st[S_OVER] = 1
        return
    st[S_NHEAP] = n + 1
    heap[n, 0], heap[n, 1], heap[n, 2], heap[n, 3], heap[n, 4] = t, prio, s1, s2, st[S_SEQ]
    heap[n, 5], heap[n, 6], heap[n, 7] = tag, a, b
    while n > 0:
        up = (n - 1) >> 1
        if not _before(heap, n, up):
            break
        _swap(heap, n, up)
        n = up


@nb.njit(cache=True)
def _pop(state):
    """Move the smallest entry to the row just past the heap (``heap[st[S_NHEAP]]`` after the call)."""
    heap, st = state.heap, state.st
    n = st[S_NHEAP] - 1
    st[S_NHEAP] = n
    _swap(heap, 0, n)
    k = 0
    while True:
        c = 2 * k + 1
        if c >= n:
            break
        if c + 1 < n and _before(heap, c + 1, c):
            c += 1
        if not _before(heap, c, k):
            break
        _swap(heap, k, c)
        k = c
    return n


@nb.njit(cache=True)
def _draw(lat, const, state, slot):
    st = state.st
    if const:
        return lat[0]
    k = st[slot]
    if k >= len(lat):
        st[S_OVER] = 1
        return 0
    st[slot] = k + 1
    return lat[k]


@nb.njit(cache=True)
def _report(state, tag, a, b, c):
    st, rp = state.st, state.rp
    n = st[S_NREP]
    if n >= len(rp):
        st[S_OVER] = 1
        return
    rp[n, 0], rp[n, 1], rp[n, 2], rp[n, 3] = tag, a, b, c
    st[S_NREP] = n + 1


@nb.njit(cache=True)
def _row_of(m, key):
    """Row of ``key`` in the open-addressing map ``m`` (keys in column 0, ``EMPTY`` rows free; len(m) a power of
    two), or the free row where it goes."""
    mask = len(m) - 1
    h = ((key * -7046029254386353131) >> 29) & mask  # Fibonacci hashing (wrapping multiply)
    while m[h, 0] != EMPTY and m[h, 0] != key:
        h = (h + 1) & mask
    return h


@nb.njit(cache=True)
def _new_key(state, m, h, key, counter):
    """Put ``key`` in free row ``h`` of map ``m``; keeps the map at most half full (else: redo with more room)."""
    st = state.st
    if 2 * (st[counter] + 1) > len(m):
        st[S_OVER] = 1
    st[counter] += 1
    m[h, 0] = key


@nb.njit(cache=True)
def _consumed_at(state, key, i):
    cm = state.cm
    h = _row_of(cm, key)
    if cm[h, 0] == key and i < cm[h, 2]:
        return cm[h, 1]
    return 0


@nb.njit(cache=True)
def _consume(tp, state, side, price, size, i):
    """Record ``size`` taken at (side, price) at event ``i``: consumed until the tape next changes that level."""
    st, cm = state.st, state.cm
    key = price * 2 + (1 if side > 0 else 0)
    h = _row_of(cm, key)
    if cm[h, 0] == key and i < cm[h, 2]:
        cm[h, 1] += size
        return
    if cm[h, 0] != key:
        _new_key(state, cm, h, key, S_NCM)
    cm[h, 1] = size
    cm[h, 2] = _next_level_change(tp, side, price, i)


@nb.njit(cache=True)
def _fill(state, oid, price, size, liq, t, j, how):
    st, pi, pf, orr, fl, flf, rp = state.st, state.pi, state.pf, state.orr, state.fl, state.flf, state.rp
    units = size / pi[P_SSCALE]
    notional = price / pi[P_PSCALE] * units * pf[PF_MULT]
    if liq == _MAKER:
        fee = notional * pf[PF_MBPS] * 1e-4 + units * pf[PF_MUNIT]
    else:
        fee = notional * pf[PF_TBPS] * 1e-4 + units * pf[PF_TUNIT]
    orr[oid, O_FILLED] += size
    if orr[oid, O_FILLED] == orr[oid, O_QTY]:
        orr[oid, O_STATUS] = _FILLED
    n = st[S_NFILL] + 1
    if n >= len(fl):
        st[S_OVER] = 1
        n = 0  # scratch row: the run is redone with more room
    else:
        st[S_NFILL] = n
    fl[n, F_OID], fl[n, F_PRICE], fl[n, F_SIZE], fl[n, F_LIQ] = oid, price, size, liq
    fl[n, F_EX], fl[n, F_J], fl[n, F_HOW] = t, j, how
    flf[n] = fee
    _report(state, _P_FILL, n, 0, 0)


# -- the exchange's passive queue ------------------------------------------------
# advance_level compiled into its caller here (numba inlines it): a call passes ~100 words of array members
_advance_level = nb.njit(inline="always", cache=True)(advance_level.py_func)


@nb.njit(cache=True)
def _advance_sparse(tp, lside, lprice, start, stop, model, power, wp, ws, entry, ahead, remaining, pending_trade,
                    used_idx, used_vol, fills):
    """:func:`~tickreplay.exchange.advance_level` over ``start:stop`` for the own queue at (lside, lprice), run
    only on the events that can act on that queue: the level's own events (:func:`_level_lists`) and the blocks
    of :data:`BLOCK` events whose summaries (:func:`_block_bounds`) say they may hold a crossing add, a trade
    through the price, a snapshot or the level leaving the window. Every event skipped is one on which
    ``advance_level`` does nothing, so the result is the same; own events of the level less than
    :data:`_COALESCE` events apart go to ``advance_level`` in one call."""
    kind, side, price, size, add_idx = tp.kind, tp.side, tp.price, tp.size, tp.add_idx
    level_delta, level_size, halted, lv_keys, lv_idx = tp.level_delta, tp.level_size, tp.halted, tp.lv_keys, tp.lv_idx
    x = lprice if lside == 1 else -lprice  # an event in a block may act iff block lo <= x or block hi > x
    blo, bhi = (tp.blo_bid, tp.bhi_bid) if lside == 1 else (tp.blo_ask, tp.bhi_ask)
    key = lprice * 2 + (1 if lside > 0 else 0)
    u = bisect(lv_keys, key, False)
    e = e_end = 0
    if u < len(lv_keys) and lv_keys[u] == key:
        e, e_end = tp.lv_off[u], tp.lv_off[u + 1]
        e += bisect(lv_idx[e:e_end], start, False)
    p = start
    while p < stop:
        r = lv_idx[e] if e < e_end else stop  # the level's next own event
        if r > stop:
            r = stop
        b = p >> _BLOCK_SHIFT
        q = r
        while (b << _BLOCK_SHIFT) < r:
            if blo[b] <= x or bhi[b] > x:
                q = max(p, b << _BLOCK_SHIFT)
                break
            b += 1
        if q >= stop:
            break
        if q < r:  # a block that may act: all of it
            end = min((b + 1) << _BLOCK_SHIFT, stop)
        else:  # own events of the level, close ones together
            end = r + 1
            while e + 1 < e_end and lv_idx[e + 1] < stop and lv_idx[e + 1] - end < _COALESCE:
                e += 1
                end = lv_idx[e] + 1
        status, j, how, pending_trade = _advance_level(
            kind, side, price, size, add_idx, level_delta, level_size, halted, wp, ws,
            q, end, lside, lprice, model, power, entry, ahead, remaining, pending_trade, used_idx, used_vol, fills)
        if status:
            return status, j, how, pending_trade
        p = end
        while e < e_end and lv_idx[e] < p:
            e += 1
    return 0, stop, 0, pending_trade


@nb.njit(cache=True)
def _scan(tp, state, slot, stop):
    pi, pf, st, orr, orf, lv, used = state.pi, state.pf, state.st, state.orr, state.orf, state.lv, state.used
    n = lv[slot, L_N]
    entry, remaining, fills, ahead = used[2, :n], used[3, :n], used[4, :n], orf[2, :n]
    fills[:] = 0
    o = lv[slot, L_HEAD]
    for m in range(n):
        entry[m] = orr[o, O_ENTRY]
        ahead[m] = orf[0, o]
        remaining[m] = orr[o, O_QTY] - orr[o, O_FILLED]
        o = orr[o, O_NEXT]
    lside, lprice = lv[slot, L_SIDE], lv[slot, L_PRICE]
    wp, ws = (tp.wbid_px, tp.wbid_sz) if lside == 1 else (tp.wask_px, tp.wask_sz)
    nu = st[S_NUSED]
    status, j, how, pt = _advance_sparse(
        tp, lside, lprice, lv[slot, L_K] + 1, min(stop, pi[P_STOP]), pi[P_MODEL], pf[PF_POWER], wp, ws,
        entry, ahead, remaining, lv[slot, L_PT], used[0, :nu], used[1, :nu], fills)
    return status, j, how, pt, ahead, fills


@nb.njit(cache=True)
def _advance(tp, state, slot, i):
    pi, pf, st, orr, orf, lv, used = state.pi, state.pf, state.st, state.orr, state.orf, state.lv, state.used
    if lv[slot, L_UNK] or lv[slot, L_K] >= i:
        return
    _, _, _, pt, ahead, _ = _scan(tp, state, slot, i + 1)
    o = lv[slot, L_HEAD]
    for m in range(len(ahead)):
        orf[0, o] = ahead[m]
        o = orr[o, O_NEXT]
    lv[slot, L_PT], lv[slot, L_K] = pt, i


@nb.njit(cache=True)
def _reschedule(tp, state, slot):
    pi, pf, st, orr, orf, lv, used = state.pi, state.pf, state.st, state.orr, state.orf, state.lv, state.used
    rp = state.rp
    lv[slot, L_VER] += 1
    lv[slot, L_PEND] = 0
    if lv[slot, L_UNK] or lv[slot, L_N] == 0:
        return
    status, j, how, pt, ahead, fills = _scan(tp, state, slot, pi[P_STOP])
    if status:
        o = lv[slot, L_HEAD]
        for m in range(len(ahead)):
            orf[1, o] = ahead[m]
            orr[o, O_PFILL] = fills[m]
            o = orr[o, O_NEXT]
        lv[slot, L_PEND], lv[slot, L_PSTATUS], lv[slot, L_PJ], lv[slot, L_PHOW] = 1, status, j, how
        lv[slot, L_PPT], lv[slot, L_PUSED] = pt, st[S_USEDVER]
        _report(state, _P_DUE, slot, lv[slot, L_VER], j)


@nb.njit(cache=True)
def _mark_unknown(state, oid, t):
    orr = state.orr
    if not orr[oid, O_QU]:
        orr[oid, O_QU], orr[oid, O_QUNS] = 1, t


@nb.njit(cache=True)
def _unlink(state, slot, oid):
    orr, lv = state.orr, state.lv
    p, nx = orr[oid, O_PREV], orr[oid, O_NEXT]
    if p >= 0:
        orr[p, O_NEXT] = nx
    else:
        lv[slot, L_HEAD] = nx
    if nx >= 0:
        orr[nx, O_PREV] = p
    else:
        lv[slot, L_TAIL] = p
    lv[slot, L_N] -= 1


@nb.njit(cache=True)
def _live_level(state, side, price):
    """Slot of the level (side, price) holding own orders now, or -1 (``act[:st[S_NLIVE]]``: those slots)."""
    st, lv, act = state.st, state.lv, state.act
    for m in range(st[S_NLIVE]):
        slot = act[m]
        if lv[slot, L_PRICE] == price and lv[slot, L_SIDE] == side:
            return slot
    return -1


@nb.njit(cache=True)
def _retire(state, slot):
    """Remove ``slot`` from the live levels (its last own order left)."""
    st, act = state.st, state.act
    n = st[S_NLIVE] - 1
    for m in range(n + 1):
        if act[m] == slot:
            act[m] = act[n]
            break
    st[S_NLIVE] = n


@nb.njit(cache=True)
def _join(tp, state, oid, t, i):
    pi, pf, st, orr, orf, lv, used = state.pi, state.pf, state.st, state.orr, state.orf, state.lv, state.used
    rp, act, cm = state.rp, state.act, state.cm
    side, price = orr[oid, O_SIDE], orr[oid, O_PRICE]
    key = price * 2 + (1 if side > 0 else 0)
    slot = _live_level(state, side, price)
    if slot >= 0:
        _advance(tp, state, slot, i)
    else:
        slot = st[S_NLVL]  # at most one level per request: lv has a row per request
        st[S_NLVL] = slot + 1
        act[st[S_NLIVE]] = slot
        st[S_NLIVE] += 1
        lv[slot, L_SIDE], lv[slot, L_PRICE], lv[slot, L_K] = side, price, i
        lv[slot, L_HEAD], lv[slot, L_TAIL] = -1, -1
    tail = lv[slot, L_TAIL]
    orr[oid, O_PREV], orr[oid, O_NEXT] = tail, -1
    if tail >= 0:
        orr[tail, O_NEXT] = oid
    else:
        lv[slot, L_HEAD] = oid
    lv[slot, L_TAIL] = oid
    lv[slot, L_N] += 1
    orr[oid, O_ENTRY] = i
    if lv[slot, L_UNK] or _out_of_window(tp, state, side, price, i):
        lv[slot, L_UNK] = 1
        orf[0, oid] = np.nan
        _mark_unknown(state, oid, t)
    else:
        orf[0, oid] = float(max(_visible_size(tp, side, price, i) - _consumed_at(state, key, i), 0))
    _reschedule(tp, state, slot)


@nb.njit(cache=True)
def _leave(tp, state, oid, i):
    pi, pf, st, orr, orf, lv, used = state.pi, state.pf, state.st, state.orr, state.orf, state.lv, state.used
    rp, act = state.rp, state.act
    slot = _live_level(state, orr[oid, O_SIDE], orr[oid, O_PRICE])
    _advance(tp, state, slot, i)
    _unlink(state, slot, oid)
    if lv[slot, L_N] > 0:
        _reschedule(tp, state, slot)
    else:
        lv[slot, L_VER] += 1
        _retire(state, slot)


@nb.njit(cache=True)
def _use(state, j, volume):
    st, used = state.st, state.used
    n = st[S_NUSED]
    pos = bisect(used[0, :n], j, False)
    if pos < n and used[0, pos] == j:
        used[1, pos] += volume
    elif n >= used.shape[1]:
        st[S_OVER] = 1
    else:
        for m in range(n, pos, -1):
            used[0, m], used[1, m] = used[0, m - 1], used[1, m - 1]
        used[0, pos], used[1, pos] = j, volume
        st[S_NUSED] = n + 1
    st[S_USEDVER] += 1


@nb.njit(cache=True)
def _level_due(tp, state, slot, version):
    pi, pf, st, orr, orf, lv, used = state.pi, state.pf, state.st, state.orr, state.orf, state.lv, state.used
    rp, act, cm, fl, flf = state.rp, state.act, state.cm, state.fl, state.flf
    if version != lv[slot, L_VER] or lv[slot, L_PEND] == 0:
        return
    if lv[slot, L_PUSED] != st[S_USEDVER]:
        _reschedule(tp, state, slot)
        return
    j = lv[slot, L_PJ]
    t = tp.ts[j]
    lside, lprice = lv[slot, L_SIDE], lv[slot, L_PRICE]
    total = 0
    o = lv[slot, L_HEAD]
    while o >= 0:
        orf[0, o] = orf[1, o]
        total += orr[o, O_PFILL]
        o = orr[o, O_NEXT]
    lv[slot, L_PT], lv[slot, L_K] = lv[slot, L_PPT], j
    if total:
        _use(state, j, total)
        if tp.side[j] == -lside:  # crossing liquidity we took stays taken
            _consume(tp, state, -lside, tp.price[j], total, j)
        how = lv[slot, L_PHOW]
        o = lv[slot, L_HEAD]
        while o >= 0:
            if orr[o, O_PFILL]:
                _fill(state, o, lprice, orr[o, O_PFILL], _MAKER, t, j, how)
            o = orr[o, O_NEXT]
        o = lv[slot, L_HEAD]
        while o >= 0:
            nx = orr[o, O_NEXT]
            if orr[o, O_STATUS] != _OPEN:
                _unlink(state, slot, o)
            o = nx
    if lv[slot, L_PSTATUS] & UNKNOWN_AT:
        lv[slot, L_UNK] = 1
        o = lv[slot, L_HEAD]
        while o >= 0:
            _mark_unknown(state, o, t)
            o = orr[o, O_NEXT]
    if lv[slot, L_N] == 0:
        lv[slot, L_VER] += 1
        _retire(state, slot)
    else:
        _reschedule(tp, state, slot)


# -- the exchange's requests -----------------------------------------------------
@nb.njit(cache=True)
def _take(tp, state, oid, t, i):
    pi, pf, st, orr, fl, flf, rp, cm = state.pi, state.pf, state.st, state.orr, state.fl, state.flf, state.rp, state.cm
    side = orr[oid, O_SIDE]
    opp = -side
    px = tp.ask_px[i] if opp == -1 else tp.bid_px[i]
    sz = tp.ask_sz[i] if opp == -1 else tp.bid_sz[i]
    limit = orr[oid, O_PRICE]
    for lev in range(len(px)):
        q, s = px[lev], sz[lev]
        if s <= 0:
            break
        if limit != NONE and ((q > limit) if side == 1 else (q < limit)):
            break
        avail = s - _consumed_at(state, q * 2 + (1 if opp > 0 else 0), i)
        if avail <= 0:
            continue
        take = min(avail, orr[oid, O_QTY] - orr[oid, O_FILLED])
        _consume(tp, state, opp, q, take, i)
        _fill(state, oid, q, take, _TAKER, t, i, _HOW_WALK)
        if orr[oid, O_FILLED] == orr[oid, O_QTY]:
            return


@nb.njit(cache=True)
def _enter(tp, state, oid, t, i):
    pi, pf, st, orr, orf, lv, used = state.pi, state.pf, state.st, state.orr, state.orf, state.lv, state.used
    rp, act, cm, fl, flf = state.rp, state.act, state.cm, state.fl, state.flf
    _take(tp, state, oid, t, i)
    if orr[oid, O_STATUS] == _FILLED:
        return
    if orr[oid, O_TYPE] == _LIMIT:
        _join(tp, state, oid, t, i)
    else:
        orr[oid, O_STATUS], orr[oid, O_REASON] = _CANCELLED, _R_MARKET_REST


@nb.njit(cache=True)
def _check_session(tp, state, t, i):
    pi = state.pi
    if t < pi[P_START] or t > pi[P_END] or i < 0:
        return _R_OUTSIDE
    if tp.halted[i]:
        return _R_HALTED
    return 0


@nb.njit(cache=True)
def _check_price(state, price):
    pi = state.pi
    if price == NONE:
        return _R_NO_PRICE
    if price <= 0 or price % pi[P_TICK]:
        return _R_OFF_TICK
    return 0


@nb.njit(cache=True)
def _check_live(state, oid):
    orr = state.orr
    s = orr[oid, O_STATUS]
    if s == _PENDING:
        return _R_UNKNOWN
    if s != _OPEN:
        return _R_DONE
    return 0


@nb.njit(cache=True)
def _new_order(tp, state, oid, t):
    pi, pf, st, orr, orf, lv, used = state.pi, state.pf, state.st, state.orr, state.orf, state.lv, state.used
    rp, act, cm, fl, flf = state.rp, state.act, state.cm, state.fl, state.flf
    i = _index_at(tp.ts, t)
    orr[oid, O_ARRNS], orr[oid, O_ARRIDX] = t, i
    q = orr[oid, O_QTY]
    reason = _R_BAD_SIZE if q <= 0 else (_R_OFF_LOT if q % pi[P_LOT] else 0)
    if not reason:
        reason = _check_session(tp, state, t, i)
    if not reason and orr[oid, O_TYPE] == _LIMIT:
        reason = _check_price(state, orr[oid, O_PRICE])
    if reason:
        orr[oid, O_STATUS], orr[oid, O_REASON] = _REJECTED, reason
        _report(state, _P_DONE, oid, _REJECTED, t)
        return
    orr[oid, O_STATUS] = _OPEN
    _enter(tp, state, oid, t, i)
    _report(state, _P_DONE, oid, orr[oid, O_STATUS], t)


@nb.njit(cache=True)
def _cancel(tp, state, rid, oid, t):
    pi, pf, st, orr, orf, lv, used = state.pi, state.pf, state.st, state.orr, state.orf, state.lv, state.used
    rp, act = state.rp, state.act
    reason = _check_live(state, oid)
    if reason:
        _report(state, _P_DONE, rid, _REJECTED, t)
        return reason
    _leave(tp, state, oid, _index_at(tp.ts, t))
    orr[oid, O_STATUS], orr[oid, O_REASON] = _CANCELLED, _R_CANCEL_REQUEST
    _report(state, _P_DONE, rid, _CANCELLED, t)
    return 0


@nb.njit(cache=True)
def _reprice(tp, state, rid, oid, price, t):
    """Exchange.modify for a modify that keeps the order's total size (the executor's re-pricing)."""
    pi, pf, st, orr, orf, lv, used = state.pi, state.pf, state.st, state.orr, state.orf, state.lv, state.used
    rp, act, cm, fl, flf = state.rp, state.act, state.cm, state.fl, state.flf
    i = _index_at(tp.ts, t)
    reason = _check_live(state, oid)
    if not reason:
        reason = _check_session(tp, state, t, i)
    if not reason:
        reason = _check_price(state, price)
    if not reason and price == orr[oid, O_PRICE]:
        reason = _R_NOTHING
    if reason:
        _report(state, _P_DONE, rid, _REJECTED, t)
        return reason
    _leave(tp, state, oid, i)
    orr[oid, O_PRICE] = price
    _enter(tp, state, oid, t, i)
    _report(state, _P_DONE, rid, orr[oid, O_STATUS], t)
    return 0


# -- the engine ------------------------------------------------------------------
@nb.njit(cache=True)
def _new_request(state, action, oid, qty, price):
    st, rq = state.st, state.rq
    rid = st[S_NREQ] + 1
    if rid >= len(rq):
        st[S_OVER] = 1
        rid = 0  # scratch row: the run is redone with more room
    else:
        st[S_NREQ] = rid
    rq[rid, Q_OID] = rid if action == _NEW else oid
    rq[rid, Q_ACTION], rq[rid, Q_QTY], rq[rid, Q_PRICE] = action, qty, price
    rq[rid, Q_DECNS], rq[rid, Q_DECIDX] = st[S_NOW], st[S_VIEW]
    rq[rid, Q_ARRNS], rq[rid, Q_ARRIDX], rq[rid, Q_RESPNS], rq[rid, Q_QAHEAD] = -1, -1, -1, -1
    return rid


@nb.njit(cache=True)
def _entry_time(state, lat):
    pi, st = state.pi, state.st
    t = st[S_NOW] + _draw(lat, pi[P_CENT], state, S_IENT)
    if not pi[P_OVERTAKE]:
        t = max(t, st[S_LASTARR])
        st[S_LASTARR] = t
    return t


@nb.njit(cache=True)
def _response_time(state, lat, t_ex):
    pi, st = state.pi, state.st
    t = t_ex + _draw(lat, pi[P_CRESP], state, S_IRESP)
    if not pi[P_OVERTAKE]:
        t = max(t, st[S_LASTRESP])
        st[S_LASTRESP] = t
    return t


@nb.njit(cache=True)
def _send(state, qty, otype, price, parent):
    pi, st, rq, orr, heap, lat_ent = state.pi, state.st, state.rq, state.orr, state.heap, state.lat_ent
    oid = _new_request(state, _NEW, 0, qty, price)
    orr[oid, O_PARENT], orr[oid, O_SIDE], orr[oid, O_TYPE] = parent, pi[P_SIDE], otype
    orr[oid, O_PRICE], orr[oid, O_QTY], orr[oid, O_DECNS] = price, qty, st[S_NOW]
    orr[oid, O_ARRNS], orr[oid, O_ARRIDX], orr[oid, O_QUNS] = -1, -1, -1
    orr[oid, X_SWEEP] = -1
    _push(state, _entry_time(state, lat_ent), _ARRIVE, 0, 0, _T_ARRIVE, oid, 0)
    return oid


@nb.njit(cache=True)
def _request(state, action, oid, price):
    pi, st, rq, orr, heap, lat_ent = state.pi, state.st, state.rq, state.orr, state.heap, state.lat_ent
    rid = _new_request(state, action, oid, NONE, price)
    orr[rid, X_SWEEP] = -1
    _push(state, _entry_time(state, lat_ent), _ARRIVE, 0, 0, _T_ARRIVE, rid, 0)
    return rid


@nb.njit(cache=True)
def _arrive(tp, state, t, rid):
    pi, pf, st, rq, rqf, orr, orf = state.pi, state.pf, state.st, state.rq, state.rqf, state.orr, state.orf
    lv, used, rp, act, cm, fl, flf = state.lv, state.used, state.rp, state.act, state.cm, state.fl, state.flf
    heap, lat_resp = state.heap, state.lat_resp
    action = rq[rid, Q_ACTION]
    oid = rq[rid, Q_OID]
    if action == _NEW:
        orr[oid, O_INFORCE] = rid
        _new_order(tp, state, oid, t)
        rq[rid, Q_ARRNS], rq[rid, Q_ARRIDX] = orr[oid, O_ARRNS], orr[oid, O_ARRIDX]
        s = orr[oid, O_STATUS]
        if s == _REJECTED:
            rq[rid, Q_STATUS], rq[rid, Q_REJECT] = _A_REJECTED, orr[oid, O_REASON]
        else:
            rq[rid, Q_STATUS] = _A_ACCEPTED if s == _OPEN else (_A_FILLED if s == _FILLED else _A_DONE)
            rq[rid, Q_OPEN] = orr[oid, O_QTY]
    else:
        rq[rid, Q_ARRNS], rq[rid, Q_ARRIDX] = t, _index_at(tp.ts, t)
        live = orr[oid, O_STATUS] == _PENDING or orr[oid, O_STATUS] == _OPEN
        filled_before = orr[oid, O_FILLED]
        open_before = orr[oid, O_QTY] - orr[oid, O_FILLED] if live else 0
        if action == _CANCEL:
            reason = _cancel(tp, state, rid, oid, t)
        else:
            rq[rid, Q_QTY] = orr[oid, O_QTY]
            reason = _reprice(tp, state, rid, oid,
                              rq[rid, Q_PRICE], t)
        if reason:
            rq[rid, Q_STATUS], rq[rid, Q_REJECT] = _A_REJECTED, reason
        else:
            orr[oid, O_INFORCE] = rid
            if action == _CANCEL:
                rq[rid, Q_STATUS], rq[rid, Q_OPEN] = _A_CANCELLED, open_before
            else:
                rq[rid, Q_STATUS], rq[rid, Q_OPEN] = _A_MODIFIED, max(rq[rid, Q_QTY] - filled_before, 0)
    if rq[rid, Q_STATUS] != _A_REJECTED and action != _CANCEL and orr[oid, O_STATUS] == _OPEN:
        a = orf[0, oid]
        rq[rid, Q_RESTED], rq[rid, Q_QAHEAD] = 1, (-1 if math.isnan(a) else int(math.floor(a + 0.5)))
    _drain(tp, state)


@nb.njit(cache=True)
def _drain(tp, state):
    pi, st, rq, rqf, orr, lv, rp, fl = state.pi, state.st, state.rq, state.rqf, state.orr, state.lv, state.rp, state.fl
    flf, heap, lat_resp = state.flf, state.heap, state.lat_resp
    for m in range(st[S_NREP]):
        tag = rp[m, 0]
        if tag == _P_DUE:
            slot, j = rp[m, 1], rp[m, 3]
            price = lv[slot, L_PRICE]
            _push(state, tp.ts[j], _DUE, j, -price if lv[slot, L_SIDE] == 1 else price, _T_DUE, slot, rp[m, 2])
        elif tag == _P_FILL:
            n = rp[m, 1]
            oid, price, size = fl[n, F_OID], fl[n, F_PRICE], fl[n, F_SIZE]
            row = orr[oid, O_INFORCE]
            rq[row, Q_FILLED] += size
            rqf[row] += flf[n]
            rq[row, Q_NOTIONAL] += price * size
            rq[row, Q_MAKER if fl[n, F_LIQ] == _MAKER else Q_TAKER] += size
            resp = _response_time(state, lat_resp, fl[n, F_EX])
            fl[n, F_RESP] = resp
            _push(state, resp, _WAKE, 0, 0, _T_FILL, n, 0)
        else:
            rid = rp[m, 1]
            resp = _response_time(state, lat_resp, rp[m, 3])
            rq[rid, Q_RESPNS] = resp
            rq[rid, Q_UPDSTATUS], rq[rid, Q_UPDFILLED] = rp[m, 2], orr[rq[rid, Q_OID], O_FILLED]
            _push(state, resp, _WAKE, 0, 0, _T_UPDATE, rid, 0)
    st[S_NREP] = 0


@nb.njit(cache=True)
def _wake(tp, state, t):
    pi, st, lat_md, ts = state.pi, state.st, state.lat_md, tp.ts
    st[S_NOW] = t
    x = t - _draw(lat_md, pi[P_CMD], state, S_IMD)
    v = st[S_VIEW]
    if v + 1 < len(ts) and ts[v + 1] <= x:  # else _index_at(ts, x) <= v: the view stays
        st[S_VIEW] = _index_at(ts, x)


# -- the executor (ChildOrderExecutor) -----------------------------------------
@nb.njit(cache=True)
def _at(state, t, what):
    """Schedule an action at trader time ``t``: ``what`` >= 0 sends child ``what``, < 0 checks order ``-what-1``."""
    st, heap, ac, dm = state.st, state.heap, state.ac, state.dm
    n = st[S_NACT] + 1
    if n >= len(ac):
        st[S_OVER] = 1
        n = 0
    else:
        st[S_NACT] = n
    ac[n, 0], ac[n, 1] = what, -1
    h = _row_of(dm, t)
    if dm[h, 0] == t and dm[h, 2] > 0:  # a list for time t not yet run: append
        ac[dm[h, 2], 1] = n
    else:
        if dm[h, 0] != t:
            _new_key(state, dm, h, t, S_NDUE)
        if t <= st[S_END]:
            _push(state, t, _WAKE, 0, 0, _T_TIMER, t, 0)
        dm[h, 1] = n
    dm[h, 2] = n


@nb.njit(cache=True)
def _price(tp, state, style, offset):
    pi, st = state.pi, state.st
    v = st[S_VIEW]
    tick = pi[P_TICK]
    has_bid = v >= 0 and tp.bid_sz[v, 0] > 0
    has_ask = v >= 0 and tp.ask_sz[v, 0] > 0
    if style == _S_PEG:
        if not (has_bid and has_ask):
            return NONE
        twice = tp.bid_px[v, 0] + tp.ask_px[v, 0]
        steps = twice // (2 * tick) if pi[P_SIDE] == 1 else -(-twice // (2 * tick))
        return steps * tick
    if pi[P_SIDE] == 1:
        if not has_bid:
            return NONE
        touch = tp.bid_px[v, 0]
    else:
        if not has_ask:
            return NONE
        touch = tp.ask_px[v, 0]
    off = offset if style == _S_OFFSET else 0
    return touch - pi[P_SIDE] * off * tick


@nb.njit(cache=True)
def _x_send(tp, state, c):
    pi, st, rq, orr, heap, ac, dm = state.pi, state.st, state.rq, state.orr, state.heap, state.ac, state.dm
    lat_ent, ch = state.lat_ent, state.ch
    qty = ch[c, 1]
    style = ch[c, 2]
    if style == _S_MARKET:
        _send(state, qty, _MARKET, NONE, ch[c, 4])
        return
    price = _price(tp, state, style, ch[c, 3])
    if price == NONE:
        st[S_UNPRICED] += 1
        _at(state, st[S_NOW] + pi[P_RA], c)
        return
    oid = _send(state, qty, _LIMIT, price, ch[c, 4])
    orr[oid, X_OPEN], orr[oid, X_CHILD], orr[oid, X_QTY] = 1, c, qty
    orr[oid, X_FILLED], orr[oid, X_REPL], orr[oid, X_PRICE] = 0, 0, price
    _at(state, st[S_NOW] + pi[P_RA], -oid - 1)


@nb.njit(cache=True)
def _x_check(tp, state, oid):
    pi, st, rq, orr, heap, ac, dm = state.pi, state.st, state.rq, state.orr, state.heap, state.ac, state.dm
    lat_ent, ch = state.lat_ent, state.ch
    if not orr[oid, X_OPEN]:
        return
    c = orr[oid, X_CHILD]
    if pi[P_MAXR] >= 0 and orr[oid, X_REPL] >= pi[P_MAXR]:
        rid = _request(state, _CANCEL, oid, NONE)
        if pi[P_FINISH]:
            orr[rid, X_SWEEP] = oid
        return
    orr[oid, X_REPL] += 1
    new = _price(tp, state, ch[c, 2], ch[c, 3])
    if new != NONE and new != orr[oid, X_PRICE]:
        rid = _request(state, _MODIFY, oid, new)
        orr[rid, X_RPOLD], orr[rid, X_RPNEW], orr[rid, X_RPACTIVE] = orr[oid, X_PRICE], new, 1
        orr[oid, X_PRICE] = new
    _at(state, st[S_NOW] + pi[P_RA], -oid - 1)


@nb.njit(cache=True)
def _x_update(state, rid):
    pi, st, rq, orr, heap, lat_ent, ch = state.pi, state.st, state.rq, state.orr, state.heap, state.lat_ent, state.ch
    action, oid, status = rq[rid, Q_ACTION], rq[rid, Q_OID], rq[rid, Q_UPDSTATUS]
    if action == _NEW:
        if status != _OPEN:
            orr[oid, X_OPEN] = 0
    elif action == _MODIFY:
        if orr[rid, X_RPACTIVE]:
            orr[rid, X_RPACTIVE] = 0
            if status == _REJECTED and orr[oid, X_OPEN] and orr[oid, X_PRICE] == orr[rid, X_RPNEW]:
                orr[oid, X_PRICE] = orr[rid, X_RPOLD]
    elif status == _CANCELLED:
        was_open = orr[oid, X_OPEN]
        orr[oid, X_OPEN] = 0
        sweep = orr[rid, X_SWEEP]
        orr[rid, X_SWEEP] = -1
        filled = rq[rid, Q_UPDFILLED]
        if sweep >= 0 and was_open and orr[oid, X_QTY] > filled:
            _send(state, orr[oid, X_QTY] - filled, _MARKET, NONE,
                  ch[orr[oid, X_CHILD], 4])


@nb.njit(cache=True)
def _push_next_md(tp, state):
    """Engine._push_next_md: schedule the next subscribed tape event's arrival at the trader."""
    pi, st, heap, lat_md, mdl = state.pi, state.st, state.heap, state.lat_md, state.mdl
    p = st[S_MDPTR]
    if p >= len(mdl):
        return
    j = mdl[p]
    st[S_MDPTR] = p + 1
    ts = tp.ts[j]
    t = max(ts + _draw(lat_md, pi[P_CMD], state, S_IMD), st[S_LASTMD])
    st[S_LASTMD] = t
    _push(state, t, _WAKE, 0, 0, _T_MARKET, j, 0)


@nb.njit(cache=True)
def _pov_volume(state, t, volume):
    """PovPolicy.on_volume: record ``volume`` seen at trader time ``t``; the quantity to send now."""
    pi, pf, st, nt = state.pi, state.pf, state.st, state.nt
    st[S_LASTT] = t
    active = not ((pi[P_POVSTART] != NONE and t < pi[P_POVSTART]) or (pi[P_POVEND] != NONE and t >= pi[P_POVEND]))
    for w in range(len(nt)):
        if nt[w, 0] <= t < nt[w, 1]:
            active = False
    remaining = pi[P_POVCAP] - st[S_SENT]
    if not active or remaining == 0:
        return 0
    st[S_MVOL] += volume
    shortfall = int(math.floor(pf[PF_RATE] * st[S_MVOL])) - st[S_SENT]
    if remaining < pi[P_POVMIN] and shortfall >= remaining:
        q = remaining
    else:
        q = min(shortfall, pi[P_POVMAX], remaining) // pi[P_POVLOT] * pi[P_POVLOT]
        if q < pi[P_POVMIN]:
            return 0
    st[S_SENT] += q
    return q


@nb.njit(cache=True)
def _close_all(state):
    """Cancel every open child (in order-id order) and forget them: the label executor's stop."""
    pi, st, rq, orr, heap, lat_ent = state.pi, state.st, state.rq, state.orr, state.heap, state.lat_ent
    n = st[S_NREQ]
    for oid in range(1, n + 1):
        if orr[oid, X_OPEN]:
            _request(state, _CANCEL, oid, NONE)
    for oid in range(1, n + 1):
        orr[oid, X_OPEN] = 0


@nb.njit(cache=True)
def _loop(tp, state):
    pi, pf, ch, lat_ent, lat_resp, lat_md = state.pi, state.pf, state.ch, state.lat_ent, state.lat_resp, state.lat_md
    st, rq, rqf, orr, orf, lv, used = state.st, state.rq, state.rqf, state.orr, state.orf, state.lv, state.used
    rp, fl, flf, ac, heap, act, cm = state.rp, state.fl, state.flf, state.ac, state.heap, state.act, state.cm
    dm, mdl, nt = state.dm, state.mdl, state.nt
    _wake(tp, state, st[S_NOW])
    st[S_MDPTR] = bisect(mdl, st[S_VIEW], True)
    _push_next_md(tp, state)
    for c in range(st[S_NCH]):
        _at(state, max(ch[c, 0], st[S_NOW]), c)
    close = pi[P_CLOSE]
    if close != NONE and close <= st[S_END]:
        _push(state, close, _WAKE, 0, 0, _T_TIMER, close, 0)
    while st[S_NHEAP] and not st[S_OVER]:
        top = _pop(state)
        t, tag, a, b = heap[top, 0], heap[top, 5], heap[top, 6], heap[top, 7]
        if tag == _T_DUE:
            _level_due(tp, state, a, b)
            _drain(tp, state)
        elif tag == _T_ARRIVE:
            _arrive(tp, state, t, a)
        elif tag == _T_MARKET:  # a subscribed trade print reaches the trader: PovExecutor.on_market
            st[S_NOW] = t
            st[S_VIEW] = max(st[S_VIEW], _index_at(tp.ts, tp.ts[a]))
            _push_next_md(tp, state)
            q = _pov_volume(state, t, tp.size[a])
            if q:
                c = st[S_NCH]
                if c >= len(ch):
                    st[S_OVER] = 1
                    continue
                st[S_NCH] = c + 1
                ch[c, 0], ch[c, 1], ch[c, 2], ch[c, 3], ch[c, 4] = t, q, pi[P_POVSTYLE], pi[P_POVOFF], pi[P_POVPARENT]
                _x_send(tp, state, c)
        else:
            _wake(tp, state, t)
            if tag == _T_TIMER:
                h = _row_of(dm, a)
                if dm[h, 0] == a and dm[h, 2] > 0:
                    n = dm[h, 1]
                    dm[h, 2] = -1  # run: a later action at this time starts a new list and timer
                    while n > 0:
                        what = ac[n, 0]
                        if what >= 0:
                            _x_send(tp, state, what)
                        else:
                            _x_check(tp, state, -what - 1)
                        n = ac[n, 1]
                if a == close:
                    _close_all(state)
            elif tag == _T_FILL:
                oid = fl[a, F_OID]
                if orr[oid, X_OPEN]:
                    orr[oid, X_FILLED] += fl[a, F_SIZE]
                    if orr[oid, X_FILLED] >= orr[oid, X_QTY]:
                        orr[oid, X_OPEN] = 0
            else:
                _x_update(state, a)


@intrinsic
def _borrow(typingctx, arr):
    """``arr`` without its reference count: the caller keeps the memory alive for the whole call.

    Numba increfs and decrefs (atomically) every array argument of every call; the kernel's helpers take many
    arrays, so on borrowed arrays (no meminfo) those become null checks.
    """
    if not isinstance(arr, nb.types.Array):
        return None

    def codegen(context, builder, signature, args):
        src = context.make_array(arr)(context, builder, value=args[0])
        out = context.make_array(arr)(context, builder)
        for name in ("nitems", "itemsize", "data", "shape", "strides"):
            setattr(out, name, getattr(src, name))
        out.meminfo = cgutils.get_null_value(out.meminfo.type)
        out.parent = cgutils.get_null_value(out.parent.type)
        return out._getvalue()

    return arr(arr), codegen


# the kernel's names of _tape's arrays, in its order (snapshots' touch ... window columns of each side)
TAPE_FIELDS = ("ts", "kind", "side", "price", "size", "add_idx", "level_delta", "level_size", "halted",
               "last_snap", "lvl_keys", "lvl_idx", "bid_px", "bid_sz", "ask_px", "ask_sz", "wbid_px", "wbid_sz",
               "wask_px", "wask_sz", "lv_keys", "lv_off", "lv_idx", "blo_bid", "bhi_bid", "blo_ask", "bhi_ask")


# the kernel's parameters, latency draws and state arrays (run_kernel's arguments after the tape), in that order
STATE_FIELDS = ("pi", "pf", "ch", "lat_ent", "lat_resp", "lat_md", "st", "rq", "rqf", "orr", "orf", "lv", "used",
                "rp", "fl", "flf", "ac", "heap", "act", "cm", "dm", "mdl", "nt")


@structref.register
class _TapeType(nb.types.StructRef):
    """The kernel's tape: the arrays of :func:`_tape`'s tuple as fields named :data:`TAPE_FIELDS`."""

    def preprocess_fields(self, fields):
        return tuple((name, nb.types.unliteral(typ)) for name, typ in fields)


@structref.register
class _StateType(nb.types.StructRef):
    """A run's parameters, latency draws and state arrays as fields named :data:`STATE_FIELDS`."""

    def preprocess_fields(self, fields):
        return tuple((name, nb.types.unliteral(typ)) for name, typ in fields)


def _struct_maker(struct_type, fields: tuple[str, ...]):
    """A function of compiled code only: ``make(values)`` is a ``struct_type`` holding the tuple ``values`` as
    ``fields`` (in that order). Helpers take the structs (a pointer each) instead of their arrays: numba passes
    every member of every array argument separately (~7 words an array), which cost a fifth of the passive run."""

    def make(values):
        raise TypeError("compiled code only")

    @overload(make)
    def make_impl(values):
        typ = struct_type(list(zip(fields, values.types)))
        code = "def impl(values):\n    x = structref.new(typ)\n"
        code += "".join(f"    x.{name} = values[{k}]\n" for k, name in enumerate(fields))
        scope = {"structref": structref, "typ": typ}
        exec(code + "    return x\n", scope)
        return scope["impl"]

    return make


_make_tape = _struct_maker(_TapeType, TAPE_FIELDS)
_make_state = _struct_maker(_StateType, STATE_FIELDS)


class _View(nb.types.Type):
    """A borrowed pointer to a structref's fields: what every helper takes instead of the structref itself, whose
    reference count numba would raise and lower (atomically) on every call and field access. The caller keeps the
    structref alive while a view of it is used (:func:`_keep`)."""

    def __init__(self, ref_type: nb.types.StructRef) -> None:
        self.ref_type = ref_type
        self.payload = ref_type.get_data_type()
        super().__init__(name=f"View({ref_type})")

    @property
    def field_dict(self) -> dict:
        return self.ref_type.field_dict


@register_model(_View)
class _ViewModel(models.PrimitiveModel):
    def __init__(self, dmm, fe_type):
        super().__init__(dmm, fe_type, dmm.lookup(fe_type.payload).get_value_type().as_pointer())


@infer_getattr
class _ViewAttribute(AttributeTemplate):
    key = _View

    def generic_resolve(self, typ, attr):
        return typ.field_dict.get(attr)


@lower_getattr_generic(_View)
def _view_getattr(context, builder, typ, val, attr):
    fields = cgutils.create_struct_proxy(typ.payload)(context, builder, ref=val)
    return imputils.impl_ret_borrowed(context, builder, typ.field_dict[attr], getattr(fields, attr))


@lower_setattr_generic(_View)
def _view_setattr(context, builder, sig, args, attr):
    (view_type, val_type), (ptr, val) = sig.args, args
    fields = cgutils.create_struct_proxy(view_type.payload)(context, builder, ref=ptr)
    field_type = view_type.field_dict[attr]
    new = context.cast(builder, val, val_type, field_type)
    old = getattr(fields, attr)
    context.nrt.incref(builder, field_type, new)
    context.nrt.decref(builder, field_type, old)
    setattr(fields, attr, new)


@intrinsic
def _view(typingctx, ref):
    """The :class:`_View` of structref ``ref``."""
    if not isinstance(ref, nb.types.StructRef):
        return None

    def codegen(context, builder, signature, args):
        return structref._Utils(context, builder, ref).get_data_pointer(args[0])

    return _View(ref)(ref), codegen


@intrinsic
def _keep(typingctx, a, b):
    """No code: a use of ``a`` and ``b``, so that numba releases them only after the views of them are done."""

    def codegen(context, builder, signature, args):
        return context.get_dummy_value()

    return nb.types.none(a, b), codegen


@nb.njit(cache=True)
def run_kernel(tp, pi, pf, ch, lat_ent, lat_resp, lat_md, st, rq, rqf, orr, orf, lv, used, rp, fl, flf, ac, heap, act,
               cm, dm, mdl, nt):
    """One run: fills ``st`` (counters, ``st[S_OVER]``: redo with more room) and the row/order/fill arrays.

    ``ch``: children (time_ns, quantity, style code, offset_ticks, parent_id), in schedule order, ``st[S_NCH]``
    of them (a POV run appends the ones it sends). ``mdl``: the subscribed tape events (POV: the trade prints),
    ``nt``: the POV policy's no-trade windows. ``st`` comes with ``S_NOW`` = start, ``S_END`` = end; ``cm`` (consumed liquidity) and ``dm`` (actions due per time) are
    open-addressing maps filled with ``EMPTY``. Every array is borrowed (see :func:`_borrow`) for the loop and
    handed to the helpers in the tape and state structs (:data:`TAPE_FIELDS`, :data:`STATE_FIELDS`).
    """
    b = _borrow
    t = _make_tape((b(tp[0]), b(tp[1]), b(tp[2]), b(tp[3]), b(tp[4]), b(tp[5]), b(tp[6]), b(tp[7]), b(tp[8]),
                    b(tp[9]), b(tp[10]), b(tp[11]), b(tp[12]), b(tp[13]), b(tp[14]), b(tp[15]), b(tp[16]),
                    b(tp[17]), b(tp[18]), b(tp[19]), b(tp[20]), b(tp[21]), b(tp[22]), b(tp[23]), b(tp[24]),
                    b(tp[25]), b(tp[26])))
    s = _make_state((b(pi), b(pf), b(ch), b(lat_ent), b(lat_resp), b(lat_md), b(st), b(rq), b(rqf), b(orr), b(orf),
                     b(lv), b(used), b(rp), b(fl), b(flf), b(ac), b(heap), b(act), b(cm), b(dm), b(mdl), b(nt)))
    _loop(_view(t), _view(s))
    _keep(t, s)


@nb.njit(cache=True)
def _batch(tp, state, chs, sides, starts, ends, first, filled, paid, fees):
    pi, st, rq, rqf, orr, orf, lv = state.pi, state.st, state.rq, state.rqf, state.orr, state.orf, state.lv
    used = state.used
    fl, flf, ac, cm, dm = state.fl, state.flf, state.ac, state.cm, state.dm
    for k in range(first, len(starts)):
        st[:] = 0
        st[S_NOW], st[S_END], st[S_VIEW], st[S_LASTARR], st[S_LASTRESP] = starts[k], ends[k], -1, NONE, NONE
        st[S_NCH] = 1
        pi[P_SIDE], pi[P_CLOSE] = sides[k], ends[k]
        state.ch = chs[k:k + 1]
        _loop(tp, state)
        if st[S_OVER]:
            return k
        n = st[S_NFILL]
        q, p, f = 0, 0, 0.0
        for m in range(1, n + 1):  # in fill order, as Python's sum()
            q += fl[m, F_SIZE]
            p += fl[m, F_PRICE] * fl[m, F_SIZE]
            f += flf[m]
        filled[k], paid[k], fees[k] = q, p, f
        # back to the state of a fresh run: zero what this one wrote
        rq[:st[S_NREQ] + 1] = 0
        rqf[:st[S_NREQ] + 1] = 0
        orr[:st[S_NREQ] + 1] = 0
        orf[:, :st[S_NREQ] + 1] = 0
        lv[:st[S_NLVL] + 1] = 0
        used[:2, :st[S_NUSED] + 1] = 0
        fl[:n + 1] = 0
        flf[:n + 1] = 0
        ac[:st[S_NACT] + 1] = 0
        cm[:] = EMPTY
        dm[:] = EMPTY
    return len(starts)


@nb.njit(cache=True)
def run_batch(tp, pi, pf, chs, sides, starts, ends, lat_ent, lat_resp, lat_md, st, rq, rqf, orr, orf, lv, used, rp,
              fl, flf, ac, heap, act, cm, dm, mdl, nt, first, filled, paid, fees):
    """Runs ``first:`` of a batch of one-child runs: run ``k`` sends ``chs[k]`` on side ``sides[k]`` from
    ``starts[k]`` to ``ends[k]``, where it cancels what is open (the label executor), and puts its filled size,
    paid (sum of price × size) and fees (currency, summed in fill order) in ``filled/paid/fees[k]``. Returns the
    first run not done (``len(starts)``: all; else that run needs more room and is redone from there by the
    caller). Arrays as in :func:`run_kernel` (``mdl``, ``nt`` empty: no subscription).
    """
    b = _borrow
    t = _make_tape((b(tp[0]), b(tp[1]), b(tp[2]), b(tp[3]), b(tp[4]), b(tp[5]), b(tp[6]), b(tp[7]), b(tp[8]),
                    b(tp[9]), b(tp[10]), b(tp[11]), b(tp[12]), b(tp[13]), b(tp[14]), b(tp[15]), b(tp[16]),
                    b(tp[17]), b(tp[18]), b(tp[19]), b(tp[20]), b(tp[21]), b(tp[22]), b(tp[23]), b(tp[24]),
                    b(tp[25]), b(tp[26])))
    s = _make_state((b(pi), b(pf), b(chs), b(lat_ent), b(lat_resp), b(lat_md), b(st), b(rq), b(rqf), b(orr), b(orf),
                     b(lv), b(used), b(rp), b(fl), b(flf), b(ac), b(heap), b(act), b(cm), b(dm), b(mdl), b(nt)))
    done = _batch(_view(t), _view(s), b(chs), b(sides), b(starts), b(ends), first, b(filled), b(paid), b(fees))
    _keep(t, s)
    return done


# -- the Python side: inputs, room, outputs --------------------------------------
_LATENCY_TYPES = (Constant, Normal, LogNormal)


_TAPES: "weakref.WeakKeyDictionary[object, tuple]" = weakref.WeakKeyDictionary()


def supports(replay, config, strategy) -> bool:
    """True when :func:`run` reproduces the Python engine for this tape, config and strategy.

    The strategy must be exactly a :class:`ChildOrderExecutor` or a :class:`PovExecutor` (subclasses change their
    behaviour) that has not run yet and keeps its class's subscription (:attr:`ChildOrderExecutor.fresh`; for POV
    also a policy that has not run), the latency models constant, normal or lognormal, and every notional
    (price × size summed over a request's fills) must fit in int64.
    """
    loop = vars(type(strategy)).get("compiled_loop")  # set on those two classes only, not inherited
    if loop is not None and not strategy.fresh:
        return False
    if loop == "pov":
        if strategy.policy.last_time_ns is not None:
            return False
        extra = strategy.policy.cap
    elif loop == "children":
        extra = 0
    else:
        return False
    return supports_config(replay, config, extra + sum(c.quantity for c in strategy.children))


def supports_config(replay, config, total_quantity: int) -> bool:
    """True when the compiled loop can run ``config`` on ``replay`` for children of ``total_quantity`` in all:
    constant, normal or lognormal latencies, and notionals that fit in int64."""
    if not all(type(m) in _LATENCY_TYPES for m in (config.entry_latency, config.response_latency, config.md_latency)):
        return False
    return getattr(config, "impact", None) is None and 4 * _tape(replay)[1] * int(total_quantity) < 2**63


_BLOCK_SHIFT = 4
BLOCK = 1 << _BLOCK_SHIFT  # tape events per block of the skip summaries (_block_bounds)
_COALESCE = 8  # own level events fewer than this many tape events apart are advanced in one call
_I64_MIN, _I64_MAX = np.iinfo(np.int64).min, np.iinfo(np.int64).max
_LEVEL_KINDS = (K_PARTIAL_CANCEL, K_DELETE, K_EXECUTE_VISIBLE, K_TRADE, K_LEVEL_SET)  # act on the own queue there


def _level_lists(replay) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per level (key price × 2 + (side > 0), sorted): the tape indices of the events at that level on which
    ``advance_level`` acts (:data:`_LEVEL_KINDS`), as keys, offsets (one more than keys) and the indices."""
    idx = np.flatnonzero(np.isin(replay.kind, _LEVEL_KINDS) & (replay.side != 0))
    keys = replay.price[idx] * 2 + (replay.side[idx] > 0)
    order = np.argsort(keys, kind="stable")  # tape order within a level
    keys, idx = keys[order], idx[order]
    first = np.flatnonzero(np.diff(keys, prepend=_I64_MIN) != 0) if len(keys) else np.zeros(0, np.int64)
    return (np.ascontiguousarray(keys[first]), np.append(first, len(keys)).astype(np.int64),
            np.ascontiguousarray(idx, np.int64))


def _block_bounds(replay, side: int, win_price: np.ndarray, win_size: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per block of :data:`BLOCK` tape events, for own queues on ``side`` at a price ``p`` (``x`` = ``p × side``):
    ``lo``, ``hi`` such that no event of the block can act on the queue unless ``lo <= x`` or ``hi > x``.

    The events that can, other than the level's own: a snapshot (always), an add of the other side at or through
    ``p`` (also a level-set growing it, unless halted), an execution or print of this side through ``p``, and
    the window's last level of this side beyond ``p`` (the queue leaves the window)."""
    kind, n = replay.kind, len(replay.kind)
    x = replay.price * side
    cross = ((replay.side == -side) & ~replay.halted
             & ((kind == K_ADD) | ((kind == K_LEVEL_SET) & (replay.level_delta > 0))))
    through = (replay.side == side) & np.isin(kind, (K_EXECUTE_VISIBLE, K_EXECUTE_HIDDEN, K_TRADE))
    m = -(-n // BLOCK)
    lo, hi = np.full(m * BLOCK, _I64_MAX), np.full(m * BLOCK, _I64_MIN)
    lo[:n][cross] = x[cross]  # acts iff p × side >= the add's price × side
    lo[:n][through] = x[through] + 1  # iff strictly through
    lo[:n][kind == K_SNAPSHOT_BEGIN] = _I64_MIN
    if len(win_price):
        out = win_size > 0
        hi[:n][out] = win_price[out] * side  # iff p is beyond the window's last level
    return lo.reshape(m, BLOCK).min(axis=1), hi.reshape(m, BLOCK).max(axis=1)


def _tape(replay) -> tuple[tuple, int]:
    """The kernel's tape tuple (tp.ts = ts_ns ... tp.bhi_ask, as the kernel indexes it: :data:`TAPE_FIELDS`) and
    the largest |price|. Computed once per :class:`ReplayData` and kept while it lives."""
    hit = _TAPES.get(replay)
    if hit is None:
        s = replay.snapshots
        wb, wa = replay.window_columns(1), replay.window_columns(-1)
        tp = (replay.ts_ns, replay.kind, replay.side, replay.price, replay.size, replay.add_idx, replay.level_delta,
              replay.level_size, replay.halted, replay.last_snapshot_begin, replay._lvl_keys, replay._lvl_idx,
              s.bid_price, s.bid_size, s.ask_price, s.ask_size, wb[0], wb[1], wa[0], wa[1],
              *_level_lists(replay), *_block_bounds(replay, 1, *wb), *_block_bounds(replay, -1, *wa))
        top = max(int(np.abs(a).max(initial=0)) for a in (replay.price, s.bid_price, s.ask_price))
        hit = _TAPES[replay] = (tp, top)
    return hit


def _draws(model, seed: np.random.SeedSequence | None, n: int) -> tuple[np.ndarray, bool]:
    """``n`` successive ``model.sample`` values (ns) from the generator of ``seed`` (made only when the model draws),
    and whether the model is constant (no draws)."""
    if type(model) is Constant:
        return np.array([model.sample(0, None)], np.int64), True
    rng = np.random.default_rng(seed)
    if type(model) is Normal:
        return np.maximum(np.rint(rng.normal(model.mean_ns, model.jitter_ns, n)), 0.0).astype(np.int64), False
    med, sigma = model.median_ns, model.sigma  # LogNormal: math.exp as in sample()
    return np.array([round(med * math.exp(sigma * z)) for z in rng.standard_normal(n).tolist()], np.int64), False


def _pow2(n: int) -> int:
    """The smallest power of two >= ``n``."""
    return 1 << max(int(n) - 1, 1).bit_length()


def _params(engine, side: int, replace_after_ns: int, max_replaces: int | None,
            finish_with_market: bool) -> tuple[np.ndarray, np.ndarray]:
    """The kernel's int and float parameters (``pi``, ``pf``) for the executor settings given."""
    cfg, r = engine.config, engine.replay
    inst = r.instrument
    model = MODEL_L3 if r.is_l3 else cfg.queue_model.code
    pi = np.zeros(_NP, np.int64)
    pi[[P_START, P_END, P_LOT, P_TICK, P_WINDOW, P_MODEL, P_STOP, P_OVERTAKE, P_SIDE, P_RA, P_FINISH, P_PSCALE,
        P_SSCALE]] = (r.session_start_ns, r.session_end_ns, inst.lot_size, inst.tick_size, r.window_levels, model,
                      r.index_at(r.session_end_ns) + 1, cfg.allow_overtaking, side, replace_after_ns,
                      finish_with_market, inst.price_scale, inst.size_scale)
    pi[P_MAXR] = -1 if max_replaces is None else max_replaces
    pi[P_CLOSE] = NONE
    f = cfg.fees
    pf = np.array([cfg.queue_model.power, f.maker_bps, f.taker_bps, f.maker_per_unit, f.taker_per_unit, 0.0,
                   inst.multiplier], np.float64)
    return pi, pf


def _latencies(cfg, pi: np.ndarray, room: int, md_events: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Entry, response and market-data latency draws for a run with ``room`` and ``md_events`` subscribed tape
    events (sets the constant flags in ``pi``)."""
    models = (cfg.entry_latency, cfg.response_latency, cfg.md_latency)
    seeds = [None] * 3 if all(type(m) is Constant for m in models) else np.random.SeedSequence(cfg.seed).spawn(3)
    (ent, pi[P_CENT]), (resp, pi[P_CRESP]), (md, pi[P_CMD]) = (
        _draws(m, s, k) for m, s, k in zip(models, seeds, (room, 2 * room, 6 * room + md_events)))
    return ent, resp, md


def _state(room: int, levels: int) -> tuple[np.ndarray, ...]:
    """Fresh state arrays for runs of ``room`` requests: ``st, rq, rqf, orr, orf, lv, used, rp, fl, flf, ac, heap,
    act, cm, dm`` as :func:`run_kernel` takes them."""
    ac = np.zeros((4 * room, 2), np.int64)  # scheduled sends and checks: several per child
    return (
        np.zeros(_NS, np.int64),
        np.zeros((room, _NQ), np.int64), np.zeros(room, np.float64),  # rq, rqf
        np.zeros((room, _NO), np.int64),  # orr
        np.zeros((3, room), np.float64),  # orf: ahead, pending ahead per order; scratch per queue place
        np.zeros((room, _NL), np.int64),  # lv
        np.zeros((5, room), np.int64),  # used (index, volume); scratch entry, remaining, fills
        np.zeros((room + levels + 16, 4), np.int64),  # rp
        np.zeros((room, _NF), np.int64), np.zeros(room, np.float64),  # fl, flf
        ac,
        np.empty((8 * room, 8), np.int64),  # heap
        np.empty(room, np.int64),  # act
        np.full((_pow2(2 * room), 3), EMPTY, np.int64),  # cm: (side, price) key, consumed size, refresh index
        np.full((_pow2(2 * len(ac)), 3), EMPTY, np.int64),  # dm: time, first and last action due then
    )


_NO_EVENTS, _NO_WINDOWS = np.zeros(0, np.int64), np.zeros((0, 2), np.int64)  # no subscription, no windows


def _child_rows(children) -> np.ndarray:
    """Children as the kernel's (time_ns, quantity, style code, offset_ticks, parent_id) rows."""
    codes = STYLE_CODES
    return np.fromiter(chain.from_iterable((c.time_ns, c.quantity, codes[c.style], c.offset_ticks, c.parent_id)
                                           for c in children), np.int64, 5 * len(children)).reshape(len(children), 5)


def run(engine, strategy, start_ns: int | None,
        end_ns: int | None) -> Callable[[], tuple[pd.DataFrame, pd.DataFrame]]:
    """:meth:`Engine.run` for a :class:`ChildOrderExecutor` or :class:`PovExecutor` (see :func:`supports`),
    compiled. Returns what builds the order log and the fills (the frames of :class:`~tickreplay.engine.RunResult`)
    from the run's arrays: the strategy's state is final when this returns, the frames are built when called."""
    from tickreplay.schedule.base import ChildOrder

    cfg, r = engine.config, engine.replay
    start = int(r.session_start_ns if start_ns is None else start_ns)
    end = int(r.session_end_ns if end_ns is None else end_ns)
    given = _child_rows(strategy.children)
    tp = _tape(r)[0]
    pi, pf = _params(engine, strategy.side, strategy.replace_after_ns, strategy.max_replaces,
                     strategy.finish_with_market)
    policy = getattr(strategy, "policy", None)
    mdl, nt = _NO_EVENTS, _NO_WINDOWS
    if policy is not None:  # PovExecutor
        mdl = r.indices_of(tuple(strategy.subscribe))
        nt = np.array(policy.no_trade, np.int64).reshape(len(policy.no_trade), 2)
        pi[[P_POV, P_POVMIN, P_POVMAX, P_POVCAP, P_POVLOT, P_POVSTART, P_POVEND, P_POVSTYLE, P_POVOFF,
            P_POVPARENT]] = (1, policy.min_child, policy.max_child, policy.cap, policy.lot_size,
                             NONE if policy.start_ns is None else policy.start_ns,
                             NONE if policy.end_ns is None else policy.end_ns, STYLE_CODES[strategy.style],
                             strategy.offset_ticks, strategy.parent_id)
        pf[PF_RATE] = policy.target_rate
    room = 4 * len(given) + 64
    while True:
        ent, resp, md = _latencies(cfg, pi, room, len(mdl))
        arrays = _state(room, r.levels)
        st = arrays[0]
        st[S_NOW], st[S_END], st[S_VIEW], st[S_LASTARR], st[S_LASTRESP] = start, end, -1, NONE, NONE
        st[S_NCH], st[S_LASTMD], st[S_LASTT] = len(given), NONE, NONE
        if policy is not None:
            st[S_MVOL], st[S_SENT] = policy.market_volume, policy.sent
        ch = np.concatenate([given, np.zeros((room if policy is not None else 0, 5), np.int64)])
        run_kernel(tp, pi, pf, ch, ent, resp, md, *arrays, mdl, nt)
        if not st[S_OVER]:
            break
        room *= 2
    _, rq, rqf, orr, _, _, _, _, fl, flf = arrays[:10]
    strategy.unpriced = int(st[S_UNPRICED])
    if policy is not None:
        n0 = len(given)
        strategy.children.extend(ChildOrder(int(t), int(q), strategy.style, strategy.offset_ticks,
                                            strategy.parent_id, n0 + m)
                                 for m, (t, q) in enumerate(ch[n0:st[S_NCH], :2].tolist()))
        policy.market_volume, policy.sent = int(st[S_MVOL]), int(st[S_SENT])
        policy.last_time_ns = None if st[S_LASTT] == NONE else int(st[S_LASTT])
    n_req, n_fill = int(st[S_NREQ]), int(st[S_NFILL])
    rq, rqf, orr, fl, flf = rq[1:n_req + 1], rqf[1:n_req + 1], orr[:n_req + 1], fl[1:n_fill + 1], flf[1:n_fill + 1]
    return lambda: (_orders(r, rq, rqf, orr), _fills(fl, flf, orr))


def run_labels(engine, sides: np.ndarray, children: np.ndarray, starts: np.ndarray, ends: np.ndarray,
               replace_after_ns: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Many one-child runs in one compiled call: run ``k`` executes ``children[k]`` (a row as :func:`_child_rows`
    makes: a :class:`ChildOrderExecutor` of that child alone, side ``sides[k]``) from trader time ``starts[k]`` to
    ``ends[k]``, where it cancels whatever is still open — the overlay's counterfactual label runs.

    Each run is exactly :meth:`Engine.run` of that executor (same seed, so the same latency draws for every run).
    Returns per run the filled size, paid (sum of price × size) and fees (currency). Call only when
    :func:`supports_config` holds for the largest child.
    """
    cfg, r = engine.config, engine.replay
    ch = np.ascontiguousarray(children, np.int64)
    sides, starts, ends = (np.ascontiguousarray(a, np.int64) for a in (sides, starts, ends))
    tp = _tape(r)[0]
    pi, pf = _params(engine, 1, replace_after_ns, None, False)
    filled, paid, fees = np.zeros(len(ch), np.int64), np.zeros(len(ch), np.int64), np.zeros(len(ch), np.float64)
    room, first = 4 + 64, 0  # as run() for one child
    while first < len(ch):
        ent, resp, md = _latencies(cfg, pi, room)
        first = run_batch(tp, pi, pf, ch, sides, starts, ends, ent, resp, md, *_state(room, r.levels), _NO_EVENTS,
                          _NO_WINDOWS, first, filled, paid, fees)
        room *= 2
    return filled, paid, fees


def _vocabulary(*words: str) -> pd.api.extensions.ExtensionArray:
    """Output strings as a "string" array: a column is ``take`` of codes (no per-row Python, no ``astype``)."""
    return pd.array(list(words), dtype="string")


_ACTIONS = _vocabulary("new", "cancel", "modify")
_TYPES = _vocabulary("", "market", "limit")
_ORDER_STATUS = _vocabulary("pending", "open", "filled", "cancelled", "rejected")
_ROW_STATUS = _vocabulary(*ROW_STATUSES)
_REASONS = _vocabulary(*REASONS)
_LIQ = _vocabulary("none", "maker", "taker")
_ROW_LIQ = _vocabulary("", "maker", "taker", "mixed")
_HOWS = _vocabulary("walk", _HOW_NAMES[HOW_QUEUE], _HOW_NAMES[HOW_THROUGH])  # codes _HOW_WALK = 0, 1, 2


def _touch(r, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Best bid, best ask and mid at tape indices ``idx`` (0, 0, NaN before the first event)."""
    s = r.snapshots
    ok = idx >= 0
    k = np.where(ok, idx, 0)
    b = np.where(ok, s.bid_price[k, 0], 0)
    a = np.where(ok, s.ask_price[k, 0], 0)
    with np.errstate(invalid="ignore"):
        mid = np.where(ok & (b > 0) & (a > 0), (b + a) / 2.0, np.nan)
    return b, a, mid


def _frame(columns: pd.Index, values: dict) -> pd.DataFrame:
    """A frame of ``values`` (column name → 1-D array of one length) in the order of ``columns``: one 2-D block
    per numpy dtype (stacked once) and one per extension array, without the constructor's per-column work."""
    groups: dict = {}
    blocks = []
    for k, name in enumerate(columns):
        v = values[name]
        if isinstance(v, np.ndarray):
            groups.setdefault(v.dtype, []).append(k)
        else:
            blocks.append((v, np.array([k])))
    for ks in groups.values():
        blocks.append((np.stack([values[columns[k]] for k in ks]), np.array(ks)))
    n = len(values[columns[0]])
    return create_dataframe_from_blocks(blocks, pd.RangeIndex(n), columns)


_ORDER_INDEX, _FILL_INDEX = pd.Index(list(ORDER_LOG_COLUMNS)), pd.Index(list(FILL_COLUMNS))


def _orders(r, q: np.ndarray, fees: np.ndarray, orr: np.ndarray) -> pd.DataFrame:
    """The order log from the kernel's rows, in the dtypes of :meth:`Engine._result`."""
    oid = q[:, Q_OID]
    o = orr[oid]
    filled = q[:, Q_FILLED]
    liq = (q[:, Q_MAKER] > 0).astype(np.int64) + 2 * (q[:, Q_TAKER] > 0)  # codes of _ROW_LIQ
    with np.errstate(invalid="ignore", divide="ignore"):
        avg = np.where(filled > 0, q[:, Q_NOTIONAL] / np.where(filled > 0, filled, 1), np.nan)
    big = np.flatnonzero(np.abs(q[:, Q_NOTIONAL]) >= 2**53)  # exact int / int, as Python divides
    avg[big] = [int(x) / int(y) for x, y in zip(q[big, Q_NOTIONAL], filled[big])]
    bd, ad, md = _touch(r, q[:, Q_DECIDX])
    ba, aa, ma = _touch(r, q[:, Q_ARRIDX])
    return _frame(_ORDER_INDEX, {
        "request_id": np.arange(1, len(q) + 1, dtype=np.int64), "order_id": oid, "parent_id": o[:, O_PARENT],
        "action": _ACTIONS.take(q[:, Q_ACTION]), "side": o[:, O_SIDE].astype(np.int8),
        "type": _TYPES.take(o[:, O_TYPE]),
        "price": np.where(q[:, Q_PRICE] == NONE, -1, q[:, Q_PRICE]),
        "quantity": np.where(q[:, Q_QTY] == NONE, -1, q[:, Q_QTY]),
        "status": _ROW_STATUS.take(q[:, Q_STATUS]), "reject_reason": _REASONS.take(q[:, Q_REJECT]),
        "open_quantity": q[:, Q_OPEN], "filled": filled, "liquidity": _ROW_LIQ.take(liq), "fees": fees,
        "avg_price": avg, "rested": q[:, Q_RESTED] > 0, "queue_ahead": q[:, Q_QAHEAD],
        "order_status": _ORDER_STATUS.take(o[:, O_STATUS]), "order_filled": o[:, O_FILLED],
        "final_price": np.where(o[:, O_PRICE] == NONE, -1, o[:, O_PRICE]), "final_quantity": o[:, O_QTY],
        "unfilled": o[:, O_QTY] - o[:, O_FILLED], "reason": _REASONS.take(o[:, O_REASON]),
        "queue_unknown": o[:, O_QU] > 0, "queue_unknown_ns": o[:, O_QUNS],
        "decision_ns": q[:, Q_DECNS], "arrival_ns": q[:, Q_ARRNS], "response_ns": q[:, Q_RESPNS],
        "bid_decision": bd, "ask_decision": ad, "mid_decision": md, "bid_arrival": ba, "ask_arrival": aa,
        "mid_arrival": ma, "decision_idx": q[:, Q_DECIDX], "arrival_idx": q[:, Q_ARRIDX],
    })


def _fills(fl: np.ndarray, fee: np.ndarray, orr: np.ndarray) -> pd.DataFrame:
    """The fills table from the kernel's fill records, in the dtypes of :meth:`Engine._result`."""
    o = orr[fl[:, F_OID]]
    return _frame(_FILL_INDEX, {
        "fill_id": np.arange(1, len(fl) + 1, dtype=np.int64), "order_id": fl[:, F_OID], "parent_id": o[:, O_PARENT],
        "side": o[:, O_SIDE].astype(np.int8), "price": fl[:, F_PRICE], "size": fl[:, F_SIZE],
        "liquidity": _LIQ.take(fl[:, F_LIQ]), "fee": fee, "decision_ns": o[:, O_DECNS], "arrival_ns": o[:, O_ARRNS],
        "exchange_ns": fl[:, F_EX], "response_ns": fl[:, F_RESP], "tape_index": fl[:, F_J],
        "how": _HOWS.take(fl[:, F_HOW]),
    })
