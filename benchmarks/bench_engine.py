"""Execution-engine speed on the LOBSTER AMZN level-5 day (one core).

Prints, after building the per-tape :class:`ReplayData` once (timed) and one
warm-up run per strategy (numba compile or cache load):

* (a) TWAP: 390 one-minute child market orders over the day;
* (b) passive: 390 child limit orders at the touch, cancel-replaced at the
  then-current touch every 30 s until filled;

for each: the time of one full-day run (median of ``--repeat``), and runs/s
over ``--runs`` runs with different seeds (jittered latencies: market data
N(1 ms, 0.2 ms), entry N(2 ms, 0.5 ms), response N(1 ms, 0.2 ms)). Target:
a full-day run under 0.2 s.

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
    ap.add_argument("--runs", type=int, default=100, help="runs for the runs/s figure (default 100)")
    ap.add_argument("--repeat", type=int, default=5, help="runs for the single-run median (default 5)")
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
    cases = {
        "(a) TWAP, 390 one-minute market children": lambda: ChildOrderExecutor(
            1, twap(parent, n_children=390, style="market")),
        "(b) passive, 390 limits at the touch, replace after 30 s": lambda: ChildOrderExecutor(
            1, twap(parent, n_children=390, style="limit_touch"), replace_after_ns=30_000 * MS),
    }
    base = EngineConfig(md_latency=Normal(1 * MS, MS // 5), entry_latency=Normal(2 * MS, MS // 2),
                        response_latency=Normal(1 * MS, MS // 5))
    for name, make in cases.items():
        engine = Engine(replay, base)
        res = engine.run(make())  # warm-up
        single = []
        for k in range(args.repeat):
            engine = Engine(replay, replace(base, seed=k))
            t0 = time.perf_counter()
            engine.run(make())
            single.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        for k in range(args.runs):
            Engine(replay, replace(base, seed=1000 + k)).run(make())
        total = time.perf_counter() - t0
        new = res.orders[res.orders.action == "new"]
        print(f"{name}:")
        print(f"  one full-day run: {statistics.median(single) * 1e3:.1f} ms (median of {args.repeat})")
        print(f"  {args.runs} runs: {total:.2f} s → {args.runs / total:.1f} runs/s")
        print(f"  per run: {len(res.orders)} order-log rows, {len(res.fills)} fills, "
              f"{int(new.filled.sum()):,} of {int(new.quantity.sum()):,} shares filled, "
              f"{int(new.queue_unknown.sum())} orders with queue position unknown at some point")


if __name__ == "__main__":
    main()
