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

A sweep (:mod:`.sweep`) runs :func:`compute_run` in its workers and writes
the same content in batches (:class:`tickreplay.results.BatchWriter`).
Whether a run is already stored is known without loading its data when this
machine has seen that data before (:class:`IdentityCache`, :func:`data_signature`); a run's data, once
loaded, decides its id.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
from collections import OrderedDict
from functools import lru_cache
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
from tickreplay.catalog import default_root
from tickreplay.experiment.data import MarketData, load_data, market_path
from tickreplay.experiment.plan import (Plan, build_plan, engine_config, input_fingerprints, pretrade_inputs,
                                        schedule_risk)
from tickreplay.experiment.scenario import Scenario, load_scenario
from tickreplay.io import atomic_dir, atomic_path, json_text
from tickreplay.results import RunRecord, read_stored, runs_row, store_index
from tickreplay.tca.summary import measure_parent, with_fill_columns
from tickreplay.trader import pnl_table

NS = 1_000_000_000
MARKET_TAIL_NS = 300 * NS  # the path goes on this long after the parent's end (markouts)
DEFAULT_RESULTS = "results"


@dataclass(frozen=True)
class RunOutcome:
    """A finished run: its id and folder, the scenario and the TCA (``tca.json``'s content); ``skipped``: it was
    already in the store and was not run again. A run a sweep stored in a batch has no folder until
    :func:`tickreplay.results.open_run` writes it."""

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


def market_identity(data: MarketData) -> dict:
    """What of the data a run id hashes: the source tape's fingerprint, the session and the book depth replayed."""
    replay = data.replay
    return {"fingerprint": data.fingerprint, "session_ns": [replay.session_start_ns, replay.session_end_ns],
            "levels": replay.instrument.levels, "snapshot_levels": data.snapshots.levels}


def run_id_for(scn: Scenario, data: MarketData) -> str:
    """``<name>_<hash>``: the hash of the run's content, so the same run twice is the same id and two different
    runs never share one. The content: the scenario with its defaults filled in
    (:meth:`~tickreplay.experiment.scenario.Scenario.spec`, seed included), the data's fingerprint with the
    session and book depth it is replayed with (:func:`market_identity`), the other inputs' fingerprints
    (:func:`~tickreplay.experiment.plan.input_fingerprints`: overlay model, VWAP profile tapes) and the package
    version. Not hashed: a user strategy's own code (change its name or params, or ``--rerun``, after editing it);
    and times count as written ("09:32" and the same instant in ns are two ids for one run)."""
    return run_id_from(scn, market_identity(data))


def run_id_from(scn: Scenario, market: dict) -> str:
    """:func:`run_id_for` from the data's :func:`market_identity` (no data needed)."""
    content = {"scenario": scn.spec(), "data": market, "inputs": input_fingerprints(scn), "version": __version__}
    if scn.venues:  # several venues: each catalog venue's tape decides the run too ([data] is the first's)
        from tickreplay.experiment.venues_run import venue_fingerprints

        content["venues_data"] = venue_fingerprints(scn)
    content = json_text(content, sort_keys=True)
    safe = re.sub(r"[^A-Za-z0-9_.=+-]+", "-", scn.name).strip("-._") or "run"  # '.', '_': not runs to the store
    return f"{safe[:80]}_{hashlib.sha256(content.encode()).hexdigest()[:16]}"


def identity_cache_path() -> Path:
    """Where :class:`IdentityCache` keeps what it learnt: ``$TICKREPLAY_CACHE_DIR``, else
    ``$XDG_CACHE_HOME/tickreplay``, else ``~/.cache/tickreplay``; file ``data_identity.json``."""
    env = os.environ.get("TICKREPLAY_CACHE_DIR")
    base = Path(env) if env else Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "tickreplay"
    return base / "data_identity.json"


@lru_cache(maxsize=1)
def package_hash() -> str:
    """The hash of this installation's source: every ``.py`` file of the package (path and bytes), read once per
    process (about 1 MB, some 20 ms). Two checkouts of one version with different adapter code differ in it."""
    root = Path(__file__).resolve().parent.parent
    h = hashlib.sha256()
    for f in sorted(root.rglob("*.py")):
        h.update(f.relative_to(root).as_posix().encode() + b"\0" + f.read_bytes() + b"\0")
    return h.hexdigest()


def _stat(f: Path) -> list:
    """What of a file's state :func:`data_signature` keys on: path, size, mtime, ctime and inode. ctime changes on
    every write and cannot be set back (``os.utime`` restores mtime only)."""
    st = f.stat()
    return [str(f.resolve()), st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino]


