"""One run: execute a scenario in the engine, measure it, and publish its results folder atomically.

:func:`run_scenario` loads the scenario's data (:mod:`.data`), builds the
strategy (:mod:`.plan`), runs the engine, measures the TCA and writes one
folder under the results root, atomically (temporary folder + rename: a
crash leaves no half-written run):

* ``scenario.toml`` — the scenario as written; ``run.json`` — run id, data, anomalies;
* ``orders.parquet`` (the order log), ``fills.parquet`` (:func:`tickreplay.tca.fill_table`);
* ``tca.json`` (:func:`tickreplay.tca.tca_summary`) when the run has a parent order;
* ``market.parquet`` — touch, mid and volume on a time grid over the run, and
  ``schedule.parquet`` — the planned cumulative quantity, for reports;
* ``pnl.parquet`` (:func:`tickreplay.trader.pnl_table`) for user strategies,
  with its summary under ``pnl`` in ``tca.json``;
* ``decisions.parquet`` (:meth:`~tickreplay.trader.OverlayExecutor.decision_table`)
  for overlay runs, with their summary under ``overlay`` in ``tca.json``.

An overlay that is absent, ``enabled = false`` or has ``max_delay_s = 0``
runs the static executor: the run is the static run, byte for byte.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import tomli_w

from tickreplay import __version__
from tickreplay.engine import Engine, RunResult
from tickreplay.experiment.data import MarketData, load_data, market_path
from tickreplay.experiment.plan import (Plan, build_plan, engine_config, input_fingerprints, pretrade_inputs,
                                        schedule_risk)
from tickreplay.experiment.scenario import Scenario, load_scenario
from tickreplay.io import atomic_dir, json_text
from tickreplay.tca import fill_table, tca_summary
from tickreplay.trader import pnl_table

NS = 1_000_000_000
MARKET_TAIL_NS = 300 * NS  # the path goes on this long after the parent's end (markouts)
DEFAULT_RESULTS = "results"


@dataclass(frozen=True)
class RunOutcome:
    """A finished run: its id and folder, the scenario and the TCA (``tca.json``'s content); ``skipped``: it was
    already in the store and was not run again."""

    run_id: str
    path: Path
    scenario: Scenario
    tca: dict
    skipped: bool = False

    @classmethod
    def load(cls, path: Path, scenario: Scenario, skipped: bool = False) -> "RunOutcome":
        """The outcome stored in a run folder."""
        tca_file = path / "tca.json"
        tca = json.loads(tca_file.read_text()) if tca_file.is_file() else {}
        return cls(path.name, path, scenario, tca, skipped)


def run_id_for(scn: Scenario, data: MarketData) -> str:
    """``<name>_<hash>``: the hash of the run's content, so the same run twice is the same id and two different
    runs never share one. The content: the scenario with its defaults filled in
    (:meth:`~tickreplay.experiment.scenario.Scenario.spec`, seed included), the data's fingerprint with the
    session and book depth it is replayed with, the other inputs' fingerprints
    (:func:`~tickreplay.experiment.plan.input_fingerprints`: overlay model, VWAP profile tapes) and the package
    version. Not hashed: a user strategy's own code (change its name or params, or ``--rerun``, after editing it);
    and times count as written ("09:32" and the same instant in ns are two ids for one run)."""
    replay = data.replay
    market = {"fingerprint": data.fingerprint, "session_ns": [replay.session_start_ns, replay.session_end_ns],
              "levels": replay.instrument.levels, "snapshot_levels": data.snapshots.levels}  # what is replayed
    content = json_text({"scenario": scn.spec(), "data": market, "inputs": input_fingerprints(scn),
                         "version": __version__}, sort_keys=True)
    safe = re.sub(r"[^A-Za-z0-9_.=+-]+", "-", scn.name).strip("-._") or "run"  # '.', '_': not runs to the store
    return f"{safe[:80]}_{hashlib.sha256(content.encode()).hexdigest()[:16]}"


def _write_parquet(df: pd.DataFrame, path: Path) -> None:
    pq.write_table(pa.Table.from_pandas(df, preserve_index=False), path)


def execute(scn: Scenario, data: MarketData | None = None) -> tuple[Plan, RunResult, MarketData]:
    """Run the scenario in the engine (no files): the plan, the engine's result and the data."""
    data = data or load_data(scn)
    plan = build_plan(scn, data)
    result = Engine(data.replay, engine_config(scn, data)).run(plan.strategy, start_ns=plan.start_ns)
    return plan, result, data


def measure(scn: Scenario, plan: Plan, result: RunResult, data: MarketData) -> tuple[dict, dict[str, pd.DataFrame]]:
    """``tca.json``'s content and the tables of the results folder."""
    tables = {"orders": result.orders}
    tca: dict = {}
    fills = result.fills
    if plan.parent is not None:
        pre = pretrade_inputs(scn, data, plan.parent) if scn.pretrade is not None else None
        children = plan.planned if scn.schedule.kind != "pov" else None  # POV's plan is a target path, not children
        tca = tca_summary(fills, result.orders, plan.parent, data.market, pre, schedule=children,
                          run_end_ns=None if children is None else data.replay.session_end_ns)
        if plan.planned is not None and len(plan.planned):
            tca["risk"] = schedule_risk(scn, data, plan.parent, plan.planned)
        tables["fills"] = fill_table(fills, plan.parent, data.market)
        t0, t1 = plan.parent.start_ns, plan.parent.end_ns + MARKET_TAIL_NS
    else:
        tables["fills"] = fills
        t0 = plan.start_ns
        t1 = int(max(fills["exchange_ns"].max() if len(fills) else t0, t0 + NS))
    if plan.planned is not None:
        tables["schedule"] = plan.planned
    if plan.overlay is not None:
        decisions = plan.strategy.decision_table()
        tables["decisions"] = decisions
        tca["overlay"] = overlay_summary(decisions, plan.overlay)
    if scn.schedule.kind == "strategy":
        end = int(max(t1, fills["exchange_ns"].max() if len(fills) else t1))
        pnl = pnl_table(fills, data.market, plan.start_ns, end, round(scn.pnl_step_s * NS))
        tables["pnl"] = pnl
        tca["pnl"] = pnl_summary(pnl, fills)
        t1 = end
    tables["market"] = market_path(data, min(t0, plan.start_ns), t1)
    return tca, tables


def overlay_summary(decisions: pd.DataFrame, settings: dict) -> dict:
    """How many children the overlay delayed and by how much (seconds; ``delay_counts``: children per delay),
    with its settings (JSON-ready)."""
    delay_s = decisions["delay_ns"].to_numpy(np.int64) / NS
    values, counts = np.unique(delay_s, return_counts=True)
    return {"n_children": int(len(delay_s)), "n_delayed": int(np.sum(delay_s > 0)),
            "mean_delay_s": float(delay_s.mean()) if len(delay_s) else 0.0,
            "max_delay_used_s": float(delay_s.max()) if len(delay_s) else 0.0,
            "delay_counts": {f"{v:g}": int(c) for v, c in zip(values, counts)}, **settings}


def pnl_summary(pnl: pd.DataFrame, fills: pd.DataFrame) -> dict:
    """Final position and PnL, extremes, and traded volume of a user strategy (JSON-ready)."""
    last = pnl.iloc[-1] if len(pnl) else None
    out = {k: (float(last[k]) if last is not None else 0.0)
           for k in ("realised_pnl", "unrealised_pnl", "total_pnl", "fees", "inventory")}
    out.update(final_position=int(last["position"]) if last is not None else 0,
               max_abs_position=int(pnl["position"].abs().max()) if len(pnl) else 0,
               fills=int(len(fills)), volume=int(fills["size"].sum()) if len(fills) else 0,
               min_total_pnl=float(pnl["total_pnl"].min()) if len(pnl) else 0.0,
               max_total_pnl=float(pnl["total_pnl"].max()) if len(pnl) else 0.0)
    return out


def run_scenario(scn: Scenario, out_root: str | Path = DEFAULT_RESULTS, text: str | None = None,
                 rerun: bool = False) -> RunOutcome:
    """Run ``scn`` and write its results folder under ``out_root`` (see module docstring).

    A run already complete under ``out_root`` (same id: same content) is not run again: its stored outcome
    comes back with ``skipped`` set, unless ``rerun``, which replaces it atomically. ``text``: the scenario
    file's content, copied as ``scenario.toml`` (default: the scenario's document written back as TOML).
    """
    data = load_data(scn)
    root = Path(out_root)
    run_id = run_id_for(scn, data)
    if not rerun and (root / run_id / "run.json").is_file():
        return RunOutcome.load(root / run_id, scn, skipped=True)
    text = text if text is not None else tomli_w.dumps(scn.raw)
    plan, result, _ = execute(scn, data)
    tca, tables = measure(scn, plan, result, data)
    meta = {"run_id": run_id, "scenario": scn.name, "data": data.key, "data_fingerprint": data.fingerprint,
            "version": __version__, "base_dir": str(Path(scn.base_dir).resolve()), "sweep": scn.sweep,
            "created_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "instrument": asdict(data.tape.instrument), "ingest": data.report,
            "unpriced_children": getattr(plan.strategy, "unpriced", 0)}
    try:
        with atomic_dir(root / run_id, overwrite=rerun) as tmp:
            (tmp / "scenario.toml").write_text(text, encoding="utf-8")  # TOML is UTF-8
            for name, df in tables.items():
                _write_parquet(df, tmp / f"{name}.parquet")
            (tmp / "tca.json").write_text(json_text(tca, indent=2))
            (tmp / "run.json").write_text(json_text(meta, indent=2))
    except FileExistsError:  # another process finished the same run meanwhile: the same content
        return RunOutcome.load(root / run_id, scn, skipped=True)
    return RunOutcome(run_id, root / run_id, scn, tca)


def run_file(path: str | Path, out_root: str | Path = DEFAULT_RESULTS, rerun: bool = False) -> RunOutcome:
    """Load a scenario file and run it (its text is copied into the results)."""
    path = Path(path)
    return run_scenario(load_scenario(path), out_root, path.read_text(encoding="utf-8"), rerun=rerun)
