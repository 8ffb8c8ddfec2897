"""Figures and Markdown pages from stored results only (a run folder's Parquet and JSON files).

Per run (:func:`run_report`, into ``<run>/report/``): the price path with
mid, touch and our fills; cumulative executed vs the schedule (a user
strategy: its position); the cost decomposition (a user strategy: PnL over
time); the markout curve; and ``report.md`` linking them.

Comparison (:func:`compare_report`): cost distributions per schedule
(kind/style), and the pre-trade efficient frontier
(:func:`tickreplay.impact.frontier.efficient_frontier`, from the inputs the
first run stored in ``tca.json``) with each schedule's realised mean cost
against the spread of its realised costs overlaid.

Nothing here recomputes a cost: every number comes from the run folders.
"""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import numpy as np
import pandas as pd

from tickreplay.io import atomic_path

PARTS = ("spread", "impact", "delay", "timing", "fees", "opportunity")


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: Path) -> Path:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    _plt().close(fig)
    return path


class StoredRun:
    """A run folder's files, read lazily."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if not (self.path / "run.json").exists():
            raise FileNotFoundError(str(self.path / "run.json"))
        self.meta = json.loads((self.path / "run.json").read_text())
        tca = self.path / "tca.json"
        self.tca = json.loads(tca.read_text()) if tca.exists() else {}
        self.scenario = tomllib.loads((self.path / "scenario.toml").read_text())

    def table(self, name: str) -> pd.DataFrame | None:
        p = self.path / f"{name}.parquet"
        return pd.read_parquet(p) if p.exists() else None

    @property
    def run_id(self) -> str:
        return self.meta["run_id"]

    @property
    def label(self) -> str:
        """Schedule kind and child style, e.g. ``twap/limit_touch``; user strategies: their class."""
        s = self.scenario.get("schedule", {})
        if s.get("kind") == "strategy":
            return s.get("strategy", "strategy").split(":")[-1]
        return f"{s.get('kind')}/{s.get('style', 'market')}"

    def times(self, ns) -> pd.DatetimeIndex:
        tz = self.meta["instrument"]["timezone"]
        return pd.to_datetime(np.asarray(ns, dtype=np.int64), unit="ns", utc=True).tz_convert(tz).tz_localize(None)

    @property
    def price_scale(self) -> int:
        return int(self.meta["instrument"]["price_scale"])


def price_figure(run: StoredRun, path: Path) -> Path:
    """Mid, best bid and ask over the run, our buys (▲) and sells (▼), maker filled and taker open."""
    plt = _plt()
    m = run.table("market")
    fills = run.table("fills")
    ps = run.price_scale
    fig, ax = plt.subplots(figsize=(9, 4.5))
    t = run.times(m["ts_ns"])
    for col, style, lab in (("ask", dict(color="tab:red", lw=0.6), "best ask"),
                            ("bid", dict(color="tab:green", lw=0.6), "best bid")):
        v = m[col].to_numpy(dtype=float)
        ax.step(t, np.where(v > 0, v / ps, np.nan), where="post", label=lab, **style)
    ax.plot(t, m["mid_x2"] / 2 / ps, color="0.3", lw=0.8, label="mid")
    if fills is not None and len(fills):
        ft = run.times(fills["exchange_ns"])
        for side, marker, name in ((1, "^", "buy"), (-1, "v", "sell")):
            for liq, face in (("maker", None), ("taker", "none")):
                sel = ((fills["side"] == side) & (fills["liquidity"] == liq)).to_numpy()
                if sel.any():
                    ax.scatter(ft[sel], fills["price"].to_numpy()[sel] / ps, marker=marker, s=18,
                               facecolors=face, edgecolors="tab:blue" if side == 1 else "tab:orange",
                               color="tab:blue" if side == 1 else "tab:orange", zorder=3,
                               label=f"our {name} fills ({liq})")
    ax.set_ylabel(f"price ({run.meta['instrument'].get('currency', '')})")
    ax.set_title(f"{run.run_id}: price path and fills")
    ax.legend(fontsize=7, loc="best")
    ax.grid(alpha=0.3)
    fig.autofmt_xdate()
    fig.tight_layout()
    return _save(fig, path)


def executed_figure(run: StoredRun, path: Path) -> Path:
    """Cumulative executed quantity against the schedule's plan (user strategies: position over time)."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(9, 4))
    pnl = run.table("pnl")
    if pnl is not None:
        ax.step(run.times(pnl["ts_ns"]), pnl["position"], where="post", label="position")
        ax.set_ylabel("position (size units)")
        ax.axhline(0, color="0.5", lw=0.6)
    else:
        fills = run.table("fills").sort_values("exchange_ns")
        plan = run.table("schedule")
        if plan is not None and len(plan):
            ax.step(run.times(plan["time_ns"]), plan["planned_cum"], where="post", label="schedule (planned)",
                    color="0.4", ls="--")
        if len(fills):
            ax.step(run.times(fills["exchange_ns"]), fills["size"].cumsum(), where="post", label="executed")
        q = run.tca.get("parent", {}).get("quantity")
        if q:
            ax.axhline(q, color="tab:red", lw=0.6, label="parent quantity")
        ax.set_ylabel("cumulative quantity (size units)")
    ax.set_title(f"{run.run_id}: executed vs schedule" if pnl is None else f"{run.run_id}: position")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.autofmt_xdate()
    fig.tight_layout()
    return _save(fig, path)