def data_signature(scn: Scenario) -> str | None:
    """A key that changes whenever the scenario's data could: the ``[data]`` table, the folder paths resolve
    against, the package version and source (:func:`package_hash`), and the state of the files read (LOBSTER
    files: size, mtime, ctime and inode; catalog entry: the version folder it names, which every rewrite replaces,
    and the same state of its ``tape.parquet`` and ``ingest.json``). None: a file is missing (loading the data
    gives the error).

    Not seen: content changed with the file's ctime unchanged (a file system that does not keep ctime, the system
    clock set back, a disk image restored). A run whose data is loaded checks its identity anyway
    (:meth:`IdentityCache.learn`), so only the *skip* of a stored run can trust a stale identity; ``--rerun``
    (or removing :func:`identity_cache_path`) after such a change."""
    spec = scn.data
    sig: dict = {"data": asdict(spec), "base_dir": str(Path(scn.base_dir).resolve()), "version": __version__,
                 "package": package_hash()}
    try:
        if spec.lobster is not None:
            sig["files"] = [_stat(scn.path(spec.lobster.message)), _stat(scn.path(spec.lobster.orderbook))]
        elif spec.catalog is not None:
            root = default_root() if spec.catalog_root is None else scn.path(spec.catalog_root)
            entry = Path(os.path.realpath(Path(root, *spec.catalog.strip("/").split("/"))))
            if not (entry / "tape.parquet").is_file():
                return None
            sig["entry"] = str(entry)
            sig["files"] = [_stat(entry / name) for name in ("tape.parquet", "ingest.json")
                            if (entry / name).is_file()]
    except OSError:
        return None
    return hashlib.sha256(json_text(sig, sort_keys=True).encode()).hexdigest()


class IdentityCache:
    """The market identities (:func:`market_identity`) of data run before, by :func:`data_signature`: a run's id,
    and so whether it is stored, without loading its data. Kept in :func:`identity_cache_path` (written
    atomically; a lost update only costs one data load). Whoever loads the data for a run checks the identity
    with :meth:`learn` (a remembered one may be stale, see :func:`data_signature`)."""

    def __init__(self) -> None:
        self.path = identity_cache_path()
        try:
            self.known: dict[str, dict] = json.loads(self.path.read_text())
        except (OSError, ValueError):
            self.known = {}
        self._memo: dict[tuple, tuple[str | None, dict | None]] = {}

    def remembered(self, scn: Scenario) -> dict | None:
        """The scenario's market identity as remembered (None: its data was not seen, or changed since)."""
        key = (scn.data, scn.base_dir)
        if key not in self._memo:
            sig = data_signature(scn)
            self._memo[key] = (sig, self.known.get(sig) if sig is not None else None)
        return self._memo[key][1]

    def identity(self, scn: Scenario, data: MarketData | None = None) -> dict:
        """The scenario's market identity: remembered, else from ``data`` or its loaded data (then remembered)."""
        ident = self.remembered(scn)
        return ident if ident is not None else self.learn(scn, data if data is not None else load_data(scn))

    def learn(self, scn: Scenario, data: MarketData) -> dict:
        """The identity of ``data``, the scenario's data as loaded now: remembered in place of what was (a
        stale identity, from data changed in a way :func:`data_signature` does not see, is replaced)."""
        ident = market_identity(data)
        self.remembered(scn)
        key = (scn.data, scn.base_dir)
        sig, old = self._memo[key]
        if ident != old:
            self._memo[key] = (sig, ident)
            if sig is not None:
                self.known[sig] = ident
                self._save()
        return ident

    def _save(self) -> None:
        try:
            with atomic_path(self.path) as tmp:
                tmp.write_text(json_text(self.known))
        except OSError:
            pass  # no writable cache folder: ids are computed from the data each time


def _write_parquet(table: pa.Table, path: Path) -> None:
    pq.write_table(table, path)


@dataclass(frozen=True)
class FillsWithTca:
    """A run's ``fills.parquet`` before conversion: the engine's fills and the per-fill TCA columns appended to
    them (:func:`tickreplay.tca.summary.measure_parent`); :meth:`frame` is :func:`tickreplay.tca.fill_table`'s
    DataFrame."""

    fills: pd.DataFrame
    columns: dict[str, np.ndarray]

    def frame(self) -> pd.DataFrame:
        return with_fill_columns(self.fills, self.columns)


_SCHEMAS: dict[tuple, pa.Schema] = {}  # a table's column names, dtypes, emptiness → its Arrow schema (pandas metadata)
#: column dtypes whose Arrow type and pandas metadata depend on the dtype alone (besides NumPy bool, int, float)
_PLAIN_DTYPES = (pd.StringDtype, pd.BooleanDtype, pd.Float32Dtype, pd.Float64Dtype, pd.Int8Dtype, pd.Int16Dtype,
                 pd.Int32Dtype, pd.Int64Dtype)


def _plain(dtype) -> bool:
    return isinstance(dtype, _PLAIN_DTYPES) or (isinstance(dtype, np.dtype) and dtype.kind in "biuf")


