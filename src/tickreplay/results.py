"""The results store: every run under a results root, queryable together with SQL (DuckDB).

A results root holds one folder per run; the folder name is the ``run_id``.
A run folder has ``scenario.toml``, ``orders.parquet``, ``fills.parquet``
and ``tca.json``. Folders whose name starts with ``.`` or ``_`` (temporary
folders of runs being written atomically) are not runs.

Views, each with a ``run_id`` column first:

* one per Parquet file name found in run folders — ``fills``, ``orders``
  and any other (e.g. per-fill TCA tables) — read in place by DuckDB's
  ``read_parquet`` over the list of files (columns unioned by name, so runs
  written by different versions still line up);
* ``runs``: one row per run, ``tca.json`` flattened (nested keys joined with
  ``_``: ``shortfall_total_bps``, ``window_participation``...) and the
  scenario's keys under ``scenario_`` (``scenario_schedule_kind``...).
  Lists are stored as JSON text.
"""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path

import duckdb
import pandas as pd

from tickreplay.errors import TickreplayError

DEFAULT_ROOT = "results"
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class QueryError(TickreplayError):
    """A results root that cannot be read, or SQL that DuckDB refuses (its message is kept)."""


def run_dirs(root: str | Path = DEFAULT_ROOT) -> list[Path]:
    """The run folders under ``root``, sorted by name."""
    root = Path(root)
    if not root.is_dir():
        raise QueryError(f"results root {root} does not exist or is not a folder")
    return sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith((".", "_")))


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


def runs_frame(root: str | Path = DEFAULT_ROOT) -> pd.DataFrame:
    """One row per run: ``run_id``, then ``tca.json`` flattened, then ``scenario.toml`` under ``scenario_``."""
    rows = []
    for d in run_dirs(root):
        row = {"run_id": d.name}
        if (d / "tca.json").exists():
            row.update(flatten(_read_json(d / "tca.json")))
        if (d / "scenario.toml").exists():
            row.update(flatten(_read_toml(d / "scenario.toml"), "scenario_"))
        rows.append(row)
    df = pd.DataFrame.from_records(rows, columns=None if rows else ["run_id"])
    for c in df.columns:  # a key holding numbers in one run and text in another: keep it as text
        kinds = {type(v) for v in df[c].dropna()}
        if str in kinds and len(kinds) > 1:
            df[c] = df[c].astype("string")
    return df


def _sql_str(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"


def connect(root: str | Path = DEFAULT_ROOT) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB connection with the views of the module docstring over ``root``."""
    runs = run_dirs(root)
    con = duckdb.connect()
    tables: dict[str, list[Path]] = {}
    for d in runs:
        for f in sorted(d.glob("*.parquet")):
            if _IDENT.match(f.stem):
                tables.setdefault(f.stem, []).append(f)
    for name, files in tables.items():
        listing = ", ".join(_sql_str(str(f)) for f in files)
        con.execute(
            f'CREATE VIEW "{name}" AS SELECT regexp_extract(filename, \'([^/\\\\]+)[/\\\\][^/\\\\]+$\', 1) AS run_id, '
            f"* EXCLUDE (filename) FROM read_parquet([{listing}], filename = true, union_by_name = true)")
    con.register("runs", runs_frame(root))
    return con


def query(sql: str, root: str | Path = DEFAULT_ROOT) -> pd.DataFrame:
    """Run ``sql`` over the results under ``root`` (views ``fills``, ``orders``, ``runs``...) → DataFrame."""
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