def cost_figure(run: StoredRun, path: Path) -> Path:
    """Shortfall decomposition bars, bps (user strategies: realised, unrealised and total PnL over time)."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 4))
    pnl = run.table("pnl")
    if pnl is not None:
        t = run.times(pnl["ts_ns"])
        for col in ("realised_pnl", "unrealised_pnl", "total_pnl"):
            ax.plot(t, pnl[col], label=col.replace("_", " "), lw=1.5 if col == "total_pnl" else 0.8)
        ax.set_ylabel(f"PnL ({run.meta['instrument'].get('currency', '')})")
        ax.set_title(f"{run.run_id}: PnL")
        ax.legend(fontsize=8)
        fig.autofmt_xdate()
    else:
        sf = run.tca["shortfall"]
        vals = [sf[f"{p}_bps"] for p in PARTS] + [sf["total_bps"]]
        names = list(PARTS) + ["total"]
        colors = ["tab:red" if v > 0 else "tab:green" for v in vals[:-1]] + ["0.3"]
        ax.bar(names, vals, color=colors)
        pre = run.tca.get("pretrade")
        if pre:
            ax.axhline(pre["predicted_bps"], color="tab:blue", ls="--", lw=1,
                       label=f"pre-trade {pre['model']}: {pre['predicted_bps']:.2f} bps")
            ax.legend(fontsize=8)
        ax.axhline(0, color="0.5", lw=0.6)
        ax.set_ylabel("cost (bps of arrival notional; + hurts)")
        ax.set_title(f"{run.run_id}: implementation shortfall")
    ax.grid(alpha=0.3, axis="y")
    fig.tight_layout()
    return _save(fig, path)


def markout_figure(run: StoredRun, path: Path) -> Path:
    """Size-weighted mean markout per horizon, all fills and per liquidity flag (+ = good for us)."""
    plt = _plt()
    mk = run.tca.get("markouts") or {}
    fig, ax = plt.subplots(figsize=(7, 4))
    labels = list(mk)
    h = np.array([mk[k]["horizon_ns"] for k in labels], dtype=float) / 1e9
    for key, style in (("all_bps", "-o"), ("maker_bps", "--s"), ("taker_bps", ":^")):
        y = np.array([np.nan if mk[k].get(key) is None else mk[k][key] for k in labels], dtype=float)
        if np.isfinite(y).any():
            ax.plot(h, y, style, label=key.removesuffix("_bps"))
    ax.set_xscale("log")
    ax.set_xticks(h, labels)
    ax.axhline(0, color="0.5", lw=0.6)
    ax.set_xlabel("horizon after the fill")
    ax.set_ylabel("markout (bps; + = price moved our way)")
    ax.set_title(f"{run.run_id}: markouts")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return _save(fig, path)


def _md_table(rows: list[tuple[str, str]]) -> list[str]:
    return ["| figure | value |", "| --- | --- |"] + [f"| {a} | {b} |" for a, b in rows]


def _fmt(x, spec: str = ".2f") -> str:
    return "—" if x is None else format(x, spec)


def run_report(run_dir: str | Path) -> Path:
    """Write the run's figures and ``report.md`` into ``<run_dir>/report/``; returns the page's path."""
    run = StoredRun(run_dir)
    out = run.path / "report"
    figs = [price_figure(run, out / "price.png"), executed_figure(run, out / "executed.png"),
            cost_figure(run, out / "costs.png")]
    if run.tca.get("markouts"):
        figs.append(markout_figure(run, out / "markouts.png"))
    lines = [f"# Run {run.run_id}", "", f"Scenario `{run.meta['scenario']}` on `{run.meta['data']}` "
             f"({run.label}); created {run.meta['created_utc']}.", ""]
    sf = run.tca.get("shortfall")
    rows = []
    if sf:
        rows += [("filled", f"{sf['filled']:,} of {sf['quantity']:,}"), ("total shortfall", f"{sf['total_bps']:.2f} bps")]
        rows += [(p, f"{sf[f'{p}_bps']:.2f} bps") for p in PARTS]
        win = run.tca.get("window", {})
        rows += [("VWAP slippage", f"{_fmt(win.get('vwap_slippage_bps'))} bps"),
                 ("participation", _fmt(win.get("participation"), ".2%"))]
        pre = run.tca.get("pretrade")
        if pre:
            rows += [(f"predicted ({pre['model']})", f"{pre['predicted_bps']:.2f} bps"),
                     ("realised − predicted", f"{pre['difference_bps']:.2f} bps")]
    pnl = run.tca.get("pnl")
    if pnl:
        rows += [(k.replace("_", " "), f"{v:,.2f}" if isinstance(v, float) else f"{v:,}") for k, v in pnl.items()]
    lines += _md_table(rows) + [""]
    lines += [f"![{f.stem}]({f.name})" for f in figs]
    if run.tca.get("notes"):
        lines += [""] + [f"- {n}" for n in run.tca["notes"]]
    page = out / "report.md"
    with atomic_path(page) as tmp:
        tmp.write_text("\n".join(lines) + "\n")
    return page


def cost_distribution_figure(runs: list[StoredRun], path: Path) -> Path:
    """Total shortfall (bps) of every run, grouped by schedule kind/style: box plus the runs as points."""
    plt = _plt()
    groups: dict[str, list[float]] = {}
    for r in runs:
        if r.tca.get("shortfall"):
            groups.setdefault(r.label, []).append(r.tca["shortfall"]["total_bps"])
    fig, ax = plt.subplots(figsize=(max(6, 1.3 * len(groups) + 2), 4.5))
    names = list(groups)
    ax.boxplot([groups[n] for n in names], tick_labels=names, showmeans=True)
    for k, n in enumerate(names, start=1):
        ax.scatter(np.full(len(groups[n]), k) + np.linspace(-0.08, 0.08, len(groups[n])), groups[n], s=14,
                   color="tab:blue", alpha=0.7, zorder=3)
    ax.axhline(0, color="0.5", lw=0.6)
    ax.set_ylabel("implementation shortfall (bps; + hurts)")
    ax.set_title(f"cost per schedule ({sum(len(v) for v in groups.values())} runs)")
    ax.grid(alpha=0.3, axis="y")
    plt.setp(ax.get_xticklabels(), rotation=20, ha="right")
    fig.tight_layout()
    return _save(fig, path)


def frontier_figure(runs: list[StoredRun], path: Path) -> Path | None:
    """The canonical model's efficient frontier for the first run's order, realised points per schedule.

    A schedule's point is (standard deviation, mean) of its runs' realised
    shortfall in bps; with one run the deviation is 0. None when no run
    stored canonical pre-trade inputs.
    """
    from tickreplay.impact import MarketInputs, PreTradeOrder
    from tickreplay.impact.frontier import efficient_frontier

    base = next((r for r in runs if (r.tca.get("pretrade") or {}).get("model") == "canonical"), None)
    if base is None:
        return None
    pre, sf, parent = base.tca["pretrade"], base.tca["shortfall"], base.tca["parent"]
    size_scale = base.meta["instrument"]["size_scale"]
    order = PreTradeOrder(parent["side"], parent["quantity"], sf["arrival_mid"] / size_scale, pre["participation"])
    front = efficient_frontier(order, MarketInputs(pre["adv"], pre["daily_vol"], pre["spread_bps"]))
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 4.5))
    ax.plot(front.std_bps, front.expected_bps, "-", color="0.3", label="pre-trade frontier (canonical, λ grid)")
    groups: dict[str, list[float]] = {}
    for r in runs:
        if r.tca.get("shortfall"):
            groups.setdefault(r.label, []).append(r.tca["shortfall"]["total_bps"])
    for name, v in groups.items():
        ax.scatter([np.std(v)], [np.mean(v)], s=40, zorder=3, label=f"{name} (n={len(v)})")
    ax.set_xlabel("standard deviation of cost (bps)")
    ax.set_ylabel("cost (bps)")
    ax.set_title("efficient frontier vs realised")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    return _save(fig, path)


def compare_report(run_dirs: list[str | Path], out_dir: str | Path) -> Path:
    """Comparison figures and ``report.md`` into ``out_dir``; returns the page's path."""
    runs = [StoredRun(d) for d in run_dirs]
    out = Path(out_dir)
    figs = [cost_distribution_figure(runs, out / "cost_by_schedule.png")]
    front = frontier_figure(runs, out / "frontier.png")
    if front is not None:
        figs.append(front)
    lines = [f"# Comparison of {len(runs)} runs", "",
             "| run | schedule | filled | total bps | spread | impact | delay | timing | fees | opportunity | "
             "predicted bps |", "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in runs:
        sf = r.tca.get("shortfall")
        if not sf:
            continue
        pre = r.tca.get("pretrade") or {}
        lines.append(f"| {r.run_id} | {r.label} | {sf['filled'] / sf['quantity']:.1%} | {sf['total_bps']:.2f} | "
                     + " | ".join(f"{sf[f'{p}_bps']:.2f}" for p in PARTS) + f" | {_fmt(pre.get('predicted_bps'))} |")
    lines += [""] + [f"![{f.stem}]({f.name})" for f in figs]
    page = out / "report.md"
    with atomic_path(page) as tmp:
        tmp.write_text("\n".join(lines) + "\n")
    return page