def _arrow(table: pd.DataFrame | FillsWithTca) -> pa.Table:
    """``pa.Table.from_pandas(df, preserve_index=False)`` of a table (a :class:`FillsWithTca`: of its frame), the
    same table and schema metadata, built from the columns with the schema of the first table of the same column
    names and dtypes (a table with other columns, e.g. object ones whose Arrow types depend on their values, is
    converted by pandas)."""
    df, extra = (table.fills, table.columns) if isinstance(table, FillsWithTca) else (table, {})
    hit = _MARKET_TABLES.get(id(df))
    if not extra and hit is not None and hit[0] is df:
        return hit[1]
    dtypes = tuple(df.dtypes)
    if not all(_plain(d) for d in dtypes) or any(c in df.columns for c in extra):
        return pa.Table.from_pandas(table.frame() if extra else df, preserve_index=False)
    key = (tuple(df.columns), dtypes, len(df) == 0, tuple(extra))
    schema = _SCHEMAS.get(key)
    if schema is None:
        out = pa.Table.from_pandas(table.frame() if extra else df, preserve_index=False)
        _SCHEMAS[key] = out.schema
        return out
    values = [col.to_numpy() if isinstance(col.dtype, np.dtype) else col.array for _, col in df.items()]
    return pa.Table.from_arrays([pa.array(v, type=f.type, from_pandas=True)
                                 for v, f in zip([*values, *extra.values()], schema)], schema=schema)


_MARKET_PATHS: OrderedDict[tuple, tuple[MarketData, pd.DataFrame]] = OrderedDict()  # (data, t0, t1) → path
_MARKET_TABLES: dict[int, tuple[pd.DataFrame, pa.Table]] = {}  # id of a remembered path → it and its Arrow table
_MARKET_MAX = 16


def _market_path(data: MarketData, t0: int, t1: int) -> pd.DataFrame:
    """:func:`~tickreplay.experiment.data.market_path`, remembered for the last few windows: the runs of a sweep
    over one day mostly share a window, and so their ``market.parquet``."""
    key = (id(data), t0, t1)
    hit = _MARKET_PATHS.get(key)
    if hit is not None and hit[0] is data:
        _MARKET_PATHS.move_to_end(key)
        return hit[1]
    df = market_path(data, t0, t1)
    _MARKET_PATHS[key] = (data, df)
    _MARKET_TABLES[id(df)] = (df, pa.Table.from_pandas(df, preserve_index=False))
    while len(_MARKET_PATHS) > _MARKET_MAX:
        _, (_, old) = _MARKET_PATHS.popitem(last=False)
        _MARKET_TABLES.pop(id(old), None)
    return df


def execute(scn: Scenario, data: MarketData | None = None) -> tuple[Plan, RunResult, MarketData]:
    """Run the scenario in the engine (no files): the plan, the engine's result and the data."""
    data = data or load_data(scn)
    plan = build_plan(scn, data)
    result = Engine(data.replay, engine_config(scn, data)).run(plan.strategy, start_ns=plan.start_ns)
    return plan, result, data


def measure(scn: Scenario, plan: Plan, result: RunResult,
            data: MarketData) -> tuple[dict, dict[str, pd.DataFrame | FillsWithTca]]:
    """``tca.json``'s content and the tables of the results folder (a parent's fills as :class:`FillsWithTca`)."""
    tables = {"orders": result.orders}
    tca: dict = {}
    fills = result.fills
    if plan.parent is not None:
        pre = pretrade_inputs(scn, data, plan.parent) if scn.pretrade is not None else None
        children = plan.planned if scn.schedule.kind != "pov" else None  # POV's plan is a target path, not children
        tca, columns = measure_parent(fills, result.orders, plan.parent, data.market, pre, schedule=children,
                                      run_end_ns=None if children is None else data.replay.session_end_ns)
        if plan.planned is not None and len(plan.planned):
            tca["risk"] = schedule_risk(scn, data, plan.parent, plan.planned)
        tables["fills"] = FillsWithTca(fills, columns)
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
    tables["market"] = _market_path(data, min(t0, plan.start_ns), t1)
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


