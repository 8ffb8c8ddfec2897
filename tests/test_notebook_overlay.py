"""The overlay-vs-static study runs top to bottom (nbclient) and states its verdict from its own numbers.

The notebook's last cell prints ``NOTEBOOK_SUMMARY {json}``: per study the figures its verdict rests on and
the verdict it drew. The test checks that the figures are consistent with each other, recomputes every verdict
from them by the notebook's stated rule (a class needs its 95% interval clear of zero), and checks the figures
against what this data gives today.
"""

from __future__ import annotations

import math

import pytest

from conftest import SHARED_DATA, lobster_pair
from test_notebooks import NOTEBOOKS, run_notebook

REAL = ("AMZN afternoon (time split)", "AAPL (model from AMZN L1)")
GENERATED = tuple(f"generated: {n} (day split)" for n in ("liquid_large_cap", "high_volatility", "thin_small_cap",
                                                          "planted refill"))
OVERALL = {"all": "a small saving of the right sign on both held-out tests, worth a study on more days before anyone "
                  "relies on it; not a demonstrated edge",
           "none": "no dependable saving on real data",
           "some": "a mixed result: a saving on one held-out test only"}

# What the data gives today, per study: (parents, saving, CI low, CI high, overlay − placebo, its CI low, oracle
# saving), bps per parent, saving = static − policy. Data, seeds, model training and bootstrap are deterministic,
# so a figure outside TOL means the replay, the labels, the model or the evaluation changed: find out why before
# updating it. (The real-data figures moved once, when parents and training decisions were made to start at the
# later of the session open and the tape's first event — AMZN's is 09:30:00.017: that 17 ms shift of the 5-s
# decision grid took AMZN's overlay − placebo interval from [0.058, …] to [-0.003, …], so "beats the placebo"
# on AMZN was not robust; it is reported as it now is.)
EXPECTED = {
    "AMZN afternoon (time split)": (77, 0.136, 0.013, 0.260, 0.146, -0.003, 1.073),
    "AAPL (model from AMZN L1)": (155, 0.195, 0.046, 0.354, 0.219, 0.085, 1.185),
    "generated: liquid_large_cap (day split)": (71, 0.337, 0.241, 0.435, 0.291, 0.229, 0.696),
    "generated: high_volatility (day split)": (71, 1.220, 0.812, 1.654, 1.309, 0.908, 3.608),
    "generated: thin_small_cap (day split)": (71, 0.420, 0.075, 0.751, 0.387, 0.077, 1.515),
    "generated: planted refill (day split)": (71, 0.281, 0.113, 0.470, 0.165, 0.034, 0.473),
}
TOL = 0.05  # bps


def saving_verdict(lo: float, hi: float) -> str:
    return "cheaper" if lo > 0 else "dearer" if hi < 0 else "no saving shown"


def placebo_verdict(lo: float, hi: float) -> str:
    return "beat the placebo" if lo > 0 else "not better than the placebo" if hi >= 0 else "worse than the placebo"


def check_summary(s: dict, text: str) -> None:
    """Assert the figures are consistent, every verdict follows from them, and they match today's evaluation."""
    studies = s["studies"]
    assert tuple(studies) == REAL + GENERATED and tuple(s["real"]) == REAL
    for name, f in studies.items():
        # (a) finite and consistent with each other
        numbers = [*f["ci95_bps"], *f["vs_placebo_ci95_bps"]]
        numbers += [v for k, v in f.items() if k.endswith(("_bps", "_share", "_rate")) and not isinstance(v, list)]
        assert all(math.isfinite(v) for v in numbers), name
        lo, hi = f["ci95_bps"]
        p_lo, p_hi = f["vs_placebo_ci95_bps"]
        assert lo <= f["saving_bps"] <= hi and p_lo <= f["vs_placebo_bps"] <= p_hi, name
        assert f["saving_bps"] == pytest.approx(f["static_is_bps"] - f["overlay_is_bps"], abs=1e-9), name
        assert f["placebo_saving_bps"] == pytest.approx(f["static_is_bps"] - f["placebo_is_bps"], abs=1e-9), name
        assert f["oracle_saving_bps"] == pytest.approx(f["static_is_bps"] - f["oracle_is_bps"], abs=1e-9), name
        assert f["vs_placebo_bps"] == pytest.approx(f["saving_bps"] - f["placebo_saving_bps"], abs=1e-9), name
        assert f["captured_share"] == pytest.approx(f["saving_bps"] / f["oracle_saving_bps"]), name
        assert f["oracle_saving_bps"] >= f["saving_bps"], name  # the ceiling: the best delay with hindsight
        assert 0 <= f["win_rate"] <= 1, name
        # (b) the verdict follows from the intervals, and the printed sentence says it
        assert f["saving_verdict"] == saving_verdict(lo, hi), name
        assert f["placebo_verdict"] == placebo_verdict(p_lo, p_hi), name
        assert f["sentence"] in text
        head = {"cheaper": "the overlay was cheaper:", "dearer": "the overlay was dearer:",
                "no saving shown": "no saving shown:"}[f["saving_verdict"]]
        assert f["sentence"].startswith(f"{name}: {head} {f['saving_bps']:.2f} bps"), name
        assert f"captured {f['captured_share']:.0%} of the oracle's {f['oracle_saving_bps']:.2f} bps" in f["sentence"]
        # (c) today's figures
        n, saving, ci_lo, ci_hi, vs, vs_lo, oracle = EXPECTED[name]
        assert f["n_parents"] == n, name
        got = (f["saving_bps"], lo, hi, f["vs_placebo_bps"], p_lo, f["oracle_saving_bps"])
        assert got == pytest.approx((saving, ci_lo, ci_hi, vs, vs_lo, oracle), abs=TOL), name
    above = [saving_verdict(*studies[k]["ci95_bps"]) == "cheaper" for k in REAL]
    overall = OVERALL["all" if all(above) else "some" if any(above) else "none"]
    assert s["verdict"] == overall
    assert f"VERDICT: {overall}." in text
    clear = sum(1 for k in GENERATED if studies[k]["saving_verdict"] == "cheaper"
                and studies[k]["placebo_verdict"] == "beat the placebo")
    assert s["generated_clear"] == [clear, len(GENERATED)]
    # today: a saving above zero on both real tests and above the placebo in every generated regime; on real data
    # it beats the placebo on AAPL, while on AMZN its interval against the placebo just contains zero
    assert overall == OVERALL["all"] and clear == len(GENERATED)
    assert [studies[k]["placebo_verdict"] for k in REAL] == ["not better than the placebo", "beat the placebo"]
    assert s["terciles_containing_zero"] == [8, 12]


def test_overlay_vs_static_verdict_follows_from_its_figures(monkeypatch):
    for symbol, levels in (("AMZN", 5), ("AMZN", 1), ("AAPL", 1)):
        lobster_pair(symbol, levels)  # fails, not skips, under TICKREPLAY_REQUIRE_SHARED_DATA=1
    monkeypatch.setenv("TICKREPLAY_SHARED_DATA", str(SHARED_DATA))
    nb, text, summary = run_notebook(NOTEBOOKS / "overlay_vs_static.ipynb")
    check_summary(summary, text)
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    figures = [o for o in outputs if "image/png" in o.get("data", {})]
    assert len(figures) == 4  # saving distribution, by regime, feature importance, oracle share
