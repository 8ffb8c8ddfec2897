"""Calibration files: round trip and errors naming the file and field."""

import json

import pytest

from tickreplay.errors import InputError
from tickreplay.impact.calibration import Calibration, new_calibration, read_calibration


def test_round_trip_keeps_every_field(tmp_path):
    cal = new_calibration("sqrt", {"Y": 0.71, "delta": 0.52}, intervals={"Y": (0.6, 0.8), "delta": (0.45, 0.6)},
                          data=[{"key": "synthetic/x-s1/2024-01-02", "fingerprint": "ab", "start_ns": 1, "end_ns": 2}],
                          oos={"split": "by day", "scores": {"r2": 0.4}}, fit={"n_parents": 120})
    back = read_calibration(cal.write(tmp_path / "cal.json"), kind="sqrt")
    assert back == cal
    assert back.package_version  # stamped


@pytest.mark.parametrize("edit, field", [
    (lambda o: o.update(format="other"), "format"),
    (lambda o: o.update(kind="linear"), "kind"),
    (lambda o: o["params"].pop("delta"), "params.delta"),
    (lambda o: o["params"].update(Y="high"), "params.Y"),
    (lambda o: o["intervals"].update(Y=[0.9, 0.1]), "intervals.Y"),
    (lambda o: o.update(ci_level=95), "ci_level"),
])
def test_bad_file_names_field(tmp_path, edit, field):
    obj = new_calibration("sqrt", {"Y": 0.7, "delta": 0.5}, intervals={"Y": (0.6, 0.8)}).to_dict()
    edit(obj)
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(obj))
    with pytest.raises(InputError) as err:
        read_calibration(path)
    assert err.value.field == field and str(path) in str(err.value)


def test_wrong_kind_and_invalid_json(tmp_path):
    path = new_calibration("propagator", {"G0": 1.0, "beta": 0.3, "lag0": 1.0}).write(tmp_path / "p.json")
    with pytest.raises(InputError, match="expected a 'sqrt' calibration"):
        read_calibration(path, kind="sqrt")
    (tmp_path / "j.json").write_text("{nope")
    with pytest.raises(InputError, match="not valid JSON"):
        read_calibration(tmp_path / "j.json")
    with pytest.raises(InputError, match="params.eta"):
        Calibration(kind="almgren-chriss", params={"gamma": 0.1})


def test_an_unusable_almgren_chriss_calibration_is_refused_naming_the_file(tmp_path, capsys):
    from tickreplay.cli import main

    path = new_calibration("almgren-chriss", {"eta": 0.0, "gamma": 1e-7},
                           fit={"clamped": ["eta"]}).write(tmp_path / "ac.json")
    for argv in (["schedule", "almgren-chriss", "--calibration", str(path), "--shares", "1000", "--days", "1",
                  "--periods", "10", "--sigma", "0.3"],):
        assert main(argv) == 2
        assert "params.eta" in capsys.readouterr().err
    from tickreplay.impact.calibration import ac_coefficients

    with pytest.raises(InputError) as err:
        ac_coefficients(read_calibration(path), path)
    assert err.value.field == "params.eta" and str(path) in str(err.value)
