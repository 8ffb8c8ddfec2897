"""Local clock time of an instrument's day ↔ int64 ns since the UTC epoch.

One parser for the times users write (``"HH:MM[:SS[.fff]]"`` on the
instrument's trading date in its time zone) and one way back for figures and
console output. A wall-clock time the clocks skip or repeat on a DST change
day is an error naming where it was written: give int ns UTC instead.
"""

from __future__ import annotations

from datetime import date as Date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from tickreplay.errors import ConfigError

NS_PER_S = 1_000_000_000

#: a time as written: "HH:MM:SS[.fff]" local time on the data's date, or int ns UTC
TimeSpec = str | int


def parse_hms(text: str, where: str = "time") -> float:
    """Seconds after local midnight of ``"HH:MM[:SS[.fff]]"``; ``"24:00"`` is the day's end.

    ``where`` names the value in the error (``"scenario key 'parent.start'"``, ``"--start"``).
    """
    parts = text.split(":") if isinstance(text, str) else []
    try:
        if len(parts) not in (2, 3):
            raise ValueError
        h, m = int(parts[0]), int(parts[1])
        s = float(parts[2]) if len(parts) == 3 else 0.0
        if not (0 <= h <= 24 and 0 <= m < 60 and 0 <= s < 60) or (h == 24 and (m or s)):
            raise ValueError  # "24:00" (the day's end) is the only time past 23:59:59
    except ValueError:
        raise ConfigError(f"{where}: expected \"HH:MM:SS\" local time, got {text!r}") from None
    return h * 3600 + m * 60 + s


def trading_date(day: str | Date, where: str = "date") -> Date:
    """``day`` as a date; ConfigError naming ``where`` unless it is ISO ``YYYY-MM-DD``."""
    if isinstance(day, Date):
        return day
    try:
        return Date.fromisoformat(day)
    except (TypeError, ValueError):
        raise ConfigError(f"{where} = {day!r}: expected YYYY-MM-DD") from None


def local_midnight_ns(day: str | Date, timezone: str) -> int:
    """ns UTC of 00:00 local time on ``day`` in ``timezone``."""
    d = trading_date(day)
    return int(datetime.combine(d, time(0), ZoneInfo(timezone)).timestamp()) * NS_PER_S


def local_date(ts_ns: int, timezone: str) -> Date:
    """The local calendar date of the instant ``ts_ns`` in ``timezone``."""
    return datetime.fromtimestamp(ts_ns // NS_PER_S, ZoneInfo(timezone)).date()


def resolve_time(spec: TimeSpec, day: str | Date, timezone: str, where: str = "time") -> int:
    """ns UTC of a written time: int ns as is; ``"HH:MM:SS"`` on local ``day`` in ``timezone``.

    ``where`` names the value in errors: a scenario key path (``"parent.start"``,
    reported as ``scenario key 'parent.start'``) or a command-line flag (``"--start"``).
    """
    if isinstance(spec, int) and not isinstance(spec, bool):
        return spec
    label = where if where.startswith("-") else f"scenario key '{where}'"
    secs = parse_hms(spec, label)
    whole = int(secs)
    d = trading_date(day)
    wall = datetime.combine(d, time(0)) + timedelta(seconds=whole)
    tz = ZoneInfo(timezone)
    local = wall.replace(tzinfo=tz)
    if local.utcoffset() != wall.replace(tzinfo=tz, fold=1).utcoffset():
        how = "happens twice" if datetime.fromtimestamp(local.timestamp(), tz).replace(tzinfo=None) == wall \
            else "does not exist"
        raise ConfigError(f"{label}: {spec!r} on {d} {how} in {timezone} (a clock change); "
                          "give the time as int ns UTC")
    return int(local.timestamp()) * NS_PER_S + round((secs - whole) * 1e9)


def format_local(ts_ns: int, timezone: str, seconds: bool = True) -> str:
    """``"HH:MM:SS"`` (or ``"HH:MM"``) local clock time of the instant ``ts_ns``."""
    t = datetime.fromtimestamp(ts_ns // NS_PER_S, ZoneInfo(timezone))  # whole seconds, exact
    return t.strftime("%H:%M:%S" if seconds else "%H:%M")


def flag_time_ns(flag: str, text: str, day: str | Date | None, timezone: str | None,
                  missing: str = "--date and --timezone") -> int:
    """ns UTC from int ns, an ISO timestamp carrying its UTC offset, or local ``HH:MM[:SS]`` on ``day`` in ``timezone``.

    ``flag`` (``"--start"``) is named in every error; a local time without a
    date or zone is an error asking for ``missing``.
    """
    import pandas as pd

    if text.lstrip("-").isdigit():
        return int(text)
    if all(c.isdigit() or c in ":." for c in text):
        if day is None or timezone is None:
            raise ConfigError(f"{flag} {text!r} is a local clock time: give {missing}, "
                              "or give ns UTC or an ISO time with its offset")
        return resolve_time(text, day, timezone, flag)
    try:
        ts = pd.Timestamp(text)
    except ValueError:
        raise ConfigError(f"{flag}: expected local time HH:MM[:SS], ns UTC or an ISO time, got {text!r}") from None
    if ts.tzinfo is None:
        raise ConfigError(f"{flag} needs a UTC offset or zone (e.g. {text}Z), or give local time HH:MM[:SS], "
                          f"got {text!r}")
    return int(ts.as_unit("ns").value)
