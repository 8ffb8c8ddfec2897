"""``tickreplay ingest`` and ``tickreplay verify``: raw files → catalog, and checks against oracles."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    ing = sub.add_parser("ingest", help="read raw tick data into the replay/ catalog")
    ing_sub = ing.add_subparsers(dest="source", required=True, metavar="SOURCE")

    p = ing_sub.add_parser("lobster", help="a LOBSTER message/orderbook file pair")
    p.add_argument("message_csv")
    p.add_argument("orderbook_csv")
    p.add_argument("--symbol", help="default: from the file name")
    p.add_argument("--date", help="trading date YYYY-MM-DD; default: from the file name")
    _common(p)
    p.set_defaults(func=_ingest_lobster)

    p = ing_sub.add_parser("binance", help="raw Binance futures websocket capture(s), one stream")
    p.add_argument("files", nargs="+", help="gzip capture files; consecutive files are read as one stream")
    p.add_argument("--symbol")
    p.add_argument("--tick", help="price tick as a decimal string, e.g. 0.1 (default: inferred)")
    p.add_argument("--lot", help="quantity lot as a decimal string, e.g. 0.001 (default: inferred)")
    p.add_argument("--levels", type=int, default=20, help="book depth (top-N levels) runs see; rebuilt from the tape on reading, not stored per event (default 20)")
    _common(p)
    p.set_defaults(func=_ingest_binance)

    p = ing_sub.add_parser("dbn", help="a Databento MBO file (DBN, .dbn.zst), one instrument")
    _dbn_args(p)
    p.add_argument("--levels", type=int, default=10, help="book depth (top-N levels) runs see; rebuilt from the tape on reading, not stored per event (default 10)")
    _common(p)
    p.set_defaults(func=_ingest_dbn)

    ver = sub.add_parser("verify", help="replay raw data and compare with the oracles it contains")
    ver_sub = ver.add_subparsers(dest="source", required=True, metavar="SOURCE")
    p = ver_sub.add_parser("lobster", help="replay a LOBSTER pair and compare every orderbook row (holds the whole "
                                        "tape and its top-N book per event in memory: over 10 GB for a 20 M-message "
                                        "day at 10 levels; ingest streams)")
    p.add_argument("message_csv")
    p.add_argument("orderbook_csv")
    p.add_argument("--symbol", help="default: from the file name")
    p.add_argument("--date", help="trading date YYYY-MM-DD; default: from the file name")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--lenient", action="store_true", help="count bad rows instead of stopping at the first")
    p.set_defaults(func=_verify_lobster)
    p = ver_sub.add_parser("binance", help="replay a Binance capture and check bookTicker agreement")
    p.add_argument("files", nargs="+")
    p.add_argument("--tick")
    p.add_argument("--lot")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--lenient", action="store_true", help="count bad lines instead of stopping at the first")
    p.set_defaults(func=_verify_binance)
    p = ver_sub.add_parser("dbn", help="replay a Databento MBO file; check the book after every F_LAST record")
    _dbn_args(p)
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=_verify_dbn)


def _dbn_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("file", help="MBO file (.dbn.zst or .dbn)")
    p.add_argument("--definitions", help="instrument definitions (DBN definition schema): tick, multiplier, symbol")
    p.add_argument("--instrument-id", type=int, help="the instrument to read (required when the file has several)")
    p.add_argument("--tick-size", help="price tick as a decimal string, e.g. 0.25 (without --definitions)")
    p.add_argument("--multiplier", help="contract multiplier as a decimal string, e.g. 50 (without --definitions)")


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--catalog", help="catalog root folder (default: $TICKREPLAY_CATALOG, else ./replay)")
    p.add_argument("--force", action="store_true", help="replace the catalog entry if it exists")
    p.add_argument("--lenient", action="store_true", help="count bad rows instead of stopping at the first")


def _print_result(out: dict, as_json: bool) -> None:
    if as_json:
        from tickreplay.io import json_text

        print(json_text(out, sort_keys=True))
        return
    width = max(len(k) for k in out)
    for k, v in out.items():
        if isinstance(v, dict):
            v = ", ".join(f"{a}={b}" for a, b in v.items()) or "-"
        print(f"{k:<{width}}  {v}")


def _store(source: str, res, args: argparse.Namespace) -> int:
    """Write an adapter's in-memory result through the catalog's streaming writer (refusing to replace an
    entry unless ``--force``)."""
    from tickreplay.catalog import Catalog

    entry = Catalog(args.catalog).write(source, res.tape, res.snapshots,
                                        {**res.report, "anomalies": res.anomalies.to_dict()}, force=args.force)
    _wrote(entry, len(res.tape), res.snapshots.levels if res.snapshots is not None else None, res.anomalies)
    return 0


def _wrote(entry, events: int, levels: int | None, anomalies) -> None:
    print(f"wrote {entry.key} ({entry.path}): {events:,} events"
          + (f", top-{levels} book rebuilt from checkpoints on read" if levels else ""))
    print(f"anomalies: {anomalies.summary()}")


def _ingest_lobster(args: argparse.Namespace) -> int:
    """Stream the pair into the catalog: memory bounded by a chunk and the orders in use."""
    from tickreplay.adapters.lobster import ingest_lobster
    from tickreplay.catalog import Catalog

    entry, report, log = ingest_lobster(args.message_csv, args.orderbook_csv, Catalog(args.catalog),
                                        symbol=args.symbol, date=args.date, strict=not args.lenient,
                                        force=args.force)
    _wrote(entry, report["events"], report["levels"], log)
    return 0


def _ingest_binance(args: argparse.Namespace) -> int:
    """Stream the capture into the catalog chunk by chunk; the instrument as known at the end (its
    ``levels`` can grow on a deeper resync snapshot) goes into the tape's metadata."""
    from contextlib import ExitStack

    from tickreplay.adapters.binance_stream import BinanceStream
    from tickreplay.catalog import Catalog
    from tickreplay.errors import InputError, TickreplayError

    if args.levels <= 0:
        raise TickreplayError(f"--levels must be positive, got {args.levels}")
    stream = BinanceStream(args.files, args.symbol, args.tick, args.lot, not args.lenient)
    catalog = Catalog(args.catalog)
    with ExitStack() as stack:
        w = None
        for chunk in stream:
            if w is None:  # the entry's name is known with the first chunk
                w = stack.enter_context(catalog.writer("binance", chunk.tape.instrument, stream.extra_meta,
                                                       snapshot_levels=args.levels, force=args.force))
            w.write(chunk.tape)
        if w is None:
            raise InputError(str(args.files[0]), None, None, "no tape events in the capture", "empty_file")
        w.instrument, w.extra_meta = stream.instrument, stream.extra_meta
        w.report = {**stream.report, "anomalies": stream.anomalies.to_dict()}
    _wrote(w.entry, w.events, args.levels, stream.anomalies)
    return 0


