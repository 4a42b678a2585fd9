"""Refractory LIF: golden v and rho (spec §2.5), shapes incl. >2-dim inputs (spec §9.14),
nested parameters, autapses, sparse, gradients."""

from __future__ import annotations

import pytest
import torch
from neuron_loops import run_cell

from simctl.neurons.lif import LIF, LIFFeedForwardState, LIFParameters, LIFState
from simctl.neurons.lif_refrac import (
    MODEL,
    LIFRefrac,
    LIFRefracCell,
    LIFRefracFeedForwardState,
    LIFRefracParameters,
    LIFRefracRecurrent,
    LIFRefracRecurrentCell,
    LIFRefracState,
    lif_refrac_feed_forward_step,
    lif_refrac_initial_state,
    lif_refrac_step,
)

# 1-based steps 1..14 from spec §2.5: spike at 6, v frozen for 5 steps, spike at 14
GOLDEN_V = [0.1, 0.27, 0.487, 0.7335, 0.9963, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.4656, 0.8916, 0.0]
GOLDEN_RHO = [0, 0, 0, 0, 0, 5, 4, 3, 2, 1, 0, 0, 0, 5]
GOLDEN_Z = [0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1]


def _zero_ff_state(shape=(1,)):
    zeros = torch.zeros(shape)
    return LIFRefracFeedForwardState(lif=LIFFeedForwardState(v=zeros, i=zeros), rho=zeros)


def test_feed_forward_golden():
    state = _zero_ff_state()
    vs, rhos, zs = [], [], []
    for _ in GOLDEN_V:
        z, state = lif_refrac_feed_forward_step(torch.ones(1), state)
        vs.append(state.lif.v.item())
        rhos.append(state.rho.item())
        zs.append(z.item())
    assert vs == pytest.approx(GOLDEN_V, abs=1e-4)
    assert rhos == GOLDEN_RHO
    assert zs == GOLDEN_Z


def test_recurrent_step_golden_with_unit_weights():
    zeros = torch.zeros(1)
    state = LIFRefracState(lif=LIFState(z=zeros, v=zeros, i=zeros), rho=zeros)
    vs, rhos = [], []
    for _ in GOLDEN_V:
        z, state = lif_refrac_step(torch.ones(1), state, torch.ones(1, 1), torch.zeros(1, 1))
        vs.append(state.lif.v.item())
        rhos.append(state.rho.item())
        assert state.lif.z is z
    assert vs == pytest.approx(GOLDEN_V, abs=1e-4)
    assert rhos == GOLDEN_RHO


def test_layer_spike_times():
    z, _ = LIFRefrac()(torch.ones(14, 1))
    assert torch.nonzero(z[:, 0]).flatten().tolist() == [5, 13]


def test_current_keeps_integrating_while_refractory():
    """During refractoriness only v is frozen: i follows the LIF current exactly."""
    x = torch.ones(14, 1)
    _, s_refrac = LIFRefrac(record_states=True)(x)
    _, s_lif = LIF(record_states=True)(x)
    torch.testing.assert_close(s_refrac.lif.i, s_lif.i)


def test_zero_refractory_period_equals_lif():
    """rho_reset = 0: rho stays 0, so m = Θ(0) = 0 on every step and the update is plain LIF."""
    torch.manual_seed(0)
    x = torch.rand(20, 3, 2) * 4
    z_refrac, s_refrac = LIFRefrac(LIFRefracParameters(rho_reset=0.0))(x)
    z_lif, s_lif = LIF()(x)
    torch.testing.assert_close(z_refrac, z_lif)
    torch.testing.assert_close(s_refrac.lif.v, s_lif.v)
    assert z_lif.sum() > 0


def test_rho_reset_two_steps():
    """rho_reset = 2, input 1: the first spike at step 6 (as in LIF); then v is frozen at 0
    for steps 7 and 8 (rho = 2 → 1 → 0), and from step 9 it integrates the current again."""
    z, states = LIFRefrac(LIFRefracParameters(rho_reset=2.0), record_states=True)(torch.ones(9, 1))
    assert states.rho[:, 0].tolist() == [0, 0, 0, 0, 0, 2, 1, 0, 0]
    assert states.lif.v[5:8, 0].tolist() == [0.0, 0.0, 0.0]
    assert states.lif.v[8, 0].item() > 0


def test_nested_parameters_and_to():
    p = LIFRefracParameters(lif=LIFParameters(v_th=torch.tensor([0.5, 1.0])), rho_reset=3.0)
    cell = LIFRefracCell(p).to(torch.float64)
    assert cell.p.lif.v_th.dtype == torch.float64
    assert cell.p.lif.tau_syn_inv.dtype == torch.float64
    assert cell.p.rho_reset.dtype == torch.float64
    z, state = cell(torch.ones(4, 2, dtype=torch.float64))
    assert state.lif.v.dtype == state.rho.dtype == torch.float64
    assert LIFRefracParameters().lif == LIFParameters()
    assert LIFRefracParameters().rho_reset == 5.0


# ---------------------------------------------------------------- shapes


def test_cell_shapes():
    z, state = LIFRefracCell()(torch.ones(5, 2))
    assert z.shape == (5, 2)
    assert state.lif.v.shape == state.lif.i.shape == state.rho.shape == (5, 2)


def test_layer_shapes():
    z, state = LIFRefrac()(torch.ones(10, 5, 2))
    assert z.shape == (10, 5, 2)
    assert state.lif.v.shape == state.rho.shape == (5, 2)


