"""Impact calibration speed: ``tickreplay calibrate propagator`` on a day of trades.

Two days, each stored in a temporary catalog first (not timed):

1. **LOBSTER AAPL 2012-06-21, level 1** (the busiest shared sample: ~35,000 prints, ~25,000 trades), read
   in place from ``../shared/data/lobster`` (``n/a`` if missing);
2. **a generated L3 day** (``generate_day``, ``liquid_large_cap`` at ``activity_eps=32``: over 1,000,000
   events), as ``bench_replay.py`` makes it.

For each it times, at ``--max-lag`` (default 1000), after one warm-up call (numba caches):

* ``trades``: :func:`tickreplay.impact.trades.entry_trades` — read the tape, rebuild its top of book with the
  compiled book, sign and group the prints;
* ``fit``: :func:`tickreplay.impact.propagator.calibrate` — C and R by FFT, the Toeplitz solve, both power-law
  fits, and the out-of-sample folds (which fit again on each half);
* ``total``: :func:`tickreplay.impact.propagator.calibrate_entries`, what the command runs.

Each line prints CPU seconds of this process (``time.process_time``) and wall seconds, min and median of
``--repeat`` runs. Run: ``.venv/bin/python benchmarks/bench_calibrate.py [--repeat 5] [--max-lag 1000]``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Callable

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from conftest import SHARED_DATA  # noqa: E402  (the shared-data paths tests use)

from tickreplay.catalog import Catalog, Entry  # noqa: E402
from tickreplay.impact.propagator import TapeTrades, calibrate, calibrate_entries  # noqa: E402
from tickreplay.impact.trades import entry_trades  # noqa: E402


def timed(fn: Callable[[], object], repeat: int) -> tuple[list[float], list[float]]:
    """(CPU seconds, wall seconds) of ``repeat`` calls after one warm-up call."""
    fn()
    cpu, wall = [], []
    for _ in range(repeat):
        c0, w0 = time.process_time(), time.perf_counter()
        fn()
        cpu.append(time.process_time() - c0)
        wall.append(time.perf_counter() - w0)
    return cpu, wall


def lobster_day(cat: Catalog) -> Entry | None:
    from tickreplay.adapters.lobster import ingest_lobster

    stem = SHARED_DATA / "lobster" / "AAPL_2012-06-21_34200000_57600000"
    msg, ob = Path(f"{stem}_message_1.csv"), Path(f"{stem}_orderbook_1.csv")
    if not (msg.exists() and ob.exists()):
        return None
    return ingest_lobster(msg, ob, cat)[0]


def generated_day(cat: Catalog) -> Entry:
    from tickreplay.adapters.synthetic import REGIMES, generate_day
    from tickreplay.book.fast import compute_snapshots

    tape = generate_day(replace(REGIMES["liquid_large_cap"], activity_eps=32.0), seed=1, progress=False)
    return cat.write("synthetic", tape, compute_snapshots(tape, 1))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--max-lag", type=int, default=1000)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        cat = Catalog(tmp)
        for name, make in (("LOBSTER AAPL 2012-06-21 (level 1)", lobster_day),
                           ("generated liquid_large_cap, activity_eps=32", generated_day)):
            entry = make(cat)
            if entry is None:
                print(f"{name}: n/a (shared data missing)")
                continue
            tape, trades = entry_trades(entry)
            tt = [TapeTrades(entry.key, entry.fingerprint, trades)]
            print(f"{name}: {len(tape):,} events, {trades.n_prints:,} prints, {len(trades):,} trades, "
                  f"max lag {args.max_lag}")
            for what, fn in (("trades", lambda: entry_trades(entry)),
                             ("fit", lambda: calibrate(tt, args.max_lag)),
                             ("total", lambda: calibrate_entries([entry], args.max_lag))):
                cpu, wall = timed(fn, args.repeat)
                print(f"  {what:6s} cpu min {min(cpu):.3f} s, median {statistics.median(cpu):.3f} s; "
                      f"wall min {min(wall):.3f} s, median {statistics.median(wall):.3f} s")


if __name__ == "__main__":
    main()
