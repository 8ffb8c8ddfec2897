"""The ``[overlay]`` table: checked like every table; off (absent, disabled, max delay 0) = the static run byte for
byte; on = the children go through the overlay executor and the results record its decisions; a model that does not
fit fails with an error saying what differs."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import tomli_w

from tickreplay import experiment
from tickreplay.experiment.scenario import Scenario
from tickreplay.errors import ConfigError
from tickreplay.overlay import DelayModel
from tickreplay.trader import DEFAULT_DELAYS_NS, FEATURE_NAMES, OverlayExecutor
from tickreplay.experiment.scenario import load_scenario, parse_scenario, with_overrides

NS = 1_000_000_000
REPO = Path(__file__).resolve().parents[1]
N_CHILDREN = 4
PARENT_S = 480  # 09:31:00-09:39:00: one child every 120 s

BASE = {
    "name": "ov",
    "seed": 5,
    "data": {"synthetic": {"regime": "liquid_large_cap", "seed": 1, "duration_s": 600}},
    "parent": {"side": "buy", "quantity": 2000, "start": "09:31:00", "end": "09:39:00"},
    "schedule": {"kind": "twap", "n_children": N_CHILDREN, "style": "limit_touch", "cancel_replace_after_s": 20,
                 "max_replaces": 1, "finish_with_market": True},
    "latency": {"market_data": 1, "order_entry": {"model": "normal", "mean_ms": 2, "jitter_ms": 0.5}, "response": 1},
}


def _save_model(path: Path, delays_ns=DEFAULT_DELAYS_NS, features=FEATURE_NAMES) -> Path:
    """A tiny model whose every delay predicts a lower cost than the one before: it always waits the most allowed."""
    rng = np.random.default_rng(0)
    X = rng.uniform(0, 1000, (200, len(features)))
    Y = np.tile(np.linspace(1.0, 0.0, len(delays_ns)), (200, 1))
    DelayModel(num_boost_round=5).fit(X, Y, features, delays_ns).save(path)
    return path


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    return _save_model(tmp_path_factory.mktemp("models") / "wait")


def _scn(tmp_path: Path, overlay: dict | None) -> Scenario:
    doc = dict(BASE) if overlay is None else {**BASE, "overlay": overlay}
    return parse_scenario(doc, base_dir=tmp_path)


def _run(scn, out: Path) -> tuple[Path, dict]:
    o = experiment.run_scenario(scn, out)
    return o.path, json.loads((o.path / "tca.json").read_text())


# -- checking ---------------------------------------------------------------------------------------------------------

def test_overlay_table_parses_with_defaults(tmp_path):
    s = _scn(tmp_path, {"model": "m", "max_delay_s": 2})
    assert s.overlay.model == "m" and s.overlay.max_delay_s == 2.0 and s.overlay.enabled
    assert s.overlay.delays_s is None and s.overlay.margin_bps is None and s.overlay.active
    assert not _scn(tmp_path, {"model": "m", "max_delay_s": 0}).overlay.active
    assert not _scn(tmp_path, {"model": "m", "max_delay_s": 5, "enabled": False}).overlay.active
    full = _scn(tmp_path, {"model": "m", "max_delay_s": 5, "delays_s": [0, 0.5, 1], "margin_bps": 0.25})
    assert full.overlay.delays_s == (0.0, 0.5, 1.0) and full.overlay.margin_bps == 0.25
    assert _scn(tmp_path, None).overlay is None


@pytest.mark.parametrize("overlay, key", [
    ({"model": "m", "max_delay_s": 2, "max_delay": 2}, "unknown scenario key 'overlay.max_delay'"),
    ({"model": "m", "max_delay_s": "2"}, "'overlay.max_delay_s': expected a number"),
    ({"model": "m", "max_delay_s": -1}, "'overlay.max_delay_s': expected a non-negative number"),
    ({"model": "m", "max_delay_s": True}, "'overlay.max_delay_s': expected a number"),
    ({"model": 3, "max_delay_s": 2}, "'overlay.model': expected a non-empty string"),
    ({"model": "m", "max_delay_s": 2, "enabled": "yes"}, "'overlay.enabled': expected true or false"),
    ({"model": "m", "max_delay_s": 2, "delays_s": 5}, "'overlay.delays_s': expected a non-empty list"),
    ({"model": "m", "max_delay_s": 2, "delays_s": [0, 2, 1]}, "'overlay.delays_s': expected increasing"),
    ({"model": "m", "max_delay_s": 2, "delays_s": [0, "1"]}, r"'overlay.delays_s\[1\]': expected a number"),
    ({"model": "m", "max_delay_s": 2, "margin_bps": -0.5}, "'overlay.margin_bps': expected a non-negative"),
    ({"max_delay_s": 2}, "'overlay.model' is required"),
    ({"model": "m"}, "'overlay.max_delay_s' is required"),
    ("m", "'overlay': expected a table"),
])
def test_bad_overlay_tables_name_the_key(tmp_path, overlay, key):
    with pytest.raises(ConfigError, match=key.replace(".", r"\.") if "\\" not in key else key):
        _scn(tmp_path, overlay)


def test_overlay_needs_a_schedule_with_children(tmp_path):
    pov = with_overrides(BASE, {"schedule": {"kind": "pov", "participation": 0.1, "min_child": 100,
                                             "max_child": 500}, "overlay": {"model": "m", "max_delay_s": 2}})
    with pytest.raises(ConfigError, match=r"'\[overlay\]' applies to schedule kinds twap, vwap, almgren_chriss"):
        parse_scenario(pov)


def test_example_scenario_parses_and_points_at_the_documented_model_folder():
    s = load_scenario(REPO / "scenarios" / "twap_overlay.toml")
    assert s.overlay is not None and s.overlay.active and s.schedule.kind == "twap"
    assert s.path(s.overlay.model).resolve() == REPO / "models" / "liquid"
    assert "--out models/liquid" in (REPO / "docs" / "scenarios.md").read_text()


# -- models that do not fit -------------------------------------------------------------------------------------------

def test_missing_model_folder_says_how_to_make_one(tmp_path):
    scn = _scn(tmp_path, {"model": "nowhere", "max_delay_s": 2})
    with pytest.raises(ConfigError, match=r"'overlay\.model': .*nowhere is not a delay model folder.*overlay train"):
        experiment.build_plan(scn, experiment.load_data(scn))


def test_model_with_other_features_is_refused_naming_them(tmp_path):
    feats = FEATURE_NAMES[:-1] + ("tomorrows_close",)
    _save_model(tmp_path / "odd", features=feats)
    scn = _scn(tmp_path, {"model": "odd", "max_delay_s": 2})
    with pytest.raises(ConfigError, match=r"'overlay\.model'.*feature list differs.*tomorrows_close"):
        experiment.build_plan(scn, experiment.load_data(scn))


def test_model_with_another_grid_is_refused_saying_what_differs(tmp_path):
    _save_model(tmp_path / "short", delays_ns=(0, NS, 2 * NS))
    scn = _scn(tmp_path, {"model": "short", "max_delay_s": 2, "delays_s": [0, 0.5, 1, 2, 5, 10]})
    with pytest.raises(ConfigError, match=r"'overlay\.delays_s'.*missing \[0\.5, 5\.0, 10\.0\]"):
        experiment.build_plan(scn, experiment.load_data(scn))
    # checked even with the overlay at max delay 0 (a wrong configuration fails before any run) ...
    zero = _scn(tmp_path, {"model": "short", "max_delay_s": 0, "delays_s": [0, 1]})
    with pytest.raises(ConfigError, match=r"'overlay\.delays_s'.*unexpected \[2\.0\]"):
        experiment.build_plan(zero, experiment.load_data(zero))
    # ... but not when disabled; the model's own grid given explicitly is accepted
    off = _scn(tmp_path, {"model": "nowhere", "max_delay_s": 2, "enabled": False, "delays_s": [0, 1]})
    assert not isinstance(experiment.build_plan(off, experiment.load_data(off)).strategy, OverlayExecutor)
    same = _scn(tmp_path, {"model": "short", "max_delay_s": 2, "delays_s": [0, 1, 2]})
    assert isinstance(experiment.build_plan(same, experiment.load_data(same)).strategy, OverlayExecutor)


# -- runs -------------------------------------------------------------------------------------------------------------

def test_overlay_off_is_the_static_run_byte_for_byte(tmp_path, model_dir):
    static_dir, static_tca = _run(_scn(tmp_path, None), tmp_path / "static")
    fills = pd.read_parquet(static_dir / "fills.parquet")
    assert len(fills) > 0
    for k, overlay in enumerate([{"model": str(model_dir), "max_delay_s": 0},
                                 {"model": str(model_dir), "max_delay_s": 10, "enabled": False}]):
        run_dir, tca = _run(_scn(tmp_path, overlay), tmp_path / f"off{k}")
        for name in ("orders", "fills", "schedule"):
            pd.testing.assert_frame_equal(pd.read_parquet(run_dir / f"{name}.parquet"),
                                          pd.read_parquet(static_dir / f"{name}.parquet"))
            assert (run_dir / f"{name}.parquet").read_bytes() == (static_dir / f"{name}.parquet").read_bytes()
        assert tca == static_tca and "overlay" not in tca
        assert not (run_dir / "decisions.parquet").exists()


def test_overlay_on_delays_children_and_records_its_decisions(tmp_path, model_dir):
    max_delay_s = 3  # grid 0, .5, 1, 2, 5, 10: the always-waiting model waits 2 s (slack is 120 s)
    static_dir, _ = _run(_scn(tmp_path, None), tmp_path / "static")
    scn = _scn(tmp_path, {"model": str(model_dir), "max_delay_s": max_delay_s})
    plan = experiment.build_plan(scn, experiment.load_data(scn))
    static_plan = experiment.build_plan(_scn(tmp_path, None), experiment.load_data(scn))
    assert isinstance(plan.strategy, OverlayExecutor)
    assert plan.strategy.children == static_plan.strategy.children  # same child list, same options
    assert (plan.strategy.replace_after_ns, plan.strategy.max_replaces, plan.strategy.finish_with_market) == \
        (20 * NS, 1, True)

    run_dir, tca = _run(scn, tmp_path / "on")
    dec = pd.read_parquet(run_dir / "decisions.parquet")
    assert list(dec.columns[:4]) == ["child_index", "time_ns", "slack_ns", "delay_ns"]
    assert list(dec.columns[4:]) == list(FEATURE_NAMES)
    assert dec["child_index"].tolist() == list(range(N_CHILDREN))
    assert (dec["delay_ns"] == 2 * NS).all()
    sched = pd.read_parquet(static_dir / "schedule.parquet")
    assert dec["time_ns"].tolist() == sched["time_ns"].tolist()

    ov = tca["overlay"]
    assert ov["n_children"] == N_CHILDREN and ov["n_delayed"] == N_CHILDREN
    assert ov["mean_delay_s"] == 2.0 and ov["max_delay_used_s"] == 2.0 and ov["delay_counts"] == {"2": N_CHILDREN}
    assert ov["max_delay_s"] == max_delay_s and ov["model"] == str(model_dir.resolve())
    assert ov["delays_s"] == [d / NS for d in DEFAULT_DELAYS_NS] and ov["margin_bps"] == 0.0

    # every child is sent 2 s after its scheduled time (the static run: at it)
    def new_order_times(d: Path) -> set[int]:
        orders = pd.read_parquet(d / "orders.parquet")
        return set(orders.loc[orders["action"] == "new", "decision_ns"].tolist())

    due = set(sched["time_ns"].tolist())
    assert due <= new_order_times(static_dir)
    assert {t + 2 * NS for t in due} <= new_order_times(run_dir) and not due & new_order_times(run_dir)
    fills = pd.read_parquet(run_dir / "fills.parquet")
    assert fills["size"].sum() == BASE["parent"]["quantity"]  # nothing dropped: the parent completes
    assert tomllib.loads((run_dir / "scenario.toml").read_text())["overlay"]["max_delay_s"] == max_delay_s


def test_scenario_margin_overrides_the_models(tmp_path, model_dir):
    """The model predicts a saving of 0.6 bps for 2 s (costs 1 → 0 over six delays): a 0.7 bps margin says do not wait."""
    scn = _scn(tmp_path, {"model": str(model_dir), "max_delay_s": 3, "margin_bps": 0.7})
    run_dir, tca = _run(scn, tmp_path / "margin")
    assert tca["overlay"]["n_delayed"] == 0 and tca["overlay"]["margin_bps"] == 0.7
    assert DelayModel.load(model_dir).margin_bps == 0.0  # the saved model is untouched


def test_compare_command_defaults_to_the_scenarios_max_delay(tmp_path, model_dir, capsys):
    from tickreplay.catalog import Catalog
    from tickreplay.cli import main

    data = experiment.load_data(_scn(tmp_path, None))
    Catalog(tmp_path / "replay").write("synthetic", data.tape, data.snapshots)
    inst = data.tape.instrument
    key = f"synthetic/{inst.symbol}/{inst.date}"
    doc = {**BASE, "data": {"catalog": key, "catalog_root": "replay"}, "schedule": {"kind": "twap", "n_children": 2, "style": "market"},
           "parent": {**BASE["parent"], "start": "09:31:00", "end": "09:31:20"},
           "overlay": {"model": str(model_dir), "max_delay_s": 1}}
    (tmp_path / "s.toml").write_text(tomli_w.dumps(doc))
    args = ["overlay", "compare", "--model", str(model_dir), "--scenario", str(tmp_path / "s.toml"), "--tapes", key,
            "--start", "09:32:00", "--end", "09:32:50", "--horizon-s", "5", "--n-boot", "50", "--json"]
    assert main(args) == 0
    assert json.loads(capsys.readouterr().out)["overlay_delays_s"] == {"1": 4}  # 2 parents × 2 children, 1 s each
    assert main(args + ["--max-delay-s", "5"]) == 0
    assert json.loads(capsys.readouterr().out)["overlay_delays_s"] == {"5": 4}  # slack 10 s: the flag wins
    # the parents take the static schedule's children: the scenario's own model folder is not read (--model is)
    (tmp_path / "s.toml").write_text(tomli_w.dumps(with_overrides(doc, {"overlay.model": "nowhere"})))
    assert main(args) == 0
    assert json.loads(capsys.readouterr().out)["overlay_delays_s"] == {"1": 4}


def test_run_command_prints_what_the_overlay_did(tmp_path, model_dir, capsys):
    from tickreplay.cli import main

    doc = {**BASE, "overlay": {"model": str(model_dir), "max_delay_s": 3}}
    (tmp_path / "s.toml").write_text(tomli_w.dumps(doc))
    assert main(["run", str(tmp_path / "s.toml"), "--out", str(tmp_path / "results")]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert f"  overlay: delayed {N_CHILDREN} of {N_CHILDREN} children, mean delay 2.0 s; by delay: 2 s {N_CHILDREN}" \
        in lines
    (tmp_path / "off.toml").write_text(tomli_w.dumps(BASE))
    assert main(["run", str(tmp_path / "off.toml"), "--out", str(tmp_path / "results")]) == 0
    assert not any("overlay:" in ln for ln in capsys.readouterr().out.splitlines())


def test_overlay_line_lists_delays_in_numeric_order():
    from tickreplay.cli.run import tca_lines

    ov = {"n_children": 60, "n_delayed": 23, "mean_delay_s": 1.4167, "delay_counts": {"0": 37, "10": 3, "1": 10,
                                                                                      "0.5": 10}}
    assert tca_lines({"overlay": ov}) == ["  overlay: delayed 23 of 60 children, mean delay 1.4 s; "
                                          "by delay: 0 s 37, 0.5 s 10, 1 s 10, 10 s 3"]
