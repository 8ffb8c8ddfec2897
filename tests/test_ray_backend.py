"""The Ray backend gives the local backend's results: a small grid both ways on a local Ray inside the suite."""

from __future__ import annotations

import pandas as pd
import pytest

from tickreplay import experiment
from tickreplay.experiment.sweep import read_grid
from tickreplay.results import query, store_index

ray = pytest.importorskip("ray")

SCENARIO = """\
name = "ray_grid"
seed = 5

[data]
synthetic = { regime = "liquid_large_cap", seed = 3, duration_s = 600 }

[parent]
side = "sell"
quantity = 2000
start = "09:31:00"
end = "09:39:00"

[schedule]
kind = "twap"
n_children = 4
style = "market"
cancel_replace_after_s = 20
max_replaces = 2
finish_with_market = true

[latency]
order_entry = { model = "normal", mean_ms = 2, jitter_ms = 0.5 }

[pretrade]
model = "canonical"
"""


@pytest.fixture(scope="module")
def local_ray():
    started = not ray.is_initialized()
    if started:
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    if started:
        ray.shutdown()


def test_a_grid_on_ray_gives_the_local_results(local_ray, tmp_path, monkeypatch):
    monkeypatch.setenv("TICKREPLAY_CACHE_DIR", str(tmp_path / "cache"))
    (tmp_path / "ray_grid.toml").write_text(SCENARIO)
    grid = tmp_path / "grid.toml"
    grid.write_text('base = "ray_grid.toml"\n[sweep]\nbackend = "ray"\n'
                    '"schedule.style" = ["market", "limit_touch"]\nseed = [1, 2, 3]\n')
    g = read_grid(grid)
    assert g.backend == "ray"
    local = experiment.compare(g.scenarios, tmp_path / "local", jobs=2, progress=False, batch_size=4)
    on_ray = experiment.compare(g.scenarios, tmp_path / "ray", progress=False, backend="ray", batch_size=4)
    assert not on_ray["skipped"].any() and on_ray["run_id"].is_unique
    pd.testing.assert_frame_equal(on_ray, local)  # ids and every TCA figure
    for sql in ("SELECT * FROM runs ORDER BY run_id", "SELECT * FROM fills ORDER BY run_id, fill_id",
                "SELECT * FROM orders ORDER BY run_id, request_id"):
        pd.testing.assert_frame_equal(query(sql, tmp_path / "ray"), query(sql, tmp_path / "local"))
    assert len(store_index(tmp_path / "ray")) == 6
    again = experiment.compare(g.scenarios, tmp_path / "ray", progress=False, backend="ray")
    assert again["skipped"].all()  # resumable on Ray too: nothing left to run
