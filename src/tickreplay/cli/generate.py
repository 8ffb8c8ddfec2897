"""``tickreplay generate``: a synthetic sample day into the catalog or as a LOBSTER file pair."""

from __future__ import annotations

import argparse
import math
import re
from dataclasses import asdict
from pathlib import Path

from tickreplay.adapters.synthetic_regimes import REGIMES
from tickreplay.clock import parse_hms
from tickreplay.errors import AnomalyLog, ConfigError

DEFAULT_LEVELS = 10
_VENUE_NAME = re.compile(r"[A-Za-z0-9_]+")  # a venue name of --venue (part of a catalog folder name)
ACTIVITY_20M = 65  # --activity giving ~20 M messages for a full liquid_large_cap session (docs/generate.md)

EPILOG = f"""\
A benchmark day: `tickreplay generate --seed 1 --activity {ACTIVITY_20M} --levels 10 --lobster-dir DIR` writes a
full liquid_large_cap session of ~20 M messages (~1 M at --activity 3.2, ~2 M at 6.5) as a LOBSTER pair, in
bounded memory (the day is generated and written chunk by chunk). A catalog entry (--catalog) is streamed too:
tape row groups and book checkpoints, no per-event book. Figures: docs/generate.md.

Planted impact: `--metaorders N --planted-impact Y,DELTA,G0,BETA` adds a hidden trader's N parents and writes
desk_fills.parquet and metaorders.parquet beside the day (in the catalog entry, or beside the LOBSTER pair).

Correlated venues: `--seed 7 --venue A:seed=1 --venue B:seed=2,spread_ticks=3,depth_levels=10,activity=0.5`
writes one catalog entry per venue, all quoting around one latent price of the instrument (--regime, --seed):
keys synthetic-<NAME>-f<HASH>/<instrument symbol>/<date>, ready for [[venues]] catalog = "..." (docs/generate.md).
"""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("generate", help="generate a synthetic L3 sample day (catalog entry or LOBSTER files)",
                       epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--regime", default="liquid_large_cap", choices=sorted(REGIMES))
    p.add_argument("--seed", type=int, required=True)
    p.add_argument("--date", default="2024-01-02", help="trading date YYYY-MM-DD (default 2024-01-02)")
    p.add_argument("--symbol", help="a name put in front of the generated symbol (default: none; the symbol is "
                                    "REGIME[-xACTIVITY]-sSEED[-DURATIONs], see replay/README.md)")
    p.add_argument("--duration-s", type=float, help="generate only the first seconds of the session")
    p.add_argument("--activity", type=float, metavar="X",
                   help="multiply every event rate of the regime (order arrivals, market orders, cancels) by X > 0 "
                        "(default 1: the regime as it is); the symbol gets -xX")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--catalog", help="catalog root folder (default: $TICKREPLAY_CATALOG, else ./replay): writes "
                                         "<root>/synthetic/<symbol>/<date>/")
    where.add_argument("--lobster-dir", help="folder for a LOBSTER message/orderbook pair (instead of the catalog)")
    p.add_argument("--force", action="store_true", help="replace the catalog entry if it exists")
    p.add_argument("--levels", type=int, default=DEFAULT_LEVELS,
                   help=f"book levels in the orderbook file / catalog snapshots (default {DEFAULT_LEVELS})")
    p.add_argument("--venue", action="append", metavar="NAME[:REGIME][:KEY=VALUE,...]",
                   help="a venue of the instrument (repeat for each venue): its own order flow (seed=N required; "
                        "REGIME, activity=X, track=false and MarketParams fields such as spread_ticks, depth_levels, "
                        "size_median) on the latent price of --regime and --seed; one catalog entry per venue")
    pl = p.add_argument_group("planted impact (docs/generate.md)")
    pl.add_argument("--metaorders", type=int, default=0, metavar="N",
                    help="a hidden trader executes N parent orders in the day (needs --planted-impact)")
    pl.add_argument("--planted-impact", metavar="Y,DELTA,G0,BETA",
                    help="planted square-root law E[I] = Y*sigma_daily*(Q/V)^DELTA and propagator kernel "
                         "G(l) = G0/(1+l/lag0)^BETA (G0 in bps per trade); the symbol gets -mN-pHASH")
    pl.add_argument("--planted-lag0", type=float, default=1.0, metavar="TRADES",
                    help="lag scale of the planted kernel, trades (default 1)")
    pl.add_argument("--participation", type=float, default=0.1, metavar="P",
                    help="the hidden trader's share of the market's volume rate while a parent runs (default 0.1)")
    pl.add_argument("--metaorder-qv", default="0.0005,0.05", metavar="LO,HI",
                    help="parent sizes log-uniform in LO..HI of the daily volume V (default 0.0005,0.05)")
    p.set_defaults(func=_generate)


