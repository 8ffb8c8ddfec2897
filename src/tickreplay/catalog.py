"""The market-data catalog: ``<root>/<source>/<symbol>/<date>/``.

Each entry holds ``tape.parquet`` (the event tape, in row groups of
``ROW_GROUP_EVENTS`` with ts_ns statistics), ``book_checkpoints.parquet`` (the
book every ``CHECKPOINT_EVENTS`` events or more, as the events that rebuild it;
its metadata names the snapshot depth N) and ``ingest.json`` (what was read,
every anomaly counted, and the tape's content ``fingerprint``). The top-N book
after every event is not stored: it is rebuilt with the compiled kernel from
the checkpoint before a window (:meth:`Entry.read_window`), so a run reads only
its window's row groups. Entries of earlier versions hold ``book_top<N>.parquet``
(the top-N after every event) instead; they are read as they are. An entry's folder name is a symlink to an immutable hidden
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
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from tickreplay.book.base import BookError
from tickreplay.book.snapshots import Snapshots
from tickreplay.errors import TickreplayError
from tickreplay.io import atomic_dir, json_text
from tickreplay.tape import (K_ADD, K_DELETE, K_EXECUTE_VISIBLE, K_PARTIAL_CANCEL, Instrument, Tape, TapeWriter,
                             _arrow_column)

ENV_ROOT = "TICKREPLAY_CATALOG"  # environment variable naming the catalog root
CHECKPOINT_EVENTS = 1 << 20  # a book checkpoint at the first chunk boundary after this many events
CHECKPOINTS = "book_checkpoints.parquet"
_CP_COLUMNS = ("at", "kind", "side", "price", "size", "order_id")
_LEVELS_KEY = b"tickreplay.snapshot_levels"
_L3_KINDS = (K_ADD, K_PARTIAL_CANCEL, K_DELETE, K_EXECUTE_VISIBLE)  # kinds that need the order book


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
        """The snapshot depths the entry gives (:meth:`read_snapshots`)."""
        have = {int(p.stem.removeprefix("book_top")) for p in self.folder.glob("book_top*.parquet")}
        cp = self.folder / CHECKPOINTS
        if cp.exists():
            have.add(int((pq.read_schema(cp).metadata or {}).get(_LEVELS_KEY, b"0")))
        return sorted(have - {0})

    def _depth(self, levels: int | None) -> int:
        have = self.snapshot_levels()
        if not have:
            raise TickreplayError(f"catalog entry {self.key} has no book snapshots")
        k = have[-1] if levels is None else levels
        if k not in have:
            raise TickreplayError(f"catalog entry {self.key} has snapshots for {have} levels, not {k}")
        return k

    def read_snapshots(self, levels: int | None = None) -> Snapshots:
        """The top-N book after every event of the whole tape (N: ``levels``, default the deepest stored)."""
        k = self._depth(levels)
        old = self.folder / f"book_top{k}.parquet"
        if old.exists():
            return Snapshots.from_arrow(pq.read_table(old))
        from tickreplay.book.fast import compute_snapshots

        return compute_snapshots(self.read_tape(), k)

    def time_span(self) -> tuple[int, int]:
        """(first, last) event time of the tape, ns, from the row groups' statistics."""
        pf = pq.ParquetFile(self.folder / "tape.parquet")
        spans = _row_group_spans(pf)
        if spans is None:
            ts = pq.read_table(self.folder / "tape.parquet", columns=["ts_ns"]).column(0).to_numpy()
            return int(ts[0]), int(ts[-1])
        return int(spans[0][0]), int(spans[-1][1])

    def read_window(self, start_ns: int | None, end_ns: int | None,
                    levels: int | None = None) -> tuple[Tape, Snapshots]:
        """The events with ``start_ns <= ts_ns <= end_ns`` (None: open) and the top-N book after each.

        Reads only the row groups from the last book checkpoint before the window to its end and rebuilds
        the book from that checkpoint, so memory is bounded by the window (plus one checkpoint interval).
        Entries of earlier versions (``book_top<N>.parquet``) are read whole and sliced.
        """
        k = self._depth(levels)
        tape_path = self.folder / "tape.parquet"
        pf = pq.ParquetFile(tape_path)
        spans = _row_group_spans(pf)
        if (self.folder / f"book_top{k}.parquet").exists() or spans is None:
            tape, snaps = self.read_tape(), self.read_snapshots(k)
            lo = 0 if start_ns is None else int(np.searchsorted(tape.ts_ns, start_ns, side="left"))
            hi = len(tape) if end_ns is None else int(np.searchsorted(tape.ts_ns, end_ns, side="right"))
            return tape.slice(lo, hi), Snapshots(*(getattr(snaps, f)[lo:hi] for f in
                                                   ("ask_price", "ask_size", "bid_price", "bid_size")))
        rows = np.array([pf.metadata.row_group(i).num_rows for i in range(pf.num_row_groups)], np.int64)
        first = np.concatenate([[0], np.cumsum(rows)])

        def ts_of(g: int) -> np.ndarray:
            return pf.read_row_group(g, columns=["ts_ns"]).column(0).to_numpy()

        lo, hi = 0, int(first[-1])
        if start_ns is not None:
            g = next((i for i, (_, mx) in enumerate(spans) if mx >= start_ns), None)
            lo = hi if g is None else int(first[g] + np.searchsorted(ts_of(g), start_ns, side="left"))
        if end_ns is not None:
            g = next((i for i in range(len(spans) - 1, -1, -1) if spans[i][0] <= end_ns), None)
            hi = 0 if g is None else int(first[g] + np.searchsorted(ts_of(g), end_ns, side="right"))
        hi = max(lo, hi)
        at, cp = self._checkpoint_before(lo)
        # a checkpoint at the tape's end (an empty window after the last event) is in the last row group
        g0 = min(int(np.searchsorted(first, at, side="right") - 1), max(pf.num_row_groups - 1, 0))
        g1 = int(np.searchsorted(first, hi, side="left"))
        table = pf.read_row_groups(list(range(g0, max(g1, g0 + 1)))) if pf.num_row_groups else pf.read()
        part = Tape.from_arrow(table).slice(at - int(first[g0]), hi - int(first[g0]))
        from tickreplay.book.fast import snapshots_from_checkpoint

        if not len(part) or hi == lo:
            empty = np.zeros((0, k), np.int64)
            return part.slice(0, 0), Snapshots(empty, empty, empty, empty)
        return part.slice(lo - at, len(part)), snapshots_from_checkpoint(cp, part, k, skip=lo - at)

    def _checkpoint_before(self, index: int) -> tuple[int, np.ndarray]:
        """(event index, rows kind/side/price/size/order_id) of the last checkpoint at or before ``index``."""
        t = pq.read_table(self.folder / CHECKPOINTS)
        at = t.column("at").to_numpy()
        if not len(at) or at[0] > index:
            return 0, np.zeros((0, 5), np.int64)
        a = int(at[np.searchsorted(at, index, side="right") - 1])
        sel = at == a
        return a, np.column_stack([t.column(c).to_numpy()[sel] for c in _CP_COLUMNS[1:]]).astype(np.int64)

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


