"""Connectivity rules: exact degrees, binomial counts, autapses, multapses, seeds, memory."""

from __future__ import annotations

import math

import numpy as np
import pytest

from simctl.config.errors import ConfigError
from simctl.connectivity import (
    check_memory,
    connect,
    delay_steps,
    estimate_bytes,
    expected_synapses,
    projection_seed,
)


def _pairs(c):
    return np.stack([c.sources(), c.indices.astype(np.int64)], 1)


def _no_duplicates(c) -> bool:
    return np.unique(_pairs(c), axis=0).shape[0] == c.n_synapses


def test_all_to_all_counts_and_autapses():
    c = connect("all_to_all", 7, 7, same=True)
    assert c.n_synapses == 7 * 6
    assert not np.any(c.sources() == c.indices)
    assert (c.in_degrees() == 6).all() and (c.out_degrees() == 6).all()
    with_self = connect("all_to_all", 7, 7, same=True, autapses=True)
    assert with_self.n_synapses == 49
    assert np.sum(with_self.sources() == with_self.indices) == 7
    other = connect("all_to_all", 3, 5)  # different populations: i == j is not an autapse
    assert other.n_synapses == 15


def test_one_to_one():
    c = connect("one_to_one", 5, 5, weight=2.0)
    assert np.array_equal(c.sources(), np.arange(5))
    assert np.array_equal(c.indices, np.arange(5))
    assert np.allclose(c.dense(), 2.0 * np.eye(5))


@pytest.mark.parametrize("same", [False, True])
def test_fixed_indegree_is_exact(same):
    n = 60
    c = connect("fixed_indegree", n, n, param=25, same=same, seed=3)
    assert (c.in_degrees() == 25).all()
    assert c.n_synapses == 25 * n
    assert _no_duplicates(c)
    if same:
        assert not np.any(c.sources() == c.indices)


def test_fixed_outdegree_is_exact():
    c = connect("fixed_outdegree", 40, 30, param=12, seed=1)
    assert (c.out_degrees() == 12).all()
    assert _no_duplicates(c)


def test_fixed_total_is_exact():
    c = connect("fixed_total", 30, 20, param=250, same=False, seed=2)
    assert c.n_synapses == 250
    assert _no_duplicates(c)
    s = connect("fixed_total", 30, 30, param=500, same=True, seed=2)
    assert s.n_synapses == 500 and not np.any(s.sources() == s.indices)


def test_multapses_repeat_pairs_only_when_allowed():
    # k = 18 of 20 candidates with replacement: a row without a repeat has probability
    # 20!/(2!·20^18) ≈ 1.6e-7, so 50 rows without any repeat would be an error
    c = connect("fixed_indegree", 20, 50, param=18, multapses=True, seed=5)
    assert (c.in_degrees() == 18).all()
    assert not _no_duplicates(c)
    d = connect("fixed_indegree", 20, 50, param=18, multapses=False, seed=5)
    assert _no_duplicates(d)


def test_fixed_probability_counts_are_binomial():
    """The number of synapses is Binomial(M, p) with M the candidate pairs: mean Mp, variance
    Mp(1−p). A 5-sigma band fails by chance with probability < 6e-7. The out-degrees are
    Binomial(N_post', p) per neuron: their sample mean lies within 5 standard errors."""
    n_pre, n_post, p = 400, 300, 0.1
    c = connect("fixed_probability", n_pre, n_post, param=p, seed=11)
    m = n_pre * n_post
    assert abs(c.n_synapses - m * p) < 5 * math.sqrt(m * p * (1 - p))
    out = c.out_degrees()
    var = n_post * p * (1 - p)
    assert abs(out.mean() - n_post * p) < 5 * math.sqrt(var / n_pre)
    # the sample variance of 400 draws: relative standard error sqrt(2/399) ≈ 7 %
    assert abs(out.var(ddof=1) / var - 1) < 5 * math.sqrt(2 / (n_pre - 1))
    assert _no_duplicates(c)
    same = connect("fixed_probability", 200, 200, param=0.3, same=True, seed=4)
    assert not np.any(same.sources() == same.indices)
    assert connect("fixed_probability", 10, 10, param=0.0).n_synapses == 0
    assert connect("fixed_probability", 10, 10, param=1.0, same=True).n_synapses == 90


def test_rows_are_sorted_csr():
    c = connect("fixed_indegree", 50, 40, param=10, seed=9)
    assert c.indptr[0] == 0 and c.indptr[-1] == c.n_synapses
    for i in range(c.n_pre):
        row = c.indices[c.indptr[i] : c.indptr[i + 1]]
        assert np.all(np.diff(row) >= 0)
    assert c.indices.dtype == np.int32


def test_same_seed_same_network_other_seed_other():
    a = connect("fixed_indegree", 100, 100, param=10, same=True, seed=projection_seed(1, 0))
    b = connect("fixed_indegree", 100, 100, param=10, same=True, seed=projection_seed(1, 0))
    c = connect("fixed_indegree", 100, 100, param=10, same=True, seed=projection_seed(1, 1))
    assert np.array_equal(a.indices, b.indices) and np.array_equal(a.indptr, b.indptr)
    assert not np.array_equal(a.indices, c.indices)


def test_weights_and_delays():
    c = connect(
        "all_to_all",
        20,
        20,
        weight={"dist": "uniform", "low": -1.0, "high": 0.0},
        delay={"dist": "uniform", "low": 0.1, "high": 2.0},
        dt=0.1,
        seed=7,
    )
    w = c.weights()
    assert w.dtype == np.float32 and (w >= -1).all() and (w <= 0).all() and w.std() > 0.1
    assert c.delay_steps.dtype == np.int16
    lo, hi = c.delay_range()
    assert 1 <= lo and hi <= 20
    assert np.array_equal(c.delays(), delay_steps(c.delay_ms, 0.1))
    uniform = connect("all_to_all", 5, 5, weight=0.1, delay=1.5, dt=0.1)
    assert uniform.weight == pytest.approx(0.1) and uniform.delay_steps == 15
    assert uniform.nbytes() == 4 * uniform.n_synapses  # indices only: weight and delay shared


def test_delay_rounding():
    assert delay_steps(1.5, 0.1) == 15
    assert delay_steps(0.25, 0.1) == 3  # halves round up
    assert delay_steps(0.04, 0.1) == 0
    assert list(delay_steps(np.array([0.1, 0.149, 0.151]), 0.1)) == [1, 1, 2]


def test_memory_estimate_refuses_before_building():
    n = expected_synapses("all_to_all", None, 10**6, 10**6, True, False)
    assert n == 10**6 * (10**6 - 1)
    need = estimate_bytes(n, True, False)
    with pytest.raises(ConfigError) as info:
        check_memory([("projections.EE.connectivity", need)], limit=2**30)
    line = str(info.value)
    assert line.startswith("projections.EE.connectivity=") and "\n" not in line
    check_memory([("projections.EE.connectivity", 1000)], limit=2**30)  # fits: no error
