"""Read capture files (gzip or plain text) as one stream of lines.

Several files are one stream in the given order (a day file and its
continuation). Lines are numbered 0-based over the whole stream
(``src_row``); :meth:`StreamPosition.where` turns that back into a file and
its 1-based line for error messages.

A gzip file that ends early (truncated: ``EOFError``) or is corrupt
(``zlib.error``, bad header) is an :class:`InputError` of kind
``truncated_gzip`` / ``bad_gzip`` naming the file and its last complete line;
in lenient mode the complete lines before it are kept, the partial line
after it is counted with the error, and reading goes on with the next file.
"""

from __future__ import annotations

import bisect
import gzip
import zlib
from pathlib import Path
from typing import Iterator

from tickreplay.errors import AnomalyLog, InputError

_GZIP_MAGIC = b"\x1f\x8b"
_CHUNK_BYTES = 1 << 20


class StreamPosition:
    """Maps 0-based stream lines to (file, 1-based line in that file)."""

    def __init__(self) -> None:
        self._starts: list[int] = []
        self._paths: list[str] = []

    def start_file(self, path: str, first_line: int) -> None:
        self._starts.append(first_line)
        self._paths.append(path)

    def where(self, line: int) -> tuple[str, int]:
        """(file, 1-based line) of 0-based stream line ``line``."""
        i = bisect.bisect_right(self._starts, line) - 1
        return self._paths[i], line - self._starts[i] + 1

    def error(self, line: int, field: str | None, message: str, kind: str) -> InputError:
        path, row = self.where(line)
        return InputError(path, row, field, message, kind)


def _open(path: Path):
    with open(path, "rb") as f:
        magic = f.read(2)
    return gzip.open(path, "rb") if magic == _GZIP_MAGIC else open(path, "rb")


def read_lines(paths: list[str | Path], pos: StreamPosition, log: AnomalyLog) -> Iterator[tuple[int, bytes]]:
    """Yield (0-based stream line, line bytes without the newline) over ``paths`` in order."""
    for first, texts in read_batches(paths, pos, log):
        yield from enumerate(texts, first)


def read_batches(paths: list[str | Path], pos: StreamPosition, log: AnomalyLog,
                 min_lines: int = 1) -> Iterator[tuple[int, list[bytes]]]:
    """Yield (0-based stream line of the first, lines without the newline) in batches over ``paths`` in order.

    A batch holds the complete lines of one or more decompressed blocks of
    ~1 MB, at least ``min_lines`` of them unless the stream ends; memory is
    bounded by the batch, not the file.
    """
    line = 0
    batch: list[bytes] = []
    for p in paths:
        path = Path(p)
        if not path.is_file():
            raise InputError(str(path), None, None, "capture file not found", kind="missing_file")
        pos.start_file(str(path), line + len(batch))
        first = line + len(batch)
        rest = b""
        with _open(path) as f:
            while True:
                try:
                    chunk = f.read1(_CHUNK_BYTES)
                except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
                    kind = "truncated_gzip" if isinstance(exc, EOFError) else "bad_gzip"
                    what = "ends early (truncated file?)" if kind == "truncated_gzip" else f"is corrupt ({exc})"
                    good = line + len(batch) - first
                    if batch:  # the complete lines come before the error, as they would one by one
                        yield line, batch
                        line, batch = line + len(batch), []
                    log.report(InputError(
                        str(path), good if good else None, "gzip",
                        f"compressed stream {what} after line {good}, the last complete line"
                        + (f"; {len(rest)} bytes of a partial line after it are lost" if rest else ""),
                        kind=kind))
                    rest = b""
                    break
                if not chunk:
                    break
                parts = (rest + chunk).split(b"\n")
                rest = parts.pop()
                batch.extend(parts)
                if len(batch) >= min_lines:
                    yield line, batch
                    line, batch = line + len(batch), []
        if rest:
            batch.append(rest)
    if batch:
        yield line, batch
