"""TCA and results-store speed on a real day (AMZN 2012-06-21, LOBSTER level 5, from ../shared/data).

Runs a TWAP buy of 5 % of the day's volume (390 children, one a minute)
twice, market and limit-at-touch children, times ``MarketSeries.from_tape``,
``tca_summary`` and ``fill_table``, prints the headline TCA, then copies the
runs into a results root of ``--runs`` folders and times the README's
example queries. Run: ``.venv/bin/python benchmarks/bench_tca.py [--runs 200]``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from conftest import lobster_pair  # noqa: E402  (the shared-data paths tests use)
from test_results_store import COST_BY_PARTICIPATION, FILL_RATE_BY_QUEUE, MARKOUT_BY_STYLE  # noqa: E402

from tickreplay.adapters.lobster import read_lobster  # noqa: E402
from tickreplay.engine import Engine, EngineConfig  # noqa: E402
from tickreplay.trader.executor import ChildOrderExecutor  # noqa: E402
from tickreplay.latency import Constant  # noqa: E402
from tickreplay.book.replay import ReplayData  # noqa: E402
from tickreplay.results import query  # noqa: E402
from tickreplay.schedule import ParentOrder, twap  # noqa: E402
from tickreplay.market.profile import trades  # noqa: E402
from tickreplay.tca import PARTS, MarketSeries, fill_table, tca_summary  # noqa: E402

MS = 1_000_000


def timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=200, help="run folders in the results root for the query timing")
    args = ap.parse_args()
    res = read_lobster(*lobster_pair("AMZN", 5))
    tape, snaps = res.tape, res.snapshots
    replay = ReplayData.build(tape, snaps)
    market, dt = timed(lambda: MarketSeries.from_tape(tape, snaps))
    print(f"MarketSeries.from_tape: {len(tape):,} events in {dt * 1e3:.1f} ms")
    qty = int(trades(tape)[1].sum()) // 20 // 100 * 100
    parent = ParentOrder(side=1, quantity=qty, start_ns=replay.session_start_ns, end_ns=replay.session_end_ns)
    cfg = EngineConfig(md_latency=Constant(200_000), entry_latency=Constant(300_000),
                       response_latency=Constant(300_000))
    root = Path(tempfile.mkdtemp(prefix="tickreplay_bench_results_"))
    try:
        for style in ("market", "limit_touch"):
            children = twap(parent, n_children=390, style=style, lot_size=100)
            run = Engine(replay, cfg).run(ChildOrderExecutor(1, children, replace_after_ns=30_000 * MS,
                                                             max_replaces=2, finish_with_market=True),
                                          start_ns=parent.start_ns)
            summary, dt = timed(lambda: tca_summary(run.fills, run.orders, parent, market))
            table, dt2 = timed(lambda: fill_table(run.fills, parent, market))
            sf = summary["shortfall"]
            print(f"\nTWAP {style}: {len(run.fills):,} fills, {len(run.orders):,} order-log rows; "
                  f"tca_summary {dt * 1e3:.1f} ms, fill_table {dt2 * 1e3:.1f} ms")
            print(f"  shortfall bps: total {sf['total_bps']:.2f} = "
                  + " + ".join(f"{p.replace('_', ' ')} {sf[p + '_bps']:.2f}" for p in PARTS)
                  + f"; filled {sf['filled']:,} of {sf['quantity']:,}")
            print(f"  window: participation {summary['window']['participation']:.4f}, "
                  f"VWAP slippage {summary['window']['vwap_slippage_bps']:.2f} bps; passive fill rate "
                  f"{summary['passive']['fill_rate'] or 0:.3f}; markout 1 s {summary['markouts']['1s']['all_bps']:.3f} bps")
            d = root / f"twap_{style}"
            d.mkdir()
            table.to_parquet(d / "fills.parquet")
            run.orders.to_parquet(d / "orders.parquet")
            (d / "tca.json").write_text(json.dumps(summary))
        for k in range(args.runs - 2):
            src = root / ("twap_market" if k % 2 else "twap_limit_touch")
            shutil.copytree(src, root / f"copy_{k:05d}")
        fills = query("SELECT count(*) AS n FROM fills", root)["n"][0]
        print(f"\nresults root: {args.runs} runs, {fills:,} fills")
        for name, sql in (("markout by style", MARKOUT_BY_STYLE), ("cost by participation", COST_BY_PARTICIPATION),
                          ("fill rate by queue", FILL_RATE_BY_QUEUE)):
            out, dt = timed(lambda: query(sql, root))
            print(f"  {name}: {len(out)} rows in {dt * 1e3:.0f} ms (views created per call)")
    finally:
        shutil.rmtree(root)


if __name__ == "__main__":
    main()
