"""``overlay train`` and ``overlay compare`` say what they did: held out by content (not by key), the scenario's
window, delays and max delay (flags override and say so), delays whose error is worse than predicting zero, and no
95% interval for a group of fewer than 10 parents."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import tomli_w

from tickreplay.adapters.synthetic import generate_day
from tickreplay.book.fast import compute_snapshots
from tickreplay.catalog import Catalog
from tickreplay.cli import main
from tickreplay.cli.overlay import format_summary
from tickreplay.clock import resolve_time
from tickreplay.errors import ConfigError
from tickreplay.experiment import evaluate as ev
from tickreplay.overlay import DelayModel
from tickreplay.overlay.labels import Dataset
from tickreplay.overlay.train import train_model

NS = 1_000_000_000
REGIME = "liquid_large_cap"
BASE = {
    "name": "held-out",
    "data": {"catalog": "none/NONE/2024-01-02", "catalog_root": "replay"},
    "parent": {"side": "buy", "quantity": 2000, "start": "09:31:00", "end": "09:32:40"},
    "schedule": {"kind": "twap", "n_children": 10, "style": "market"},
}
TRAIN = ["--synthetic", f"{REGIME}:1", "--duration-s", "600", "--every-s", "1", "--horizon-s", "10",
         "--rounds", "10", "--folds", "2"]


def _scenario(tmp_path: Path, **tables) -> Path:
    path = tmp_path / "s.toml"
    doc = {**BASE, **{k: ({**BASE.get(k, {}), **v}) for k, v in tables.items()}}
    path.write_text(tomli_w.dumps(doc))
    return path


def _store(tmp_path: Path, source: str, seed: int, symbol: str | None = None) -> str:
    """A generated 600 s day written into the scenario's catalog (its symbol replaced when given); its key."""
    tape = generate_day(REGIME, seed, duration_s=600)
    if symbol is not None:
        tape = replace(tape, instrument=replace(tape.instrument, symbol=symbol))
    return Catalog(tmp_path / "replay").write(source, tape, compute_snapshots(tape, 5)).key


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> tuple[Path, Path]:
    tmp = tmp_path_factory.mktemp("held_out")
    scn = _scenario(tmp)
    assert main(["overlay", "train", "--scenario", str(scn), *TRAIN, "--delays", "0,1,2",
                 "--out", str(tmp / "model")]) == 0
    return tmp, scn


def test_the_model_records_each_training_tapes_fingerprint_and_range(trained):
    tmp, _ = trained
    tr = json.loads((tmp / "model" / "model.json").read_text())["train_range"]
    [tape] = tr["tapes"]
    assert tape["fingerprint"] == generate_day(REGIME, 1, duration_s=600).fingerprint()
    assert tape["key"] == f"synthetic/{REGIME}-s1-600s/2024-01-02"
    assert tape["start_ns"] < tape["end_ns"] and tape["label_horizon_ns"] == 12 * NS  # 2 s delay + 10 s horizon


def test_compare_refuses_the_same_day_under_another_key_and_accepts_another_day(trained, capsys):
    tmp, scn = trained
    copy = _store(tmp, "elsewhere", 1, symbol="COPY")
    trained_print = json.loads((tmp / "model" / "model.json").read_text())["train_range"]["tapes"][0]["fingerprint"]
    assert copy == "elsewhere/COPY/2024-01-02"
    assert Catalog(tmp / "replay").find(copy).fingerprint == trained_print  # same content, another key
    args = ["overlay", "compare", "--model", str(tmp / "model"), "--scenario", str(scn), "--horizon-s", "10",
            "--n-boot", "50", "--tapes"]
    capsys.readouterr()
    assert main(args + [copy]) == 2
    err = capsys.readouterr().err
    assert copy in err and "same content" in err and f"synthetic/{REGIME}-s1-600s/2024-01-02" in err
    assert "not held out" in err and err.count("ns (") == 2  # both ranges, each with its local clock times

    other = _store(tmp, "elsewhere", 2, symbol="OTHER")
    assert main(args + [other]) == 0
    out = capsys.readouterr().out
    assert out.startswith("5 parents, 50 children")
    assert "(5 parents: too few for an interval)" in out and "verdict: none: 5 parents are too few" in out


