"""Generation speed of the synthetic order-flow generator (one core), and benchmark-sized LOBSTER days.

Prints events/s for a full session of at least 1,000,000 events (the
liquid large-cap regime at a higher activity), a plain and a planted-impact
day side by side (CPU time, min and median), the default demo day, and the
LOBSTER writer on the demo day; then, for each ``--lobster-activity X``, runs
``tickreplay generate --seed 1 --activity X --levels 10 --lobster-dir TMP``
in a child process ``--repeat`` times and prints its wall time, messages/s,
file sizes and peak RSS (min and median over the repeats). ``--activity 6.5``
gives ~2 M messages, ``65`` ~20 M (5.7 GB of files, written to ``--tmp`` and
removed after each repeat).

Run: ``.venv/bin/python benchmarks/bench_synthetic.py [--lobster-activity 6.5 65] [--repeat 3]``.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from tickreplay.adapters.lobster_writer import write_lobster
from tickreplay.adapters.metaorders import PlantedImpact
from tickreplay.adapters.synthetic import REGIMES, generate_day


def timed(fn):
    t0 = time.perf_counter()
    out = fn()
    dt = time.perf_counter() - t0
    return out, dt


def lobster_day(activity: float, tmp: Path) -> tuple[float, int, int, int, float]:
    """(wall s, messages, message file bytes, orderbook file bytes, peak RSS MiB) of one generate command.

    The peak RSS is GNU time's (``/usr/bin/time -f %M``): a child forked from this process directly would
    report at least this process's own RSS (Linux carries the high-water mark across fork and exec).
    """
    out = Path(tempfile.mkdtemp(prefix="bench_lobster_", dir=tmp))
    try:
        rss_file = out / "rss.txt"
        cmd = ["/usr/bin/time", "-f", "%M", "-o", str(rss_file), sys.executable, "-c",
               "import sys; from tickreplay.cli import main; sys.exit(main(sys.argv[1:]))",
               "generate", "--seed", "1", "--activity", str(activity), "--levels", "10", "--lobster-dir", str(out)]
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wall = time.perf_counter() - t0
        msg = next(out.glob("*_message_10.csv"))
        book = next(out.glob("*_orderbook_10.csv"))
        with open(msg, "rb") as f:
            rows = sum(chunk.count(b"\n") for chunk in iter(lambda: f.read(1 << 24), b""))
        return wall, rows, msg.stat().st_size, book.stat().st_size, int(rss_file.read_text().split()[-1]) / 1024
    finally:
        shutil.rmtree(out, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lobster-activity", type=float, nargs="*", default=[6.5],
                    help="activities of the LOBSTER days to write (default 6.5, ~2 M messages; 65 gives ~20 M)")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--tmp", type=Path, default=Path(tempfile.gettempdir()), help="folder for the LOBSTER files")
    args = ap.parse_args()

    generate_day("thin_small_cap", seed=0, duration_s=60)  # compile (or load the numba cache) first
    big = replace(REGIMES["liquid_large_cap"], activity_eps=32.0)
    tape, dt = timed(lambda: generate_day(big, seed=1, progress=False))
    print(f"generate full day, liquid_large_cap at activity_eps=32: {len(tape):,} events in {dt:.2f} s "
          f"= {len(tape) / dt:,.0f} events/s")
    for regime in REGIMES:
        tape, dt = timed(lambda: generate_day(regime, seed=1, progress=False))
        print(f"generate full day, {regime}: {len(tape):,} events in {dt:.2f} s = {len(tape) / dt:,.0f} events/s")
    plain_cpu, planted_cpu = [], []
    planted = PlantedImpact(1.0, 0.5, 0.5, 0.3)
    for _ in range(args.repeat):  # side by side, CPU time of this process
        for cpu, kw in ((plain_cpu, {}), (planted_cpu, {"planted": planted, "metaorders": 25})):
            t0 = time.process_time()
            n = len(generate_day("liquid_large_cap", seed=1, progress=False, **kw))
            cpu.append(time.process_time() - t0)
    print(f"generate full day, liquid_large_cap, plain vs 25 planted metaorders: CPU s min {min(plain_cpu):.3f} / "
          f"{min(planted_cpu):.3f}, median {statistics.median(plain_cpu):.3f} / {statistics.median(planted_cpu):.3f} "
          f"(planted/plain {min(planted_cpu) / min(plain_cpu):.2f}, {n:,} events planted)")
    demo = generate_day("liquid_large_cap", seed=1)
    with tempfile.TemporaryDirectory() as d:
        _, dt = timed(lambda: write_lobster(demo, Path(d) / "m.csv", Path(d) / "o.csv", 10))
    print(f"write_lobster, demo day, 10 levels: {len(demo):,} rows in {dt:.2f} s = {len(demo) / dt:,.0f} rows/s")

    for activity in args.lobster_activity:
        runs = [lobster_day(activity, args.tmp) for _ in range(args.repeat)]
        walls, rss = [r[0] for r in runs], [r[4] for r in runs]
        _, rows, msg_bytes, book_bytes, _ = runs[0]
        print(f"generate --activity {activity:g} --levels 10 --lobster-dir: {rows:,} messages; wall s min "
              f"{min(walls):.1f} median {statistics.median(walls):.1f} (= {rows / min(walls):,.0f} messages/s at "
              f"best); files {msg_bytes / 1e9:.2f} GB messages + {book_bytes / 1e9:.2f} GB orderbook "
              f"({(msg_bytes + book_bytes) / rows:.0f} bytes/message); peak RSS MiB min {min(rss):.0f} "
              f"median {statistics.median(rss):.0f}")


if __name__ == "__main__":
    main()
