import numpy as np
import pytest

from tickreplay.catalog import Catalog
from tickreplay.book.snapshots import Snapshots
from tickreplay.tape import EventKind, Instrument, Tape, concat

INST = Instrument(symbol="TEST", venue="X", date="2024-01-02", price_scale=10_000, tick_size=100)


def _tape(n=50, seed=0):
    rng = np.random.default_rng(seed)
    return Tape.from_columns(
        INST,
        ts_ns=np.sort(rng.integers(0, 10**12, n)),
        kind=np.full(n, int(EventKind.ADD)),
        side=rng.choice([-1, 1], n),
        price=rng.integers(1, 100, n) * 100,
        size=rng.integers(1, 500, n),
        order_id=np.arange(1, n + 1),
    )


def test_parquet_round_trip_identical(tmp_path):
    t = _tape()
    t.write_parquet(tmp_path / "t.parquet")
    back = Tape.read_parquet(tmp_path / "t.parquet")
    assert back.instrument == INST
    for name, col in t.columns().items():
        assert back.columns()[name].dtype == col.dtype
        np.testing.assert_array_equal(back.columns()[name], col)


def test_catalog_write_read_and_lookup(tmp_path):
    t = _tape()
    rows = np.arange(len(t) * 8, dtype=np.int64).reshape(len(t), 8)
    snaps = Snapshots.from_lobster_rows(rows)
    cat = Catalog(tmp_path)
    e = cat.write("unit", t, snaps, {"rows": len(t)})
    assert e.key == "unit/TEST/2024-01-02"
    got = cat.find(e.key)
    np.testing.assert_array_equal(got.read_tape().price, t.price)
    np.testing.assert_array_equal(got.read_snapshots().as_lobster_rows(), rows)
    assert got.read_report() == {"rows": len(t), "fingerprint": t.fingerprint()}
    assert got.fingerprint == t.fingerprint()
    assert [x.key for x in cat.entries()] == [e.key]
    with pytest.raises(Exception, match="unit/TEST/2024-01-02"):
        cat.find("unit/TEST/1999-01-01")


def test_snapshot_row_count_must_match(tmp_path):
    t = _tape(10)
    snaps = Snapshots.from_lobster_rows(np.zeros((3, 4), np.int64))
    with pytest.raises(ValueError, match="3 snapshot rows"):
        Catalog(tmp_path).write("unit", t, snaps)
    assert not (tmp_path / "unit" / "TEST" / "2024-01-02").exists()


def test_concat_keeps_order():
    a, b = _tape(5, 1), _tape(7, 2)
    c = concat([a, b])
    assert len(c) == 12
    np.testing.assert_array_equal(c.size, np.concatenate([a.size, b.size]))


def test_atomic_write_leaves_no_temp_file_and_usual_mode(tmp_path):
    import os
    import stat

    from tickreplay.io import atomic_path

    with pytest.raises(RuntimeError):
        with atomic_path(tmp_path / "x.bin") as tmp:
            tmp.write_bytes(b"half")
            raise RuntimeError("crash mid-write")
    assert list(tmp_path.iterdir()) == []
    with atomic_path(tmp_path / "x.bin") as tmp:
        tmp.write_bytes(b"whole")
    assert (tmp_path / "x.bin").read_bytes() == b"whole"
    mask = os.umask(0)
    os.umask(mask)
    assert stat.S_IMODE((tmp_path / "x.bin").stat().st_mode) == 0o666 & ~mask


def test_a_window_after_the_last_event_is_the_config_error_not_arrow(tmp_path, monkeypatch):
    """A window starting after the tape's last event, on an entry whose last book checkpoint sits at the tape's
    end: no event (read_window), and loading it for a scenario says the window leaves none."""
    import tickreplay.catalog as catalog
    from tickreplay.adapters.synthetic import generate_day
    from tickreplay.book.fast import compute_snapshots
    from tickreplay.errors import ConfigError
    from tickreplay.experiment.data import load_data
    from tickreplay.experiment.scenario import parse_scenario

    monkeypatch.setattr(catalog, "CHECKPOINT_EVENTS", 10)  # a checkpoint after the one chunk: at the tape's end
    tape = generate_day("liquid_large_cap", seed=1, duration_s=60)
    entry = Catalog(tmp_path / "cat").write("synthetic", tape, compute_snapshots(tape, 5))
    last = int(tape.ts_ns[-1])
    win, snaps = entry.read_window(last + 1, None, 5)
    assert len(win) == 0 and snaps.ask_price.shape == (0, 5)
    assert len(entry.read_window(last, None, 5)[0]) == int(np.sum(tape.ts_ns == last))
    doc = {"name": "late", "data": {"catalog": entry.key, "catalog_root": str(tmp_path / "cat"), "start": last + 1},
           "schedule": {"kind": "twap", "n_children": 2, "style": "market"},
           "parent": {"side": "buy", "quantity": 100, "start": last + 1, "end": last + 2}}
    with pytest.raises(ConfigError, match="'data.start'/'data.end' leave no event"):
        load_data(parse_scenario(doc, base_dir=tmp_path))
