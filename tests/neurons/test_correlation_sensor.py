"""Correlation sensor: hand-derived traces, mask orientation, purity, correlation_based_update."""

from __future__ import annotations

import pytest
import torch

from simctl.neurons.correlation_sensor import (
    CorrelationSensorParameters,
    CorrelationSensorState,
    correlation_based_update,
    correlation_sensor_initial_state,
    correlation_sensor_step,
)


def test_defaults() -> None:
    assert CorrelationSensorParameters() == (1.0, 1.0, 10.0, 10.0)
    assert CorrelationSensorParameters._fields == ("eta_p", "eta_m", "tau_ac_inv", "tau_c_inv")
    assert CorrelationSensorState._fields == (
        "post_pre",
        "correlation_trace",
        "anti_correlation_trace",
    )


def test_single_synapse_hand_derived() -> None:
    """One synapse, dt·tau_inv = 0.01 so a decaying trace is multiplied by 0.99 per step.

    step  pre post | post_pre  c                      a
    1     1   0    | Θ(0+0−1)=0  0 + 1 = 1             0
    2     0   0    | 0           1·0.99 = 0.99         0
    3     0   1    | Θ(0+1)=1    0.99² = 0.9801        0 + 1 = 1 (no decay: post_pre was 0)
    4     0   0    | 1           0.9801 (held)         0.99
    5     1   0    | Θ(1−1)=0    0.9801 + 1 = 1.9801   0.99² = 0.9801
    6     0   0    | 0           1.9801·0.99=1.960299  0.9801 (held)
    """
    spikes = [(1, 0), (0, 0), (0, 1), (0, 0), (1, 0), (0, 0)]
    expected = [
        (0, 1.0, 0.0),
        (0, 0.99, 0.0),
        (1, 0.9801, 1.0),
        (1, 0.9801, 0.99),
        (0, 1.9801, 0.9801),
        (0, 1.960299, 0.9801),
    ]
    s = correlation_sensor_initial_state((1, 1, 1), torch.float64)
    for (pre, post), (pp, c, a) in zip(spikes, expected, strict=True):
        s = correlation_sensor_step(
            torch.tensor([[float(pre)]], dtype=torch.float64),
            torch.tensor([[float(post)]], dtype=torch.float64),
            s,
        )
        assert s.post_pre.item() == pp
        assert s.correlation_trace.item() == pytest.approx(c, abs=1e-12)
        assert s.anti_correlation_trace.item() == pytest.approx(a, abs=1e-12)


def test_simultaneous_spikes_keep_post_pre() -> None:
    for pp in (0.0, 1.0):
        s = CorrelationSensorState(torch.full((1, 1), pp), torch.zeros(1, 1), torch.zeros(1, 1))
        s = correlation_sensor_step(torch.ones(1), torch.ones(1), s)
        assert s.post_pre.item() == pp


def test_mask_orientation_and_batch() -> None:
    """Synapse (i, j): the presynaptic spike of i, the postsynaptic spike of j."""
    z_pre = torch.tensor([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])  # (batch 2, n_pre 3)
    z_post = torch.tensor([[0.0, 1.0], [1.0, 0.0]])  # (batch 2, n_post 2)
    s = correlation_sensor_initial_state((2, 3, 2))
    s = correlation_sensor_step(z_pre, z_post, s, CorrelationSensorParameters(eta_p=2, eta_m=3))
    assert s.correlation_trace.shape == (2, 3, 2)
    assert torch.equal(s.correlation_trace, 2 * z_pre[:, :, None].expand(2, 3, 2))
    assert torch.equal(s.anti_correlation_trace, 3 * z_post[:, None, :].expand(2, 3, 2))
    expected_pp = (z_post[:, None, :] - z_pre[:, :, None] > 0).float()
    assert torch.equal(s.post_pre, expected_pp)


def test_unbatched_state() -> None:
    s = correlation_sensor_initial_state((3, 2))
    s = correlation_sensor_step(torch.tensor([0.0, 1.0, 0.0]), torch.tensor([1.0, 0.0]), s)
    assert s.post_pre.tolist() == [[1.0, 0.0], [0.0, 0.0], [1.0, 0.0]]