def compute_run(scn: Scenario, data: MarketData, run_id: str, text: str | None = None) -> RunRecord:
    """Run ``scn`` on ``data`` and return everything its results folder holds, as the store keeps it (no files
    written). ``seconds`` in the record: ``plan``, ``engine``, ``measure`` (TCA and tables) and ``convert`` (to
    Arrow)."""
    t0 = time.perf_counter()
    if scn.venues:  # several venues of the instrument: the schedule routed across them (docs/venues.md)
        from tickreplay.experiment.venues_run import measure_venues, plan_venues, run_planned

        plan, venues = plan_venues(scn, data)
        t1 = time.perf_counter()
        vrun = run_planned(plan, venues, scn.seed)
        t2 = time.perf_counter()
        tca, tables = measure_venues(scn, vrun, data)
    else:
        plan = build_plan(scn, data)
        t1 = time.perf_counter()
        result = Engine(data.replay, engine_config(scn, data)).run(plan.strategy, start_ns=plan.start_ns)
        t2 = time.perf_counter()
        tca, tables = measure(scn, plan, result, data)
    t3 = time.perf_counter()
    traded = data  # the data the run planned on: generated venues' first venue, not [data.synthetic]'s plain day
    if scn.venues:
        from tickreplay.experiment.venues_run import planning_data

        traded = planning_data(scn, data)
    meta = {"run_id": run_id, "scenario": scn.name, "data": traded.key, "data_fingerprint": traded.fingerprint,
            "version": __version__, "base_dir": str(Path(scn.base_dir).resolve()), "sweep": scn.sweep,
            "created_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "instrument": traded.tape.instrument.to_dict(), "ingest": traded.report,
            "unpriced_children": getattr(plan.strategy, "unpriced", 0)}
    if scn.venues:
        from tickreplay.experiment.venues_run import venue_sources

        meta["venues"] = venue_sources(scn)
    record = RunRecord(run_id, text if text is not None else tomli_w.dumps(scn.raw), json_text(meta, indent=2),
                       json_text(tca, indent=2), {name: _arrow(df) for name, df in tables.items()},
                       runs_row(run_id, tca, scn.raw))
    t4 = time.perf_counter()
    record.seconds = {"plan": t1 - t0, "engine": t2 - t1, "measure": t3 - t2, "convert": t4 - t3}
    return record


def write_run_folder(root: str | Path, record: RunRecord, overwrite: bool = False, clean: bool = True) -> Path:
    """Write ``record`` as its run folder under ``root``, atomically (see the module docstring); ``overwrite``:
    replace a stored folder, else :class:`FileExistsError` if there is one. ``clean``: also remove what killed
    writers left in ``root`` (one listing of it; a sweep does that once, not per run)."""
    path = Path(root) / record.run_id
    with atomic_dir(path, overwrite=overwrite, clean=clean) as tmp:
        (tmp / "scenario.toml").write_text(record.scenario_toml, encoding="utf-8")  # TOML is UTF-8
        for name, table in record.tables.items():
            _write_parquet(table, tmp / f"{name}.parquet")
        (tmp / "tca.json").write_text(record.tca_json)
        (tmp / "run.json").write_text(record.run_json)
    return path


def run_scenario(scn: Scenario, out_root: str | Path = DEFAULT_RESULTS, text: str | None = None,
                 rerun: bool = False) -> RunOutcome:
    """Run ``scn`` and write its results folder under ``out_root`` (see module docstring).

    A run already complete under ``out_root`` (same id: same content; as a folder or in a sweep's batch) is not
    run again, nor its data loaded when the root has run that data before: its stored outcome comes back with
    ``skipped`` set, unless ``rerun``, which replaces it atomically. ``text``: the scenario file's content, copied
    as ``scenario.toml`` (default: the scenario's document written back as TOML).
    """
    root = Path(out_root)
    ids = IdentityCache()
    run_id = run_id_from(scn, ids.identity(scn))
    if not rerun:
        stored = _stored_outcome(root, run_id, scn)
        if stored is not None:
            return stored
    data = load_data(scn)
    checked = run_id_from(scn, ids.learn(scn, data))  # the remembered identity may be stale: the data decides
    if checked != run_id:
        run_id = checked
        stored = None if rerun else _stored_outcome(root, run_id, scn)
        if stored is not None:
            return stored
    record = compute_run(scn, data, run_id, text)
    try:
        path = write_run_folder(root, record, overwrite=rerun)
    except FileExistsError:  # another process finished the same run meanwhile: the same content
        return RunOutcome.load(root / run_id, scn, skipped=True)
    return RunOutcome(run_id, path, scn, json.loads(record.tca_json))


def _stored_outcome(root: Path, run_id: str, scn: Scenario) -> RunOutcome | None:
    """The stored outcome of ``run_id`` (skipped), or None when the store does not have it."""
    if (root / run_id / "run.json").is_file():
        return RunOutcome.load(root / run_id, scn, skipped=True)
    if not root.is_dir():
        return None
    tca = read_stored(root, [run_id], store_index(root)).get(run_id)
    return None if tca is None else RunOutcome(run_id, root / run_id, scn, tca, skipped=True)


def run_file(path: str | Path, out_root: str | Path = DEFAULT_RESULTS, rerun: bool = False) -> RunOutcome:
    """Load a scenario file and run it (its text is copied into the results)."""
    path = Path(path)
    return run_scenario(load_scenario(path), out_root, path.read_text(encoding="utf-8"), rerun=rerun)
