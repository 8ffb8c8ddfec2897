"""``tickreplay calibrate``: impact models fitted from data, written as calibration files.

One parser ``calibrate`` with a sub-command per model; each handler is a small function that imports its
fitting module when it runs (``tickreplay --help`` imports nothing heavy).
"""

from __future__ import annotations

import argparse

from tickreplay.cli._calibrate_fills import add_parsers as _register_fill_models


def register(sub: argparse._SubParsersAction) -> None:
    cal = sub.add_parser("calibrate", help="fit impact models from trades or fills; write calibration files")
    models = cal.add_subparsers(dest="model", required=True, metavar="MODEL")
    _register_propagator(models)
    _register_fill_models(models)  # sqrt, almgren-chriss


def _register_propagator(models: argparse._SubParsersAction) -> None:
    p = models.add_parser("propagator", help="transient impact kernel from a tape's public trades "
                                             "(sign autocorrelation, response, Toeplitz solve, power laws)")
    p.add_argument("--tapes", nargs="+", required=True, metavar="KEY",
                   help="catalog keys source/symbol/date of one instrument, one day each (pooled)")
    p.add_argument("--catalog", help="catalog root (default: $TICKREPLAY_CATALOG, else ./replay)")
    p.add_argument("--max-lag", type=int,
                   help="largest lag in trades, also the kernel length (default 1000: propagator.DEFAULT_MAX_LAG)")
    p.add_argument("--no-hidden", action="store_true", help="leave hidden executions out (default: kept)")
    p.add_argument("--out", metavar="CAL.json", help="write the calibration file here")
    p.add_argument("--figure", metavar="PNG", help="write C(l), R(l) and G(l) log-log with their fits here")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=_propagator)


def _propagator(args: argparse.Namespace) -> int:
    from tickreplay.catalog import Catalog
    from tickreplay.impact.propagator import DEFAULT_MAX_LAG, calibrate_entries, plot_propagator
    from tickreplay.io import json_text

    cat = Catalog(args.catalog)
    entries = [cat.find(k) for k in args.tapes]
    max_lag = DEFAULT_MAX_LAG if args.max_lag is None else args.max_lag
    fit, cal = calibrate_entries(entries, max_lag, hidden=not args.no_hidden)
    if args.out:
        cal.write(args.out)
    if args.figure:
        plot_propagator(fit, args.figure, ", ".join(args.tapes))
    out = {**fit.summary(), "oos": cal.oos, "tapes": cal.data, "out": args.out, "figure": args.figure}
    if args.json:
        print(json_text(out))
        return 0
    check = out["check"]
    print(f"propagator from {fit.n_trades:,} trades of {len(entries)} tape(s), lags 1..{fit.max_lag}")
    print(f"  sign autocorrelation  C(1) = {fit.C[1]:.3f}, gamma = {fit.gamma:.3f} "
          f"(c l^-gamma on lags {fit.c_fit_lags[0]}..{fit.c_fit_lags[1]})")
    print(f"  response              R(1) = {fit.R[1]:.3f} bps, R({fit.max_lag}) = {fit.R[-1]:.3f} bps")
    print(f"  kernel                G0 = {fit.G0:.4f} bps, lag0 = {fit.lag0:.3g} trades, beta = {fit.beta:.3f}")
    print(f"  check                 beta - (1 - gamma)/2 = {check['difference']:+.3f}")
    s, s0 = cal.oos["scores"], cal.oos["default_scores"]
    print(f"  out of sample ({cal.oos['split']}): RMSE {s['rmse_bps']:.3f} bps, "
          f"constant-kernel default {s0['rmse_bps']:.3f} bps")
    for what, path in (("calibration", args.out), ("figure", args.figure)):
        if path:
            print(f"  wrote {what} {path}")
    return 0
