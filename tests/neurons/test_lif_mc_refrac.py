"""Tests of :mod:`simctl.neurons.lif_mc_refrac`."""

from __future__ import annotations

import pytest
import torch

from simctl.neurons.lif import LIFFeedForwardState, LIFParameters, LIFState
from simctl.neurons.lif_mc_refrac import (
    MODEL,
    LIFMCRefracParameters,
    LIFMCRefracRecurrentCell,
    lif_mc_refrac_feed_forward_step,
    lif_mc_refrac_initial_state,
    lif_mc_refrac_model_step,
    lif_mc_refrac_step,
)
from simctl.neurons.lif_refrac import (
    LIFRefracFeedForwardState,
    LIFRefracParameters,
    LIFRefracState,
)

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
G = torch.tensor([[0.0, 100.0], [100.0, 0.0]])  # dt·G = 0.1 off the diagonal
P = LIFRefracParameters()


def ff_state(v, i, rho):
    return LIFRefracFeedForwardState(
        lif=LIFFeedForwardState(v=torch.tensor(v), i=torch.tensor(i)), rho=torch.tensor(rho)
    )


def test_feed_forward_values():
    """Defaults (k_mem = 0.1, k_syn = 0.2), G as above, input [1, 0], v = i = rho = 0.
    Old ordering: the input is added to i after the voltage update; coupling dt·(v·Gᵀ).

    step 1: v = 0 + 0.1·(0 − 0 + 0) + 0 = [0, 0]; i = 0·0.8 + [1, 0] = [1, 0]
    step 2: v = 0.1·[1, 0] = [0.1, 0]; i = [0.8, 0] + [1, 0] = [1.8, 0]
    step 3: v = [0.1 + 0.1·(1.8 − 0.1), 0 + 0.001·(100·0.1)] = [0.27, 0.01]; i = [2.44, 0]
    """
    state = ff_state([0.0, 0.0], [0.0, 0.0], [0.0, 0.0])
    expected = [([0.0, 0.0], [1.0, 0.0]), ([0.1, 0.0], [1.8, 0.0]), ([0.27, 0.01], [2.44, 0.0])]
    for v_exp, i_exp in expected:
        z, state = lif_mc_refrac_feed_forward_step(torch.tensor([1.0, 0.0]), state, G, P)
        assert torch.equal(z, torch.zeros(2))
        assert torch.allclose(state.lif.v, torch.tensor(v_exp), atol=1e-6)
        assert torch.allclose(state.lif.i, torch.tensor(i_exp), atol=1e-6)
        assert torch.equal(state.rho, torch.zeros(2))


def test_recurrent_values_and_refractory_period():
    """One neuron, G = 0, v = 0.95, i = 2, no input (W_in = 1, W_rec = 0):

    step 1: v1 = 0.95 + 0.1·(2 − 0.95) = 1.055 > 1 → z = 1, v = 0, rho = 5, i = 1.6
    steps 2–6: m = 1, v frozen at 0, rho = 4, 3, 2, 1, 0; i = 1.28, 1.024, ... (keeps decaying)
    step 7: m = 0, v = 0.1·i6 with i6 = 1.6·0.8⁵ = 0.524288 → v = 0.0524288
    """
    state = LIFRefracState(
        lif=LIFState(z=torch.zeros(1), v=torch.tensor([0.95]), i=torch.tensor([2.0])),
        rho=torch.zeros(1),
    )
    w_in, w_rec, g = torch.ones(1, 1), torch.zeros(1, 1), torch.zeros(1, 1)
    z, state = lif_mc_refrac_step(torch.zeros(1), state, w_in, w_rec, g, P)
    assert z.item() == 1.0 and state.lif.v.item() == 0.0 and state.rho.item() == 5.0
    assert state.lif.i.item() == pytest.approx(1.6)
    rhos = []
    for _ in range(5):
        z, state = lif_mc_refrac_step(torch.zeros(1), state, w_in, w_rec, g, P)
        assert z.item() == 0.0 and state.lif.v.item() == 0.0
        rhos.append(state.rho.item())
    assert rhos == [4.0, 3.0, 2.0, 1.0, 0.0]
    z, state = lif_mc_refrac_step(torch.zeros(1), state, w_in, w_rec, g, P)
    assert state.lif.v.item() == pytest.approx(0.1 * 1.6 * 0.8**5, abs=1e-6)


def test_spikes_masked_while_refractory_and_coupling_has_dt():
    """Neuron 0 is refractory (rho = 3) at v = 0; neuron 1 at v = 0.9. With G[0, 1] = 2000
    (dt·G = 2): v0 = 0 + 0 (frozen drive) + 2·0.9 = 1.8 > v_th, yet z0 = 0 (masked; Norse would
    spike), rho0 = 2. Neuron 1: v1 = 0.9 + 0.1·(0 − 0.9) = 0.81."""
    g = torch.tensor([[0.0, 2000.0], [0.0, 0.0]])
    state = ff_state([0.0, 0.9], [0.0, 0.0], [3.0, 0.0])
    z, state = lif_mc_refrac_feed_forward_step(torch.zeros(2), state, g, P)
    assert z.tolist() == [0.0, 0.0]
    assert torch.allclose(state.lif.v, torch.tensor([1.8, 0.81]), atol=1e-6)
    assert state.rho.tolist() == [2.0, 0.0]


