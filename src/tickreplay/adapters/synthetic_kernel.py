"""The numba core of the synthetic order-flow generator: one pass over pre-drawn random numbers.

The caller (:mod:`tickreplay.adapters.synthetic`) owns the random numbers
(drawn from a seeded ``numpy.random.Generator``), the parameters and the
state arrays; this kernel only turns them into events. It stops when the
session ends, the draws run out, or an output/order buffer could overflow,
and can be called again to continue from the saved state.

Layout. Side index ``r``: 0 = bids (+1), 1 = asks (-1). Prices are integer
ticks on a dense grid ``0..G-1``. Each level is a FIFO doubly linked list of
order slots (``head``/``tail``, ``o_next``/``o_prev``) with its total visible
size in ``vol``. A resting order lives in a slot; ``o_oid`` holds its order id
(ids count up from 1 and are never reused) and a slot freed by a fill or a
cancel goes on the ``free`` stack for the next order, so the order arrays are
as long as the most orders resting at once, not the day's order count. Live
slots sit in ``live`` (swap-remove) so a uniformly random resting order can
be picked for cancellation in O(1).

Float parameters ``fp`` (index: meaning) and int parameters ``ip`` are
packed by :func:`tickreplay.adapters.synthetic._pack`; the state arrays
``fs`` (float) and ``st`` (int) are described by the ``F_*``/``S_*`` indices.

Planted impact (``ip[I_PLANTED]`` = 1; model in :mod:`tickreplay.adapters.metaorders`).
The reference quotes follow ``m·(1 + fs[F_IMPACT])``. ``pk`` (3 × K): per-trade
decay factors, weights and state of the exponentials that sum to the kernel
``G(ℓ)/G0``; every trade decays the state by one lag; a background market
order's push ``±G0`` enters at lag 1 (it counts itself), a parent's peak at
its last fill at lag 0.
Child slots (``ch_f``: time s, price normal, jump uniform, jump normal;
``ch_i``: parent, shares (0 for a spare slot that only takes the carry),
lead quantity, final slot 0/1) interleave with the arrivals: when one is
due before the next arrival, the state moves to its time (the price with the
child's own draws), it walks the book, and the arrival's exponential waiting
time left over stays pending (``F_WAIT``), so the arrival process is unchanged
in law and the arrival draws are consumed as before. Per parent ``par_f`` =
(Y·σ_daily/V^δ, running path, latent price at arrival, latent price after the
last fill; ticks) and ``par_i`` = (side, filled shares, shares carried to the
next child, target shares, state 0 waiting / 1 running / 2 done); ``rec`` gets (first row, end row, child) of each child's
executions in this call's output. *Tracking*: before every event (once the
opening book is seeded) :func:`_track` puts each touch on its reference quote
(levels through it cancelled, a touch behind it moved up; the rule and why in
:mod:`tickreplay.adapters.metaorders`), at most two events per resting order,
so the output check keeps room for three per resting order. With
``I_PLANTED`` = 0 none of this runs.

Shared latent price (``ip[I_LATENT]`` = 1; :mod:`tickreplay.adapters.latent`). ``lat`` holds the latent price
in ticks on a grid of ``ip[I_LAT_STEP_NS]`` ns from the open; an event stamped ``ts`` ns after the open quotes
around ``lat[ts // step]`` (its reference quotes are set from that price, not from the price at the previous
event), so venues with different event times see one price at any time. The arrival draws that move the
price on a plain day (``z[0]``, ``u[7]``, ``z[2]``) are drawn and left unused, so the order flow consumes the
plain day's random numbers. Not combined with planted impact. With ``I_LATENT`` = 0 ``lat`` is empty and unread.
``ip[I_TRACK]`` = 1 (a latent day that tracks its path) runs the planted day's *Tracking* alone: before every
event each touch is put on its reference quote from the price in force at the state's time (the previous event's).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

# float parameters
P_HALF_SPREAD, P_DECAY, P_SIZE_MU, P_SIZE_SIGMA, P_ROUND_SHARE, P_MKT_MU, P_MKT_SHARE = range(7)
P_CANCEL, P_PARTIAL, P_HIDDEN, P_BURST_ETA, P_BURST_TAU, P_JUMP_RATE, P_JUMP_SD = range(7, 14)
P_SIGMA, P_BASE_RATE, P_INTRADAY_U, P_NEWS_T, P_NEWS_JUMP, P_NEWS_MULT, P_NEWS_HL = range(14, 21)
P_REFILL_HL, P_REFILL_PER_SHARE, P_T_END, P_SESSION_LEN, P_M_LO, P_M_HI = range(21, 27)
P_DELTA, P_G0 = range(27, 29)  # planted impact: square-root exponent; propagator push per trade (a fraction)
N_FP = 29
# int parameters
I_DEPTH, I_LOT, I_SPREAD, I_PLANTED = range(4)
I_LATENT, I_LAT_STEP_NS = range(4, 6)  # shared latent price: on (1) / off (0); its grid step, ns
I_TRACK = 6  # tracking (the touches put on their reference quotes before each event) without planted impact
N_IP = 7
# float state
F_T, F_MID, F_EXCITE, F_REFILL_BID, F_REFILL_ASK, F_NEWS_DONE = range(6)
F_IMPACT, F_SQRT, F_WAIT = range(6, 9)  # planted: impact offset A, Σ running parents' paths, pending wait
N_FS = 9
# int state
S_NEXT_OID, S_N_LIVE, S_BEST_BID, S_BEST_ASK, S_NLEV_BID, S_NLEV_ASK, S_SEED_LEFT, S_N_FREE, S_NEXT_SLOT = range(9)
S_NEXT_CHILD, S_HAS_WAIT, S_N_REC = range(9, 12)  # planted: next child, a wait is pending, fill records
N_ST = 12

K_ADD, K_PARTIAL, K_DELETE, K_EXEC, K_HIDDEN = 1, 2, 3, 4, 5
N_U, N_Z = 10, 3  # uniform and normal draws per arrival
OPEN_CLOSE_DECAY_S = 1800.0  # time constant of the intraday U shape


@njit(cache=True)
def _emit(out_ts, out_kind, out_side, out_px, out_sz, out_oid, n, ts, kind, r, px, sz, oid):
    out_ts[n] = ts
    out_kind[n] = kind
    out_side[n] = 1 - 2 * r
    out_px[n] = px
    out_sz[n] = sz
    out_oid[n] = oid
    return n + 1


@njit(cache=True)
def _add(st, head, tail, vol, o_size, o_tick, o_side, o_next, o_prev, o_pos, live, o_oid, free, r, p, size):
    """Append a new order at the back of level (r, p); return its slot (its id is ``o_oid[slot]``)."""
    if st[S_N_FREE] > 0:
        st[S_N_FREE] -= 1
        slot = free[st[S_N_FREE]]
    else:
        slot = st[S_NEXT_SLOT]
        st[S_NEXT_SLOT] = slot + 1
    o_oid[slot] = st[S_NEXT_OID]
    st[S_NEXT_OID] += 1
    o_size[slot] = size
    o_tick[slot] = p
    o_side[slot] = r
    o_next[slot] = -1
    o_prev[slot] = tail[r, p]
    if tail[r, p] >= 0:
        o_next[tail[r, p]] = slot
    else:
        head[r, p] = slot
    tail[r, p] = slot
    if vol[r, p] == 0:
        bi = S_BEST_BID + r
        nl = S_NLEV_BID + r
        if st[nl] == 0 or (r == 0 and p > st[bi]) or (r == 1 and p < st[bi]):
            st[bi] = p
        st[nl] += 1
    vol[r, p] += size
    n = st[S_N_LIVE]
    live[n] = slot
    o_pos[slot] = n
    st[S_N_LIVE] = n + 1
    return slot


@njit(cache=True)
def _unlink(st, head, tail, vol, o_tick, o_side, o_next, o_prev, o_pos, live, free, slot):
    """Take a fully used order out of its level and the live list, free its slot; fix the best if its level
    emptied."""
    r = o_side[slot]
    p = o_tick[slot]
    nx = o_next[slot]
    pv = o_prev[slot]
    if pv >= 0:
        o_next[pv] = nx
    else:
        head[r, p] = nx
    if nx >= 0:
        o_prev[nx] = pv
    else:
        tail[r, p] = pv
    last = st[S_N_LIVE] - 1
    pos = o_pos[slot]
    moved = live[last]
    live[pos] = moved
    o_pos[moved] = pos
    st[S_N_LIVE] = last
    free[st[S_N_FREE]] = slot
    st[S_N_FREE] += 1
    if vol[r, p] == 0:
        nl = S_NLEV_BID + r
        bi = S_BEST_BID + r
        st[nl] -= 1
        if st[nl] == 0:
            st[bi] = -1
        elif st[bi] == p:
            j = p
            step = -1 if r == 0 else 1
            j += step
            while vol[r, j] == 0:
                j += step
            st[bi] = j


@njit(cache=True)
def _walk(st, head, tail, vol, o_size, o_tick, o_side, o_next, o_prev, o_pos, live, o_oid, free,
          out_ts, out_kind, out_side, out_px, out_sz, out_oid, n, ts, r, qty, limit):
    """Execute ``qty`` against resting side ``r`` best-first, not past tick ``limit`` (-1: none).

    Never trades the last occupied level of a side, so market orders cannot
    empty it. Returns (events written so far, size left, size taken, levels emptied).
    """
    rem = qty
    taken = 0
    emptied = 0
    while rem > 0:
        if st[S_NLEV_BID + r] <= 1:
            break
        p = st[S_BEST_BID + r]
        if limit >= 0 and ((r == 1 and p > limit) or (r == 0 and p < limit)):
            break
        slot = head[r, p]
        take = min(rem, o_size[slot])
        n = _emit(out_ts, out_kind, out_side, out_px, out_sz, out_oid, n, ts, K_EXEC, r, p, take, o_oid[slot])
        rem -= take
        taken += take
        o_size[slot] -= take
        vol[r, p] -= take
        if o_size[slot] == 0:
            if vol[r, p] == 0:
                emptied += 1
            _unlink(st, head, tail, vol, o_tick, o_side, o_next, o_prev, o_pos, live, free, slot)
    return n, rem, taken, emptied


@njit(cache=True)
def _draw_size(mu, sigma, z, u, round_share, lot):
    s = int(math.floor(math.exp(mu + sigma * z) + 0.5))
    if s < 1:
        s = 1
    if u < round_share:
        s = int(math.floor(s / lot + 0.5)) * lot
        if s < lot:
            s = lot
    return s


@njit(cache=True)
def _behind(u, decay, depth):
    """Ticks behind the reference quote: truncated geometric on 0..depth-1."""
    if decay <= 0.0:
        k = int(u * depth)
    else:
        q = math.exp(-decay)
        k = int(math.log(1.0 - u * (1.0 - q ** depth)) / math.log(q))
    return min(k, depth - 1)


@njit(cache=True)
def _decay(fs, fp, dt):
    """Move the decaying intensities (self-excitation, refills) on by ``dt`` seconds."""
    ln2 = math.log(2.0)
    fs[F_EXCITE] *= math.exp(-dt / fp[P_BURST_TAU])
    if fp[P_REFILL_HL] > 0.0:
        decay = math.exp(-ln2 * dt / fp[P_REFILL_HL])
        fs[F_REFILL_BID] *= decay
        fs[F_REFILL_ASK] *= decay


@njit(cache=True)
def _step(fs, fp, m, dt, news, z_price, u_jump, z_jump, t_new):
    """Move the decaying intensities and the efficient price ``m`` (ticks) on by ``dt`` seconds to ``t_new``."""
    _decay(fs, fp, dt)
    m *= math.exp(fp[P_SIGMA] * math.sqrt(dt * news) * z_price)
    if u_jump < fp[P_JUMP_RATE] * dt:
        m *= math.exp(fp[P_JUMP_SD] * z_jump)
    if fs[F_NEWS_DONE] == 0.0 and fp[P_NEWS_T] >= 0.0 and t_new >= fp[P_NEWS_T]:
        m *= math.exp(fp[P_NEWS_JUMP])
        fs[F_NEWS_DONE] = 1.0
    if m < fp[P_M_LO]:
        m = min(2.0 * fp[P_M_LO] - m, fp[P_M_HI])
    elif m > fp[P_M_HI]:
        m = max(2.0 * fp[P_M_HI] - m, fp[P_M_LO])
    return m


@njit(cache=True)
def _impact(pk, fs):
    """Set the impact offset from the kernel state and the running parents' paths."""
    acc = 0.0
    for k in range(pk.shape[1]):
        acc += pk[1, k] * pk[2, k]
    fs[F_IMPACT] = acc + fs[F_SQRT]


