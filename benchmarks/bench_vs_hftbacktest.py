"""tickreplay against hftbacktest 2.x on the same events, side by side in one process.

Run from the repository root (hftbacktest is the ``[bench]`` extra)::

    .venv/bin/python benchmarks/bench_vs_hftbacktest.py [--repeat N] [--json] [--quick]

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
  in hftbacktest. Results: tickreplay builds an order log and fills as DataFrames; hftbacktest keeps
  its state only (position, order dict).
* Clock start: hftbacktest's clock starts at the first event, 17 ms after the 09:30 open, so its first
  child goes then; tickreplay sends it at 09:30:00.000 to an empty book.

The other figures for the README's speed table (each calls existing code; ``n/a`` with the reason
when a piece does not exist): ingest rows/s and peak RSS for LOBSTER, Binance and Databento DBN,
each in a child process (peak RSS from ``getrusage(RUSAGE_CHILDREN)`` of a parent whose only child
is the ingest); sweep runs/s (``tickreplay compare --grid scenarios/grid_style_pov.toml`` and an
in-process grid on the AMZN scenario, results in a temporary folder); labelled overlay examples/s
(``overlay.build_dataset`` on the AMZN day); ``tickreplay --help`` wall time (min of 5).
With ``--json`` the last line is one JSON object with every figure (times in seconds).
"""

from __future__ import annotations

import argparse
import gzip
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

Timing = dict[str, float]


# ---------------------------------------------------------------- timing

def timed(fn: Callable[[], object]) -> tuple[float, object]:
    """Wall time of one call (s) and its result."""
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def side_by_side(tr: Callable[[], object], hbt: Callable[[], object], repeat: int) -> dict:
    """Alternate the two tools ``repeat`` times; min, median (s) and ratio of medians."""
    t_tr, t_hbt = [], []
    for _ in range(repeat):
        t_tr.append(timed(tr)[0])
        t_hbt.append(timed(hbt)[0])
    med_tr, med_hbt = statistics.median(t_tr), statistics.median(t_hbt)
    return {"tickreplay_min_s": min(t_tr), "tickreplay_median_s": med_tr,
            "hftbacktest_min_s": min(t_hbt), "hftbacktest_median_s": med_hbt, "ratio": med_tr / med_hbt}


def show(label: str, r: dict, n: int | None = None, unit: str = "events") -> None:
    rate = "" if n is None else (f"  ({n / r['tickreplay_median_s']:,.0f} vs "
                                 f"{n / r['hftbacktest_median_s']:,.0f} {unit}/s)")
    print(f"  {label:<34} tickreplay {r['tickreplay_min_s'] * 1e3:8.2f} / {r['tickreplay_median_s'] * 1e3:8.2f} ms"
          f"   hftbacktest {r['hftbacktest_min_s'] * 1e3:8.2f} / {r['hftbacktest_median_s'] * 1e3:8.2f} ms"
          f"   ratio {r['ratio']:.2f}{rate}")


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
        show(name, r, N_CHILDREN, "children")
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


# ---------------------------------------------------------------- other figures

_RUSAGE_RUNNER = ("import json, resource, subprocess, sys\n"
                  "r = subprocess.run(sys.argv[1:], capture_output=True, text=True)\n"
                  "print(json.dumps({'rc': r.returncode, 'out': r.stdout, 'err': r.stderr[-2000:],\n"
                  "                  'maxrss_kb': resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}))\n")


def in_child(source: str) -> dict:
    """Run ``--_ingest SOURCE`` in a child whose parent has no other child; its JSON plus peak RSS (MB)."""
    cmd = [PYTHON, "-c", _RUSAGE_RUNNER, PYTHON, str(Path(__file__).resolve()), "--_ingest", source]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO)
    wrap = json.loads(proc.stdout)
    if wrap["rc"] != 0:
        tail = (wrap["err"].strip().splitlines() or ["no output"])[-1]
        return {"error": f"child failed: {tail}"}
    res = json.loads(wrap["out"].strip().splitlines()[-1])
    if "na" not in res:
        res["peak_rss_mb"] = wrap["maxrss_kb"] / 1024.0
    return res


def _dbn_reader() -> Callable | None:
    """The DBN ingest function of ``tickreplay.adapters.dbn`` if it exists."""
    import importlib
    import importlib.util

    if importlib.util.find_spec("tickreplay.adapters.dbn") is None:
        return None
    mod = importlib.import_module("tickreplay.adapters.dbn")
    return getattr(mod, "read_dbn", None)


