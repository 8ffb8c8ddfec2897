"""LOBSTER ingest throughput on one core: rows/s by wall and by CPU time, and peak RSS.

Each repeat is a fresh ``tickreplay ingest lobster MSG OB --catalog DIR --force`` process pinned to one core
(``taskset -c CORE``), after one warm-up run (numba's cache); CPU is the child's user + sys
(``getrusage(RUSAGE_CHILDREN)``), peak RSS its ``ru_maxrss``. ``--profile`` adds one in-process run under
cProfile and prints the functions that take the most time (the compiled kernels show as single calls).

    python benchmarks/bench_lobster_ingest.py MSG OB [--repeats 3] [--catalog DIR] [--json]

A 20 M-message 10-level day to measure on: ``tickreplay generate --seed 1 --activity 65 --levels 10
--lobster-dir DIR``. The machine is shared: report min and median, and compare builds side by side
(``PYTHONPATH=<tree>/src``).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _rows(path: Path) -> int:
    """Lines of ``path`` (the message file's rows)."""
    n = 0
    with open(path, "rb") as f:
        while block := f.read(1 << 24):
            n += block.count(b"\n")
    return n


def _one(cmd: list[str], env: dict) -> tuple[float, float, float]:
    """(wall s, user + sys s, peak RSS MB) of one run of ``cmd``."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, after.ru_maxrss / 1024  # ru_maxrss of children: the largest so far, KB


def _profile(msg: Path, ob: Path, catalog: Path, top: int) -> None:
    import cProfile
    import pstats

    from tickreplay.adapters.lobster import ingest_lobster
    from tickreplay.catalog import Catalog

    prof = cProfile.Profile()
    prof.runcall(ingest_lobster, msg, ob, Catalog(catalog), force=True)
    pstats.Stats(prof).sort_stats("tottime").print_stats(top)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("message_csv", type=Path)
    ap.add_argument("orderbook_csv", type=Path)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--core", default="0", help="taskset core list (empty: not pinned)")
    ap.add_argument("--catalog", type=Path, default=None, help="catalog root (default: a temporary folder)")
    ap.add_argument("--profile", type=int, default=0, metavar="N", help="also print the top N functions")
    ap.add_argument("--json", action="store_true", help="last line: one JSON object of the figures")
    a = ap.parse_args()
    root = a.catalog or Path(tempfile.mkdtemp(prefix="bench-lobster-"))
    exe = shutil.which("tickreplay") or str(Path(sys.executable).with_name("tickreplay"))
    cmd = [exe, "ingest", "lobster", str(a.message_csv), str(a.orderbook_csv), "--catalog", str(root), "--force"]
    if a.core and shutil.which("taskset"):
        cmd = ["taskset", "-c", a.core, *cmd]
    env = dict(os.environ)
    rows = _rows(a.message_csv)
    _one(cmd, env)  # warm-up: numba's cache, the files in the page cache
    runs = [_one(cmd, env) for _ in range(a.repeats)]
    walls, cpus = [r[0] for r in runs], [r[1] for r in runs]
    out = {
        "rows": rows,
        "wall_s_min": min(walls), "wall_s_median": statistics.median(walls),
        "cpu_s_min": min(cpus), "cpu_s_median": statistics.median(cpus),
        "rows_per_s_wall_best": rows / min(walls), "rows_per_s_wall_median": rows / statistics.median(walls),
        "rows_per_s_cpu_best": rows / min(cpus), "rows_per_s_cpu_median": rows / statistics.median(cpus),
        "peak_rss_mb": max(r[2] for r in runs),
    }
    print(f"LOBSTER ingest, {rows:,} rows, {a.repeats} runs on core {a.core or 'any'}:")
    print(f"  wall {out['wall_s_min']:.1f} s min / {out['wall_s_median']:.1f} s median -> "
          f"{out['rows_per_s_wall_best']:,.0f} / {out['rows_per_s_wall_median']:,.0f} rows/s")
    print(f"  cpu  {out['cpu_s_min']:.1f} s min / {out['cpu_s_median']:.1f} s median -> "
          f"{out['rows_per_s_cpu_best']:,.0f} / {out['rows_per_s_cpu_median']:,.0f} rows/s")
    print(f"  peak RSS {out['peak_rss_mb']:,.0f} MB")
    if a.profile:
        _profile(a.message_csv, a.orderbook_csv, root, a.profile)
    if a.catalog is None:
        shutil.rmtree(root, ignore_errors=True)
    if a.json:
        print(json.dumps(out))


if __name__ == "__main__":
    main()