@njit(cache=True)
def _trade(pk, fs, push):
    """One trade on the clock: every earlier push ages one lag and ``push`` (a fraction) enters at lag 1, so
    until the next trade it is worth ``push·G(1)/G0`` (a trade counts itself: the mid before trade n carries
    ``G(n − i)`` of trade i, the propagator calibration's convention)."""
    for k in range(pk.shape[1]):
        pk[2, k] = (pk[2, k] + push) * pk[0, k]
    _impact(pk, fs)


@njit(cache=True)
def _move_level(st, head, tail, vol, o_size, o_tick, o_side, o_next, o_prev, o_pos, live, o_oid, free,
                out_ts, out_kind, out_side, out_px, out_sz, out_oid, n, ts, r, p, to):
    """Every order of level (r, p), front first: a DELETE, then (``to`` ≥ 0) an ADD of the same size at tick
    ``to`` (a new order id, at the back of that level, the level's own order kept); ``to`` < 0 only cancels."""
    slot = head[r, p]
    while slot >= 0:
        nxt = o_next[slot]
        have = o_size[slot]
        o_size[slot] = 0
        vol[r, p] -= have
        n = _emit(out_ts, out_kind, out_side, out_px, out_sz, out_oid, n, ts, K_DELETE, r, p, have, o_oid[slot])
        _unlink(st, head, tail, vol, o_tick, o_side, o_next, o_prev, o_pos, live, free, slot)
        if to >= 0:
            new = _add(st, head, tail, vol, o_size, o_tick, o_side, o_next, o_prev, o_pos, live, o_oid, free,
                       r, to, have)
            n = _emit(out_ts, out_kind, out_side, out_px, out_sz, out_oid, n, ts, K_ADD, r, to, have, o_oid[new])
        slot = nxt
    return n


