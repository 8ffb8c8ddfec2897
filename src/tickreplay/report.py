"""Figures and Markdown pages from stored results only (a run folder's Parquet and JSON files).

Per run (:func:`run_report`, into ``<run>/report/``): the price path with
mid, touch and our fills; cumulative executed vs the schedule (a user
strategy: its position); the cost decomposition (a user strategy: PnL over
time); the markout curve; and ``report.md`` linking them. Time axes read the
instrument's local clock time (``run.json`` ``instrument.timezone``).

Comparison (:func:`compare_report`): the cost distribution of each group of
runs (:func:`group_runs`: one box per grid combination, seeds together), and
the frontier: each run's realised shortfall against the pre-trade model's risk
of its planned schedule (``tca.json`` ``risk.risk_bps``), left out, and the
page says so, when a run did not store that risk.

Nothing here recomputes a cost or a risk: every number comes from the run folders.
"""

from __future__ import annotations

import json
import math
import tomllib
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.ticker import Formatter, Locator

from tickreplay import clock
from tickreplay.io import atomic_path
from tickreplay.tca.shortfall import IMPACT_PART, PARTS, parts_of

#: tick spacings (s) the local-time axis chooses from, smallest first
TICK_STEPS_S = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600)


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


class LocalTimeFormatter(Formatter):
    """Tick labels for an axis in ns UTC: the local clock time in ``timezone``, ``"HH:MM"``.

    ``"HH:MM:SS"`` on every tick as soon as one tick is not on a whole minute.
    """

    def __init__(self, timezone: str) -> None:
        self.timezone = timezone

    def __call__(self, x: float, pos: int | None = None) -> str:
        return clock.format_local(round(x), self.timezone).removesuffix(":00")

    def format_ticks(self, values) -> list[str]:
        labels = [clock.format_local(round(v), self.timezone) for v in values]
        if all(t.endswith(":00") for t in labels):
            return [t[:-3] for t in labels]
        return labels


class LocalTimeLocator(Locator):
    """Ticks of an axis in ns UTC on round local clock times (every 1 s … 6 h, at most ``max_ticks``)."""

    def __init__(self, timezone: str, max_ticks: int = 8) -> None:
        self.timezone = timezone
        self.max_ticks = max_ticks

    def __call__(self) -> np.ndarray:
        return self.tick_values(*self.axis.get_view_interval())

    def tick_values(self, vmin: float, vmax: float) -> np.ndarray:
        """Tick positions (ns UTC, as floats) between ``vmin`` and ``vmax`` ns UTC."""
        lo, hi = sorted((vmin, vmax))
        step = next((s for s in TICK_STEPS_S if (hi - lo) / clock.NS_PER_S / s <= self.max_ticks), TICK_STEPS_S[-1])
        first_s = math.floor(lo / clock.NS_PER_S)
        # local midnight as the wall clock at ``lo`` counts it (DST-safe and any UTC offset)
        midnight_s = first_s - int(clock.parse_hms(clock.format_local(first_s * clock.NS_PER_S, self.timezone)))
        k = np.arange(math.ceil((lo / clock.NS_PER_S - midnight_s) / step),
                      math.floor((hi / clock.NS_PER_S - midnight_s) / step) + 1)
        return (midnight_s + k * step).astype(float) * clock.NS_PER_S


def local_time_axis(ax, timezone: str) -> None:
    """Make ``ax``'s x axis (ns UTC) read local clock time in ``timezone``, labelled with the zone."""
    ax.xaxis.set_major_locator(LocalTimeLocator(timezone))
    ax.xaxis.set_major_formatter(LocalTimeFormatter(timezone))
    ax.set_xlabel(f"time ({timezone})")


