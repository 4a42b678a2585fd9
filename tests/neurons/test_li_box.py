"""Box-synapse leaky integrators: golden values (spec §2.5), shapes, equivalence, gradients."""

from __future__ import annotations

import pytest
import torch
from neuron_loops import run_cell

from simctl.neurons.li_box import (
    MODEL,
    LIBox,
    LIBoxCell,
    LIBoxParameters,
    LIBoxState,
    li_box_feed_forward_step,
    li_box_initial_state,
    li_box_step,
)


def test_fast_membrane_follows_input():
    """tau_mem_inv = 1000, dt = 0.001: v1 = v + 1·(1 − v) = 1 on every step."""
    cell = LIBoxCell(LIBoxParameters(tau_mem_inv=1000.0))
    state = None
    for _ in range(5):
        v, state = cell(torch.ones(1), state)
        assert v.item() == 1.0


def test_unit_input_sequence():
    """Defaults, input 1, v0 = 0: v_{k+1} = 0.9·v_k + 0.1, so v_k = 1 − 0.9^k."""
    state = li_box_initial_state((1,))
    for k in range(1, 10):
        v, state = li_box_feed_forward_step(torch.ones(1), state)
        assert v.item() == pytest.approx(1 - 0.9**k, abs=1e-6)


def test_li_box_step_with_weights():
    """W_in = [[1], [2]], x = 1: I = (1, 2), v1 = 0.1·I = (0.1, 0.2)."""
    v, state = li_box_step(torch.ones(1), li_box_initial_state((2,)), torch.tensor([[1.0], [2.0]]))
    assert v.tolist() == pytest.approx([0.1, 0.2])
    assert isinstance(state, LIBoxState) and state.v is not v


def test_leak_toward_v_leak():
    """v0 = 1, v_leak = −1, no input: v1 = 1 + 0.1·(−1 − 1) = 0.8."""
    v, _ = li_box_feed_forward_step(
        torch.zeros(1), LIBoxState(v=torch.ones(1)), LIBoxParameters(v_leak=-1.0)
    )
    assert v.item() == pytest.approx(0.8)


def test_shapes():
    v, state = LIBoxCell()(torch.ones(5, 2))
    assert v.shape == state.v.shape == (5, 2)
    v, state = LIBox()(torch.ones(10, 5, 2))
    assert v.shape == (10, 5, 2) and state.v.shape == (5, 2)
    v, state = LIBoxCell()(torch.ones(3, 4, 2))
    assert v.shape == (3, 4, 2)


def test_initial_cell_state_is_zero_dim():
    state = LIBoxCell(LIBoxParameters(v_leak=-2.0)).initial_state(torch.ones(3, 2))
    assert state.v.shape == () and state.v.item() == -2.0 and state.v.requires_grad


def test_cell_loop_equals_layer():
    torch.manual_seed(0)
    x = torch.rand(12, 3, 2)
    p = LIBoxParameters(tau_mem_inv=700.0)
    v_layer, s_layer = LIBox(p)(x)
    outs, state = run_cell(LIBoxCell(p), x)
    torch.testing.assert_close(outs, v_layer)
    torch.testing.assert_close(state.v, s_layer.v)


def test_gradients():
    tau = torch.tensor([100.0, 300.0], requires_grad=True)
    x = torch.rand(6, 2, requires_grad=True)
    v, _ = LIBox(LIBoxParameters(tau_mem_inv=tau))(x)
    v.sum().backward()
    assert torch.all(tau.grad != 0) and torch.all(x.grad != 0)


def test_to_float64():
    layer = LIBox().to(torch.float64)
    v, _ = layer(torch.ones(2, 3, dtype=torch.float64))
    assert layer.p.tau_mem_inv.dtype == v.dtype == torch.float64


def test_model_description():
    assert MODEL.name == "li_box" and not MODEL.spiking and MODEL.variables == ("v",)


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_matches_cpu():
    x = torch.rand(20, 4, 3)
    layer = LIBox()
    v_cpu, _ = layer(x)
    v_gpu, _ = layer.cuda()(x.cuda())
    torch.testing.assert_close(v_gpu.cpu(), v_cpu)