@njit(cache=True)
def _track(st, head, tail, vol, o_size, o_tick, o_side, o_next, o_prev, o_pos, live, o_oid, free,
           out_ts, out_kind, out_side, out_px, out_sz, out_oid, n, ts, bid_ref, ask_ref):
    """Planted mode: put each touch on its reference quote (module docstring, *Tracking*). A level through
    its reference (bids above ``bid_ref``, asks below ``ask_ref``) is cancelled — the last level of a side
    moves to the reference instead — then a touch behind its reference moves up to it."""
    for r in range(2):
        ref = bid_ref if r == 0 else ask_ref
        step = 1 if r == 0 else -1  # + when a price is through the reference
        while st[S_NLEV_BID + r] > 0 and (st[S_BEST_BID + r] - ref) * step > 0:
            to = -1 if st[S_NLEV_BID + r] > 1 else ref
            n = _move_level(st, head, tail, vol, o_size, o_tick, o_side, o_next, o_prev, o_pos, live, o_oid, free,
                            out_ts, out_kind, out_side, out_px, out_sz, out_oid, n, ts, r, st[S_BEST_BID + r], to)
    for r in range(2):
        ref = bid_ref if r == 0 else ask_ref
        if st[S_NLEV_BID + r] > 0 and st[S_BEST_BID + r] != ref:
            n = _move_level(st, head, tail, vol, o_size, o_tick, o_side, o_next, o_prev, o_pos, live, o_oid, free,
                            out_ts, out_kind, out_side, out_px, out_sz, out_oid, n, ts, r, st[S_BEST_BID + r], ref)
    return n


