"""tickreplay against hftbacktest 2.x on the same events, side by side in one process, and the README speed table.

Run from the repository root (hftbacktest is the ``[bench]`` extra)::

    .venv/bin/python benchmarks/bench_vs_hftbacktest.py [--repeat N] [--json] [--markdown] [--quick]
        [--sweep-runs N] [--jobs N] [--lobster MSG OB] [--binance-copies N]

What is compared, on the LOBSTER AMZN 2012-06-21 level-5 tape (``../shared/data/lobster``), after
converting that tape once into hftbacktest's ``event_dtype`` arrays (``benchmarks/_hbt_convert.py``):

1. **Book reconstruction, L2.** tickreplay: ``book.fast.apply_tape_fast`` on an L2 tape holding, per
   level change of the AMZN tape, a LEVEL_SET with the level's new size, and a TRADE per print.
   hftbacktest: the same rows as DEPTH_EVENT/TRADE_EVENT, replayed to the end by ``elapse`` with
   ``HashMapMarketDepthBacktest`` (the ratio) and ``ROIVectorMarketDepthBacktest`` (printed). The
   events carry only ``LOCAL_EVENT``, so hftbacktest keeps one book (its local one), as tickreplay does.
2. **Book reconstruction, L3.** tickreplay: ``apply_tape_fast`` on the AMZN L3 tape itself (orders by id,
   unattributed volume, level-sets). hftbacktest: its Market-by-order book (``l3_fifo_queue_model``)
   over the converted MBO events (add / cancel / modify / fill), local side only as above.
   Also printed, not in a ratio: ``compute_snapshots(tape, 5)`` (top 5 after every event) and
   ``ReplayData.build`` (everything a tickreplay run reads from a tape), both per-tape costs.
3. **The 390-child market TWAP** over the day (one 100-share buy per minute from the open).
   tickreplay: ``Engine`` + ``ChildOrderExecutor`` + ``schedule.twap`` (style ``market``) on the L3
   tape. hftbacktest: a numba-jitted strategy that submits, each minute, a GTC limit buy 100 ticks
   through the best ask (hftbacktest has no pure market order in every exchange model, and its L3
   exchange no IOC, so a marketable limit stands in), with ``no_partial_fill_exchange``.
4. **The passive cancel-replace day**: 390 children of 100 shares, a limit buy at the best bid, checked
   every 30 s and re-priced to the then-current best bid until filled. tickreplay re-prices with a
   modify; hftbacktest's strategy cancels (waiting for the answer) and, if the cancel took, sends a
   new order at the new bid (its L3 exchange has no modify; the L2 run uses the same kernel).

For 3 and 4 hftbacktest runs twice: on the L2 feed of 1 (exchange and local side,
``risk_adverse_queue_model``) — its fastest configuration and the one behind the issue's
reference figures, so the headline ``twap_ratio`` / ``passive_ratio`` use it — and on the MBO feed of
2 with ``l3_fifo_queue_model`` (``twap_vs_hbt_l3_ratio`` / ``passive_vs_hbt_l3_ratio``), the model
that matches tickreplay's exact L3 queue on this tape.

Same latencies on both sides, all constant: market data 1 ms (hftbacktest: ``local_ts = exch_ts +
1 ms`` in the data), order entry 2 ms, response 1 ms (``constant_order_latency``). Each timed run
builds its backtester/engine and runs the whole day; the two tools alternate within each repeat;
min and median of ``--repeat`` are printed and ratio = tickreplay median / hftbacktest median (below
1: tickreplay is faster). One-off costs — reading the CSVs, ``ReplayData.build``, the conversion to
hftbacktest's format, numba compilation or cache loading (a warm-up run of each) — are outside the
timed runs and printed separately.

What is not the same (so read the ratios as "same events, same schedule", not "same model"):

* Fills. hftbacktest's no-partial-fill exchange fills a marketable order in full at the best price
  whatever the size there; tickreplay walks the visible levels and leaves unfilled what the data
  cannot supply, and keeps liquidity it took consumed. Passive fills: both use FIFO by order id,
  but unattributed volume (snapshot, levels entering the top-5 window, orders from before the file)
  is at the front of the queue in tickreplay and a synthetic order joining the back in hftbacktest;
  tickreplay also fills on trade-through and tracks out-of-window queue positions. Fill counts of
  both are printed so the difference is visible.
* Re-pricing: a modify (one request) in tickreplay, cancel + wait + new (two requests, ~3 ms apart)
  in hftbacktest. Results: tickreplay keeps its order log and fills as arrays and builds the DataFrames
  when they are first read (not in the timed runs; a line after each case times runs that read them);
  hftbacktest keeps its state only (position, order dict).
* Clock start: hftbacktest's clock starts at the first event, 17 ms after the 09:30 open, so its first
  child goes then; tickreplay sends it at 09:30:00.000 to an empty book.

The other figures of the README's speed table (``--markdown`` prints the table):

* Ingest rows/s and peak RSS for LOBSTER (the AMZN pair), Binance (``btcusdt_20240808.gz``, tick and lot
  given) and Databento DBN (the ESM4 MBO sample with its definitions): ``tickreplay ingest SOURCE ...
  --catalog TMP`` (``tickreplay.cli.main``, so the CLI's streaming paths: ``ingest_lobster``, ``BinanceStream``
  chunks into ``Catalog.writer``, ``read_dbn`` through the same writer), each in a fresh process pinned to the
  benchmark's core. Per source: an imports-only process (its peak RSS and import time are the baseline), one
  untimed warm-up ingest (numba caches), then 3 timed ingests (``--quick``: 1); rows/s is the source's rows
  (LOBSTER message rows, Binance lines, DBN records of the instrument) over the command's wall and CPU time
  after its imports, min and median; peak RSS is the process's own high-water mark (``VmHWM``). On these
  samples a process's fixed costs (loading the compiled kernels from the numba cache) are much of the time:
  ``--lobster MSG OB`` ingests another pair instead (e.g. a ~20 M-message day from ``tickreplay generate
  --seed 1 --activity 65 --levels 10 --lobster-dir DIR``) and ``--binance-copies N`` the BTCUSDT capture
  repeated N times (``bench_binance.build_repeated``, imported).
* Sweep runs/s: ``bench_sweep.py``'s grid and child process (imported, not copied): ``--sweep-runs`` full-day
  AMZN runs (default 1,000; ``--quick``: 200) on ``--jobs`` workers (default 2), total from process start,
  3 repeats (``--quick``: 1), min and median.
* Labelled overlay examples/s as ``bench_overlay.py`` defines them (examples = decisions; label runs =
  decisions x delays): ``overlay.build_dataset`` on its default generated day, on the benchmark's core,
  ``--repeat`` builds after a warm-up, min and median.
* ``tickreplay --help`` and every ``tickreplay COMMAND --help``: wall time, min and median of 5 (``--quick``: 3).

The load average is printed at the start and at the end (the figures move with whatever else runs).
With ``--json`` the last line is one JSON object with every figure (times in seconds).
"""

