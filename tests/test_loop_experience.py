"""The learning curve against experience (docs/loop.md, "The learning curve"): the caused-cost error binned by the
hedges the calibration learned from, and the statistic for "the error falls with experience" with ``static``'s
hedges at the same ranks as the control — on hand-built loop results whose answer is known exactly."""

from __future__ import annotations

import math

import pytest

from tickreplay.hedging.loop_report import (_experience_line, bin_label, experience, experience_change,
                                            experience_curve, hedge_rank)

from test_loop_oracle import _result

DAYS = [(k, "calm") for k in range(4)] + [(k, "vol") for k in range(4, 8)]
LEARNED = {0: [0, 1, 2], 1: [3, 5, 8], 2: [11, 14, 20], 3: [22, 23, 24],
           4: [0, 2, 4], 5: [6, 9, 12], 6: [15, 18, 25], 7: [26, 27, 28]}
BASE = {"calm": 10.0, "vol": 40.0}


def _loop(policy: str, early_extra: float, by_rank: bool = False):
    """Three hedges a day; error = the regime's base + ``early_extra`` on the hedges with < 3 of experience (the
    hedges learned from, or with ``by_rank`` the hedge's rank within its regime)."""
    rank = {d: [3 * k + j for j in range(3)] for k, (d, _) in enumerate(d for d in DAYS if d[1] == "calm")}
    rank |= {d: [3 * k + j for j in range(3)] for k, (d, _) in enumerate(d for d in DAYS if d[1] == "vol")}
    x = rank if by_rank else LEARNED
    errors = {d: [BASE[g] + (early_extra if n < 3 else 0.0) for n in x[d]] for d, g in DAYS}
    return _result(policy, DAYS, errors, None if policy == "static" else LEARNED)


def test_static_is_placed_by_its_rank_within_the_regime_and_a_learner_by_the_hedges_learned():
    r, s = _loop("regime", 30.0), _loop("static", 0.0)
    assert experience(r).tolist() == [n for d, _ in DAYS for n in LEARNED[d]]
    assert hedge_rank(s).tolist() == list(range(12)) * 2
    with pytest.raises(ValueError, match="'learned' or 'rank'"):
        experience(r, "days")
    assert [bin_label(0, 1), bin_label(1, 3), bin_label(21, None)] == ["0", "1–2", "21+"]


def test_the_error_falls_with_experience_exactly_and_the_flat_static_control_does_not():
    r, s = _loop("regime", 30.0), _loop("static", 0.0)
    t = experience_change(r, n=300)
    assert t["change_bps"] == pytest.approx(-30.0) and t["ci"] == pytest.approx([-30.0, -30.0])
    assert 0 < t["valid_draws"] < t["draws"] == 300  # draws without a regime's first day are left out
    calm, vol = t["regimes"]["calm"], t["regimes"]["vol"]
    assert (calm["early_bps"], calm["late_bps"], calm["early_hedges"], calm["late_hedges"]) == (40.0, 10.0, 3, 6)
    assert (vol["early_bps"], vol["late_bps"], vol["early_hedges"], vol["late_hedges"]) == (70.0, 40.0, 2, 7)
    assert calm["early_days"] == [0] and calm["first_day"] == 0 and vol["early_days"] == [4] and vol["first_day"] == 4
    c = experience_change(s, n=300)
    assert c["x"] == "rank" and c["change_bps"] == 0.0 and c["ci"] == [0.0, 0.0]
    paired = experience_change(r, s, n=300)
    assert paired["paired_with"] == "static" and paired["change_bps"] == pytest.approx(-30.0)
    assert paired["ci"] == pytest.approx([-30.0, -30.0])
    assert "regime: the caused-cost error falls with experience" in _experience_line("regime", t)
    assert "static: the caused-cost error does not change distinguishably" in _experience_line("static", c)
    assert "regime minus static: the caused-cost error falls" in _experience_line("regime", paired)


def test_a_fall_that_static_shows_too_is_position_not_learning():
    """The early hedges are harder for everyone (static's error falls with rank as much): the paired change is 0."""
    r, s = _loop("regime", 30.0, by_rank=True), _loop("static", 30.0, by_rank=True)
    assert experience_change(s, n=100)["change_bps"] == pytest.approx(-30.0)
    paired = experience_change(r, s, n=100)
    assert paired["change_bps"] == pytest.approx(0.0, abs=1e-12)
    assert paired["ci"] == pytest.approx([0.0, 0.0], abs=1e-12)


