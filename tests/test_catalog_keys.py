"""Catalog keys identify their data, entries carry a content fingerprint, and one rule says where the catalog is."""

from __future__ import annotations

import itertools
from dataclasses import replace

import numpy as np
import pytest

from tickreplay import cli
from tickreplay.adapters.synthetic import REGIMES, generate_day, synthetic_key, synthetic_market, synthetic_symbol
from tickreplay.catalog import Catalog, default_root
from tickreplay.errors import ConfigError
from tickreplay.tape import COLUMNS, EventKind, Instrument, Tape

INST = Instrument(symbol="TEST", venue="X", date="2024-01-02", price_scale=10_000, tick_size=100)


def _tape(seed: int = 0, n: int = 30, inst: Instrument = INST) -> Tape:
    rng = np.random.default_rng(seed)
    return Tape.from_columns(inst, ts_ns=np.sort(rng.integers(0, 10**12, n)), kind=np.full(n, int(EventKind.ADD)),
                             side=rng.choice([-1, 1], n), price=rng.integers(1, 100, n) * 100,
                             size=rng.integers(1, 500, n), order_id=np.arange(1, n + 1),
                             recv_ts_ns=np.arange(n, dtype=np.int64), flags=np.zeros(n, np.int16))


# -- keys -------------------------------------------------------------------------------------------

def test_generated_keys_carry_every_input_that_changes_the_data():
    assert synthetic_key("liquid_large_cap", 2, "2024-01-02") == "synthetic/liquid_large_cap-s2/2024-01-02"
    assert synthetic_key("thin_small_cap", 4, "2024-01-02", 600) == "synthetic/thin_small_cap-s4-600s/2024-01-02"
    assert synthetic_key("news_spike", 1, "2024-03-11", 900.5, "ABC") == "synthetic/ABC.news_spike-s1-900.5s/2024-03-11"
    assert synthetic_key("liquid_large_cap", 1, "2024-01-02", activity=65) == \
        "synthetic/liquid_large_cap-x65-s1/2024-01-02"
    assert synthetic_key("thin_small_cap", 4, "2024-01-02", 600, "ABC", 0.5) == \
        "synthetic/ABC.thin_small_cap-x0.5-s4-600s/2024-01-02"
    # the whole session is the same day whether or not its length is given, and activity 1 is the regime's own
    assert synthetic_key("liquid_large_cap", 2, "2024-01-02", 23_400) == synthetic_key("liquid_large_cap", 2,
                                                                                        "2024-01-02")
    assert synthetic_key("liquid_large_cap", 2, "2024-01-02", None, None, 1) == synthetic_key("liquid_large_cap", 2,
                                                                                              "2024-01-02")


def test_another_activity_is_another_market():
    assert synthetic_market(synthetic_symbol("liquid_large_cap", 1, activity=65)) == "liquid_large_cap-x65"
    assert synthetic_market(synthetic_symbol("liquid_large_cap", 2, 600, "A.B", 1e-05)) == "A.B.liquid_large_cap-x1e-05"
    assert synthetic_market(synthetic_symbol("liquid_large_cap", 3, activity=1)) == "liquid_large_cap"


def test_two_different_generated_days_never_share_a_key():
    planted = replace(REGIMES["liquid_large_cap"], refill_half_life_s=3.0)
    regimes = [*REGIMES, planted, replace(planted, refill_half_life_s=5.0)]
    inputs = list(itertools.product(regimes, [0, 1, 12], ["2024-01-02", "2024-01-03"], [None, 60, 60.5, 6e-05],
                                    [None, "ABC", "A.B", "X-60s", "60s"], [None, 65, 0.5, 2.5, 1e-05]))
    keys = {synthetic_key(*args) for args in inputs}
    assert len(keys) == len(inputs)
    assert all(k.count("/") == 2 for k in keys)
    custom = synthetic_symbol(planted, 1)
    assert custom.startswith("custom_") and custom != synthetic_symbol("liquid_large_cap", 1)


@pytest.mark.parametrize("args, field", [
    (("liquid_large_cap", -1, "2024-01-02"), "seed"),
    (("liquid_large_cap", 1, "2024/01/02"), "date"),
    (("liquid_large_cap", 1, "2024-01-02", 10**6), "duration_s"),
    (("liquid_large_cap", 1, "2024-01-02", None, "a/b"), "symbol"),
    (("liquid_large_cap", 1, "2024-01-02", None, ".hidden"), "symbol"),
    (("liquid_large_cap", 1, "2024-01-02", None, None, 0), "activity"),
    (("liquid_large_cap", 1, "2024-01-02", None, None, -2.0), "activity"),
    (("liquid_large_cap", 1, "2024-01-02", None, None, float("nan")), "activity"),
    (("no_such_regime", 1, "2024-01-02"), "unknown regime"),
])
def test_bad_key_inputs_name_the_field(args, field):
    with pytest.raises(ConfigError, match=field):
        synthetic_key(*args)


