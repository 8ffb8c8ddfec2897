"""``tickreplay estimate``: pre-trade cost of a parent order (breakdown, horizons, multi-day, frontier)."""

from __future__ import annotations

import argparse

from tickreplay.errors import ConfigError
from tickreplay.io import json_text


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("estimate", help="pre-trade cost estimate of a parent order")
    p.add_argument("--side", required=True, choices=("buy", "sell"))
    p.add_argument("--quantity", "--order-size", dest="quantity", type=int, required=True,
                   help="parent quantity, shares (the units of ADV); --order-size is an alias of --quantity")
    p.add_argument("--adv", type=float, help="average daily volume, shares (default: from --from-catalog)")
    p.add_argument("--spread-bps", type=float, help="average quoted spread, bps (default: from --from-catalog)")
    p.add_argument("--daily-vol-pct", type=float, help="daily volatility, %% (default: from --from-catalog)")
    p.add_argument("--participation-pct", type=float, default=10.0, help="share of market volume, %% (default 10)")
    p.add_argument("--latency-ms", type=float, default=0.0)
    p.add_argument("--latency-jitter-ms", type=float, default=0.0)
    p.add_argument("--ref-price", type=float, help="reference (arrival) price (default: last mid of the catalog data)")
    p.add_argument("--model", help="canonical | almgren2005 | sqrt | almgren-chriss (default canonical; with "
                                   "--calibration: the file's kind)")
    p.add_argument("--calibration", metavar="FILE",
                   help="coefficients from a calibration file (tickreplay calibrate): a sqrt file gives the sqrt "
                        "model its Y and delta, an almgren-chriss file prices the order with its eta and gamma "
                        "(then --curve and --frontier-png come from them)")
    p.add_argument("--k-perm", type=float, help="canonical permanent coefficient (default 0.10)")
    p.add_argument("--eta", type=float, help="temporary coefficient (canonical 0.05, almgren2005 0.142)")
    p.add_argument("--gamma", type=float, help="almgren2005 permanent coefficient (default 0.314)")
    p.add_argument("--shares-outstanding", type=float, help="almgren2005: shares outstanding")
    p.add_argument("--duration-days", type=float, help="almgren2005: trading time in days (default: from participation)")
    p.add_argument("--y", type=float, help="sqrt: coefficient Y (default 1)")
    p.add_argument("--exponent", type=float, help="sqrt: exponent (default 0.5)")
    p.add_argument("--days", type=int, help="also price the order split over N days (notional-weighted)")
    p.add_argument("--curve", action="store_true", help="cost and execution risk across horizons")
    p.add_argument("--frontier-png", help="write the efficient frontier figure here (canonical model, or the "
                                          "calibrated almgren-chriss one)")
    p.add_argument("--risk-aversion", type=float, default=0.0, help="AC lambda of the point marked on the frontier")
    p.add_argument("--from-catalog", nargs="+", metavar="KEY", help="estimate ADV, vol, spread from catalog entries")
    p.add_argument("--catalog", help="catalog root (default: $TICKREPLAY_CATALOG, else ./replay)")
    p.add_argument("--bar-seconds", type=float, default=300.0, help="bar for volatility from data (default 300)")
    p.add_argument("--day-hours", type=float, help="trading-day length for data scaling (default: each tape's span)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=_estimate)


def _model_params(args: argparse.Namespace) -> dict:
    names = {"canonical": {"k_perm": args.k_perm, "eta": args.eta},
             "almgren2005": {"gamma": args.gamma, "eta": args.eta, "duration_days": args.duration_days},
             "sqrt": {"y": args.y, "exponent": args.exponent}}.get(args.model, {})
    return {k: v for k, v in names.items() if v is not None}


def _market(args: argparse.Namespace):
    """MarketInputs and reference price from the flags, filled in from catalog data where not typed."""
    from tickreplay.checks import positive
    from tickreplay.impact.models import MarketInputs

    est = None
    if args.from_catalog:
        from tickreplay.catalog import Catalog
        from tickreplay.market.inputs import estimate_inputs

        cat = Catalog(args.catalog)
        day_ns = None if args.day_hours is None else round(positive("day_hours", args.day_hours) * 3600e9)
        est = estimate_inputs([cat.find(k) for k in args.from_catalog],
                              bar_ns=round(positive("bar_seconds", args.bar_seconds) * 1e9), day_ns=day_ns,
                              shares_outstanding=args.shares_outstanding)
    needs_spread = args.model != "almgren2005"  # the 2005 model has no spread term
    missing = [f"--{n}" for n, v in (("adv", args.adv), ("spread-bps", args.spread_bps if needs_spread else 0.0),
                                      ("daily-vol-pct", args.daily_vol_pct), ("ref-price", args.ref_price))
               if v is None and est is None]
    if missing:
        raise ConfigError(f"parameter(s) {', '.join(missing)} required (or give --from-catalog)")
    m = est.market if est else None
    market = MarketInputs(
        adv=args.adv if args.adv is not None else m.adv,
        daily_vol=args.daily_vol_pct / 100 if args.daily_vol_pct is not None else m.daily_vol,
        spread_bps=args.spread_bps if args.spread_bps is not None else (m.spread_bps if m else 0.0),
        shares_outstanding=args.shares_outstanding, days_used=m.days_used if m else 0,
        notes=m.notes if m else ())
    return market, (args.ref_price if args.ref_price is not None else est.ref_price), est


#: calibration kind → the model it gives coefficients to, and the coefficient flags it replaces
_CALIBRATED = {"sqrt": ("sqrt", ("y", "exponent")), "almgren-chriss": ("almgren-chriss", ("eta", "gamma"))}


def _calibrated_model(args: argparse.Namespace):
    """(model, calibration summary) from ``--calibration``; errors when the file's kind does not fit ``--model``."""
    from tickreplay.impact.calibration import read_calibration
    from tickreplay.impact.models import get_model

    want = {v[0]: k for k, v in _CALIBRATED.items()}.get(args.model)
    if args.model is not None and want is None:
        raise ConfigError(f"--calibration gives coefficients to the sqrt or almgren-chriss model, not to "
                          f"--model {args.model}")
    cal = read_calibration(args.calibration, kind=want)
    if cal.kind not in _CALIBRATED:
        raise ConfigError(f"--calibration {args.calibration}: a {cal.kind!r} calibration; estimate takes a sqrt or "
                          "an almgren-chriss one")
    name, flags = _CALIBRATED[cal.kind]
    typed = [f"--{f}" for f in flags if getattr(args, f) is not None]
    if typed:
        raise ConfigError(f"{', '.join(typed)} and --calibration both give the {name} coefficients: give one")
    args.model = name
    if cal.kind == "sqrt":
        model = get_model("sqrt", y=cal.params["Y"], exponent=cal.params["delta"])
    else:
        from tickreplay.impact.calibration import ac_coefficients
        from tickreplay.impact.fit_ac import CalibratedACModel

        eta, gamma = ac_coefficients(cal, args.calibration)
        model = CalibratedACModel(eta=eta, gamma=gamma)
    return model, {"file": str(args.calibration), "kind": cal.kind, "params": cal.params,
                   "intervals": {k: list(v) for k, v in cal.intervals.items()}, "oos": cal.oos.get("scores", {})}


def _estimate(args: argparse.Namespace) -> int:
    from tickreplay.checks import percent, positive_int
    from tickreplay.impact.horizons import cost_curve, split_cost
    from tickreplay.impact.models import PreTradeOrder, get_model

    quantity = positive_int("quantity", args.quantity)
    calibration = None
    if args.calibration is not None:
        model, calibration = _calibrated_model(args)
    elif args.model == "almgren-chriss":
        raise ConfigError("--model almgren-chriss takes its eta and gamma from --calibration FILE "
                          "(tickreplay calibrate almgren-chriss)")
    else:
        args.model = args.model or "canonical"
        model = get_model(args.model, **_model_params(args))
    market, ref_price, est = _market(args)
    order = PreTradeOrder(side=args.side, order_size=quantity, ref_price=ref_price,
                          participation=percent("participation_pct", args.participation_pct),
                          latency_ms=args.latency_ms, latency_jitter_ms=args.latency_jitter_ms)
    out: dict = dict(model.breakdown(order, market))
    if calibration is not None:
        out["calibration"] = calibration
    if est is not None:
        out["inputs"] = {"days_used": market.days_used, "adv": market.adv, "daily_vol_pct": market.daily_vol * 100,
                         "spread_bps": market.spread_bps, "ref_price": ref_price, "notes": list(market.notes),
                         "profile": {"start_tod_ns": est.profile.start_tod_ns, "bin_ns": est.profile.bin_ns,
                                     "fractions": list(est.profile.fractions)}}
    if args.days is not None:
        sc = split_cost(model, order, market, args.days)
        one = split_cost(model, order, market, 1)
        out["multi_day"] = {"days": sc.days, "slices": list(sc.slices), "daily_bps": list(sc.daily_bps),
                            "total_bps": sc.total_bps, "total_dollars": sc.total_dollars, "weighted": sc.weighted,
                            "single_day_elapsed_days": one.elapsed_days,
                            "single_day_execution_risk_bps": one.execution_risk_bps,
                            "elapsed_days": sc.elapsed_days, "execution_risk_bps": sc.execution_risk_bps}
    if args.curve:
        out["curve"] = [pt.to_dict() for pt in cost_curve(model, order, market)]
    if args.frontier_png:
        from tickreplay.impact.fit_ac import CalibratedACModel, ac_frontier
        from tickreplay.impact.frontier import efficient_frontier, plot_frontier
        from tickreplay.impact.models import CanonicalModel

        if isinstance(model, CalibratedACModel):
            front = ac_frontier(order, market, model, args.risk_aversion)
            title = f"{args.side} {quantity:,} shares, calibrated Almgren-Chriss"
        else:
            canon = model if isinstance(model, CanonicalModel) else CanonicalModel()
            front = efficient_frontier(order, market, canon, args.risk_aversion)
            title = f"{args.side} {quantity:,} shares, canonical model"
        plot_frontier(front, args.frontier_png, title)
        out["frontier_png"] = str(args.frontier_png)
    if args.json:
        print(json_text(out))
    else:
        _print_text(args, model, order, market, out)
    return 0


def _print_text(args, model, order, market, out: dict) -> None:
    print(f"model {model.name}: {args.side} {order.order_size:,} shares at {order.ref_price:g}, "
          f"participation {order.participation * 100:g}%, ADV {market.adv:,.0f}, "
          f"daily vol {market.daily_vol * 100:.4g}%, spread {market.spread_bps:.4g} bps")
    if "inputs" in out:
        print("inputs estimated from data: " + "; ".join(out["inputs"]["notes"]))
    if "calibration" in out:
        c = out["calibration"]
        print(f"coefficients from {c['file']} ({c['kind']}): " + ", ".join(
            f"{k} {v:.4g}" + (f" [{c['intervals'][k][0]:.4g}, {c['intervals'][k][1]:.4g}]" if k in c["intervals"]
                              else "") for k, v in c["params"].items()))
    scalars = {k: v for k, v in out.items() if isinstance(v, (int, float))}
    w = max(map(len, scalars))
    for k, v in scalars.items():
        print(f"  {k:<{w}}  {v:,.6f}")
    if "multi_day" in out:
        md = out["multi_day"]
        print(f"\nsingle day vs {md['days']} days (each day's slice at the same participation; "
              "notional-weighted, not summed):")
        print(f"  {'':<26}{'1 day':>16}{str(md['days']) + ' days':>20}")
        lo, hi = min(md["slices"]), max(md["slices"])
        per_day = f"{len(md['slices'])} x {hi:,}" if lo == hi else f"{len(md['slices'])} x {lo:,}-{hi:,}"
        print(f"  {'shares per day':<26}{order.order_size:>16,}{per_day:>20}")
        for k, v in md["weighted"].items():
            print(f"  {k:<26}{out[k]:>16,.4f}{v:>20,.4f}")
        print(f"  {'elapsed_days':<26}{md['single_day_elapsed_days']:>16,.4f}{md['elapsed_days']:>20,.4f}")
        print(f"  {'execution_risk_bps':<26}{md['single_day_execution_risk_bps']:>16,.4f}"
              f"{md['execution_risk_bps']:>20,.4f}")
        print(f"  (the sum of the per-day bps, {sum(md['daily_bps']):.4f}, is not the order's cost)")
        print("  (execution risk: one standard deviation of the cost of the shares not yet done, bps)")
    if "curve" in out:
        print("\nhorizon      particip.   cost_bps   cost_dollars   execution_risk_bps (sigma*sqrt(T/3))")
        for pt in out["curve"]:
            cost = f"{pt['cost_bps']:>9.3f}  {pt['cost_dollars']:>13,.2f}" if pt["feasible"] else \
                f"{'-':>9}  {'(needs >100% of volume)':>13}"
            print(f"  {pt['label']:<10} {pt['participation'] * 100:>8.1f}%  {cost}  {pt['execution_risk_bps']:>9.2f}")
        print("  (up to a day the whole order trades at the participation that fills the horizon; beyond a day one "
              "slice a day, spread over the day)")
    if "frontier_png" in out:
        print(f"\nefficient frontier written to {out['frontier_png']}")
