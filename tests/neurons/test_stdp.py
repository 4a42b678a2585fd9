"""STDP weight updates (simctl.neurons.stdp): values derived by hand from the trace equations
in the module docstring, and the convolution checked against an explicit loop over positions."""

from __future__ import annotations

import math

import pytest
import torch

from simctl.neurons import STDPParameters, STDPState, stdp_step_conv2d, stdp_step_linear
from simctl.neurons.functional.stdp import stdp_step_linear as norse_path_step

DT = 1e-3
K = DT * 20.0  # dt·tau_inv with the default 1/50 ms


def _state(n_pre: int, n_post: int, batch: int = 1, dtype=torch.float32) -> STDPState:
    return STDPState(
        t_pre=torch.zeros(batch, n_pre, dtype=dtype), t_post=torch.zeros(batch, n_post, dtype=dtype)
    )


@pytest.mark.parametrize(
    ("algorithm", "mu", "a_plus", "a_minus"),
    [
        ("additive", 0.0, 1.0, 1.0),
        ("additive_step", 0.0, 1.0, 1.0),
        ("multiplicative_pow", 0.5, math.sqrt(0.7), math.sqrt(0.3)),
        ("multiplicative_relu", 0.0, 0.7, 0.3),
    ],
)
def test_pre_then_post_potentiates_post_then_pre_depresses(
    algorithm: str, mu: float, a_plus: float, a_minus: float
) -> None:
    """w = 0.3 in [0, 1]. Pre spike at step 0: x_pre = K. Post spike at step 1: x_pre decays to
    K(1 − K), so Δw = eta_plus·A_+(w)·K(1 − K). The mirror order depresses by
    eta_minus·A_-(w)·K(1 − K)."""
    p = STDPParameters(eta_plus=0.2, eta_minus=0.1, stdp_algorithm=algorithm, mu=mu)
    f64 = torch.float64
    one, zero = torch.ones(1, 1, dtype=f64), torch.zeros(1, 1, dtype=f64)
    w0 = torch.full((1, 1), 0.3, dtype=f64)
    w, s = stdp_step_linear(one, zero, w0, _state(1, 1, dtype=f64), p, DT)
    assert w.item() == 0.3
    assert s.t_pre.item() == pytest.approx(K)
    w, s = stdp_step_linear(zero, one, w, s, p, DT)
    assert w.item() - 0.3 == pytest.approx(0.2 * a_plus * K * (1 - K), rel=1e-12)

    w, s = stdp_step_linear(zero, one, w0, _state(1, 1, dtype=f64), p, DT)
    w, s = stdp_step_linear(one, zero, w, s, p, DT)
    assert 0.3 - w.item() == pytest.approx(0.1 * a_minus * K * (1 - K), rel=1e-12)


def test_batch_sums_and_shapes() -> None:
    torch.manual_seed(0)
    p = STDPParameters(eta_plus=0.05, eta_minus=0.04, hardbound=False)
    z_pre = (torch.rand(2, 4) < 0.5).float()
    z_post = (torch.rand(2, 3) < 0.5).float()
    s = STDPState(t_pre=torch.rand(2, 4), t_post=torch.rand(2, 3))
    w = torch.rand(3, 4)
    both, s_new = stdp_step_linear(z_pre, z_post, w, s, p)
    parts = [
        stdp_step_linear(
            z_pre[b : b + 1],
            z_post[b : b + 1],
            w,
            STDPState(s.t_pre[b : b + 1], s.t_post[b : b + 1]),
            p,
        )[0]
        - w
        for b in range(2)
    ]
    torch.testing.assert_close(both - w, parts[0] + parts[1])
    assert s_new.t_pre.shape == (2, 4) and both.shape == (3, 4)


def test_bounds_and_step_rule() -> None:
    one = torch.ones(1, 1)
    s = STDPState(t_pre=torch.ones(1, 1), t_post=torch.zeros(1, 1))
    big = STDPParameters(eta_plus=10.0)
    assert stdp_step_linear(torch.zeros(1, 1), one, torch.full((1, 1), 0.9), s, big)[0].item() == 1
    free = STDPParameters(eta_plus=10.0, hardbound=False)
    assert stdp_step_linear(torch.zeros(1, 1), one, torch.full((1, 1), 0.9), s, free)[0] > 1
    step = STDPParameters(eta_plus=10.0, stdp_algorithm="additive_step", hardbound=False)
    at_max = torch.full((1, 1), 1.0)  # Θ(w_max − w) = 0: no potentiation at the bound
    assert stdp_step_linear(torch.zeros(1, 1), one, at_max, s, step)[0].item() == 1.0
    with pytest.raises(ValueError, match="stdp_algorithm='hebb' is not known; choose one of"):
        STDPParameters(stdp_algorithm="hebb")


