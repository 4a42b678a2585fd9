"""LIF: golden sequences (spec §2.5), shapes (spec §7), autapses, dtypes, sparse, gradients."""

from __future__ import annotations

import pytest
import torch
from neuron_loops import run_cell

from simctl.neurons.lif import (
    LIF,
    MODEL,
    LIFCell,
    LIFFeedForwardState,
    LIFParameters,
    LIFRecurrent,
    LIFRecurrentCell,
    LIFState,
    lif_current_encoder,
    lif_feed_forward_integral,
    lif_feed_forward_step,
    lif_initial_state,
    lif_step,
    lif_step_integral,
)

GOLDEN_V = [0.1, 0.27, 0.487, 0.7335, 0.9963, 0.0, 0.3951, 0.7717, 0.0]
GOLDEN_Z = [0, 0, 0, 0, 0, 1, 0, 0, 1]


def test_feed_forward_golden():
    state = LIFFeedForwardState(v=torch.zeros(1), i=torch.zeros(1))
    vs, zs = [], []
    for _ in GOLDEN_V:
        z, state = lif_feed_forward_step(torch.ones(1), state)
        vs.append(state.v.item())
        zs.append(z.item())
    assert vs == pytest.approx(GOLDEN_V, abs=1e-4)
    assert zs == GOLDEN_Z


def test_lif_step_unit_weights_golden():
    state = LIFState(z=torch.zeros(1), v=torch.zeros(1), i=torch.zeros(1))
    w_in, w_rec = torch.ones(1, 1), torch.zeros(1, 1)
    vs, zs = [], []
    for _ in GOLDEN_V:
        z, state = lif_step(torch.ones(1), state, w_in, w_rec)
        vs.append(state.v.item())
        zs.append(z.item())
    assert vs == pytest.approx(GOLDEN_V, abs=1e-4)
    assert zs == GOLDEN_Z


def test_feed_forward_integral_eight_steps():
    state = LIFFeedForwardState(v=torch.zeros(1), i=torch.zeros(1))
    z, state = lif_feed_forward_integral(torch.ones(8, 1), state)
    assert z.shape == (8, 1)
    assert z.sum().item() == 1.0
    assert state.v.item() == pytest.approx(0.7717, abs=1e-4)


def test_step_integral_returns_all_steps():
    state = LIFState(z=torch.zeros(1), v=torch.zeros(1), i=torch.zeros(1))
    z, state = lif_step_integral(torch.ones(9, 1), state, torch.ones(1, 1), torch.zeros(1, 1))
    assert z.shape == (9, 1)
    assert z.flatten().tolist() == GOLDEN_Z


def test_current_encoder_golden():
    golden = [0.1, 0.19, 0.271, 0.3439, 0.4095, 0.4686, 0.5217, 0.5695, 0.6126, 0.6513]
    v = torch.zeros(1)
    vs = []
    for _ in golden:
        z, v = lif_current_encoder(torch.ones(1), v)
        vs.append(v.item())
        assert z.item() == 0.0
    assert vs == pytest.approx(golden, abs=1e-4)


def test_layer_spikes_at_5_and_8():
    z, _ = LIF()(torch.ones(9, 1))
    assert torch.nonzero(z[:, 0]).flatten().tolist() == [5, 8]


def test_heaviside_method_spikes():
    """Two unit inputs through W_in = 10: i1 = 20, v1 = 0.1·20 = 2 > 1, a spike (and no
    gradient under the plain Heaviside)."""
    p = LIFParameters(method="heaviside")
    state = LIFState(z=torch.zeros(1), v=torch.zeros(1), i=torch.zeros(1))
    z, _ = lif_step(torch.ones(2), state, 10 * torch.ones(1, 2), torch.zeros(1, 1), p)
    assert z.item() == 1.0


def test_functional_batch_shapes():
    state = lif_initial_state((5, 3))
    z, state = lif_feed_forward_step(torch.ones(5, 3), state)
    assert z.shape == state.v.shape == state.i.shape == (5, 3)


def test_step_does_not_mutate_state():
    state = LIFFeedForwardState(v=torch.zeros(2), i=torch.zeros(2))
    lif_feed_forward_step(torch.ones(2), state)
    assert state.v.tolist() == [0.0, 0.0] and state.i.tolist() == [0.0, 0.0]


def test_reset_does_not_return_parameter_tensor():
    v_reset = torch.tensor(0.0)
    _, state = lif_feed_forward_step(
        torch.full((1,), 50.0), lif_initial_state((1,)), LIFParameters(v_reset=v_reset)
    )
    assert state.v is not v_reset


# ---------------------------------------------------------------- module shapes (spec §7)


def test_cell_shapes():
    z, state = LIFCell()(torch.ones(5, 2))
    assert z.shape == (5, 2)
    assert state.v.shape == (5, 2) and state.i.shape == (5, 2)


def test_recurrent_cell_shapes():
    z, state = LIFRecurrentCell(2, 4)(torch.ones(5, 2))
    assert z.shape == (5, 4)
    assert state.z.shape == state.v.shape == state.i.shape == (5, 4)


def test_recurrent_cell_batch_dims():
    z, state = LIFRecurrentCell(2, 4)(torch.ones(3, 5, 2))
    assert z.shape == state.v.shape == (3, 5, 4)


def test_layer_shapes():
    z, state = LIF()(torch.ones(10, 5, 4))
    assert z.shape == (10, 5, 4)
    assert state.v.shape == state.i.shape == (5, 4)


