"""Position, inventory and realised/unrealised PnL over time, from a run's fills and the mid.

Average-cost accounting, in currency: a fill that adds to the position
moves the average cost; one that reduces it realises
``closed × (price − average cost) × sign(position)``; one that flips it
closes the old position and opens the rest at its price. Unrealised PnL
marks the open position to the mid: ``position × (mid − average cost)``.
Inventory is the position's value at the mid. Rows are every fill (in
execution order) and a mark every ``step_ns`` from ``start_ns`` to ``end_ns``.

Fee sign convention: ``fees`` is the cumulative **net fee paid**, in
currency, with the fills' sign: positive = fees paid (a cost), negative =
rebates earned. Realised PnL is after fees (``realised − fees``: a rebate
adds to it). Printed, it reads as words, never as a bare signed number
(:func:`fees_phrase`: ``fees paid 12.30`` or ``rebates earned 4.10``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from tickreplay.tca.market import MarketSeries

PNL_COLUMNS = ("ts_ns", "event", "position", "avg_cost", "mid", "inventory", "realised_pnl", "unrealised_pnl",
               "total_pnl", "fees")


def _walk(side: np.ndarray, price: np.ndarray, size: np.ndarray, fee: np.ndarray) -> tuple[np.ndarray, ...]:
    """Position (size units), average cost (price units) and realised PnL (price × size units, fees apart)."""
    n = len(side)
    pos_out, avg_out, real_out = np.zeros(n, np.int64), np.zeros(n), np.zeros(n)
    pos, avg, real = 0, 0.0, 0.0
    for k in range(n):
        d = int(side[k]) * int(size[k])
        p = float(price[k])
        if pos == 0 or (d > 0) == (pos > 0):
            avg = (avg * abs(pos) + p * abs(d)) / (abs(pos) + abs(d))
        else:
            closed = min(abs(d), abs(pos))
            real += closed * (p - avg) * (1 if pos > 0 else -1)
            if abs(d) > abs(pos):
                avg = p
        pos += d
        if pos == 0:
            avg = 0.0
        pos_out[k], avg_out[k], real_out[k] = pos, avg, real
    return pos_out, avg_out, real_out


def fees_phrase(fees: float) -> str:
    """Net fees paid (currency; negative = rebate) in words: ``fees paid 12.30`` / ``rebates earned 4.10``."""
    return f"{'fees paid' if fees >= 0 else 'rebates earned'} {abs(fees):,.2f}"


def pnl_table(fills: pd.DataFrame, market: MarketSeries, start_ns: int, end_ns: int, step_ns: int) -> pd.DataFrame:
    """One row per fill and per mark (see module docstring); columns :data:`PNL_COLUMNS`."""
    inst = market.instrument
    f = fills.sort_values(["exchange_ns", "fill_id"], kind="stable")
    pos, avg, real = _walk(f["side"].to_numpy(), f["price"].to_numpy(), f["size"].to_numpy(), f["fee"].to_numpy())
    fee_cum = np.cumsum(f["fee"].to_numpy(dtype=np.float64))
    t_fill = f["exchange_ns"].to_numpy(dtype=np.int64)
    marks = np.arange(start_ns, end_ns + 1, step_ns, dtype=np.int64)
    ts = np.concatenate([t_fill, marks])
    is_fill = np.concatenate([np.ones(len(t_fill), bool), np.zeros(len(marks), bool)])
    order = np.lexsort((~is_fill, ts))  # at equal times the fill comes before the mark
    ts, is_fill = ts[order], is_fill[order]
    # state after the last fill at or before each row (marks carry the previous fill's state)
    k = np.searchsorted(t_fill, ts, side="right") - 1
    fill_rank = np.cumsum(is_fill) - 1  # fills: their own position in execution order
    k = np.where(is_fill, fill_rank, k)
    have = k >= 0
    kk = np.maximum(k, 0)
    position = np.where(have, pos[kk] if len(pos) else 0, 0)
    avg_cost = np.where(have, avg[kk] if len(avg) else 0.0, 0.0)
    realised_units = np.where(have, real[kk] if len(real) else 0.0, 0.0)
    fees = np.where(have, fee_cum[kk] if len(fee_cum) else 0.0, 0.0)
    mid_x2 = market.mid_x2_at(ts).astype(np.float64)
    unit = inst.unit_value  # currency per (price unit × size unit), the contract multiplier included
    realised = realised_units * unit - fees
    unrealised = position * (mid_x2 / 2 - avg_cost) * unit
    return pd.DataFrame({
        "ts_ns": ts, "event": np.where(is_fill, "fill", "mark"), "position": position.astype(np.int64),
        "avg_cost": avg_cost / inst.price_scale, "mid": mid_x2 / 2 / inst.price_scale,
        "inventory": position * mid_x2 / 2 * unit, "realised_pnl": realised, "unrealised_pnl": unrealised,
        "total_pnl": realised + unrealised, "fees": fees,
    }, columns=list(PNL_COLUMNS))