def ingest_worker(source: str) -> None:
    """Child-process body: read one source twice (the first also loads numba caches); print one JSON line."""
    if source == "baseline":  # imports only: what every child holds before reading anything
        import tickreplay.adapters.binance  # noqa: F401
        import tickreplay.adapters.lobster  # noqa: F401
        print(json.dumps({"rows": 0}))
        return
    if source == "lobster":
        from tickreplay.adapters.lobster import read_lobster
        rows = sum(1 for _ in open(AMZN_MSG, "rb"))
        call = lambda: read_lobster(AMZN_MSG, AMZN_OB)  # noqa: E731
        what = f"{AMZN_MSG.name} (+ orderbook)"
    elif source == "binance":
        from tickreplay.adapters.binance import read_binance
        with gzip.open(BINANCE, "rb") as f:
            rows = sum(1 for _ in f)
        call = lambda: read_binance([BINANCE], tick="0.1", lot="0.001")  # noqa: E731
        what = BINANCE.name
    else:
        read = _dbn_reader()
        if read is None:
            print(json.dumps({"na": "tickreplay.adapters.dbn (read_dbn) does not exist yet"}))
            return
        call = lambda: read(DBN, definitions=DBN_DEF)  # noqa: E731
        rows = None
        what = DBN.name
    cold, res = timed(call)
    events = len(res.tape)
    if rows is None:
        rows = int((res.report or {}).get("records", events)) if isinstance(res.report, dict) else events
    del res
    warm, res = timed(call)
    print(json.dumps({"file": what, "rows": rows, "events": events, "cold_s": cold, "warm_s": warm,
                      "rows_per_s": rows / min(cold, warm)}))


def bench_ingest(sources: tuple[str, ...]) -> dict:
    """Ingest rows/s (faster of two calls in the child) and peak RSS per source, each in its own child."""
    out = {}
    print("ingest (each in a child process: two calls, rows/s of the faster, peak RSS of the child):")
    base = in_child("baseline")
    out["baseline"] = base
    print(f"  {'baseline (imports only)':<10} peak RSS {base.get('peak_rss_mb', float('nan')):7.0f} MB")
    for s in sources:
        r = in_child(s)
        out[s] = r
        if "na" in r or "error" in r:
            print(f"  {s:<10} n/a: {r.get('na') or r.get('error')}")
            continue
        print(f"  {s:<10} {r['rows']:>10,} rows ({r['events']:,} tape events) in {r['cold_s']:.2f} s then "
              f"{r['warm_s']:.2f} s = {r['rows_per_s']:>10,.0f} rows/s; peak RSS {r['peak_rss_mb']:.0f} MB")
    return out


def bench_help(n: int = 5) -> dict:
    """``tickreplay --help`` wall time in a subprocess, min of ``n``."""
    exe = Path(PYTHON).with_name("tickreplay")
    cmd = [str(exe), "--help"] if exe.exists() else [PYTHON, "-m", "tickreplay", "--help"]
    times = [timed(lambda: subprocess.run(cmd, capture_output=True, check=True))[0] for _ in range(n)]
    print(f"tickreplay --help: min {min(times):.3f} s, median {statistics.median(times):.3f} s of {n}")
    return {"help_min_s": min(times), "help_median_s": statistics.median(times)}


def bench_sweeps(jobs: int, quick: bool) -> dict:
    """Sweep runs/s: the CLI on scenarios/grid_style_pov.toml, and the API on a grid of the AMZN scenario."""
    out: dict = {}
    grid = REPO / "scenarios" / "grid_style_pov.toml"
    exe = Path(PYTHON).with_name("tickreplay")
    with tempfile.TemporaryDirectory(prefix="bench_sweep_") as tmp:
        if grid.exists() and exe.exists():
            cmd = [str(exe), "compare", "--grid", str(grid), "--out", str(Path(tmp) / "cli"), "--jobs", str(jobs)]
            t, proc = timed(lambda: subprocess.run(cmd, capture_output=True, text=True, cwd=REPO))
            if proc.returncode == 0:
                from tickreplay.experiment import load_grid
                n = len(load_grid(grid))
                out["cli_grid_runs"], out["cli_grid_s"], out["cli_grid_runs_per_s"] = n, t, n / t
                print(f"sweep: tickreplay compare --grid {grid.name} --jobs {jobs}: {n} runs in {t:.2f} s "
                      f"(whole command) = {n / t:.2f} runs/s")
            else:
                out["cli_grid_na"] = f"command failed: {(proc.stderr.strip().splitlines() or ['?'])[-1]}"
                print(f"sweep CLI: n/a: {out['cli_grid_na']}")
        else:
            out["cli_grid_na"] = "scenarios/grid_style_pov.toml or the tickreplay command is missing"
            print(f"sweep CLI: n/a: {out['cli_grid_na']}")
        out.update(_api_sweep(Path(tmp), jobs, quick))
    return out