def _flat(doc: dict, prefix: str = "") -> dict[str, object]:
    """A nested scenario table as dotted keys (``{"schedule.style": "market", ...}``)."""
    out: dict[str, object] = {}
    for k, v in doc.items():
        if isinstance(v, dict):
            out.update(_flat(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


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

    @property
    def timezone(self) -> str:
        """The instrument's time zone (IANA name), for local clock times."""
        return self.meta["instrument"]["timezone"]

    @property
    def is_grid_run(self) -> bool:
        """Whether the run came from a grid (``run.json`` has a non-empty ``sweep``)."""
        return bool(self.meta.get("sweep"))

    @property
    def sweep(self) -> dict[str, object]:
        """This run's grid values by dotted key, without ``seed`` (``{}`` for a plain run)."""
        return {k: v for k, v in (self.meta.get("sweep") or {}).items() if k != "seed"}

    @property
    def risk_bps(self) -> float | None:
        """The pre-trade model's risk of the run's planned schedule (bps of arrival notional), if stored."""
        return (self.tca.get("risk") or {}).get("risk_bps")

    @property
    def risk_unavailable(self) -> str | None:
        """Why the run has no model risk of its schedule (e.g. data too short to estimate volatility), if stored."""
        return (self.tca.get("risk") or {}).get("unavailable")

    @property
    def price_scale(self) -> int:
        return int(self.meta["instrument"]["price_scale"])


def _x(ns) -> np.ndarray:
    """ns UTC as plot coordinates (float64: 256 ns resolution, invisible on a figure)."""
    return np.asarray(ns, dtype=np.int64).astype(float)


def _grouping_doc(run: StoredRun) -> dict[str, object]:
    """What makes a run's group: its scenario without ``seed`` (grid runs: also without the generated name)."""
    return {k: v for k, v in _flat(run.scenario).items()
            if k != "seed" and not (run.is_grid_run and k == "name")}


def _group_label(run: StoredRun) -> str:
    """``participation=0.05, style=market`` for a grid run, the scenario name otherwise."""
    dims = run.sweep
    if not dims:
        # a plain run, or a grid over seeds only: its name without the grid's "[seed=…]" suffix
        return run.meta["scenario"].partition("[")[0] if run.is_grid_run else run.meta["scenario"]
    short = [k.split(".")[-1] for k in dims]
    names = short if len(set(short)) == len(short) else list(dims)
    return ", ".join(f"{n}={v}" for n, v in zip(names, dims.values()))


def group_runs(runs: list[StoredRun]) -> list[tuple[str, list[StoredRun]]]:
    """Runs in groups of identical scenarios up to ``seed``, in order of first appearance, with labels.

    A grid's runs fall in one group per combination of its non-seed dimensions
    (labelled by them); plain runs in one group per scenario (labelled by its
    name). Groups never merge different scenarios: two groups that would read
    the same get the scenario keys they differ by appended.
    """
    groups: dict[str, list[StoredRun]] = {}
    docs: dict[str, dict[str, object]] = {}
    for r in runs:
        doc = _grouping_doc(r)
        key = json.dumps(doc, sort_keys=True, default=str)
        groups.setdefault(key, []).append(r)
        docs.setdefault(key, doc)
    labels = {k: _group_label(v[0]) for k, v in groups.items()}
    for label in set(labels.values()):
        same = [k for k in groups if labels[k] == label]
        if len(same) < 2:
            continue
        for k in same:
            diff = [d for d, v in docs[k].items() if any(docs[o].get(d, ...) != v for o in same if o != k)]
            if diff:
                extra = ", ".join(f"{d.split('.')[-1]}={docs[k][d]}" for d in diff)
                labels[k] = f"{label} ({extra})"
    seen: dict[str, int] = {}
    out = []
    for k, rs in groups.items():
        seen[labels[k]] = seen.get(labels[k], 0) + 1
        out.append((labels[k] if seen[labels[k]] == 1 else f"{labels[k]} #{seen[labels[k]]}", rs))
    return out


def _parts(sf: dict) -> list[str]:
    """The shortfall parts (:data:`tickreplay.tca.shortfall.PARTS`, with ``market_impact`` on an impact-adjusted
    run; in order) a stored run has."""
    return [p for p in parts_of({IMPACT_PART: 0.0}) if f"{p}_bps" in sf]


def _missing_parts_note(sf: dict) -> str | None:
    """A line naming the parts of :data:`PARTS` a stored (older) run lacks; None when it has them all."""
    missing = [p.replace("_", " ") for p in PARTS if f"{p}_bps" not in sf]
    if not missing:
        return None
    return (f"not stored by this run (an older version): {', '.join(missing)}; "
            "the parts shown do not add up to the total")


def price_figure(run: StoredRun, path: Path) -> Path:
    """Mid, best bid and ask over the run, our buys (▲) and sells (▼), maker filled and taker open."""
    plt = _plt()
    m = run.table("market")
    fills = run.table("fills")
    ps = run.price_scale
    fig, ax = plt.subplots(figsize=(9, 4.5))
    t = _x(m["ts_ns"])
    for col, style, lab in (("ask", dict(color="tab:red", lw=0.6), "best ask"),
                            ("bid", dict(color="tab:green", lw=0.6), "best bid")):
        v = m[col].to_numpy(dtype=float)
        ax.step(t, np.where(v > 0, v / ps, np.nan), where="post", label=lab, **style)
    ax.plot(t, m["mid_x2"] / 2 / ps, color="0.3", lw=0.8, label="mid")
    if fills is not None and len(fills):
        ft = _x(fills["exchange_ns"])
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
    local_time_axis(ax, run.timezone)
    fig.tight_layout()
    return _save(fig, path)


def executed_figure(run: StoredRun, path: Path) -> Path:
    """Cumulative executed quantity against the schedule's plan (user strategies: position over time)."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(9, 4))
    pnl = run.table("pnl")
    if pnl is not None:
        ax.step(_x(pnl["ts_ns"]), pnl["position"], where="post", label="position")
        ax.set_ylabel("position (size units)")
        ax.axhline(0, color="0.5", lw=0.6)
    else:
        fills = run.table("fills").sort_values("exchange_ns")
        plan = run.table("schedule")
        if plan is not None and len(plan):
            ax.step(_x(plan["time_ns"]), plan["planned_cum"], where="post", label="schedule (planned)",
                    color="0.4", ls="--")
        if len(fills):
            ax.step(_x(fills["exchange_ns"]), fills["size"].cumsum(), where="post", label="executed")
        q = run.tca.get("parent", {}).get("quantity")
        if q:
            ax.axhline(q, color="tab:red", lw=0.6, label="parent quantity")
        ax.set_ylabel("cumulative quantity (size units)")
    ax.set_title(f"{run.run_id}: executed vs schedule" if pnl is None else f"{run.run_id}: position")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    local_time_axis(ax, run.timezone)
    fig.tight_layout()
    return _save(fig, path)


def cost_figure(run: StoredRun, path: Path) -> Path:
    """Shortfall decomposition bars, bps (user strategies: realised, unrealised and total PnL over time)."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 4))
    pnl = run.table("pnl")
    if pnl is not None:
        t = _x(pnl["ts_ns"])
        for col in ("realised_pnl", "unrealised_pnl", "total_pnl"):
            ax.plot(t, pnl[col], label=col.replace("_", " "), lw=1.5 if col == "total_pnl" else 0.8)
        ax.set_ylabel(f"PnL ({run.meta['instrument'].get('currency', '')})")
        ax.set_title(f"{run.run_id}: PnL")
        ax.legend(fontsize=8)
        local_time_axis(ax, run.timezone)
    else:
        sf = run.tca["shortfall"]
        parts = _parts(sf)
        vals = [sf[f"{p}_bps"] for p in parts] + [sf["total_bps"]]
        names = [p.replace("_", " ") for p in parts] + ["total"]
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
        note = _missing_parts_note(sf)
        if note:
            ax.set_xlabel(note, fontsize=7, wrap=True)
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
        rows += [(p.replace("_", " "), f"{sf[f'{p}_bps']:.2f} bps") for p in _parts(sf)]
        win = run.tca.get("window", {})
        rows += [("VWAP slippage", f"{_fmt(win.get('vwap_slippage_bps'))} bps"),
                 ("participation", _fmt(win.get("participation"), ".2%"))]
        pre = run.tca.get("pretrade")
        if pre:
            rows += [(f"predicted ({pre['model']})", f"{pre['predicted_bps']:.2f} bps"),
                     ("realised − predicted", f"{pre['difference_bps']:.2f} bps")]
        if run.risk_bps is not None:
            rows += [("model risk of the schedule", f"{run.risk_bps:.2f} bps")]
        elif run.risk_unavailable:
            rows += [("model risk of the schedule", f"unavailable: {run.risk_unavailable}")]
    pnl = run.tca.get("pnl")
    if pnl:
        rows += [(k.replace("_", " "), f"{v:,.2f}" if isinstance(v, float) else f"{v:,}") for k, v in pnl.items()]
    lines += _md_table(rows) + [""]
    lines += [f"![{f.stem}]({f.name})" for f in figs]
    notes = [n for n in [_missing_parts_note(sf) if sf else None] if n] + list(run.tca.get("notes") or [])
    if notes:
        lines += [""] + [f"- {n}" for n in notes]
    page = out / "report.md"
    with atomic_path(page) as tmp:
        tmp.write_text("\n".join(lines) + "\n")
    return page


def _costed(runs: list[StoredRun]) -> list[StoredRun]:
    """The runs that stored a shortfall (a parent order's cost; user strategies have PnL instead)."""
    return [r for r in runs if r.tca.get("shortfall")]


def cost_distribution_figure(runs: list[StoredRun], path: Path) -> Path:
    """Total shortfall (bps) of every run, one box per group (:func:`group_runs`) plus the runs as points."""
    plt = _plt()
    groups = [(name, [r.tca["shortfall"]["total_bps"] for r in rs]) for name, rs in group_runs(_costed(runs))]
    fig, ax = plt.subplots(figsize=(max(6, 1.3 * len(groups) + 2), 4.5))
    ax.boxplot([v for _, v in groups], tick_labels=[n for n, _ in groups], showmeans=True)
    for k, (_, v) in enumerate(groups, start=1):
        ax.scatter(np.full(len(v), k) + np.linspace(-0.08, 0.08, len(v)), v, s=14,
                   color="tab:blue", alpha=0.7, zorder=3)
    ax.axhline(0, color="0.5", lw=0.6)
    ax.set_ylabel("implementation shortfall (bps; + hurts)")
    ax.set_title(f"cost per group of runs ({sum(len(v) for _, v in groups)} runs, {len(groups)} groups)")
    ax.grid(alpha=0.3, axis="y")
    plt.setp(ax.get_xticklabels(), rotation=20, ha="right")
    fig.tight_layout()
    return _save(fig, path)


def frontier_figure(runs: list[StoredRun], path: Path) -> Path:
    """Each run's realised shortfall against the pre-trade model's risk of its planned schedule, bps.

    Filled points: realised cost (``tca.json`` ``shortfall.total_bps``); hollow
    diamonds at the same risk: the model's expected cost (``pretrade.predicted_bps``),
    where stored. Every run with a shortfall must have stored ``risk.risk_bps``
    (see :func:`frontier_gaps`).
    """
    from matplotlib.lines import Line2D

    plt = _plt()
    fig, ax = plt.subplots(figsize=(7.5, 4.8))
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for k, (name, rs) in enumerate(group_runs(_costed(runs))):
        c = colors[k % len(colors)]
        x = [r.risk_bps for r in rs]
        ax.scatter(x, [r.tca["shortfall"]["total_bps"] for r in rs], s=36, color=c, zorder=3,
                   label=f"{name} (n={len(rs)})")
        pred = [(r.risk_bps, r.tca["pretrade"]["predicted_bps"], r.tca["shortfall"]["total_bps"])
                for r in rs if (r.tca.get("pretrade") or {}).get("predicted_bps") is not None]
        if pred:
            px, py, ry = (list(v) for v in zip(*pred))
            ax.scatter(px, py, s=36, marker="D", facecolors="none", edgecolors=c, zorder=3)
            ax.vlines(px, py, ry, color=c, lw=0.6, alpha=0.5)
    handles, _ = ax.get_legend_handles_labels()
    handles.append(Line2D([], [], ls="none", marker="D", mfc="none", mec="0.3",
                          label="pre-trade expected cost (same risk)"))
    ax.axhline(0, color="0.5", lw=0.6)
    ax.set_xlabel("pre-trade model risk of the run's schedule (bps of arrival notional)")
    ax.set_ylabel("cost (bps; + hurts)")
    ax.set_title("realised cost vs the model's risk, per run")
    ax.grid(alpha=0.3)
    ax.legend(handles=handles, fontsize=7)
    fig.tight_layout()
    return _save(fig, path)


def frontier_gaps(runs: list[StoredRun]) -> list[StoredRun]:
    """The runs with a shortfall but no stored model risk of their schedule (the frontier needs none)."""
    return [r for r in _costed(runs) if r.risk_bps is None]


def compare_report(run_dirs: list[str | Path], out_dir: str | Path) -> Path:
    """Comparison figures and ``report.md`` into ``out_dir``; returns the page's path."""
    runs = [StoredRun(d) for d in run_dirs]
    out = Path(out_dir)
    figs = [cost_distribution_figure(runs, out / "cost_by_schedule.png")]
    costed, gaps = _costed(runs), frontier_gaps(runs)
    notes = []
    if costed and not gaps:
        figs.append(frontier_figure(runs, out / "frontier.png"))
    else:
        (out / "frontier.png").unlink(missing_ok=True)  # an earlier report's figure would no longer be true
        notes.append(f"No frontier: {len(gaps)} of {len(costed)} runs stored no pre-trade model risk of their "
                     f"schedule (`tca.json` risk.risk_bps; e.g. `{gaps[0].run_id}`), and the spread of "
                     "different runs' costs is not a risk."
                     + (f" Why: {gaps[0].risk_unavailable}" if gaps and gaps[0].risk_unavailable else "")
                     if gaps else "No frontier: no run stored a shortfall.")
    label_of = {id(r): name for name, rs in group_runs(costed) for r in rs}
    parts = [p for p in parts_of({IMPACT_PART: 0.0}) if any(f"{p}_bps" in r.tca["shortfall"] for r in costed)]
    older = [r for r in costed if _missing_parts_note(r.tca["shortfall"])]
    if older:
        missing = [p.replace("_", " ") for p in PARTS if any(f"{p}_bps" not in r.tca["shortfall"] for r in older)]
        notes.append(f"{len(older)} of {len(costed)} runs (older versions) do not store {', '.join(missing)}; "
                     "their parts shown do not add up to their total.")
    head = ["run", "group", "schedule", "filled", "total bps", *(p.replace("_", " ") for p in parts),
            "model risk bps", "predicted bps"]
    lines = [f"# Comparison of {len(runs)} runs", "", "| " + " | ".join(head) + " |",
             "| " + " | ".join("---" for _ in head) + " |"]
    for r in costed:
        sf, pre = r.tca["shortfall"], r.tca.get("pretrade") or {}
        cells = [r.run_id, label_of[id(r)], r.label, f"{sf['filled'] / sf['quantity']:.1%}", f"{sf['total_bps']:.2f}",
                 *(_fmt(sf.get(f"{p}_bps")) for p in parts), _fmt(r.risk_bps), _fmt(pre.get("predicted_bps"))]
        lines.append("| " + " | ".join(cells) + " |")
    lines += [""] + [f"![{f.stem}]({f.name})" for f in figs]
    if notes:
        lines += [""] + [f"- {n}" for n in notes]
    page = out / "report.md"
    with atomic_path(page) as tmp:
        tmp.write_text("\n".join(lines) + "\n")
    return page
