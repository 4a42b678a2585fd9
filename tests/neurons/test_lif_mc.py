"""Tests of :mod:`simctl.neurons.lif_mc`."""

from __future__ import annotations

import pytest
import torch

from simctl.neurons.lif import LIFFeedForwardState, LIFParameters, LIFState, lif_step
from simctl.neurons.lif_mc import (
    MODEL,
    LIFMCParameters,
    LIFMCRecurrentCell,
    lif_mc_feed_forward_step,
    lif_mc_initial_state,
    lif_mc_model_step,
    lif_mc_step,
)

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
G = torch.tensor([[0.0, 100.0], [100.0, 0.0]])  # dt·G = 0.1 off the diagonal


def test_feed_forward_values():
    """Defaults (k_mem = 0.1, k_syn = 0.2), G as above, input [1, 0], v = i = 0.
    Coupling first: v ← v + 0.001·(v·Gᵀ), (v·Gᵀ) = [100·v1, 100·v0].

    step 1: v_c = 0; i1 = [1, 0]; v = 0.1·i1 = [0.1, 0]; i = [0.8, 0]
    step 2: v_c = [0.1, 0 + 0.001·10] = [0.1, 0.01]; i1 = [1.8, 0];
            v = [0.1 + 0.1·(1.8 − 0.1), 0.01 − 0.001] = [0.27, 0.009]; i = [1.44, 0]
    step 3: v_c = [0.27 + 0.0009, 0.009 + 0.027] = [0.2709, 0.036]; i1 = [2.44, 0];
            v = [0.2709 + 0.1·(2.44 − 0.2709), 0.036 − 0.0036] = [0.48781, 0.0324]
    """
    state = LIFFeedForwardState(v=torch.zeros(2), i=torch.zeros(2))
    expected = [[0.1, 0.0], [0.27, 0.009], [0.48781, 0.0324]]
    for v_exp in expected:
        z, state = lif_mc_feed_forward_step(torch.tensor([1.0, 0.0]), state, G)
        assert torch.equal(z, torch.zeros(2))
        assert torch.allclose(state.v, torch.tensor(v_exp), atol=1e-6)
    assert torch.allclose(state.i, torch.tensor([1.952, 0.0]), atol=1e-6)


def test_recurrent_values():
    """Same, recurrent, W_in = I, W_rec = 0: lif_step first, then the coupling on v2.

    step 1: v2 = [0.1, 0] → v = [0.1, 0] + 0.001·[0, 10] = [0.1, 0.01]
    step 2: v2 = [0.1 + 0.1·(1.8 − 0.1), 0.01 − 0.001] = [0.27, 0.009]
            → v = [0.27 + 0.0009, 0.009 + 0.027] = [0.2709, 0.036]
    """
    state = LIFState(z=torch.zeros(2), v=torch.zeros(2), i=torch.zeros(2))
    for v_exp in ([0.1, 0.01], [0.2709, 0.036]):
        z, state = lif_mc_step(torch.tensor([1.0, 0.0]), state, torch.eye(2), torch.zeros(2, 2), G)
        assert torch.allclose(state.v, torch.tensor(v_exp), atol=1e-6)


def test_spike_before_coupling():
    """The recurrent spike is computed before the coupling: v2 = 0 (reset) for the spiking
    neuron, then the coupling adds 0.1·v_other."""
    state = LIFState(z=torch.zeros(2), v=torch.tensor([0.99, 0.5]), i=torch.tensor([2.0, 0.0]))
    z, new = lif_mc_step(torch.zeros(2), state, torch.eye(2), torch.zeros(2, 2), G)
    # v1 = [0.99 + 0.1·(2 − 0.99), 0.5 − 0.05] = [1.091, 0.45] → z = [1, 0], v2 = [0, 0.45]
    assert z.tolist() == [1.0, 0.0]
    assert torch.allclose(new.v, torch.tensor([0.045, 0.45]), atol=1e-6)


def test_zero_coupling_is_lif():
    x = torch.rand(50, 3, 4) * 3
    w_in = torch.rand(4, 4)
    s_mc = LIFState(torch.zeros(3, 4), torch.zeros(3, 4), torch.zeros(3, 4))
    s_lif = s_mc
    for x_t in x:
        z_mc, s_mc = lif_mc_step(x_t, s_mc, w_in, torch.zeros(4, 4), torch.zeros(4, 4))
        z_lif, s_lif = lif_step(x_t, s_lif, w_in, torch.zeros(4, 4), LIFParameters())
        assert torch.equal(z_mc, z_lif)
    assert torch.allclose(s_mc.v, s_lif.v)


def test_hundred_steps():
    state = LIFFeedForwardState(v=torch.zeros(5, 3), i=torch.zeros(5, 3))
    rstate = LIFState(torch.zeros(5, 3), torch.zeros(5, 3), torch.zeros(5, 3))
    g = torch.randn(3, 3)
    total = 0.0
    for _ in range(100):
        z, state = lif_mc_feed_forward_step(torch.ones(5, 3), state, g)
        zr, rstate = lif_mc_step(torch.ones(5, 4), rstate, torch.ones(3, 4), torch.ones(3, 3), g)
        total += float(z.sum())
    assert total > 0 and torch.isfinite(state.v).all() and torch.isfinite(rstate.v).all()


