"""``tickreplay demo``: generate a sample day, summarise tape and book, then run and compare schedules.

The schedules (TWAP with market and with passive children, VWAP, POV 10 %,
Almgren–Chriss) work one buy parent of 5 % of the market volume traded in
the middle of the sample (from a tenth to a half of it). Each run lands in
the results store ``--out`` like any other run (a rerun of the demo finds
them there and does not add copies), with its report; the comparison report
goes to ``<out>/_compare/demo``.
"""

from __future__ import annotations

import argparse
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Callable
from zoneinfo import ZoneInfo

from tickreplay.adapters.synthetic_regimes import REGIMES
from tickreplay.clock import format_local

if TYPE_CHECKING:
    from tickreplay.book.snapshots import Snapshots
    from tickreplay.tape import Tape

DEMO_LEVELS = 5
TOUCH_TIMES = ("09:30:05", "10:00", "11:00", "12:00", "13:00", "14:00", "15:00", "15:59:55")
NS = 1_000_000_000


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="generate a sample day, reconstruct it, and print a summary")
    p.add_argument("--regime", default="liquid_large_cap", choices=sorted(REGIMES))
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--duration-s", type=float, help="only the first seconds of the session (default: all)")
    p.add_argument("--out", default=DEMO_OUT, help=f"results folder for the runs and reports (default: {DEMO_OUT})")
    p.set_defaults(func=lambda a: run_demo(a.regime, a.seed, duration_s=a.duration_s, results=a.out))


DEMO_OUT = "results"  # the results store, like any run: a rerun of the demo finds its runs there
DEMO_SCHEDULES = (  # (name, [schedule] table)
    ("twap_market", {"kind": "twap", "n_children": 60, "style": "market"}),
    ("twap_passive", {"kind": "twap", "n_children": 60, "style": "limit_touch", "cancel_replace_after_s": 20,
                      "max_replaces": 3, "finish_with_market": True}),
    ("vwap", {"kind": "vwap", "profile": "same_day", "profile_bin_min": 5, "style": "market"}),
    ("pov_10pct", {"kind": "pov", "participation": 0.1, "min_child": 100, "max_child": 2000, "style": "market"}),
    ("almgren_chriss", {"kind": "almgren_chriss", "n_children": 60, "risk_aversion": 1e-6, "style": "market"}),
)


def demo_data(regime: str, seed: int, duration_s: float | None) -> dict:
    """The ``[data]`` table of the generated day."""
    syn = {"regime": regime, "seed": seed, **({} if duration_s is None else {"duration_s": duration_s})}
    return {"synthetic": syn, "levels": DEMO_LEVELS}


