"""Catalog writes: no silent overwrite, and a replacement killed at any step leaves the old entry or the new one."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from tickreplay import cli
from tickreplay.book.snapshots import Snapshots
from tickreplay.catalog import Catalog, EntryExistsError
from tickreplay.errors import TickreplayError
from tickreplay.io import atomic_dir
from tickreplay.tape import EventKind, Instrument, Tape

INST = Instrument(symbol="TEST", venue="X", date="2024-01-02", price_scale=10_000, tick_size=100)
KEY = "unit/TEST/2024-01-02"
CRASH = 17  # exit code of the killed writer


def _tape(seed: int, n: int = 40) -> Tape:
    rng = np.random.default_rng(seed)
    return Tape.from_columns(INST, ts_ns=np.sort(rng.integers(0, 10**12, n)), kind=np.full(n, int(EventKind.ADD)),
                             side=rng.choice([-1, 1], n), price=rng.integers(1, 100, n) * 100,
                             size=rng.integers(1, 500, n), order_id=np.arange(1, n + 1))


def _snaps(tape: Tape) -> Snapshots:
    """One-level snapshots derived from the tape (the killed writer builds the same)."""
    return Snapshots.from_lobster_rows(np.stack([tape.price, tape.size, tape.price - 100, tape.size], axis=1))


# A writer in its own process that dies (os._exit, no clean-up) at one step of Catalog.write(force=True):
# "replace#k"/"symlink#k": just before the k-th os.replace/os.symlink call; "<name>": when tickreplay.io.<name> runs.
KILLED_WRITER = textwrap.dedent("""
    import os, sys
    import numpy as np
    import tickreplay.io as tio
    from tickreplay.book.snapshots import Snapshots
    from tickreplay.catalog import Catalog
    from tickreplay.tape import Tape

    root, tape_path, point = sys.argv[1:4]
    tape = Tape.read_parquet(tape_path)
    snaps = Snapshots.from_lobster_rows(np.stack([tape.price, tape.size, tape.price - 100, tape.size], axis=1))
    name, _, k = point.partition("#")
    if k:
        real, calls = getattr(os, name), []
        def crash(*args, **kw):
            calls.append(1)
            if len(calls) == int(k):
                os._exit(%d)
            return real(*args, **kw)
        setattr(os, name, crash)
    else:
        setattr(tio, name, lambda *args, **kw: os._exit(%d))
    Catalog(root).write("unit", tape, snaps, {"writer": "killed"}, force=True)
    os._exit(0)
