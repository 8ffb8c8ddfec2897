"""Execution-engine speed on the LOBSTER AMZN level-5 day (one core): Python loop and compiled loop side by side.

Prints, after building the per-tape :class:`ReplayData` once (timed) and one
warm-up run per strategy and path (numba compile or cache load):

* (a) TWAP: 390 one-minute child market orders over the day;
* (b) passive: 390 child limit orders at the touch, cancel-replaced at the
  then-current touch every 30 s until filled;

for each, and for each path (``Engine.run(..., compiled=False)``, the Python
reference, and the default compiled loop of :mod:`tickreplay.engine_kernel`):
the time of one full-day run, min and median over ``--repeat`` runs with
different seeds, also per child order (jittered latencies: market data
N(1 ms, 0.2 ms), entry N(2 ms, 0.5 ms), response N(1 ms, 0.2 ms)). The
schedule (``twap``) is built before the clock starts and timed on its own; so is reading the run's order log
and fills (the compiled run builds those frames when they are first read).
Target (issue 10): <= 15 us per child order on the compiled path.

The script pins itself to one CPU. Run: ``.venv/bin/python benchmarks/bench_engine.py``
(``--help`` for options).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from dataclasses import replace
from pathlib import Path

from tickreplay.adapters.lobster import read_lobster
from tickreplay.engine import Engine, EngineConfig
from tickreplay.trader.executor import ChildOrderExecutor
from tickreplay.latency import Normal
from tickreplay.book.replay import ReplayData
from tickreplay.schedule import ParentOrder, twap

REPO = Path(__file__).resolve().parents[1]
LOBSTER = Path(os.environ.get("TICKREPLAY_SHARED_DATA", REPO.parent / "shared" / "data")) / "lobster"
STEM = "AMZN_2012-06-21_34200000_57600000"
MINUTE_NS = 60_000_000_000
MS = 1_000_000


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=9, help="runs per path and strategy (default 9)")
    args = ap.parse_args()
    if hasattr(os, "sched_setaffinity"):  # one core
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})

    t0 = time.perf_counter()
    ing = read_lobster(LOBSTER / f"{STEM}_message_5.csv", LOBSTER / f"{STEM}_orderbook_5.csv")
    t_read = time.perf_counter() - t0
    ReplayData.build(ing.tape, ing.snapshots)  # compile / load the numba cache
    t0 = time.perf_counter()
    replay = ReplayData.build(ing.tape, ing.snapshots)
    t_build = time.perf_counter() - t0
    print(f"AMZN level-5 tape: {len(replay):,} events; read_lobster {t_read:.2f} s (once per tape), "
          f"ReplayData.build {t_build * 1e3:.1f} ms (once per tape)")

    start = replay.session_start_ns
    parent = ParentOrder(side=1, quantity=39_000, start_ns=start, end_ns=start + 390 * MINUTE_NS)
    t0 = time.perf_counter()
    schedules = {"market": twap(parent, n_children=390, style="market"),
                 "limit_touch": twap(parent, n_children=390, style="limit_touch")}
    t_sched = (time.perf_counter() - t0) / 2
    print(f"schedule: twap(390 children) {t_sched * 1e3:.1f} ms (not in the run times below)")
    cases = {
        "(a) TWAP, 390 one-minute market children": lambda: ChildOrderExecutor(1, schedules["market"]),
        "(b) passive, 390 limits at the touch, replace after 30 s": lambda: ChildOrderExecutor(
            1, schedules["limit_touch"], replace_after_ns=30_000 * MS),
    }
    base = EngineConfig(md_latency=Normal(1 * MS, MS // 5), entry_latency=Normal(2 * MS, MS // 2),
                        response_latency=Normal(1 * MS, MS // 5))
    for name, make in cases.items():
        print(f"{name}:")
        children = len(make().children)
        times = {}
        for label, compiled in (("python", False), ("compiled", True)):
            res = Engine(replay, base).run(make(), compiled=compiled)  # warm-up
            single, tables = [], []
            for k in range(args.repeat):
                engine, strategy = Engine(replay, replace(base, seed=k)), make()
                t0 = time.perf_counter()
                out = engine.run(strategy, compiled=compiled)
                t1 = time.perf_counter()
                out.orders, out.fills  # noqa: B018 (the compiled run builds its frames when first read)
                single.append(t1 - t0)
                tables.append(time.perf_counter() - t1)
            times[label] = statistics.median(single)
            print(f"  {label:>8}: one full-day run min {min(single) * 1e3:6.1f} ms, median "
                  f"{statistics.median(single) * 1e3:6.1f} ms (of {args.repeat}) = min "
                  f"{min(single) / children * 1e6:5.1f} / median {statistics.median(single) / children * 1e6:5.1f} "
                  f"us per child order; then reading its order log and fills: median "
                  f"{statistics.median(tables) * 1e3:.2f} ms")
        new = res.orders[res.orders.action == "new"]
        print(f"  compiled / python (medians): {times['compiled'] / times['python']:.3f}")
        print(f"  per run: {len(res.orders)} order-log rows, {len(res.fills)} fills, "
              f"{int(new.filled.sum()):,} of {int(new.quantity.sum()):,} shares filled, "
              f"{int(new.queue_unknown.sum())} orders with queue position unknown at some point")


if __name__ == "__main__":
    main()
