"""Many runs: grids of scenarios, comparisons, and the sweeps that run them (backends: :mod:`.backends`).

A sweep computes every run's id first (no data loaded when the data was seen
before: :class:`~tickreplay.experiment.run.IdentityCache`), skips the runs
the results root already has, loads the data of the rest once per data set
(which checks their ids: the loaded data decides), runs them on a backend in chunks and writes
them as they come back: one folder per run (``batch_size=1``) or in batches
(:class:`~tickreplay.results.BatchWriter`). Killed part-way, the same sweep
again runs only what is missing.
"""

from __future__ import annotations

import itertools
import math
import sys
import time
import tomllib
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Sequence

import orjson
import pandas as pd

from tickreplay.errors import ConfigError
from tickreplay.experiment.backends import BACKENDS, RunTask, data_key, load_once, make_backend
from tickreplay.experiment.data import MarketData
from tickreplay.experiment.run import (DEFAULT_RESULTS, IdentityCache, RunOutcome, run_id_from,
                                       write_run_folder)
from tickreplay.experiment.scenario import Scenario, parse_scenario, with_overrides
from tickreplay.io import remove_leftovers
from tickreplay.results import BATCHES, BatchWriter, StoreIndex, read_stored, store_index
from tickreplay.tca.shortfall import IMPACT_PART, parts_of

SETTINGS = ("backend",)  # [sweep] keys that are settings of the sweep, not scenario keys


@dataclass(frozen=True)
class Grid:
    """A grid file: its scenarios and its sweep settings (``backend``: None when the file does not say)."""

    scenarios: list[Scenario]
    backend: str | None = None


def read_grid(path: str | Path) -> Grid:
    """A grid file: ``base`` (a scenario file, relative to the grid) and ``[sweep]``.

    Every ``[sweep]`` key is a dotted scenario key (``"schedule.style"``)
    with a list of values; the grid is their Cartesian product, in file
    order. Each scenario is named ``<name>[key=value,...]`` (``name``
    defaults to the base scenario's). ``backend = "local"`` or ``"ray"`` in
    ``[sweep]`` says where the grid runs (``compare --backend`` overrides it).
    """
    path = Path(path)
    try:
        doc = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{path}: not valid TOML ({err})") from None
    unknown = set(doc) - {"base", "name", "sweep"}
    if unknown:
        raise ConfigError(f"{path}: unknown grid key '{sorted(unknown)[0]}' (known: base, name, sweep)")
    if not isinstance(doc.get("base"), str):
        raise ConfigError(f"{path}: grid key 'base' must name a scenario file")
    sweep = dict(doc.get("sweep", {})) if isinstance(doc.get("sweep", {}), dict) else None
    settings = {k: sweep.pop(k) for k in SETTINGS if sweep is not None and k in sweep}
    if not sweep or not all(isinstance(v, list) and v for v in sweep.values()):
        raise ConfigError(f"{path}: grid key 'sweep' must be a table of non-empty lists")
    backend = settings.get("backend")
    if backend is not None and backend not in BACKENDS:
        raise ConfigError(f"{path}: grid key 'sweep.backend' must be one of {', '.join(BACKENDS)}, not {backend!r}")
    base_path = path.parent / doc["base"]
    try:
        base = tomllib.loads(base_path.read_text())
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{base_path}: not valid TOML ({err})") from None
    name = doc.get("name", base.get("name", base_path.stem))
    out = []
    for combo in itertools.product(*sweep.values()):
        over = dict(zip(sweep, combo))
        label = ",".join(f"{k.split('.')[-1]}={v}" for k, v in over.items())
        sdoc = with_overrides(base, {**over, "name": f"{name}[{label}]"})
        try:
            out.append(replace(parse_scenario(sdoc, base_dir=base_path.parent), source=str(path), sweep=over))
        except ConfigError as err:
            raise ConfigError(f"{path}: {label}: {err}") from None
    return Grid(out, backend)


def load_grid(path: str | Path) -> list[Scenario]:
    """The scenarios of a grid file (:func:`read_grid`)."""
    return read_grid(path).scenarios


@dataclass(frozen=True)
class SweepResult:
    """A finished sweep: the comparison table (one row per scenario, in input order) and, per run computed now,
    the seconds of each step (``seconds``: run id, plan, engine, measure, convert; ``write_s``: all writing)."""

    table: pd.DataFrame
    seconds: pd.DataFrame
    write_s: float
    wall_s: float


def _chunk_size(n: int, workers: int) -> int:
    """Runs per task: a few tasks per worker for balance, at most 16 runs for a lively progress bar."""
    return max(1, min(16, math.ceil(n / (4 * max(1, workers)))))


def _checked_ids(scenarios: Sequence[Scenario], ids: IdentityCache, index: StoreIndex,
                 rerun: bool) -> tuple[list[str], dict[tuple, MarketData]]:
    """Each scenario's run id and the data loaded to run them, by data key. A data set some run of which is to
    run (not stored, or ``rerun``) is loaded, once, and decides the ids of every scenario on it (a stale
    remembered identity is replaced); the ids of the others come from the remembered identity of their data (no
    data loaded)."""
    remembered = [ids.remembered(s) for s in scenarios]
    wanted = {data_key(s) for s, known in zip(scenarios, remembered)
              if known is None or rerun or run_id_from(s, known) not in index}
    data = load_once(s for s in scenarios if data_key(s) in wanted)
    run_ids = [run_id_from(s, ids.learn(s, data[data_key(s)]) if data_key(s) in data else known)
               for s, known in zip(scenarios, remembered)]
    return run_ids, data


