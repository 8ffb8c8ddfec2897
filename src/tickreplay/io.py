"""Small file helpers: atomic writes of files and folders."""

from __future__ import annotations

import json
import math
import os
import re
import secrets
import shutil
import tempfile
from contextlib import contextmanager
from datetime import date, time
from pathlib import Path
from typing import Any, Iterator


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; rename it into place on success.

    A crash or exception leaves ``path`` untouched and no half-written file.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    os.chmod(tmp_path, 0o666 & ~_umask())  # mkstemp makes 0600; give the file the usual mode
    try:
        yield tmp_path
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


@contextmanager
def atomic_dir(path: str | Path, overwrite: bool = True, clean: bool = True) -> Iterator[Path]:
    """Yield a new empty folder; on success ``path`` names it, switched atomically.

    ``path`` becomes a symlink to an immutable hidden sibling folder
    ``.<name>.v<pid>-<hex>``, so the switch is one ``os.replace`` of a symlink
    (atomic on POSIX): a crash or exception at any step leaves ``path`` naming
    the complete old folder or the complete new one, never a mix and never
    neither. A plain folder left at ``path`` by an older version is swapped
    with ``renameat2(RENAME_EXCHANGE)`` (Linux). After the switch the old
    version and the leftovers of writers no longer running are removed.
    ``overwrite=False``: raise :class:`FileExistsError` (and keep what is
    there) if ``path`` exists, even when another process creates it meanwhile.
    ``clean=False``: remove only the old version, not the leftovers of killed
    writers, which needs a listing of the folder; for many writes into one
    folder (a sweep), call :func:`remove_leftovers` once instead.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    token = f"{os.getpid()}-{secrets.token_hex(6)}"
    version = path.with_name(f".{path.name}.v{token}")
    version.mkdir()  # mode 0o777 less the umask, like any folder the user makes
    previous = None
    try:
        yield version
        if not overwrite:
            os.symlink(version.name, path)  # fails if anything is at path: no check-then-write race
        else:
            link = path.with_name(f".{path.name}.link{token}")
            os.symlink(version.name, link)
            if path.is_dir() and not path.is_symlink():
                _exchange(link, path)  # the plain folder now sits at `link`, removed below
            else:
                previous = os.readlink(path) if path.is_symlink() else None
                os.replace(link, path)
    except BaseException:
        shutil.rmtree(version, ignore_errors=True)
        raise
    _remove_stale(path, previous, clean)


def _exchange(a: Path, b: Path) -> None:
    """Swap two paths atomically (Linux ``renameat2`` with ``RENAME_EXCHANGE``)."""
    import ctypes

    fn = getattr(ctypes.CDLL(None, use_errno=True), "renameat2", None)
    at_fdcwd, rename_exchange = -100, 2
    if fn is not None and fn(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0:
        return
    err = ctypes.get_errno() if fn is not None else 0
    a.unlink()
    why = os.strerror(err) if err else "no renameat2"
    raise OSError(err, f"cannot replace the plain folder {b} atomically on this system ({why}); "
                       "remove it and write again")


_VERSION_RE = re.compile(r"\.(?P<name>.+)\.(?:v|link)(?P<pid>\d+)-[0-9a-f]{12}")
_OLD_STYLE_RE = re.compile(r"\.(?P<name>.+)\.(?:old|[a-z0-9_]{8}\.tmp)")  # rename-twice scheme of earlier versions


def _remove_stale(path: Path, previous: str | None, leftovers: bool = True) -> None:
    """Remove what no name in ``path``'s folder uses any more: ``previous`` (the old version of ``path``) and,
    with ``leftovers``, what killed writers left (:func:`remove_leftovers`)."""
    if previous is not None and (_VERSION_RE.fullmatch(previous) or _OLD_STYLE_RE.fullmatch(previous)):
        _remove(path.with_name(previous))
    if leftovers:
        remove_leftovers(path.parent, path.name)


def remove_leftovers(folder: str | Path, writing: str | None = None) -> int:
    """Remove the leftovers of writers that are no longer running from ``folder`` (versions no name points at,
    links, old-style temporary folders) and return how many; ``writing``: the name this process just wrote
    (its own unused versions of that name go too). One listing of the folder: call it once per sweep, not per
    write. A live writer's versions stay."""
    folder = Path(folder)
    removed = 0
    try:
        entries = [e.name for e in os.scandir(folder) if e.name.startswith(".")]  # every leftover is hidden
    except FileNotFoundError:
        return 0
    me = os.getpid()
    for name in entries:
        m = _VERSION_RE.fullmatch(name) or _OLD_STYLE_RE.fullmatch(name)
        if m is None:
            continue
        p = folder / name
        owner = folder / m["name"]
        if owner.is_symlink() and os.readlink(owner) == name:
            continue  # a current version
        if "pid" in m.groupdict():
            pid = int(m["pid"])  # a live writer may still be filling it (this process: another name's)
            stale = m["name"] == writing if pid == me else not _alive(pid)
        else:
            stale = m["name"] == writing
        if stale:
            _remove(p)
            removed += 1
    return removed


def _remove(p: Path) -> None:
    if p.is_dir() and not p.is_symlink():
        shutil.rmtree(p, ignore_errors=True)
    else:
        p.unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    """Whether a process with this id is running."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _strict(v: Any) -> Any:
    """``v`` with every non-finite float (NaN, ±inf) as None and numpy values as Python ones, recursively."""
    if isinstance(v, float):
        return v if math.isfinite(v) else None
    if isinstance(v, dict):
        return {k: _strict(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_strict(x) for x in v]
    if hasattr(v, "tolist"):  # numpy scalars and arrays
        return _strict(v.tolist())
    if isinstance(v, Path):
        return str(v)
    if isinstance(v, (date, time)):  # TOML dates and times (datetime is a date)
        return v.isoformat()
    return v


def json_text(obj: Any, indent: int | None = None, sort_keys: bool = False) -> str:
    """Strict JSON (RFC 8259) of ``obj``: NaN and infinities become ``null``, never ``NaN``/``Infinity``."""
    return json.dumps(_strict(obj), indent=indent, sort_keys=sort_keys, allow_nan=False, ensure_ascii=False)
