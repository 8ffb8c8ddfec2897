"""``tickreplay ingest``: each source streamed into a catalog gives the Python API's entry; a killed ingest
leaves no entry."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from conftest import REPO, lobster_pair, shared_file
from tickreplay.catalog import Catalog
from tickreplay.cli import main

SNAP_FIELDS = ("ask_price", "ask_size", "bid_price", "bid_size")


def same_entry(a, b, levels: int) -> None:
    """Same tape (fingerprint, instrument, metadata), same report and the same top-N book after every event."""
    assert a.key == b.key
    assert a.fingerprint == b.fingerprint
    ta, tb = a.read_tape(), b.read_tape()
    assert ta.instrument == tb.instrument and ta.extra_meta == tb.extra_meta
    assert a.read_report() == b.read_report()
    assert a.snapshot_levels() == b.snapshot_levels() == [levels]
    sa, sb = a.read_snapshots(levels), b.read_snapshots(levels)
    assert all(np.array_equal(getattr(sa, f), getattr(sb, f)) for f in SNAP_FIELDS)


def test_cli_lobster_is_ingest_lobster(tmp_path, capsys):
    from tickreplay.adapters.lobster import ingest_lobster

    msg, ob = lobster_pair("AMZN", 1)
    assert main(["ingest", "lobster", str(msg), str(ob), "--catalog", str(tmp_path / "cli")]) == 0
    assert "wrote lobster/AMZN/2012-06-21" in capsys.readouterr().out
    api, _, _ = ingest_lobster(msg, ob, Catalog(tmp_path / "api"))
    same_entry(Catalog(tmp_path / "cli").find(api.key), api, 1)


def test_cli_binance_streams_the_entry_of_read_binance(tmp_path, capsys):
    from tickreplay.adapters.binance import read_binance

    capture = shared_file("binance", "ethusdt_20240808.gz")
    assert main(["ingest", "binance", str(capture), "--catalog", str(tmp_path / "cli"), "--levels", "10"]) == 0
    res = read_binance([capture], levels=10)
    api = Catalog(tmp_path / "api").write("binance", res.tape, res.snapshots,
                                          {**res.report, "anomalies": res.anomalies.to_dict()})
    cli = Catalog(tmp_path / "cli").find(api.key)
    assert cli.read_tape().instrument == res.tape.instrument  # the final instrument, levels included
    same_entry(cli, api, 10)


def test_cli_dbn_is_read_dbn_written(tmp_path):
    from tickreplay.adapters.dbn import read_dbn

    mbo = shared_file("databento", "orderbooks_mbo_2024-05-08T00-00-00_2024-05-08T00-00-02.dbn.zst")
    definitions = shared_file("databento", "orderbooks_definition.dbn.zst")
    assert main(["ingest", "dbn", str(mbo), "--definitions", str(definitions), "--catalog",
                 str(tmp_path / "cli")]) == 0
    res = read_dbn(mbo, definitions=definitions)
    api = Catalog(tmp_path / "api").write("dbn", res.tape, res.snapshots,
                                          {**res.report, "anomalies": res.anomalies.to_dict()})
    same_entry(Catalog(tmp_path / "cli").find(api.key), api, res.snapshots.levels)


def bigger_pair(tmp_path: Path, copies: int) -> tuple[Path, Path]:
    """The AMZN level-5 pair ``copies`` times over, each copy later by a day's seconds and with new order ids."""
    msg, ob = lobster_pair("AMZN", 5)
    lines = msg.read_text().splitlines()
    out_m = tmp_path / "AMZN_2012-06-21_34200000_57600000_message_5.csv"
    out_o = tmp_path / "AMZN_2012-06-21_34200000_57600000_orderbook_5.csv"
    with out_m.open("w") as fm:
        for c in range(copies):
            for ln in lines:
                t, typ, oid, rest = ln.split(",", 3)
                w, _, f = t.partition(".")
                fm.write(f"{int(w) + 23400 * c}.{f},{typ},{int(oid) + 10**10 * c if int(oid) else 0},{rest}\n")
    out_o.write_bytes(ob.read_bytes() * copies)
    return out_m, out_o


def test_a_killed_cli_ingest_leaves_no_entry(tmp_path):
    msg, ob = bigger_pair(tmp_path, 4)
    root = tmp_path / "replay"
    day = root / "lobster" / "AMZN"
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    cmd = [sys.executable, "-c", "import sys; from tickreplay.cli import main; sys.exit(main(sys.argv[1:]))", "ingest", "lobster", str(msg), str(ob), "--catalog", str(root)]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    writing = []
    while proc.poll() is None and time.monotonic() < deadline and not writing:
        # the tape's temporary file inside the hidden version folder: row groups are being written
        writing = [p for p in day.glob(".2012-06-21.v*/.tape.parquet.*.tmp") if p.stat().st_size > 0] \
            if day.is_dir() else []
        time.sleep(0.005)
    assert writing, f"the ingest ended before it was caught writing: {proc.stderr.read().decode()}"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not os.path.lexists(day / "2012-06-21")
    assert Catalog(root).entries() == []
    # the leftover does not stand in the way of the next ingest (no --force needed)
    assert main(["ingest", "lobster", str(msg), str(ob), "--catalog", str(root)]) == 0
    assert [e.key for e in Catalog(root).entries()] == ["lobster/AMZN/2012-06-21"]


@pytest.mark.parametrize("argv", [["ingest", "binance", "x.gz", "--levels", "0"]])
def test_cli_binance_needs_positive_levels(argv, capsys):
    assert main(argv) == 2
    assert "--levels must be positive" in capsys.readouterr().err