def _numbers(text: str, n: int, option: str, names: str) -> list[float]:
    """``n`` comma-separated numbers of ``option``, or an error naming it."""
    parts = text.split(",")
    try:
        values = [float(x) for x in parts]
    except ValueError:
        values = []
    if len(values) != n or not all(math.isfinite(v) for v in values):
        raise ConfigError(f"{option} {text!r}: expected {n} comma-separated numbers {names}")
    return values


def _planted(args: argparse.Namespace):
    """(PlantedImpact or None, HiddenTrader) from the options, with errors naming the option."""
    from tickreplay.adapters.metaorders import HiddenTrader, PlantedImpact

    if args.metaorders < 0:
        raise ConfigError(f"--metaorders {args.metaorders}: expected a non-negative number of parent orders")
    if args.planted_impact is None:
        if args.metaorders:
            raise ConfigError(f"--metaorders {args.metaorders} needs --planted-impact Y,DELTA,G0,BETA "
                              "(Y = 0 plants no square-root impact)")
        return None, HiddenTrader(0)
    y, delta, g0, beta = _numbers(args.planted_impact, 4, "--planted-impact", "Y,DELTA,G0,BETA")
    lo, hi = _numbers(args.metaorder_qv, 2, "--metaorder-qv", "LO,HI")
    try:
        planted = PlantedImpact(y, delta, g0, beta, lag0=args.planted_lag0)
    except ConfigError as e:
        option = "--planted-lag0" if "lag0" in str(e) else "--planted-impact"
        raise ConfigError(f"{option}: {e}") from None
    try:
        trader = HiddenTrader(args.metaorders, (lo, hi), args.participation)
    except ConfigError as e:
        option = "--participation" if "participation" in str(e) else "--metaorder-qv"
        raise ConfigError(f"{option}: {e}") from None
    return planted, trader


def _write_planted(day, folder: Path, prefix: str = "") -> list[Path]:
    """The hidden trader's fills and the truth per parent into ``folder`` (atomically); their paths."""
    import pyarrow.parquet as pq

    from tickreplay.adapters.metaorders import DESK_FILLS_FILE, METAORDERS_FILE
    from tickreplay.io import atomic_path

    paths = []
    for name, table in ((DESK_FILLS_FILE, day.desk_fills()), (METAORDERS_FILE, day.metaorders())):
        with atomic_path(folder / f"{prefix}{name}") as tmp:
            pq.write_table(table, tmp)
        paths.append(folder / f"{prefix}{name}")
    return paths


def _value(text: str) -> bool | int | float | str:
    """A ``--venue`` value: true/false, an integer, a number, else the text."""
    if text in ("true", "false"):
        return text == "true"
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def _venue_option(text: str) -> tuple[str, dict]:
    """``NAME[:REGIME][:KEY=VALUE,...]`` of ``--venue`` as (name, generator keys), errors naming the option."""
    name, *rest = text.split(":")
    table: dict = {}
    if rest and "=" not in rest[0]:
        table["regime"] = rest.pop(0)
    if not _VENUE_NAME.fullmatch(name) or len(rest) > 1:
        raise ConfigError(f"--venue {text!r}: expected NAME[:REGIME][:KEY=VALUE,...] with a NAME of letters, digits "
                          "and '_' (e.g. B:liquid_large_cap:seed=2,spread_ticks=3)")
    for item in rest[0].split(",") if rest else ():
        key, eq, value = item.partition("=")
        if not eq or not key:
            raise ConfigError(f"--venue {text!r}: {item!r} is not KEY=VALUE")
        if key in table:
            raise ConfigError(f"--venue {name}: key '{key}' given twice")
        table[key] = _value(value)
    return name, table


