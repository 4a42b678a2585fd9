"""IAF: golden values (spec §2.5), recurrent step, fresh states (spec §9.10), shapes, gradients."""

from __future__ import annotations

import pytest
import torch
from neuron_loops import run_cell

from simctl.neurons.iaf import (
    IAF,
    MODEL,
    IAFCell,
    IAFFeedForwardState,
    IAFParameters,
    IAFState,
    iaf_feed_forward_step,
    iaf_initial_state,
    iaf_step,
)


def test_unit_input_reaches_threshold_without_spike():
    z, state = IAFCell()(torch.ones(1), IAFFeedForwardState(v=torch.zeros(1)))
    assert state.v.item() == 1.0
    assert z.item() == 0.0


def test_input_03_sequence():
    golden = [0.3, 0.6, 0.9, 0.0] * 3
    state = iaf_initial_state((1,))
    vs, zs = [], []
    for _ in golden:
        z, state = iaf_feed_forward_step(torch.full((1,), 0.3), state)
        vs.append(state.v.item())
        zs.append(z.item())
    assert vs == pytest.approx(golden, abs=1e-6)
    assert zs == [0.0, 0.0, 0.0, 1.0] * 3


def test_dt_is_ignored():
    state = iaf_initial_state((2,))
    _, a = iaf_feed_forward_step(torch.full((2,), 0.4), state, dt=0.001)
    _, b = iaf_feed_forward_step(torch.full((2,), 0.4), state, dt=1.0)
    torch.testing.assert_close(a.v, b.v)


def test_reset_value_and_threshold():
    """v_th = 2, v_reset = −1, input 1.5 from v = 0: v = 1.5, then 3.0 > 2 spikes and resets
    to −1, then −1 + 1.5 = 0.5."""
    p = IAFParameters(v_th=2.0, v_reset=-1.0)
    state = IAFFeedForwardState(v=torch.zeros(1))
    vs, zs = [], []
    for _ in range(3):
        z, state = iaf_feed_forward_step(torch.full((1,), 1.5), state, p)
        vs.append(state.v.item())
        zs.append(z.item())
    assert vs == [1.5, -1.0, 0.5]
    assert zs == [0.0, 1.0, 0.0]


def test_iaf_step_recurrent():
    """Two neurons, W_in = identity, W_rec[1, 0] = 0.6 (neuron 1 listens to neuron 0).

    step 1, x = (1.5, 0): v = (1.5, 0) → z = (1, 0), v → (0, 0)
    step 2, x = (0, 0):   v = (0, 0) + W_rec·(1, 0) = (0, 0.6), no spike
    step 3, x = (0, 0.5): v = (0, 0.6 + 0.5) = (0, 1.1) → z = (0, 1), v → (0, 0)
    """
    w_in = torch.eye(2)
    w_rec = torch.tensor([[0.0, 0.0], [0.6, 0.0]])
    state = IAFState(z=torch.zeros(2), v=torch.zeros(2))
    z, state = iaf_step(torch.tensor([1.5, 0.0]), state, w_in, w_rec)
    assert z.tolist() == [1.0, 0.0] and state.v.tolist() == [0.0, 0.0]
    z, state = iaf_step(torch.zeros(2), state, w_in, w_rec)
    assert z.tolist() == [0.0, 0.0]
    assert state.v.tolist() == pytest.approx([0.0, 0.6])
    z, state = iaf_step(torch.tensor([0.0, 0.5]), state, w_in, w_rec)
    assert z.tolist() == [0.0, 1.0] and state.v.tolist() == [0.0, 0.0]
    assert state.z is z


def test_initial_state_is_not_the_parameter():
    """Norse used p.v_reset itself as v and set requires_grad on it (spec §9.10)."""
    v_reset = torch.tensor(0.0)
    p = IAFParameters(v_reset=v_reset)
    for module in (IAFCell(p), IAF(p)):
        x = torch.ones(3, 2)
        state = module.initial_state(x)
        assert state.v is not v_reset
        assert state.v.data_ptr() != v_reset.data_ptr()
        module(x)
    assert not v_reset.requires_grad
    assert IAFParameters().v_reset == 0.0


def test_initial_state_uses_v_reset():
    cell = IAFCell(IAFParameters(v_reset=-70.0, v_th=-55.0))
    z, state = cell(torch.full((2,), 10.0))
    assert state.v.tolist() == [-60.0, -60.0]
    layer = IAF(IAFParameters(v_reset=-70.0, v_th=-55.0))
    assert layer.initial_state(torch.zeros(4, 3)).v.tolist() == [-70.0] * 3


def test_layer_shapes():
    z, state = IAF()(torch.ones(10, 1))
    assert z.shape == (10, 1)
    assert state.v.shape == (1,)


def test_cell_shapes_with_batch_dims():
    z, state = IAFCell()(torch.ones(4, 3, 2))
    assert z.shape == state.v.shape == (4, 3, 2)
    z, state = IAF()(torch.ones(6, 4, 3, 2))
    assert z.shape == (6, 4, 3, 2) and state.v.shape == (4, 3, 2)


def test_backward_runs():
    x = torch.full((10, 2), 0.3, requires_grad=True)
    z, state = IAF()(x)
    (z.sum() + state.v.sum()).backward()
    assert x.grad is not None and torch.all(x.grad != 0)


def test_gradient_reaches_per_neuron_threshold():
    v_th = torch.tensor([0.5, 0.8, 1.0], requires_grad=True)
    z, _ = IAF(IAFParameters(v_th=v_th))(torch.full((6, 2, 3), 0.3))
    z.sum().backward()
    assert v_th.grad is not None and torch.all(v_th.grad != 0)


def test_per_neuron_thresholds():
    """v_th = (0.5, 1.0) with input 0.3: v = 0.3, then 0.6 > 0.5 spikes for neuron 0 only."""
    z, _ = IAF(IAFParameters(v_th=torch.tensor([0.5, 1.0])))(torch.full((2, 2), 0.3))
    assert z.tolist() == [[0.0, 0.0], [1.0, 0.0]]


def test_cell_loop_equals_layer():
    torch.manual_seed(0)
    x = torch.rand(15, 3, 2)
    z_layer, s_layer = IAF()(x)
    outs, state = run_cell(IAFCell(), x)
    torch.testing.assert_close(outs, z_layer)
    torch.testing.assert_close(state.v, s_layer.v)


def test_to_float64():
    layer = IAF().to(torch.float64)
    assert layer.p.v_th.dtype == torch.float64
    z, state = layer(torch.ones(3, 2, dtype=torch.float64))
    assert z.dtype == state.v.dtype == torch.float64


def test_model_description():
    assert MODEL.name == "iaf" and MODEL.variables == ("v",)
    assert MODEL.initial_state((2,), IAFParameters(v_reset=-3.0)).v.tolist() == [-3.0, -3.0]


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_matches_cpu():
    x = torch.rand(20, 4, 3)
    layer = IAF()
    z_cpu, s_cpu = layer(x)
    z_gpu, s_gpu = layer.cuda()(x.cuda())
    torch.testing.assert_close(z_gpu.cpu(), z_cpu)
    torch.testing.assert_close(s_gpu.v.cpu(), s_cpu.v)
