"""``tickreplay loop SCENARIO``: the closed hedging loop over days, one policy or the three compared."""

from __future__ import annotations

import argparse
from pathlib import Path

DEFAULT_OUT = "results"
POLICIES = ("static", "daily", "regime")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("loop", help="run the closed hedging loop of a [loop] scenario (docs/loop.md)")
    p.add_argument("scenario", help="loop scenario TOML file with a [loop] table")
    p.add_argument("--out", default=DEFAULT_OUT, help=f"results root (default: {DEFAULT_OUT})")
    p.add_argument("--policy", choices=POLICIES, help="the policy to run (default: the scenario's loop.policy)")
    p.add_argument("--compare", action="store_true",
                   help="run static, daily and regime on the same days and exposure and write the comparison")
    p.add_argument("--no-figures", action="store_true", help="skip the PNG figures")
    p.set_defaults(func=_loop)


def _loop(args: argparse.Namespace) -> int:
    import json

    from tickreplay.hedging.executors import load_days
    from tickreplay.hedging.loop import load_exposure, run_loop
    from tickreplay.hedging.loop_config import load_loop
    from tickreplay.hedging.loop_report import compare, figures, summary, tracking, write_json, write_loop

    cfg = load_loop(args.scenario)
    text = Path(args.scenario).read_text()
    days = load_days(cfg)
    exposure = load_exposure(cfg, days)
    policies = POLICIES if args.compare else (args.policy or cfg.policy,)
    results = {p: run_loop(cfg, p, days=days, exposure=exposure) for p in policies}
    out = Path(args.out)
    for r in results.values():
        folder = write_loop(out, cfg.name, r, text)
        print(f"{r.policy}: {folder}")
        print(json.dumps(summary(r), indent=2, default=float))
    extra = out / f"_loop_{cfg.name}"
    if args.compare:
        cmp = compare(results, cfg.seed)
        cmp["tracking_updates"] = {p: tracking(r).to_dict("records") for p, r in results.items()}
        print(f"comparison: {write_json(extra / 'comparison.json', cmp)}")
        for line in cmp["findings"]:
            print(" ", line)
    if not args.no_figures:
        for f in figures(results, extra):
            print(f"figure: {f}")
    return 0
