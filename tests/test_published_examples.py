"""Every figure of ../shared/reference/published_examples.toml, read from the file (no copied numbers)."""

from __future__ import annotations

import json
import math
import tomllib
from pathlib import Path

import numpy as np
import pytest

from tickreplay.cli import main
from tickreplay.impact.almgren2005 import almgren2005_breakdown
from tickreplay.impact.almgren_chriss import ACParams, solve
from tickreplay.impact.canonical import canonical_breakdown

TOML = Path(__file__).resolve().parents[2] / "shared" / "reference" / "published_examples.toml"


@pytest.fixture(scope="module")
def examples() -> dict:
    if not TOML.exists():
        pytest.fail(f"{TOML} is missing")
    return tomllib.loads(TOML.read_text())


def _canonical_argv(c: dict) -> list[str]:
    flags = ["side", "order_size", "adv", "spread_bps", "daily_vol_pct", "participation_pct", "latency_ms",
             "latency_jitter_ms", "ref_price"]
    argv = ["estimate"]
    for f in flags:
        argv += [f"--{f.replace('_', '-')}", str(c[f])]
    return argv


def test_canonical_breakdown_reproduces_every_figure(examples):
    c = examples["canonical_order"]
    got = canonical_breakdown(c["order_size"], c["adv"], c["spread_bps"], c["daily_vol_pct"] / 100,
                              c["participation_pct"] / 100, c["ref_price"], c["latency_ms"], c["latency_jitter_ms"])
    assert set(got) == set(c["expected"])
    for key, want in c["expected"].items():
        assert got[key] == pytest.approx(want, abs=1e-9, rel=0), key


def test_estimate_cli_json_has_exactly_the_expected_keys(examples, capsys):
    c = examples["canonical_order"]
    assert main(_canonical_argv(c) + ["--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out) == set(c["expected"])
    for key, want in c["expected"].items():
        assert out[key] == pytest.approx(want, abs=1e-9, rel=0), key


def test_estimate_cli_text_prints_the_breakdown(examples, capsys):
    c = examples["canonical_order"]
    assert main(_canonical_argv(c)) == 0
    text = capsys.readouterr().out
    for key, want in c["expected"].items():
        assert key in text and f"{want:,.6f}" in text


def _ac(ex: dict) -> tuple[dict, dict, ACParams]:
    a = ex["almgren_chriss_2001"]
    case = a["lambda_1e-6"]
    p = ACParams(shares=a["X"], days=a["T_days"], periods=a["N"], sigma=a["sigma"], eta=a["eta"], gamma=a["gamma"],
                 epsilon=a["epsilon"], risk_aversion=case["lambda"])
    return a, case, p


def _check_ac(case: dict, kappa: float, holdings, trades, e: float, v: float) -> None:
    assert round(kappa, 6) == case["kappa_per_day"]
    assert np.rint(holdings).astype(int).tolist() == case["holdings"]
    assert np.rint(trades).astype(int).tolist() == case["trades"]
    assert round(e) == case["expected_cost_usd"]
    assert float(f"{v:.5g}") == case["variance_usd2"]


def test_almgren_chriss_table_1(examples):
    _, case, p = _ac(examples)
    s = solve(p)
    _check_ac(case, s.kappa, s.holdings, s.trades, s.expected_cost, s.variance)


def test_schedule_cli_almgren_chriss_json(examples, capsys):
    a, case, _ = _ac(examples)
    argv = ["schedule", "almgren-chriss", "--shares", str(a["X"]), "--days", str(a["T_days"]),
            "--periods", str(a["N"]), "--sigma", str(a["sigma"]), "--eta", str(a["eta"]), "--gamma", str(a["gamma"]),
            "--epsilon", str(a["epsilon"]), "--risk-aversion", str(case["lambda"]), "--json"]
    assert main(argv) == 0
    out = json.loads(capsys.readouterr().out)
    assert {"kappa", "holdings", "trades", "expected_cost", "variance"} <= set(out)
    _check_ac(case, out["kappa"], out["holdings"], out["trades"], out["expected_cost"], out["variance"])


def test_almgren_2005_ibm_example(examples):
    ibm = examples["almgren_2005"]["IBM"]
    for t_key, temp_want in ibm["temporary_bps"].items():
        got = almgren2005_breakdown(ibm["x_over_v"], ibm["theta_over_v"], ibm["sigma_daily_pct"] / 100, float(t_key))
        assert abs(got["permanent_bps"] - ibm["permanent_bps"]) <= 0.5
        assert abs(got["temporary_bps"] - temp_want) <= 0.5, t_key
        assert abs(got["realized_bps"] - ibm["realized_bps"][t_key]) <= 0.5, t_key


def test_almgren_2005_formulas_by_hand(examples):
    ibm = examples["almgren_2005"]["IBM"]
    sigma, x, theta = ibm["sigma_daily_pct"] / 100, ibm["x_over_v"], ibm["theta_over_v"]
    got = almgren2005_breakdown(x, theta, sigma, 0.2)
    assert got["permanent_bps"] == pytest.approx(0.314 * sigma * x * theta ** 0.25 * 1e4, rel=1e-12)
    assert got["temporary_bps"] == pytest.approx(0.142 * sigma * (x / 0.2) ** 0.6 * 1e4, rel=1e-12)
    assert got["realized_bps"] == pytest.approx(got["permanent_bps"] / 2 + got["temporary_bps"], rel=1e-12)


def test_estimate_cli_almgren2005(examples, capsys):
    ibm = examples["almgren_2005"]["IBM"]
    adv = 1_000_000
    for t_key, real_want in ibm["realized_bps"].items():
        argv = ["estimate", "--model", "almgren2005", "--side", "buy", "--order-size", str(round(ibm["x_over_v"] * adv)),
                "--adv", str(adv), "--spread-bps", "0", "--daily-vol-pct", str(ibm["sigma_daily_pct"]),
                "--ref-price", "100", "--shares-outstanding", str(ibm["theta_over_v"] * adv),
                "--duration-days", t_key, "--json"]
        assert main(argv) == 0
        out = json.loads(capsys.readouterr().out)
        assert {"permanent_bps", "temporary_bps", "realized_bps"} <= set(out)
        assert abs(out["realized_bps"] - real_want) <= 0.5
        assert math.isclose(out["total_dollars"], out["realized_bps"] / 1e4 * out["notional_usd"])
