"""Time the exact Cont–Kukanov solve (router/cont_kukanov.solve) for a few problem sizes.

Prints, per (S, N draws, K venues), CPU (``time.process_time``) and wall time of the solve, min and median of
``--repeat`` runs. Usage: ``PYTHONPATH=src python benchmarks/bench_router.py [--repeat 5]``.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from tickreplay.router import solve

CASES = ((200, 500, 1, 150, 100), (100, 1000, 2, 60, 30), (200, 500, 2, 150, 100), (40, 200, 3, 60, 30))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    rng = np.random.default_rng(1)
    for size, n, k, mean_outflow, queue in CASES:
        xi = rng.poisson(mean_outflow, size=(n, k))
        cpu, wall = [], []
        for _ in range(args.repeat):
            c0, w0 = time.process_time(), time.perf_counter()
            sp = solve(size, [queue] * k, xi, 0.01, 0.003, [0.002] * k, 0.05, 0.05)
            cpu.append(time.process_time() - c0)
            wall.append(time.perf_counter() - w0)
        print(f"S={size:4d} N={n:5d} K={k}: cpu min {min(cpu) * 1e3:7.1f} ms median "
              f"{statistics.median(cpu) * 1e3:7.1f} ms | wall min {min(wall) * 1e3:7.1f} ms median "
              f"{statistics.median(wall) * 1e3:7.1f} ms | M={sp.market} L={sp.limits}")


if __name__ == "__main__":
    main()
