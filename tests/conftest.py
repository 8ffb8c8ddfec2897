"""Shared fixtures: where ../shared/data is, and whether its absence fails or skips."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("TICKREPLAY_SHARED_DATA", REPO.parent / "shared" / "data"))


@pytest.fixture(autouse=True, scope="session")
def _own_identity_cache(tmp_path_factory: pytest.TempPathFactory):
    """The suite keeps its data-identity cache (:func:`tickreplay.experiment.run.identity_cache_path`) to itself,
    not in the user's ~/.cache: a test's run ids never depend on what ran on this machine before."""
    old = os.environ.get("TICKREPLAY_CACHE_DIR")
    os.environ["TICKREPLAY_CACHE_DIR"] = str(tmp_path_factory.mktemp("identity-cache"))
    yield
    if old is None:
        os.environ.pop("TICKREPLAY_CACHE_DIR", None)
    else:
        os.environ["TICKREPLAY_CACHE_DIR"] = old


def shared_file(*parts: str) -> Path:
    """Path of a file in ../shared/data; skip when absent, fail under TICKREPLAY_REQUIRE_SHARED_DATA=1."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        msg = f"shared data file {path} is missing"
        if os.environ.get("TICKREPLAY_REQUIRE_SHARED_DATA") == "1":
            pytest.fail(msg + " (TICKREPLAY_REQUIRE_SHARED_DATA=1)")
        pytest.skip(msg)
    return path


LOBSTER_PAIRS = [("AMZN", 5), ("AMZN", 1), ("AAPL", 1)]


def lobster_pair(symbol: str, levels: int) -> tuple[Path, Path]:
    stem = f"{symbol}_2012-06-21_34200000_57600000"
    return (shared_file("lobster", f"{stem}_message_{levels}.csv"),
            shared_file("lobster", f"{stem}_orderbook_{levels}.csv"))
