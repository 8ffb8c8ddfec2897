"""The market-data catalog under ``replay/``: ``<source>/<symbol>/<date>/``.

Each entry holds ``tape.parquet`` (the event tape), ``book_top<N>.parquet``
(the top-N book after every event, so replays never rebuild the book) and
``ingest.json`` (what was read and every anomaly counted). Entries are
written atomically: a crash leaves the previous entry or none.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pyarrow.parquet as pq

from tickreplay.book.snapshots import Snapshots
from tickreplay.errors import TickreplayError
from tickreplay.io import atomic_dir
from tickreplay.tape import Tape

DEFAULT_ROOT = Path("replay")


@dataclass(frozen=True)
class Entry:
    """One catalog entry: a tape of one instrument on one date from one source."""

    root: Path
    source: str
    symbol: str
    date: str

    @property
    def path(self) -> Path:
        return self.root / self.source / self.symbol / self.date

    @property
    def key(self) -> str:
        return f"{self.source}/{self.symbol}/{self.date}"

    def read_tape(self) -> Tape:
        return Tape.read_parquet(self.path / "tape.parquet")

    def snapshot_levels(self) -> list[int]:
        return sorted(int(p.stem.removeprefix("book_top")) for p in self.path.glob("book_top*.parquet"))

    def read_snapshots(self, levels: int | None = None) -> Snapshots:
        have = self.snapshot_levels()
        if not have:
            raise TickreplayError(f"catalog entry {self.key} has no book snapshots")
        k = have[-1] if levels is None else levels
        if k not in have:
            raise TickreplayError(f"catalog entry {self.key} has snapshots for {have} levels, not {k}")
        return Snapshots.from_arrow(pq.read_table(self.path / f"book_top{k}.parquet"))

    def read_report(self) -> dict:
        p = self.path / "ingest.json"
        return json.loads(p.read_text()) if p.exists() else {}


class Catalog:
    """Read and write entries below a root folder (default ``./replay``)."""

    def __init__(self, root: str | Path = DEFAULT_ROOT) -> None:
        self.root = Path(root)

    def entry(self, source: str, symbol: str, date: str) -> Entry:
        return Entry(self.root, source, symbol, date)

    def write(self, source: str, tape: Tape, snapshots: Snapshots | None = None, report: dict | None = None) -> Entry:
        """Store ``tape`` (and its snapshots and ingest report) as one entry, atomically."""
        inst = tape.instrument
        entry = self.entry(source, inst.symbol, inst.date)
        with atomic_dir(entry.path) as tmp:
            tape.write_parquet(tmp / "tape.parquet")
            if snapshots is not None:
                if len(snapshots) != len(tape):
                    raise ValueError(f"{len(snapshots)} snapshot rows for a tape of {len(tape)} events")
                pq.write_table(snapshots.to_arrow(), tmp / f"book_top{snapshots.levels}.parquet", compression="zstd")
            (tmp / "ingest.json").write_text(json.dumps(report or {}, indent=2, sort_keys=True))
        return entry

    def entries(self) -> list[Entry]:
        out = []
        for tape in sorted(self.root.glob("*/*/*/tape.parquet")):
            d = tape.parent
            out.append(Entry(self.root, d.parent.parent.name, d.parent.name, d.name))
        return out

    def find(self, key: str) -> Entry:
        """Look up ``source/symbol/date``; the error lists what the catalog has."""
        parts = key.strip("/").split("/")
        if len(parts) != 3:
            raise TickreplayError(f"catalog key '{key}' should be source/symbol/date")
        e = self.entry(*parts)
        if not (e.path / "tape.parquet").exists():
            have = ", ".join(x.key for x in self.entries()) or "nothing"
            raise TickreplayError(f"no catalog entry '{key}' under {self.root}; it has: {have}")
        return e
