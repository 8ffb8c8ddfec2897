"""Sweeps: the batch store reads as run folders do, runs stored are known without loading data, one listing of the
results root per sweep, reruns supersede, the [sweep] backend key and a missing Ray."""

from __future__ import annotations

import functools
import json
import os
import sys

import pandas as pd
import pytest

from tickreplay import cli, experiment
from tickreplay.errors import ConfigError
from tickreplay.experiment import data as data_module
from tickreplay.experiment.sweep import read_grid, sweep
from tickreplay.results import batch_dirs, open_run, query, run_dirs, runs_frame, store_index

SCENARIO = """\
name = "sw"
seed = 5

[data]
synthetic = { regime = "liquid_large_cap", seed = 2, duration_s = 900 }

[parent]
side = "buy"
quantity = 3000
start = "09:32:00"
end = "09:42:00"

[schedule]
kind = "twap"
n_children = 5
style = "market"

[latency]
order_entry = 2

[pretrade]
model = "canonical"
"""

GRID = 'base = "sw.toml"\n[sweep]\n"schedule.style" = ["market", "limit_touch"]\nseed = [1, 2, 3]\n'


@pytest.fixture()
def grid(tmp_path, monkeypatch):
    monkeypatch.setenv("TICKREPLAY_CACHE_DIR", str(tmp_path / "cache"))
    (tmp_path / "sw.toml").write_text(SCENARIO)
    g = tmp_path / "grid.toml"
    g.write_text(GRID)
    return g


def _files(folder):
    return {p.name: p.read_bytes() for p in folder.iterdir() if p.suffix in (".json", ".toml")}


def test_batched_runs_read_as_run_folders(grid, tmp_path):
    """The same grid stored in batches and in folders: the same views, and a batched run's folder written on
    demand has the same tables and texts (but its creation time) as the folder the run wrote itself."""
    scenarios = read_grid(grid).scenarios
    folders = experiment.compare(scenarios, tmp_path / "f", progress=False)
    batched = experiment.compare(scenarios, tmp_path / "b", progress=False, batch_size=4)
    assert list(batched["run_id"]) == list(folders["run_id"]) and not batched["skipped"].any()
    pd.testing.assert_frame_equal(batched.drop(columns="run_id"), folders.drop(columns="run_id"))
    assert run_dirs(tmp_path / "b") == [] and len(batch_dirs(tmp_path / "b")) == 2  # 4 + 2 runs
    assert store_index(tmp_path / "b").run_ids() == sorted(folders["run_id"])
    for sql in ("SELECT * FROM runs ORDER BY run_id", "SELECT * FROM fills ORDER BY run_id, fill_id",
                "SELECT * FROM orders ORDER BY run_id, request_id", "SELECT * FROM market ORDER BY run_id, ts_ns"):
        a, b = query(sql, tmp_path / "f"), query(sql, tmp_path / "b")
        assert list(a.columns) == list(b.columns), sql
        pd.testing.assert_frame_equal(a, b, check_dtype=False)
    run_id = folders["run_id"][3]
    path = open_run(tmp_path / "b", run_id)
    want = tmp_path / "f" / run_id
    assert sorted(p.name for p in path.iterdir()) == sorted(p.name for p in want.iterdir())
    for name in ("fills", "orders", "market", "schedule"):
        pd.testing.assert_frame_equal(pd.read_parquet(path / f"{name}.parquet"), pd.read_parquet(want / f"{name}.parquet"))
    got, exp = _files(path), _files(want)
    strip = lambda b: {k: v for k, v in json.loads(b).items() if k != "created_utc"}  # noqa: E731
    assert strip(got.pop("run.json")) == strip(exp.pop("run.json")) and got == exp
    # the folder now wins over the batch row: still one row per run
    sql = f"SELECT count(*) AS n FROM fills WHERE run_id = '{run_id}'"
    assert query(sql, tmp_path / "b")["n"][0] == query(sql, tmp_path / "f")["n"][0]
    assert len(runs_frame(tmp_path / "b")) == 6


def test_report_of_a_batched_run_writes_its_folder(grid, tmp_path, capsys):
    out = tmp_path / "res"
    assert cli.main(["compare", "--grid", str(grid), "--out", str(out), "--batch-size", "10"]) == 0
    capsys.readouterr()
    (run_id, *_) = store_index(out).run_ids()
    assert not (out / run_id).exists()
    assert cli.main(["report", str(out / run_id)]) == 0
    assert (out / run_id / "report" / "report.md").is_file() and run_id in capsys.readouterr().out


def test_a_stored_sweep_again_loads_no_data(grid, tmp_path, monkeypatch):
    """Run ids come from what the cache learnt of the data: a sweep whose runs are all stored reads no tape."""
    scenarios = read_grid(grid).scenarios
    first = sweep(scenarios, tmp_path / "r", progress=False, batch_size=3)
    data_module._load.cache_clear()

    def no_load(*args, **kw):
        raise AssertionError("data loaded")

    monkeypatch.setattr(data_module, "_load", no_load)
    again = sweep(read_grid(grid).scenarios, tmp_path / "r", progress=False, batch_size=3)
    assert again.table["skipped"].all() and list(again.table["run_id"]) == list(first.table["run_id"])
    assert again.table.drop(columns="skipped").equals(first.table.drop(columns="skipped"))
    # a changed data file is another signature: the data is loaded (here: refused) to compute the ids
    monkeypatch.setenv("TICKREPLAY_CACHE_DIR", str(tmp_path / "other-cache"))
    with pytest.raises(AssertionError, match="data loaded"):
        sweep(read_grid(grid).scenarios, tmp_path / "r", progress=False)