def _rebuilds(tape: Tape, snapshots: Snapshots) -> bool:
    """Whether the compiled book rebuilds ``snapshots`` from ``tape`` (then only their depth is stored)."""
    from tickreplay.book.fast import compute_snapshots

    try:
        again = compute_snapshots(tape, snapshots.levels)
    except (BookError, ValueError):
        return False
    return all(np.array_equal(getattr(again, f), getattr(snapshots, f))
               for f in ("ask_price", "ask_size", "bid_price", "bid_size"))


def _row_group_spans(pf: pq.ParquetFile) -> list[tuple[int, int]] | None:
    """(min, max) ts_ns of each row group, or None when a row group has no statistics."""
    idx = pf.schema_arrow.get_field_index("ts_ns")
    out = []
    for i in range(pf.num_row_groups):
        st = pf.metadata.row_group(i).column(idx).statistics
        if st is None or not st.has_min_max:
            return None
        out.append((int(st.min), int(st.max)))
    return out


class EntryWriter:
    """Fills a catalog entry's version folder while an ingest streams (see :meth:`Catalog.writer`).

    :meth:`write` each tape chunk in order; set :attr:`report` before the ``with`` block ends, and
    :attr:`instrument` / :attr:`extra_meta` when the producer knows them better at the end (only
    ``levels`` may differ from the chunks'; they are written with the tape's footer). Book checkpoints come
    from ``book`` when the producer passes its own :class:`~tickreplay.book.fast.StreamBook` (after the
    chunk's events), else from a book the writer keeps by applying the chunks: a hashed L2 book
    (:class:`~tickreplay.book.l2_fast.L2CheckpointBook`) while the tape has only level sets, the order book
    from the first chunk with order events on (the same checkpoints either way).
    """

    def __init__(self, folder: Path, instrument: Instrument, extra_meta: dict | None,
                 snapshot_levels: int | None) -> None:
        self.folder = folder
        self.instrument = instrument
        self.extra_meta = dict(extra_meta or {})
        self.snapshot_levels = snapshot_levels
        self.report: dict = {}
        self.entry: Entry | None = None
        self._open()

    def _open(self) -> None:
        self._tape = TapeWriter(self.folder / "tape.parquet", self.instrument, self.extra_meta)
        self._book = None
        self._since = 0
        self._checkpoints: list[np.ndarray] = []

    def write(self, chunk: Tape, book=None) -> None:
        """Append ``chunk``; ``book``: the producer's book after it (for checkpoints), if it keeps one."""
        at = self._tape.events
        self._tape.write(chunk)
        if book is None:
            from tickreplay.book.l2_fast import L2CheckpointBook

            if self._book is None:
                self._book = L2CheckpointBook(self.instrument.tick_size)
            if self._book is not False:
                try:
                    if isinstance(self._book, L2CheckpointBook):
                        if np.isin(chunk.kind, _L3_KINDS).any():  # an L3 tape: the order book from here on
                            self._book = self._book.to_stream_book()
                        else:
                            self._book.apply(chunk.kind, chunk.side, chunk.price, chunk.size)
                    if not isinstance(self._book, L2CheckpointBook):
                        self._book.apply(chunk)
                except (BookError, ValueError):  # a tape the compiled book cannot take: no checkpoints
                    self._book, self._checkpoints = False, []
            book = self._book
        self._since += len(chunk)
        if book is not False and self._since >= CHECKPOINT_EVENTS:
            cp = book.checkpoint()
            self._checkpoints.append(np.column_stack([np.full(len(cp), at + len(chunk), np.int64), cp]))
            self._since = 0

    def store_snapshots(self, snapshots: Snapshots) -> None:
        """Also store the top-N after every event as given (``book_top<N>.parquet``), for snapshots that are
        not what the compiled book rebuilds from the tape."""
        pq.write_table(snapshots.to_arrow(), self.folder / f"book_top{snapshots.levels}.parquet",
                       compression="zstd")

    def reset(self) -> None:
        """Drop everything written so far (the producer starts again)."""
        self._tape.abort()
        self._open()

    def _finish(self) -> None:
        first = self._tape.instrument
        if (self.instrument.symbol, self.instrument.date) != (first.symbol, first.date):
            raise ValueError(f"entry of {first.symbol} {first.date} finished as {self.instrument.symbol} "
                             f"{self.instrument.date}")
        self._tape.instrument, self._tape.extra_meta = self.instrument, dict(self.extra_meta)
        events = self._tape.close()
        cp = np.concatenate(self._checkpoints) if self._checkpoints else np.zeros((0, 6), np.int64)
        meta = {_LEVELS_KEY: str(self.snapshot_levels or 0).encode()}
        table = pa.Table.from_arrays([_arrow_column(cp[:, j]) for j in range(6)], names=list(_CP_COLUMNS))
        pq.write_table(table.replace_schema_metadata(meta), self.folder / CHECKPOINTS, compression="zstd")
        full = {**self.report, "fingerprint": self._tape.fingerprint()}
        (self.folder / "ingest.json").write_text(json_text(full, indent=2, sort_keys=True))
        self.events = events


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
        """Store ``tape`` (and its ingest report) as the entry ``source/<tape symbol>/<tape date>``, atomically.

        ``snapshots``: when they are what the compiled book rebuilds from the tape (``compute_snapshots``),
        only their depth is stored (rebuilt on read from checkpoints); otherwise they are stored as given.

        The report gets the tape's ``fingerprint``. An existing entry raises
        :class:`EntryExistsError` unless ``force``; with ``force`` it is replaced
        whole in one atomic step.
        """
        if snapshots is not None and len(snapshots) != len(tape):
            raise ValueError(f"{len(snapshots)} snapshot rows for a tape of {len(tape)} events")
        rebuilt = snapshots is not None and _rebuilds(tape, snapshots)
        with self.writer(source, tape.instrument, tape.extra_meta, snapshots.levels if rebuilt else None,
                         force) as w:
            step = 1 << 20
            for i in range(0, len(tape), step):
                w.write(tape.slice(i, i + step))
            if snapshots is not None and not rebuilt:
                w.store_snapshots(snapshots)
            w.report = dict(report or {})
        return w.entry

    @contextmanager
    def writer(self, source: str, instrument: Instrument, extra_meta: dict | None = None,
               snapshot_levels: int | None = None, force: bool = False) -> Iterator[EntryWriter]:
        """Stream an entry ``source/<symbol>/<date>``: ``with catalog.writer(...) as w: w.write(chunk); ...;
        w.report = {...}``; afterwards ``w.entry`` is the entry.

        ``snapshot_levels``: the top-N depth runs read (None: no snapshots). The entry appears atomically
        when the block ends without an exception; an exception or a killed process leaves the old entry (or
        none). The report gets the tape's ``fingerprint``. An existing entry raises
        :class:`EntryExistsError` unless ``force``.
        """
        entry = Entry(self.root, source, instrument.symbol, instrument.date)
        if not force and self.exists(source, instrument.symbol, instrument.date):
            raise EntryExistsError(entry.key, entry.path)
        try:
            with atomic_dir(entry.path, overwrite=force) as tmp:
                w = EntryWriter(tmp, instrument, extra_meta, snapshot_levels)
                yield w
                w._finish()
        except FileExistsError:  # another writer created it after the check above
            raise EntryExistsError(entry.key, entry.path) from None
        w.entry = self.entry(source, instrument.symbol, instrument.date)

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
