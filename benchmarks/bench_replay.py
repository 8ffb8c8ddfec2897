"""Ingest and book-reconstruction throughput on one core.

Prints, for the LOBSTER AMZN level-5 pair in ../shared/data/lobster and for a
generated day of at least 1,000,000 events:

* streaming ingest (``ingest_lobster`` into a temporary catalog), each run in a
  fresh child process pinned to one core: message rows/s by wall time and by
  CPU time (min and median of ``--ingest-runs``; the machine is shared, so CPU
  time is the steadier figure), the child's peak RSS, and bytes on disk per
  tape event; with ``--big MSG OB`` also for that pair (e.g. a 20 M-message
  day built by ``--big``-sized copies of AMZN);
* in-memory ingest: ``read_lobster`` wall time, best of 2;
* reconstruction: events/s of ``compute_snapshots(tape, 5)`` (top-5 after
  every event), of ``apply_tape_fast`` (final book only), both after a
  warm-up call that compiles or loads the numba cache, best of
  ``--repeat`` runs; and of the pure-Python ``L3Book.apply_tape`` (one run).

Run: ``.venv/bin/python benchmarks/bench_replay.py`` (``--help`` for options);
``--ingest-only`` skips the in-memory ingest and the reconstruction.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from tickreplay.book import L3Book
from tickreplay.book.fast import apply_tape_fast, compute_snapshots
from tickreplay.tape import Tape

REPO = Path(__file__).resolve().parents[1]
LOBSTER = REPO.parent / "shared" / "data" / "lobster"
AMZN5 = ("AMZN_2012-06-21_34200000_57600000_message_5.csv", "AMZN_2012-06-21_34200000_57600000_orderbook_5.csv")
DAY_EVENTS = 1_000_000


def best_of(fn, repeat: int) -> float:
    """Fastest wall time of ``repeat`` calls, in seconds."""
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def line(label: str, n: int, seconds: float, unit: str = "events") -> None:
    print(f"  {label:<44} {n:>10,} {unit} in {seconds:7.3f} s = {n / seconds:>13,.0f} {unit}/s")


def generated_day(seed: int) -> tuple[str, Tape]:
    from tickreplay.adapters.synthetic import REGIMES, generate_day

    params = replace(REGIMES["liquid_large_cap"], activity_eps=32.0)  # a busy day: > 1M events
    tape = generate_day(params, seed=seed, progress=False)
    if len(tape) < DAY_EVENTS:
        raise SystemExit(f"generated day has {len(tape):,} events, fewer than {DAY_EVENTS:,}")
    return "generate_day(liquid_large_cap, activity_eps=32)", tape


_CHILD = """
import json, resource, sys, time
t0, c0 = time.perf_counter(), time.process_time()
from tickreplay.adapters.lobster import ingest_lobster
from tickreplay.catalog import Catalog
entry, report, log = ingest_lobster(sys.argv[1], sys.argv[2], Catalog(sys.argv[3]))
wall, cpu = time.perf_counter() - t0, time.process_time() - c0
disk = sum(p.stat().st_size for p in entry.folder.iterdir())
print(json.dumps({"rows": report["rows"], "events": report["events"], "wall_s": wall, "cpu_s": cpu, "disk": disk,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def streaming_ingest(label: str, msg: Path, ob: Path, runs: int, cpu: int | None) -> None:
    """``ingest_lobster`` of the pair in ``runs`` fresh child processes (imports and cache loading included)."""
    print(f"streaming ingest {label} ({msg.parent}), {runs} runs in child processes")
    env = {**os.environ, "PYTHONPATH": str(REPO / "src") + os.pathsep + os.environ.get("PYTHONPATH", "")}
    pin = ["taskset", "-c", str(cpu)] if cpu is not None and sys.platform.startswith("linux") else []
    out = []
    for _ in range(runs):
        with tempfile.TemporaryDirectory(prefix="bench_ingest_") as root:
            done = subprocess.run([*pin, sys.executable, "-c", _CHILD, str(msg), str(ob), root], env=env,
                                  capture_output=True, text=True)
            if done.returncode:
                raise SystemExit(f"ingest child failed:\n{done.stderr}")
            out.append(json.loads(done.stdout.splitlines()[-1]))
    rows, events, disk = out[0]["rows"], out[0]["events"], out[0]["disk"]

    def fig(key: str) -> str:
        rates = [rows / o[key] for o in out]
        return f"min {min(rates):>11,.0f}  median {statistics.median(rates):>11,.0f} rows/s"

    print(f"  {rows:,} rows -> {events:,} events")
    print(f"  by wall time  {fig('wall_s')}")
    print(f"  by CPU time   {fig('cpu_s')}")
    rss = [o["peak_rss_mb"] for o in out]
    print(f"  peak RSS      min {min(rss):,.0f} MB  max {max(rss):,.0f} MB")
    print(f"  on disk       {disk:,} bytes = {disk / events:.2f} bytes/event ({disk / rows:.2f} bytes/row)")


def ingest_amzn() -> Tape | None:
    msg, ob = (LOBSTER / f for f in AMZN5)
    print(f"LOBSTER AMZN level 5 ({msg.parent})")
    try:
        from tickreplay.adapters.lobster import read_lobster
    except ImportError:
        print("  ingest: n/a: module missing (tickreplay.adapters.lobster)")
        return None
    if not msg.exists():
        print(f"  ingest: n/a: {msg} missing")
        return None
    tapes = []
    dt = best_of(lambda: tapes.append(read_lobster(msg, ob).tape), 2)  # the first run also loads numba caches
    tape = tapes[-1]
    rows = int(tape.src_row.max()) + 1 if len(tape) else 0
    line("ingest read_lobster (message rows)", rows, dt, "rows")
    line("ingest read_lobster (tape events)", len(tape), dt)
    return tape


def reconstruct(tape: Tape, repeat: int, levels: int) -> None:
    compute_snapshots(tape, levels)  # warm-up: compile or load the numba cache
    apply_tape_fast(tape)
    line(f"compute_snapshots(tape, {levels})", len(tape), best_of(lambda: compute_snapshots(tape, levels), repeat))
    line("apply_tape_fast(tape) (final book only)", len(tape), best_of(lambda: apply_tape_fast(tape), repeat))
    line("L3Book().apply_tape(tape) (pure Python)", len(tape), best_of(lambda: L3Book().apply_tape(tape), 1))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3, help="runs per fast measurement; the best is shown")
    ap.add_argument("--levels", type=int, default=5, help="snapshot depth for compute_snapshots")
    ap.add_argument("--seed", type=int, default=1, help="seed of the generated day")
    ap.add_argument("--ingest-runs", type=int, default=3, help="streaming ingest runs per pair (min and median)")
    ap.add_argument("--big", nargs=2, metavar=("MSG", "OB"), help="also stream-ingest this LOBSTER pair")
    ap.add_argument("--ingest-only", action="store_true", help="only the streaming ingest figures")
    args = ap.parse_args()
    cpu = None
    if hasattr(os, "sched_setaffinity"):
        cpu = min(os.sched_getaffinity(0))
        os.sched_setaffinity(0, {cpu})
        print(f"pinned to cpu {cpu}")
    msg, ob = (LOBSTER / f for f in AMZN5)
    if msg.exists():
        streaming_ingest("AMZN level 5", msg, ob, args.ingest_runs, cpu)
    else:
        print(f"streaming ingest: n/a: {msg} missing")
    if args.big:
        streaming_ingest("--big", Path(args.big[0]), Path(args.big[1]), args.ingest_runs, cpu)
    if args.ingest_only:
        return
    amzn = ingest_amzn()
    if amzn is not None:
        reconstruct(amzn, args.repeat, args.levels)
    label, day = generated_day(args.seed)
    print(f"generated day: {label}")
    reconstruct(day, args.repeat, args.levels)


if __name__ == "__main__":
    main()
