"""``tickreplay schedule``: Almgren–Chriss trajectories and TWAP / VWAP / POV child-order lists.

``--start``/``--end`` take int ns UTC, an ISO time with its offset, or the
instrument's local clock time ``HH:MM[:SS]`` on a date in a time zone:
``pov`` takes both from its catalog entry; ``vwap`` takes the zone from its
entries and the date from ``--date`` (default: the date of its one entry);
``twap`` reads no data, so a local time needs ``--date`` and ``--timezone``.
"""

from __future__ import annotations

import argparse
from dataclasses import asdict
from datetime import date as Date
from typing import TYPE_CHECKING

from tickreplay.clock import flag_time_ns
from tickreplay.errors import ConfigError
from tickreplay.styles import STYLES
from tickreplay.io import json_text

if TYPE_CHECKING:
    from tickreplay.tape import Tape


def register(sub: argparse._SubParsersAction) -> None:
    sch = sub.add_parser("schedule", help="optimal trajectories and child-order schedules")
    kinds = sch.add_subparsers(dest="kind", required=True, metavar="KIND")

    p = kinds.add_parser("almgren-chriss", help="Almgren-Chriss optimal trajectory, its E and V")
    p.add_argument("--quantity", "--shares", dest="quantity", type=float, required=True,
                   help="X, shares to trade; --shares is an alias of --quantity")
    p.add_argument("--days", type=float, required=True, help="T, horizon in days")
    p.add_argument("--periods", type=int, required=True, help="N, number of periods")
    p.add_argument("--sigma", type=float, required=True, help="volatility, $/share/day^0.5")
    p.add_argument("--eta", type=float, help="temporary impact, $ day/share^2 (required unless --calibration)")
    p.add_argument("--gamma", type=float, help="permanent impact, $/share^2 (default 0, or from --calibration)")
    p.add_argument("--calibration", metavar="FILE",
                   help="eta and gamma from an almgren-chriss calibration file (tickreplay calibrate almgren-chriss)")
    p.add_argument("--epsilon", type=float, default=0.0, help="fixed cost, $/share")
    p.add_argument("--risk-aversion", type=float, default=0.0, help="lambda, 1/$")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=_almgren_chriss)

    p = kinds.add_parser("twap", help="TWAP child orders")
    _parent_args(p)
    p.add_argument("--date", help="trading date YYYY-MM-DD of local --start/--end (needs --timezone)")
    p.add_argument("--timezone", help="IANA time zone of local --start/--end, e.g. America/New_York")
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--children", type=int, help="number of child orders")
    g.add_argument("--interval-seconds", type=float, help="one child per this much tradable time")
    p.set_defaults(func=_twap)

    p = kinds.add_parser("vwap", help="VWAP child orders against a volume profile from catalog entries")
    _parent_args(p)
    p.add_argument("--from-catalog", nargs="+", required=True, metavar="KEY", help="entries for the volume profile")
    p.add_argument("--catalog", help="catalog root (default: $TICKREPLAY_CATALOG, else ./replay)")
    p.add_argument("--bin-minutes", type=float, default=30.0, help="profile bin (default 30)")
    p.add_argument("--date", help="trading date YYYY-MM-DD of local --start/--end, in the entries' time zone "
                                  "(default: the date of the one --from-catalog entry)")
    p.set_defaults(func=_vwap)

    p = kinds.add_parser("pov", help="POV child orders against one catalog day's realised volume")
    _parent_args(p)
    p.add_argument("--from-catalog", required=True, metavar="KEY", help="entry whose trades are the market volume")
    p.add_argument("--catalog", help="catalog root (default: $TICKREPLAY_CATALOG, else ./replay)")
    p.add_argument("--target-pct", type=float, required=True, help="target participation, %%")
    p.add_argument("--min-child", type=int, required=True)
    p.add_argument("--max-child", type=int, required=True)
    p.set_defaults(func=_pov)


