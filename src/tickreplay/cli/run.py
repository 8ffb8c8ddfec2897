"""``tickreplay run``, ``tickreplay compare`` and ``tickreplay report``: scenarios → results → figures."""

from __future__ import annotations

import argparse
from pathlib import Path

DEFAULT_OUT = "results"
DEFAULT_BATCH = 100  # runs per batch file of a compare


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("run", help="replay one scenario file and write its results folder")
    p.add_argument("scenario", help="scenario TOML file (see docs/scenarios.md)")
    p.add_argument("--out", default=DEFAULT_OUT, help=f"results root (default: {DEFAULT_OUT})")
    p.add_argument("--rerun", action="store_true", help="run it again even if the store has it (replaces it)")
    p.set_defaults(func=_run)

    p = sub.add_parser("compare", help="run several scenarios or a grid and print a comparison table")
    p.add_argument("scenarios", nargs="*", metavar="SCENARIO", help="scenario TOML files")
    p.add_argument("--grid", help="a grid TOML file: base scenario + [sweep] lists")
    p.add_argument("--out", default=DEFAULT_OUT, help=f"results root (default: {DEFAULT_OUT})")
    p.add_argument("--jobs", type=int, default=1,
                   help="worker processes (default: 1); with --backend ray: the CPUs of the local Ray it starts")
    p.add_argument("--backend", choices=("local", "ray"),
                   help="where the runs execute: local processes, or Ray (pip install -e \".[ray]\"); "
                        "default: the grid's [sweep] backend, else local")
    p.add_argument("--ray-address", metavar="ADDR",
                   help="attach to a running Ray cluster (e.g. ray://head:10001 or head:6379; see docs/cluster.md) "
                        "instead of starting a local Ray")
    p.add_argument("--batch-size", type=int, default=DEFAULT_BATCH, metavar="N",
                   help=f"runs per results batch under OUT/_batches (default: {DEFAULT_BATCH}; 1: one folder per "
                        "run). 'tickreplay report OUT/<run_id>' writes a batched run's folder when asked")
    p.add_argument("--report", action="store_true", help="also write the comparison report under OUT/_compare")
    p.add_argument("--rerun", action="store_true", help="run every scenario again, even those the store has")
    p.set_defaults(func=_compare)

    p = sub.add_parser("report", help="figures and a Markdown page from stored runs (one run, or a comparison)")
    p.add_argument("runs", nargs="+", metavar="RUN_DIR",
                   help="run folders, i.e. <results root>/<run_id> (a run a sweep stored in a batch gets its folder "
                        "written first); several: also a comparison report")
    p.add_argument("--out", help="folder of the comparison report (default: <first run's root>/_compare)")
    p.set_defaults(func=_report)


def tca_lines(tca: dict) -> list[str]:
    """A few lines summarising a run's ``tca.json``."""
    from tickreplay.trader.pnl import fees_phrase
    from tickreplay.tca.shortfall import PARTS
    from tickreplay.tca.unfilled import describe

    lines = []
    sf = tca.get("shortfall")
    if sf:
        lines.append(f"  filled {sf['filled']:,} of {sf['quantity']:,}; implementation shortfall "
                     f"{sf['total_bps']:.2f} bps ({sf['total_currency']:,.2f})")
        lines.append("  " + ", ".join(f"{k} {sf[f'{k}_bps']:.2f}" for k in PARTS) + " bps (+ = cost)")
        if tca.get("unfilled"):
            lines.append("  " + describe(tca["unfilled"]))
        win = tca.get("window", {})
        if win.get("vwap_slippage_bps") is not None:
            lines.append(f"  VWAP slippage {win['vwap_slippage_bps']:.2f} bps, participation "
                         f"{(win.get('participation') or 0):.1%} of the window, "
                         f"{(win.get('participation_active') or 0):.1%} while active")
        pre = tca.get("pretrade")
        if pre:
            lines.append(f"  pre-trade {pre['model']}: predicted {pre['predicted_bps']:.2f} bps, "
                         f"realised − predicted {pre['difference_bps']:.2f} bps")
    ov = tca.get("overlay")
    if ov:
        by = sorted(ov["delay_counts"].items(), key=lambda kv: float(kv[0]))
        lines.append(f"  overlay: delayed {ov['n_delayed']:,} of {ov['n_children']:,} children, mean delay "
                     f"{ov['mean_delay_s']:.1f} s; by delay: " + ", ".join(f"{d} s {n:,}" for d, n in by))
    venues = tca.get("venues")
    if venues:
        r = tca.get("router") or {}
        lines.append(f"  router {r.get('label')}: {r.get('decisions', 0):,} routing decisions "
                     f"({r.get('sweeps', 0):,} end sweeps); per venue (cost: bps of the arrival notional, + = cost):")
        for name, v in venues.items():
            rate = (v.get("passive") or {}).get("fill_rate")
            lines.append(f"    {name}: filled {v['filled']:,} in {v['fills']:,} fills (maker {v['maker']:,}, taker "
                         f"{v['taker']:,}), fees {v['fees']:,.2f}, cost {v['cost_bps']:.2f} bps"
                         + (f", passive fill rate {rate:.0%}" if rate is not None else ""))
    pnl = tca.get("pnl")
    if pnl:
        lines.append(f"  PnL {pnl['total_pnl']:,.2f} (realised {pnl['realised_pnl']:,.2f}, unrealised "
                     f"{pnl['unrealised_pnl']:,.2f}; {fees_phrase(pnl['fees'])}); {pnl['fills']:,} fills, "
                     f"volume {pnl['volume']:,}, final position {pnl['final_position']:,}, "
                     f"max |position| {pnl['max_abs_position']:,}")
    return lines