from __future__ import annotations

import argparse
import heapq
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

import numpy as np

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("TICKREPLAY_SHARED_DATA", REPO.parent / "shared" / "data"))
LOBSTER = SHARED / "lobster"
STEM = "AMZN_2012-06-21_34200000_57600000"
AMZN_MSG, AMZN_OB = LOBSTER / f"{STEM}_message_5.csv", LOBSTER / f"{STEM}_orderbook_5.csv"
BINANCE = SHARED / "binance" / "btcusdt_20240808.gz"
DBN = SHARED / "databento" / "orderbooks_mbo_2024-05-08T00-00-00_2024-05-08T00-00-02.dbn.zst"
DBN_DEF = SHARED / "databento" / "orderbooks_definition.dbn.zst"
PYTHON = sys.executable

MS = 1_000_000
MD_LATENCY_NS, ENTRY_LATENCY_NS, RESPONSE_LATENCY_NS = 1 * MS, 2 * MS, 1 * MS
MINUTE_NS = 60 * 1_000_000_000
N_CHILDREN, CHILD_QTY = 390, 100
REPLACE_AFTER_NS = 30 * 1_000_000_000
THROUGH_TICKS = 100  # hftbacktest's stand-in for a market order: a limit this far through the best ask
SWEEP_BATCH = 100  # runs per results batch, bench_sweep.py's default
QUICK_SWEEP_RUNS = 200

Timing = dict[str, float]


# ---------------------------------------------------------------- timing

def timed(fn: Callable[[], object]) -> tuple[float, object]:
    """Wall time of one call (s) and its result."""
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def timed_cpu(fn: Callable[[], object]) -> tuple[float, float]:
    """Wall and CPU time (s, ``time.process_time``: this process only) of one call."""
    t0, c0 = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - t0, time.process_time() - c0


def side_by_side(tr: Callable[[], object], hbt: Callable[[], object], repeat: int) -> dict:
    """Alternate the two tools ``repeat`` times; min, median (s) of wall and CPU time and ratio of wall medians."""
    t_tr, t_hbt = [], []
    for _ in range(repeat):
        t_tr.append(timed_cpu(tr))
        t_hbt.append(timed_cpu(hbt))
    out = {}
    for tool, ts in (("tickreplay", t_tr), ("hftbacktest", t_hbt)):
        wall, cpu = [w for w, _ in ts], [c for _, c in ts]
        out.update({f"{tool}_min_s": min(wall), f"{tool}_median_s": statistics.median(wall),
                    f"{tool}_cpu_min_s": min(cpu), f"{tool}_cpu_median_s": statistics.median(cpu)})
    out["ratio"] = out["tickreplay_median_s"] / out["hftbacktest_median_s"]
    out["cpu_ratio"] = out["tickreplay_cpu_median_s"] / out["hftbacktest_cpu_median_s"]
    return out


def show(label: str, r: dict, n: int | None = None, unit: str = "events", one: str = "") -> None:
    """One line per case: wall min / median, CPU min / median, ratios; with ``n``: rates, and wall time per ``one``
    (e.g. "child") when given."""
    rate = "" if n is None else (f"  ({n / r['tickreplay_median_s']:,.0f} vs "
                                 f"{n / r['hftbacktest_median_s']:,.0f} {unit}/s)")
    per = "" if not (n and one) else (f"; per {one} {r['tickreplay_min_s'] / n * 1e6:.1f} / "
                                f"{r['tickreplay_median_s'] / n * 1e6:.1f} us vs {r['hftbacktest_min_s'] / n * 1e6:.1f} "
                                f"/ {r['hftbacktest_median_s'] / n * 1e6:.1f} us")
    print(f"  {label:<34} tickreplay {r['tickreplay_min_s'] * 1e3:8.2f} / {r['tickreplay_median_s'] * 1e3:8.2f} ms"
          f" (CPU {r['tickreplay_cpu_min_s'] * 1e3:.2f} / {r['tickreplay_cpu_median_s'] * 1e3:.2f})"
          f"   hftbacktest {r['hftbacktest_min_s'] * 1e3:8.2f} / {r['hftbacktest_median_s'] * 1e3:8.2f} ms"
          f" (CPU {r['hftbacktest_cpu_min_s'] * 1e3:.2f} / {r['hftbacktest_cpu_median_s'] * 1e3:.2f})"
          f"   ratio {r['ratio']:.2f} (CPU {r['cpu_ratio']:.2f}){rate}{per}")


# ---------------------------------------------------------------- data

def load_amzn() -> tuple[object, object, dict]:
    """The AMZN level-5 tape and its ReplayData (read and build timed: one-off costs)."""
    from tickreplay.adapters.lobster import read_lobster
    from tickreplay.book.replay import ReplayData

    t_read, ing = timed(lambda: read_lobster(AMZN_MSG, AMZN_OB))
    ReplayData.build(ing.tape, ing.snapshots)  # compile / load numba caches
    t_build, replay = timed(lambda: ReplayData.build(ing.tape, ing.snapshots))
    return ing.tape, replay, {"read_lobster_s": t_read, "replay_build_s": t_build}