def _parent_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--side", required=True, choices=("buy", "sell"))
    p.add_argument("--quantity", type=int, required=True, help="parent quantity, size units")
    p.add_argument("--start", required=True, help="local time HH:MM[:SS] of the instrument, ns UTC, "
                                                   "or an ISO time with its offset (2012-06-21T09:30-04:00)")
    p.add_argument("--end", required=True, help="as --start")
    p.add_argument("--style", default="market", choices=STYLES)
    p.add_argument("--offset-ticks", type=int, default=0, help="for limit_offset")
    p.add_argument("--lot-size", type=int, default=1)
    p.add_argument("--no-trade-open-min", type=float, default=0.0, help="no child in the first minutes after --start")
    p.add_argument("--no-trade-close-min", type=float, default=0.0, help="no child in the last minutes before --end")
    p.add_argument("--json", action="store_true", help="print one JSON object")


def _parent(args: argparse.Namespace, day: str | Date | None, timezone: str | None,
            missing: str = "--date and --timezone"):
    """The parent order and its no-trade windows; local times resolve on ``day`` in ``timezone``."""
    from tickreplay.schedule.base import ParentOrder, open_close_windows

    parent = ParentOrder(args.side, args.quantity, flag_time_ns("--start", args.start, day, timezone, missing),
                         flag_time_ns("--end", args.end, day, timezone, missing))
    windows = open_close_windows(parent.start_ns, parent.end_ns, round(args.no_trade_open_min * 60e9),
                                 round(args.no_trade_close_min * 60e9))
    return parent, windows


def _catalog_clock(tapes: list[Tape], date: str | None) -> tuple[str | Date | None, str]:
    """(date, time zone) for local times from catalog tapes: the zone is the instrument's, the date ``--date``
    or, with one tape, its trading date."""
    from tickreplay.clock import trading_date

    zones = {t.instrument.timezone for t in tapes}
    if len(zones) > 1:
        raise ConfigError(f"--from-catalog entries are in different time zones {sorted(zones)}")
    if date is not None:
        return trading_date(date, "--date"), zones.pop()
    return (tapes[0].instrument.date if len(tapes) == 1 else None), zones.pop()


def _print_children(children, as_json: bool, extra: dict | None = None, timezone: str | None = None) -> None:
    """The children as JSON or one line each, times in ISO with their offset (the instrument's zone when known)."""
    import pandas as pd

    total = sum(c.quantity for c in children)
    if as_json:
        print(json_text({"children": [asdict(c) for c in children], "total": total, **(extra or {})}))
        return
    for c in children:
        when = pd.Timestamp(c.time_ns, unit="ns", tz="UTC").tz_convert(timezone or "UTC").isoformat()
        off = f" offset {c.offset_ticks} ticks" if c.style == "limit_offset" else ""
        print(f"{c.index:>5}  {when}  {c.quantity:>10,}  {c.style}{off}")
    print(f"{len(children)} child orders, total {total:,}" +
          "".join(f", {k} {v:,}" for k, v in (extra or {}).items()))


def _ac_coefficients(args: argparse.Namespace) -> tuple[float, float, dict | None]:
    """(eta, gamma, calibration summary or None) from --eta/--gamma or --calibration (not both)."""
    if args.calibration is None:
        if args.eta is None:
            raise ConfigError("--eta is required (or --calibration FILE from tickreplay calibrate almgren-chriss)")
        return args.eta, 0.0 if args.gamma is None else args.gamma, None
    typed = [f for f, v in (("--eta", args.eta), ("--gamma", args.gamma)) if v is not None]
    if typed:
        raise ConfigError(f"{', '.join(typed)} and --calibration both give the coefficients: give one")
    from tickreplay.impact.calibration import ac_coefficients, read_calibration

    cal = read_calibration(args.calibration, kind="almgren-chriss")
    eta, gamma = ac_coefficients(cal, args.calibration)
    return eta, gamma, {"file": str(args.calibration), "params": cal.params,
                                                    "intervals": {k: list(v) for k, v in cal.intervals.items()}}