def test_step_does_not_modify_the_given_state_and_norse_path() -> None:
    s = _state(2, 2)
    before = s.t_pre.clone()
    w, s_new = norse_path_step(torch.ones(1, 2), torch.zeros(1, 2), torch.zeros(2, 2), s)
    assert norse_path_step is stdp_step_linear
    assert torch.equal(s.t_pre, before) and not torch.equal(s_new.t_pre, before)
    s.decay(torch.ones(1, 2), torch.zeros(1, 2), 20.0, 20.0, 1.0, 1.0)  # Norse: in place
    assert torch.allclose(s.t_pre, torch.full((1, 2), K))


@pytest.mark.parametrize("algorithm", ["additive", "multiplicative_pow"])
def test_conv2d_equals_a_loop_over_output_positions(algorithm: str) -> None:
    torch.manual_seed(1)
    stride, padding, dilation = 2, 1, 1
    p = STDPParameters(
        eta_plus=0.3, eta_minus=0.2, stdp_algorithm=algorithm, mu=0.7,
        stride=stride, padding=padding, dilation=dilation, convolutional=True,
    )  # fmt: skip
    z_pre = (torch.rand(2, 2, 5, 5) < 0.4).float()
    conv = torch.nn.Conv2d(2, 3, 3, stride=stride, padding=padding, dilation=dilation)
    z_post = (torch.rand_like(conv(z_pre)) < 0.4).float()
    s = STDPState(t_pre=torch.rand(2, 2, 5, 5), t_post=torch.rand_like(z_post))
    w = 0.2 + 0.6 * torch.rand(3, 2, 3, 3)
    w_new, s_new = stdp_step_conv2d(z_pre, z_post, w, s, p, DT)

    t_pre = torch.nn.functional.pad(s_new.t_pre, (padding,) * 4)
    pre = torch.nn.functional.pad(z_pre, (padding,) * 4)
    plus = torch.zeros_like(w)
    minus = torch.zeros_like(w)
    for y in range(z_post.shape[2]):
        for x in range(z_post.shape[3]):
            rows = slice(y * stride, y * stride + 3)
            cols = slice(x * stride, x * stride + 3)
            plus += torch.einsum("bo,bcuv->ocuv", z_post[:, :, y, x], t_pre[:, :, rows, cols])
            minus += torch.einsum("bo,bcuv->ocuv", s_new.t_post[:, :, y, x], pre[:, :, rows, cols])
    expected = torch.clamp(w + p.A_plus(w) * plus - p.A_minus(w) * minus, 0.0, 1.0)
    torch.testing.assert_close(w_new, expected)
    assert not torch.equal(w_new, w)


def test_correlation_sensor_masks() -> None:
    """Norse's correlation-sensor helpers: synapse (i, j) sees z_pre[i] and z_post[j]."""
    from simctl.neurons.functional.correlation_sensor import (
        post_mask,
        post_pre_update,
        pre_mask,
    )

    weights = torch.zeros(2, 3, 4)  # (batch, n_pre, n_post)
    z_pre = torch.tensor([[1.0, 0.0, 1.0], [0.0, 1.0, 0.0]])
    z_post = torch.tensor([[0.0, 1.0, 0.0, 0.0], [1.0, 1.0, 0.0, 1.0]])
    pre, post = pre_mask(weights, z_pre), post_mask(weights, z_post)
    assert torch.equal(pre[1, :, 2], z_pre[1]) and torch.equal(post[1, 2, :], z_post[1])
    post_pre = torch.zeros(2, 3, 4)
    post_pre[0, 0, 0] = 1.0  # set, then cleared by pre 0's spike (no post spike at j = 0)
    new = post_pre_update(post_pre, post, pre)
    assert new[0, 0, 0] == 0  # cleared by the presynaptic spike
    assert new[0, 1, 1] == 1  # set by the postsynaptic spike
    assert new[0, 0, 1] == 0  # both spikes: kept (at 0)
    post_pre[0, 0, 1] = 1.0
    assert post_pre_update(post_pre, post, pre)[0, 0, 1] == 1  # both spikes: kept (at 1)
