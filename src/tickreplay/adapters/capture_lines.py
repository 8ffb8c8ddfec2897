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

    The batches of :func:`read_blocks`, split into lines.
    """
    for first, block in read_blocks(paths, pos, log, min_lines):
        yield first, block.split(b"\n")[:-1]


def read_blocks(paths: list[str | Path], pos: StreamPosition, log: AnomalyLog,
                min_lines: int = 1) -> Iterator[tuple[int, bytes]]:
    """Yield (0-based stream line of the first, block) over ``paths`` in order.

    A block is complete lines, each ending in b"\\n" (a file's last line
    without one gets one), from one or more decompressed pieces of ~1 MB, at
    least ``min_lines`` lines unless the stream ends; memory is bounded by
    the block, not the file.
    """
    line = 0  # stream line of the block's first line
    parts: list[bytes] = []
    held = 0  # lines in parts
    for p in paths:
        path = Path(p)
        if not path.is_file():
            raise InputError(str(path), None, None, "capture file not found", kind="missing_file")
        first = line + held
        pos.start_file(str(path), first)
        rest = b""
        with _open(path) as f:
            while True:
                try:
                    chunk = f.read1(_CHUNK_BYTES)
                except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
                    kind = "truncated_gzip" if isinstance(exc, EOFError) else "bad_gzip"
                    what = "ends early (truncated file?)" if kind == "truncated_gzip" else f"is corrupt ({exc})"
                    good = line + held - first
                    if parts:  # the complete lines come before the error, as they would one by one
                        yield line, b"".join(parts)
                        line, parts, held = line + held, [], 0
                    log.report(InputError(
                        str(path), good if good else None, "gzip",
                        f"compressed stream {what} after line {good}, the last complete line"
                        + (f"; {len(rest)} bytes of a partial line after it are lost" if rest else ""),
                        kind=kind))
                    rest = b""
                    break
                if not chunk:
                    break
                data = rest + chunk if rest else chunk
                cut = data.rfind(b"\n") + 1
                rest = data[cut:]
                if cut:
                    parts.append(data[:cut])
                    held += data.count(b"\n", 0, cut)
                if held >= min_lines:
                    yield line, b"".join(parts)
                    line, parts, held = line + held, [], 0
        if rest:
            parts.append(rest + b"\n")
            held += 1
    if parts:
        yield line, b"".join(parts)