def _almgren_chriss(args: argparse.Namespace) -> int:
    from tickreplay.impact.almgren_chriss import ACParams, solve

    eta, gamma, calibration = _ac_coefficients(args)
    sol = solve(ACParams(shares=args.quantity, days=args.days, periods=args.periods, sigma=args.sigma, eta=eta,
                         gamma=gamma, epsilon=args.epsilon, risk_aversion=args.risk_aversion))
    out = sol.to_dict()
    if calibration is not None:
        out["calibration"] = calibration
    if args.json:
        print(json_text(out))
        return 0
    if calibration is not None:
        print(f"eta {eta:.6g}, gamma {gamma:.6g} from {calibration['file']}")
    print(f"kappa          {sol.kappa:.6f} per day")
    print(f"expected_cost  {sol.expected_cost:,.2f}")
    print(f"variance       {sol.variance:.6g}  (std {sol.variance ** 0.5:,.2f})")
    print(f"{'period':>6}  {'t (days)':>9}  {'holdings':>14}  {'trade':>14}")
    tau = args.days / args.periods
    for k, x in enumerate(sol.holdings):
        trade = f"{sol.trades[k - 1]:>14,.1f}" if k else f"{'':>14}"
        print(f"{k:>6}  {k * tau:>9.4g}  {x:>14,.1f}  {trade}")
    return 0


def _twap(args: argparse.Namespace) -> int:
    from tickreplay.clock import trading_date
    from tickreplay.schedule.twap import twap

    if (args.date is None) != (args.timezone is None):
        raise ConfigError("--date and --timezone go together (the trading date and zone of local --start/--end)")
    day = None if args.date is None else trading_date(args.date, "--date")
    if args.timezone is not None:
        _check_zone(args.timezone)
    parent, windows = _parent(args, day, args.timezone)
    interval = None if args.interval_seconds is None else round(args.interval_seconds * 1e9)
    _print_children(twap(parent, n_children=args.children, interval_ns=interval, style=args.style,
                         lot_size=args.lot_size, no_trade=windows, offset_ticks=args.offset_ticks), args.json,
                    timezone=args.timezone)
    return 0


def _check_zone(name: str) -> None:
    """ConfigError naming --timezone unless ``name`` is an IANA time zone."""
    from zoneinfo import ZoneInfo

    try:
        ZoneInfo(name)
    except (ValueError, KeyError):  # ZoneInfoNotFoundError is a KeyError
        raise ConfigError(f"--timezone {name!r}: not an IANA time zone (e.g. America/New_York)") from None


def _vwap(args: argparse.Namespace) -> int:
    from tickreplay.catalog import Catalog
    from tickreplay.market.profile import estimate_volume_profile
    from tickreplay.schedule.vwap import vwap

    cat = Catalog(args.catalog)
    tapes = [cat.find(k).read_tape() for k in args.from_catalog]
    day, zone = _catalog_clock(tapes, args.date)
    parent, windows = _parent(args, day, zone, f"--date (the {len(tapes)} --from-catalog entries are different days)")
    profile = estimate_volume_profile(tapes, bin_ns=round(args.bin_minutes * 60e9))
    children = vwap(parent, profile, style=args.style, lot_size=args.lot_size, no_trade=windows,
                    offset_ticks=args.offset_ticks)
    _print_children(children, args.json, {"profile_days": profile.days_used}, timezone=zone)
    return 0


def _pov(args: argparse.Namespace) -> int:
    from tickreplay.catalog import Catalog
    from tickreplay.checks import percent
    from tickreplay.schedule.pov import pov_schedule
    from tickreplay.market.profile import trades

    tape = Catalog(args.catalog).find(args.from_catalog).read_tape()
    day, zone = _catalog_clock([tape], None)
    parent, windows = _parent(args, day, zone)
    ts, size = trades(tape)
    children, unsent = pov_schedule(parent, percent("target_pct", args.target_pct), args.min_child, args.max_child,
                                    ts, size, style=args.style, lot_size=args.lot_size, no_trade=windows,
                                    offset_ticks=args.offset_ticks)
    _print_children(children, args.json, {"unsent": unsent}, timezone=zone)
    return 0