def test_step_is_pure() -> None:
    s = CorrelationSensorState(torch.ones(1, 2, 2), torch.ones(1, 2, 2), torch.ones(1, 2, 2))
    before = [t.clone() for t in s]
    new = correlation_sensor_step(torch.ones(1, 2), torch.zeros(1, 2), s)
    assert all(torch.equal(a, b) for a, b in zip(s, before, strict=True))
    assert all(n is not o for n, o in zip(new, s, strict=True))


def test_gradient_through_spikes() -> None:
    z_pre = torch.tensor([[1.0, 0.0]], requires_grad=True)
    z_post = torch.tensor([[1.0]], requires_grad=True)
    s = correlation_sensor_step(z_pre, z_post, correlation_sensor_initial_state((1, 2, 1)))
    (s.correlation_trace.sum() + 2 * s.anti_correlation_trace.sum()).backward()
    assert z_pre.grad.tolist() == [[1.0, 1.0]]  # eta_p
    assert z_post.grad.tolist() == [[4.0]]  # eta_m · 2 synapses · 2


def _identity_update(n_features: int, n_out: int) -> torch.nn.Linear:
    linear = torch.nn.Linear(n_features, n_out, bias=False)
    with torch.no_grad():
        linear.weight.zero_()
        linear.weight[:, :n_out] = torch.eye(n_out)
    return linear


def test_correlation_based_update_reshapes_and_resets() -> None:
    """n_pre = 3, n_post = 2; the update passes c.flatten() through, reshaped to (2, 3)."""
    c = torch.arange(6.0).reshape(1, 3, 2)
    s = CorrelationSensorState(torch.ones(1, 3, 2), c.clone(), torch.full((1, 3, 2), 7.0))
    weights = torch.ones(2, 3)
    new = correlation_based_update(20, _identity_update(12, 6), weights, s, 0.5, 10)
    assert torch.equal(new, 1 + 0.5 * torch.arange(6.0).reshape(2, 3))  # reshape, no transpose
    assert torch.equal(weights, torch.ones(2, 3))
    assert not s.correlation_trace.any() and not s.anti_correlation_trace.any()
    assert torch.equal(s.post_pre, torch.ones(1, 3, 2))  # kept


def test_correlation_based_update_off_steps() -> None:
    s = CorrelationSensorState(torch.zeros(1, 3, 2), torch.ones(1, 3, 2), torch.ones(1, 3, 2))
    weights = torch.ones(2, 3)
    assert correlation_based_update(7, _identity_update(12, 6), weights, s, 0.5, 10) is weights
    assert s.correlation_trace.sum().item() == 6.0


def test_correlation_based_update_detaches_the_proposal() -> None:
    s = CorrelationSensorState(torch.zeros(1, 1, 1), torch.ones(1, 1, 1), torch.ones(1, 1, 1))
    weights = torch.zeros(1, 1, requires_grad=True)
    new = correlation_based_update(0, torch.nn.Linear(2, 1), weights, s, 1.0, 1)
    new.sum().backward()
    assert weights.grad.item() == 1.0  # only the identity path; dw carries no graph


def test_reset_of_traces_that_require_grad() -> None:
    z_pre = torch.ones(1, 1, requires_grad=True)
    s = correlation_sensor_step(
        z_pre, torch.zeros(1, 1), correlation_sensor_initial_state((1, 1, 1))
    )
    assert s.correlation_trace.requires_grad
    correlation_based_update(0, torch.nn.Linear(2, 1), torch.zeros(1, 1), s, 1.0, 1)
    s = correlation_sensor_step(z_pre, torch.zeros(1, 1), s)
    s.correlation_trace.sum().backward()
    assert z_pre.grad.item() == 1.0  # the history before the reset contributes nothing
    leaf = CorrelationSensorState(*(torch.ones(1, 1, 1, requires_grad=True) for _ in range(3)))
    correlation_based_update(0, torch.nn.Linear(2, 1), torch.zeros(1, 1), leaf, 1.0, 1)
    assert leaf.correlation_trace.item() == 0.0