def test_recurrent_layer_shapes():
    z, state = LIFRecurrent(2, 4)(torch.ones(10, 5, 2))
    assert z.shape == (10, 5, 4)
    assert state.v.shape == (5, 4)


def test_chained_recurrent_layers():
    x = torch.ones(10, 1, 8)
    for n_in, n_out in ((8, 6), (6, 4), (4, 1)):
        x, state = LIFRecurrent(n_in, n_out)(x)
    assert x.shape == (10, 1, 1)
    assert state.v.shape == (1, 1)


# ---------------------------------------------------------------- autapses


@pytest.mark.parametrize("autapses", [True, False])
def test_autapses(autapses):
    """Neuron 0's current after a step depends on its own previous spike only with autapses:
    ``i1 = i + W_in·x + W_rec·z_old`` with ``W_rec = ones`` and x = 0."""
    cell = LIFRecurrentCell(2, 2, recurrent_weights=torch.ones(2, 2), autapses=autapses)
    assert bool(torch.all(torch.diagonal(cell.recurrent_weights) != 0)) == autapses
    zeros = torch.zeros(1, 2)
    spiking = LIFState(z=torch.tensor([[1.0, 0.0]]), v=zeros, i=zeros)
    silent = LIFState(z=zeros, v=zeros, i=zeros)
    _, s1 = cell(zeros, spiking)
    _, s2 = cell(zeros, silent)
    assert (s1.i[0, 0] != s2.i[0, 0]).item() == autapses


# ---------------------------------------------------------------- dtypes and sparse


@pytest.mark.parametrize("sparse", [False, True])
@pytest.mark.parametrize("cls", [LIFCell, LIF])
def test_bool_input_gives_float32_state(cls, sparse):
    x = torch.ones(3, 2, dtype=torch.bool)
    if sparse:
        x = x.to_sparse()
    z, state = cls()(x)
    assert state.v.dtype == torch.float32 and state.i.dtype == torch.float32


def test_sparse_input_gives_sparse_spikes():
    x = (torch.rand(4, 3) > 0.5).float().to_sparse()
    z, _ = LIFCell()(x)
    assert z.is_sparse
    z, state = LIFRecurrentCell(3, 2)(x)
    assert z.is_sparse and state.z.is_sparse


def test_sparse_equals_dense():
    torch.manual_seed(0)
    x = (torch.rand(6, 4, 3) > 0.3).float() * 20
    dense = LIFRecurrent(3, 2)
    sparse = LIFRecurrent(
        3, 2, input_weights=dense.input_weights, recurrent_weights=dense.recurrent_weights
    )
    z_dense, s_dense = dense(x)
    z_sparse, s_sparse = sparse(x.to_sparse())
    torch.testing.assert_close(z_sparse.to_dense(), z_dense)
    torch.testing.assert_close(s_sparse.v, s_dense.v)


# ---------------------------------------------------------------- gradients and equivalences


def test_backward_through_two_applications():
    cell = LIFCell()
    x = torch.ones(2, 3, requires_grad=True)
    z, state = cell(x)
    z, state = cell(x, state)
    (z.sum() + state.v.sum()).backward()
    assert x.grad is not None and torch.all(x.grad != 0)


def test_gradient_reaches_per_neuron_parameter():
    v_th = torch.full((3,), 0.5, requires_grad=True)
    tau = torch.full((3,), 100.0, requires_grad=True)
    x = torch.rand(8, 2, 3, requires_grad=True)
    z, state = LIF(LIFParameters(v_th=v_th, tau_mem_inv=tau))(x * 3)
    (z.sum() + state.v.sum()).backward()
    assert v_th.grad is not None and torch.all(v_th.grad != 0)
    assert tau.grad is not None and torch.all(tau.grad != 0)
    assert x.grad is not None and torch.all(x.grad != 0)


def test_recurrent_gradient_reaches_weights():
    layer = LIFRecurrent(2, 3)
    z, state = layer(torch.rand(10, 4, 2) * 5)
    (z.sum() + state.v.sum()).backward()
    assert layer.input_weights.grad is not None
    assert layer.recurrent_weights.grad is not None


@pytest.mark.parametrize("p", [LIFParameters(), LIFParameters(tau_mem_inv=700.0, v_th=0.5)])
def test_cell_loop_equals_layer(p):
    torch.manual_seed(0)
    x = torch.rand(12, 3, 2) * 4
    z_layer, s_layer = LIF(p)(x)
    outs, state = run_cell(LIFCell(p), x)
    torch.testing.assert_close(outs, z_layer)
    torch.testing.assert_close(state.v, s_layer.v)
    torch.testing.assert_close(state.i, s_layer.i)


def test_model_description():
    assert MODEL.name == "lif" and MODEL.feed_forward_step is lif_feed_forward_step
    state = MODEL.initial_state((2, 3), LIFParameters(v_leak=-1.0), torch.float64, "cpu")
    assert state.v.dtype == torch.float64 and state.v.tolist() == [[-1.0] * 3] * 2


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_matches_cpu():
    torch.manual_seed(0)
    x = torch.rand(20, 4, 3) * 4
    layer = LIFRecurrent(3, 5)
    z_cpu, s_cpu = layer(x)
    layer = layer.cuda()
    z_gpu, s_gpu = layer(x.cuda())
    torch.testing.assert_close(z_gpu.cpu(), z_cpu)
    torch.testing.assert_close(s_gpu.v.cpu(), s_cpu.v)
