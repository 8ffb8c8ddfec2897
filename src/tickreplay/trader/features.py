"""Features of one child-order decision, from the trader-time view only.

:func:`compute_features` reads nothing but a :class:`~tickreplay.book.view.BookView`
(the book after the last event the trader has received) and views of earlier
moments obtained from it with :meth:`BookView.earlier`, which can never look
past the view's own row — so no feature can see the future. Windowed
features are differences of the view's running totals (:class:`~tickreplay.book.view.Flow`)
between now and as of exchange time ``now - window`` (the trader's clock
minus the window; events in ``(now - window, last seen]`` count); no state is
carried between calls, so the signature needs no history object.

Features are **side-relative** so one model serves buys and sells: *near*
is our own side of the book (the bid for a buy: where a passive child
queues), *far* the opposite side (the asks for a buy: what a market child
takes). Directional features are multiplied by the child's side, so positive
means pressure in our trading direction (against us: for a buy, buying
pressure, a rising mid). Sizes are in the instrument's size units, prices in
ticks, times in seconds. A missing quantity (empty side, nothing seen yet)
is NaN, which LightGBM handles natively.
"""

from __future__ import annotations

import math
from datetime import datetime, timezone
from functools import lru_cache
from zoneinfo import ZoneInfo

import numpy as np

from tickreplay.book.view import BookView

NS = 1_000_000_000
OFI_WINDOWS_S = (1, 5, 30)
FLOW_WINDOWS_S = (10, 60)
DEPTH_LEVELS = 3

FEATURE_NAMES: tuple[str, ...] = (
    "spread_ticks",
    "near_depth_1", "far_depth_1", f"near_depth_{DEPTH_LEVELS}", f"far_depth_{DEPTH_LEVELS}",
    "imbalance_1", f"imbalance_{DEPTH_LEVELS}",
    *(f"ofi_{w}s" for w in OFI_WINDOWS_S),
    *(f"realised_vol_{w}s_ticks" for w in FLOW_WINDOWS_S),
    *(f"trades_{w}s" for w in FLOW_WINDOWS_S),
    *(f"signed_volume_{w}s" for w in FLOW_WINDOWS_S),
    "mid_move_10s_ticks",
    "since_last_trade_s",
    "time_of_day_h",
    "child_over_far_depth_1",
    "child_over_near_depth_1",
    "slack_s",
)
"""Names of :func:`compute_features`' columns, in order (see the module docstring for signs and units):

* ``spread_ticks``; ``near/far_depth_k``: size at the first level / first k levels of our / the other side;
* ``imbalance_k``: (near − far) / (near + far) over the first k levels (positive: more size on our side,
  which tends to precede a move against us);
* ``ofi_Ws``: side × order-flow imbalance at the touch over the last W s (size units);
* ``realised_vol_Ws_ticks``: square root of the summed squared mid changes over the last W s, ticks;
* ``trades_Ws``: trade prints in the last W s; ``signed_volume_Ws``: side × aggressor-signed traded volume;
* ``mid_move_10s_ticks``: side × change of the mid over the last 10 s, ticks;
* ``since_last_trade_s``: trader clock minus the exchange time of the last print seen;
* ``time_of_day_h``: the trader clock in hours after local midnight (instrument time zone);
* ``child_over_far_depth_1`` / ``child_over_near_depth_1``: child quantity over the far touch size
  (how much of the touch a market child takes) and over the near touch size (the queue a passive child joins);
* ``slack_s``: how long the schedule can wait for this child (seconds).
"""


@lru_cache(maxsize=64)
def _utc_offset_s(tz: str, hour_s: int) -> int:
    """UTC offset in seconds of time zone ``tz`` at ``hour_s`` (seconds since the epoch, a whole hour)."""
    off = datetime.fromtimestamp(hour_s, timezone.utc).astimezone(ZoneInfo(tz)).utcoffset()
    return int(off.total_seconds()) if off is not None else 0


def _ratio(a: float, b: float) -> float:
    return a / b if b > 0 else math.nan


def compute_features(view: BookView, side: int, quantity: int, slack_ns: int) -> np.ndarray:
    """The features (:data:`FEATURE_NAMES`, float64) of sending ``quantity`` on ``side`` now, from ``view`` only."""
    if side not in (1, -1):
        raise ValueError(f"side must be +1 or -1, got {side}")
    out = np.full(len(FEATURE_NAMES), math.nan)
    tick = view.instrument.tick_size
    top = view.top(DEPTH_LEVELS)
    bid, ask = top.bid_size.astype(np.float64), top.ask_size.astype(np.float64)
    near, far = (bid, ask) if side == 1 else (ask, bid)
    spread = view.spread()
    k = 0
    out[k] = spread / tick if spread is not None else math.nan
    out[k + 1], out[k + 2] = near[0], far[0]
    out[k + 3], out[k + 4] = near.sum(), far.sum()
    out[k + 5] = _ratio(near[0] - far[0], near[0] + far[0])
    out[k + 6] = _ratio(near.sum() - far.sum(), near.sum() + far.sum())
    k += 7
    now_flow = view.flow
    seen = view.as_of_ns is not None
    now = view.now_ns
    for w in OFI_WINDOWS_S:
        if seen:
            out[k] = side * (now_flow.ofi - view.earlier(now - w * NS).flow.ofi)
        k += 1
    past = {w: view.earlier(now - w * NS).flow if seen else None for w in FLOW_WINDOWS_S}
    for w in FLOW_WINDOWS_S:
        if past[w] is not None:
            out[k] = math.sqrt(max(now_flow.mid_var_ticks2 - past[w].mid_var_ticks2, 0.0))
        k += 1
    for w in FLOW_WINDOWS_S:
        if past[w] is not None:
            out[k] = now_flow.trades - past[w].trades
        k += 1
    for w in FLOW_WINDOWS_S:
        if past[w] is not None:
            out[k] = side * (now_flow.signed_volume - past[w].signed_volume)
        k += 1
    if seen:
        then = view.earlier(now - 10 * NS).mid()
        out[k] = side * (view.mid() - then) / tick
    k += 1
    last = view.last_trade()
    out[k] = (view.now_ns - last[2]) / NS if last is not None else math.nan
    k += 1
    now_s = view.now_ns // NS
    local_s = now_s + _utc_offset_s(view.instrument.timezone, now_s - now_s % 3600)
    out[k] = (local_s % 86_400 + (view.now_ns % NS) / NS) / 3600.0
    k += 1
    out[k] = _ratio(quantity, far[0])
    out[k + 1] = _ratio(quantity, near[0])
    out[k + 2] = slack_ns / NS
    return out


