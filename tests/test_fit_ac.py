"""Almgren–Chriss calibration: recovery from parents priced by the AC cost formula; estimate/schedule use it."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from tickreplay.cli import main
from tickreplay.errors import InputError
from tickreplay.impact import almgren_chriss as ac
from tickreplay.impact.calibration import new_calibration, read_calibration
from tickreplay.impact.fit_ac import CalibratedACModel, fit_ac
from tickreplay.impact.models import MarketInputs, PreTradeOrder

ETA, GAMMA, EPS = 2.5e-6, 2.5e-7, 0.0625  # the AC (2001) example's eta, gamma, epsilon
PRICE = 50.0


def simulated(n: int, seed: int, instant: int = 0) -> pd.DataFrame:
    """Measured-parent frames whose shortfall per share is AC's expected cost of the straight line (50 periods)
    plus noise, and whose persisting move is γX plus noise; ``instant`` more parents done in one instant."""
    rng = np.random.default_rng(seed)
    X = np.round(np.exp(rng.uniform(np.log(1e3), np.log(1e5), n)))
    T = rng.uniform(0.02, 0.5, n)
    cost = np.array([ac.expected_cost_sum(p, ac.holdings(p, 0.0)) / x for x, t in zip(X, T)
                     for p in [ac.ACParams(shares=x, days=t, periods=50, sigma=0.0, eta=ETA, gamma=GAMMA,
                                           epsilon=EPS)]])
    cost += rng.normal(0, 0.01, n)
    move = GAMMA * X + rng.normal(0, 0.2 * GAMMA * X.mean(), n)
    side = rng.choice([-1, 1], n)
    dates = (np.datetime64("2024-01-02") + rng.integers(0, 6, n)).astype(str)
    df = pd.DataFrame({"row": np.arange(1, n + 1), "parent_id": [f"p{i}" for i in range(n)],
                       "tape": [f"synthetic/SYM/{d}" for d in dates], "instrument": "SYM", "date": dates,
                       "regime": "r", "side": side, "quantity": X, "duration_days": T, "m_arr": PRICE,
                       "m_post": PRICE + side * move, "avg_price": PRICE + side * cost, "multiplier": 1,
                       "adv": 5e6, "daily_vol": 0.019, "arrival_spread_bps": 2.5, "post_clamped": False})
    if instant:
        extra = df.iloc[:instant].assign(duration_days=0.0, parent_id=[f"i{i}" for i in range(instant)])
        df = pd.concat([df, extra], ignore_index=True)
    return df


def test_ac_fit_recovers_planted_eta_and_gamma():
    cal = fit_ac(simulated(1500, seed=1, instant=7), bootstrap=300)
    for name, true in (("eta", ETA), ("gamma", GAMMA), ("epsilon", EPS)):
        lo, hi = cal.intervals[name]
        assert lo <= true <= hi, (name, cal.params[name], (lo, hi))
        assert cal.params[name] == pytest.approx(true, rel=0.10)
    assert cal.fit["instant_parents"] == 7 and cal.fit["n_parents"] == 1500
    assert cal.oos["split"] == "by day"
    # the desk's own coefficients beat the textbook canonical model on held-out parents
    assert cal.oos["scores"]["mae_bps"] < cal.oos["default_scores"]["mae_bps"]


def test_ac_fit_of_two_instruments_is_an_error():
    p = simulated(60, seed=2)
    p.loc[30:, "instrument"] = "OTHER"
    with pytest.raises(InputError, match="one instrument") as err:
        fit_ac(p, where="f.parquet")
    assert (err.value.row, err.value.field) == (31, "instrument")


def _ac_file(tmp_path, eta=ETA, gamma=GAMMA):
    return new_calibration("almgren-chriss", {"eta": eta, "gamma": gamma, "epsilon": EPS},
                           intervals={"eta": (eta * 0.9, eta * 1.1), "gamma": (gamma * 0.8, gamma * 1.2)}
                           ).write(tmp_path / "ac.json")


def _json(argv, capsys):
    assert main(argv) == 0, capsys.readouterr().err
    return json.loads(capsys.readouterr().out)


SCHED = ["schedule", "almgren-chriss", "--quantity", "1000000", "--days", "5", "--periods", "5", "--sigma", "0.95",
         "--risk-aversion", "2e-6", "--epsilon", "0.0625", "--json"]


def test_schedule_takes_eta_and_gamma_from_the_calibration(tmp_path, capsys):
    path = _ac_file(tmp_path)
    typed = _json(SCHED + ["--eta", str(ETA), "--gamma", str(GAMMA)], capsys)
    calibrated = _json(SCHED + ["--calibration", str(path)], capsys)
    assert calibrated.pop("calibration")["params"]["eta"] == ETA
    assert calibrated == typed
    assert main(SCHED + ["--calibration", str(path), "--eta", "1e-6"]) == 2
    assert "give one" in capsys.readouterr().err
    sq = new_calibration("sqrt", {"Y": 0.7, "delta": 0.5}).write(tmp_path / "sq.json")
    assert main(SCHED + ["--calibration", str(sq)]) == 2
    assert "expected a 'almgren-chriss' calibration" in capsys.readouterr().err
    assert main(SCHED) == 2 and "--eta is required" in capsys.readouterr().err


EST = ["estimate", "--side", "sell", "--quantity", "100000", "--adv", "5000000", "--spread-bps", "2.5",
       "--daily-vol-pct", "1.9", "--ref-price", "50", "--participation-pct", "10", "--json"]


def test_estimate_prices_with_the_calibrated_ac_model(tmp_path, capsys):
    path = _ac_file(tmp_path)
    png = tmp_path / "frontier.png"
    out = _json(EST + ["--calibration", str(path), "--curve", "--frontier-png", str(png)], capsys)
    order = PreTradeOrder(side=-1, order_size=100_000, ref_price=50.0, participation=0.1)
    market = MarketInputs(adv=5e6, daily_vol=0.019, spread_bps=2.5)
    p = CalibratedACModel(ETA, GAMMA).params(order, market)
    expected = ac.solve(p).expected_cost / order.notional * 1e4
    assert out["total_bps"] == pytest.approx(expected)
    assert out["permanent_bps"] == pytest.approx(0.5 * GAMMA * 100_000**2 / order.notional * 1e4)
    assert out["calibration"]["kind"] == "almgren-chriss" and png.stat().st_size > 0
    # the cost-vs-horizon curve comes from the calibration: a faster horizon costs more
    feasible = [c for c in out["curve"] if c["feasible"]]
    assert feasible[0]["cost_bps"] > feasible[-1]["cost_bps"]
    twice = _json(EST + ["--calibration", str(_ac_file(tmp_path, eta=2 * ETA))], capsys)
    # one more eta adds eta * v per share, v = X / T the trading rate (T = X / (participation * ADV) days)
    rate = 0.1 * 5e6
    assert twice["temporary_bps"] - out["temporary_bps"] == pytest.approx(ETA * rate / 50.0 * 1e4, rel=1e-9)


def test_estimate_with_a_sqrt_calibration_equals_the_typed_coefficients(tmp_path, capsys):
    path = new_calibration("sqrt", {"Y": 0.7, "delta": 0.55}).write(tmp_path / "sq.json")
    cal = _json(EST + ["--calibration", str(path)], capsys)
    typed = _json(EST + ["--model", "sqrt", "--y", "0.7", "--exponent", "0.55"], capsys)
    assert cal.pop("calibration")["params"] == {"Y": 0.7, "delta": 0.55}
    assert cal == typed


@pytest.mark.parametrize("extra, message", [
    (["--model", "canonical"], "not to --model canonical"),
    (["--model", "sqrt"], "expected a 'sqrt' calibration"),
    (["--eta", "1e-6"], "give one"),
])
def test_estimate_calibration_kind_must_fit(tmp_path, capsys, extra, message):
    path = _ac_file(tmp_path)
    assert main(EST + ["--calibration", str(path), *extra]) == 2
    assert message in capsys.readouterr().err


def test_estimate_rejects_a_propagator_calibration(tmp_path, capsys):
    path = new_calibration("propagator", {"G0": 1.0, "beta": 0.3, "lag0": 1.0}).write(tmp_path / "p.json")
    assert main(EST + ["--calibration", str(path)]) == 2
    assert "'propagator' calibration" in capsys.readouterr().err
    assert main(EST + ["--model", "almgren-chriss"]) == 2
    assert "--calibration FILE" in capsys.readouterr().err


def test_calibration_file_round_trip_keeps_the_sample(tmp_path):
    cal = fit_ac(simulated(100, seed=3), bootstrap=50)
    back = read_calibration(cal.write(tmp_path / "c.json"), kind="almgren-chriss")
    assert back.params == cal.params and len(back.fit["sample"]["X"]) == 100