def demo_scenarios(data: dict, tape: Tape, seed: int) -> list[dict]:
    """Scenario documents of the demo's schedules on the generated day (see module docstring)."""
    import numpy as np

    from tickreplay.tape import TRADED_KINDS

    t0, t1 = int(tape.ts_ns[0]), int(tape.ts_ns[-1])
    start, end = t0 + (t1 - t0) // 10, t0 + (t1 - t0) // 2
    traded = np.isin(tape.kind, [int(k) for k in TRADED_KINDS])
    window = traded & (tape.ts_ns >= start) & (tape.ts_ns < end)
    quantity = max(100, int(tape.size[window].sum()) // 20 // 100 * 100)
    common = {"seed": seed, "data": data, "parent": {"side": "buy", "quantity": quantity, "start": start, "end": end},
              "latency": {"market_data": 1, "order_entry": {"model": "normal", "mean_ms": 2, "jitter_ms": 0.5},
                          "response": 1},
              "fees": {"maker_bps": -0.2, "taker_bps": 0.3}, "pretrade": {"model": "canonical"}}
    return [{"name": name, **common, "schedule": table} for name, table in DEMO_SCHEDULES]


def run_demo(regime: str = "liquid_large_cap", seed: int = 1, out: Callable[[str], None] = print,
             duration_s: float | None = None, results: str | Path = DEMO_OUT) -> None:
    """Generate and summarise one sample day, run the demo schedules on it and write their reports.

    Every line goes through ``out``.
    """
    from tickreplay.cli.run import format_table, run_count_line
    from tickreplay.experiment import compare, load_data_spec
    from tickreplay.report import compare_report, run_report
    from tickreplay.experiment.scenario import parse_data, parse_scenario

    data_doc = demo_data(regime, seed, duration_s)
    data = load_data_spec(parse_data(data_doc))  # generated once: the runs below reuse it from the cache
    tape = data.tape
    out(f"tickreplay demo: regime {regime}, seed {seed}")
    for line in tape_summary(tape) + book_summary(tape, data.snapshots):
        out(line)
    scenarios = [parse_scenario(d) for d in demo_scenarios(data_doc, tape, seed)]
    p = scenarios[0].parent
    out(f"schedules: buy {p.quantity:,} shares (5% of the window's volume) from {_local(tape, p.start)} "
        f"to {_local(tape, p.end)}; order entry 2 ms ± 0.5; fees maker -0.2 / taker 0.3 bps")
    table = compare(scenarios, results, progress=False)
    out(run_count_line(table, results))
    out("TCA comparison (bps of the arrival notional; + = cost):")
    for line in format_table(table).splitlines():
        out("  " + line)
    root = Path(results)
    for run_id in table["run_id"]:
        run_report(root / run_id)
    page = compare_report([root / r for r in table["run_id"]], root / "_compare" / "demo")
    out(f"reports: {root}/<run>/report/report.md per run; comparison: {page}")


def _local(tape: Tape, ts_ns: int) -> str:
    return format_local(ts_ns, tape.instrument.timezone) + f".{ts_ns % NS // 1000:06d}"


def _dollars(tape: Tape, price: float) -> str:
    return f"{price / tape.instrument.price_scale:,.4f}"


def tape_summary(tape: Tape) -> list[str]:
    """Events by kind, time span, trades and volume."""
    import numpy as np

    from tickreplay.tape import EventKind

    inst = tape.instrument
    lines = [f"tape: {inst.symbol} on {inst.venue} {inst.date} ({inst.source}), {len(tape):,} events, "
             f"{_local(tape, int(tape.ts_ns[0]))} – {_local(tape, int(tape.ts_ns[-1]))} {inst.timezone}"]
    counts = np.bincount(tape.kind.astype(np.int64), minlength=max(EventKind) + 1)
    lines.append("  events by kind: " + ", ".join(f"{k.name} {counts[k]:,}" for k in EventKind if counts[k]))
    vis = tape.kind == EventKind.EXECUTE_VISIBLE
    hid = tape.kind == EventKind.EXECUTE_HIDDEN
    trades = vis | hid
    aggressors = len(np.unique(tape.ts_ns[vis])) + int(hid.sum())
    volume = int(tape.size[trades].sum())
    notional = float((tape.price[trades] * tape.size[trades]).sum()) / inst.price_scale * inst.multiplier
    buy = int(tape.size[trades & (tape.side == -1)].sum())
    lines.append(f"  trades: {int(trades.sum()):,} fills from {aggressors:,} aggressive orders; "
                 f"volume {volume:,} shares (buyer-initiated {buy / max(volume, 1):.1%}), "
                 f"notional ${notional:,.0f}")
    return lines


def book_summary(tape: Tape, snaps: Snapshots) -> list[str]:
    """Touch at a few times of day, time-weighted spread and depth, mid path."""
    import numpy as np

    tick = tape.instrument.tick_size
    ts = tape.ts_ns
    two_sided = (snaps.ask_size[:, 0] > 0) & (snaps.bid_size[:, 0] > 0)
    hold_ns = np.diff(ts, append=ts[-1]).astype(np.float64) * two_sided  # time each book state lasted
    weight = hold_ns / hold_ns.sum() if hold_ns.sum() > 0 else two_sided / max(two_sided.sum(), 1)
    spread = np.where(two_sided, (snaps.ask_price[:, 0] - snaps.bid_price[:, 0]) // tick, 0)
    lines = [f"book (reconstructed, top {snaps.levels} levels after every event):", "  touch:"]
    day = datetime.fromisoformat(tape.instrument.date).replace(tzinfo=ZoneInfo(tape.instrument.timezone))
    for hms in TOUCH_TIMES:
        h, m, *s = (int(x) for x in hms.split(":"))
        at = int(day.replace(hour=h, minute=m, second=s[0] if s else 0).timestamp()) * NS
        i = int(np.searchsorted(ts, at, side="right")) - 1
        if i < 0 or at > ts[-1]:
            continue
        b = f"{snaps.bid_size[i, 0]:>7,} @ {_dollars(tape, snaps.bid_price[i, 0])}" if snaps.bid_size[i, 0] else "empty"
        a = f"{_dollars(tape, snaps.ask_price[i, 0])} x {snaps.ask_size[i, 0]:,}" if snaps.ask_size[i, 0] else "empty"
        lines.append(f"    {hms:>8}  bid {b}  |  ask {a}  spread {spread[i]} ticks")
    shares = [float(weight[spread == k].sum()) for k in (1, 2)]
    lines.append(f"  spread: mean {float((weight * spread).sum()):.2f} ticks (time-weighted); "
                 f"1 tick {shares[0]:.1%}, 2 ticks {shares[1]:.1%}, wider {1 - sum(shares):.1%}")
    touch = (snaps.bid_size[:, 0] + snaps.ask_size[:, 0]) / 2
    top = (snaps.bid_size.sum(axis=1) + snaps.ask_size.sum(axis=1)) / 2
    lines.append(f"  depth per side: touch {float((weight * touch).sum()):,.0f} shares, "
                 f"top {snaps.levels} levels {float((weight * top).sum()):,.0f} shares (time-weighted means)")
    mid = (snaps.ask_price[two_sided, 0] + snaps.bid_price[two_sided, 0]) / 2
    mts = ts[two_sided]
    grid = np.arange(mts[0], mts[-1], 60 * NS)
    r = np.diff(np.log(mid[np.searchsorted(mts, grid, side="right") - 1]))
    vol = f", realised vol {float(r.std() * np.sqrt(390 * 252)):.1%} annualised (1-min mids)" if len(r) > 1 else ""
    lines.append(f"  mid: open {_dollars(tape, mid[0])}, close {_dollars(tape, mid[-1])}, "
                 f"low {_dollars(tape, mid.min())}, high {_dollars(tape, mid.max())}{vol}")
    return lines