def test_a_generated_tape_is_stored_under_its_key(tmp_path):
    tape = generate_day("high_volatility", 3, date="2024-07-01", symbol="XYZ", duration_s=30)
    assert (tape.instrument.symbol, tape.instrument.date) == ("XYZ.high_volatility-s3-30s", "2024-07-01")
    entry = Catalog(tmp_path).write("synthetic", tape)
    assert entry.key == synthetic_key("high_volatility", 3, "2024-07-01", 30, "XYZ")


def test_generating_another_regime_does_not_replace_the_first(tmp_path):
    root = str(tmp_path / "replay")
    for regime, seed in (("liquid_large_cap", 1), ("thin_small_cap", 2)):
        assert cli.main(["generate", "--regime", regime, "--seed", str(seed), "--duration-s", "60",
                         "--catalog", root, "--levels", "2"]) == 0
    cat = Catalog(root)
    assert [e.key for e in cat.entries()] == ["synthetic/liquid_large_cap-s1-60s/2024-01-02",
                                              "synthetic/thin_small_cap-s2-60s/2024-01-02"]
    liquid = cat.find("synthetic/liquid_large_cap-s1-60s/2024-01-02")
    assert liquid.read_report()["regime"] == "liquid_large_cap"
    assert liquid.fingerprint == generate_day("liquid_large_cap", 1, duration_s=60).fingerprint()


# -- fingerprint ------------------------------------------------------------------------------------

def test_equal_tapes_have_equal_fingerprints_whatever_their_name_or_input_dtype():
    a = _tape()
    fp = a.fingerprint()
    assert fp.startswith("blake2b-128:") and len(fp) == len("blake2b-128:") + 32
    assert _tape().fingerprint() == fp
    assert replace(a, instrument=replace(INST, symbol="OTHER", date="2030-01-01", venue="Y")).fingerprint() == fp
    big_endian = Tape(instrument=INST, **{k: v.astype(v.dtype.newbyteorder(">")) for k, v in a.columns().items()})
    as_lists = Tape(instrument=INST, **{k: v.tolist() for k, v in a.columns().items()})
    assert big_endian.fingerprint() == as_lists.fingerprint() == fp  # hashed in the canonical dtype


@pytest.mark.parametrize("column", list(COLUMNS))
def test_any_single_changed_value_changes_the_fingerprint(column):
    a = _tape()
    for row in (0, 17, len(a) - 1):
        cols = {k: v.copy() for k, v in a.columns().items()}
        cols[column][row] += 1
        assert Tape(instrument=INST, **cols).fingerprint() != a.fingerprint(), (column, row)
    assert a.slice(0, len(a) - 1).fingerprint() != a.fingerprint()


@pytest.mark.parametrize("field, value", [("price_scale", 100), ("tick_size", 1), ("size_scale", 1000),
                                          ("lot_size", 100), ("timezone", "Europe/London")])
def test_instrument_fields_that_change_the_meaning_change_the_fingerprint(field, value):
    a = _tape()
    assert replace(a, instrument=replace(INST, **{field: value})).fingerprint() != a.fingerprint()


def test_the_fingerprint_survives_writing_and_reading(tmp_path):
    a = _tape()
    a.write_parquet(tmp_path / "t.parquet")
    assert Tape.read_parquet(tmp_path / "t.parquet").fingerprint() == a.fingerprint()
    entry = Catalog(tmp_path / "replay").write("unit", a, report={"rows": len(a)})
    assert entry.read_report()["fingerprint"] == entry.fingerprint == a.fingerprint()
    assert entry.read_tape().fingerprint() == a.fingerprint()


# -- where the catalog is ---------------------------------------------------------------------------

def test_default_root_is_the_environment_variable_else_replay_in_the_working_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("TICKREPLAY_CATALOG", raising=False)
    assert default_root() == tmp_path / "replay"
    assert Catalog().root == tmp_path / "replay"
    monkeypatch.setenv("TICKREPLAY_CATALOG", "data/cat")
    assert default_root() == tmp_path / "data" / "cat"  # relative to the working folder, returned absolute
    monkeypatch.setenv("TICKREPLAY_CATALOG", str(tmp_path / "elsewhere"))
    assert default_root() == tmp_path / "elsewhere"
    monkeypatch.setenv("TICKREPLAY_CATALOG", "")
    assert default_root() == tmp_path / "replay"


def test_generate_and_ingest_write_to_the_default_root(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TICKREPLAY_CATALOG", str(tmp_path / "cat"))
    assert cli.main(["generate", "--seed", "1", "--duration-s", "30", "--levels", "2"]) == 0
    assert [e.key for e in Catalog(tmp_path / "cat").entries()] == ["synthetic/liquid_large_cap-s1-30s/2024-01-02"]
    monkeypatch.delenv("TICKREPLAY_CATALOG")
    assert cli.main(["generate", "--seed", "1", "--duration-s", "30", "--levels", "2", "--lobster-dir", "lob"]) == 0
    msg, book = (str(next((tmp_path / "lob").glob(f"*_{part}_2.csv"))) for part in ("message", "orderbook"))
    assert cli.main(["ingest", "lobster", msg, book]) == 0
    assert [e.key for e in Catalog(tmp_path / "replay").entries()] == ["lobster/liquid_large_cap-s1-30s/2024-01-02"]