def test_a_sweep_lists_the_results_root_once(grid, tmp_path, monkeypatch):
    """Writes do not scan the results root (that made a grid O(N²) in its size); leftovers of killed writers are
    removed once, when the sweep starts."""
    root = tmp_path / "r"
    root.mkdir()
    dead = root / ".gone_run_0123.v999999999-0123456789ab"  # a version left by a writer that no longer runs
    dead.mkdir()
    listed = []

    def counting(real):
        def listing(path="."):
            listed.append(path if isinstance(path, int) else os.fspath(path))
            return real(path)
        return listing

    monkeypatch.setattr(os, "scandir", counting(os.scandir))
    monkeypatch.setattr(os, "listdir", counting(os.listdir))
    scenarios = read_grid(grid).scenarios
    experiment.compare(scenarios[:2], root, progress=False)
    assert not dead.exists()
    for_two, listed[:] = listed.count(str(root)), []
    experiment.compare(scenarios[2:], tmp_path / "r", progress=False)  # four more runs into the same root
    assert listed.count(str(root)) <= for_two <= 3  # at most a few listings per sweep, not one per run
    assert len(run_dirs(root)) == 6


def test_a_rerun_in_batches_supersedes_every_copy(grid, tmp_path):
    scenarios = read_grid(grid).scenarios
    root = tmp_path / "r"
    experiment.run_scenario(scenarios[0], root)  # one run as a folder first
    experiment.compare(scenarios, root, progress=False, batch_size=6)
    assert len(run_dirs(root)) == 1 and len(store_index(root)) == 6
    experiment.compare(scenarios, root, progress=False, batch_size=6, rerun=True)
    index = store_index(root)
    assert run_dirs(root) == [] and len(index) == 6 and index.superseded
    newest = batch_dirs(root)[-1]
    assert set(index.batches.values()) == {newest}
    assert query("SELECT count(*) AS n, count(DISTINCT run_id) AS ids FROM runs", root).iloc[0].tolist() == [6, 6]
    experiment.compare(scenarios, tmp_path / "fresh", progress=False, batch_size=6)  # each run stored once
    sql = "SELECT run_id, count(*) AS n FROM orders GROUP BY 1 ORDER BY 1"
    pd.testing.assert_frame_equal(query(sql, root), query(sql, tmp_path / "fresh"))


def test_grid_backend_key(grid, tmp_path):
    grid.write_text(GRID + 'backend = "ray"\n')
    g = read_grid(grid)
    assert g.backend == "ray" and len(g.scenarios) == 6
    grid.write_text(GRID + 'backend = "dask"\n')
    with pytest.raises(ConfigError, match=r"'sweep\.backend' must be one of local, ray"):
        read_grid(grid)
    grid.write_text(GRID)
    assert read_grid(grid).backend is None


def test_the_ray_backend_without_ray_says_how_to_install_it(grid, tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray → ImportError
    with pytest.raises(ConfigError, match=r'needs Ray.*pip install -e "\.\[ray\]"'):
        experiment.compare(read_grid(grid).scenarios, tmp_path / "r", progress=False, backend="ray")
    assert cli.main(["compare", "--grid", str(grid), "--out", str(tmp_path / "r"), "--backend", "ray"]) == 2
    assert 'pip install -e ".[ray]"' in capsys.readouterr().err
    assert not (tmp_path / "r").exists()


def test_forked_workers_load_no_data_however_many_data_sets(grid, tmp_path, monkeypatch):
    """A grid over six days (more than the per-process data cache holds): the workers compute on the data the
    parent loaded before forking and read no day themselves."""
    parent = os.getpid()
    real = data_module._load.__wrapped__

    def in_parent_only(*args):
        if os.getpid() != parent:
            raise AssertionError("a worker loaded data")
        return real(*args)

    monkeypatch.setattr(data_module, "_load", functools.lru_cache(maxsize=4)(in_parent_only))
    (tmp_path / "sw.toml").write_text(SCENARIO.replace("duration_s = 900", "duration_s = 720"))
    grid.write_text('base = "sw.toml"\n[sweep]\n"data.synthetic.seed" = [11, 12, 13, 14, 15, 16]\n')
    scenarios = read_grid(grid).scenarios
    assert len({s.data for s in scenarios}) == 6
    result = sweep(scenarios, tmp_path / "r", jobs=2, progress=False, batch_size=6)
    assert len(result.table) == 6 and not result.table["skipped"].any()
    serial = sweep(scenarios, tmp_path / "serial", progress=False, batch_size=6)
    pd.testing.assert_frame_equal(result.table, serial.table)
