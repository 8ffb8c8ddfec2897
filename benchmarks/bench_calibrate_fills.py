"""Calibration time on 10,000 parents: read a desk fills file, measure every parent on its tape, fit sqrt and AC.

Generates ``--days`` full ``liquid_large_cap`` days into a temporary catalog (or uses ``--catalog`` with those
keys already there), writes a desk fills file of ``--parents`` parents spread evenly over the days (``--fills``
executions each, at the mid ± the half spread; Q/V log-uniform in [1e-4, 1e-1], ``adv``/``daily_vol`` given),
then times each step ``--repeat`` times in this process: CPU (``time.process_time``) and wall seconds, min and
median. A second line times the measurement when ``adv``/``daily_vol`` are left out (each day's statistics are
estimated from its tape). Run: ``.venv/bin/python benchmarks/bench_calibrate_fills.py [--parents 10000]``.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from tickreplay.adapters.synthetic import generate_day, synthetic_key
from tickreplay.book.fast import compute_snapshots
from tickreplay.catalog import Catalog
from tickreplay.impact.fills import read_fills
from tickreplay.impact.fit_ac import fit_ac
from tickreplay.impact.fit_sqrt import fit_sqrt
from tickreplay.impact.parents import measure_parents
from tickreplay.market.inputs import estimate_inputs

DATES = ("2024-01-02", "2024-01-03", "2024-01-04", "2024-01-05", "2024-01-08")


def desk_fills(cat: Catalog, keys: list[str], n_parents: int, n_fills: int, seed: int = 1) -> pd.DataFrame:
    """A desk fills frame of ``n_parents`` parents on ``keys`` (module docstring)."""
    rng = np.random.default_rng(seed)
    rows = []
    per_day = -(-n_parents // len(keys))
    for k, key in enumerate(keys):
        e = cat.find(key)
        tape, snaps = e.read_tape(), e.read_snapshots()
        ts, scale = tape.ts_ns, tape.instrument.price_scale
        ask, bid = snaps.ask_price[:, 0], snaps.bid_price[:, 0]
        m = min(per_day, n_parents - k * per_day)
        t0 = ts[0] + rng.integers(60_000_000_000, int(ts[-1] - ts[0]) - 3_600_000_000_000, m)
        dur = rng.integers(60_000_000_000, 1_800_000_000_000, m)
        t = t0[:, None] + (dur[:, None] * np.linspace(0, 1, n_fills)[None, :]).astype(np.int64)
        i = np.searchsorted(ts, t, side="right") - 1
        side = rng.choice([-1, 1], m)
        price = np.where(side[:, None] > 0, ask[i], bid[i]) / scale
        adv, vol = 4.5e6, 0.013
        q = np.exp(rng.uniform(np.log(1e-4), np.log(1e-1), m)) * adv
        rows.append(pd.DataFrame({
            "parent_id": np.repeat([f"{key}#{j}" for j in range(m)], n_fills), "ts_ns": t.ravel(),
            "side": np.repeat(side, n_fills), "price": price.ravel(), "size": np.repeat(q / n_fills, n_fills),
            "instrument": tape.instrument.symbol, "tape": key, "arrival_ns": np.repeat(t0 - 1, n_fills),
            "adv": adv, "daily_vol": vol}))
    return pd.concat(rows, ignore_index=True)


def timed(fn, repeat: int) -> tuple[object, list[float], list[float]]:
    cpu, wall, out = [], [], None
    for _ in range(repeat):
        c0, w0 = time.process_time(), time.perf_counter()
        out = fn()
        cpu.append(time.process_time() - c0)
        wall.append(time.perf_counter() - w0)
    return out, cpu, wall


def line(name: str, cpu: list[float], wall: list[float]) -> str:
    return (f"{name:<44} CPU min {min(cpu):7.3f} s  median {statistics.median(cpu):7.3f} s   "
            f"wall min {min(wall):7.3f} s  median {statistics.median(wall):7.3f} s")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--parents", type=int, default=10_000)
    ap.add_argument("--fills", type=int, default=5, help="executions per parent")
    ap.add_argument("--days", type=int, default=3)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--catalog", help="catalog with the generated days (default: a temporary one, generated now)")
    args = ap.parse_args()
    root = Path(args.catalog or tempfile.mkdtemp(prefix="tickreplay_bench_cal_"))
    cat = Catalog(root)
    keys = [synthetic_key("liquid_large_cap", 1, d) for d in DATES[:args.days]]
    for d, key in zip(DATES, keys):
        if not cat.exists(*key.split("/")):
            tape = generate_day("liquid_large_cap", 1, date=d)
            cat.write("synthetic", tape, compute_snapshots(tape, 1))
    fills = desk_fills(cat, keys, args.parents, args.fills)
    path = root / "desk_fills.parquet"
    fills.to_parquet(path, index=False)
    print(f"{args.parents:,} parents, {len(fills):,} fills on {len(keys)} days ({', '.join(keys)})")
    f, cpu, wall = timed(lambda: read_fills(path), args.repeat)
    print(line("read_fills (Parquet, checked)", cpu, wall))
    (parents, data), cpu, wall = timed(lambda: measure_parents(f, cat, path), args.repeat)
    print(line("measure_parents (adv, daily_vol given)", cpu, wall))
    no_stats = f.assign(adv=np.nan, daily_vol=np.nan)
    _, cpu, wall = timed(lambda: measure_parents(no_stats, cat, path,
                                                   day_inputs=lambda e, d: estimate_inputs([e], day_ns=d).market), args.repeat)
    print(line("measure_parents (day statistics from tapes)", cpu, wall))
    cal, cpu, wall = timed(lambda: fit_sqrt(parents, data=data), args.repeat)
    print(line(f"fit_sqrt (B = {cal.fit['bootstrap']})", cpu, wall))
    print(f"    Y = {cal.params['Y']:.4g} {cal.intervals['Y']}, delta = {cal.params['delta']:.4g}, "
          f"OOS mae {cal.oos['scores']['mae_bps']:.3g} bps (default {cal.oos['default_scores']['mae_bps']:.3g})")
    cal, cpu, wall = timed(lambda: fit_ac(parents, data=data), args.repeat)
    print(line(f"fit_ac (B = {cal.fit['bootstrap']})", cpu, wall))
    _, cpu, wall = timed(lambda: len(cal.to_dict()["fit"]["sample"]["X"]) and cal.write(root / "cal.json"),
                         args.repeat)
    print(line("write the calibration file", cpu, wall))


if __name__ == "__main__":
    main()
