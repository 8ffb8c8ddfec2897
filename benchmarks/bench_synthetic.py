"""Generation speed of the synthetic order-flow generator (one core).

Prints events/s for a full session of at least 1,000,000 events (the
liquid large-cap regime at a higher activity), the default demo day, and the
LOBSTER writer on the demo day. Run: ``.venv/bin/python benchmarks/bench_synthetic.py``.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import replace
from pathlib import Path

from tickreplay.adapters.lobster_writer import write_lobster
from tickreplay.adapters.synthetic import REGIMES, generate_day


def timed(fn):
    t0 = time.perf_counter()
    out = fn()
    dt = time.perf_counter() - t0
    return out, dt


def main() -> None:
    generate_day("thin_small_cap", seed=0, duration_s=60)  # compile (or load the numba cache) first
    big = replace(REGIMES["liquid_large_cap"], activity_eps=32.0)
    tape, dt = timed(lambda: generate_day(big, seed=1, progress=False))
    print(f"generate full day, liquid_large_cap at activity_eps=32: {len(tape):,} events in {dt:.2f} s "
          f"= {len(tape) / dt:,.0f} events/s")
    for regime in REGIMES:
        tape, dt = timed(lambda: generate_day(regime, seed=1, progress=False))
        print(f"generate full day, {regime}: {len(tape):,} events in {dt:.2f} s = {len(tape) / dt:,.0f} events/s")
    demo = generate_day("liquid_large_cap", seed=1)
    with tempfile.TemporaryDirectory() as d:
        _, dt = timed(lambda: write_lobster(demo, Path(d) / "m.csv", Path(d) / "o.csv", 10))
    print(f"write_lobster, demo day, 10 levels: {len(demo):,} rows in {dt:.2f} s = {len(demo) / dt:,.0f} rows/s")


if __name__ == "__main__":
    main()