def hbt_asset(events: np.ndarray, l3: bool, roi: tuple[float, float] | None = None):
    """A BacktestAsset over ``events`` with the benchmark's latencies; L3 FIFO or risk-averse L2 queue."""
    from hftbacktest import BacktestAsset

    a = (BacktestAsset().data(events).linear_asset(1.0)
         .constant_order_latency(ENTRY_LATENCY_NS, RESPONSE_LATENCY_NS).tick_size(0.01).lot_size(1.0))
    a = a.l3_fifo_queue_model() if l3 else a.risk_adverse_queue_model()
    if roi is not None:
        a = a.roi_lb(roi[0]).roi_ub(roi[1])
    return a.no_partial_fill_exchange()


# ---------------------------------------------------------------- hftbacktest strategies (numba)

def hbt_kernels() -> dict[str, Callable]:
    """The jitted hftbacktest drivers: replay to the end, TWAP, passive cancel-replace."""
    from numba import njit
    from hftbacktest import GTC, LIMIT
    from hftbacktest.order import CANCELED, NEW

    valid = 1 << 62  # |best tick| beyond this: that side is empty (hftbacktest's INVALID_MIN/MAX)

    @njit
    def replay_all(hbt):
        hbt.elapse(1 << 62)
        d = hbt.depth(0)
        return d.best_bid_tick, d.best_ask_tick

    @njit
    def twap(hbt, times, qty, through, end):
        sent = 0
        hbt.elapse(1)  # the clock starts at the first event
        for k in range(len(times)):
            now = hbt.current_timestamp
            if times[k] > now and hbt.elapse(times[k] - now) != 0:
                break
            d = hbt.depth(0)
            ask = d.best_ask_tick
            if ask < valid:
                hbt.submit_buy_order(0, k + 1, (ask + through) * d.tick_size, qty, GTC, LIMIT, False)
                sent += 1
            hbt.clear_inactive_orders(0)
        now = hbt.current_timestamp
        if end > now:
            hbt.elapse(end - now)
        return sent, hbt.position(0)

    @njit
    def passive(hbt, times, qty, replace_after, end):
        n = len(times)
        oid = np.zeros(n, np.uint64)
        price = np.zeros(n, np.int64)
        live = np.zeros(n, np.bool_)
        due = [(times[k], 0, k) for k in range(n)]  # (trader time, 0 send / 1 check, child)
        heapq.heapify(due)
        next_id, orders, replaces = 1, 0, 0
        hbt.elapse(1)
        while len(due) > 0:
            t, action, k = heapq.heappop(due)
            if t >= end:
                break
            now = hbt.current_timestamp
            if t > now and hbt.elapse(t - now) != 0:
                break
            d = hbt.depth(0)
            bid = d.best_bid_tick
            if action == 0:
                if bid < -valid:  # no bid to join: retry later
                    heapq.heappush(due, (t + replace_after, 0, k))
                    continue
                oid[k] = next_id
                next_id += 1
                hbt.submit_buy_order(0, oid[k], bid * d.tick_size, qty, GTC, LIMIT, False)
                price[k], live[k] = bid, True
                orders += 1
                heapq.heappush(due, (t + replace_after, 1, k))
            elif live[k]:
                o = hbt.orders(0).get(oid[k])
                if o is None or o.status != NEW:
                    live[k] = False
                    continue
                if bid > -valid and bid != price[k]:
                    hbt.cancel(0, oid[k], True)
                    o = hbt.orders(0).get(oid[k])
                    if o is None or o.status != CANCELED:  # filled before the cancel arrived
                        live[k] = False
                        continue
                    oid[k] = next_id
                    next_id += 1
                    hbt.submit_buy_order(0, oid[k], bid * d.tick_size, qty, GTC, LIMIT, False)
                    price[k] = bid
                    orders += 1
                    replaces += 1
                heapq.heappush(due, (t + replace_after, 1, k))
        now = hbt.current_timestamp
        if end > now:
            hbt.elapse(end - now)
        return orders, replaces, hbt.position(0)

    return {"replay_all": replay_all, "twap": twap, "passive": passive}


# ---------------------------------------------------------------- 1-2: book reconstruction

def bench_books(tape, replay, kernels: dict, repeat: int) -> dict:
    """L2 and L3 book reconstruction, tickreplay vs hftbacktest (local book only)."""
    from hftbacktest import HashMapMarketDepthBacktest, ROIVectorMarketDepthBacktest
    from tickreplay.book.fast import apply_tape_fast, compute_snapshots
    from tickreplay.book.replay import ReplayData
    from _hbt_convert import l2_tape, to_l2_events, to_l3_events

    t_conv_l2, (l2_ev, tape_l2) = timed(lambda: (to_l2_events(replay, MD_LATENCY_NS, local_only=True),
                                                 l2_tape(replay)))
    t_conv_l3, l3_ev = timed(lambda: to_l3_events(tape, MD_LATENCY_NS, local_only=True))
    ps = tape.instrument.price_scale
    roi = (float(tape.price[tape.price > 0].min()) / ps - 1.0, float(tape.price.max()) / ps + 1.0)

    def hbt_run(make: Callable, events: np.ndarray, l3: bool, roi_: tuple | None = None) -> Callable[[], object]:
        def run():
            hbt = make([hbt_asset(events, l3, roi_)])
            out = kernels["replay_all"](hbt)
            hbt.close()
            return out
        return run

    runs = {"l2": (lambda: apply_tape_fast(tape_l2), hbt_run(HashMapMarketDepthBacktest, l2_ev, False)),
            "l2_roivec": (lambda: apply_tape_fast(tape_l2),
                          hbt_run(ROIVectorMarketDepthBacktest, l2_ev, False, roi)),
            "l3": (lambda: apply_tape_fast(tape), hbt_run(HashMapMarketDepthBacktest, l3_ev, True))}
    t_warm = {}
    for name, (tr, hb) in runs.items():  # warm-up: numba compile / cache load on both sides
        t_warm[name] = timed(tr)[0] + timed(hb)[0]
    check_final_books(tape, tape_l2, replay, runs)
    res = {name: side_by_side(tr, hb, repeat) for name, (tr, hb) in runs.items()}
    snap = min(timed(lambda: compute_snapshots(tape, 5))[0] for _ in range(repeat))
    build = min(timed(lambda: ReplayData.build(tape, replay.snapshots))[0] for _ in range(repeat))
    print(f"book reconstruction (one book, to the day's end; min / median of {repeat}):")
    show(f"L2: {len(tape_l2):,} tape rows, {len(l2_ev):,} hbt events", res["l2"], len(tape_l2))
    show("L2, hftbacktest ROIVectorMarketDepth", res["l2_roivec"], len(tape_l2))
    show(f"L3: {len(tape):,} tape rows, {len(l3_ev):,} hbt events", res["l3"], len(tape))
    print(f"  tickreplay per-tape extras (min): compute_snapshots(tape, 5) {snap * 1e3:.2f} ms, "
          f"ReplayData.build {build * 1e3:.2f} ms")
    print(f"  one-off: conversion L2 {t_conv_l2:.3f} s, L3 {t_conv_l3:.3f} s; "
          f"warm-up runs (compile/cache) " + ", ".join(f"{k} {v:.2f} s" for k, v in t_warm.items()))
    return {"book_l2": res["l2"], "book_l2_roivec": res["l2_roivec"], "book_l3": res["l3"],
            "book_l2_rows": len(tape_l2), "book_l3_rows": len(tape), "hbt_l2_events": len(l2_ev),
            "hbt_l3_events": len(l3_ev), "compute_snapshots5_s": snap, "replay_build_min_s": build,
            "convert_l2_s": t_conv_l2, "convert_l3_s": t_conv_l3,
            "book_warmup_s": t_warm}


