"""Time a two-venue day against the single-venue engine on the same events.

One generated ``liquid_large_cap`` day (``--duration-s``, default the full session) is replayed four ways, each run
``--repeat`` times after one untimed warm-up; per way it prints CPU (``time.process_time``) and wall time of the engine run (data prepared
beforehand: generation, split and snapshots are not timed), min and median:

* ``engine``: the single-venue :class:`~tickreplay.engine.Engine` on the whole day, a TWAP of limit-at-touch
  children (:class:`~tickreplay.trader.ChildOrderExecutor`: cancel/replace, then market), in its Python loop (the
  reference: ratios are to it) and in its compiled child-order loop (the same run; what a one-venue run uses);
* ``venues x1``: :class:`~tickreplay.venues.VenueEngine` with the whole day as its one venue, the same executor
  (the same run byte for byte: the multi-venue loop's own cost);
* ``venues x2``: the day's orders split 65 / 35 into venues A and B (the same events in total), the same executor
  (its orders go to A);
* ``routed x2 <policy>``: the two venues, the same TWAP's children routed by
  :class:`~tickreplay.venues.router_strategy.RoutedExecutor` (``best``, ``cont-kukanov``).

Usage: ``PYTHONPATH=src python benchmarks/bench_venues.py [--duration-s 1800] [--repeat 5]``.
"""

from __future__ import annotations

import argparse
import statistics
import time

from tickreplay.adapters.synthetic import generate_day
from tickreplay.book.fast import compute_snapshots
from tickreplay.book.replay import ReplayData
from tickreplay.engine import Engine, EngineConfig
from tickreplay.exchange import FeeSchedule
from tickreplay.latency import Constant, Normal
from tickreplay.schedule import ParentOrder, twap
from tickreplay.trader import ChildOrderExecutor
from tickreplay.venues import Venue, VenueEngine
from tickreplay.venues.generate import split_tape
from tickreplay.venues.router_strategy import RoutedExecutor, RouterPolicy

NS = 1_000_000_000
MS = 1_000_000


def _timed(run, repeat: int) -> tuple[list[float], list[float], object]:
    run()  # warm-up, not timed: compiled code and per-replay caches
    cpu, wall, out = [], [], None
    for _ in range(repeat):
        c0, w0 = time.process_time(), time.perf_counter()
        out = run()
        cpu.append(time.process_time() - c0)
        wall.append(time.perf_counter() - w0)
    return cpu, wall, out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--duration-s", type=float, default=None, help="generated day length, s (default: the session)")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()

    tape = generate_day("liquid_large_cap", args.seed, duration_s=args.duration_s, progress=False)
    day = ReplayData.build(tape, compute_snapshots(tape, 5))
    parts = split_tape(tape, {"A": 0.65, "B": 0.35}, args.seed)
    rep = {n: ReplayData.build(t, compute_snapshots(t, 5)) for n, t in parts.items()}
    cfg = EngineConfig(md_latency=Constant(1 * MS), entry_latency=Normal(2 * MS, 1 * MS),
                       response_latency=Constant(1 * MS), fees=FeeSchedule(maker_bps=-0.2, taker_bps=0.3))
    cfg_b = EngineConfig(md_latency=Constant(3 * MS), entry_latency=Normal(5 * MS, 2 * MS),
                         response_latency=Constant(2 * MS), fees=FeeSchedule(maker_bps=-0.1, taker_bps=0.1))
    t0 = day.session_start_ns + 60 * NS
    t1 = day.session_end_ns - 600 * NS
    n_children = max(10, int((t1 - t0) / NS // 300))  # one child per 5 minutes
    parent = ParentOrder(1, 100 * n_children * 3, t0, t1)
    touch = twap(parent, n_children=n_children, style="limit_touch", lot_size=100)
    market = twap(parent, n_children=n_children, style="market", lot_size=100)
    two = [Venue("A", rep["A"], cfg), Venue("B", rep["B"], cfg_b)]

    def executor():
        return ChildOrderExecutor(1, touch, 30 * NS, 2, True)

    ways = {
        "engine (python loop)": lambda: Engine(day, cfg).run(executor(), start_ns=t0, compiled=False),
        "engine (compiled)": lambda: Engine(day, cfg).run(executor(), start_ns=t0),
        "venues x1": lambda: VenueEngine([Venue("day", day, cfg)]).run(executor(), start_ns=t0),
        "venues x2": lambda: VenueEngine(two).run(executor(), start_ns=t0),
        "routed x2 best": lambda: VenueEngine(two).run(RoutedExecutor(1, market, RouterPolicy("best"),
                                                                      parent.quantity), start_ns=t0),
        "routed x2 cont-kukanov": lambda: VenueEngine(two).run(
            RoutedExecutor(1, market, RouterPolicy("cont-kukanov", horizon_ns=60 * NS), parent.quantity),
            start_ns=t0),
    }
    print(f"liquid_large_cap seed {args.seed}: {len(tape):,} events ({len(parts['A']):,} on A, "
          f"{len(parts['B']):,} on B), {(tape.ts_ns[-1] - tape.ts_ns[0]) / NS:,.0f} s; TWAP of {parent.quantity:,} "
          f"in {n_children} children; {args.repeat} runs each")
    base = None
    for name, run in ways.items():
        cpu, wall, res = _timed(run, args.repeat)
        base = base or statistics.median(cpu)
        print(f"{name:24s} cpu min {min(cpu):6.3f} s median {statistics.median(cpu):6.3f} s | wall min "
              f"{min(wall):6.3f} s median {statistics.median(wall):6.3f} s | cpu median / python engine "
              f"{statistics.median(cpu) / base:5.2f} | {len(res.orders):,} requests, {len(res.fills):,} fills")


if __name__ == "__main__":
    main()