@pytest.mark.parametrize("batch", [(5,), (3, 5), (2, 3, 5)])
def test_recurrent_cell_shapes_any_rank(batch):
    z, state = LIFRefracRecurrentCell(2, 4)(torch.ones(*batch, 2))
    assert z.shape == (*batch, 4)
    for tensor in (state.lif.z, state.lif.v, state.lif.i, state.rho):
        assert tensor.shape == (*batch, 4)


@pytest.mark.parametrize("batch", [(5,), (3, 5)])
def test_recurrent_layer_shapes(batch):
    z, state = LIFRefracRecurrent(2, 4)(torch.ones(10, *batch, 2))
    assert z.shape == (10, *batch, 4)
    assert state.lif.v.shape == state.rho.shape == (*batch, 4)


def test_initial_states():
    p = LIFRefracParameters(lif=LIFParameters(v_leak=-0.5))
    state = LIFRefracCell(p).initial_state(torch.ones(3, 2))
    assert state.lif.v.tolist() == [[-0.5, -0.5]] * 3 and state.lif.v.requires_grad
    assert state.rho.tolist() == [[0.0, 0.0]] * 3
    state = LIFRefracRecurrentCell(2, 4, p).initial_state(torch.ones(3, 2))
    assert state.lif.v.shape == (3, 4) and state.lif.v[0, 0].item() == -0.5
    model_state = MODEL.initial_state((2,), p, torch.float64)
    assert model_state.lif.v.dtype == torch.float64 and model_state.rho.tolist() == [0.0, 0.0]


# ---------------------------------------------------------------- autapses and sparse


@pytest.mark.parametrize("autapses", [True, False])
def test_autapses(autapses):
    """Neuron 0's current depends on its own last spike only with autapses
    (``i1 = i + W_in·x + W_rec·z_old`` with ``W_rec = ones``, x = 0)."""
    cell = LIFRefracRecurrentCell(2, 2, recurrent_weights=torch.ones(2, 2), autapses=autapses)
    zeros = torch.zeros(1, 2)

    def state(z):
        return LIFRefracState(lif=LIFState(z=z, v=zeros, i=zeros), rho=zeros)

    _, s1 = cell(zeros, state(torch.tensor([[1.0, 0.0]])))
    _, s2 = cell(zeros, state(zeros))
    assert (s1.lif.i[0, 0] != s2.lif.i[0, 0]).item() == autapses


def test_sparse_equals_dense():
    torch.manual_seed(0)
    x = (torch.rand(12, 4, 3) > 0.3).float() * 20
    dense = LIFRefracRecurrent(3, 2)
    sparse = LIFRefracRecurrent(
        3, 2, input_weights=dense.input_weights, recurrent_weights=dense.recurrent_weights
    )
    z_dense, s_dense = dense(x)
    z_sparse, s_sparse = sparse(x.to_sparse())
    assert z_sparse.is_sparse  # stacked sparse spikes, as Norse's time layers return
    torch.testing.assert_close(z_sparse.to_dense(), z_dense)
    torch.testing.assert_close(s_sparse.lif.v, s_dense.lif.v)
    torch.testing.assert_close(s_sparse.rho, s_dense.rho)
    assert s_sparse.lif.z.is_sparse
    assert z_dense.sum() > 0


# ---------------------------------------------------------------- gradients and equivalences


def test_gradients_reach_input_and_nested_parameter():
    v_th = torch.tensor([0.3, 0.6, 0.9], requires_grad=True)
    x = (torch.rand(15, 2, 3) * 3).requires_grad_(True)
    p = LIFRefracParameters(lif=LIFParameters(v_th=v_th))
    z, state = LIFRefrac(p)(x)
    (z.sum() + state.lif.v.sum()).backward()
    assert torch.all(v_th.grad != 0)
    # the first step is never refractory; later inputs may meet a frozen voltage (no gradient)
    assert torch.all(x.grad[0] != 0)


def test_recurrent_gradients():
    layer = LIFRefracRecurrent(2, 3)
    x = (torch.rand(10, 4, 2) * 5).requires_grad_(True)
    z, state = layer(x)
    (z.sum() + state.lif.v.sum()).backward()
    assert layer.input_weights.grad is not None and x.grad is not None
    assert torch.all(torch.diagonal(layer.recurrent_weights.grad) == 0)


def test_cell_loop_equals_layer():
    torch.manual_seed(0)
    x = torch.rand(20, 3, 2) * 4
    z_layer, s_layer = LIFRefrac()(x)
    outs, state = run_cell(LIFRefracCell(), x)
    torch.testing.assert_close(outs, z_layer)
    torch.testing.assert_close(state.lif.v, s_layer.lif.v)
    torch.testing.assert_close(state.rho, s_layer.rho)


def test_recurrent_cell_loop_equals_layer():
    torch.manual_seed(0)
    x = torch.rand(20, 3, 2) * 4
    layer = LIFRefracRecurrent(2, 4)
    cell = LIFRefracRecurrentCell(
        2, 4, input_weights=layer.input_weights, recurrent_weights=layer.recurrent_weights
    )
    z_layer, s_layer = layer(x)
    outs, state = run_cell(cell, x)
    torch.testing.assert_close(outs, z_layer)
    torch.testing.assert_close(state.rho, s_layer.rho)


def test_initial_state_function():
    state = lif_refrac_initial_state((2, 3))
    assert state.lif.v.shape == state.rho.shape == (2, 3)


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_matches_cpu():
    torch.manual_seed(0)
    x = torch.rand(20, 4, 3) * 4
    layer = LIFRefracRecurrent(3, 5)
    z_cpu, s_cpu = layer(x)
    z_gpu, s_gpu = layer.cuda()(x.cuda())
    torch.testing.assert_close(z_gpu.cpu(), z_cpu)
    torch.testing.assert_close(s_gpu.rho.cpu(), s_cpu.rho)
