"""Delay model: learns a planted rule, save/load round trip (no pickle), mismatch and too-little-data errors,
purged time splits (hypothesis), training report."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tickreplay.errors import ConfigError
from tickreplay.overlay import Dataset, DelayModel, time_split, train_model
from tickreplay.trader import FEATURE_NAMES

NS = 1_000_000_000
GRID = (0, NS, 5 * NS)
FAST = {"learning_rate": 0.1}  # few rounds suffice on the clean planted rule


def _planted(n: int = 600, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Waiting 5 s saves 2 bps when feature 0 > 0.5, waiting 1 s saves 1 bps when feature 1 > 0.5; else waiting costs."""
    rng = np.random.default_rng(seed)
    X = rng.uniform(0, 1, (n, len(FEATURE_NAMES)))
    c0 = 1.0 + rng.normal(0, 0.1, n)
    Y = np.stack([c0, c0 + np.where(X[:, 1] > 0.5, -1.0, 0.5), c0 + np.where(X[:, 0] > 0.5, -2.0, 0.5)], axis=1)
    return X, Y


@pytest.fixture(scope="module")
def fitted() -> DelayModel:
    X, Y = _planted()
    return DelayModel(FAST, num_boost_round=60).fit(X, Y, FEATURE_NAMES, GRID, {"start_ns": 1, "sources": ["T/1"]})


def test_learns_planted_rule_and_respects_caps(fitted):
    rng = np.random.default_rng(9)
    X = rng.uniform(0, 1, (200, len(FEATURE_NAMES)))
    want = np.where(X[:, 0] > 0.5, 5 * NS, np.where(X[:, 1] > 0.5, NS, 0))
    got = fitted.best_delay(X, 5 * NS)
    assert np.mean(got == want) > 0.95
    capped = fitted.best_delay(X, 2 * NS)
    assert set(np.unique(capped)) <= {0, NS}
    assert np.all(fitted.best_delay(X, 5 * NS, slack_ns=np.zeros(200, np.int64)) == 0)
    assert np.all(DelayModel(FAST, num_boost_round=60, margin_bps=5.0).fit(*_planted(), FEATURE_NAMES, GRID)
                  .best_delay(X, 5 * NS) == 0)  # no predicted saving exceeds the margin
    costs = fitted.predict_costs(X)
    assert costs.shape == (200, 3)
    assert np.mean(np.abs(costs[:, 2] - costs[:, 0] - np.where(X[:, 0] > 0.5, -2.0, 0.5))) < 0.2


def test_save_load_round_trip(fitted, tmp_path):
    path = fitted.save(tmp_path / "m")
    files = sorted(p.name for p in path.iterdir())
    assert files == ["booster_0.txt", "booster_1.txt", "booster_2.txt", "model.json"]
    assert all((path / f).read_text().startswith("tree") for f in files if f.endswith(".txt"))  # LightGBM text
    side = json.loads((path / "model.json").read_text())
    assert side["feature_names"] == list(FEATURE_NAMES) and side["delays_ns"] == list(GRID)
    assert side["train_range"] == {"start_ns": 1, "sources": ["T/1"]}
    back = DelayModel.load(path, expect_features=FEATURE_NAMES, expect_delays=GRID)
    X = np.random.default_rng(1).uniform(0, 1, (50, len(FEATURE_NAMES)))
    np.testing.assert_array_equal(back.predict_costs(X), fitted.predict_costs(X))
    np.testing.assert_array_equal(back.best_delay(X, 5 * NS), fitted.best_delay(X, 5 * NS))


def test_load_mismatch_names_the_difference(fitted, tmp_path):
    path = fitted.save(tmp_path / "m")
    other = [f for f in FEATURE_NAMES if f != "ofi_5s"] + ["queue_age_s"]
    with pytest.raises(ConfigError, match=r"feature list.*missing \['queue_age_s'\].*unexpected \['ofi_5s'\]"):
        DelayModel.load(path, expect_features=other)
    with pytest.raises(ConfigError, match=r"different order"):
        DelayModel.load(path, expect_features=list(reversed(FEATURE_NAMES)))
    with pytest.raises(ConfigError, match=r"delay grid.*missing \[2000000000\].*unexpected \[5000000000\]"):
        DelayModel.load(path, expect_delays=(0, NS, 2 * NS))
    with pytest.raises(ConfigError, match="not a delay model folder"):
        DelayModel.load(tmp_path)


def test_too_little_data():
    X, Y = _planted(30)
    with pytest.raises(ConfigError, match="30 examples with finite costs at every delay, at least 50 needed"):
        DelayModel().fit(X, Y, FEATURE_NAMES, GRID)
    ds = _dataset(120)
    with pytest.raises(ConfigError, match=r"fold 1 of 3 has \d+ training examples .* of 120 in all; at least 50"):
        train_model(ds, n_folds=3)


def _dataset(n: int, step_ns: int = 5 * NS) -> Dataset:
    X, Y = _planted(n)
    t = 10**18 + np.arange(n, dtype=np.int64) * step_ns
    return Dataset(X, Y, t, FEATURE_NAMES, GRID, np.full(n, 1e6), X[:, 0], X[:, 1], np.full(n, "T/1", dtype=object),
                   {"horizon_ns": 10 * NS})


