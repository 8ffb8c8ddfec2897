"""Scenario files: every example parses; unknown keys and wrong types are errors naming the key path."""

from __future__ import annotations

import tomllib
from pathlib import Path

import numpy as np
import pytest

from tickreplay.latency import Constant
from tickreplay.errors import ConfigError
from tickreplay.experiment.scenario import load_scenario, parse_scenario, resolve_time, with_overrides

REPO = Path(__file__).resolve().parents[1]

BASE = {
    "name": "t",
    "data": {"synthetic": {"regime": "liquid_large_cap", "seed": 1, "duration_s": 600}},
    "parent": {"side": "buy", "quantity": 1000, "start": "09:31:00", "end": "09:39:00"},
    "schedule": {"kind": "twap", "n_children": 4, "style": "market"},
}


def test_every_example_scenario_parses():
    files = sorted((REPO / "scenarios").glob("*.toml"))
    assert len(files) >= 7
    kinds = set()
    loops = 0
    for f in files:
        doc = tomllib.loads(f.read_text())
        if "base" in doc:
            continue  # a grid file
        if "loop" in doc:  # a hedging-loop file (tickreplay loop), checked by its own loader
            from tickreplay.hedging.loop_config import load_loop

            assert load_loop(f).name
            loops += 1
            continue
        s = load_scenario(f)
        kinds.add(s.schedule.kind)
        assert s.name and s.base_dir == str(f.parent)
    assert kinds == {"twap", "vwap", "pov", "almgren_chriss", "strategy"} and loops >= 1


def test_defaults_and_values():
    s = parse_scenario(BASE)
    assert s.parent.side == 1 and s.parent.quantity == 1000 and s.parent.arrival is None
    assert s.schedule.cancel_replace_after_s == 30.0 and s.queue.model == "risk_averse" and s.fees.taker_bps == 0
    assert s.latency.order_entry == Constant(0) and s.seed == 0 and s.pretrade is None
    sell = parse_scenario(with_overrides(BASE, {"parent.side": "sell", "latency.order_entry": {"model": "constant",
                                                                                             "latency_ms": 2}}))
    assert sell.parent.side == -1 and sell.latency.order_entry == Constant(2_000_000)


@pytest.mark.parametrize("over, key", [
    ({"colour": "red"}, "'colour'"),
    ({"schedule.participation": 0.1}, "'schedule.participation'"),  # not a twap key
    ({"data.synthetic.speed": 2}, "'data.synthetic.speed'"),
    ({"latency.order_entry_ms": 2}, "'latency.order_entry_ms'"),
    ({"queue.shape": "cubic"}, "'queue.shape'"),
    ({"fees.maker": -0.2}, "'fees.maker'"),
    ({"pretrade.alpha": 1}, "'pretrade.alpha'"),
])
def test_unknown_keys_name_their_path(over, key):
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        parse_scenario(with_overrides(BASE, over))


@pytest.mark.parametrize("over, key", [
    ({"parent.quantity": "1000"}, "parent.quantity"),
    ({"parent.quantity": 10.5}, "parent.quantity"),
    ({"parent.quantity": True}, "parent.quantity"),
    ({"parent.side": 1}, "parent.side"),
    ({"parent.start": "9h31"}, "parent.start"),
    ({"parent.end": 1.5}, "parent.end"),
    ({"schedule.n_children": "four"}, "schedule.n_children"),
    ({"schedule.style": "iceberg"}, "schedule.style"),
    ({"schedule.kind": "twapp"}, "schedule.kind"),
    ({"seed": "1"}, "seed"),
    ({"fees.taker_bps": "0.3"}, "fees.taker_bps"),
    ({"latency.response": True}, "latency.response"),
    ({"data.levels": 0}, "data.levels"),
    ({"queue.exponent": -1}, "queue.exponent"),
])
def test_wrong_types_name_their_key(over, key):
    with pytest.raises(ConfigError, match=f"'{key}'".replace(".", r"\.")):
        parse_scenario(with_overrides(BASE, over))


def test_pov_participation_checked():
    doc = with_overrides(BASE, {"schedule": {"kind": "pov", "participation": 1.5, "min_child": 100,
                                             "max_child": 500}})
    with pytest.raises(ConfigError, match=r"'schedule\.participation'.*fraction"):
        parse_scenario(doc)
    doc["schedule"]["participation"] = 0.1
    assert parse_scenario(doc).schedule.participation == 0.1
    del doc["schedule"]["min_child"]
    with pytest.raises(ConfigError, match=r"'schedule\.min_child' is required"):
        parse_scenario(doc)


