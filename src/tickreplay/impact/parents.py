"""Each parent's size, market, mids and measured impact, from its fills and its catalog tape.

**Measured impact** (the quantity :mod:`.fit_sqrt` fits)::

    I = side * (m_end - m_arr) / m_arr          (impact_bps = I * 1e4)

``m_arr``: the book's mid just before ``arrival_ns`` (after every tape event with ``ts_ns < arrival_ns``; a
results-store parent takes the TCA's arrival mid instead). ``m_end``: the mid just after the parent's last fill
(after every tape event with ``ts_ns <=`` the last fill's ``ts_ns``). Both need a two-sided book there, else an
error names the fill row. ``m_post``: the mid ``post_ns`` after the last fill (the permanent part of
:mod:`.fit_ac`; the last two-sided mid at or before that time, the tape's last when it ends earlier:
``post_clamped``).

``Q`` (``quantity``) is the parent's total size; ``V`` (``adv``) and ``σ`` (``daily_vol``) come from the fills
file, or, where it leaves them out, from the parent's day as
measures it (:func:`tickreplay.market.inputs.estimate_inputs` of that one day: its traded volume, and the
realised volatility of 5-minute mid returns scaled to the day).
``duration_days`` = (last fill - arrival) / ``day_ns``, with ``day_ns`` one trading day of 390 minutes (the day
of :class:`~tickreplay.impact.almgren_chriss.ACParams`, ``impact.canonical.SESSION_SECONDS``: a tape longer or
shorter than the session — pre/post-market, a short generated day — must not change the units of η) unless
given. Mids come from the catalog's compiled book: each tape is read once for all its parents, only the
window from just before the first arrival to the last ``m_post`` time, and every parent's mids are looked up
at once (``searchsorted``). ``day_spread_bps`` (the day's time-weighted spread) is measured with the day's
statistics, when they are needed, with ``day_vol`` (the day's own volatility, whatever the fills give).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd

from tickreplay.errors import ConfigError, InputError, TickreplayError
from tickreplay.impact.canonical import SESSION_SECONDS

TRADING_DAY_NS = round(SESSION_SECONDS * 1e9)  # the ACParams trading day, ns

POST_NS = 10 * 60 * 1_000_000_000  # m_post: 10 minutes after the last fill
_LOOKBACK_NS = 60 * 1_000_000_000  # first window before the first arrival (grown until it holds an event)

COLUMNS = ("parent_id", "row", "last_row", "tape", "instrument", "date", "regime", "side", "quantity", "n_fills",
           "arrival_ns", "first_fill_ns", "end_ns", "avg_price", "adv", "daily_vol", "m_arr", "m_end", "m_post",
           "post_clamped", "impact", "impact_bps", "shortfall_bps", "arrival_spread_bps", "day_spread_bps",
           "day_vol", "day_ns", "duration_days", "multiplier")


def _aggregate(fills: pd.DataFrame) -> pd.DataFrame:
    """One row per parent (fills sorted by parent then time, as :func:`.fills.check_fills` leaves them)."""
    codes, _ = pd.factorize(fills["parent_id"])
    start = np.flatnonzero(np.r_[True, codes[1:] != codes[:-1]])
    end = np.r_[start[1:], len(fills)] - 1
    size = fills["size"].to_numpy()
    csize = np.r_[0.0, np.cumsum(size)]
    cnot = np.r_[0.0, np.cumsum(size * fills["price"].to_numpy())]
    q = csize[end + 1] - csize[start]
    p = pd.DataFrame({c: fills[c].to_numpy()[start] for c in ("parent_id", "tape", "instrument", "side",
                                                             "arrival_ns", "adv", "daily_vol")})
    p.insert(1, "row", fills["row"].to_numpy()[start])
    p.insert(2, "last_row", fills["row"].to_numpy()[end])
    p["quantity"] = q
    p["n_fills"] = end - start + 1
    p["first_fill_ns"] = fills["ts_ns"].to_numpy()[start]
    p["end_ns"] = fills["ts_ns"].to_numpy()[end]
    p["avg_price"] = (cnot[end + 1] - cnot[start]) / q
    p["arrival_mid"] = fills["arrival_mid"].to_numpy()[start] if "arrival_mid" in fills else np.nan
    return p


def _read_window(entry, t0: int, t1: int, first_ns: int):
    """Tape events and snapshots from just before ``t0`` (at least one event earlier, when there is one) to ``t1``."""
    back = _LOOKBACK_NS
    while True:
        lo = max(t0 - back, first_ns)
        tape, snaps = entry.read_window(lo, t1)
        if lo == first_ns or (len(tape) and tape.ts_ns[0] < t0):
            return tape, snaps
        back *= 8


def measure_parents(fills: pd.DataFrame, catalog, path: str | Path, *, post_ns: int = POST_NS,
                    day_ns: int | None = None, day_stats_needed: bool = False,
                    day_inputs: Callable[..., Any] | None = None) -> tuple[pd.DataFrame, list[dict]]:
    """The parents of ``fills`` (:func:`.fills.check_fills`) measured on ``catalog``'s tapes (module docstring).

    Returns the parents frame (columns :data:`COLUMNS`) and the provenance of every tape read (``key``,
    ``fingerprint``, ``start_ns``, ``end_ns``). ``path``: the fills' file, named by errors. ``day_stats_needed``:
    measure every tape's day (volatility, spread) even where the fills give ``adv`` and ``daily_vol``.
    ``day_inputs(entry, day_ns)``: the day's :class:`~tickreplay.impact.models.MarketInputs`, called when a day
    must be measured — ``lambda e, d: estimate_inputs([e], day_ns=d).market`` with
    :func:`tickreplay.market.inputs.estimate_inputs` (passed in: ``market`` imports ``impact``, not the reverse).
    """
    from tickreplay.tape import instrument_of

    path = str(path)
    p = _aggregate(fills)
    n = len(p)
    out = {c: np.full(n, np.nan) for c in ("m_arr", "m_end", "m_post", "arrival_spread_bps", "day_spread_bps",
                                           "day_vol", "day_volume", "day_ns", "multiplier")}
    out["post_clamped"] = np.zeros(n, bool)
    regime = np.full(n, "", object)
    date = np.full(n, "", object)
    data = []
    ts_all = fills["ts_ns"].to_numpy()
    for key, idx in p.groupby("tape", sort=True).indices.items():
        first_row = int(p["row"].iat[idx[0]])
        try:
            entry = catalog.find(key)
        except TickreplayError as err:
            raise InputError(path, first_row, "tape", f"unknown tape key: {err}") from None
        inst, extra = instrument_of(entry.folder / "tape.parquet")
        wrong = p["instrument"].to_numpy()[idx] != inst.symbol
        if wrong.any():
            i = idx[int(np.argmax(wrong))]
            raise InputError(path, int(p["row"].iat[i]), "instrument",
                             f"{p['instrument'].iat[i]!r}, but tape {key} is of {inst.symbol!r}")
        span0, span1 = entry.time_span()
        rows_here = fills["tape"].to_numpy() == key
        outside = rows_here & ((ts_all < span0) | (ts_all > span1))
        if outside.any():
            i = int(np.argmax(outside))
            raise InputError(path, int(fills["row"].iat[i]), "ts_ns",
                             f"{ts_all[i]} is outside the time span of tape {key} [{span0}, {span1}] ns")
        arr = p["arrival_ns"].to_numpy()[idx]
        early = arr <= span0
        if early.any():
            i = idx[int(np.argmax(early))]
            raise InputError(path, int(p["row"].iat[i]), "arrival_ns",
                             f"{p['arrival_ns'].iat[i]} is not after the first event of tape {key} ({span0} ns): "
                             "no book before the arrival")
        end = p["end_ns"].to_numpy()[idx]
        need_day = day_stats_needed or bool(np.isnan(p["adv"].to_numpy()[idx]).any()
                                            or np.isnan(p["daily_vol"].to_numpy()[idx]).any())
        if need_day:
            if day_inputs is None:
                raise InputError(path, first_row, "daily_vol", f"the parents on tape {key} need their day measured "
                                 "(no adv/daily_vol in the fills, or vol-spread buckets) and no day_inputs was given")
            try:
                est = day_inputs(entry, day_ns)
            except ConfigError as err:
                raise InputError(path, first_row, "daily_vol", f"cannot measure the day of tape {key} ({err}); "
                                 "give adv and daily_vol in the fills file") from None
            out["day_spread_bps"][idx] = est.spread_bps
            out["day_volume"][idx] = est.adv / inst.size_scale
            out["day_vol"][idx] = est.daily_vol
        tape, snaps = _read_window(entry, int(arr.min()), int(min(end.max() + post_ns, span1)), span0)
        ts = tape.ts_ns
        ask, bid = snaps.ask_price[:, 0], snaps.bid_price[:, 0]
        ok = (ask > 0) & (bid > 0)
        scale = inst.price_scale
        mid = (ask + bid) / (2.0 * scale)

        def mid_at(i_ev: np.ndarray, rows: np.ndarray, fld: str, what: str) -> np.ndarray:
            bad = (i_ev < 0) | ~ok[np.maximum(i_ev, 0)]
            if bad.any():
                j = int(np.argmax(bad))
                raise InputError(path, int(rows[j]), fld, f"no two-sided book on tape {key} {what}")
            return mid[i_ev]

        i_arr = np.searchsorted(ts, arr, side="left") - 1
        out["m_arr"][idx] = mid_at(i_arr, p["row"].to_numpy()[idx], "arrival_ns", "just before the arrival")
        out["arrival_spread_bps"][idx] = (ask[i_arr] - bid[i_arr]) / (ask[i_arr] + bid[i_arr]) * 2e4
        i_end = np.searchsorted(ts, end, side="right") - 1
        out["m_end"][idx] = mid_at(i_end, p["last_row"].to_numpy()[idx], "ts_ns", "just after the last fill")
        last_ok = np.maximum.accumulate(np.where(ok, np.arange(len(ts)), -1))
        i_post = last_ok[np.searchsorted(ts, end + post_ns, side="right") - 1]
        out["m_post"][idx] = mid[i_post]
        out["post_clamped"][idx] = end + post_ns > span1
        out["day_ns"][idx] = day_ns or TRADING_DAY_NS
        out["multiplier"][idx] = inst.multiplier
        regime[idx] = str(extra.get("regime", ""))
        date[idx] = inst.date
        data.append({"key": key, "fingerprint": entry.fingerprint, "start_ns": int(arr.min()),
                     "end_ns": int(end.max())})
    m_arr = np.where(np.isfinite(p["arrival_mid"].to_numpy()), p["arrival_mid"].to_numpy(), out["m_arr"])
    side = p["side"].to_numpy().astype(np.float64)
    res = p.drop(columns="arrival_mid")
    res["adv"] = np.where(np.isnan(res["adv"].to_numpy()), out["day_volume"], res["adv"].to_numpy())
    res["daily_vol"] = np.where(np.isnan(res["daily_vol"].to_numpy()), out["day_vol"], res["daily_vol"].to_numpy())
    res["date"], res["regime"] = date, regime
    res["m_arr"], res["m_end"], res["m_post"] = m_arr, out["m_end"], out["m_post"]
    res["post_clamped"] = out["post_clamped"]
    res["impact"] = side * (out["m_end"] - m_arr) / m_arr
    res["impact_bps"] = res["impact"] * 1e4
    res["shortfall_bps"] = side * (res["avg_price"].to_numpy() - m_arr) / m_arr * 1e4
    res["arrival_spread_bps"] = out["arrival_spread_bps"]
    res["day_spread_bps"], res["day_vol"] = out["day_spread_bps"], out["day_vol"]
    res["day_ns"] = out["day_ns"]
    res["duration_days"] = (res["end_ns"] - res["arrival_ns"]).to_numpy() / out["day_ns"]
    res["multiplier"] = out["multiplier"]
    return res[list(COLUMNS)], data