def test_models_without_fingerprints_are_still_checked_by_key():
    model = DelayModel()
    model.train_range = {"start_ns": 100, "end_ns": 200, "sources": ["a/B/2024-01-02"], "label_horizon_ns": 10}
    with pytest.raises(ConfigError, match="matched by key"):
        ev.check_held_out(model, "a/B/2024-01-02", 205, 300, "blake2b-128:x")
    ev.check_held_out(model, "a/B/2024-01-02", 211, 300, "blake2b-128:x")  # after the label windows
    ev.check_held_out(model, "c/D/2024-01-02", 0, 300, "blake2b-128:x")  # another key, no fingerprint to match
    model.train_range = {"tapes": [{"key": "a/B/2024-01-02", "fingerprint": "blake2b-128:x", "start_ns": 100,
                                    "end_ns": 200, "label_horizon_ns": 10}]}
    with pytest.raises(ConfigError, match="same content"):
        ev.check_held_out(model, "c/D/2024-01-02", 0, 150, "blake2b-128:x")
    ev.check_held_out(model, "c/D/2024-01-02", 0, 150, "blake2b-128:y")  # other content


# -- train reads the scenario ----------------------------------------------------------------------------------------

def test_train_uses_the_scenarios_window_delays_and_max_delay(tmp_path, capsys):
    scn = _scenario(tmp_path, data={"start": "09:31:00", "end": "09:38:00"},
                    overlay={"model": "m", "delays_s": [0, 1, 2, 5], "max_delay_s": 2})
    assert main(["overlay", "train", "--scenario", str(scn), *TRAIN, "--out", str(tmp_path / "m"), "--json"]) == 0
    out = capsys.readouterr()
    report = json.loads(out.out)
    assert report["delays_ns"] == [0, NS, 2 * NS]  # the scenario's grid up to its max delay, which it says
    assert out.err.splitlines() == report["notes"] == [
        "the model's delay grid will be [0, 1, 2] (delays up to 2 s), not the scenario's overlay.delays_s: runs of "
        "this scenario will refuse the model until they are equal"]
    [tape] = json.loads((tmp_path / "m" / "model.json").read_text())["train_range"]["tapes"]
    day = generate_day(REGIME, 1, duration_s=600).instrument
    at = lambda hms: resolve_time(hms, day.date, day.timezone, "t")  # noqa: E731
    assert tape["start_ns"] == at("09:32:00")  # window start + the 60 s warm-up
    assert at("09:37:00") < tape["end_ns"] < at("09:38:00")


