"""Square-root law fit: recovery of a planted law, bootstrap coverage, regimes, OOS split, dynamic update."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tickreplay.errors import InputError
from tickreplay.impact import fit_sqrt, sqrt_law
from tickreplay.impact.update import age_weights, update


def planted(n: int, Y: float, delta: float, seed: int, noise: float = 0.3, days: int = 5, regime: str = "r",
            first_day: str = "2024-01-02", instrument: str = "SYM") -> pd.DataFrame:
    """Measured-parent frames from a known law: Q/V log-uniform in [1e-4, 1e-1], σ in [1 %, 3 %],
    I = Y σ (Q/V)^δ + σ·noise·N(0, 1)·sqrt(Q/V)."""
    rng = np.random.default_rng(seed)
    x = np.exp(rng.uniform(math.log(1e-4), math.log(1e-1), n))
    sig = rng.uniform(0.01, 0.03, n)
    imp = Y * sig * x**delta + sig * noise * rng.standard_normal(n) * np.sqrt(x)
    dates = (np.datetime64(first_day) + rng.integers(0, days, n)).astype(str)
    return pd.DataFrame({"row": np.arange(1, n + 1), "parent_id": [f"{regime}{i}" for i in range(n)],
                         "tape": [f"synthetic/{instrument}/{d}" for d in dates], "instrument": instrument,
                         "date": dates, "regime": regime, "quantity": x * 1e6, "adv": 1e6, "daily_vol": sig,
                         "impact": imp})


def test_recovers_planted_law_within_intervals_and_ten_percent():
    cal = fit_sqrt.fit_sqrt(planted(3000, 0.8, 0.6, seed=1))
    for name, true in (("Y", 0.8), ("delta", 0.6)):
        lo, hi = cal.intervals[name]
        assert lo <= true <= hi
        assert cal.params[name] == pytest.approx(true, rel=0.10)
    assert cal.oos["split"] == "by day" and cal.fit["n_parents"] == 3000
    # the calibrated law predicts the held-out parents better than the default (Y = 1, δ = 0.5)
    assert cal.oos["scores"]["mae_bps"] < cal.oos["default_scores"]["mae_bps"]
    assert cal.oos["scores"]["n"] == cal.oos["default_scores"]["n"] == cal.oos["n_test"]


def test_bootstrap_intervals_cover_about_95_percent():
    hits = np.zeros(2)
    seeds = range(50)
    for s in seeds:
        cal = fit_sqrt.fit_sqrt(planted(300, 0.8, 0.6, seed=100 + s), bootstrap=200, seed=s)
        hits += [cal.intervals["Y"][0] <= 0.8 <= cal.intervals["Y"][1],
                 cal.intervals["delta"][0] <= 0.6 <= cal.intervals["delta"][1]]
    cover = hits / len(seeds)
    assert np.all(cover >= 0.84) and np.all(cover <= 1.0), cover


def test_profile_fit_equals_scipy_least_squares():
    from scipy.optimize import curve_fit

    p = planted(500, 0.5, 0.45, seed=3)
    x, y = (p["quantity"] / p["adv"]).to_numpy(), (p["impact"] / p["daily_vol"]).to_numpy()
    Y, d = fit_sqrt.profile_fit(x, y, np.ones(len(x)))
    ref = curve_fit(lambda x, a, b: a * x**b, x, y, p0=(1.0, 0.5))[0]
    assert (Y, d) == (pytest.approx(ref[0], rel=1e-5), pytest.approx(ref[1], rel=1e-5))


def test_planted_regime_difference_of_two_is_recovered():
    parents = pd.concat([planted(1500, 0.5, 0.5, seed=4, regime="calm"),
                         planted(1500, 1.0, 0.5, seed=5, regime="thin", instrument="OTHER")], ignore_index=True)
    cal = fit_sqrt.fit_sqrt(parents, by="regime")
    b = cal.fit["buckets"]
    assert set(b) == {"calm", "thin"}
    ratio = b["thin"]["params"]["Y"] / b["calm"]["params"]["Y"]
    assert 1.6 <= ratio <= 2.4
    assert b["calm"]["n_parents"] == 1500 and "scores" in b["thin"]["oos"]
    summary = fit_sqrt.summary(cal)
    assert [r["bucket"] for r in summary["buckets"]] == ["calm", "thin"]


def test_mixed_instruments_without_buckets_is_an_error():
    parents = pd.concat([planted(30, 0.5, 0.5, seed=1), planted(30, 0.5, 0.5, seed=2, instrument="OTHER")],
                        ignore_index=True)
    with pytest.raises(InputError, match="one fit is of one instrument") as err:
        fit_sqrt.fit_sqrt(parents, where="f.csv")
    assert (err.value.path, err.value.row, err.value.field) == ("f.csv", 1, "instrument")


def test_vol_spread_buckets_are_terciles_of_days():
    p = planted(900, 0.7, 0.5, seed=6, days=9)
    day = pd.factorize(p["date"], sort=True)[0]
    p["day_vol"], p["day_spread_bps"] = 0.01 + 0.001 * day, 5.0 + (day % 3)
    labels, edges = fit_sqrt.bucket_labels(p, "vol-spread", "x")
    assert set(labels[day <= 2]) == {"vol low, spread low", "vol low, spread mid", "vol low, spread high"}
    assert set(labels[day >= 6]) == {f"vol high, spread {s}" for s in ("low", "mid", "high")}
    assert len(edges["day_vol"]) == 2


def test_too_few_parents_says_how_many():
    with pytest.raises(InputError, match=f"5 parent\\(s\\); a fit needs at least {fit_sqrt.MIN_PARENTS}"):
        fit_sqrt.fit_sqrt(planted(5, 1, 0.5, seed=1))


@settings(max_examples=30, deadline=None)
@given(n_days=st.integers(1, 8), n=st.integers(fit_sqrt.MIN_PARENTS, 200), seed=st.integers(0, 10**6))
def test_oos_split_never_separates_a_parents_fills(n_days, n, seed):
    rng = np.random.default_rng(seed)
    parent_day = (np.datetime64("2024-01-02") + rng.integers(0, n_days, n)).astype(str)
    fills_parent = np.repeat(np.arange(n), rng.integers(1, 6, n))  # each parent 1-5 fills
    split = fit_sqrt.oos_split(parent_day, seed)
    test = split["test"]
    assert len(test) == n  # one decision per parent ...
    fill_test = test[fills_parent]  # ... so every fill of a parent is on its parent's side
    for k in range(n):
        assert len(set(fill_test[fills_parent == k])) == 1
    assert (~test).sum() >= fit_sqrt.MIN_TRAIN and test.sum() >= 1
    if split["split"] == "by day":  # whole days, the latest ones, held out
        held = set(parent_day[test])
        assert held == set(split["test_days"]) and not held & set(parent_day[~test])
        assert min(held) > max(parent_day[~test])


def test_update_with_infinite_half_life_equals_refit_on_all_data():
    old, new = planted(400, 0.6, 0.5, seed=7, days=5), planted(200, 0.9, 0.5, seed=8, days=2, first_day="2024-02-01")
    cal = fit_sqrt.fit_sqrt(old, bootstrap=100)
    nxt = update(cal, new, math.inf)
    allfit = fit_sqrt.fit_sqrt(pd.concat([old, new], ignore_index=True), bootstrap=100)
    assert nxt.params == pytest.approx(allfit.params, rel=1e-9)
    assert nxt.fit["n_parents"] == 600 and nxt.oos["n_test"] == 200
    # the new parents are scored by the fit on the earlier ones
    assert nxt.oos["train_params"] == pytest.approx(cal.params, rel=1e-9)


def test_update_with_short_half_life_follows_new_data():
    old = planted(2000, 0.5, 0.5, seed=9, days=10)
    new = planted(300, 1.0, 0.5, seed=10, days=2, first_day="2024-03-01")
    cal = fit_sqrt.fit_sqrt(old, bootstrap=100)
    fast = update(cal, new, half_life_days=1.0)
    slow = update(cal, new, half_life_days=math.inf)
    assert fast.params["Y"] == pytest.approx(1.0, rel=0.10)
    assert slow.params["Y"] < 0.7  # all data pooled: mostly the old law
    assert fast.fit["update"]["n_new"] == 300 and fast.fit["update"]["previous_params"] == cal.params
    # twice in a row equals one update with both batches (weights by age, recomputed each time)
    a, b = new.iloc[:150], new.iloc[150:]
    twice = update(update(cal, a, 3.0), b, 3.0)
    once = update(cal, new, 3.0)
    assert twice.params == pytest.approx(once.params, rel=1e-9)


def test_age_weights_halve_every_half_life():
    w = age_weights(np.array(["2024-01-01", "2024-01-03", "2024-01-05"], object), 2.0)
    assert w == pytest.approx([0.25, 0.5, 1.0])
    with pytest.raises(Exception, match="half_life_days"):
        age_weights(np.array(["2024-01-01"], object), 0.0)


def test_predictions_come_from_the_sqrt_law_module():
    x, s = np.array([0.01, 0.04]), np.array([0.02, 0.01])
    got = fit_sqrt.predict_impact(x, s, 0.7, 0.6) * 1e4
    assert got == pytest.approx([sqrt_law.sqrt_law_bps(xi * 1e6, 1e6, si, 0.7, 0.6) for xi, si in zip(x, s)])
