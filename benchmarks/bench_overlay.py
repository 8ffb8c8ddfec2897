"""Overlay dataset-building and training speed, and out-of-sample figures, on generated days (one core).

For each market — ``liquid_large_cap`` with the planted refill signal
(``refill_half_life_s``) and without it — generates one day (``--duration-s``
of the session), builds the dataset (a buy child of ``--qty`` shares, market
style, decisions every ``--every-s`` seconds, the default delay grid, latency
market data 1 ms / entry N(2 ms, 0.5 ms)), and trains with 3 purged
walk-forward folds. Prints examples/s of the dataset build, the fit time and
the out-of-sample figures of :func:`tickreplay.overlay.train_model`.

Run: ``.venv/bin/python benchmarks/bench_overlay.py`` (``--help`` for options).
"""

from __future__ import annotations

import argparse
import os
import time
from dataclasses import replace

import numpy as np

from tickreplay.adapters.synthetic import REGIMES, generate_day
from tickreplay.book.fast import compute_snapshots
from tickreplay.engine import EngineConfig
from tickreplay.latency import Constant, Normal
from tickreplay.overlay import build_dataset, train_model
from tickreplay.trader import DEFAULT_DELAYS_NS
from tickreplay.book.replay import ReplayData

NS = 1_000_000_000


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--duration-s", type=float, default=23_400.0, help="seconds of the session (default: all)")
    ap.add_argument("--every-s", type=float, default=5.0)
    ap.add_argument("--qty", type=int, default=300)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--refill-s", type=float, default=3.0, help="planted refill half-life, seconds")
    args = ap.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    cfg = EngineConfig(md_latency=Constant(1_000_000), entry_latency=Normal(2_000_000, 500_000), seed=1)
    for label, refill in (("planted refill", args.refill_s), ("no signal", None)):
        params = replace(REGIMES["liquid_large_cap"], refill_half_life_s=refill)
        tape = generate_day(params, args.seed, duration_s=args.duration_s)
        r = ReplayData.build(tape, compute_snapshots(tape, 5))
        times = np.arange(r.session_start_ns + 60 * NS, r.session_end_ns, round(args.every_s * NS), dtype=np.int64)
        t0 = time.perf_counter()
        ds = build_dataset(r, times, 1, args.qty, "market", DEFAULT_DELAYS_NS, cfg, max(DEFAULT_DELAYS_NS))
        build = time.perf_counter() - t0
        t1 = time.perf_counter()
        _, rep = train_model(ds, n_folds=3)
        fit = time.perf_counter() - t1
        oos = rep["oos"]
        print(f"{label}: {len(tape):,} events, {len(ds):,} examples x {len(ds.delays_ns)} delays in {build:.2f} s "
              f"= {len(ds) / build:,.0f} examples/s; train (3 folds + final, 6 boosters each) {fit:.2f} s")
        print(f"  OOS mae_extra_bps  {np.round(oos['mae_extra_bps'], 3).tolist()}")
        print(f"  vs predicting 0    {np.round(oos['mae_extra_zero_bps'], 3).tolist()}")
        print(f"  OOS saving of the model's choices {oos['saving_bps']:.3f} bps (oracle {oos['oracle_saving_bps']:.3f}),"
              f" delayed {oos['share_delayed']:.0%}; top features {list(rep['feature_importance'])[:5]}")


if __name__ == "__main__":
    main()
