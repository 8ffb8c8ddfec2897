"""Databento Binary Encoding (DBN) files → numpy record arrays, decoded by the official ``databento-dbn``.

:func:`read_mbo` checks the zstd framing (a truncated file is an error naming
the byte where it ends: the decoder itself stops silently at a cut frame), feeds the
file to :class:`databento_dbn.DBNDecoder` in chunks, checks the metadata's
schema, and turns the decoded MBO records into one structured array through
their canonical 56-byte form (``bytes(record)``, DBN version 3 ``MboMsg``:
:data:`MBO_DTYPE`). :func:`read_definitions` reads an instrument-definition
file. Plain (uncompressed) DBN is accepted too.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tickreplay.errors import InputError

#: DBN ``MboMsg`` (record header + body), little-endian, 56 bytes; names as in DBN
MBO_DTYPE = np.dtype([
    ("length", "u1"), ("rtype", "u1"), ("publisher_id", "<u2"), ("instrument_id", "<u4"), ("ts_event", "<u8"),
    ("order_id", "<u8"), ("price", "<i8"), ("size", "<u4"), ("flags", "u1"), ("channel_id", "u1"),
    ("action", "u1"), ("side", "u1"), ("ts_recv", "<u8"), ("ts_in_delta", "<i4"), ("sequence", "<u4"),
])
RTYPE_MBO = 160
_MBO_WORDS = MBO_DTYPE.itemsize // 4  # DBN record length is counted in 4-byte words
CHUNK_BYTES = 1 << 20  # compressed bytes fed to the decoder at a time

_ZSTD_MAGIC = 0xFD2FB528
_SKIPPABLE = range(0x184D2A50, 0x184D2A60)
_DBN_MAGIC = b"DBN"


def _zstd_problem(path: Path) -> str | None:
    """Walk the zstd frames of ``path`` by their block headers (no decompression); what is wrong, or None.

    A frame is complete when its last block and, if the frame has one, its
    4-byte checksum are all in the file.
    """
    size = path.stat().st_size
    with open(path, "rb") as f:
        def read(pos: int, n: int) -> bytes:
            f.seek(pos)
            return f.read(n)

        pos = 0
        while pos < size:
            head = read(pos, 4)
            if len(head) < 4:
                return f"truncated: {size - pos} stray bytes after the last zstd frame"
            magic = int.from_bytes(head, "little")
            if magic in _SKIPPABLE:
                skip = int.from_bytes(read(pos + 4, 4), "little")
                pos += 8 + skip
                continue
            if magic != _ZSTD_MAGIC:
                return f"not a zstd frame at byte {pos} (magic {head.hex()})"
            fhd = read(pos + 4, 1)
            if not fhd:
                return f"truncated: the zstd frame at byte {pos} ends in its header"
            d = fhd[0]
            single = (d >> 5) & 1
            pos += 5 + (0 if single else 1) + (0, 1, 2, 4)[d & 3] + ((1 if single else 0), 2, 4, 8)[d >> 6]
            while True:
                bh = read(pos, 3)
                if len(bh) < 3:
                    return f"truncated: the zstd frame ends at byte {size} without its last block"
                h = int.from_bytes(bh, "little")
                btype = (h >> 1) & 3
                if btype == 3:
                    return f"corrupt zstd block header at byte {pos}"
                pos += 3 + (1 if btype == 1 else h >> 3)
                if pos > size:
                    return f"truncated: a zstd block runs past the end of the file ({size} bytes)"
                if h & 1:
                    break
            if (d >> 2) & 1:
                pos += 4
                if pos > size:
                    return f"truncated: the zstd frame ends at byte {size} without its checksum"
    return None


def _compression(path: Path):
    import databento_dbn as dbn

    with open(path, "rb") as f:
        head = f.read(4)
    if head[:3] == _DBN_MAGIC:
        return dbn.Compression.NONE
    if len(head) == 4 and int.from_bytes(head, "little") == _ZSTD_MAGIC:
        problem = _zstd_problem(path)
        if problem:
            raise InputError(str(path), None, "zstd", problem, "truncated")
        return dbn.Compression.ZSTD
    raise InputError(str(path), None, None, f"not a DBN file (starts with {head.hex() or 'nothing'}; expected "
                     "zstd-compressed or plain Databento Binary Encoding)", "not_dbn")


def _decode(path: Path):
    """Yield the metadata, then lists of decoded records, chunk by chunk."""
    import databento_dbn as dbn

    dec = dbn.DBNDecoder(compression=_compression(path))
    have_meta, count = False, 0
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK_BYTES):
            try:
                recs = dec.write_and_decode(chunk)
            except Exception as exc:  # the decoder raises RuntimeError/DBNError/ValueError with its own text
                raise InputError(str(path), count + 1 if have_meta else None, None,
                                 f"DBN decoding failed after {count} records: {exc}", "corrupt") from None
            if not have_meta and recs:
                if not isinstance(recs[0], dbn.Metadata):  # pragma: no cover - the decoder reads the header first
                    raise InputError(str(path), None, "metadata", "no DBN metadata header", "not_dbn")
                have_meta = True
                yield recs[0]
                recs = recs[1:]
            if recs:
                yield recs
                count += len(recs)
    if not have_meta:
        raise InputError(str(path), None, "metadata", "truncated or empty: no complete DBN metadata header",
                         "truncated")
    left = len(dec.buffer())
    if left:
        raise InputError(str(path), count + 1, None,
                         f"truncated: the file ends inside record {count + 1} ({left} bytes of it)", "truncated")


def _schema_name(metadata) -> str:
    return str(metadata.schema) if metadata.schema is not None else "mixed (no schema)"


@dataclass
class MboFile:
    """A decoded MBO file: its metadata (``databento_dbn.Metadata``) and records (:data:`MBO_DTYPE`)."""

    path: str
    metadata: object
    records: np.ndarray


def read_mbo(path: str | Path) -> MboFile:
    """Decode an MBO file; errors name the file (and the record, 1-based, where one is at fault)."""
    import databento_dbn as dbn

    path = Path(path)
    if not path.is_file():
        raise InputError(str(path), None, None, "no such file", "missing")
    parts = _decode(path)
    metadata = next(parts)
    if metadata.schema != dbn.Schema.MBO:
        raise InputError(str(path), None, "schema", f"schema is {_schema_name(metadata)}, expected mbo "
                         "(market by order): this adapter replays order-by-order data only", "wrong_schema")
    if metadata.ts_out:
        raise InputError(str(path), None, "ts_out", "records carry a gateway send time (ts_out); "
                         "re-export without it", "wrong_schema")
    arrays, n = [], 0
    for recs in parts:
        for j, r in enumerate(recs):
            if not isinstance(r, dbn.MBOMsg):
                raise InputError(str(path), n + j + 1, "rtype", f"a {type(r).__name__} record in an MBO file",
                                 "wrong_schema")
        arr = np.frombuffer(b"".join(map(bytes, recs)), MBO_DTYPE)
        bad = np.flatnonzero((arr["rtype"] != RTYPE_MBO) | (arr["length"] != _MBO_WORDS))
        if len(bad):  # pragma: no cover - the decoder upgrades every MBO record to this layout
            raise InputError(str(path), n + int(bad[0]) + 1, "length", "record is not a 56-byte DBN v3 MboMsg",
                             "wrong_schema")
        arrays.append(arr)
        n += len(arr)
    records = np.concatenate(arrays) if arrays else np.zeros(0, MBO_DTYPE)
    return MboFile(str(path), metadata, records)


@dataclass(frozen=True)
class Definition:
    """What an instrument definition says about the integers: tick and multiplier in DBN's 1e-9 units."""

    instrument_id: int
    symbol: str
    exchange: str
    currency: str
    tick_1e9: int  # min_price_increment
    multiplier_1e9: int  # unit_of_measure_qty (contract size: ES 50 index points)
    ts_recv: int


def read_definitions(path: str | Path) -> list[Definition]:
    """Every instrument definition record of a definition-schema DBN file, in file order."""
    import databento_dbn as dbn

    path = Path(path)
    if not path.is_file():
        raise InputError(str(path), None, None, "no such file", "missing")
    parts = _decode(path)
    metadata = next(parts)
    if metadata.schema != dbn.Schema.DEFINITION:
        raise InputError(str(path), None, "schema", f"schema is {_schema_name(metadata)}, expected definition",
                         "wrong_schema")
    out, n = [], 0
    for recs in parts:
        for r in recs:
            n += 1
            if not isinstance(r, (dbn.InstrumentDefMsg, dbn.InstrumentDefMsgV1, dbn.InstrumentDefMsgV2)):
                raise InputError(str(path), n, "rtype", f"a {type(r).__name__} record in a definition file",
                                 "wrong_schema")
            out.append(Definition(int(r.instrument_id), str(r.raw_symbol), str(r.exchange), str(r.currency),
                                  int(r.min_price_increment), int(r.unit_of_measure_qty), int(r.ts_recv)))
    return out