def test_the_control_is_taken_at_the_ranks_the_learners_ends_hold_when_its_count_trails_its_rank():
    """No learning, a front-loaded position effect (+30 bps on a regime's first three hedges), and a learner whose
    count of hedges learned trails its rank (its first four hedges learned from none: hedges in flight): static's
    hedges at the same ranks as the learner's ends cancel the position effect exactly (at static's own rank < 3
    and >= 11 the paired change would be +7.5 bps)."""
    ranks = {d: [3 * k + j for j in range(3)] for k, d in enumerate(range(4))}
    ranks |= {d: [3 * k + j for j in range(3)] for k, d in enumerate(range(4, 8))}
    learned = {d: [0 if q < 4 else 2 * q for q in ranks[d]] for d, _ in DAYS}
    errors = {d: [BASE[g] + (30.0 if q < 3 else 0.0) for q in ranks[d]] for d, g in DAYS}
    r = _result("regime", DAYS, errors, learned)
    s = _result("static", DAYS, errors, None)
    own = experience_change(r, n=50)
    assert own["change_bps"] == pytest.approx(-22.5)  # ends: ranks 0-3 (32.5 over base) and ranks 6-11 (base)
    paired = experience_change(r, s, n=100)
    assert paired["change_bps"] == pytest.approx(0.0, abs=1e-12)
    lo, hi = paired["ci"]  # hedges are resampled within days independently per policy: not exactly zero
    assert lo < 0 < hi


def test_a_regime_without_hedges_of_little_experience_is_left_out_of_the_pooled_change():
    """A pooled learner (daily) reaches the volatile regime with experience already: only calm counts."""
    learned = {**LEARNED, **{d: [21 + 3 * k, 22 + 3 * k, 23 + 3 * k] for k, d in enumerate(range(4, 8))}}
    errors = {d: [BASE[g] + (30.0 if n < 3 else 0.0) for n in learned[d]] for d, g in DAYS}
    t = experience_change(_result("daily", DAYS, errors, learned), n=100)
    assert list(t["regimes"]) == ["calm"] and t["change_bps"] == pytest.approx(-30.0)
    none = experience_change(_result("daily", DAYS, {d: [5.0] * 3 for d, _ in DAYS}, {d: [30] * 3 for d, _ in DAYS}),
                             n=20)
    assert math.isnan(none["change_bps"]) and none["regimes"] == {}
    assert "no regime has hedges at both ends" in _experience_line("daily", none)


def test_the_experience_curve_bins_per_regime_and_pooled_with_intervals_over_days():
    e = experience_curve(_loop("regime", 30.0), n=200)
    calm = e[e["regime"] == "calm"].set_index("learned_from")
    assert calm["hedges"].to_dict() == {0: 1, 1: 2, 3: 2, 6: 1, 11: 3, 21: 3}
    assert calm.loc[1, "mean_abs_caused_error_bps"] == 40.0 and calm.loc[11, "mean_abs_caused_error_bps"] == 10.0
    assert calm.loc[11, "ci"] == [10.0, 10.0] and calm.loc[11, "days"] == 1 and calm.loc[21, "days"] == 1 and calm.loc[11, "learned_to"] == 21
    pooled = e[e["regime"] == "pooled"].set_index("learned_from")
    assert pooled.loc[21, "hedges"] == 7 and math.isnan(pooled.loc[21, "learned_to"])
    lo, hi = pooled.loc[11, "ci"]  # calm 10 and vol 40 hedges: the interval spans the regimes' mix over days
    assert 10.0 <= lo < pooled.loc[11, "mean_abs_caused_error_bps"] < hi <= 40.0
    s = experience_curve(_loop("static", 0.0), n=50)
    assert set(s["x"]) == {"rank"} and s[s["regime"] == "calm"]["hedges"].tolist() == [1, 2, 3, 5, 1]


def test_a_bin_on_one_day_still_shows_its_hedges_spread_hedges_resampled_within_days():
    """Resampling days alone would give the one-day bin 1–2 (errors 50 and 60, both on day 0) the interval [55, 55]."""
    errors = {d: [BASE[g]] * 3 for d, g in DAYS} | {0: [40.0, 50.0, 60.0]}
    e = experience_curve(_result("regime", DAYS, errors, LEARNED), n=400)
    b = e[(e["regime"] == "calm") & (e["learned_from"] == 1)].iloc[0]
    assert b["days"] == 1 and b["mean_abs_caused_error_bps"] == 55.0
    assert b["ci"][0] == 50.0 and b["ci"][1] == 60.0


def test_the_experience_figure_draws_a_panel_per_regime_and_one_pooled(tmp_path, monkeypatch):
    monkeypatch.setenv("MPLBACKEND", "Agg")
    from tickreplay.hedging.loop_report import experience_figure

    path = experience_figure({"static": _loop("static", 0.0), "regime": _loop("regime", 30.0)},
                             tmp_path / "error_by_experience.png")
    assert path.stat().st_size > 0


def test_the_per_day_figure_shades_any_number_of_regimes(tmp_path, monkeypatch):
    """A catalog loop may label five regimes or more: the shading cycles its palette (it raised KeyError)."""
    monkeypatch.setenv("MPLBACKEND", "Agg")
    from tickreplay.hedging.loop_report import error_figure

    days = [(k, f"r{k % 5}") for k in range(10)]
    r = _result("regime", days, {k: [5.0, 6.0] for k, _ in days}, {k: [k, k + 1] for k, _ in days})
    assert error_figure({"regime": r}, tmp_path / "error_over_days.png").stat().st_size > 0