def check_final_books(tape, tape_l2, replay, runs: dict) -> None:
    """Both tools must end the day on the same best bid and ask (a conversion gone wrong would not)."""
    tick = tape.instrument.tick_size
    for name, (tr, hb) in runs.items():
        fb = tr()
        ours = (max(fb.levels[1]) // tick, min(fb.levels[-1]) // tick)
        theirs = tuple(int(x) for x in hb())
        if ours != theirs:
            raise SystemExit(f"{name}: final best bid/ask differ: tickreplay {ours} ticks, hftbacktest {theirs}")


# ---------------------------------------------------------------- 3-4: full-day strategies

def tables(result) -> tuple:
    """A run's order log and fills (a compiled run builds these frames when they are first read)."""
    return result.orders, result.fills


def bench_days(replay, tape, kernels: dict, repeat: int) -> dict:
    """The 390-child market TWAP and the passive cancel-replace day on both tools."""
    from hftbacktest import HashMapMarketDepthBacktest
    from tickreplay.engine import Engine, EngineConfig
    from tickreplay.latency import Constant
    from tickreplay.schedule import ParentOrder, twap
    from tickreplay.trader.executor import ChildOrderExecutor
    from _hbt_convert import to_l2_events, to_l3_events

    t_conv, (l2_events, events) = timed(lambda: (to_l2_events(replay, MD_LATENCY_NS),
                                                 to_l3_events(tape, MD_LATENCY_NS)))
    cfg = EngineConfig(md_latency=Constant(MD_LATENCY_NS), entry_latency=Constant(ENTRY_LATENCY_NS),
                       response_latency=Constant(RESPONSE_LATENCY_NS))
    start = replay.session_start_ns
    end = start + N_CHILDREN * MINUTE_NS
    parent = ParentOrder(side=1, quantity=N_CHILDREN * CHILD_QTY, start_ns=start, end_ns=end)
    times = np.array([c.time_ns for c in twap(parent, n_children=N_CHILDREN)], dtype=np.int64)

    def tr_twap():
        return Engine(replay, cfg).run(ChildOrderExecutor(1, twap(parent, n_children=N_CHILDREN, style="market")))

    def tr_passive():
        return Engine(replay, cfg).run(ChildOrderExecutor(
            1, twap(parent, n_children=N_CHILDREN, style="limit_touch"), replace_after_ns=REPLACE_AFTER_NS))

    def hbt_day(strategy: str, *args, l3: bool = True) -> Callable[[], tuple]:
        def run():
            hbt = HashMapMarketDepthBacktest([hbt_asset(events if l3 else l2_events, l3)])
            out = kernels[strategy](hbt, times, float(CHILD_QTY), *args, end)
            hbt.close()
            return out
        return run

    cases = {"twap": (tr_twap, hbt_day("twap", THROUGH_TICKS, l3=False)),
             "passive": (tr_passive, hbt_day("passive", REPLACE_AFTER_NS, l3=False)),
             "twap_vs_hbt_l3": (tr_twap, hbt_day("twap", THROUGH_TICKS)),
             "passive_vs_hbt_l3": (tr_passive, hbt_day("passive", REPLACE_AFTER_NS))}
    out: dict = {"convert_exch_s": t_conv}
    print(f"full-day runs on the AMZN tape ({N_CHILDREN} children x {CHILD_QTY} shares, latencies md "
          f"{MD_LATENCY_NS // MS} ms / entry {ENTRY_LATENCY_NS // MS} ms / response {RESPONSE_LATENCY_NS // MS} ms "
          f"constant; min / median of {repeat}):")
    for name, (tr, hb) in cases.items():
        t_w_tr, res = timed(tr)  # warm-up, and the figures of one run
        t_w_hb, hres = timed(hb)
        r = side_by_side(tr, hb, repeat)
        show(name, r, N_CHILDREN, "children", "child")
        built = [timed_cpu(lambda: tables(tr())) for _ in range(repeat)]
        r["tickreplay_with_tables_median_s"] = statistics.median(w for w, _ in built)
        r["tickreplay_with_tables_cpu_median_s"] = statistics.median(c for _, c in built)
        print(f"    tickreplay with its order log and fills read (frames built): wall min "
              f"{min(w for w, _ in built) * 1e3:.2f} / median {r['tickreplay_with_tables_median_s'] * 1e3:.2f} ms, "
              f"CPU median {r['tickreplay_with_tables_cpu_median_s'] * 1e3:.2f} ms (not alternating)")
        new = res.orders[res.orders.action == "new"]
        hb_filled = int(hres[-1])
        print(f"    tickreplay: {len(res.orders)} order-log rows, {len(res.fills)} fills, "
              f"{int(new.filled.sum()):,} shares filled; hftbacktest: {int(hres[0])} orders sent"
              + (f", {int(hres[1])} cancel-replaced" if name.startswith("passive") else "")
              + f", {hb_filled:,} shares filled; warm-up {t_w_tr:.2f} s / {t_w_hb:.2f} s")
        out[name] = r
        out[f"{name}_tickreplay_filled"] = int(new.filled.sum())
        out[f"{name}_hftbacktest_filled"] = hb_filled
        out[f"{name}_warmup_s"] = {"tickreplay": t_w_tr, "hftbacktest": t_w_hb}
    print("  (twap, passive: hftbacktest on the L2 feed, risk-averse queue; *_vs_hbt_l3: on the MBO feed, L3 FIFO)")
    print(f"  one-off: conversion to hftbacktest L2 and L3 events (exchange + local) {t_conv:.3f} s")
    return out


# ---------------------------------------------------------------- ingest: the CLI's streaming paths

ROW_UNIT = {"lobster": "rows", "binance": "lines", "dbn": "records"}


def ingest_sources(lobster: tuple[Path, Path], binance: Path) -> dict[str, tuple[list[str], str, str, str]]:
    """Per source: the command's arguments before ``--catalog``, the module its handler imports, and the report
    keys of its rows and tape events."""
    return {"lobster": (["ingest", "lobster", *map(str, lobster)], "tickreplay.adapters.lobster", "rows", "events"),
            "binance": (["ingest", "binance", str(binance), "--tick", "0.1", "--lot", "0.001"],
                        "tickreplay.adapters.binance_stream", "lines", "events"),
            "dbn": (["ingest", "dbn", str(DBN), "--definitions", str(DBN_DEF)], "tickreplay.adapters.dbn", "records",
                    "tape_events")}

_INGEST_CHILD = r"""
import json, os, resource, sys, time
cpu, module, root, argv = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4:]
if cpu >= 0:
    os.sched_setaffinity(0, {cpu})
t0 = time.perf_counter()
import importlib
import tickreplay.catalog, tickreplay.cli
importlib.import_module(module)
out = {"imports_s": time.perf_counter() - t0}
if argv:
    t1, c1 = time.perf_counter(), time.process_time()
    out["rc"] = tickreplay.cli.main([*argv, "--catalog", root])
    out["wall_s"], out["cpu_s"] = time.perf_counter() - t1, time.process_time() - c1
    if out["rc"] == 0:
        (entry,) = tickreplay.catalog.Catalog(root).entries()
        out["report"] = entry.read_report()
        out["disk_bytes"] = sum(p.stat().st_size for p in entry.folder.rglob("*") if p.is_file())
try:  # this process's own high-water mark (ru_maxrss would also count the parent's pages from before exec)
    hwm = next(int(ln.split()[1]) for ln in open("/proc/self/status") if ln.startswith("VmHWM:"))
except OSError:
    hwm = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
out["peak_rss_mb"] = hwm / 1024
print(json.dumps(out))
"""


def ingest_child(argv: list[str], module: str, cpu: int, imports_only: bool = False) -> dict:
    """One fresh process pinned to ``cpu`` (-1: not pinned): the imports of ``tickreplay ARGV`` (``module``)
    and, unless ``imports_only``, the command itself (``tickreplay.cli.main``) into a temporary catalog."""
    with tempfile.TemporaryDirectory(prefix="bench_ingest_") as root:
        cmd = [PYTHON, "-c", _INGEST_CHILD, str(cpu), module, root, *([] if imports_only else argv)]
        done = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO)
    if done.returncode:
        raise SystemExit(f"the child of `tickreplay {' '.join(argv)}` failed:\n{done.stderr[-3000:]}")
    res = json.loads(done.stdout.strip().splitlines()[-1])
    if res.get("rc"):
        raise SystemExit(f"tickreplay {' '.join(argv)} exited with {res['rc']}:\n{done.stderr[-3000:]}")
    return res


