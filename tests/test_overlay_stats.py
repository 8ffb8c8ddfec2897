"""Paired bootstrap, win rate and terciles against closed forms and known distributions."""

from __future__ import annotations

import numpy as np
import pytest

from tickreplay.overlay import stats


def test_constant_difference_gives_a_degenerate_interval():
    lo, hi = stats.bootstrap_ci(np.full(37, 1.25), seed=3)
    assert lo == hi == 1.25


def test_bootstrap_is_deterministic_for_a_seed():
    d = np.random.default_rng(0).normal(size=50)
    assert stats.bootstrap_ci(d, seed=11) == stats.bootstrap_ci(d, seed=11)


def test_coverage_on_normal_data_is_close_to_95_percent():
    # 400 replications of n=60 draws from N(0.5, 2^2): the percentile interval
    # of the mean should cover 0.5 about 95% of the time. The binomial sd of
    # the coverage is ~1.1%; the percentile bootstrap undercovers slightly at
    # n=60 (its width uses the 1/n variance, not 1/(n-1), and normal quantiles).
    rng = np.random.default_rng(20240601)
    reps, n, mu = 400, 60, 0.5
    covered = 0
    for r in range(reps):
        d = rng.normal(mu, 2.0, size=n)
        lo, hi = stats.bootstrap_ci(d, seed=r, n_boot=1000)
        covered += lo <= mu <= hi
    assert 0.91 <= covered / reps <= 0.98


def test_interval_width_matches_the_normal_closed_form():
    # for large n the percentile interval ~ mean ± 1.96 * sd / sqrt(n)
    rng = np.random.default_rng(5)
    d = rng.normal(0.0, 3.0, size=2000)
    lo, hi = stats.bootstrap_ci(d, seed=1, n_boot=4000)
    half = 1.96 * d.std() / np.sqrt(d.size)
    assert (hi - lo) / 2 == pytest.approx(half, rel=0.08)
    assert (lo + hi) / 2 == pytest.approx(d.mean(), abs=0.1 * half)


def test_block_bootstrap_widens_for_dependent_children():
    # 40 parents, 25 children each, children share a parent effect: resampling
    # children independently understates the spread; the block interval
    # matches the closed form for the mean of 40 parent means.
    rng = np.random.default_rng(9)
    parent_effect = rng.normal(0.0, 2.0, size=40)
    ids = np.repeat(np.arange(40), 25)
    d = parent_effect[ids] + rng.normal(0.0, 0.2, size=ids.size)
    lo_b, hi_b = stats.block_bootstrap_ci(d, ids, seed=2, n_boot=4000)
    lo_i, hi_i = stats.bootstrap_ci(d, seed=2, n_boot=4000)
    assert hi_b - lo_b > 3 * (hi_i - lo_i)
    means = np.bincount(ids, weights=d) / 25
    half = 1.96 * means.std() / np.sqrt(40)
    assert (hi_b - lo_b) / 2 == pytest.approx(half, rel=0.2)


def test_block_bootstrap_of_one_block_per_value_equals_plain_bootstrap():
    d = np.random.default_rng(4).normal(size=30)
    assert stats.block_bootstrap_ci(d, np.arange(30), seed=8) == stats.bootstrap_ci(d, seed=8)


def test_win_rate_and_summary_by_hand():
    d = np.array([1.0, -2.0, 0.0, 3.0, 0.5])
    assert stats.win_rate(d) == pytest.approx(3 / 5)
    s = stats.paired_summary(d, seed=0)
    assert s.n == 5 and s.mean_bps == pytest.approx(0.5) and s.median_bps == pytest.approx(0.5)
    assert s.ci95_bps[0] <= s.mean_bps <= s.ci95_bps[1]
    assert s.as_dict()["ci95_bps"] == list(s.ci95_bps)


def test_terciles_split_a_permutation_into_equal_thirds():
    v = np.random.default_rng(1).permutation(90).astype(float)
    t = stats.terciles(v)
    assert np.bincount(t).tolist() == [30, 30, 30]
    order = np.argsort(v)
    assert np.all(np.diff(t[order]) >= 0)
    lo, hi = stats.tercile_edges(v)
    assert lo == pytest.approx(np.quantile(v, 1 / 3)) and hi == pytest.approx(np.quantile(v, 2 / 3))


def test_terciles_with_given_edges_and_ties_at_an_edge():
    t = stats.terciles(np.array([0.0, 1.0, 1.5, 2.0, 9.0]), edges=(1.0, 2.0))
    assert t.tolist() == [0, 0, 1, 1, 2]


def test_captured_share():
    assert stats.captured_share(1.0, 4.0) == 0.25
    assert np.isnan(stats.captured_share(1.0, 0.0))


@pytest.mark.parametrize("bad", [[], [1.0, np.nan], [[1.0, 2.0]]])
def test_bad_input_is_rejected_with_the_argument_named(bad):
    with pytest.raises(ValueError, match="diffs_bps"):
        stats.bootstrap_ci(np.array(bad, dtype=float), seed=0)


def test_mismatched_block_ids_are_rejected():
    with pytest.raises(ValueError, match="block_ids"):
        stats.block_bootstrap_ci(np.zeros(3), np.zeros(2), seed=0)
