"""Notebooks run top to bottom (nbclient), so they cannot rot."""

from __future__ import annotations

import nbformat
from nbclient import NotebookClient

from conftest import REPO, SHARED_DATA, lobster_pair

NOTEBOOKS = REPO / "notebooks"


def test_fill_quality_amzn_runs_top_to_bottom(tmp_path, monkeypatch):
    lobster_pair("AMZN", 5)  # fails, not skips, under TICKREPLAY_REQUIRE_SHARED_DATA=1
    monkeypatch.setenv("TICKREPLAY_SHARED_DATA", str(SHARED_DATA))
    monkeypatch.setenv("TMPDIR", str(tmp_path))  # the notebook's results folder
    nb = nbformat.read(NOTEBOOKS / "fill_quality_amzn.ipynb", as_version=4)
    NotebookClient(nb, timeout=240, kernel_name="python3", resources={"metadata": {"path": str(NOTEBOOKS)}}).execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    text = "".join(o.get("text", "") for o in outputs if o.get("output_type") == "stream")
    assert "parent: buy" in text and "Cheapest run:" in text and "pre-trade model predicted" in text
    runs = [p for p in tmp_path.glob("fill_quality_amzn_*/*") if (p / "tca.json").exists()]
    assert len(runs) == 12