def test_hundred_steps():
    state = lif_mc_refrac_initial_state((5, 3))
    rstate = LIFRefracState(
        lif=LIFState(torch.zeros(5, 3), torch.zeros(5, 3), torch.zeros(5, 3)),
        rho=torch.zeros(5, 3),
    )
    g = torch.randn(3, 3)
    total = 0.0
    for _ in range(100):
        z, state = lif_mc_refrac_feed_forward_step(torch.ones(5, 3), state, g, P)
        zr, rstate = lif_mc_refrac_step(
            torch.ones(5, 4), rstate, torch.ones(3, 4), torch.ones(3, 3), g, P
        )
        total += float(z.sum())
    assert total > 0 and torch.isfinite(state.lif.v).all() and torch.isfinite(rstate.lif.v).all()
    assert rstate.rho.max() <= 5.0


def test_cell_shapes():
    cell = LIFMCRefracRecurrentCell(2, 4)
    assert isinstance(cell.g_coupling, torch.nn.Parameter) and cell.g_coupling.shape == (4, 4)
    z, state = cell(torch.ones(5, 2))
    assert z.shape == state.rho.shape == state.lif.v.shape == state.lif.i.shape == (5, 4)
    z, state = cell(torch.ones(3, 5, 2))  # spec §9.14
    assert z.shape == state.lif.z.shape == (3, 5, 4)
    a = cell.initial_state(torch.ones(2, 2))
    b = cell.initial_state(torch.ones(2, 2))
    assert a.lif.v.data_ptr() != b.lif.v.data_ptr()
    assert a.lif.i.data_ptr() != a.rho.data_ptr()


def test_autapses():
    cell = LIFMCRefracRecurrentCell(
        2, 2, autapses=True, recurrent_weights=torch.ones(2, 2) * 0.01, g_coupling=torch.zeros(2, 2)
    )
    assert not torch.allclose(torch.zeros(2), torch.diagonal(cell.recurrent_weights))
    s1 = LIFRefracState(
        LIFState(z=torch.ones(1, 2), v=torch.zeros(1, 2), i=torch.zeros(1, 2)), torch.zeros(1, 2)
    )
    _, s_full = cell(torch.zeros(1, 2), s1)
    s2 = LIFRefracState(
        LIFState(z=torch.tensor([[0.0, 1.0]]), v=torch.zeros(1, 2), i=torch.zeros(1, 2)),
        torch.zeros(1, 2),
    )
    _, s_part = cell(torch.zeros(1, 2), s2)
    assert s_full.lif.i[0, 0] != s_part.lif.i[0, 0]


def test_no_autapses():
    cell = LIFMCRefracRecurrentCell(
        2,
        2,
        autapses=False,
        recurrent_weights=torch.ones(2, 2) * 0.01,
        g_coupling=torch.zeros(2, 2),
    )
    assert torch.equal(torch.diagonal(cell.recurrent_weights), torch.zeros(2))
    s1 = LIFRefracState(
        LIFState(z=torch.ones(1, 2), v=torch.zeros(1, 2), i=torch.zeros(1, 2)), torch.zeros(1, 2)
    )
    _, s_full = cell(torch.zeros(1, 2), s1)
    s2 = LIFRefracState(
        LIFState(z=torch.tensor([[0.0, 1.0]]), v=torch.zeros(1, 2), i=torch.zeros(1, 2)),
        torch.zeros(1, 2),
    )
    _, s_part = cell(torch.zeros(1, 2), s2)
    assert s_full.lif.i[0, 0] == s_part.lif.i[0, 0]


def test_gradients():
    p = LIFRefracParameters(lif=LIFParameters(v_th=torch.nn.Parameter(torch.tensor(1.0))))
    cell = LIFMCRefracRecurrentCell(3, 4, p=p)
    x = torch.ones(2, 3, requires_grad=True)
    state = None
    for _ in range(4):
        z, state = cell(x * 5, state)
    (state.lif.v.sum() + z.sum()).backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    assert cell.g_coupling.grad is not None and cell.input_weights.grad is not None
    assert cell.p.lif.v_th.grad is not None


def test_model_and_dtype():
    p = LIFMCRefracParameters(g_coupling=0.0)
    state = lif_mc_refrac_initial_state((2, 3), p, torch.float64)
    assert state.lif.v.dtype == torch.float64 and state.rho.shape == (2, 3)
    x = torch.ones(2, 3, dtype=torch.float64)
    z, new = lif_mc_refrac_model_step(x, state, p, 0.001)
    assert new.lif.i.dtype == torch.float64 and torch.equal(new.lif.i, x)
    assert MODEL.name == "lif_mc_refrac" and MODEL.voltage == "lif.v"
    cell = LIFMCRefracRecurrentCell(2, 3).to(torch.float64)
    z, s = cell(torch.ones(4, 2, dtype=torch.float64))
    assert s.lif.v.dtype == torch.float64


@cuda
@pytest.mark.cuda
def test_cuda():
    cell = LIFMCRefracRecurrentCell(2, 3).cuda()
    z, state = cell(torch.ones(4, 2, device="cuda"))
    assert z.is_cuda and state.rho.is_cuda
