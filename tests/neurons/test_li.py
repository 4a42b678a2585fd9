"""Leaky integrators: golden sequence (spec §2.5), li_step, shapes (spec §7), gradients."""

from __future__ import annotations

import math

import pytest
import torch
from neuron_loops import run_cell

from simctl.neurons.li import (
    LI,
    MODEL,
    LICell,
    LILinearCell,
    LIParameters,
    LIState,
    li_feed_forward_step,
    li_initial_state,
    li_step,
)

GOLDEN_V = [0.1, 0.27, 0.487, 0.7335, 0.9963, 1.2656, 1.5342, 1.7969]


def test_unit_input_golden():
    state = li_initial_state((1,))
    vs = []
    for _ in GOLDEN_V:
        v, state = li_feed_forward_step(torch.ones(1), state)
        vs.append(v.item())
        torch.testing.assert_close(state.v, v)
    assert vs == pytest.approx(GOLDEN_V, abs=1e-4)


def test_output_and_state_are_separate_tensors():
    v, state = li_feed_forward_step(torch.ones(2), li_initial_state((2,)))
    assert v is not state.v and v.data_ptr() != state.v.data_ptr()


def test_current_decay():
    """After one unit step i2 = i1·(1 − dt·tau_syn_inv) = 1·(1 − 0.2) = 0.8."""
    _, state = li_feed_forward_step(torch.ones(1), li_initial_state((1,)))
    assert state.i.item() == pytest.approx(0.8)


def test_li_step_with_weights():
    """W_in = [[2], [0]], x = 0.5: the first neuron gets I = 1, so it follows the unit-input
    sequence 0.1, 0.27; the second gets I = 0 and stays at v_leak = 0."""
    w = torch.tensor([[2.0], [0.0]])
    state = li_initial_state((2,))
    v, state = li_step(torch.tensor([0.5]), state, w)
    assert v.tolist() == pytest.approx([0.1, 0.0])
    v, state = li_step(torch.tensor([0.5]), state, w)
    assert v.tolist() == pytest.approx([0.27, 0.0])


def test_leak_potential():
    """v_leak = −1, no input, v = i = 0: v1 = 0 + 0.1·(−1 − 0) = −0.1."""
    v, _ = li_feed_forward_step(
        torch.zeros(1), li_initial_state((1,), LIParameters()), LIParameters(v_leak=-1.0)
    )
    assert v.item() == pytest.approx(-0.1)


def test_layer_shapes():
    v, state = LI()(torch.ones(5, 2))
    assert v.shape == (5, 2)
    assert state.v.shape == state.i.shape == (2,)


def test_linear_cell_shapes():
    v, state = LILinearCell(2, 4)(torch.ones(5, 2))
    assert v.shape == (5, 4)
    assert state.v.shape == state.i.shape == (5, 4)
    v, state = LILinearCell(2, 4)(torch.ones(3, 5, 2))
    assert v.shape == (3, 5, 4)


def test_cell_on_three_dims():
    v, state = LICell()(torch.ones(10, 2, 4))
    assert v.shape == (10, 2, 4)
    assert state.v.shape == state.i.shape == (10, 2, 4)


def test_linear_cell_wrong_input():
    with pytest.raises(ValueError, match=r"\(\.\.\., 2\)"):
        LILinearCell(2, 4)(torch.ones(5, 3))


def test_linear_cell_weights():
    torch.manual_seed(0)
    cell = LILinearCell(400, 300)
    assert isinstance(cell.input_weights, torch.nn.Parameter)
    assert cell.input_weights.shape == (300, 400)
    assert cell.input_weights.std().item() == pytest.approx(1 / math.sqrt(400), rel=0.02)
    w = torch.ones(3, 2)
    assert LILinearCell(2, 3, input_weights=w).input_weights is w


def test_linear_cell_golden_with_unit_weights():
    cell = LILinearCell(1, 1, input_weights=torch.ones(1, 1))
    state, vs = None, []
    for _ in range(3):
        v, state = cell(torch.ones(1, 1), state)
        vs.append(v.item())
    assert vs == pytest.approx(GOLDEN_V[:3], abs=1e-4)


def test_linear_cell_repr_and_to():
    cell = LILinearCell(1, 2, dt=0.01)
    assert repr(cell) == (f"LILinearCell(input_size=1, hidden_size=2, p={LIParameters()}, dt=0.01)")
    cell = cell.to(torch.float64)
    assert cell.p.tau_mem_inv.dtype == torch.float64
    assert cell.input_weights.dtype == torch.float64


def test_gradients():
    tau = torch.tensor([100.0, 50.0, 20.0], requires_grad=True)
    x = torch.rand(8, 2, 3, requires_grad=True)
    v, state = LI(LIParameters(tau_mem_inv=tau))(x)
    v.sum().backward()
    assert torch.all(tau.grad != 0) and torch.all(x.grad != 0)
    cell = LILinearCell(2, 3)
    v, _ = cell(torch.ones(4, 2))
    v.sum().backward()
    assert cell.input_weights.grad is not None


def test_cell_loop_equals_layer():
    torch.manual_seed(0)
    x = torch.rand(12, 3, 2)
    p = LIParameters(tau_mem_inv=700.0)
    v_layer, s_layer = LI(p)(x)
    outs, state = run_cell(LICell(p), x)
    torch.testing.assert_close(outs, v_layer)
    torch.testing.assert_close(state.i, s_layer.i)


def test_record_states():
    v, states = LI(record_states=True)(torch.ones(4, 2))
    assert isinstance(states, LIState)
    torch.testing.assert_close(states.v, v)


def test_model_description():
    assert MODEL.name == "li" and not MODEL.spiking


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_matches_cpu():
    x = torch.rand(20, 4, 3)
    layer = LI()
    v_cpu, _ = layer(x)
    v_gpu, _ = layer.cuda()(x.cuda())
    torch.testing.assert_close(v_gpu.cpu(), v_cpu)
