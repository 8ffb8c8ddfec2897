import math

import numpy as np
import pytest

from tickreplay import latency as L
from tickreplay.errors import ConfigError
from tickreplay.experiment.scenario import parse_latency


def _draws(model, n=20_000, now=0, seed=1):
    rng = np.random.default_rng(seed)
    return np.array([model.sample(now, rng) for _ in range(n)])


def test_constant_and_bare_number_config():
    assert parse_latency("latency.order_entry", 2.5).sample(0, np.random.default_rng(0)) == 2_500_000
    assert L.Constant(7).sample(123, np.random.default_rng(0)) == 7


def test_normal_is_truncated_at_zero_and_has_its_moments():
    d = _draws(parse_latency("latency.order_entry", {"model": "normal", "mean_ms": 1, "jitter_ms": 0.2}))
    assert abs(d.mean() - 1e6) < 0.01e6 and abs(d.std() - 0.2e6) < 0.01e6
    assert _draws(L.Normal(0, 1000)).min() == 0


def test_lognormal_median_and_jitter_mean_what_they_say():
    m = L.LogNormal(median_ns=2_000_000, jitter_ns=500_000)
    d = _draws(m, 50_000)
    assert abs(np.median(d) / 2e6 - 1) < 0.02
    assert abs(d.std() / 5e5 - 1) < 0.05
    s = m.sigma
    assert math.isclose(2e6 * math.sqrt(math.exp(s * s) * (math.exp(s * s) - 1)), 5e5, rel_tol=1e-12)


def test_empirical_interpolates_in_time_and_holds_ends():
    m = L.Empirical(np.array([0, 100]), np.array([10.0, 30.0]))
    rng = np.random.default_rng(0)
    assert [m.sample(t, rng) for t in (-5, 0, 25, 50, 100, 500)] == [10, 10, 15, 20, 30, 30]


def test_burst_latency_rises_with_message_rate():
    ts = np.concatenate([np.arange(0, 1_000_000_000, 10_000_000), 2_000_000_000 + np.arange(1000) * 1000])
    m = parse_latency("latency.order_entry", {"model": "burst", "base_us": 100, "per_msg_ns": 1000,
                                              "window_ms": 10}).on_tape(ts)
    rng = np.random.default_rng(0)
    quiet = m.sample(500_000_000, rng)
    busy = m.sample(2_000_999_000, rng)
    assert quiet == 100_000 + 1000 * m.recent_messages(500_000_000)
    assert m.recent_messages(500_000_000) == 1
    assert busy > quiet and m.recent_messages(2_000_999_000) == 1000


def test_same_seed_same_draws_different_seed_different():
    m = L.Normal(1_000_000, 300_000)
    assert np.array_equal(_draws(m, 100, seed=5), _draws(m, 100, seed=5))
    assert not np.array_equal(_draws(m, 100, seed=5), _draws(m, 100, seed=6))


@pytest.mark.parametrize("cfg, word", [
    ({"model": "gaussian"}, "latency.order_entry.model"),
    ({"model": "normal", "mean_ms": -1, "jitter_ms": 0}, "latency.order_entry.mean_ms"),
    ({"model": "lognormal", "median_ms": 0, "jitter_ms": 1}, "median_ns must be positive"),
    ({"model": "normal", "mean_ms": 1}, "needs jitter_ms"),
    ({"model": "normal", "mean_ms": 1, "jitter_ms": 1, "mean_us": 2}, "repeated scenario key 'latency.order_entry.mean_us'"),
    ({"model": "normal", "mean": 1, "jitter_ms": 1}, "unknown or repeated scenario key 'latency.order_entry.mean'"),
    ({"model": "empirical", "times_ns": [0, 1]}, "needs latencies_ns"),
])
def test_bad_config_names_the_key_path(cfg, word):
    with pytest.raises(ConfigError, match=word):
        parse_latency("latency.order_entry", cfg)


def test_burst_needs_a_tape_and_every_model_states_its_typical_value_and_jitter():
    m = parse_latency("latency.order_entry", {"model": "burst", "base_ms": 1, "per_msg_ns": 1, "window_ms": 1})
    with pytest.raises(ConfigError, match="on_tape"):
        m.sample(0, np.random.default_rng(0))
    assert (m.typical_ns, m.jitter_ns) == (1_000_000, 0)
    assert (L.Constant(5).typical_ns, L.Constant(5).jitter_ns) == (5, 0)
    assert (L.Normal(7, 2).typical_ns, L.LogNormal(9, 3).typical_ns, L.LogNormal(9, 3).jitter_ns) == (7, 9, 3)
    assert L.Empirical(np.array([0, 10]), np.array([4.0, 8.0]), 1).typical_ns == 6
