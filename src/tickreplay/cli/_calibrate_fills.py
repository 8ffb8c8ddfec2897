"""``tickreplay calibrate sqrt`` and ``calibrate almgren-chriss``: impact models fitted to executed parents.

``add_parsers(calibrate_subparsers)`` adds both sub-commands to the ``calibrate`` command (wired in by
``cli/calibrate.py``). Input: ``--fills FILE`` (a desk fills file, see :mod:`tickreplay.impact.fills`) or
``--results DIR`` (every stored run is one parent); mids from the ``--catalog`` tapes. Output: the calibration
file (``--out``), a summary (``--json``: one object) and, for ``sqrt``, a figure (``--figure``).
"""

from __future__ import annotations

import argparse
from typing import Any

BY = ("regime", "vol-spread", "instrument")  # = tickreplay.impact.fit_sqrt.BY (kept here: no numpy at import)


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """Add ``sqrt`` and ``almgren-chriss`` to the ``calibrate`` sub-parsers."""
    for name, text in (("sqrt", "fit the square-root law I = Y sigma (Q/V)^delta to executed parents"),
                       ("almgren-chriss", "fit Almgren-Chriss temporary eta and permanent gamma to executed parents")):
        p = sub.add_parser(name, help=text, description=text + "; always scored out of sample against the "
                                                               "uncalibrated default")
        src = p.add_mutually_exclusive_group(required=True)
        src.add_argument("--results", metavar="DIR", help="results root: every stored run is one parent")
        src.add_argument("--fills", metavar="FILE", nargs="+",
                         help="desk fills file(s) (.parquet or .csv; several: e.g. one per day, parent ids unique)")
        p.add_argument("--catalog", metavar="DIR", help="catalog root of the tapes (default: $TICKREPLAY_CATALOG, "
                                                        "else ./replay)")
        p.add_argument("--out", metavar="CAL.json", help="write the calibration file here")
        p.add_argument("--json", action="store_true", help="print one JSON object")
        p.add_argument("--by", choices=BY, help="also one fit per bucket: the day's regime label, volatility x "
                                                "spread terciles of the day, or instrument")
        p.add_argument("--bootstrap", type=int, default=500, metavar="B", help="bootstrap resamples (default 500)")
        p.add_argument("--seed", type=int, default=0, help="seed of the bootstrap and of a by-parent split (default 0)")
        p.add_argument("--day-hours", type=float, help="trading-day length, hours (default 6.5: the 390-minute day of the Almgren-Chriss inputs)")
        if name == "sqrt":
            p.add_argument("--figure", metavar="PNG", help="I/sigma vs Q/V log-log with binned means and the fit")
            p.set_defaults(func=_sqrt)
        else:
            p.add_argument("--post-minutes", type=float, default=10.0,
                           help="the persisting (permanent) move is the mid this long after the last fill (default 10)")
            p.set_defaults(func=_almgren_chriss)


def _parents(args: argparse.Namespace, post_ns: int | None = None):
    """(measured parents, tape provenance, source description, the input's name) from the flags."""
    from pathlib import Path

    from tickreplay.catalog import Catalog
    from tickreplay.checks import positive, positive_int
    from tickreplay.impact.fills import file_fingerprint, fills_from_results, read_fills
    from tickreplay.impact.parents import POST_NS, measure_parents
    from tickreplay.market.inputs import estimate_inputs

    positive_int("bootstrap", args.bootstrap)
    day_ns = None if args.day_hours is None else round(positive("day_hours", args.day_hours) * 3600e9)
    catalog = Catalog(args.catalog)

    def measure(fills, where: str):
        return measure_parents(fills, catalog, where, post_ns=POST_NS if post_ns is None else post_ns,
                               day_ns=day_ns, day_stats_needed=args.by == "vol-spread",
                               day_inputs=lambda e, d: estimate_inputs([e], day_ns=d).market)

    if args.fills is not None:
        import pandas as pd

        from tickreplay.errors import InputError

        files = [str(Path(f)) for f in args.fills]
        seen: dict[str, str] = {}
        parts, data, n_fills = [], [], 0
        for f in files:  # each file measured on its own, so an error names the file its row is in
            one = read_fills(f)
            for pid in one["parent_id"].unique().tolist():
                if pid in seen:
                    raise InputError(f, None, "parent_id", f"parent {pid!r} is also in {seen[pid]}: parent ids "
                                     "must be unique across the fills files")
                seen[pid] = f
            p, d = measure(one, f)
            p.insert(0, "file", f)
            parts.append(p)
            data += [x for x in d if x not in data]
            n_fills += len(one)
        parents = pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]
        where = files[0] if len(files) == 1 else f"{files[0]} (+{len(files) - 1} more fills files)"
        source = ({"fills": files[0], "fingerprint": file_fingerprint(files[0])} if len(files) == 1 else
                  {"fills": [{"file": f, "fingerprint": file_fingerprint(f)} for f in files]})
    else:
        where = str(Path(args.results))
        fills, counts = fills_from_results(where)
        source = {"results": where, **counts}
        parents, data = measure(fills, where)
        n_fills = len(fills)
    source["n_fills"] = int(n_fills)
    return parents, data, source, where