def bench_ingest(sources: dict, runs: int, cpu: int) -> dict:
    """Per source of ``ingest_sources``: imports-only baseline, one warm-up ingest (numba caches), then ``runs``
    timed ingests."""
    print(f"ingest as `tickreplay ingest SOURCE ... --catalog TMP` runs it, each in a fresh process pinned to one "
          f"core (an untimed warm-up first; {runs} timed; rows/s of the command after its imports, by wall and by "
          f"CPU time, min / median; peak RSS of the process):")
    out: dict = {}
    for source, (argv, module, rows_key, events_key) in sources.items():
        base = ingest_child(argv, module, cpu, imports_only=True)
        ingest_child(argv, module, cpu)
        rs = [ingest_child(argv, module, cpu) for _ in range(runs)]
        rows, events, disk = rs[0]["report"][rows_key], rs[0]["report"][events_key], rs[0]["disk_bytes"]
        wall = [rows / r["wall_s"] for r in rs]
        cpu_rate = [rows / r["cpu_s"] for r in rs]
        rss = [r["peak_rss_mb"] for r in rs]
        unit = ROW_UNIT[source]
        out[source] = {"command": "tickreplay " + " ".join(argv[:2]) + " " + " ".join(Path(a).name if "/" in a
                                                                                     else a for a in argv[2:]),
                       "rows": rows, "row_unit": unit, "events": events, "runs": runs,
                       "wall_s": [r["wall_s"] for r in rs], "cpu_s": [r["cpu_s"] for r in rs],
                       "rows_per_s_min": min(wall), "rows_per_s_median": statistics.median(wall),
                       "cpu_rows_per_s_min": min(cpu_rate), "cpu_rows_per_s_median": statistics.median(cpu_rate),
                       "peak_rss_mb_max": max(rss), "peak_rss_mb_median": statistics.median(rss),
                       "imports_peak_rss_mb": base["peak_rss_mb"], "imports_s": base["imports_s"],
                       "disk_bytes": disk, "disk_bytes_per_event": disk / events}
        o = out[source]
        print(f"  {source:<8} {o['command']}")
        print(f"           {rows:,} {unit} -> {events:,} tape events | {unit}/s by wall min {min(wall):,.0f} median "
              f"{o['rows_per_s_median']:,.0f}, by CPU min {min(cpu_rate):,.0f} median "
              f"{o['cpu_rows_per_s_median']:,.0f} | peak RSS median {o['peak_rss_mb_median']:,.0f} MB, max "
              f"{max(rss):,.0f} MB (imports alone {base['peak_rss_mb']:,.0f} MB, {base['imports_s']:.2f} s) | "
              f"{disk / events:.2f} bytes/event on disk")
    return out


