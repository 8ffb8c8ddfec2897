"""Time per reactive run (tickreplay.reactive) next to a plain replay of the same schedule.

One ``liquid_large_cap`` day with planted impact (Y = 1, δ = 0.5, G0 = 0; ``--duration-s``, default the full
session), a buy TWAP of 0.5 % of V in 100 market children over 60 minutes from 10:00, 2 ms ± 0.5 ms entry
latency. Per repeat: the reactive run (generating the day with our parent, the book, our fills, TCA) and the plain
way (generating the plain day, its book, the engine run, TCA), each as CPU time of this process
(``time.process_time``) and wall time; prints min and median over ``--repeat`` (after one warm-up of each, which
compiles the numba kernels).

Run: ``.venv/bin/python benchmarks/bench_reactive.py [--repeat 5] [--duration-s 23400]``.
"""

from __future__ import annotations

import argparse
import statistics
import time

from tickreplay.adapters.metaorders import PlantedImpact, expected_daily_volume
from tickreplay.engine import EngineConfig
from tickreplay.latency import Normal
from tickreplay.reactive import ReactiveDay, plain_run, reactive_run
from tickreplay.schedule import ParentOrder, twap

NS = 1_000_000_000


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--duration-s", type=float, default=None)
    args = ap.parse_args()
    day = ReactiveDay("liquid_large_cap", 1, PlantedImpact(1.0, 0.5, 0.0, 0.3), args.duration_s)
    open_ns = day.generator().open_ns
    start = open_ns + 1800 * NS
    parent = ParentOrder(1, round(0.005 * expected_daily_volume("liquid_large_cap")), start, start + 3600 * NS)
    kids = twap(parent, n_children=100)
    cfg = EngineConfig(entry_latency=Normal(2_000_000, 500_000), seed=1)

    def reactive() -> int:
        return len(reactive_run(day, parent, kids, cfg).tape)

    def plain() -> int:
        data = day.plain()
        plain_run(data, parent, kids, cfg)
        return len(data.tape)

    for name, fn in (("reactive run", reactive), ("plain day + engine run", plain)):
        n = fn()  # warm-up: numba compilation
        cpu, wall = [], []
        for _ in range(args.repeat):
            c0, w0 = time.process_time(), time.perf_counter()
            fn()
            cpu.append(time.process_time() - c0)
            wall.append(time.perf_counter() - w0)
        print(f"{name:24s} {n:>9,} events  CPU s min {min(cpu):.3f} median {statistics.median(cpu):.3f}  "
              f"wall s min {min(wall):.3f} median {statistics.median(wall):.3f}  ({args.repeat} repeats)")


if __name__ == "__main__":
    main()