def _finish(args: argparse.Namespace, cal, summary: dict[str, Any], lines: list[str]) -> int:
    from tickreplay.io import json_text

    if args.out:
        cal.write(args.out)
        summary["out"] = str(args.out)
    if args.json:
        print(json_text(summary))
    else:
        print("\n".join(lines))
        if args.out:
            print(f"calibration written to {args.out}")
    return 0


def _score_lines(s: dict[str, Any], keys: tuple[str, ...]) -> list[str]:
    def f(v: Any) -> str:
        return "-" if v is None or v != v else f"{v:.4g}"

    return [f"out of sample ({s['oos_split']}, {s['oos_n_test']} held-out parents):   calibrated   default",
            f"  r2        {f(s['oos_r2']):>12} {f(s['default_oos_r2']):>9}",
            f"  mae_bps   {f(s['oos_mae_bps']):>12} {f(s['default_oos_mae_bps']):>9}",
            f"  bias_bps  {f(s['oos_bias_bps']):>12} {f(s['default_oos_bias_bps']):>9}"] + (
        [] if not s.get("buckets") else
        [f"\nby {s['by']}:", "  " + f"{'bucket':<28}{'parents':>8}" + "".join(f"{k:>22}" for k in keys) +
         f"{'oos mae':>10}{'default':>10}"] +
        [f"  {b['bucket']:<28}{b['n_parents']:>8}" + (f"  ({b['skipped']})" if "skipped" in b else "".join(
            f"{b[k]:>10.4g} [{b[k + '_ci'][0]:.3g},{b[k + '_ci'][1]:.3g}]".rjust(22) for k in keys) +
            f"{b['oos_mae_bps']:>10.4g}{b['default_oos_mae_bps']:>10.4g}") for b in s["buckets"]])


def _sqrt(args: argparse.Namespace) -> int:
    from tickreplay.impact.fit_sqrt import fit_sqrt, plot_sqrt, summary

    parents, data, source, where = _parents(args)
    cal = fit_sqrt(parents, by=args.by, bootstrap=args.bootstrap, seed=args.seed, data=data, source=source,
                   where=where)
    s = summary(cal)
    if args.figure:
        s["figure"] = str(plot_sqrt(cal, args.figure))
    lines = [f"square-root law I = Y sigma (Q/V)^delta from {s['n_parents']} parents "
             f"({cal.fit['method']}; {cal.fit['bootstrap']} bootstrap resamples of parents)",
             f"  Y      {s['Y']:.4g}  {s['ci_level']:.0%} CI [{s['Y_ci'][0]:.4g}, {s['Y_ci'][1]:.4g}]",
             f"  delta  {s['delta']:.4g}  {s['ci_level']:.0%} CI [{s['delta_ci'][0]:.4g}, {s['delta_ci'][1]:.4g}]"
             + ("  (on a bound)" if cal.fit["delta_at_bound"] else ""),
             *_score_lines(s, ("Y", "delta"))]
    if args.figure:
        lines.append(f"figure written to {args.figure}")
    return _finish(args, cal, s, lines)


def _almgren_chriss(args: argparse.Namespace) -> int:
    from tickreplay.checks import positive
    from tickreplay.impact.fit_ac import fit_ac, summary

    post_ns = round(positive("post_minutes", args.post_minutes) * 60e9)
    parents, data, source, where = _parents(args, post_ns)
    cal = fit_ac(parents, by=args.by, bootstrap=args.bootstrap, seed=args.seed, data=data, source=source,
                 post_ns=post_ns, where=where)
    s = summary(cal)
    lines = [f"Almgren-Chriss from {s['n_parents']} parents ({s['instant_parents']} done in one instant left out; "
             f"permanent move {args.post_minutes:g} min after the last fill)",
             f"  eta      {s['eta']:.4g} $ day/share^2  CI [{s['eta_ci'][0]:.4g}, {s['eta_ci'][1]:.4g}]",
             f"  gamma    {s['gamma']:.4g} $/share^2      CI [{s['gamma_ci'][0]:.4g}, {s['gamma_ci'][1]:.4g}]",
             f"  epsilon  {s['epsilon']:.4g} $/share        CI [{s['epsilon_ci'][0]:.4g}, {s['epsilon_ci'][1]:.4g}]",
             *_score_lines(s, ("eta", "gamma")),
             f"  (shortfall in bps of the arrival mid; default: the canonical model; permanent move r2 "
             f"{s['permanent_oos_r2']:.4g})"]
    return _finish(args, cal, s, lines)