# ---------------------------------------------------------------- sweep, labels, --help

def bench_sweep(runs: int, jobs: int, repeat: int) -> dict:
    """bench_sweep.py's sweep (its grid and child process) of ``runs`` full-day AMZN runs on ``jobs`` workers."""
    import bench_sweep as bs

    opts = argparse.Namespace(jobs=jobs, batch_size=SWEEP_BATCH)
    rs = []
    for _ in range(repeat):
        with tempfile.TemporaryDirectory(prefix="bench_sweep_") as tmp:
            r = bs.run_child(bs.grid_file(Path(tmp), runs), Path(tmp) / "results", opts, "local")
        if not r["ran"] == r["runs"] == runs:
            raise SystemExit(f"the sweep ran {r['ran']} of {r['runs']} runs, expected {runs}")
        rs.append(r)
    totals = [r["total_s"] for r in rs]
    med = statistics.median(totals)
    print(f"sweep: {runs:,} full-day AMZN runs ({bs.GRID.name}), --jobs {jobs}, local backend, fresh process "
          f"(bench_sweep.py's child), {repeat} repeats: total min {min(totals):.2f} s, median {med:.2f} s = "
          f"{runs / med:.1f} runs/s (median); peak RSS driver {max(r['rss_driver_mb'] for r in rs):.0f} MB, "
          f"largest worker {max(r['rss_worker_mb'] for r in rs):.0f} MB")
    return {"sweep_runs": runs, "sweep_jobs": jobs, "sweep_total_s": totals, "sweep_total_min_s": min(totals),
            "sweep_total_median_s": med, "sweep_runs_per_s": runs / med, "sweep_runs_per_s_best": runs / min(totals),
            "sweep_ms_per_run": rs[0]["ms"], "sweep_rss_driver_mb": max(r["rss_driver_mb"] for r in rs),
            "sweep_rss_worker_mb": max(r["rss_worker_mb"] for r in rs)}


