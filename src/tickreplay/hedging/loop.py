"""The closed hedging loop over days (docs/loop.md).

For each day, observation by observation of the exposure: a breach raises a requirement
(:class:`~tickreplay.hedging.requirements.HedgeBook`); :func:`~tickreplay.hedging.decision.decide` picks the
horizon on the cost-risk curve of the calibration in force (the policy's, :mod:`.policies`) and the AC schedule;
the route is ``single`` (one venue), or with ``[loop.router]`` the router's policy splitting the children across
the day's venues (:class:`~tickreplay.hedging.executors.RoutedExecutor`; the hedge row keeps the shares sent and
filled per venue as JSON, ``route_sent`` / ``route_filled``, the decision record the whole route, and
:attr:`LoopResult.venue_fills` the per-venue fills); an :class:`~tickreplay.hedging.executors.Executor` replays the
children; TCA
measures the shortfall vs the arrival mid; the hedge becomes a measured parent and the calibration is updated
before the next requirement (``every = "hedge"``: once the parent's post-trade mid is known, ``post_ns`` after its
last fill, else at the day's end) or at the day's end (``every = "day"``).

A hedge stays in flight until its last fill (its unfilled rest is then released); a paused requirement (the
news-spike rule) is closed with nothing filled, recorded with its unhedged exposure, and the next look is
``pause_ns`` later. Per day the hedged P&L is ``Σ net_i · (mid_{i+1} − mid_i) − hedge costs`` over the exposure
observations (net = exposure + the hedge position: every hedge filled so far, on this day or an earlier one —
the position is carried across days; historical mids, currency), and the residual risk ``|net| · σ_daily · mid``.
A hedge's cost in that P&L is its **execution shortfall**: the shortfall vs the arrival mid on the filled shares,
without the opportunity part ``s·U·(M1 − M0)`` of the unfilled ones (their price move is already in the exposure
P&L through ``net``); the opportunity part is recorded apart (``opportunity_cost``).

Per hedge, ``predicted_cost`` is the expected cost of the schedule that was executed (AC's trajectory for the
traded quantity, after any participation cap) and ``realised_cost_bps`` the execution shortfall in bps of the
filled notional, so the two compare the same shares; the curve point of the chosen horizon for the required
quantity (constant rate) is kept as ``curve_cost``. On days with a counterfactual (generated days)
``caused_cost_bps`` is the same fills against the day without the hedge (:mod:`.oracle`; NaN elsewhere), and
``abs_caused_error_bps`` the error |predicted − caused| — an oracle: the calibration never reads it.
``eta_source`` says whether the fitted ``eta`` was used (``fit``), replaced by the key's last unclamped one
(``fallback``) or floored (``floor``): :func:`~tickreplay.hedging.decision.usable_eta`.

A ``pause`` rule (news spike) applies around the day's scheduled news event, when it is known: to requirements
from ``pause_ns`` before the event to ``pause_ns`` after it; the next look after a paused requirement is at the
window's end. Outside the window the day is hedged with the neutral rule. A day of that regime with no known
event time (catalog days) is paused throughout, each paused look followed by the next ``pause_ns`` later.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import pandas as pd

from tickreplay.hedging.decision import DecisionConfig, decide, usable_eta
from tickreplay.hedging.executors import Day, Executor, PARENT_COLUMNS, default_executor, load_days, measure_hedge
from tickreplay.hedging.exposure import ExposurePath, generate_exposure, read_exposure
from tickreplay.hedging.loop_config import LoopConfig
from tickreplay.hedging.policies import Policy, make_policy, prior_date, textbook_prior
from tickreplay.hedging.requirements import HedgeBook
from tickreplay.impact.update import update
from tickreplay.schedule.base import ChildOrder, ParentOrder

ROUTE = "single"


@dataclass
class LoopResult:
    """One policy's loop: ``hedges`` (one row per requirement), ``days`` (one row per day), ``exposure`` (per
    observation), ``calibrations`` (per update), ``decisions`` (the full :class:`Decision` records) and, on routed
    loops, ``venue_fills`` (per hedge and venue: shares sent and filled, fills, fees in currency, average price in
    currency per share; empty otherwise)."""

    policy: str
    hedges: pd.DataFrame
    days: pd.DataFrame
    exposure: pd.DataFrame
    calibrations: pd.DataFrame
    decisions: list[dict[str, Any]] = field(default_factory=list)
    venue_fills: pd.DataFrame = field(default_factory=pd.DataFrame)


def load_exposure(cfg: LoopConfig, days: list[Day]) -> ExposurePath:
    """The scenario's exposure over the days' sessions: its file read and checked, or the generated path."""
    sessions = [d.session for d in days]
    if cfg.exposure.file is not None:
        return read_exposure(cfg.path(cfg.exposure.file), [cfg.instrument], sessions)
    kw = dict(cfg.exposure.generate)
    seed = kw.pop("seed", cfg.seed)
    return generate_exposure(sessions, [cfg.instrument], seed, **kw)


def _policy(cfg: LoopConfig, name: str, days: list[Day]) -> Policy:
    from tickreplay.impact.calibration import read_calibration

    file_cal = None if cfg.calibration is None else read_calibration(cfg.path(cfg.calibration), "almgren-chriss")
    first = days[0]
    before = prior_date(first.date, cfg.half_life_days, cfg.prior_weight)

    def prior(key: str):
        day = next((d for d in days if (d.regime or "unlabelled") == key), first)  # the key's inputs
        unit = float(day.mid_at(day.session[0] + 1)) * day.multiplier  # currency per share, as fits are
        return textbook_prior(day.market, unit, cfg.instrument, before)

    return make_policy(name, cfg.update_every, file_cal, prior)


def run_loop(cfg: LoopConfig, policy: str | None = None, days: list[Day] | None = None,
             exposure: ExposurePath | None = None, executor: Executor | None = None,
             updater: Callable = update) -> LoopResult:
    """Run the loop of ``cfg`` with ``policy`` (default: the scenario's) over ``days`` (default: loaded); the
    same inputs give the same tables. ``updater``: the calibration update (``impact.update.update``)."""
    days = load_days(cfg) if days is None else days
    path = load_exposure(cfg, days) if exposure is None else exposure
    executor = executor or default_executor(cfg)
    pol = _policy(cfg, policy or cfg.policy, days)
    dcfg = DecisionConfig(cfg.risk_aversion, cfg.period_ns, cfg.n_horizons)
    times, values = path.for_instrument(cfg.instrument)
    book = HedgeBook(cfg.instrument, cfg.threshold_shares, cfg.target_shares)
    hedges: list[dict] = []
    decisions: list[dict] = []
    day_rows: list[dict] = []
    venue_rows: list[dict] = []
    route = ROUTE if cfg.router is None else executor.policy.label
    obs_rows: list[pd.DataFrame] = []
    fill_t: list[np.ndarray] = []  # every hedge fill so far (ns): the hedge position is carried across days
    fill_q: list[np.ndarray] = []  # signed hedge shares (+ bought)
    for day in days:
        s0, s1 = day.session
        first, hi, last = np.searchsorted(times, [s0, s1, s1 + 1])  # no hedge starts at the close itself
        lo = int(np.searchsorted(times, s0, side="right"))  # nor at the open, before the book is there
        t, e = times[:hi], values[:hi]
        pending: list[tuple[int, dict]] = []  # (time the parent is measured, its row)
        day_parents: list[dict] = []
        in_flight: list[tuple[int, int]] = []  # (end_ns, req_id)
        i = int(lo)
        while i < hi:
            j = hi
            if in_flight:
                in_flight.sort()
                j = int(np.searchsorted(t, in_flight[0][0], side="right"))
            hit = book.next_breach(t[:max(j, i)], e[:max(j, i)], i) if j > i else None
            if hit is None:
                if not in_flight:
                    break
                end, rid = in_flight.pop(0)
                book.close(rid)
                i = max(i, j)
                continue
            i, req = hit
            for ready, row in [p for p in pending if p[0] <= req.time_ns]:
                pol.learn(day.regime, pd.DataFrame([row]), cfg.half_life_days, updater, ready, day.index)
            pending = [p for p in pending if p[0] > req.time_ns]
            cal, cid = pol.in_force(day.regime)
            eta_fitted = np.nan if cal is None else float(cal.params["eta"])
            cal, eta_source = usable_eta(cal, cfg.period_ns, pol.fallback_eta(day.regime))
            floored = eta_source == "floor"
            ref = float(day.mid_at(req.time_ns))
            window = _event_window(day, cfg.pause_ns)
            dec = decide(req, day.market, ref, s1, dcfg, cal, day.regime, cfg.rules, multiplier=day.multiplier,
                         in_event_window=window is None or window[0] <= req.time_ns < window[1])
            d = dec.to_dict()
            d.update(route=route, calibration_id=cid, policy=pol.name, day=day.index, eta_floored=floored,
                     eta_source=eta_source)
            decisions.append(d)
            row = {"hedge": len(hedges), "req_id": req.req_id, "policy": pol.name, "day": day.index,
                   "date": day.date, "regime": day.regime or "", "time_ns": req.time_ns, "side": req.side,
                   "required_shares": req.quantity_shares, "exposure_shares": req.exposure_shares,
                   "traded_shares": dec.traded_shares, "paused": dec.paused, "rule": dec.rule_applied,
                   "route": route, "calibration_id": cid, "eta_floored": floored, "eta_source": eta_source,
                   "eta_fitted": eta_fitted,
                   "eta": dec.coefficients["eta"],
                   "gamma": dec.coefficients["gamma"], "risk_aversion": dec.risk_aversion,
                   "horizon_ns": dec.horizon_ns or 0, "n_children": len(dec.schedule["sizes_shares"]),
                   "predicted_cost": 0.0, "predicted_cost_bps": 0.0, "curve_cost": 0.0, "curve_cost_bps": 0.0,
                   "filled_shares": 0, "realised_cost": 0.0, "realised_cost_bps": np.nan, "opportunity_cost": 0.0,
                   "caused_cost": np.nan, "caused_cost_bps": np.nan,
                   "market_impact_bps": np.nan, "end_ns": req.time_ns, "executor": "",
                   "planted_gamma": np.nan if day.planted_gamma is None else day.planted_gamma}
            if cfg.router is not None:
                row.update(route_sent="{}", route_filled="{}")
            if dec.chosen is not None:
                point = dec.curve[dec.chosen]
                row.update(predicted_cost=dec.schedule["expected_cost"],
                           predicted_cost_bps=dec.schedule["expected_cost_bps"],
                           curve_cost=point["expected_cost"], curve_cost_bps=point["expected_cost_bps"])
                pid = req.req_id + 1
                kids = [ChildOrder(int(ts), int(q), dec.schedule["style"], parent_id=pid, index=k)
                        for k, (ts, q) in enumerate(zip(dec.schedule["times_ns"], dec.schedule["sizes_shares"]))]
                end = min(req.time_ns + int(point["horizon_ns"]), s1)
                parent = ParentOrder(req.side, dec.traded_shares, req.time_ns, max(end, req.time_ns + 1), pid)
                ex = executor.execute(day, req.side, kids, req.time_ns)
                tca, prow = measure_hedge(day, ex, parent, cfg.instrument, cfg.post_ns)
                filled = int(ex.fills["size"].sum()) if len(ex.fills) else 0
                sf = tca["shortfall"]
                opp = float(sf.get("opportunity_currency", 0.0))
                executed = float(sf["total_currency"]) - opp  # the filled shares' shortfall
                filled_notional = float(sf["arrival_notional"]) * filled / max(int(sf["quantity"]), 1)
                row.update(filled_shares=filled, executor=ex.executor, realised_cost=executed, opportunity_cost=opp,
                           realised_cost_bps=executed / filled_notional * 1e4 if filled else np.nan,
                           market_impact_bps=float(sf.get("market_impact_bps", 0.0)))
                if "caused_cost" in tca:
                    caused = float(tca["caused_cost"])
                    row.update(caused_cost=caused, caused_cost_bps=caused / filled_notional * 1e4 if filled else np.nan)
                if ex.route is not None:
                    d["route_detail"] = ex.route
                    row.update(route_sent=json.dumps(ex.route["sent"]), route_filled=json.dumps(ex.route["filled"]))
                    venue_rows += _venue_rows(len(hedges), day.index, ex, day.price_scale)
                if filled:
                    ft = ex.fills["exchange_ns"].to_numpy(np.int64)
                    fill_t.append(ft)
                    fill_q.append(np.full(len(ft), req.side) * ex.fills["size"].to_numpy(np.int64))
                    book.fill(req.req_id, filled)
                    prow["row"] = len(hedges)
                    ready = min(int(prow["end_ns"]) + cfg.post_ns, s1)
                    if pol.every == "hedge":
                        pending.append((ready, prow))
                    else:
                        day_parents.append(prow)
                    row["end_ns"] = int(ft.max())
                in_flight.append((row["end_ns"], req.req_id))
            else:
                book.close(req.req_id)
                if dec.paused:  # look again after the pause
                    until = req.time_ns + cfg.pause_ns if window is None else window[1]
                    i = int(np.searchsorted(t, until, side="left")) - 1
            row["unhedged_shares"] = req.quantity_shares - row["filled_shares"]
            hedges.append(row)
            i += 1
        for end, rid in sorted(in_flight):
            book.close(rid)
        for ready, prow in pending:
            pol.learn(day.regime, pd.DataFrame([prow]), cfg.half_life_days, updater, ready, day.index)
        if day_parents:
            pol.learn(day.regime, pd.DataFrame(day_parents)[list(PARENT_COLUMNS)], cfg.half_life_days, updater,
                      s1, day.index)
        obs, pnl = _day_path(day, times[first:last], values[first:last], fill_t, fill_q)
        obs_rows.append(obs.assign(policy=pol.name))
        dh = [h for h in hedges if h["day"] == day.index]
        cost = float(sum(h["realised_cost"] for h in dh))
        cal, cid = pol.in_force(day.regime)
        day_rows.append({"policy": pol.name, "day": day.index, "date": day.date, "key": day.key,
                         "regime": day.regime or "", "inputs_source": day.inputs_source,
                         "hedges": sum(1 for h in dh if h["filled_shares"] > 0),
                         "paused": sum(1 for h in dh if h["paused"]), "hedge_cost": cost,
                         "exposure_pnl": pnl, "hedged_pnl": pnl - cost,
                         "abs_error_bps": _mean([abs(h["predicted_cost_bps"] - h["realised_cost_bps"])
                                                 for h in dh if h["filled_shares"] > 0]),
                         "abs_caused_error_bps": _mean([abs(h["predicted_cost_bps"] - h["caused_cost_bps"])
                                                        for h in dh if h["filled_shares"] > 0]),
                         "residual_risk_end": float(obs["residual_risk"].iat[-1]) if len(obs) else 0.0,
                         "calibration_id": cid, "eta": np.nan if cal is None else cal.params["eta"],
                         "gamma": np.nan if cal is None else cal.params["gamma"],
                         "planted_gamma": np.nan if day.planted_gamma is None else day.planted_gamma})
    hed = pd.DataFrame(hedges)
    if len(hed):
        hed["abs_error_bps"] = (hed["predicted_cost_bps"] - hed["realised_cost_bps"]).abs()
        hed["abs_caused_error_bps"] = (hed["predicted_cost_bps"] - hed["caused_cost_bps"]).abs()
    cals = pd.DataFrame(pol.updates).assign(policy=pol.name)
    if len(cals):
        cals["hedges"] = cals["hedges"].map(lambda v: ",".join(map(str, v)))
    return LoopResult(pol.name, hed, pd.DataFrame(day_rows), pd.concat(obs_rows, ignore_index=True), cals,
                      decisions, pd.DataFrame(venue_rows))


def _venue_rows(hedge: int, day: int, ex, price_scale: int) -> list[dict]:
    """Per venue of a routed hedge: shares sent and filled, fills, fees (currency), average fill price (currency
    per share; NaN without fills) and the venue's TCA (``route["tca"]``: maker / taker shares, ``cost_bps``,
    passive orders, their quantity, maker-filled shares and fill rate, markouts in bps; NaN where undefined)."""
    f = ex.fills
    out = []
    for venue, sent in ex.route["sent"].items():
        v = f[f["venue"] == venue] if len(f) else f
        size = int(v["size"].sum()) if len(v) else 0
        notional = float((v["price"].to_numpy(np.float64) * v["size"].to_numpy(np.float64)).sum()) if size else 0.0
        row = {"hedge": hedge, "day": day, "venue": venue, "sent_shares": int(sent), "filled_shares": size,
               "fills": int(len(v)), "fees": float(v["fee"].sum()) if len(v) else 0.0,
               "avg_price": notional / size / price_scale if size else np.nan}
        t = ex.route.get("tca", {}).get(venue)
        if t is not None:
            row.update(maker_shares=t["maker"], taker_shares=t["taker"], cost_bps=t["cost_bps"],
                       passive_orders=t["passive_orders"], passive_quantity=t["passive_quantity"],
                       passive_filled=t["passive_filled"],
                       **{k: np.nan if t[k] is None else float(t[k]) for k in t
                          if k == "passive_fill_rate" or k.startswith("markout_")})
        out.append(row)
    return out


def _event_window(day: Day, pause_ns: int) -> tuple[int, int] | None:
    """[start, end) ns of the pause around ``day``'s scheduled news event (module docstring); None: no event."""
    return None if day.news_ns is None else (day.news_ns - pause_ns, day.news_ns + pause_ns)


