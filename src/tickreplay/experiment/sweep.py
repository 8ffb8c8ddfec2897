"""Many runs: grids of scenarios, comparisons, and the backends that run them."""

from __future__ import annotations

import itertools
import sys
import tomllib
from dataclasses import replace
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Sequence

import pandas as pd

from tickreplay.errors import ConfigError
from tickreplay.experiment.run import DEFAULT_RESULTS, RunOutcome, run_scenario
from tickreplay.experiment.scenario import Scenario, parse_scenario, with_overrides
from tickreplay.tca import PARTS


def load_grid(path: str | Path) -> list[Scenario]:
    """Scenarios of a grid file: ``base`` (a scenario file, relative to the grid) and ``[sweep]``.

    Every ``[sweep]`` key is a dotted scenario key (``"schedule.style"``)
    with a list of values; the grid is their Cartesian product, in file
    order. Each scenario is named ``<name>[key=value,...]`` (``name``
    defaults to the base scenario's).
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
    sweep = doc.get("sweep", {})
    if not isinstance(sweep, dict) or not sweep or \
            not all(isinstance(v, list) and v for v in sweep.values()):
        raise ConfigError(f"{path}: grid key 'sweep' must be a table of non-empty lists")
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
    return out


def compare(scenarios: Sequence[Scenario], out_root: str | Path = DEFAULT_RESULTS, jobs: int = 1,
            progress: bool = True, texts: Sequence[str | None] | None = None, rerun: bool = False) -> pd.DataFrame:
    """Run every scenario (``jobs`` > 1: in worker processes) and return one row per run, in input order.

    Runs already complete in ``out_root`` are skipped (column ``skipped``) unless ``rerun``; a sweep killed
    part-way therefore resumes where it stopped. The progress bar goes to stderr and stays as a record.
    """
    from tqdm import tqdm

    texts = list(texts) if texts is not None else [None] * len(scenarios)
    outcomes: list[RunOutcome | None] = [None] * len(scenarios)
    with tqdm(total=len(scenarios), desc="runs", unit="run", disable=not progress, file=sys.stderr) as bar:
        if jobs <= 1:
            for k, scn in enumerate(scenarios):
                outcomes[k] = run_scenario(scn, out_root, texts[k], rerun)
                bar.update()
        else:
            with ProcessPoolExecutor(max_workers=jobs) as pool:
                futs = {pool.submit(run_scenario, s, str(out_root), texts[k], rerun): k
                        for k, s in enumerate(scenarios)}
                for fut in as_completed(futs):
                    outcomes[futs[fut]] = fut.result()
                    bar.update()
    return comparison_table([o for o in outcomes if o is not None])


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
    for part in PARTS:
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
    return pd.DataFrame([comparison_row(o) for o in outcomes])
