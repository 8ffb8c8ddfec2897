"""The results store: every run under a results root, queryable together with SQL (DuckDB).

A run is stored in one of two forms, read alike:

* a run folder ``<root>/<run_id>/`` (what ``tickreplay run`` writes) with
  ``scenario.toml``, ``run.json``, ``tca.json`` and one Parquet file per
  table (``orders``, ``fills``, ``market``, ``schedule``...);
* a batch ``<root>/_batches/<batch>/`` (what a sweep writes, see
  :class:`BatchWriter`): ``runs.parquet`` (one row per run: ``run_id`` and the
  text of its ``scenario.toml``, ``run.json``, ``tca.json``) and one Parquet
  file per table holding every run of the batch, ``run_id`` first.
  :func:`open_run` turns a batched run into its run folder on demand
  (``tickreplay report`` does), byte for byte the files a run folder has.

A run stored twice (rerun by a later sweep, or materialised) is read once: its
folder wins over batches and a later batch over an earlier one. Folders and
files whose name starts with ``.`` or ``_`` (temporary folders of runs being
written atomically, ``_batches``, ``_compare``) are not runs.

Views, each with a ``run_id`` column first:

* one per table name found in run folders and batches — ``fills``,
  ``orders`` and any other (e.g. per-fill TCA tables) — read in place by
  DuckDB's ``read_parquet`` over the list of files (columns unioned by name,
  so runs written by different versions still line up);
* ``runs``: one row per run, ``tca.json`` flattened (nested keys joined with
  ``_``: ``shortfall_total_bps``, ``window_participation``...) and the
  scenario's keys under ``scenario_`` (``scenario_schedule_kind``...).
  Lists are stored as JSON text.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Iterable

import pandas as pd

from tickreplay.errors import TickreplayError

if TYPE_CHECKING:
    import duckdb
    import pyarrow as pa

DEFAULT_ROOT = "results"
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class QueryError(TickreplayError):
    """A results root that cannot be read, or SQL that DuckDB refuses (its message is kept)."""


BATCHES = "_batches"  # the sweep batches under a results root
RUNS_FILE = "runs.parquet"  # a batch's one row per run


def run_dirs(root: str | Path = DEFAULT_ROOT) -> list[Path]:
    """The run folders under ``root``, sorted by name (batched runs are in :func:`store_index`)."""
    root = Path(root)
    if not root.is_dir():
        raise QueryError(f"results root {root} does not exist or is not a folder")
    return sorted(root / e.name for e in os.scandir(root) if not e.name.startswith((".", "_")) and e.is_dir())


@dataclass(frozen=True)
class StoreIndex:
    """Where each run of a results root is: ``folders`` (run id → run folder) and ``batches`` (run id → the batch
    folder that holds it, for runs without a folder: the latest batch when several hold it). ``superseded``:
    whether some batch row is not the one read (a run stored twice)."""

    folders: dict[str, Path]
    batches: dict[str, Path]
    batch_runs: dict[Path, list[str]] = field(default_factory=dict)  # every batch and the run ids in it
    superseded: bool = False

    def __contains__(self, run_id: str) -> bool:
        return run_id in self.folders or run_id in self.batches

    def __len__(self) -> int:
        return len(self.folders) + len(self.batches)

    def run_ids(self) -> list[str]:
        """Every stored run id, sorted."""
        return sorted([*self.folders, *self.batches])


def batch_dirs(root: str | Path) -> list[Path]:
    """The complete batches under ``root``, oldest first (their names start with a UTC time stamp)."""
    folder = Path(root) / BATCHES
    if not folder.is_dir():
        return []
    return sorted(folder / e.name for e in os.scandir(folder) if not e.name.startswith(".") and e.is_dir())


def store_index(root: str | Path = DEFAULT_ROOT) -> StoreIndex:
    """Every run stored under ``root`` (see :class:`StoreIndex`); reads only the ``run_id`` column of batches."""
    import pyarrow.parquet as pq

    folders = {d.name: d for d in run_dirs(root)}
    batches: dict[str, Path] = {}
    batch_runs: dict[Path, list[str]] = {}
    rows = 0
    for b in batch_dirs(root):
        ids = pq.read_table(b / RUNS_FILE, columns=["run_id"]).column("run_id").to_pylist()
        batch_runs[b] = ids
        rows += len(ids)
        batches.update((i, b) for i in ids)  # a later batch wins
    for i in folders:
        batches.pop(i, None)
    return StoreIndex(folders, batches, batch_runs, superseded=rows != len(batches))


def flatten(d: dict, prefix: str = "") -> dict:
    """Nested dict → one level, keys joined with ``_``; lists become JSON text."""
    out = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(flatten(v, key + "_"))
        elif isinstance(v, (list, tuple)):
            out[key] = json.dumps(v)
        else:
            out[key] = v
    return out


def runs_row(run_id: str, tca: dict, scenario: dict) -> str:
    """A run's row of the ``runs`` view as JSON: ``run_id``, ``tca.json`` flattened, the scenario's keys under
    ``scenario_`` (TOML dates and times as ISO text, non-finite numbers as null)."""
    import orjson

    row = {"run_id": run_id, **flatten(tca), **flatten(scenario, "scenario_")}
    return orjson.dumps(row, option=orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS, default=str).decode()


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise QueryError(f"{path}, line {err.lineno}: not valid JSON ({err.msg})") from None


def _read_toml(path: Path) -> dict:
    try:
        return tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as err:
        raise QueryError(f"{path}: not valid TOML ({err})") from None


def runs_frame(root: str | Path = DEFAULT_ROOT, index: StoreIndex | None = None) -> pd.DataFrame:
    """One row per run: ``run_id``, then ``tca.json`` flattened, then ``scenario.toml`` under ``scenario_``."""
    import orjson
    import pyarrow.parquet as pq

    index = index or store_index(root)
    rows = []
    for run_id, d in sorted(index.folders.items()):
        row = {"run_id": run_id}
        if (d / "tca.json").exists():
            row.update(flatten(_read_json(d / "tca.json")))
        if (d / "scenario.toml").exists():
            row.update(flatten(_read_toml(d / "scenario.toml"), "scenario_"))
        rows.append(row)
    for b in sorted(set(index.batches.values())):
        t = pq.read_table(b / RUNS_FILE, columns=["run_id", "row_json"])
        for run_id, text in zip(t.column("run_id").to_pylist(), t.column("row_json").to_pylist()):
            if index.batches.get(run_id) == b:
                rows.append(orjson.loads(text))
    df = pd.DataFrame.from_records(rows, columns=None if rows else ["run_id"])
    for c in df.columns:  # a key holding numbers in one run and text in another: keep it as text
        kinds = {type(v) for v in df[c].dropna()}
        if str in kinds and len(kinds) > 1:
            df[c] = df[c].astype("string")
    return df


def _sql_str(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"


def _sql_list(files: Iterable[Path]) -> str:
    return "[" + ", ".join(_sql_str(str(f)) for f in files) + "]"


def connect(root: str | Path = DEFAULT_ROOT) -> "duckdb.DuckDBPyConnection":
    """An in-memory DuckDB connection with the views of the module docstring over ``root``."""
    import duckdb

    index = store_index(root)
    con = duckdb.connect()
    in_folders: dict[str, list[Path]] = {}
    for d in index.folders.values():
        for f in sorted(d.glob("*.parquet")):
            if _IDENT.match(f.stem):
                in_folders.setdefault(f.stem, []).append(f)
    read = sorted(set(index.batches.values()))
    in_batches: dict[str, list[Path]] = {}
    for b in read:
        for f in sorted(b.glob("*.parquet")):
            if f.name != RUNS_FILE and _IDENT.match(f.stem):
                in_batches.setdefault(f.stem, []).append(f)
    if index.superseded and read:  # a run stored twice: read each batch's rows of the runs it holds
        con.register("_batch_of_run", pd.DataFrame({"run_id": list(index.batches),
                                                     "batch": [b.name for b in index.batches.values()]}))
    for name in sorted({*in_folders, *in_batches}):
        parts = []
        if name in in_folders:
            parts.append("SELECT regexp_extract(filename, '([^/\\\\]+)[/\\\\][^/\\\\]+$', 1) AS run_id, "
                         f"* EXCLUDE (filename) FROM read_parquet({_sql_list(in_folders[name])}, filename = true, "
                         "union_by_name = true)")
        if name in in_batches:
            src = f"read_parquet({_sql_list(in_batches[name])}, filename = true, union_by_name = true)"
            if index.superseded:
                parts.append(f"SELECT t.* EXCLUDE (filename) FROM {src} t SEMI JOIN _batch_of_run w "
                             "ON w.run_id = t.run_id AND w.batch = regexp_extract(t.filename, "
                             "'([^/\\\\]+)[/\\\\][^/\\\\]+$', 1)")
            else:
                parts.append(f"SELECT * EXCLUDE (filename) FROM {src}")
        con.execute(f'CREATE VIEW "{name}" AS ' + " UNION ALL BY NAME ".join(parts))
    con.register("runs", runs_frame(root, index))
    return con


def query(sql: str, root: str | Path = DEFAULT_ROOT) -> pd.DataFrame:
    """Run ``sql`` over the results under ``root`` (views ``fills``, ``orders``, ``runs``...) → DataFrame."""
    import duckdb

    if not sql.strip():
        raise QueryError('empty query: give SQL over the views fills, orders, runs, e.g. '
                         '"SELECT run_id, shortfall_total_bps FROM runs ORDER BY 2"')
    con = connect(root)
    try:
        return con.execute(sql).df()
    except duckdb.Error as err:
        views = sorted(r[0] for r in con.execute("SELECT view_name FROM duckdb_views() WHERE NOT internal").fetchall())
        raise QueryError(f"query failed: {err}\n(views over {root}: {', '.join(views)})") from None
    finally:
        con.close()


# -- writing batches and reading them back as run folders ---------------------------------------------------------


@dataclass
class RunRecord:
    """One run as the store keeps it: its id, the texts of ``scenario.toml``, ``run.json`` and ``tca.json``, its
    tables (Arrow, with the pandas metadata of the DataFrame they came from) and its ``runs`` row."""

    run_id: str
    scenario_toml: str
    run_json: str
    tca_json: str
    tables: dict[str, "pa.Table"]
    row_json: str  # the run's row of the ``runs`` view (:func:`runs_row`) as JSON
    seconds: dict[str, float] = field(default_factory=dict)  # how long each step of the run took (not stored)


class BatchWriter:
    """Collects finished runs and writes them under ``<root>/_batches/`` as one batch (an atomic folder) every
    ``batch_size`` runs or ``flush_s`` seconds after its first run, whichever comes first, and when closed: a
    sweep killed part-way keeps every batch written before. ``replaces``: these runs may already be stored (a rerun); once the batch
    holding one is written, its run folder (which would win over the batch) is removed."""

    def __init__(self, root: str | Path, batch_size: int = 100, flush_s: float = 1.0,
                 replaces: Iterable[str] = ()) -> None:
        self.root = Path(root)
        self.batch_size = max(1, batch_size)
        self.flush_s = flush_s
        self.replaces = set(replaces)
        self.pending: list[RunRecord] = []
        self.written_s = 0.0  # seconds spent writing
        self.batches = 0
        self._since = 0.0  # when the first queued run came

    def add(self, run: RunRecord) -> None:
        """Queue one run; writes the batch when it is full or due."""
        if not self.pending:
            self._since = time.monotonic()
        self.pending.append(run)
        if len(self.pending) >= self.batch_size or time.monotonic() - self._since >= self.flush_s:
            self.flush()

    def flush(self) -> Path | None:
        """Write the queued runs as one batch now (None: nothing queued)."""
        if not self.pending:
            return None
        t0 = time.perf_counter()
        runs, self.pending = self.pending, []
        path = write_batch(self.root, runs)
        for r in runs:
            if r.run_id in self.replaces:
                _remove_run_folder(self.root / r.run_id)
        self.written_s += time.perf_counter() - t0
        self.batches += 1
        return path

    def close(self) -> None:
        self.flush()

    def __enter__(self) -> "BatchWriter":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _tagged(tables: list["pa.Table"], run_ids: list[str]) -> "pa.Table":
    """The tables of several runs as one, a ``run_id`` column (dictionary-encoded) first; columns unioned by name."""
    import numpy as np
    import pyarrow as pa

    t = pa.concat_tables([x.replace_schema_metadata(None) for x in tables], promote_options="permissive")
    rows = np.repeat(np.arange(len(tables), dtype=np.int32), [len(x) for x in tables])
    return t.add_column(0, "run_id", pa.DictionaryArray.from_arrays(rows, pa.array(run_ids, pa.string())))


_last_stamp_ns = 0  # the stamp of this process's latest batch name


def batch_name(now_ns: int | None = None) -> str:
    """A new batch's folder name: ``<UTC yyyymmddThhmmss><ns, 9 digits>-<pid>-<8 random hex>``. Names sort in the
    order batches were written (a later batch wins, :func:`store_index`): the time is one clock reading
    (``now_ns``, default :func:`time.time_ns`), made strictly later than this process's previous name's, so one
    writer's batches keep their order even across a clock step back. Names of two processes (or machines) order
    by their clocks; on the same nanosecond by pid (as text), then the random part: arbitrary but well defined (a
    run in both batches has one id, so one content but for ``created_utc``)."""
    global _last_stamp_ns
    ns = max(time.time_ns() if now_ns is None else now_ns, _last_stamp_ns + 1)
    _last_stamp_ns = ns
    sec, frac = divmod(ns, 1_000_000_000)
    return f"{time.strftime('%Y%m%dT%H%M%S', time.gmtime(sec))}{frac:09d}-{os.getpid()}-{secrets.token_hex(4)}"


def write_batch(root: str | Path, runs: list[RunRecord]) -> Path:
    """Write ``runs`` as one batch under ``<root>/_batches/`` (atomically) and return its folder."""
    import orjson
    import pyarrow as pa
    import pyarrow.parquet as pq

    from tickreplay.io import atomic_dir

    names: dict[str, None] = {}
    for r in runs:
        names.update(dict.fromkeys(r.tables))
    layout = [orjson.dumps({n: {"columns": t.column_names,
                                "pandas": (t.schema.metadata or {}).get(b"pandas", b"").decode()}
                            for n, t in r.tables.items()}).decode() for r in runs]
    index = pa.table({"run_id": [r.run_id for r in runs], "scenario_toml": [r.scenario_toml for r in runs],
                      "run_json": [r.run_json for r in runs], "tca_json": [r.tca_json for r in runs],
                      "tables_json": layout, "row_json": [r.row_json for r in runs]})
    path = Path(root) / BATCHES / batch_name()
    with atomic_dir(path, overwrite=False, clean=False) as tmp:
        for name in names:
            having = [r for r in runs if name in r.tables]
            pq.write_table(_tagged([r.tables[name] for r in having], [r.run_id for r in having]),
                           tmp / f"{name}.parquet")
        pq.write_table(index, tmp / RUNS_FILE)
    return path


def _remove_run_folder(path: Path) -> None:
    """Remove a run folder (a symlink to its version folder, or a plain folder of earlier versions)."""
    if path.is_symlink():
        target = path.with_name(os.readlink(path))
        path.unlink()
        shutil.rmtree(target, ignore_errors=True)
    elif path.is_dir():
        shutil.rmtree(path)


def read_stored(root: str | Path, run_ids: Iterable[str], index: StoreIndex | None = None) -> dict[str, dict]:
    """``tca.json`` of each of ``run_ids`` (those stored under ``root``; others are left out)."""
    import orjson
    import pyarrow.parquet as pq

    index = index or store_index(root)
    want = set(run_ids)
    out = {}
    for i in want & set(index.folders):
        f = index.folders[i] / "tca.json"
        out[i] = orjson.loads(f.read_bytes()) if f.is_file() else {}
    by_batch: dict[Path, set[str]] = {}
    for i in want - set(out):
        if i in index.batches:
            by_batch.setdefault(index.batches[i], set()).add(i)
    for b, ids in by_batch.items():
        t = pq.read_table(b / RUNS_FILE, columns=["run_id", "tca_json"])
        for i, text in zip(t.column("run_id").to_pylist(), t.column("tca_json").to_pylist()):
            if i in ids:
                out[i] = orjson.loads(text)
    return out


def open_run(root: str | Path, run_id: str, index: StoreIndex | None = None) -> Path:
    """The folder of run ``run_id`` under ``root``; a batched run is written out as a run folder first (atomically;
    the same files a run folder has)."""
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    from tickreplay.io import atomic_dir

    root = Path(root)
    folder = root / run_id
    if (folder / "run.json").is_file():
        return folder
    index = index or store_index(root)
    batch = index.batches.get(run_id)
    if batch is None:
        raise QueryError(f"no run {run_id} in the results root {root} (tickreplay query \"SELECT run_id FROM runs\" "
                         "lists them)")
    t = pq.read_table(batch / RUNS_FILE).filter(pc.field("run_id") == run_id).to_pylist()[-1]
    try:
        with atomic_dir(folder, overwrite=False, clean=False) as tmp:
            (tmp / "scenario.toml").write_text(t["scenario_toml"], encoding="utf-8")
            for name, spec in json.loads(t["tables_json"]).items():
                table = pq.read_table(batch / f"{name}.parquet", filters=[("run_id", "=", run_id)])
                table = table.select(spec["columns"])
                if spec["pandas"]:
                    table = table.replace_schema_metadata({b"pandas": spec["pandas"].encode()})
                pq.write_table(table, tmp / f"{name}.parquet")
            (tmp / "tca.json").write_text(t["tca_json"])
            (tmp / "run.json").write_text(t["run_json"])
    except FileExistsError:  # another process wrote it meanwhile: the same run
        pass
    return folder