def compute_features_many(replay, seen_idx: np.ndarray, now_ns: np.ndarray, side: int, quantity: int,
                          slack_ns: int) -> np.ndarray:
    """:func:`compute_features` for many decisions at once, ``(n, len(FEATURE_NAMES))``, the same values bit for bit.

    Row ``n`` is ``compute_features(BookView(replay, seen_idx[n], now_ns[n]), side, quantity, slack_ns)``: the
    same reads (rows ``seen_idx[n]`` and earlier only), as array operations over all decisions.
    """
    if side not in (1, -1):
        raise ValueError(f"side must be +1 or -1, got {side}")
    from tickreplay.book.view import _flow_arrays

    i = np.asarray(seen_idx, np.int64)
    now = np.asarray(now_ns, np.int64)
    n = len(i)
    out = np.full((n, len(FEATURE_NAMES)), math.nan)
    if not n:
        return out
    inst, s = replay.instrument, replay.snapshots
    tick = inst.tick_size
    seen = i >= 0
    ic = np.maximum(i, 0)
    levels = min(DEPTH_LEVELS, s.levels)
    bid = np.where(seen[:, None], s.bid_size[ic, :levels], 0).astype(np.float64)
    ask = np.where(seen[:, None], s.ask_size[ic, :levels], 0).astype(np.float64)
    near, far = (bid, ask) if side == 1 else (ask, bid)

    def best(idx: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Best bid and ask prices and whether both sides are quoted, at rows ``idx`` (-1: nothing)."""
        k = np.maximum(idx, 0)
        both = (idx >= 0) & (s.bid_size[k, 0] > 0) & (s.ask_size[k, 0] > 0)
        return s.bid_price[k, 0], s.ask_price[k, 0], both

    def ratio(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(b > 0, a / np.where(b > 0, b, 1), math.nan)

    bp, ap, quoted = best(i)
    out[:, 0] = np.where(quoted, (ap - bp) / tick, math.nan)
    near_sum, far_sum = near.sum(axis=1), far.sum(axis=1)
    out[:, 1], out[:, 2], out[:, 3], out[:, 4] = near[:, 0], far[:, 0], near_sum, far_sum
    out[:, 5] = ratio(near[:, 0] - far[:, 0], near[:, 0] + far[:, 0])
    out[:, 6] = ratio(near_sum - far_sum, near_sum + far_sum)
    signed, trades, ofi, var = _flow_arrays(replay)

    def at(a: np.ndarray, idx: np.ndarray, zero) -> np.ndarray:
        """Running total ``a`` at rows ``idx``; ``zero`` before the first event."""
        return np.where(idx >= 0, a[np.maximum(idx, 0)], zero)

    ts = replay.ts_ns

    def earlier(window_ns: int) -> np.ndarray:
        return np.minimum(np.searchsorted(ts, now - window_ns, side="right") - 1, i)

    k = 7
    for w in OFI_WINDOWS_S:
        out[:, k] = np.where(seen, side * (at(ofi, i, 0) - at(ofi, earlier(w * NS), 0)), math.nan)
        k += 1
    past = {w: earlier(w * NS) for w in FLOW_WINDOWS_S}
    for w in FLOW_WINDOWS_S:
        out[:, k] = np.where(seen, np.sqrt(np.maximum(at(var, i, 0.0) - at(var, past[w], 0.0), 0.0)), math.nan)
        k += 1
    for w in FLOW_WINDOWS_S:
        out[:, k] = np.where(seen, at(trades, i, 0) - at(trades, past[w], 0), math.nan)
        k += 1
    for w in FLOW_WINDOWS_S:
        out[:, k] = np.where(seen, side * (at(signed, i, 0) - at(signed, past[w], 0)), math.nan)
        k += 1
    bp10, ap10, quoted10 = best(earlier(10 * NS))
    mid = np.where(quoted, (bp + ap) / 2.0, math.nan)
    then = np.where(quoted10, (bp10 + ap10) / 2.0, math.nan)
    out[:, k] = np.where(seen, side * (mid - then) / tick, math.nan)
    k += 1
    j = np.where(seen, replay.last_trade_idx[ic], -1)
    out[:, k] = np.where(j >= 0, (now - ts[np.maximum(j, 0)]) / NS, math.nan)
    k += 1
    now_s = now // NS
    hours = now_s - now_s % 3600
    offsets = {h: _utc_offset_s(inst.timezone, h) for h in np.unique(hours).tolist()}
    local_s = now_s + np.array([offsets[h] for h in hours.tolist()], np.int64)
    out[:, k] = (local_s % 86_400 + (now % NS) / NS) / 3600.0
    k += 1
    out[:, k] = ratio(np.full(n, quantity), far[:, 0])
    out[:, k + 1] = ratio(np.full(n, quantity), near[:, 0])
    out[:, k + 2] = slack_ns / NS
    return out