""" % (CRASH, CRASH))


def _kill_during_write(root, tape: Tape, point: str, tmp_path) -> None:
    src = tmp_path / f"new-{point}.parquet"
    tape.write_parquet(src)
    done = subprocess.run([sys.executable, "-c", KILLED_WRITER, str(root), str(src), point],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == CRASH, done.stderr


def _assert_entry_is(cat: Catalog, tape: Tape, recorded: bool = True) -> None:
    """The entry reads as exactly ``tape``: every column, its snapshots and (``recorded``) the stored fingerprint."""
    e = cat.find(KEY)
    back = e.read_tape()
    for name, col in tape.columns().items():
        assert back.columns()[name].tobytes() == col.tobytes(), name
    np.testing.assert_array_equal(e.read_snapshots().as_lobster_rows(), _snaps(tape).as_lobster_rows())
    assert e.fingerprint == tape.fingerprint()
    if recorded:
        assert e.read_report()["fingerprint"] == tape.fingerprint()
    assert [x.key for x in cat.entries()] == [KEY]


def _write_legacy(root, tape: Tape) -> None:
    """An entry as earlier versions wrote it: a plain folder."""
    import pyarrow.parquet as pq

    d = root / "unit" / "TEST" / "2024-01-02"
    d.mkdir(parents=True)
    tape.write_parquet(d / "tape.parquet")
    pq.write_table(_snaps(tape).to_arrow(), d / "book_top1.parquet")
    (d / "ingest.json").write_text("{}")


@pytest.mark.parametrize("layout, point, survivor", [
    ("symlinked", "replace#1", "old"),  # while the new version is being filled (tape.parquet not yet in place)
    ("symlinked", "symlink#1", "old"),  # the new version is complete, nothing points at it yet
    ("symlinked", "replace#2", "old"),  # the new symlink exists beside the entry, not yet switched
    ("symlinked", "_remove_stale", "new"),  # switched; the old version not yet removed
    ("legacy", "replace#1", "old"),  # an entry an earlier version wrote as a plain folder ...
    ("legacy", "symlink#1", "old"),
    ("legacy", "_exchange", "old"),  # ... just before its atomic exchange with the new symlink
    ("legacy", "_remove_stale", "new"),
])
def test_a_replacement_killed_at_any_step_leaves_exactly_the_old_or_the_new_entry(tmp_path, layout, point,
                                                                                    survivor):
    legacy = layout == "legacy"
    root = tmp_path / "replay"
    old, new, third = _tape(1), _tape(2), _tape(3)
    cat = Catalog(root)
    if legacy:
        _write_legacy(root, old)
    else:
        cat.write("unit", old, _snaps(old))
    _kill_during_write(root, new, point, tmp_path)

    _assert_entry_is(cat, old if survivor == "old" else new, recorded=not (legacy and survivor == "old"))
    # the next write cleans up what the killed writer left (its process is gone)
    cat.write("unit", third, _snaps(third), force=True)
    _assert_entry_is(cat, third)
    folder = root / "unit" / "TEST"
    current = os.readlink(folder / "2024-01-02")
    assert sorted(p.name for p in folder.iterdir()) == sorted(["2024-01-02", current])


def test_a_write_that_fails_in_process_keeps_the_old_entry_and_leaves_nothing(tmp_path, monkeypatch):
    cat = Catalog(tmp_path)
    old, new = _tape(1), _tape(2)
    cat.write("unit", old, _snaps(old))
    before = sorted(p.name for p in (tmp_path / "unit" / "TEST").iterdir())
    real = os.replace

    def failing_swap(a, b):
        if str(b).endswith("2024-01-02"):
            raise OSError("disk gone")
        real(a, b)

    monkeypatch.setattr(os, "replace", failing_swap)
    with pytest.raises(OSError, match="disk gone"):
        cat.write("unit", new, _snaps(new), force=True)
    monkeypatch.undo()
    _assert_entry_is(cat, old)
    # the failed writer removed its version; only its (unused) symlink could stay, and the next write takes it
    cat.write("unit", new, _snaps(new), force=True)
    _assert_entry_is(cat, new)
    assert len(before) == len(list((tmp_path / "unit" / "TEST").iterdir())) == 2


def test_writing_an_existing_entry_is_refused_unless_forced(tmp_path):
    cat = Catalog(tmp_path)
    old, new = _tape(1), _tape(2)
    cat.write("unit", old, _snaps(old))
    with pytest.raises(EntryExistsError, match=f"{KEY} already exists.*--force"):
        cat.write("unit", new, _snaps(new))
    _assert_entry_is(cat, old)
    cat.write("unit", new, _snaps(new), force=True)
    _assert_entry_is(cat, new)


def test_an_entry_created_by_another_writer_after_the_check_is_not_replaced(tmp_path, monkeypatch):
    cat = Catalog(tmp_path)
    old, new = _tape(1), _tape(2)
    cat.write("unit", old, _snaps(old))
    monkeypatch.setattr(Catalog, "exists", lambda self, *a: False)  # as if it appeared after the check
    with pytest.raises(EntryExistsError, match=KEY):
        cat.write("unit", new, _snaps(new))
    monkeypatch.undo()
    _assert_entry_is(cat, old)
    assert len(list((tmp_path / "unit" / "TEST").iterdir())) == 2  # the refused version is gone


def test_a_legacy_plain_folder_entry_reads_and_is_replaced_atomically(tmp_path):
    old, new = _tape(1), _tape(2)
    _write_legacy(tmp_path, old)
    cat = Catalog(tmp_path)
    assert cat.find(KEY).read_tape().fingerprint() == old.fingerprint()
    assert cat.find(KEY).fingerprint == old.fingerprint()  # none stored: computed from the tape
    assert cat.find(KEY).read_report() == {}  # ... and not written into the entry
    with pytest.raises(EntryExistsError):
        cat.write("unit", new, _snaps(new))
    cat.write("unit", new, _snaps(new), force=True)
    _assert_entry_is(cat, new)
    assert (tmp_path / "unit" / "TEST" / "2024-01-02").is_symlink()


def test_an_entry_read_during_a_replacement_reads_one_version(tmp_path):
    cat = Catalog(tmp_path)
    old, new = _tape(1), _tape(2)
    cat.write("unit", old, _snaps(old))
    e = cat.find(KEY)
    tape = e.read_tape()
    cat.write("unit", new, _snaps(new), force=True)  # replaces, and removes the version `e` was pinned to
    assert tape.fingerprint() == old.fingerprint()
    with pytest.raises(TickreplayError, match=f"{KEY} was replaced since it was looked up"):
        e.read_snapshots(1)  # never the new snapshots with the old tape
    _assert_entry_is(cat, new)


def test_hidden_folders_are_not_entries_nor_keys(tmp_path):
    cat = Catalog(tmp_path)
    t = _tape(1)
    cat.write("unit", t, _snaps(t))
    version = os.readlink(tmp_path / "unit" / "TEST" / "2024-01-02")
    assert [x.key for x in cat.entries()] == [KEY]
    with pytest.raises(Exception, match="source/symbol/date"):
        cat.find(f"unit/TEST/{version}")


def test_atomic_dir_replaces_a_folder_whole_with_the_usual_mode(tmp_path):
    target = tmp_path / "model"
    with atomic_dir(target) as d:
        (d / "a.txt").write_text("one")
    with pytest.raises(RuntimeError):
        with atomic_dir(target) as d:
            (d / "a.txt").write_text("half")
            raise RuntimeError("crash mid-write")
    assert (target / "a.txt").read_text() == "one"
    with atomic_dir(target) as d:
        (d / "b.txt").write_text("two")
    assert sorted(p.name for p in target.iterdir()) == ["b.txt"]
    assert len(list(tmp_path.iterdir())) == 2  # the link and its one version
    mask = os.umask(0)
    os.umask(mask)
    assert stat.S_IMODE(target.resolve().stat().st_mode) == 0o777 & ~mask
    with pytest.raises(FileExistsError):
        with atomic_dir(target, overwrite=False) as d:
            (d / "c.txt").write_text("three")
    assert sorted(p.name for p in target.iterdir()) == ["b.txt"]
    assert len(list(tmp_path.iterdir())) == 2


def test_generate_and_ingest_refuse_to_overwrite_without_force(tmp_path, capsys):
    root = str(tmp_path / "replay")
    gen = ["generate", "--regime", "thin_small_cap", "--seed", "4", "--duration-s", "120", "--levels", "2"]
    assert cli.main([*gen, "--catalog", root]) == 0
    key = "synthetic/thin_small_cap-s4-120s/2024-01-02"
    first = Catalog(root).find(key).fingerprint
    capsys.readouterr()
    assert cli.main([*gen, "--catalog", root]) == 2
    err = capsys.readouterr().err
    assert key in err and "--force" in err
    assert cli.main([*gen, "--catalog", root, "--force"]) == 0
    assert Catalog(root).find(key).fingerprint == first  # the same day again

    lob = tmp_path / "lob"
    assert cli.main([*gen, "--lobster-dir", str(lob)]) == 0
    msg = next(lob.glob("*_message_2.csv"))
    book = next(lob.glob("*_orderbook_2.csv"))
    assert cli.main(["ingest", "lobster", str(msg), str(book), "--catalog", root]) == 0
    lkey = "lobster/thin_small_cap-s4-120s/2024-01-02"
    good = Catalog(root).find(lkey).fingerprint
    lines = msg.read_text().splitlines()
    t, _, rest = lines[9].partition(",")
    lines[9] = f"{t},x,{rest.partition(',')[2]}"  # a corrupted message type: lenient mode drops the row
    msg.write_text("\n".join(lines) + "\n")
    capsys.readouterr()
    assert cli.main(["ingest", "lobster", str(msg), str(book), "--catalog", root, "--lenient"]) == 2
    err = capsys.readouterr().err
    assert lkey in err and "--force" in err
    assert Catalog(root).find(lkey).fingerprint == good
    assert cli.main(["ingest", "lobster", str(msg), str(book), "--catalog", root, "--lenient", "--force"]) == 0
    replaced = Catalog(root).find(lkey)
    assert replaced.fingerprint != good
    assert replaced.read_report()["anomalies"]["counts"] == {"non_numeric": 1}