@njit(cache=True)
def _child(st, head, tail, vol, o_size, o_tick, o_side, o_next, o_prev, o_pos, live, o_oid, free,
           out_ts, out_kind, out_side, out_px, out_sz, out_oid, n, ts, c, m, fp, fs, pk, ch_i, par_f, par_i, rec):
    """Child slot ``c`` of the hidden trader at ``ts``: take its shares plus its parent's carry at the touch,
    never more than the level's size less one share (the touch price does not move), carry what is left;
    then set its parent's path, and end the parent when it is filled or this is its final slot."""
    j = ch_i[c, 0]
    if par_i[j, 4] == 2:  # done: a spare slot it does not need
        return n
    side = par_i[j, 0]
    if par_i[j, 4] == 0:  # the parent's first child: its arrival
        par_f[j, 2] = m * (1.0 + fs[F_IMPACT])
        par_i[j, 4] = 1
    r = 1 if side > 0 else 0  # a buy takes the asks
    want = ch_i[c, 1] + par_i[j, 2]
    taken = 0
    if want > 0 and st[S_NLEV_BID + r] > 1:
        p = st[S_BEST_BID + r]
        qty = min(want, vol[r, p] - 1)
        if qty > 0:
            first = n
            n, rem, taken, emptied = _walk(st, head, tail, vol, o_size, o_tick, o_side, o_next, o_prev, o_pos,
                                           live, o_oid, free, out_ts, out_kind, out_side, out_px, out_sz, out_oid,
                                           n, ts, r, qty, p)
            k = st[S_N_REC]
            rec[k, 0] = first
            rec[k, 1] = n
            rec[k, 2] = c
            st[S_N_REC] = k + 1
            _trade(pk, fs, 0.0)
    par_i[j, 1] += taken
    par_i[j, 2] = want - taken
    done = par_i[j, 1] == par_i[j, 3] or ch_i[c, 3] != 0
    q = par_i[j, 1] if done else ch_i[c, 2]
    path = side * par_f[j, 0] * q ** fp[P_DELTA]
    fs[F_SQRT] += path - par_f[j, 1]
    par_f[j, 1] = path
    if done:  # the peak leaves the running paths and decays with the kernel from here
        fs[F_SQRT] -= path
        par_f[j, 1] = 0.0
        for i in range(pk.shape[1]):
            pk[2, i] += path
        par_i[j, 4] = 2
    _impact(pk, fs)
    if taken > 0 or done:  # the latent price after its latest fill (a parent the session cut keeps its last)
        par_f[j, 3] = m * (1.0 + fs[F_IMPACT])
    return n