def bench_labels(repeat: int) -> dict:
    """Labelled overlay examples/s as bench_overlay.py defines them (examples = decisions; label runs = decisions
    x delays): its default day (liquid_large_cap, planted refill 3 s, whole session, seed 1), a market buy of
    300 shares every 5 s, the default delay grid, md 1 ms / entry N(2 ms, 0.5 ms); on this process's core."""
    from dataclasses import replace

    from tickreplay.adapters.synthetic import REGIMES, generate_day
    from tickreplay.book.fast import compute_snapshots
    from tickreplay.book.replay import ReplayData
    from tickreplay.engine import EngineConfig
    from tickreplay.latency import Constant, Normal
    from tickreplay.overlay import build_dataset
    from tickreplay.trader import DEFAULT_DELAYS_NS

    t_gen, tape = timed(lambda: generate_day(replace(REGIMES["liquid_large_cap"], refill_half_life_s=3.0), 1,
                                             duration_s=23_400.0, progress=False))
    replay = ReplayData.build(tape, compute_snapshots(tape, 5))
    cfg = EngineConfig(md_latency=Constant(MS), entry_latency=Normal(2 * MS, MS // 2), seed=1)
    times = np.arange(replay.session_start_ns + MINUTE_NS, replay.session_end_ns, 5_000_000_000, dtype=np.int64)
    delays = DEFAULT_DELAYS_NS

    def build():
        return build_dataset(replay, times, 1, 300, "market", delays, cfg, max(delays))

    t_warm = timed(lambda: build_dataset(replay, times[:5], 1, 300, "market", delays, cfg, max(delays)))[0]
    res = [timed(build) for _ in range(repeat)]
    ts = [t for t, _ in res]
    ds = res[0][1]
    n, k, med = len(ds), len(ds.delays_ns), statistics.median(ts)
    print(f"overlay labels (bench_overlay.py's day: {len(tape):,} events, generated in {t_gen:.1f} s): build_dataset "
          f"{n:,} decisions x {k} delays, min {min(ts):.3f} s / median {med:.3f} s = {n / med:,.0f} examples/s, "
          f"{n * k / med:,.0f} label runs/s (median; one core; warm-up {t_warm:.2f} s)")
    return {"label_examples": n, "label_delays": k, "label_s": ts, "label_median_s": med,
            "label_examples_per_s": n / med, "label_runs_per_s": n * k / med,
            "label_examples_per_s_best": n / min(ts), "label_tape_events": len(tape)}


def bench_help(n: int) -> dict:
    """Wall time of ``tickreplay --help`` and of ``tickreplay COMMAND --help`` for every command, min/median of n."""
    from tickreplay.cli import build_parser

    exe = Path(PYTHON).with_name("tickreplay")
    if not exe.exists():
        raise SystemExit(f"{exe} is missing: install the package (pip install -e .) to time `tickreplay --help`")
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    figs = {}
    for cmd in [[], *([c] for c in sub.choices)]:
        ts = [timed(lambda: subprocess.run([str(exe), *cmd, "--help"], capture_output=True, check=True))[0]
              for _ in range(n)]
        figs[" ".join(cmd)] = (min(ts), statistics.median(ts))
    top = figs.pop("")
    slow = max(figs, key=lambda c: figs[c][0])
    print(f"tickreplay --help: min {top[0]:.3f} s, median {top[1]:.3f} s of {n}; slowest command help: "
          f"`tickreplay {slow} --help` min {figs[slow][0]:.3f} s, median {figs[slow][1]:.3f} s "
          f"({len(figs)} commands)")
    return {"help_min_s": top[0], "help_median_s": top[1], "help_slowest_command": slow,
            "help_slowest_command_min_s": figs[slow][0], "help_slowest_command_median_s": figs[slow][1]}


# ---------------------------------------------------------------- output

def summary(books: dict, days: dict, load: dict, extras: dict) -> dict:
    """The JSON object: the ratios, the medians behind them, and every other figure."""
    out = {"hftbacktest_version": __import__("hftbacktest").__version__,
           "latency_ms": {"market_data": MD_LATENCY_NS / MS, "entry": ENTRY_LATENCY_NS / MS,
                          "response": RESPONSE_LATENCY_NS / MS}}
    for key, r in (("book_l2", books["book_l2"]), ("book_l2_roivec", books["book_l2_roivec"]),
                   ("book_l3", books["book_l3"]), ("twap", days["twap"]), ("passive", days["passive"]),
                   ("twap_vs_hbt_l3", days["twap_vs_hbt_l3"]), ("passive_vs_hbt_l3", days["passive_vs_hbt_l3"])):
        out[f"{key}_ratio"] = r["ratio"]
        for k, v in r.items():
            if k != "ratio":
                out[f"{key}_{k}"] = v
    out.update({k: v for k, v in books.items() if not isinstance(v, dict) or k == "book_warmup_s"}
               | {k: v for k, v in days.items() if not isinstance(v, dict) or k.endswith("_warmup_s")})
    out.update(load)
    out.update(extras)
    for source, r in extras["ingest"].items():  # the headline ingest figures at the top level too
        out[f"ingest_{source}_rows_per_s"] = r["rows_per_s_median"]
        out[f"ingest_{source}_cpu_rows_per_s"] = r["cpu_rows_per_s_median"]
        out[f"ingest_{source}_peak_rss_mb"] = r["peak_rss_mb_max"]
    return out


def markdown(s: dict, command: str) -> str:
    """The README's speed table from the summary ``s``: figure, tickreplay, hftbacktest, ratio / target, command;
    then a line naming the whole command, the machine and its load."""
    cmd = "`" + command.replace(".venv/bin/python ", "") + "`"
    ms = lambda v: f"{v * 1e3:,.1f} ms"  # noqa: E731
    rows = [("figure", "tickreplay", "hftbacktest", "ratio / target", "command"), ("---",) * 5]

    def pair(key: str, label: str, hbt: str, target: str = "") -> None:
        rows.append((label, ms(s[f"{key}_tickreplay_median_s"]), f"{ms(s[f'{key}_hftbacktest_median_s'])} ({hbt})",
                     f"{s[f'{key}_ratio']:.2f}" + (f" (target {target})" if target else ""), cmd))

    pair("book_l2", f"book reconstruction L2, AMZN 2012-06-21 level 5 ({s['book_l2_rows']:,} level changes and "
         "prints), final book", "HashMapMarketDepth")
    pair("book_l3", f"book reconstruction L3, the same day ({s['book_l3_rows']:,} tape events, orders by id)",
         "L3 FIFO, market-by-order")
    pair("twap", f"full-day market TWAP, {N_CHILDREN} children x {CHILD_QTY} shares", "L2 feed, risk-averse queue",
         "≤ 0.5")
    pair("passive", f"passive cancel-replace day, {N_CHILDREN} limits at the touch, re-priced every 30 s",
         "L2 feed, risk-averse queue", "≤ 0.5")
    pair("twap_vs_hbt_l3", "the same TWAP against hftbacktest's L3 backtest", "MBO feed, L3 FIFO")
    pair("passive_vs_hbt_l3", "the same passive day against hftbacktest's L3 backtest", "MBO feed, L3 FIFO")
    targets = {"lobster": ("≥ 1,000,000 rows/s", "< 1.5 GB for a 20 M-message day"),
               "binance": ("≥ 200,000 lines/s", "< 1.5 GB for a full day"), "dbn": ("none set", "none set")}
    what = {"lobster": "LOBSTER " + s["ingest_lobster_pair"], "binance": "Binance BTCUSDT capture"
            + (f" x{s['ingest_binance_copies']}" if s["ingest_binance_copies"] > 1 else ""),
            "dbn": "Databento MBO ESM4, 2 s"}
    for source, r in s["ingest"].items():
        u = r["row_unit"]
        icmd = f"`{r['command']}`"
        rows.append((f"ingest {what[source]} ({r['rows']:,} {u}, {r['events']:,} events), one core",
                     f"{r['rows_per_s_median']:,.0f} {u}/s wall, {r['cpu_rows_per_s_median']:,.0f} {u}/s CPU",
                     "—", f"target {targets[source][0]}", icmd))
        rows.append((f"ingest {what[source]}: peak RSS",
                     f"{r['peak_rss_mb_max']:,.0f} MB (imports alone {r['imports_peak_rss_mb']:,.0f} MB)", "—",
                     f"target {targets[source][1]}", icmd))
    rows.append((f"sweep: {s['sweep_runs']:,} full-day AMZN runs, {s['sweep_jobs']} jobs",
                 f"{s['sweep_total_median_s']:.1f} s = {s['sweep_runs_per_s']:.1f} runs/s", "—",
                 "target: 1,000 runs < 30 s", cmd))
    rows.append((f"overlay labels: {s['label_examples']:,} decisions x {s['label_delays']} delays (generated day), "
                 "one core", f"{s['label_examples_per_s']:,.0f} examples/s, {s['label_runs_per_s']:,.0f} "
                 "label runs/s", "—", "target ≥ 5,000 examples/s on 2 cores", cmd))
    rows.append(("`tickreplay --help` (slowest `COMMAND --help`)",
                 f"{s['help_min_s']:.3f} s ({s['help_slowest_command']}: {s['help_slowest_command_min_s']:.3f} s)",
                 "—", "target < 0.3 s", cmd))
    la, lb = s["load_average_start"], s["load_average_end"]
    note = (f"\nMeasured by `{command}` on {os.cpu_count()} CPUs (load average {la[0]:.2f} at the start, "
            f"{lb[0]:.2f} at the end); times are medians of the script's repeats, tickreplay and hftbacktest "
            "alternating on one core; ingest: the command in a fresh process on that core, after its imports.")
    return "\n".join("| " + " | ".join(r) + " |" for r in rows) + "\n" + note


def days_only(args: argparse.Namespace) -> None:
    """``--days-only``: the TWAP and passive days of :func:`bench_days` on this process's first core."""
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    tape, replay, load = load_amzn()
    print(f"AMZN level-5 tape: {len(tape):,} events; one-off: read_lobster {load['read_lobster_s']:.2f} s, "
          f"ReplayData.build {load['replay_build_s'] * 1e3:.1f} ms")
    days = bench_days(replay, tape, hbt_kernels(), args.repeat)
    load_end = os.getloadavg()
    print(f"load average at end {load_end[0]:.2f} {load_end[1]:.2f} {load_end[2]:.2f}")
    if args.json:
        out = {f"{k}_{f}": v for k in ("twap", "passive", "twap_vs_hbt_l3", "passive_vs_hbt_l3")
               for f, v in days[k].items()}
        print(json.dumps(out | load | {"children": N_CHILDREN}, sort_keys=True))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=5,
                    help="timed runs per tool and case, and of the label build (default 5)")
    ap.add_argument("--json", action="store_true", help="end with one JSON line holding every figure")
    ap.add_argument("--markdown", action="store_true", help="print the README's speed table (Markdown)")
    ap.add_argument("--quick", action="store_true",
                    help=f"a {QUICK_SWEEP_RUNS}-run sweep unless --sweep-runs, one sweep, one timed ingest per "
                         "source, 3 --help runs")
    ap.add_argument("--sweep-runs", type=int, help="runs in the sweep, a multiple of 200 (default 1000)")
    ap.add_argument("--jobs", type=int, default=2, help="worker processes for the sweep (default 2)")
    ap.add_argument("--lobster", nargs=2, type=Path, metavar=("MSG", "OB"),
                    help="the LOBSTER pair of the ingest figures (default: the AMZN level-5 pair), e.g. a day "
                         "from `tickreplay generate --seed 1 --activity 65 --levels 10 --lobster-dir DIR`")
    ap.add_argument("--days-only", action="store_true",
                    help="only the full-day TWAP and passive runs (3-4), both tools on one core")
    ap.add_argument("--binance-copies", type=int, default=1,
                    help="ingest the BTCUSDT capture repeated N times (bench_binance.py's build_repeated, "
                         "under /tmp; default 1)")
    args = ap.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parent))  # _hbt_convert, bench_sweep
    if args.repeat < 1:
        ap.error("--repeat must be at least 1")
    sweep_runs = args.sweep_runs or (QUICK_SWEEP_RUNS if args.quick else 1000)
    if sweep_runs <= 0 or sweep_runs % 200:
        ap.error("--sweep-runs must be a positive multiple of 200")
    if args.binance_copies < 1:
        ap.error("--binance-copies must be at least 1")
    lobster = tuple(args.lobster or (AMZN_MSG, AMZN_OB))
    for path in (AMZN_MSG, AMZN_OB, BINANCE, DBN, DBN_DEF, *lobster):
        if not path.exists():
            raise SystemExit(f"{path} is missing (shared data: {SHARED}, or set TICKREPLAY_SHARED_DATA)")
    command = " ".join([".venv/bin/python benchmarks/bench_vs_hftbacktest.py", *sys.argv[1:]])
    load_start = os.getloadavg()
    print(f"{command}\n{os.cpu_count()} CPUs; load average at start {load_start[0]:.2f} {load_start[1]:.2f} "
          f"{load_start[2]:.2f}")
    if args.days_only:
        days_only(args)
        return
    # first, while this process is small (the sweep's driver counts its parent's pages in its peak RSS)
    extras: dict = bench_sweep(sweep_runs, args.jobs, 1 if args.quick else 3)
    cpu = min(os.sched_getaffinity(0)) if hasattr(os, "sched_setaffinity") else -1
    if cpu >= 0:  # both tools, the ingests and the label build on one core, the same one
        os.sched_setaffinity(0, {cpu})
    import bench_binance

    binance = BINANCE if args.binance_copies == 1 else bench_binance.build_repeated(args.binance_copies)
    extras["ingest"] = bench_ingest(ingest_sources(lobster, binance), 1 if args.quick else 3, cpu)
    extras.update(ingest_lobster_pair=lobster[0].name,
                  ingest_binance_copies=args.binance_copies)

    tape, replay, load = load_amzn()
    print(f"AMZN level-5 tape: {len(tape):,} events; one-off: read_lobster {load['read_lobster_s']:.2f} s, "
          f"ReplayData.build {load['replay_build_s'] * 1e3:.1f} ms")
    t_jit, kernels = timed(hbt_kernels)
    books = bench_books(tape, replay, kernels, args.repeat)
    days = bench_days(replay, tape, kernels, args.repeat)
    print(f"  (hftbacktest kernels defined in {t_jit:.2f} s; they compile in their warm-up runs)")
    extras.update(bench_labels(args.repeat))
    extras.update(bench_help(3 if args.quick else 5))
    load_end = os.getloadavg()
    print(f"load average at end {load_end[0]:.2f} {load_end[1]:.2f} {load_end[2]:.2f}")
    extras.update(load_average_start=list(load_start), load_average_end=list(load_end), command=command)
    s = summary(books, days, load, extras)
    if args.markdown:
        print()
        print(markdown(s, command))
        print()
    if args.json:
        print(json.dumps(s, sort_keys=True))


if __name__ == "__main__":
    main()