def test_train_model_report():
    ds = _dataset(800)
    model, rep = train_model(ds, n_folds=2, params=FAST, num_boost_round=40)
    assert rep["n_examples"] == 800 and len(rep["folds"]) == 2 and rep["label_horizon_ns"] == 15 * NS
    oos = rep["oos"]
    assert len(oos["mae_extra_bps"]) == 3
    assert oos["mae_extra_bps"][2] < 0.5 * oos["mae_extra_zero_bps"][2]  # beats "no difference"
    assert oos["saving_bps"] > 0.8 * oos["oracle_saving_bps"] > 0
    assert list(rep["feature_importance"])[:2] == [FEATURE_NAMES[0], FEATURE_NAMES[1]]
    assert model.train_range["n_examples"] == 800
    for f in rep["folds"]:  # purged: 15 s label windows, 5 s apart → 3 examples before each test block dropped
        assert f["n_train"] == (f["test_start_ns"] - ds.times_ns[0]) // (5 * NS) - 3


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(0, 10_000), min_size=1, max_size=80), st.integers(0, 3_000), st.integers(1, 5),
       st.integers(0, 10_000))
def test_time_split_never_overlaps(times, horizon, folds, start):
    t = np.array(times, np.int64)
    for split in (time_split(t, horizon, n_folds=folds), time_split(t, horizon, test_start_ns=start)):
        seen_test = []
        for train, test in split:
            assert len(np.intersect1d(train, test)) == 0
            if len(test) and len(train):
                lo, hi = t[test].min(), t[test].max() + horizon
                # no training label window [t, t + horizon] overlaps the test window [lo, hi]
                assert np.all((t[train] + horizon < lo) | (t[train] > hi))
                assert np.all(t[train] < lo)  # walk-forward: only the past
            seen_test.extend(test.tolist())
        assert len(seen_test) == len(set(seen_test))
    walk = time_split(t, horizon, n_folds=folds)
    covered = np.concatenate([te for _, te in walk]) if walk else np.zeros(0, np.int64)
    first = np.array_split(np.argsort(t, kind="stable"), folds + 1)[0]
    assert len(covered) + len(first) == len(t)


def test_time_split_needs_one_mode():
    with pytest.raises(ConfigError, match="exactly one"):
        time_split([1, 2], 0)
    with pytest.raises(ConfigError, match="exactly one"):
        time_split([1, 2], 0, n_folds=2, test_start_ns=1)


SCENARIO = """
name = "overlay_template"
seed = 3
[data]
synthetic = { regime = "liquid_large_cap", seed = 1 }
[parent]
side = "sell"
quantity = 8000
start = "09:35:00"
end = "09:45:00"
[schedule]
kind = "twap"
n_children = 20
style = "market"
[latency]
market_data = 1
order_entry = 2
"""


def test_cli_train(tmp_path, capsys):
    from tickreplay.cli import main

    scn = tmp_path / "s.toml"
    scn.write_text(SCENARIO)
    out = tmp_path / "model"
    code = main(["overlay", "train", "--scenario", str(scn), "--synthetic", "liquid_large_cap:4",
                 "--duration-s", "900", "--every-s", "3", "--delays", "0,1,5", "--horizon-s", "10", "--folds", "2",
                 "--rounds", "20", "--out", str(out)])
    assert code == 0
    text = capsys.readouterr().out
    assert "examples/s" in text and "out of sample" in text and "feature importance" in text
    rep = json.loads((out / "train_report.json").read_text())
    assert rep["child_quantity"] == 400 and rep["side"] == -1 and rep["delays_ns"] == [0, NS, 5 * NS]
    assert rep["n_examples"] == len(range(60, 900 - 15 + 1, 3))  # decisions whose label window fits the day
    m = DelayModel.load(out, expect_features=FEATURE_NAMES, expect_delays=(0, NS, 5 * NS))
    assert m.train_range["sources"] == ["synthetic/liquid_large_cap-s4-900s/2024-01-02"]
    assert main(["overlay", "train", "--scenario", str(scn), "--synthetic", "liquid_large_cap", "--out",
                 str(out)]) == 2
    assert "expected REGIME:SEED" in capsys.readouterr().err
    assert main(["overlay", "train", "--scenario", str(scn), "--synthetic", "liquid_large_cap:4", "--duration-s", "600",
                 "--refill-half-life-s", "3", "--every-s", "3", "--delays", "0,1", "--horizon-s", "5", "--folds", "1",
                 "--rounds", "5", "--out", str(out)]) == 0
    (source,) = DelayModel.load(out).train_range["sources"]
    assert source.startswith("synthetic/custom_") and source.endswith("-s4-600s/2024-01-02")  # regime + refill
    assert main(["overlay", "train", "--scenario", str(scn), "--tapes", "X/1", "--refill-half-life-s", "3", "--out",
                 str(out)]) == 2
    assert "generated days (--synthetic) only" in capsys.readouterr().err
