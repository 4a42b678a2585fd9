"""Box-synapse LIF: golden values (spec §2.5), both reset methods, shapes, gradients."""

from __future__ import annotations

import pytest
import torch
from neuron_loops import run_cell

from simctl.neurons.lif_box import (
    MODEL,
    LIFBox,
    LIFBoxCell,
    LIFBoxFeedForwardState,
    LIFBoxParameters,
    lif_box_feed_forward_step,
    lif_box_initial_state,
    reset_subtract,
    reset_value,
)


def test_golden_from_v10():
    golden_v = [0.0, 0.1, 0.19, 0.271, 0.3439, 0.3095, 0.2786]
    inputs = [1, 1, 1, 1, 1, 0, 0]
    state = LIFBoxFeedForwardState(v=torch.full((1,), 10.0))
    vs, zs = [], []
    for x in inputs:
        z, state = lif_box_feed_forward_step(torch.full((1,), float(x)), state)
        vs.append(state.v.item())
        zs.append(z.item())
    assert vs == pytest.approx(golden_v, abs=1e-4)
    assert zs == [1.0, 0, 0, 0, 0, 0, 0]


def test_strict_threshold_no_spike_at_one():
    cell = LIFBoxCell(LIFBoxParameters(tau_mem_inv=1000.0))
    state = None
    for _ in range(5):
        z, state = cell(torch.ones(1), state)
        assert state.v.item() == 1.0
        assert z.item() == 0.0


def test_input_5_sequence():
    golden = [0.5, 0.95, 0.0] * 3
    state = lif_box_initial_state((1,))
    vs = []
    for _ in golden:
        z, state = lif_box_feed_forward_step(torch.full((1,), 5.0), state)
        vs.append(state.v.item())
    assert vs == pytest.approx(golden, abs=1e-5)


def test_reset_subtract_sequence():
    """reset_subtract, input 15, v0 = 0 (defaults, dt·tau_mem_inv = 0.1):

    v1 = 0 + 0.1·15 = 1.5 > 1 → spike, v = 1.5 − 1 = 0.5
    v2 = 0.5 + 0.1·(15 − 0.5) = 1.95 → spike, v = 0.95
    v3 = 0.95 + 0.1·(15 − 0.95) = 2.355 → spike, v = 1.355
    (reset_value would give 0 after every spike.)
    """
    p = LIFBoxParameters(reset_method=reset_subtract)
    state = lif_box_initial_state((1,))
    vs, zs = [], []
    for _ in range(3):
        z, state = lif_box_feed_forward_step(torch.full((1,), 15.0), state, p)
        vs.append(state.v.item())
        zs.append(z.item())
    assert vs == pytest.approx([0.5, 0.95, 1.355], abs=1e-5)
    assert zs == [1.0, 1.0, 1.0]


def test_reset_functions():
    z = torch.tensor([0.0, 1.0])
    v = torch.tensor([0.7, 1.4])
    assert reset_value(z, v, -1.0, 1.0).tolist() == pytest.approx([0.7, -1.0])
    assert reset_subtract(z, v, -1.0, 1.0).tolist() == pytest.approx([0.7, 0.4])


def test_default_reset_method():
    assert LIFBoxParameters().reset_method is reset_value
    cell = LIFBoxCell(LIFBoxParameters(reset_method=reset_subtract))
    assert cell.p.reset_method is reset_subtract


def test_shapes():
    z, state = LIFBoxCell()(torch.ones(5, 2))
    assert z.shape == state.v.shape == (5, 2)
    z, state = LIFBox()(torch.ones(10, 5, 2))
    assert z.shape == (10, 5, 2) and state.v.shape == (5, 2)
    z, state = LIFBoxCell()(torch.ones(3, 4, 2))
    assert z.shape == (3, 4, 2)


@pytest.mark.parametrize("reset", [reset_value, reset_subtract])
def test_cell_loop_equals_layer(reset):
    torch.manual_seed(0)
    x = torch.rand(12, 3, 2) * 5
    p = LIFBoxParameters(tau_mem_inv=700.0, reset_method=reset)
    z_layer, s_layer = LIFBox(p)(x)
    outs, state = run_cell(LIFBoxCell(p), x)
    torch.testing.assert_close(outs, z_layer)
    torch.testing.assert_close(state.v, s_layer.v)
    assert z_layer.sum() > 0


def test_gradients():
    v_th = torch.tensor([0.5, 1.0, 1.5], requires_grad=True)
    x = (torch.rand(10, 2, 3) * 5).requires_grad_(True)
    z, state = LIFBox(LIFBoxParameters(v_th=v_th))(x)
    (z.sum() + state.v.sum()).backward()
    assert torch.all(v_th.grad != 0) and torch.all(x.grad != 0)


def test_to_float64():
    layer = LIFBox().to(torch.float64)
    z, state = layer(torch.ones(2, 3, dtype=torch.float64))
    assert layer.p.v_th.dtype == state.v.dtype == z.dtype == torch.float64


def test_model_description():
    assert MODEL.name == "lif_box" and MODEL.spiking


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_matches_cpu():
    x = torch.rand(20, 4, 3) * 5
    layer = LIFBox()
    z_cpu, s_cpu = layer(x)
    z_gpu, s_gpu = layer.cuda()(x.cuda())
    torch.testing.assert_close(z_gpu.cpu(), z_cpu)
    torch.testing.assert_close(s_gpu.v.cpu(), s_cpu.v)
