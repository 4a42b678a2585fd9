"""Tsodyks–Markram STP: Norse's test_tsodyks_makram.py protocols, hand-derived steps, gradients."""

from __future__ import annotations

import pytest
import torch

from simctl.neurons.tsodyks_makram import TsodyksMakramParameters, TsodyksMakramState, stp_step


def test_defaults() -> None:
    p = TsodyksMakramParameters()
    assert p.tau_f_inv == pytest.approx(20.0)
    assert p.tau_s_inv == pytest.approx(50.0)
    assert p.tau_d_inv == pytest.approx(1 / 0.75)
    assert p.U == 0.45
    assert TsodyksMakramState._fields == ("u", "x")


def test_hand_derived_steps() -> None:
    """Defaults, dt = 1e-3, from u = 0, x = 1; spikes at steps 1 and 2, none at step 3.

    1: u = 0.45·1 = 0.45;  x = 1 − 0.45·1 = 0.55;  out = 0.45·1 = 0.45
    2: u = 0.45 − 0.02·0.45 + 0.45·0.55 = 0.6885
       x = 0.55 + (1/750)·0.45 − 0.6885·0.55 = 0.171925;  out = 0.6885·0.55 = 0.378675
    3: u = 0.6885·0.98 = 0.67473;  x = 0.171925 + (1/750)·0.828075 = 0.1730291;  out = 0
    """
    s = TsodyksMakramState(
        u=torch.zeros(1, dtype=torch.float64), x=torch.ones(1, dtype=torch.float64)
    )
    expected = [(0.45, 0.55, 0.45), (0.6885, 0.171925, 0.378675), (0.67473, 0.1730291, 0.0)]
    for z, (u, x, out) in zip([1.0, 1.0, 0.0], expected, strict=True):
        o, s = stp_step(torch.tensor([z], dtype=torch.float64), s)
        assert s.u.item() == pytest.approx(u, abs=1e-7)
        assert s.x.item() == pytest.approx(x, abs=1e-7)
        assert o.item() == pytest.approx(out, abs=1e-7)


def _norse_example(p: TsodyksMakramParameters) -> torch.Tensor:
    """Norse's protocol: a spike every 100 steps from step 100; the current decays with tau_s."""
    dt = 0.001
    z = torch.zeros(1000)
    z[::100] = 1.0
    z[0:10] = 0.0
    s = TsodyksMakramState(x=1.0, u=0.0)
    i = 0.0
    current = []
    for ts in range(1000):
        x, s = stp_step(z[ts], s, p)
        i = i + dt * (-p.tau_s_inv * i) + x
        current.append(i)
    return torch.stack(current)


def test_depressing() -> None:
    p = TsodyksMakramParameters(
        tau_f_inv=1 / 50.0e-3, tau_s_inv=1 / 20.0e-3, tau_d_inv=1 / 750.0e-3, U=0.45
    )
    current = _norse_example(p)
    assert torch.allclose(current[100], torch.as_tensor(p.U))
    assert current[500:1000].max() < current[0:500].max()


def test_facilitating() -> None:
    p = TsodyksMakramParameters(
        tau_f_inv=1 / 750.0e-3, tau_s_inv=1 / 20.0e-3, tau_d_inv=1 / 50.0e-3, U=0.15
    )
    current = _norse_example(p)
    assert torch.allclose(current[100], torch.as_tensor(p.U))
    assert current[500:1000].max() > current[0:500].max()


def test_shapes_and_gradient() -> None:
    z = (torch.rand(4, 3, generator=torch.Generator().manual_seed(1)) < 0.5).float()
    z.requires_grad_(True)
    s = TsodyksMakramState(u=torch.zeros(4, 3), x=torch.ones(4, 3))
    out, new = stp_step(z, s)
    assert out.shape == new.u.shape == new.x.shape == (4, 3)
    out.sum().backward()
    # at u = 0, x = 1: u' = U·z, so out = U·z² and d out/dz = 2·U·z
    assert torch.allclose(z.grad, 2 * 0.45 * z.detach())
    assert torch.equal(s.u, torch.zeros(4, 3))