def _mean(values: list[float]) -> float:
    """The mean, NaN for no values."""
    return float(np.mean(values)) if values else float("nan")


def _day_path(day: Day, t: np.ndarray, e: np.ndarray, fill_t: list[np.ndarray], fill_q: list[np.ndarray],
              ) -> tuple[pd.DataFrame, float]:
    """Per observation: exposure, filled hedges, net, residual risk (currency, 1-day sd); and the day's exposure
    P&L Σ net·Δmid (currency)."""
    ft = np.concatenate(fill_t) if fill_t else np.zeros(0, np.int64)
    fq = np.concatenate(fill_q) if fill_q else np.zeros(0, np.int64)
    order = np.argsort(ft, kind="stable")
    cum = np.r_[0, np.cumsum(fq[order])]
    hedged = cum[np.searchsorted(ft[order], t, side="right")]  # shares bought by hedges so far (+ buy)
    net = e + hedged
    mid = day.mid_at(t) * day.multiplier
    pnl = float((net[:-1] * np.diff(mid)).sum()) if len(t) > 1 else 0.0
    return pd.DataFrame({"day": day.index, "time_ns": t, "exposure_shares": e, "hedge_position_shares": hedged,
                         "net_shares": net, "residual_risk": np.abs(net) * day.market.daily_vol * mid}), pnl
