"""Local clock time of an instrument's day ↔ int64 ns since the UTC epoch.

One parser for the times users write (``"HH:MM[:SS[.fff]]"`` on the
instrument's trading date in its time zone) and one way back for figures and
console output. A wall-clock time the clocks skip or repeat on a DST change
day is an error naming where it was written: give int ns UTC instead.

A trading date whose session starts the evening before (CME Globex: trade
date D opens at 17:00 Chicago time on D-1) is written with a **day offset**:
``"-1d 19:00:00"`` is 19:00 local time on the calendar day before the trading
date. Without an offset a time is on the trading date itself, whatever the
venue: the offset says which calendar day is meant, so a time reads the same
in every scenario and two local times compare before the data is known.
"""

from __future__ import annotations

import math
import re
from datetime import date as Date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from tickreplay.errors import ConfigError

NS_PER_S = 1_000_000_000

#: a time as written: "HH:MM:SS[.fff]" local time on the data's date (after an optional day offset, "-1d 19:00"),
#: or int ns UTC
TimeSpec = str | int
SECONDS_PER_DAY = 86_400
_DAY_OFFSET = re.compile(r"([+-]\d+)d\s+(\S.*)")  # "-1d 19:00:00": the day offset and the clock time


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


def parse_local(text: str, where: str = "time") -> float:
    """Seconds after local midnight of the trading date of ``"[±Nd ]HH:MM[:SS[.fff]]"``: a clock time
    (:func:`parse_hms`), ``N`` calendar days before (``-``) or after (``+``) the trading date when an offset is
    written (``"-1d 19:00:00"`` → -18000.0: the evening before, as CME Globex sessions start).

    ``where`` names the value in the error.
    """
    m = _DAY_OFFSET.fullmatch(text) if isinstance(text, str) else None
    if m is None:
        if isinstance(text, str) and re.match(r"\s*[+-]", text):
            raise ConfigError(f"{where}: expected a day offset and a local time such as \"-1d 19:00:00\" "
                              f"(19:00 on the day before the trading date), got {text!r}")
        return parse_hms(text, where)
    return int(m.group(1)) * SECONDS_PER_DAY + parse_hms(m.group(2), where)


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
    """ns UTC of a written time: int ns as is; ``"HH:MM:SS"`` on local ``day`` in ``timezone``, or on the day
    a day offset names (``"-1d 19:00:00"``: the day before; see :func:`parse_local`).

    ``where`` names the value in errors: a scenario key path (``"parent.start"``,
    reported as ``scenario key 'parent.start'``) or a command-line flag (``"--start"``).
    """
    if isinstance(spec, int) and not isinstance(spec, bool):
        return spec
    label = where if where.startswith("-") else f"scenario key '{where}'"
    secs = parse_local(spec, label)
    whole = math.floor(secs)
    d = trading_date(day)
    wall = datetime.combine(d, time(0)) + timedelta(seconds=whole)
    tz = ZoneInfo(timezone)
    local = wall.replace(tzinfo=tz)
    if local.utcoffset() != wall.replace(tzinfo=tz, fold=1).utcoffset():
        how = "happens twice" if datetime.fromtimestamp(local.timestamp(), tz).replace(tzinfo=None) == wall \
            else "does not exist"
        raise ConfigError(f"{label}: {spec!r} on {wall.date()} {how} in {timezone} (a clock change); "
                          "give the time as int ns UTC")
    return int(local.timestamp()) * NS_PER_S + round((secs - whole) * 1e9)


def format_local(ts_ns: int, timezone: str, seconds: bool = True, day: str | Date | None = None) -> str:
    """``"HH:MM:SS"`` (or ``"HH:MM"``) local clock time of the instant ``ts_ns``; with the trading ``day``, behind
    a day offset when the instant is on another calendar day (``"-1d 19:00:00"``), as :func:`parse_local` reads it."""
    t = datetime.fromtimestamp(ts_ns // NS_PER_S, ZoneInfo(timezone))  # whole seconds, exact
    text = t.strftime("%H:%M:%S" if seconds else "%H:%M")
    offset = 0 if day is None else (t.date() - trading_date(day)).days
    return f"{offset:+d}d {text}" if offset else text


def flag_time_ns(flag: str, text: str, day: str | Date | None, timezone: str | None,
                  missing: str = "--date and --timezone") -> int:
    """ns UTC from int ns, an ISO timestamp carrying its UTC offset, or local ``[±Nd ]HH:MM[:SS]`` on ``day`` in
    ``timezone`` (see :func:`parse_local`).

    ``flag`` (``"--start"``) is named in every error; a local time without a
    date or zone is an error asking for ``missing``.
    """
    import pandas as pd

    if text.lstrip("-").isdigit():
        return int(text)
    if all(c.isdigit() or c in ":." for c in text) or _DAY_OFFSET.fullmatch(text):
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
