"""Sweep speed: a 1,000-run (``--runs 10000``: 10,000-run) grid of full-day runs on the LOBSTER AMZN level-5 day.

The grid is ``scenarios/grid_amzn_sweep.toml`` (TWAP and Almgren-Chriss x market and passive children x 5 child
counts x 5 quantities x 2 order-entry latencies x seeds; ``--runs`` sets the number of seeds: 200 runs each), each
run from 09:30:01 to 16:00. Every repeat runs the whole sweep in a fresh process into a fresh temporary results
root, as ``tickreplay compare --grid ... --jobs N`` does, and prints:

* total seconds from process start (imports, grid, data load, runs, writes) and runs/s;
* the per-run breakdown, mean ms of the runs: plan, engine, measure (TCA and tables), convert (to Arrow), write
  (the driver's batch writes, per run);
* peak RSS of the driver and of the largest worker (local backend; a forked worker's RSS counts the pages it
  shares with the driver);
* then the same command again on the complete store (every run skipped; no data loaded).

Then min and median over ``--repeat``. ``--backend ray`` (or ``both``) runs the same grid on a local Ray with
``--jobs`` CPUs (Ray's start-up is inside the total). Run: ``.venv/bin/python benchmarks/bench_sweep.py``.
"""

from __future__ import annotations

import time

T_START = time.perf_counter()  # before the heavy imports: a child's total counts them, as a command's would

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import re  # noqa: E402
import resource  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
from pathlib import Path  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
GRID = REPO / "scenarios" / "grid_amzn_sweep.toml"
RUNS_PER_SEED = 200


def grid_file(folder: Path, runs: int) -> Path:
    """The benchmark grid with ``runs // 200`` seeds, its base scenario by absolute path."""
    if runs % RUNS_PER_SEED:
        raise SystemExit(f"--runs must be a multiple of {RUNS_PER_SEED}")
    text = GRID.read_text()
    text = text.replace('base = "amzn_twap.toml"', f'base = "{GRID.parent / "amzn_twap.toml"}"')
    text = re.sub(r"^seed = \[.*\]$", f"seed = {list(range(1, runs // RUNS_PER_SEED + 1))}", text, flags=re.M)
    path = folder / "grid.toml"
    path.write_text(text)
    return path


def child(grid: str, out: str, jobs: int, backend: str, batch_size: int) -> None:
    """One sweep in this process; prints one JSON line of figures."""
    from tickreplay.experiment.sweep import read_grid, sweep

    g = read_grid(grid)
    res = sweep(g.scenarios, out, jobs=jobs, progress=False, backend=backend, batch_size=batch_size)
    total = time.perf_counter() - T_START
    ran = len(res.seconds)
    per = {k: float(res.seconds[k].mean() * 1e3) if ran else 0.0 for k in ("plan", "engine", "measure", "convert")}
    per["write"] = res.write_s / ran * 1e3 if ran else 0.0
    kb = 1024 if sys.platform == "darwin" else 1  # ru_maxrss: KB on Linux, bytes on macOS
    print(json.dumps({"runs": len(res.table), "ran": ran, "total_s": total, "sweep_s": res.wall_s, "ms": per,
                      "rss_driver_mb": _own_peak_rss_kb() / 1024,
                      "rss_worker_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / kb / 1024}))


def _own_peak_rss_kb() -> float:
    """This process's own peak RSS (KB): ``VmHWM``, which unlike ``ru_maxrss`` does not count the pages of the
    process that started it; ``ru_maxrss`` where /proc is missing."""
    try:
        return float(next(int(ln.split()[1]) for ln in open("/proc/self/status") if ln.startswith("VmHWM:")))
    except (OSError, StopIteration):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / (1024 if sys.platform == "darwin" else 1)


def run_child(grid: Path, out: Path, args: argparse.Namespace, backend: str) -> dict:
    cmd = [sys.executable, __file__, "--child", str(grid), str(out), "--jobs", str(args.jobs), "--backend", backend,
           "--batch-size", str(args.batch_size)]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"the sweep failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=1000, help="runs in the grid, a multiple of 200 (default 1000)")
    ap.add_argument("--jobs", type=int, default=2, help="worker processes / Ray CPUs (default 2)")
    ap.add_argument("--repeat", type=int, default=3, help="sweeps per backend (default 3)")
    ap.add_argument("--backend", choices=("local", "ray", "both"), default="local")
    ap.add_argument("--batch-size", type=int, default=100, help="runs per results batch (default 100; 1: folders)")
    ap.add_argument("--child", nargs=2, metavar=("GRID", "OUT"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        return child(*args.child, args.jobs, args.backend, args.batch_size)

    backends = ["local", "ray"] if args.backend == "both" else [args.backend]
    print(f"sweep benchmark: {args.runs:,} full-day runs on AMZN 2012-06-21 level 5, --jobs {args.jobs}, "
          f"batches of {args.batch_size}; {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}")
    for backend in backends:
        totals, resumes = [], []
        for k in range(args.repeat):
            with tempfile.TemporaryDirectory(prefix="bench_sweep_") as tmp:
                tmp = Path(tmp)
                grid = grid_file(tmp, args.runs)
                r = run_child(grid, tmp / "results", args, backend)
                again = run_child(grid, tmp / "results", args, backend)
            assert r["ran"] == r["runs"] == args.runs and again["ran"] == 0
            totals.append(r["total_s"])
            resumes.append(again["total_s"])
            ms = r["ms"]
            print(f"  {backend} #{k + 1}: {r['total_s']:.2f} s total ({r['runs'] / r['total_s']:.1f} runs/s; "
                  f"sweep {r['sweep_s']:.2f} s) | per run ms: plan {ms['plan']:.1f}, engine {ms['engine']:.1f}, "
                  f"measure {ms['measure']:.1f}, convert {ms['convert']:.1f}, write {ms['write']:.1f} | peak RSS "
                  f"driver {r['rss_driver_mb']:.0f} MB, largest worker {r['rss_worker_mb']:.0f} MB | "
                  f"again (all stored): {again['total_s']:.2f} s")
        print(f"{backend}: {args.runs:,} runs: min {min(totals):.2f} s, median {statistics.median(totals):.2f} s "
              f"({args.runs / min(totals):.1f} runs/s at best); resume of a complete store: min {min(resumes):.2f} s, "
              f"median {statistics.median(resumes):.2f} s")


if __name__ == "__main__":
    main()