def test_structure_errors():
    with pytest.raises(ConfigError, match="exactly one of catalog, lobster, synthetic"):
        parse_scenario(with_overrides(BASE, {"data.catalog": "lobster/AMZN/2012-06-21"}))
    no_parent = {k: v for k, v in BASE.items() if k != "parent"}
    with pytest.raises(ConfigError, match=r"\[parent\]"):
        parse_scenario(no_parent)
    with pytest.raises(ConfigError, match="exactly one for twap"):
        parse_scenario(with_overrides(BASE, {"schedule.interval_s": 60}))
    with pytest.raises(ConfigError, match="module.path:ClassName"):
        parse_scenario(with_overrides(BASE, {"schedule": {"kind": "strategy", "strategy": "mymodule.Class"}}))


def test_file_errors_name_the_file(tmp_path):
    p = tmp_path / "bad.toml"
    p.write_text('name = "x"\n[data]\nsynthetic = { regime = "liquid_large_cap" }\n[parent]\nside = "buy"\n'
                 'quantity = 100\nstart = "09:31"\nend = "09:40"\n[schedule]\nkind = "twap"\nn_children = 2\n'
                 'styel = "market"\n')
    with pytest.raises(ConfigError, match=r"bad\.toml: unknown scenario key 'schedule\.styel'"):
        load_scenario(p)
    p.write_text("name = \n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_scenario(p)


def test_resolve_time():
    # 2012-06-21 is in US daylight time: 09:30 New York = 13:30 UTC
    assert resolve_time("09:30:00", "2012-06-21", "America/New_York") == 1_340_285_400 * 10**9
    assert resolve_time("09:30:00.25", "2012-06-21", "America/New_York") == 1_340_285_400 * 10**9 + 250_000_000
    assert resolve_time(123, "2012-06-21", "America/New_York") == 123


def test_cross_field_and_window_errors_name_the_file_the_key_and_the_session(tmp_path):
    """Start after end is refused when the file loads; a window outside the data's session when the data is known,
    naming the file, the key, the window and the session (it used to run and quietly fill a part)."""
    from tickreplay.experiment import build_plan, load_data

    base = ('[data]\nsynthetic = { regime = "liquid_large_cap", seed = 1, duration_s = 600 }\n'
            '[schedule]\nkind = "twap"\nn_children = 2\n[parent]\nside = "buy"\nquantity = 100\n')
    bad = tmp_path / "late.toml"
    bad.write_text(base + 'start = "10:00"\nend = "09:59"\n')
    with pytest.raises(ConfigError, match=r"late\.toml: scenario key 'parent\.end': expected a time after parent"):
        load_scenario(bad)
    data_window = base.replace("duration_s = 600 }", 'duration_s = 600 }\nstart = "10:00"\nend = "09:00"')
    for text, key in ((base + 'start = "10:00"\nend = "10:00"\n', "parent.end"),
                      (base + 'start = "10:00"\nend = "10:30"\narrival = "10:01"\n', "parent.start"),
                      (data_window + 'start = "09:31"\nend = "09:32"\n', "data.end")):
        bad.write_text(text)
        with pytest.raises(ConfigError, match=rf"late\.toml: scenario key '{key}': expected a time"):
            load_scenario(bad)
    outside = tmp_path / "outside.toml"
    outside.write_text(base + 'start = "09:31"\nend = "11:00"\n')  # the data: 09:30-09:40
    scn = load_scenario(outside)
    with pytest.raises(ConfigError, match=r"outside\.toml: scenario key 'parent\.end': the parent's window "
                                          r"09:31:00–11:00:00 lies outside the data synthetic/liquid_large_cap-s1-600s"):
        build_plan(scn, load_data(scn))
    cut = tmp_path / "cut.toml"  # the data's own window is its session: a parent past it has no book to trade
    cut.write_text(base.replace("duration_s = 600 }", "duration_s = 600 }\nend = \"09:35\"") + 'start = "09:32"\nend = "09:38"\n')
    scn = load_scenario(cut)
    with pytest.raises(ConfigError, match=r"cut\.toml: scenario key 'parent\.end'.*session 09:30:00–09:35:00"):
        build_plan(scn, load_data(scn))
    early = tmp_path / "early.toml"
    early.write_text(base + 'start = "09:00"\nend = "09:35"\n')
    scn = load_scenario(early)
    with pytest.raises(ConfigError, match=r"early\.toml: scenario key 'parent\.start'.*session 09:30:00–09:40:00"):
        build_plan(scn, load_data(scn))


def test_json_outputs_are_strict():
    import json

    from tickreplay.io import json_text

    text = json_text({"a": float("nan"), "b": [float("inf"), -float("inf"), 1.5], "c": {"d": np.float64("nan")}})
    assert "NaN" not in text and "Infinity" not in text
    assert json.loads(text, parse_constant=lambda c: pytest.fail(f"non-strict {c}")) == \
        {"a": None, "b": [None, None, 1.5], "c": {"d": None}}