def _ingest_dbn(args: argparse.Namespace) -> int:
    """The adapter returns the whole day; it is written through the same streaming writer."""
    from tickreplay.adapters.dbn import read_dbn

    res = read_dbn(args.file, definitions=args.definitions, instrument_id=args.instrument_id,
                   tick_size=args.tick_size, multiplier=args.multiplier, levels=args.levels, strict=not args.lenient)
    return _store("dbn", res, args)


def _verify_lobster(args: argparse.Namespace) -> int:
    from tickreplay.adapters.lobster import verify_lobster

    out = verify_lobster(args.message_csv, args.orderbook_csv, strict=not args.lenient,
                         symbol=args.symbol, date=args.date)
    _print_result(out, args.json)
    return 0 if out["rows_identical"] == out["rows"] else 1


def _verify_binance(args: argparse.Namespace) -> int:
    from tickreplay.adapters.binance import verify_binance

    out = verify_binance(args.files, tick=args.tick, lot=args.lot, strict=not args.lenient)
    _print_result(out, args.json)
    return 0 if out["ticker_agree"] == out["ticker_checks"] else 1


def _verify_dbn(args: argparse.Namespace) -> int:
    from tickreplay.adapters.dbn import verify_dbn

    out = verify_dbn(args.file, definitions=args.definitions, instrument_id=args.instrument_id,
                     tick_size=args.tick_size, multiplier=args.multiplier)
    _print_result(out, args.json)
    return 0 if out["crossed_after_last"] == 0 and out["negative_sizes"] == 0 and not out["anomalies"] else 1
