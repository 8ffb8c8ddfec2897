"""The overlay-vs-static study runs top to bottom (nbclient) and states its verdict from its own numbers."""

from __future__ import annotations

import nbformat
from nbclient import NotebookClient

from conftest import REPO, SHARED_DATA, lobster_pair

NOTEBOOKS = REPO / "notebooks"


def test_overlay_vs_static_runs_top_to_bottom(monkeypatch):
    for symbol, levels in (("AMZN", 5), ("AMZN", 1), ("AAPL", 1)):
        lobster_pair(symbol, levels)  # fails, not skips, under TICKREPLAY_REQUIRE_SHARED_DATA=1
    monkeypatch.setenv("TICKREPLAY_SHARED_DATA", str(SHARED_DATA))
    nb = nbformat.read(NOTEBOOKS / "overlay_vs_static.ipynb", as_version=4)
    NotebookClient(nb, timeout=240, kernel_name="python3", resources={"metadata": {"path": str(NOTEBOOKS)}}).execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    text = "".join(o.get("text", "") for o in outputs if o.get("output_type") == "stream")
    for study in ("AMZN afternoon (time split):", "AAPL (model from AMZN L1):", "planted refill (day split):",
                  "liquid_large_cap (day split):", "high_volatility (day split):", "thin_small_cap (day split):"):
        assert text.count(study) >= 2, study  # trained/tested line and verdict line
    assert "REAL DATA:" in text
    figures = [o for o in outputs if "image/png" in o.get("data", {})]
    assert len(figures) == 4  # saving distribution, by regime, feature importance, oracle share