def _generate_venues(args: argparse.Namespace) -> int:
    """``--venue``: each venue's flow on one latent path of ``--regime``/``--seed``, one catalog entry each."""
    from tickreplay.adapters.latent import LatentPath, venue_day
    from tickreplay.catalog import Catalog, EntryExistsError
    from tickreplay.tape import Tape
    from tickreplay.venues.generate import check_generators, venue_generator

    for option, given in (("--lobster-dir", args.lobster_dir is not None), ("--activity", args.activity is not None),
                          ("--symbol", args.symbol is not None), ("--planted-impact", args.planted_impact is not None),
                          ("--metaorders", args.metaorders != 0)):  # given at all, even 0 or "" (0: its default)
        if given:
            raise ConfigError(f"{option} with --venue: " + {
                "--lobster-dir": "the venues are written to the catalog (--catalog), one entry per venue",
                "--activity": "give each venue its own activity (--venue NAME:activity=X,...)",
                "--symbol": "the venues share the instrument's generated symbol",
            }.get(option, "planted impact moves one day's price; venues share a latent price that cannot respond "
                          "to one venue's trades"))
    gens = {}
    for text in args.venue:
        name, table = _venue_option(text)
        if name in gens:
            raise ConfigError(f"--venue {name}: venue {name!r} is given twice")
        gens[name] = venue_generator(table, lambda k, name=name: f"--venue {name}: key '{k}'")
    check_generators(gens, args.regime, lambda name, k: f"--venue {name}" + (f": key '{k}'" if k else ""))
    path = LatentPath(args.regime, args.seed)
    flows = {name: g.flow(args.regime) for name, g in gens.items()}
    catalog = Catalog(args.catalog)
    days = {}
    for name, flow in flows.items():
        day, instrument, meta = venue_day(path, name, flow, args.date, args.duration_s)
        source = f"synthetic-{name}-f{flow.tag()}"
        if not args.force and catalog.exists(source, instrument.symbol, instrument.date):
            raise EntryExistsError(f"{source}/{instrument.symbol}/{instrument.date}",
                                   catalog.entry(source, instrument.symbol, instrument.date).path)
        days[name] = (source, day, instrument, meta)
    for name, (source, day, instrument, meta) in days.items():
        events = 0
        with catalog.writer(source, instrument, meta, snapshot_levels=args.levels, force=args.force) as w:
            for chunk in day.chunks(progress=True):
                w.write(Tape.from_columns(instrument, extra_meta=meta, **chunk))
                events += len(chunk["ts_ns"])
            w.report = {"regime": args.regime, "seed": args.seed, "venue": name, "flow": gens[name].describe(),
                        "duration_s": day.duration_s, "events": events, "params": asdict(day.params),
                        "anomalies": AnomalyLog().to_dict()}
        print(f"wrote {w.entry.key} ({w.entry.path}): venue {name}, {events:,} events")
    print(f"  {len(days)} venues of {instrument.symbol} on one latent price: [[venues]] catalog = \"<key>\"")
    return 0


def _generate(args: argparse.Namespace) -> int:
    from tickreplay.adapters.lobster_writer import LobsterWriter, lobster_file_names
    from tickreplay.adapters.synthetic import DayGenerator, synthetic_key
    from tickreplay.catalog import Catalog, EntryExistsError
    from tickreplay.tape import Tape

    if args.levels < 1:
        raise ConfigError(f"--levels {args.levels}: expected at least 1")
    if args.venue:
        return _generate_venues(args)
    if args.activity is not None and not (math.isfinite(args.activity) and args.activity > 0):
        raise ConfigError(f"--activity {args.activity:g}: expected a positive number (it multiplies the regime's "
                          "event rates; 1 is the regime as it is)")
    planted, trader = _planted(args)
    key = synthetic_key(args.regime, args.seed, args.date, args.duration_s, args.symbol, args.activity,
                        planted, trader)
    catalog = None if args.lobster_dir else Catalog(args.catalog)
    if catalog is not None and not args.force:
        source, symbol, date = key.split("/")
        if catalog.exists(source, symbol, date):  # refuse before spending the time to generate
            raise EntryExistsError(key, catalog.entry(source, symbol, date).path)
    day = DayGenerator(args.regime, args.seed, date=args.date, symbol=args.symbol, duration_s=args.duration_s,
                       activity=args.activity, planted=planted, metaorders=trader)
    if catalog is not None:  # streamed: memory follows the chunk and the resting book, not the day
        events = 0
        with catalog.writer("synthetic", day.instrument, day.meta, snapshot_levels=args.levels,
                            force=args.force) as w:
            for chunk in day.chunks(progress=True):
                w.write(Tape.from_columns(day.instrument, extra_meta=day.meta, **chunk))
                events += len(chunk["ts_ns"])
            w.report = {"regime": args.regime, "seed": args.seed, "duration_s": day.duration_s, "events": events,
                        "params": asdict(REGIMES[args.regime]), "anomalies": AnomalyLog().to_dict()}
            if args.activity is not None:
                w.report["activity"] = day.activity
            if planted is not None:
                w.report["planted"] = day.meta["planted"]
                _write_planted(day, w.folder)  # they appear with the entry
        print(f"wrote {w.entry.key} ({w.entry.path}): {events:,} events; top-{args.levels} book rebuilt on reading")
        if planted is not None:
            print(f"  with {trader.n} planted metaorders: desk_fills.parquet and metaorders.parquet in the entry")
        return 0
    start_s = round(parse_hms(day.params.session_start, "session_start"))
    end_s = start_s + round(day.duration_s)
    msg_name, book_name = lobster_file_names(day.instrument, args.levels, start_s, end_s)
    out = Path(args.lobster_dir)
    with LobsterWriter(out / msg_name, out / book_name, args.levels, day.instrument, day.price_bounds()) as writer:
        for chunk in day.chunks(progress=True):
            writer.write(**chunk)
    print(f"wrote {out / msg_name} and {book_name}: {writer.rows:,} messages, {args.levels} levels")
    if planted is not None:
        day.key = f"lobster/{day.instrument.symbol}/{day.instrument.date}"  # the key `data ingest lobster` gives
        paths = _write_planted(day, out, f"{day.instrument.symbol}_{day.instrument.date}_")
        print(f"  with {trader.n} planted metaorders: {paths[0].name} and {paths[1].name}")
    return 0