def format_table(table) -> str:
    """The comparison table as fixed-width text (bps to 2 decimals)."""
    from tickreplay.tca.shortfall import PARTS

    cols = [c for c in ("name", "kind", "style", "filled_pct", "total_bps", *(f"{p}_bps" for p in PARTS),
                        "vwap_slippage_bps", "participation", "participation_active",
                        "markout_1min_bps", "predicted_bps", "total_pnl") if c in table.columns]
    return table[cols].to_string(index=False, float_format=lambda x: f"{x:.2f}", na_rep="-")


def _run(args: argparse.Namespace) -> int:
    from tickreplay.experiment import run_file

    o = run_file(args.scenario, args.out, rerun=args.rerun)
    if o.skipped:
        print(f"run {o.run_id} is already complete in {o.path} (skipped; --rerun runs it again)")
    else:
        print(f"run {o.run_id} → {o.path}")
    for line in tca_lines(o.tca):
        print(line)
    return 0


def _compare(args: argparse.Namespace) -> int:
    from tickreplay.errors import ConfigError
    from tickreplay.experiment.scenario import load_scenario
    from tickreplay.experiment.sweep import compare, read_grid
    from tickreplay.results import open_run, store_index

    if bool(args.scenarios) == bool(args.grid):
        raise ConfigError("give scenario files or --grid GRID.toml (one of them)")
    if args.batch_size < 1:
        raise ConfigError(f"--batch-size must be at least 1, not {args.batch_size}")
    backend = args.backend
    if args.grid:
        grid = read_grid(args.grid)
        scenarios, texts = grid.scenarios, None
        backend = backend or grid.backend
    else:
        scenarios = [load_scenario(p) for p in args.scenarios]
        texts = [Path(p).read_text() for p in args.scenarios]
    table = compare(scenarios, args.out, jobs=args.jobs, texts=texts, rerun=args.rerun, backend=backend or "local",
                    ray_address=args.ray_address, batch_size=args.batch_size)
    print(run_count_line(table, args.out))
    print(format_table(table))
    if args.report:
        from tickreplay.report import compare_report

        runs = dict.fromkeys(table["run_id"])  # one scenario given twice is one run, counted once
        index = store_index(args.out)
        page = compare_report([open_run(args.out, r, index) for r in runs], Path(args.out) / "_compare")
        print(f"comparison report: {page}")
    return 0


def run_count_line(table, out: str | Path) -> str:
    """Where a comparison's runs are, and how many ran now or were already complete."""
    skipped = int(table["skipped"].sum()) if len(table) else 0
    line = f"{len(table)} runs in {Path(out).resolve()}: {len(table) - skipped} run now"
    return line + (f", {skipped} already complete (skipped; --rerun runs them again)" if skipped else "")


def _report(args: argparse.Namespace) -> int:
    from tickreplay.report import compare_report, run_report
    from tickreplay.results import open_run

    dirs = [Path(r) for r in args.runs]
    dirs = [d if (d / "run.json").is_file() or not d.parent.is_dir() else open_run(d.parent, d.name) for d in dirs]
    for d in dirs:
        print(f"{d}: {run_report(d)}")
    if len(dirs) > 1:
        out = Path(args.out) if args.out else dirs[0].parent / "_compare"
        print(f"comparison: {compare_report(dirs, out)}")
    return 0
