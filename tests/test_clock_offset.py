"""Local times with a day offset ("-1d 19:00:00": the calendar day before the trading date), as CME Globex
evenings are written: parsing, DST on the offset day, comparison before the data is known, and the way back."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import assume, given, settings, strategies as st

from tickreplay.clock import flag_time_ns, format_local, parse_local, resolve_time
from tickreplay.errors import ConfigError
from tickreplay.experiment.scenario import check_order, parse_scenario

NS = 1_000_000_000
CHI = "America/Chicago"


def test_parse_local_offsets():
    assert parse_local("-1d 19:00:00") == -5 * 3600
    assert parse_local("-1d 19:00:00.25") == -5 * 3600 + 0.25
    assert parse_local("+1d 00:30") == 86400 + 1800
    assert parse_local("08:30:00") == 8.5 * 3600  # no offset: the trading date itself


def test_the_esm4_evening_is_the_day_before_the_trade_date():
    """19:00 Chicago (CDT, UTC-5) on 2024-05-07 = 2024-05-08 00:00 UTC, the ESM4 sample's first event."""
    assert resolve_time("-1d 19:00:00", "2024-05-08", CHI, "parent.start") == 1_715_126_400 * NS
    assert resolve_time("-1d 19:00:00.25", "2024-05-08", CHI) == 1_715_126_400 * NS + 250_000_000
    # without the offset the same clock time is on the trade date: a day later
    assert resolve_time("19:00:00", "2024-05-08", CHI) - resolve_time("-1d 19:00:00", "2024-05-08", CHI) == 86400 * NS


def test_the_offset_day_has_its_own_utc_offset():
    """Trade date Monday 2024-03-11: its session opens on Sunday 2024-03-10 at 17:00 CDT (the clocks went forward at
    02:00 that day), UTC-5; 02:30 that Sunday does not exist and the error names that day."""
    assert resolve_time("-1d 17:00", "2024-03-11", CHI) == int(datetime(2024, 3, 10, 22, 0,
                                                                          tzinfo=ZoneInfo("UTC")).timestamp()) * NS
    with pytest.raises(ConfigError, match=r"'-1d 02:30' on 2024-03-10 does not exist in America/Chicago"):
        resolve_time("-1d 02:30", "2024-03-11", CHI, "parent.start")


@pytest.mark.parametrize("bad", ["-1 19:00", "-1d", "+d 19:00", "- 1d 19:00", "-1x 19:00", "-1d19:00"])
def test_malformed_offsets_say_what_is_expected(bad):
    with pytest.raises(ConfigError, match=r"scenario key 'parent.start': expected a day offset and a local time such "
                                          r"as \"-1d 19:00:00\""):
        parse_local(bad, "scenario key 'parent.start'")


def test_bad_clock_time_after_an_offset_is_an_error():
    with pytest.raises(ConfigError, match="expected \"HH:MM:SS\" local time"):
        parse_local("-1d 25:00", "x")


def test_scenario_times_with_offsets_compare_before_the_data_is_known():
    doc = {"data": {"catalog": "dbn/ESM4/2024-05-08"}, "schedule": {"kind": "twap", "n_children": 2},
           "parent": {"side": "buy", "quantity": 2, "start": "-1d 19:00:00", "end": "08:30:00"}}
    scn = parse_scenario(doc)
    assert (scn.parent.start, scn.parent.end) == ("-1d 19:00:00", "08:30:00")  # kept as written
    doc["parent"].update(start="08:30:00", end="-1d 19:00:00")
    with pytest.raises(ConfigError, match="scenario key 'parent.end': expected a time after parent.start"):
        parse_scenario(doc)
    check_order("parent", "start", "-1d 23:59:59", "end", "00:00:00")  # one second later: fine
    doc["parent"].update(start="-1d 7pm", end="08:30:00")
    with pytest.raises(ConfigError, match="scenario key 'parent.start'"):
        parse_scenario(doc)


def test_command_line_flags_take_offsets():
    assert flag_time_ns("--start", "-1d 19:00", "2024-05-08", CHI) == 1_715_126_400 * NS
    with pytest.raises(ConfigError, match="--start '-1d 19:00' is a local clock time: give --date and --timezone"):
        flag_time_ns("--start", "-1d 19:00", None, None)


@settings(max_examples=200, deadline=None)
@given(seconds=st.integers(0, 23 * 3600 - 1), day=st.dates(min_value=datetime(2020, 1, 1).date(),
                                                          max_value=datetime(2030, 12, 31).date()))
def test_format_local_with_the_day_reads_back_to_the_same_instant(seconds, day):
    """Every whole second of a Globex session (17:00 the day before to 16:00 on the trade date, Monday to Friday)
    written the way errors write it reads back to itself (the clocks change at 02:00 on Sundays, before the
    Monday session opens, so no session time is skipped or repeated)."""
    assume(day.weekday() < 5)
    tz = ZoneInfo(CHI)
    open_ = datetime.combine(day - timedelta(days=1), datetime.min.time()).replace(hour=17, tzinfo=tz)
    t = (int(open_.timestamp()) + seconds) * NS
    text = format_local(t, CHI, day=day.isoformat())
    assert text.startswith("-1d ") == (datetime.fromtimestamp(t // NS, tz).date() != day)
    assert resolve_time(text, day.isoformat(), CHI) == t
