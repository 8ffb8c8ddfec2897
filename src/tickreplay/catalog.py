"""The market-data catalog: ``<root>/<source>/<symbol>/<date>/``.

Each entry holds ``tape.parquet`` (the event tape), ``book_top<N>.parquet``
(the top-N book after every event, so replays never rebuild the book) and
``ingest.json`` (what was read, every anomaly counted, and the tape's content
``fingerprint``). An entry's folder name is a symlink to an immutable hidden
version folder (``.<date>.v<pid>-<hex>``); writing an entry fills a new
version and switches the symlink in one atomic step (:func:`tickreplay.io.atomic_dir`),
so a crash leaves the old entry or the new one, never a mix and never neither.
An existing entry is only replaced when asked (``force=True``, ``--force``).

Where the catalog is: :func:`default_root` (``$TICKREPLAY_CATALOG``, else
``./replay``), for the commands and for scenarios that name no ``catalog_root``.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow.parquet as pq

from tickreplay.book.snapshots import Snapshots
from tickreplay.errors import TickreplayError
from tickreplay.io import atomic_dir, json_text
from tickreplay.tape import Tape

ENV_ROOT = "TICKREPLAY_CATALOG"  # environment variable naming the catalog root


def default_root() -> Path:
    """The catalog root when none is given: ``$TICKREPLAY_CATALOG`` if set and not empty, else
    ``./replay``; a relative path is taken against the current working directory (returned absolute)."""
    env = os.environ.get(ENV_ROOT, "")
    return (Path(env).expanduser() if env else Path("replay")).absolute()


class EntryExistsError(TickreplayError):
    """Writing a catalog entry that already exists, without asking to replace it."""

    def __init__(self, key: str, path: Path) -> None:
        self.key = key
        self.path = path
        super().__init__(f"catalog entry {key} already exists ({path}); "
                         "to replace it, run the command again with --force (Python: force=True)")


@dataclass(frozen=True)
class Entry:
    """One catalog entry: a tape of one instrument on one date from one source.

    ``pinned``: the version folder the entry named when it was looked up; its
    files are read from there, so a replacement while reading cannot mix two
    versions (None: read through :attr:`path`).
    """

    root: Path
    source: str
    symbol: str
    date: str
    pinned: Path | None = field(default=None, compare=False, repr=False)

    @property
    def path(self) -> Path:
        """The entry's folder as the catalog names it (``<root>/<source>/<symbol>/<date>``)."""
        return self.root / self.source / self.symbol / self.date

    @property
    def folder(self) -> Path:
        """The folder the entry's files are read from; an error if it was replaced since it was looked up."""
        if self.pinned is not None and not self.pinned.is_dir():
            raise TickreplayError(f"catalog entry {self.key} was replaced since it was looked up; look it up again")
        return self.pinned or self.path

    @property
    def key(self) -> str:
        return f"{self.source}/{self.symbol}/{self.date}"

    def read_tape(self) -> Tape:
        return Tape.read_parquet(self.folder / "tape.parquet")

    def snapshot_levels(self) -> list[int]:
        return sorted(int(p.stem.removeprefix("book_top")) for p in self.folder.glob("book_top*.parquet"))

    def read_snapshots(self, levels: int | None = None) -> Snapshots:
        have = self.snapshot_levels()
        if not have:
            raise TickreplayError(f"catalog entry {self.key} has no book snapshots")
        k = have[-1] if levels is None else levels
        if k not in have:
            raise TickreplayError(f"catalog entry {self.key} has snapshots for {have} levels, not {k}")
        return Snapshots.from_arrow(pq.read_table(self.folder / f"book_top{k}.parquet"))

    def read_report(self) -> dict:
        p = self.folder / "ingest.json"
        return json.loads(p.read_text()) if p.exists() else {}

    @property
    def fingerprint(self) -> str:
        """The tape's content fingerprint (:meth:`Tape.fingerprint`) as recorded in ``ingest.json``.

        Entries written before fingerprints were recorded have none stored: it is
        computed from their tape (not stored; the entry stays as it is).
        """
        return self.read_report().get("fingerprint") or self.read_tape().fingerprint()


def _pin(path: Path) -> Path:
    """The folder ``path`` names now: its symlink target, or itself (a plain folder of older versions)."""
    return path.parent / os.readlink(path) if path.is_symlink() else path


class Catalog:
    """Read and write entries below a root folder (default: :func:`default_root`)."""

    def __init__(self, root: str | Path | None = None) -> None:
        self.root = default_root() if root is None else Path(root)

    def entry(self, source: str, symbol: str, date: str) -> Entry:
        """The entry of that name (it need not exist), pinned to its current version if it does."""
        path = self.root / source / symbol / date
        return Entry(self.root, source, symbol, date, _pin(path) if path.exists() else None)

    def exists(self, source: str, symbol: str, date: str) -> bool:
        """Whether anything is stored under that name (what :meth:`write` refuses to replace)."""
        return os.path.lexists(self.root / source / symbol / date)

    def write(self, source: str, tape: Tape, snapshots: Snapshots | None = None, report: dict | None = None,
              force: bool = False) -> Entry:
        """Store ``tape`` (and its snapshots and ingest report) as the entry
        ``source/<tape symbol>/<tape date>``, atomically.

        The report gets the tape's ``fingerprint``. An existing entry raises
        :class:`EntryExistsError` unless ``force``; with ``force`` it is replaced
        whole in one atomic step.
        """
        inst = tape.instrument
        entry = Entry(self.root, source, inst.symbol, inst.date)
        if snapshots is not None and len(snapshots) != len(tape):
            raise ValueError(f"{len(snapshots)} snapshot rows for a tape of {len(tape)} events")
        if not force and self.exists(source, inst.symbol, inst.date):
            raise EntryExistsError(entry.key, entry.path)
        try:
            with atomic_dir(entry.path, overwrite=force) as tmp:
                tape.write_parquet(tmp / "tape.parquet")
                if snapshots is not None:
                    pq.write_table(snapshots.to_arrow(), tmp / f"book_top{snapshots.levels}.parquet",
                                   compression="zstd")
                full = {**(report or {}), "fingerprint": tape.fingerprint()}
                (tmp / "ingest.json").write_text(json_text(full, indent=2, sort_keys=True))
        except FileExistsError:  # another writer created it after the check above
            raise EntryExistsError(entry.key, entry.path) from None
        return self.entry(source, inst.symbol, inst.date)

    def entries(self) -> list[Entry]:
        """Every entry with a tape, by key; hidden folders (versions, leftovers of killed writers) are not entries."""
        def visible(d: Path) -> list[Path]:
            return sorted(p for p in d.iterdir() if not p.name.startswith(".") and p.is_dir()) if d.is_dir() else []

        return [self.entry(src.name, sym.name, day.name)
                for src in visible(self.root) for sym in visible(src) for day in visible(sym)
                if (day / "tape.parquet").exists()]

    def find(self, key: str) -> Entry:
        """Look up ``source/symbol/date``; the error lists what the catalog has."""
        parts = key.strip("/").split("/")
        if len(parts) != 3 or any(not p or p.startswith(".") for p in parts):
            raise TickreplayError(f"catalog key '{key}' should be source/symbol/date")
        e = self.entry(*parts)
        if not (e.folder / "tape.parquet").exists():
            have = ", ".join(x.key for x in self.entries()) or "nothing"
            raise TickreplayError(f"no catalog entry '{key}' under {self.root}; it has: {have}")
        return e