def test_cell_shapes_and_default_coupling():
    cell = LIFMCRecurrentCell(2, 4)
    assert isinstance(cell.g_coupling, torch.nn.Parameter) and cell.g_coupling.shape == (4, 4)
    z, state = cell(torch.ones(5, 2))
    assert z.shape == state.z.shape == state.v.shape == state.i.shape == (5, 4)
    z, state = cell(torch.ones(3, 5, 2))  # spec §9.14: > 2 dims work
    assert z.shape == state.v.shape == (3, 5, 4)
    z, state = cell(torch.ones(2))
    assert z.shape == (4,)
    a = cell.initial_state(torch.ones(2, 2))
    b = cell.initial_state(torch.ones(2, 2))
    assert a.v.data_ptr() != b.v.data_ptr() and torch.equal(a.v, torch.zeros(2, 4))


def test_given_coupling_kept():
    g = torch.zeros(3, 3)
    cell = LIFMCRecurrentCell(2, 3, g_coupling=g)
    assert cell.g_coupling is g
    cell = cell.to(torch.float64)
    z, state = cell(torch.ones(4, 2, dtype=torch.float64))
    assert state.v.dtype == torch.float64


def test_autapses():
    cell = LIFMCRecurrentCell(
        2, 2, autapses=True, recurrent_weights=torch.ones(2, 2) * 0.01, g_coupling=torch.zeros(2, 2)
    )
    assert not torch.allclose(torch.zeros(2), torch.diagonal(cell.recurrent_weights))
    s1 = LIFState(z=torch.ones(1, 2), v=torch.zeros(1, 2), i=torch.zeros(1, 2))
    _, s_full = cell(torch.zeros(1, 2), s1)
    s2 = LIFState(z=torch.tensor([[0.0, 1.0]]), v=torch.zeros(1, 2), i=torch.zeros(1, 2))
    _, s_part = cell(torch.zeros(1, 2), s2)
    assert s_full.i[0, 0] != s_part.i[0, 0]


def test_no_autapses():
    cell = LIFMCRecurrentCell(
        2,
        2,
        autapses=False,
        recurrent_weights=torch.ones(2, 2) * 0.01,
        g_coupling=torch.zeros(2, 2),
    )
    assert torch.equal(torch.diagonal(cell.recurrent_weights), torch.zeros(2))
    s1 = LIFState(z=torch.ones(1, 2), v=torch.zeros(1, 2), i=torch.zeros(1, 2))
    _, s_full = cell(torch.zeros(1, 2), s1)
    s2 = LIFState(z=torch.tensor([[0.0, 1.0]]), v=torch.zeros(1, 2), i=torch.zeros(1, 2))
    _, s_part = cell(torch.zeros(1, 2), s2)
    assert s_full.i[0, 0] == s_part.i[0, 0]


def test_gradients():
    cell = LIFMCRecurrentCell(
        3, 4, p=LIFParameters(tau_mem_inv=torch.nn.Parameter(torch.tensor(100.0)))
    )
    x = torch.ones(2, 3, requires_grad=True)
    state = None
    for _ in range(3):
        z, state = cell(x * 5, state)
    (state.v.sum() + z.sum()).backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    assert cell.g_coupling.grad is not None and cell.g_coupling.grad.abs().sum() > 0
    assert cell.input_weights.grad is not None
    assert cell.p.tau_mem_inv.grad is not None


def test_model():
    p = LIFMCParameters(g_coupling=1.0)
    state = lif_mc_initial_state((2, 3), p)
    assert torch.equal(state.v, torch.zeros(2, 3)) and state.i.shape == (2, 3)
    # a scalar g couples uniformly: v ← v + dt·g·Σ_k v_k
    state = LIFFeedForwardState(v=torch.tensor([0.1, 0.2]), i=torch.zeros(2))
    _, new = lif_mc_model_step(torch.zeros(2), state, LIFMCParameters(g_coupling=100.0), 0.001)
    v_c = torch.tensor([0.13, 0.23])  # + 0.001·100·0.3
    assert torch.allclose(new.v, v_c - 0.1 * v_c, atol=1e-6)
    with pytest.raises(ValueError, match="g_coupling"):
        lif_mc_model_step(torch.zeros(2), state, LIFMCParameters(g_coupling=torch.ones(2)), 0.001)
    assert MODEL.name == "lif_mc" and MODEL.feed_forward_step is lif_mc_model_step


@cuda
@pytest.mark.cuda
def test_cuda():
    cell = LIFMCRecurrentCell(2, 3).cuda()
    z, state = cell(torch.ones(4, 2, device="cuda"))
    assert z.is_cuda and state.v.is_cuda
