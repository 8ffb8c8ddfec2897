"""The data-identity cache never stores a run under another data's id: a file rewritten in place with its mtime set
back is a new signature (ctime), a remembered identity is checked whenever the data is loaded for a run (a single
run, a --rerun, a sweep), and the package's source is part of the signature."""

from __future__ import annotations

import json
import os
from dataclasses import replace

import pytest

from conftest import shared_file
from tickreplay.experiment import data as data_module
from tickreplay.experiment import run as run_module
from tickreplay.experiment.data import load_data
from tickreplay.experiment.run import data_signature, run_id_for, run_scenario
from tickreplay.experiment.scenario import parse_scenario
from tickreplay.experiment.sweep import sweep
from tickreplay.results import read_stored, store_index

STEM = "AMZN_2012-06-21_34200000_57600000"
ROWS = 3000  # 09:30:00 to 09:49:46


@pytest.fixture()
def pair(tmp_path, monkeypatch):
    """The first rows of the shared AMZN level-1 pair, copied (they are edited in place)."""
    monkeypatch.setenv("TICKREPLAY_CACHE_DIR", str(tmp_path / "cache"))
    out = []
    for part in ("message", "orderbook"):
        src = shared_file("lobster", f"{STEM}_{part}_1.csv")
        dst = tmp_path / src.name
        with open(src, "rb") as f:
            dst.write_bytes(b"".join(f.readline() for _ in range(ROWS)))
        out.append(dst)
    data_module._load.cache_clear()
    yield out
    data_module._load.cache_clear()


def _scenario(tmp_path, seed: int = 1):
    msg, ob = (f"{STEM}_{p}_1.csv" for p in ("message", "orderbook"))
    doc = {"name": "idc", "seed": seed, "data": {"lobster": {"message": msg, "orderbook": ob}},
           "parent": {"side": "buy", "quantity": 500, "start": "09:35:00", "end": "09:45:00"},
           "schedule": {"kind": "twap", "n_children": 5, "style": "market"}}
    return parse_scenario(doc, base_dir=tmp_path)


def _edit_in_place(message_csv, row: int = 1000) -> None:
    """The first order added at or after ``row`` one share larger (a valid pair still), the file's length, inode
    and mtime kept (as ``os.utime`` sets it back)."""
    st = os.stat(message_csv)
    lines = message_csv.read_bytes().split(b"\n")
    while True:
        f = lines[row].split(b",")
        if f[1] == b"1" and len(str(int(f[3]) + 1)) == len(f[3]):
            break
        row += 1
    f[3] = str(int(f[3]) + 1).encode()
    lines[row] = b",".join(f)
    with open(message_csv, "r+b") as fh:
        fh.write(b"\n".join(lines))
    os.utime(message_csv, ns=(st.st_atime_ns, st.st_mtime_ns))
    after = os.stat(message_csv)
    assert (after.st_size, after.st_ino, after.st_mtime_ns) == (st.st_size, st.st_ino, st.st_mtime_ns)
    data_module._load.cache_clear()


def _true_id(scn) -> str:
    data_module._load.cache_clear()
    return run_id_for(scn, load_data(scn))


def test_a_file_rewritten_in_place_with_its_mtime_set_back_is_run_again(pair, tmp_path):
    scn = _scenario(tmp_path)
    first = run_scenario(scn, tmp_path / "res")
    _edit_in_place(pair[0])
    again = run_scenario(scn, tmp_path / "res")
    assert not again.skipped and again.run_id != first.run_id
    assert again.run_id == _true_id(scn)


def test_a_stale_identity_never_names_a_run(pair, tmp_path, monkeypatch):
    """Where the signature cannot see a change (here: pinned), loading the data for a run corrects the id: a
    --rerun, a new run and a sweep store the new data's results under the new data's id."""
    monkeypatch.setattr(run_module, "data_signature", lambda scn: "pinned")
    scn, other = _scenario(tmp_path), _scenario(tmp_path, seed=2)
    root = tmp_path / "res"
    old = run_scenario(scn, root).run_id
    _edit_in_place(pair[0])
    assert run_scenario(scn, root).skipped  # the documented limit: a stored run's skip trusts the identity
    rerun = run_scenario(scn, root, rerun=True)
    assert not rerun.skipped and rerun.run_id != old and rerun.run_id == _true_id(scn)
    fingerprint = load_data(scn).fingerprint
    assert json.loads((root / rerun.run_id / "run.json").read_text())["data_fingerprint"] == fingerprint
    assert run_scenario(scn, root).skipped  # the cache learnt the new identity

    _edit_in_place(pair[0], row=1500)  # stale again: a sweep with a run to do, and a rerun
    result = sweep([scn, other], root, progress=False, batch_size=2)
    want = [_true_id(scn), _true_id(other)]
    assert list(result.table["run_id"]) == want and not result.table["skipped"].any()
    _edit_in_place(pair[0], row=2000)
    result = sweep([scn, other], root, progress=False, batch_size=2, rerun=True)
    want = [_true_id(scn), _true_id(other)]
    assert list(result.table["run_id"]) == want and not result.table["skipped"].any()
    stored = read_stored(root, want, store_index(root))
    assert set(stored) == set(want)


def test_the_signature_holds_the_package_source(pair, tmp_path, monkeypatch):
    """Two checkouts of one version with different code are two signatures (their tapes may differ)."""
    scn = _scenario(tmp_path)
    sig = data_signature(scn)
    assert sig is not None and data_signature(replace(scn, name="other")) == sig
    monkeypatch.setattr(run_module, "package_hash", lambda: "another checkout")
    assert data_signature(scn) != sig
