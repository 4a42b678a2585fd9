"""STDP sensor: Norse's test_stdp_sensor.py shapes, hand-derived traces, gradients."""

from __future__ import annotations

import pytest
import torch

from simctl.neurons.stdp_sensor import STDPSensorParameters, STDPSensorState, stdp_sensor_step


def test_defaults() -> None:
    p = STDPSensorParameters()
    assert (p.eta_p, p.eta_m, p.tau_ac_inv, p.tau_c_inv) == (1.0, 1.0, 10.0, 10.0)
    assert STDPSensorState._fields == ("a_pre", "a_post")


def test_norse_shapes() -> None:
    s = STDPSensorState(a_post=torch.zeros(10, 5), a_pre=torch.zeros(5, 10))
    s = stdp_sensor_step(torch.ones(10), torch.ones(5), s)
    assert isinstance(s, STDPSensorState)
    assert s.a_post.shape == (10, 5)
    assert s.a_pre.shape == (5, 10)


def test_hand_derived_traces() -> None:
    """dt·tau_c_inv = 0.01: decay by 0.99, then add eta·z (eta_p = 0.5, eta_m = 2).

    step z_pre z_post  a_pre                      a_post
    1    1     0       0.5                        0
    2    0     1       0.495                      2
    3    1     0       0.490050 + 0.5 = 0.990050  1.98
    """
    p = STDPSensorParameters(eta_p=0.5, eta_m=2.0)
    s = STDPSensorState(torch.zeros(1, dtype=torch.float64), torch.zeros(1, dtype=torch.float64))
    expected = [(0.5, 0.0), (0.495, 2.0), (0.99005, 1.98)]
    for (pre, post), (a_pre, a_post) in zip([(1, 0), (0, 1), (1, 0)], expected, strict=True):
        s = stdp_sensor_step(
            torch.tensor([float(pre)], dtype=torch.float64),
            torch.tensor([float(post)], dtype=torch.float64),
            s,
            p,
        )
        assert s.a_pre.item() == pytest.approx(a_pre, abs=1e-12)
        assert s.a_post.item() == pytest.approx(a_post, abs=1e-12)


def test_both_traces_decay_with_tau_c_inv() -> None:
    """As in Norse, tau_ac_inv does not enter the step."""
    s = STDPSensorState(torch.ones(1), torch.ones(1))
    a = stdp_sensor_step(torch.zeros(1), torch.zeros(1), s, STDPSensorParameters(tau_ac_inv=1e3))
    assert a.a_pre.item() == pytest.approx(0.99) and a.a_post.item() == pytest.approx(0.99)
    b = stdp_sensor_step(torch.zeros(1), torch.zeros(1), s, STDPSensorParameters(tau_c_inv=100))
    assert b.a_post.item() == pytest.approx(0.9)


def test_pure_and_differentiable() -> None:
    a_pre = torch.ones(3, requires_grad=True)
    z_pre = torch.tensor([1.0, 0.0, 1.0], requires_grad=True)
    s = STDPSensorState(a_pre, torch.zeros(3))
    new = stdp_sensor_step(z_pre, torch.zeros(3), s, STDPSensorParameters(eta_p=0.5))
    new.a_pre.sum().backward()
    assert torch.allclose(a_pre.grad, torch.full((3,), 0.99))
    assert torch.allclose(z_pre.grad, torch.full((3,), 0.5))
    assert torch.equal(s.a_pre.detach(), torch.ones(3))
