"""Speed of the closed hedging loop: the 20-day generated loops of scenarios/hedging_loop.toml (impact-adjusted
replay) and scenarios/hedging_loop_reactive.toml (the reactive market), one policy each.

Prints CPU (``time.process_time``) and wall seconds of day generation and of one ``regime`` loop, min and median
over repeats, and the hedges per day. Target: under a minute on 2 cores. Run:
``python benchmarks/bench_loop.py [--repeats N] [--scenario FILE ...]``.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from tickreplay.hedging.executors import load_days
from tickreplay.hedging.loop import load_exposure, run_loop
from tickreplay.hedging.loop_config import LoopConfig, load_loop

SCENARIOS = [Path(__file__).parent.parent / "scenarios" / f for f in ("hedging_loop.toml",
                                                                       "hedging_loop_reactive.toml")]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--scenario", nargs="*", default=SCENARIOS)
    args = ap.parse_args()
    for scenario in args.scenario:
        bench(load_loop(scenario), args.repeats)


def bench(cfg: LoopConfig, repeats: int) -> None:
    """Time day generation and one ``regime`` loop of ``cfg`` ``repeats`` times; print min and median."""
    gen, loop = ([], []), ([], [])
    for _ in range(repeats):
        c, w = time.process_time(), time.perf_counter()
        days = load_days(cfg)
        path = load_exposure(cfg, days)
        gen[0].append(time.process_time() - c)
        gen[1].append(time.perf_counter() - w)
        c, w = time.process_time(), time.perf_counter()
        res = run_loop(cfg, "regime", days=days, exposure=path)
        loop[0].append(time.process_time() - c)
        loop[1].append(time.perf_counter() - w)
    hedges = int((res.hedges["filled_shares"] > 0).sum())
    print(f"{cfg.name}: {len(days)} days, {hedges} hedges ({hedges / len(days):.1f}/day), {int(res.hedges['paused'].sum())} paused")
    for name, (cpu, wall) in (("generate days", gen), ("loop (regime)", loop)):
        print(f"{name:<14} cpu min {min(cpu):6.2f} med {statistics.median(cpu):6.2f}  "
              f"wall min {min(wall):6.2f} med {statistics.median(wall):6.2f} s")


if __name__ == "__main__":
    main()