def _api_sweep(tmp: Path, jobs: int, quick: bool) -> dict:
    """A grid over the AMZN scenario run with ``experiment.compare`` (data load included, as in a sweep)."""
    from tickreplay.experiment import compare, load_grid

    base = REPO / "scenarios" / "amzn_twap.toml"
    n_children = [33, 66] if quick else [33, 66, 132]
    styles = ["market", "limit_touch"] if quick else ["market", "limit_touch", "peg_mid"]
    grid = tmp / "grid_amzn.toml"
    grid.write_text(f'base = "{base}"\nname = "bench_amzn"\n\n[sweep]\n'
                    f'"schedule.n_children" = {json.dumps(n_children)}\n"schedule.style" = {json.dumps(styles)}\n')
    scenarios = load_grid(grid)
    t, table = timed(lambda: compare(scenarios, tmp / "api", jobs=jobs, progress=False))
    n = len(table)
    print(f"sweep: experiment.compare on {n} AMZN runs (n_children x style), jobs={jobs}: {t:.2f} s "
          f"= {n / t:.2f} runs/s (each run loads its data)")
    return {"api_grid_runs": n, "api_grid_s": t, "api_grid_runs_per_s": n / t, "sweep_jobs": jobs}


def bench_labels(replay, quick: bool) -> dict:
    """Labelled overlay examples/s: ``overlay.build_dataset`` on the AMZN day (market children)."""
    from tickreplay.engine import EngineConfig
    from tickreplay.latency import Constant
    from tickreplay.overlay import build_dataset
    from tickreplay.trader import DEFAULT_DELAYS_NS

    cfg = EngineConfig(md_latency=Constant(MD_LATENCY_NS), entry_latency=Constant(ENTRY_LATENCY_NS),
                       response_latency=Constant(RESPONSE_LATENCY_NS))
    every = (60 if quick else 15) * 1_000_000_000
    times = np.arange(replay.session_start_ns + MINUTE_NS, replay.session_end_ns, every, dtype=np.int64)
    delays = tuple(DEFAULT_DELAYS_NS)
    build_dataset(replay, times[:5], 1, CHILD_QTY, "market", delays, cfg, max(delays))  # warm-up
    t, ds = timed(lambda: build_dataset(replay, times, 1, CHILD_QTY, "market", delays, cfg, max(delays)))
    n, k = len(ds), len(ds.delays_ns)
    print(f"overlay labels: build_dataset on AMZN, {n:,} decisions x {k} delays in {t:.2f} s = "
          f"{n / t:,.0f} examples/s ({n * k / t:,.0f} labels = engine runs/s)")
    return {"label_examples": n, "label_delays": k, "label_s": t, "label_examples_per_s": n / t,
            "label_runs_per_s": n * k / t}


def guarded(name: str, fn: Callable[[], dict]) -> dict:
    """Run one figure; if a piece it calls is missing or broken, print ``n/a`` with the reason."""
    try:
        return fn()
    except (ImportError, AttributeError, TypeError, OSError) as err:
        print(f"{name}: n/a: {type(err).__name__}: {err}")
        return {f"{name}_na": f"{type(err).__name__}: {err}"}


# ---------------------------------------------------------------- main

def summary(books: dict, days: dict, load: dict, extras: dict) -> dict:
    """The JSON object: the four ratios, the medians behind them, and every other figure."""
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
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=5, help="timed runs per tool and case (default 5)")
    ap.add_argument("--json", action="store_true", help="end with one JSON line holding every figure")
    ap.add_argument("--quick", action="store_true", help="smaller sweep and label grids, 3 --help runs")
    ap.add_argument("--jobs", type=int, default=2, help="worker processes for the sweep figures (default 2)")
    ap.add_argument("--_ingest", help=argparse.SUPPRESS)
    args = ap.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parent))  # _hbt_convert
    if args._ingest:
        ingest_worker(args._ingest)
        return
    if args.repeat < 1:
        ap.error("--repeat must be at least 1")
    if not AMZN_MSG.exists():
        raise SystemExit(f"{AMZN_MSG} is missing: the side-by-side figures need the LOBSTER AMZN level-5 pair")
    if hasattr(os, "sched_setaffinity"):  # both tools on one core, the same one
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})

    tape, replay, load = load_amzn()
    print(f"AMZN level-5 tape: {len(tape):,} events; one-off: read_lobster {load['read_lobster_s']:.2f} s, "
          f"ReplayData.build {load['replay_build_s'] * 1e3:.1f} ms")
    t_jit, kernels = timed(hbt_kernels)
    books = bench_books(tape, replay, kernels, args.repeat)
    days = bench_days(replay, tape, kernels, args.repeat)
    print(f"  (hftbacktest kernels defined in {t_jit:.2f} s; they compile in their warm-up runs)")
    if hasattr(os, "sched_setaffinity"):  # the sweep and ingest children may use every core
        os.sched_setaffinity(0, set(range(os.cpu_count() or 1)))
    extras: dict = {}
    extras["ingest"] = bench_ingest(("lobster", "binance", "dbn"))
    extras.update(guarded("sweep", lambda: bench_sweeps(args.jobs, args.quick)))
    extras.update(guarded("labels", lambda: bench_labels(replay, args.quick)))
    extras.update(bench_help(3 if args.quick else 5))
    if args.json:
        print(json.dumps(summary(books, days, load, extras), sort_keys=True))


if __name__ == "__main__":
    main()
