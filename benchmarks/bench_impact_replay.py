"""Cost of the impact-adjusted replay: the same TWAP on the Python loop with and without ``[impact]``.

Prints CPU (``time.process_time``) and wall seconds per run, min and median over repeats, for market and
limit_touch children, impact off (``impact=None``), a propagator in seconds and one in tape trades, and the
compiled loop (impact off) for reference. Run: ``python benchmarks/bench_impact_replay.py [--repeats N]``.
"""

from __future__ import annotations

import argparse
import statistics
import time

from tickreplay.adapters.synthetic import generate_day
from tickreplay.book.fast import compute_snapshots
from tickreplay.book.replay import ReplayData
from tickreplay.engine import Engine, EngineConfig
from tickreplay.impact.replay_impact import ImpactModel
from tickreplay.schedule import ParentOrder, twap
from tickreplay.trader.executor import ChildOrderExecutor

S = 1_000_000_000
MODELS = {
    "off (python)": None,
    "propagator s": ImpactModel("propagator", beta=0.5, tau0=30.0, G0=0.5, permanent_bps=0.05),
    "propagator trades": ImpactModel("propagator", beta=0.4, tau0=50.0, clock="trades", G0=0.5),
}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--children", type=int, default=60)
    args = ap.parse_args()
    tape = generate_day("liquid_large_cap", seed=1)
    replay = ReplayData.build(tape, compute_snapshots(tape, 5))
    t0 = replay.session_start_ns + 1800 * S
    parent = ParentOrder(1, 20_000, t0, t0 + 3600 * S)
    print(f"tape: {len(replay):,} events; TWAP of {args.children} children over 1 h; {args.repeats} repeats")
    print(f"{'style':<12} {'impact':<18} {'cpu min':>8} {'cpu med':>8} {'wall min':>8} {'wall med':>8}  fills")
    for style in ("market", "limit_touch"):
        kids = twap(parent, n_children=args.children, style=style, lot_size=tape.instrument.lot_size)
        runs = [(name, m, False) for name, m in MODELS.items()] + [("off (compiled)", None, True)]
        for name, model, compiled in runs:
            cpu, wall = [], []
            for _ in range(args.repeats + 1):  # the first run warms numba's caches: not counted
                c, w = time.process_time(), time.perf_counter()
                res = Engine(replay, EngineConfig(impact=model)).run(
                    ChildOrderExecutor(1, kids, 10 * S), start_ns=t0, compiled=compiled)
                cpu.append(time.process_time() - c)
                wall.append(time.perf_counter() - w)
            cpu, wall = cpu[1:], wall[1:]
            print(f"{style:<12} {name:<18} {min(cpu):8.3f} {statistics.median(cpu):8.3f} {min(wall):8.3f} "
                  f"{statistics.median(wall):8.3f}  {len(res.fills)}")


if __name__ == "__main__":
    main()
