"""The command line starts fast: listing commands and any command's --help imports no heavy module.

Speed is measured in benchmarks (``bench_vs_hftbacktest.py`` prints the ``--help`` time); this test checks
the reason it is fast, which a broken lazy import would undo: after building the whole parser (every
command and sub-command registered) numpy, pandas, pyarrow, numba, lightgbm and duckdb are not imported.
"""

from __future__ import annotations

import subprocess
import sys

HEAVY = ("numpy", "pandas", "pyarrow", "numba", "lightgbm", "duckdb", "matplotlib", "scipy", "ray")


def test_parser_imports_no_heavy_module() -> None:
    code = ("import sys; from tickreplay.cli import build_parser; build_parser(); "
            f"print(','.join(m for m in {HEAVY!r} if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"building the parser imported {out.stdout.strip()}"


def test_help_lists_every_command() -> None:
    out = subprocess.run([sys.executable, "-c", "from tickreplay.cli import main; main(['--help'])"], capture_output=True, text=True,
                         check=True)
    for command in ("demo", "generate", "ingest", "verify", "estimate", "schedule", "query", "run", "compare", "calibrate",
                    "report", "overlay"):
        assert command in out.stdout
