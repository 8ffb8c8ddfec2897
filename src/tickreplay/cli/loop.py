"""``tickreplay loop SCENARIO``: the closed hedging loop over days, one policy, the three compared, or the routers
of a routed loop compared."""

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
    how = p.add_mutually_exclusive_group()
    how.add_argument("--compare", action="store_true",
                     help="run static, daily and regime on the same days and exposure and write the comparison")
    how.add_argument("--compare-routers", action="store_true",
                     help="routed loops: run every router of [loop.router] compare (the first the baseline) on the "
                          "same days and exposure, with the learning policy (--policy, default the scenario's) and "
                          "with static, and write the paired comparison")
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
    out = Path(args.out)
    extra = out / f"_loop_{cfg.name}"
    if args.compare_routers:
        return _routers(args, cfg, text, days, exposure, out, extra)
    policies = POLICIES if args.compare else (args.policy or cfg.policy,)
    results = {p: run_loop(cfg, p, days=days, exposure=exposure) for p in policies}
    for r in results.values():
        folder = write_loop(out, cfg.name, r, text)
        print(f"{r.policy}: {folder}")
        print(json.dumps(summary(r), indent=2, default=float))
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


def _routers(args, cfg, text, days, exposure, out: Path, extra: Path) -> int:
    """``--compare-routers``: the router comparison per learning policy (the chosen one, and static)."""
    from tickreplay.errors import ConfigError
    from tickreplay.hedging.loop_report import write_json, write_loop
    from tickreplay.hedging.router_compare import compare_routers, router_figure, run_routers

    if cfg.router is None:
        raise ConfigError(f"{cfg.where()}: --compare-routers needs a routed loop ('[loop.router]' with "
                          "'[[loop.venues]]')")
    learning = args.policy or cfg.policy
    doc: dict = {"scenario": cfg.name, "days": len(days), "policies": {}, "cpu_s": {}}
    for policy in dict.fromkeys((learning, "static")):
        results, cpu = run_routers(cfg, policy, days=days, exposure=exposure)
        for label, r in results.items():
            folder = write_loop(out, f"{cfg.name}-router-{label.replace(':', '_')}", r, text)
            print(f"{policy}, {label}: {folder} (loop CPU {cpu[label]:.1f} s)")
        cmp = compare_routers(results, seed=cfg.seed)
        doc["policies"][policy], doc["cpu_s"][policy] = cmp, cpu
        for line in cmp["findings"]:
            print(" ", line)
        if not args.no_figures:
            print(f"figure: {router_figure(cmp, results, extra / f'router_comparison_{policy}.png')}")
    print(f"router comparison: {write_json(extra / 'router_comparison.json', doc)}")
    return 0