@njit(cache=True)
def run(U, Z, offset, fp, ip, fs, st, head, tail, vol, o_size, o_tick, o_side, o_next, o_prev, o_pos, live,
        o_oid, free, out_ts, out_kind, out_side, out_px, out_sz, out_oid, pk, ch_f, ch_i, par_f, par_i, rec, lat):
    """Generate events from arrival ``offset`` of the draws ``U``/``Z`` (planted arrays and the shared latent
    price ``lat``: module docstring).

    Returns (next offset, events written, session finished).
    """
    n = 0
    cap = len(out_ts)
    n_draws = U.shape[0]
    depth = ip[I_DEPTH]
    lot = ip[I_LOT]
    spread = ip[I_SPREAD]
    planted = ip[I_PLANTED] != 0
    latent = ip[I_LATENT] != 0
    track = planted or ip[I_TRACK] != 0
    lat_step = ip[I_LAT_STEP_NS]
    n_lat = len(lat)
    n_children = ch_f.shape[0]
    ln2 = math.log(2.0)
    i = offset
    while i < n_draws:
        if n + (3 if track else 1) * st[S_N_LIVE] + 3 > cap or st[S_N_LIVE] + 2 > len(o_size):
            return i, n, False  # (tracking writes at most two events per resting order)
        u = U[i]
        z = Z[i]
        t = fs[F_T]
        m = fs[F_MID]
        quoted = m
        if planted:
            quoted = min(max(m * (1.0 + fs[F_IMPACT]), fp[P_M_LO]), fp[P_M_HI])
        bid_ref = int(math.floor(quoted - fp[P_HALF_SPREAD] + 0.5))
        ask_ref = bid_ref + spread
        if track and st[S_SEED_LEFT] == 0:
            n = _track(st, head, tail, vol, o_size, o_tick, o_side, o_next, o_prev, o_pos, live, o_oid, free,
                       out_ts, out_kind, out_side, out_px, out_sz, out_oid, n, int(t * 1e9), bid_ref, ask_ref)
        if st[S_SEED_LEFT] > 0:  # the opening book: limit orders at the open, alternating sides
            i += 1
            r = st[S_SEED_LEFT] % 2
            st[S_SEED_LEFT] -= 1
            k = _behind(u[3], fp[P_DECAY], depth)
            p = bid_ref - k if r == 0 else ask_ref + k
            sz = _draw_size(fp[P_SIZE_MU], fp[P_SIZE_SIGMA], z[1], u[6], fp[P_ROUND_SHARE], lot)
            slot = _add(st, head, tail, vol, o_size, o_tick, o_side, o_next, o_prev, o_pos, live, o_oid, free, r, p, sz)
            n = _emit(out_ts, out_kind, out_side, out_px, out_sz, out_oid, n, int(t * 1e9), K_ADD, r, p, sz,
                      o_oid[slot])
            continue
        # intensities at the current time
        act = 1.0 + fp[P_INTRADAY_U] * (math.exp(-t / OPEN_CLOSE_DECAY_S)
                                         + math.exp(-(fp[P_SESSION_LEN] - t) / OPEN_CLOSE_DECAY_S))
        news = 1.0
        if fp[P_NEWS_T] >= 0.0 and t >= fp[P_NEWS_T]:
            news = 1.0 + (fp[P_NEWS_MULT] - 1.0) * math.exp(-ln2 * (t - fp[P_NEWS_T]) / fp[P_NEWS_HL])
        lam_new = fp[P_BASE_RATE] * act * news + fs[F_EXCITE]
        lam_cancel = fp[P_CANCEL] * st[S_N_LIVE]
        rb = fs[F_REFILL_BID]
        ra = fs[F_REFILL_ASK]
        total = lam_new + lam_cancel + rb + ra
        wait = fs[F_WAIT] if st[S_HAS_WAIT] != 0 else -math.log(1.0 - u[0])  # Exp(1) time to the arrival
        dt = wait / total
        t_new = t + dt
        if planted and st[S_NEXT_CHILD] < n_children:
            c = st[S_NEXT_CHILD]
            tc = ch_f[c, 0]
            if tc < t_new and tc < fp[P_T_END]:  # a child is due first; the arrival keeps its draws
                fs[F_WAIT] = max(0.0, wait - total * (tc - t))
                st[S_HAS_WAIT] = 1
                m = _step(fs, fp, m, tc - t, news, ch_f[c, 1], ch_f[c, 2], ch_f[c, 3], tc)
                fs[F_T] = tc
                fs[F_MID] = m
                n = _child(st, head, tail, vol, o_size, o_tick, o_side, o_next, o_prev, o_pos, live, o_oid, free,
                           out_ts, out_kind, out_side, out_px, out_sz, out_oid, n, int(tc * 1e9), c, m, fp, fs,
                           pk, ch_i, par_f, par_i, rec)
                st[S_NEXT_CHILD] = c + 1
                continue
        st[S_HAS_WAIT] = 0
        i += 1
        if t_new >= fp[P_T_END]:
            fs[F_T] = fp[P_T_END]
            return i, n, True
        # state moves on to t_new
        fs[F_T] = t_new
        ts = int(t_new * 1e9)
        if latent:  # the shared price in force at the event's own timestamp; the event quotes around it
            _decay(fs, fp, dt)
            m = lat[min(ts // lat_step, n_lat - 1)]
            bid_ref = int(math.floor(m - fp[P_HALF_SPREAD] + 0.5))
            ask_ref = bid_ref + spread
        else:
            m = _step(fs, fp, m, dt, news, z[0], u[7], z[2], t_new)
        fs[F_MID] = m
        x = u[1] * total
        if x < lam_cancel:
            slot = live[min(int(u[4] * st[S_N_LIVE]), st[S_N_LIVE] - 1)]
            r = o_side[slot]
            p = o_tick[slot]
            have = o_size[slot]
            if u[5] < fp[P_PARTIAL] and have > 1:
                cut = 1 + min(int(u[9] * (have - 1)), have - 2)
                o_size[slot] = have - cut
                vol[r, p] -= cut
                n = _emit(out_ts, out_kind, out_side, out_px, out_sz, out_oid, n, ts, K_PARTIAL, r, p, cut, o_oid[slot])
            else:
                o_size[slot] = 0
                vol[r, p] -= have
                n = _emit(out_ts, out_kind, out_side, out_px, out_sz, out_oid, n, ts, K_DELETE, r, p, have, o_oid[slot])
                _unlink(st, head, tail, vol, o_tick, o_side, o_next, o_prev, o_pos, live, free, slot)
            continue
        sz = _draw_size(fp[P_SIZE_MU], fp[P_SIZE_SIGMA], z[1], u[6], fp[P_ROUND_SHARE], lot)
        if x < lam_cancel + rb + ra:  # refill of a swept touch, at the reference quote
            r = 0 if x < lam_cancel + rb else 1
            if r == 0:
                p = bid_ref
                if st[S_NLEV_ASK] > 0 and p >= st[S_BEST_ASK]:
                    p = st[S_BEST_ASK] - 1
            else:
                p = ask_ref
                if st[S_NLEV_BID] > 0 and p <= st[S_BEST_BID]:
                    p = st[S_BEST_BID] + 1
            slot = _add(st, head, tail, vol, o_size, o_tick, o_side, o_next, o_prev, o_pos, live, o_oid, free, r, p, sz)
            n = _emit(out_ts, out_kind, out_side, out_px, out_sz, out_oid, n, ts, K_ADD, r, p, sz, o_oid[slot])
            continue
        buy = u[2] < 0.5
        y = (x - lam_cancel - rb - ra) / lam_new
        if y < fp[P_MKT_SHARE]:  # market order
            fs[F_EXCITE] += fp[P_BURST_ETA]
            rr = 1 if buy else 0
            msz = _draw_size(fp[P_MKT_MU], fp[P_SIZE_SIGMA], z[1], u[6], fp[P_ROUND_SHARE], lot)
            if u[8] < fp[P_HIDDEN]:
                if st[S_NLEV_BID + rr] > 0:
                    n = _emit(out_ts, out_kind, out_side, out_px, out_sz, out_oid, n, ts, K_HIDDEN, rr,
                              st[S_BEST_BID + rr], msz, 0)
                    if planted:
                        _trade(pk, fs, fp[P_G0] if buy else -fp[P_G0])
                continue
            n, rem, taken, emptied = _walk(st, head, tail, vol, o_size, o_tick, o_side, o_next, o_prev, o_pos,
                                           live, o_oid, free, out_ts, out_kind, out_side, out_px, out_sz, out_oid,
                                           n, ts, rr, msz, -1)
            if emptied > 0 and fp[P_REFILL_HL] > 0.0:
                fs[F_REFILL_BID + rr] += taken * fp[P_REFILL_PER_SHARE]
            if planted and taken > 0:
                _trade(pk, fs, fp[P_G0] if buy else -fp[P_G0])
            continue
        # limit order; a marketable one executes first and rests what is left (or drops it if it would cross)
        k = _behind(u[3], fp[P_DECAY], depth)
        r = 0 if buy else 1
        p = bid_ref - k if buy else ask_ref + k
        opp = 1 - r
        if st[S_NLEV_BID + opp] > 0 and ((buy and p >= st[S_BEST_ASK]) or (not buy and p <= st[S_BEST_BID])):
            n, sz, taken, emptied = _walk(st, head, tail, vol, o_size, o_tick, o_side, o_next, o_prev, o_pos,
                                          live, o_oid, free, out_ts, out_kind, out_side, out_px, out_sz, out_oid, n, ts,
                                          opp, sz, p)
            if emptied > 0 and fp[P_REFILL_HL] > 0.0:
                fs[F_REFILL_BID + opp] += taken * fp[P_REFILL_PER_SHARE]
            if planted and taken > 0:  # the book catching up with the latent price: on the clock, no push
                _trade(pk, fs, 0.0)
            if sz == 0:
                continue
            if st[S_NLEV_BID + opp] > 0 and ((buy and p >= st[S_BEST_ASK]) or (not buy and p <= st[S_BEST_BID])):
                continue
        slot = _add(st, head, tail, vol, o_size, o_tick, o_side, o_next, o_prev, o_pos, live, o_oid, free, r, p, sz)
        n = _emit(out_ts, out_kind, out_side, out_px, out_sz, out_oid, n, ts, K_ADD, r, p, sz, o_oid[slot])
    return i, n, False


@njit(cache=True)
def latent_steps(fp, fs, m, k0, step_s, z, u_jump, z_jump, out):
    """The latent price (ticks) at grid steps ``k0 + 1 .. k0 + len(out)`` of ``step_s`` seconds from ``m`` at step
    ``k0``: the generator's own price rule (:func:`_step`: the variance raised after the news as it stands at the
    start of the step, a Poisson jump, the news jump at the first step at or after the news time, reflection at
    the grid margins), one normal ``z``, one uniform and one normal for the jump per step. Returns the last."""
    ln2 = math.log(2.0)
    for j in range(len(out)):
        t = (k0 + j) * step_s
        news = 1.0
        if fp[P_NEWS_T] >= 0.0 and t >= fp[P_NEWS_T]:
            news = 1.0 + (fp[P_NEWS_MULT] - 1.0) * math.exp(-ln2 * (t - fp[P_NEWS_T]) / fp[P_NEWS_HL])
        m = _step(fs, fp, m, step_s, news, z[j], u_jump[j], z_jump[j], (k0 + j + 1) * step_s)
        out[j] = m
    return m


def new_state(grid: int, capacity: int) -> dict[str, np.ndarray]:
    """Empty book and order arrays for a price grid of ``grid`` ticks and ``capacity`` order slots."""
    return {
        "head": np.full((2, grid), -1, np.int64),
        "tail": np.full((2, grid), -1, np.int64),
        "vol": np.zeros((2, grid), np.int64),
        "o_size": np.zeros(capacity, np.int64),
        "o_tick": np.zeros(capacity, np.int64),
        "o_side": np.zeros(capacity, np.int64),
        "o_next": np.zeros(capacity, np.int64),
        "o_prev": np.zeros(capacity, np.int64),
        "o_pos": np.zeros(capacity, np.int64),
        "live": np.zeros(capacity, np.int64),
        "o_oid": np.zeros(capacity, np.int64),
        "free": np.zeros(capacity, np.int64),
    }


ORDER_ARRAYS = ("o_size", "o_tick", "o_side", "o_next", "o_prev", "o_pos", "live", "o_oid", "free")