def sweep(scenarios: Sequence[Scenario], out_root: str | Path = DEFAULT_RESULTS, jobs: int = 1,
          progress: bool = True, texts: Sequence[str | None] | None = None, rerun: bool = False,
          backend: str = "local", ray_address: str | None = None, batch_size: int = 1) -> SweepResult:
    """Run every scenario not yet in ``out_root`` on ``backend`` (``local``: ``jobs`` worker processes; ``ray``:
    a local Ray with ``jobs`` CPUs, or the cluster at ``ray_address``) and store each run: a folder per run
    (``batch_size`` 1) or batches of ``batch_size`` runs. A scenario given twice runs once (its second row is
    ``skipped``). ``rerun``: run and store every scenario again (a later batch wins over an earlier one)."""
    t_start = time.perf_counter()
    from tqdm import tqdm

    worker = make_backend(backend, jobs, ray_address)
    root = Path(out_root)
    root.mkdir(parents=True, exist_ok=True)
    remove_leftovers(root)  # once per sweep: the writes below do not list the root
    remove_leftovers(root / BATCHES)
    texts = list(texts) if texts is not None else [None] * len(scenarios)
    ids = IdentityCache()
    index = store_index(root)
    run_ids, data = _checked_ids(scenarios, ids, index, rerun)
    first: dict[str, int] = {}
    for k, r in enumerate(run_ids):
        first.setdefault(r, k)
    todo = [RunTask(r, scenarios[k], texts[k]) for r, k in first.items() if rerun or r not in index]
    stored = read_stored(root, [r for r in first if r in index and not rerun], index)
    tca: dict[str, dict] = dict(stored)
    seconds = []
    workers = jobs if backend == "local" else max(jobs, 4)
    size = _chunk_size(len(todo), workers)
    chunks = [todo[i:i + size] for i in range(0, len(todo), size)]
    writer = BatchWriter(root, batch_size, replaces=[t.run_id for t in todo if t.run_id in index]) \
        if batch_size > 1 else None
    t_write = 0.0
    with tqdm(total=len(first), initial=len(stored), desc="runs", unit="run", disable=not progress,
              file=sys.stderr, smoothing=0.1) as bar:
        try:
            for records in worker.run(chunks, {data_key(t.scenario): data[data_key(t.scenario)] for t in todo}):
                for rec in records:
                    if writer is not None:
                        writer.add(rec)
                    else:
                        t0 = time.perf_counter()
                        try:
                            write_run_folder(root, rec, overwrite=rerun, clean=False)
                        except FileExistsError:  # another process stored the same run meanwhile
                            pass
                        t_write += time.perf_counter() - t0
                    tca[rec.run_id] = orjson.loads(rec.tca_json)
                    seconds.append({"run_id": rec.run_id, **rec.seconds})
                bar.update(len(records))
        finally:
            if writer is not None:
                writer.close()  # what finished is kept, even when a run failed or the sweep was interrupted
                t_write = writer.written_s
    ran = {t.run_id for t in todo}
    outcomes = [RunOutcome(r, root / r, s, tca[r], skipped=r not in ran or first[r] != k)
                for k, (r, s) in enumerate(zip(run_ids, scenarios))]
    cols = ["run_id", "plan", "engine", "measure", "convert"]
    return SweepResult(comparison_table(outcomes), pd.DataFrame(seconds, columns=cols), t_write,
                       time.perf_counter() - t_start)


def compare(scenarios: Sequence[Scenario], out_root: str | Path = DEFAULT_RESULTS, jobs: int = 1,
            progress: bool = True, texts: Sequence[str | None] | None = None, rerun: bool = False,
            backend: str = "local", ray_address: str | None = None, batch_size: int = 1) -> pd.DataFrame:
    """Run every scenario (``jobs`` > 1: in worker processes; see :func:`sweep` for the other options) and return
    one row per run, in input order.

    Runs already complete in ``out_root`` are skipped (column ``skipped``) unless ``rerun``; a sweep killed
    part-way therefore resumes where it stopped. The progress bar goes to stderr and stays as a record.
    """
    return sweep(scenarios, out_root, jobs, progress, texts, rerun, backend, ray_address, batch_size).table


def comparison_row(o: RunOutcome) -> dict:
    """The figures a comparison shows for one run (None where the run has no such figure)."""
    s = o.scenario.schedule
    tca = o.tca
    sf = tca.get("shortfall", {})
    win = tca.get("window", {})
    pre = tca.get("pretrade") or {}
    mk = tca.get("markouts", {})
    row = {"run_id": o.run_id, "name": o.scenario.name, "skipped": o.skipped, "kind": s.kind, "style": s.style,
           "filled_pct": 100.0 * sf["filled"] / sf["quantity"] if sf else None,
           "total_bps": sf.get("total_bps")}
    for part in parts_of({IMPACT_PART: 0.0} if f"{IMPACT_PART}_bps" in sf else {}):
        row[f"{part}_bps"] = sf.get(f"{part}_bps")
    row["vwap_slippage_bps"] = win.get("vwap_slippage_bps")
    row["participation"] = win.get("participation")
    row["participation_active"] = win.get("participation_active")
    row["markout_1min_bps"] = (mk.get("1min") or {}).get("all_bps")
    row["predicted_bps"] = pre.get("predicted_bps")
    if "pnl" in tca:
        row.update(total_pnl=tca["pnl"]["total_pnl"], final_position=tca["pnl"]["final_position"])
    return row


def comparison_table(outcomes: Sequence[RunOutcome]) -> pd.DataFrame:
    """One :func:`comparison_row` per outcome, in order."""
    return pd.DataFrame([comparison_row(o) for o in outcomes])
