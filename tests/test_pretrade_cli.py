"""Pre-trade commands: --quantity everywhere (old flags as aliases) and local clock times on the command line."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tickreplay.book.snapshots import Snapshots
from tickreplay.catalog import Catalog
from tickreplay.cli import main
from tickreplay.tape import EventKind, Instrument, Tape

NS = 1_000_000_000
MIN = 60 * NS
OPEN = 1_340_285_400 * NS  # 2012-06-21 09:30 America/New_York (EDT), ns UTC
CLOSE = OPEN + 390 * MIN
ZONE = ["--date", "2012-06-21", "--timezone", "America/New_York"]
ESTIMATE = ["estimate", "--side", "buy", "--adv", "500000", "--spread-bps", "12", "--daily-vol-pct", "1.8",
            "--ref-price", "45", "--days", "2", "--json"]
AC = ["schedule", "almgren-chriss", "--days", "5", "--periods", "5", "--sigma", "0.95", "--eta", "2.5e-6",
      "--gamma", "2.5e-7", "--risk-aversion", "1e-6", "--json"]


def _json(argv: list[str], capsys) -> dict:
    assert main(argv) == 0
    return json.loads(capsys.readouterr().out)


def _error(argv: list[str], capsys) -> str:
    assert main(argv) == 2
    return capsys.readouterr().err


# -- --quantity ------------------------------------------------------------------------------

@pytest.mark.parametrize("base,new,old", [(ESTIMATE, "--quantity", "--order-size"), (AC, "--quantity", "--shares")])
def test_quantity_and_its_alias_give_the_same_result(base, new, old, capsys):
    assert _json(base + [new, "50000"], capsys) == _json(base + [old, "50000"], capsys)


@pytest.mark.parametrize("argv,old", [(["estimate"], "--order-size"), (["schedule", "almgren-chriss"], "--shares")])
def test_help_documents_the_alias(argv, old, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")  # no line breaks inside a flag name
    with pytest.raises(SystemExit):
        main(argv + ["--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert f"--quantity QUANTITY, {old} QUANTITY" in text and f"{old} is an alias of --quantity" in text


def test_estimate_bad_quantity_names_it(capsys):
    assert "'quantity'" in _error(ESTIMATE + ["--order-size", "0"], capsys)


# -- local times -----------------------------------------------------------------------------

TWAP = ["schedule", "twap", "--side", "buy", "--quantity", "1000", "--children", "4", "--json"]


def test_twap_local_time_equals_ns_and_iso(capsys):
    by_ns = _json(TWAP + ["--start", str(OPEN + 30 * MIN), "--end", str(CLOSE)], capsys)
    by_local = _json(TWAP + ["--start", "10:00", "--end", "16:00:00"] + ZONE, capsys)
    by_iso = _json(TWAP + ["--start", "2012-06-21T10:00-04:00", "--end", "2012-06-21T20:00Z"], capsys)
    assert by_local == by_ns == by_iso
    assert by_local["children"][0]["time_ns"] == OPEN + 30 * MIN


def test_twap_text_prints_times_in_the_instruments_zone(capsys):
    assert main(TWAP[:-1] + ["--start", "10:00", "--end", "16:00"] + ZONE) == 0
    assert "2012-06-21T10:00:00-04:00" in capsys.readouterr().out


@pytest.mark.parametrize("times,extra,flag", [
    (["10:00", "16:00"], [], "--date and --timezone"),  # a local time needs its day and zone
    (["25:00", "16:00"], ZONE, "--start"),
    (["10:00", "16:61"], ZONE, "--end"),
    (["9h30", "16:00"], ZONE, "--start"),
    (["2012-06-21T10:00", "16:00"], ZONE, "--start"),  # ISO without an offset
    (["10:00", "16:00"], ["--date", "2012-06-21"], "--timezone"),
    (["10:00", "16:00"], ["--date", "21/06/2012", "--timezone", "America/New_York"], "--date"),
    (["10:00", "16:00"], ["--date", "2012-06-21", "--timezone", "New_York"], "--timezone"),
])
def test_twap_bad_time_names_the_flag(times, extra, flag, capsys):
    assert flag in _error(TWAP + ["--start", times[0], "--end", times[1]] + extra, capsys)


def test_local_time_skipped_by_a_clock_change_names_the_flag(capsys):
    err = _error(TWAP + ["--start", "02:30", "--end", "10:00", "--date", "2024-03-10",
                         "--timezone", "America/New_York"], capsys)
    assert "--start" in err and "does not exist" in err


def _catalog(tmp_path) -> Catalog:
    """Two New York days, each with trades at 09:30, 10:00 and 11:00 (sizes 100, 300, 600)."""
    cat = Catalog(tmp_path)
    for day, date in enumerate(("2012-06-21", "2012-06-22")):
        inst = Instrument("TEST", "XNAS", date, price_scale=10_000, tick_size=100, timezone="America/New_York")
        base = OPEN + day * 86_400 * NS
        ts = [base, base + 30 * MIN, base + 90 * MIN]
        tape = Tape.from_columns(inst, ts_ns=ts, kind=[EventKind.EXECUTE_VISIBLE] * 3, side=[1] * 3,
                                 price=[400_000] * 3, size=[100, 300, 600])
        z = np.zeros((3, 1), np.int64)
        cat.write("test", tape, Snapshots(z, z, z, z))
    return cat


def test_vwap_local_time_from_the_entry(tmp_path, capsys):
    _catalog(tmp_path)
    base = ["schedule", "vwap", "--side", "buy", "--quantity", "1000", "--catalog", str(tmp_path),
            "--bin-minutes", "30", "--json"]
    one = ["--from-catalog", "test/TEST/2012-06-22"]
    by_ns = _json(base + one + ["--start", str(OPEN + 86_400 * NS), "--end", str(OPEN + 86_400 * NS + 120 * MIN)],
                  capsys)
    by_local = _json(base + one + ["--start", "09:30", "--end", "11:30"], capsys)
    assert by_local == by_ns and by_local["children"][0]["time_ns"] == OPEN + 86_400 * NS
    # two entries are two days: a local time needs --date, and --date says which day
    two = ["--from-catalog", "test/TEST/2012-06-21", "test/TEST/2012-06-22"]
    assert "--date" in _error(base + two + ["--start", "09:30", "--end", "11:30"], capsys)
    dated = _json(base + two + ["--start", "09:30", "--end", "11:30", "--date", "2012-06-22"], capsys)
    assert [c["time_ns"] for c in dated["children"]] == [c["time_ns"] for c in by_ns["children"]]
    assert "--end" in _error(base + one + ["--start", "09:30", "--end", "11:60"], capsys)


def test_pov_local_time_from_the_entry(tmp_path, capsys):
    _catalog(tmp_path)
    base = ["schedule", "pov", "--side", "sell", "--quantity", "100", "--catalog", str(tmp_path),
            "--from-catalog", "test/TEST/2012-06-21", "--target-pct", "10", "--min-child", "10",
            "--max-child", "100", "--json"]
    by_ns = _json(base + ["--start", str(OPEN), "--end", str(CLOSE)], capsys)
    by_local = _json(base + ["--start", "09:30", "--end", "16:00"], capsys)
    assert by_local == by_ns and by_local["unsent"] == 0
    assert [c["quantity"] for c in by_local["children"]] == [10, 30, 60]
    assert "--start" in _error(base + ["--start", "9:30pm", "--end", "16:00"], capsys)