def test_train_flags_override_the_scenario_and_say_so(tmp_path, capsys):
    scn = _scenario(tmp_path, data={"start": "09:31:00"}, overlay={"model": "m", "delays_s": [0, 1, 2, 5],
                                                                    "max_delay_s": 2})
    assert main(["overlay", "train", "--scenario", str(scn), *TRAIN, "--delays", "0,1,5", "--max-delay-s", "5",
                 "--start", "09:33:00", "--out", str(tmp_path / "m")]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[:4] == ["--delays 0,1,5 overrides the scenario's overlay.delays_s [0, 1, 2, 5]",
                       "--max-delay-s 5 overrides the scenario's overlay.max_delay_s 2",
                       "the model's delay grid will be [0, 1, 5] (delays up to 5 s), not the scenario's "
                       "overlay.delays_s: runs of this scenario will refuse the model until they are equal",
                       "--start 09:33:00 overrides the scenario's data.start 09:31:00"]
    report = json.loads((tmp_path / "m" / "train_report.json").read_text())
    assert report["delays_ns"] == [0, NS, 5 * NS]
    [tape] = json.loads((tmp_path / "m" / "model.json").read_text())["train_range"]["tapes"]
    day = generate_day(REGIME, 1, duration_s=600).instrument
    assert tape["start_ns"] == resolve_time("09:34:00", day.date, day.timezone, "t")


# -- worse than predicting zero --------------------------------------------------------------------------------------

def test_train_says_which_delays_predict_worse_than_zero(tmp_path, capsys):
    scn = _scenario(tmp_path)
    assert main(["overlay", "train", "--scenario", str(scn), *TRAIN, "--delays", "0,1,2",
                 "--out", str(tmp_path / "m")]) == 0
    lines = [ln for ln in capsys.readouterr().out.splitlines() if "worse than predicting zero" in ln]
    report = json.loads((tmp_path / "m" / "train_report.json").read_text())
    oos = report["oos"]
    worse = [d / NS for k, d in enumerate(report["delays_ns"])
             if oos["mae_extra_bps"][k] > oos["mae_extra_zero_bps"][k]]
    assert worse and [w["delay_s"] for w in report["worse_than_zero"]] == worse  # it happens on this small day
    assert lines == [f"delay {d:g} s: the model predicts the extra cost worse than predicting zero "
                     f"({oos['mae_extra_bps'][k]:.2f} vs {oos['mae_extra_zero_bps'][k]:.2f} bps MAE)"
                     for k, d in enumerate(np.array(report["delays_ns"]) / NS) if d in worse]


def test_pure_noise_labels_are_predicted_worse_than_zero():
    rng = np.random.default_rng(0)
    n, delays = 600, (0, NS, 2 * NS)
    cost0 = rng.normal(0, 1, n)
    Y = np.column_stack([cost0, cost0 + rng.normal(0, 1, n), cost0 + rng.normal(0, 1, n)])
    ds = Dataset(rng.normal(size=(n, 3)), Y, np.arange(n, dtype=np.int64) * NS, ("a", "b", "c"), delays,
                 np.ones(n), np.ones(n), np.ones(n), np.full(n, "x/Y/2024-01-02", dtype=object),
                 {"source": "x/Y/2024-01-02", "horizon_ns": 0})
    _, report = train_model(ds, n_folds=2, num_boost_round=50, params={"min_data_in_leaf": 5})
    assert [w["delay_s"] for w in report["worse_than_zero"]] == [1.0, 2.0]
    assert all(w["mae_extra_bps"] > w["mae_extra_zero_bps"] for w in report["worse_than_zero"])


# -- no interval for a small group -----------------------------------------------------------------------------------

def _per_parent(n: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(1)
    static = rng.normal(5, 1, n)
    per = pd.DataFrame({"static_bps": static, "overlay_bps": static - rng.normal(0.2, 1, n),
                        "placebo_bps": static - rng.normal(0, 1, n), "oracle_bps": static - 1.0,
                        "n_children": 10, "vol_bps": np.arange(n, dtype=float), "spread_bps": rng.uniform(1, 3, n)})
    return per, pd.DataFrame({"overlay_delay_ns": np.zeros(10 * n, np.int64)})


def test_terciles_of_fewer_than_ten_parents_get_no_interval():
    s = ev.summarize(*_per_parent(27), n_boot=100)  # terciles of 9 parents
    assert s["too_few"] is False and len(s["ci95_bps"]) == 2
    for kind in ("volatility", "spread"):
        for r in s["regimes"][kind]:
            assert r["n_parents"] < 10 and r["ci95_bps"] is None and r["too_few"] is True
    text = format_summary(s)
    assert sum("9 parents: too few for an interval" in ln for ln in text) == 6  # both kinds' terciles
    assert not any("95% CI" in ln for ln in text if "volatility" in ln or "spread" in ln)
    big = ev.summarize(*_per_parent(30), n_boot=100)  # terciles of 10 parents
    assert all(r["too_few"] is False and len(r["ci95_bps"]) == 2 for r in big["regimes"]["volatility"])
    assert any("10 parents, saving" in ln and "95% CI" in ln for ln in format_summary(big))


def test_a_comparison_of_fewer_than_ten_parents_gives_no_interval_and_no_verdict():
    s = ev.summarize(*_per_parent(6), n_boot=100)
    assert s["ci95_bps"] is None and s["too_few"] is True and s["overlay_vs_placebo"]["ci95_bps"] is None
    text = format_summary(s)
    assert "(6 parents: too few for an interval)" in text[5]
    assert text[-1] == "verdict: none: 6 parents are too few for an interval (at least 10 needed)"
