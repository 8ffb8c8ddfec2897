"""PNG figures of the impact fits (square-root law, frontier, propagator): matplotlib on the Agg backend, imported
only when a figure is drawn, and files written atomically."""

from __future__ import annotations

from pathlib import Path


def pyplot():
    """``matplotlib.pyplot`` on the Agg backend (no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_png(fig, path: str | Path) -> Path:
    """Write ``fig`` (laid out tight) as a 110 dpi PNG at ``path`` atomically and close it; returns the path."""
    from tickreplay.io import atomic_path

    fig.tight_layout()
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    pyplot().close(fig)
    return path
