"""Tests of the exponential LIF model (``simctl.neurons.lif_ex``)."""

from __future__ import annotations

import math

import pytest
import torch
from neuron_loops import recurrent_pair, run_cell

from simctl.neurons import lif_ex
from simctl.neurons.lif_ex import (
    MODEL,
    LIFEx,
    LIFExCell,
    LIFExFeedForwardState,
    LIFExParameters,
    LIFExRecurrent,
    LIFExRecurrentCell,
    LIFExState,
    lif_ex_current_encoder,
    lif_ex_feed_forward_step,
    lif_ex_initial_state,
    lif_ex_step,
)

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")

# spec §2.5, default parameters, unit input, v = i = 0
GOLDEN_V = [0.1068, 0.2845, 0.512, 0.7748, 0.0, 0.3757, 0.7476, 0.0, 0.4397]
GOLDEN_Z = [0, 0, 0, 0, 1, 0, 0, 1, 0]


def test_parameter_defaults() -> None:
    p = LIFExParameters()
    assert p == (0.5, 200.0, 100.0, 0.0, 1.0, 0.0, "super", 100.0)
    assert LIFExParameters._fields == (
        "delta_T",
        "tau_syn_inv",
        "tau_mem_inv",
        "v_leak",
        "v_th",
        "v_reset",
        "method",
        "alpha",
    )


def test_feed_forward_golden() -> None:
    state = LIFExFeedForwardState(v=torch.zeros(1), i=torch.zeros(1))
    vs, zs = [], []
    for _ in range(9):
        z, state = lif_ex_feed_forward_step(torch.ones(1), state)
        vs.append(state.v.item())
        zs.append(int(z.item()))
    assert vs == pytest.approx(GOLDEN_V, abs=1e-4)
    assert zs == GOLDEN_Z


def test_recurrent_step_golden() -> None:
    """``lif_ex_step`` with ``W_in = 1``, ``W_rec = 0`` reproduces the feed-forward sequence."""
    state = LIFExState(z=torch.zeros(1), v=torch.zeros(1), i=torch.zeros(1))
    w_in, w_rec = torch.ones(1, 1), torch.zeros(1, 1)
    vs, zs = [], []
    for _ in range(9):
        z, state = lif_ex_step(torch.ones(1), state, w_in, w_rec)
        vs.append(state.v.item())
        zs.append(int(z.item()))
    assert vs == pytest.approx(GOLDEN_V, abs=1e-4)
    assert zs == GOLDEN_Z


def test_current_encoder_hand_derived() -> None:
    """No synaptic current; input 1, ``v0 = 0``, defaults (``dt·tau_mem_inv = 0.1``):

    * ``v1 = 0 + 0.1·(0 − 0 + 0.5·e^{(0−1)/0.5} + 1) = 0.1·(1 + 0.5·e^{−2}) = 0.1067668``
    * ``v2 = v1 + 0.1·(−v1 + 0.5·e^{(v1−1)/0.5} + 1)``, ``e^{−1.7864665} = 0.1675512``, so
      ``v2 = 0.1067668 + 0.1·(−0.1067668 + 0.0837756 + 1) = 0.2044676``.
    * From ``v = 0.99`` with input 10: ``v1 = 0.99 + 0.1·(−0.99 + 0.5·e^{−0.02} + 10)
      = 1.9400099 > 1``, so a spike and ``v = v_reset = 0``.
    """
    z, v = lif_ex_current_encoder(torch.ones(1), torch.zeros(1))
    assert v.item() == pytest.approx(0.1067668, abs=1e-6) and z.item() == 0
    z, v = lif_ex_current_encoder(torch.ones(1), v)
    assert v.item() == pytest.approx(0.2044676, abs=1e-6) and z.item() == 0
    z, v = lif_ex_current_encoder(torch.tensor([10.0]), torch.tensor([0.99]))
    assert z.item() == 1 and v.item() == 0.0
    assert 0.99 + 0.1 * (-0.99 + 0.5 * math.exp(-0.02) + 10) == pytest.approx(1.9400099)


def test_functional_runs_100_steps() -> None:
    state = lif_ex_initial_state((2, 3))
    rec = LIFExState(z=torch.zeros(2, 3), v=torch.zeros(2, 3), i=torch.zeros(2, 3))
    w_in, w_rec = torch.randn(3, 4), torch.randn(3, 3)
    for _ in range(100):
        _, state = lif_ex_feed_forward_step(torch.rand(2, 3), state)
        _, rec = lif_ex_step(torch.rand(2, 4), rec, w_in, w_rec)
    assert torch.isfinite(state.v).all() and torch.isfinite(rec.v).all()


def test_step_does_not_mutate() -> None:
    state = LIFExFeedForwardState(v=torch.full((3,), 0.5), i=torch.ones(3))
    before = [t.clone() for t in state]
    x = torch.ones(3)
    lif_ex_feed_forward_step(x, state)
    assert all(torch.equal(a, b) for a, b in zip(before, state, strict=True))
    assert torch.equal(x, torch.ones(3))


def test_initial_state_is_fresh() -> None:
    p = LIFExParameters(v_leak=torch.tensor([0.1, 0.2]))
    s1 = lif_ex_initial_state((3, 2), p)
    s2 = lif_ex_initial_state((3, 2), p)
    assert s1.v.shape == s1.i.shape == (3, 2)
    assert torch.equal(s1.v, torch.tensor([0.1, 0.2]).expand(3, 2))
    assert s1.v.data_ptr() != s2.v.data_ptr() and s1.v.data_ptr() != p.v_leak.data_ptr()
    cell = LIFExCell(p)
    a = cell.initial_state(torch.zeros(3, 2))
    b = cell.initial_state(torch.zeros(3, 2))
    assert a.v.data_ptr() != b.v.data_ptr() and a.i.data_ptr() != b.i.data_ptr()
    assert not cell.p.v_leak.requires_grad


def test_model_description() -> None:
    assert MODEL.name == "lif_ex"
    assert MODEL.parameters is LIFExParameters
    assert MODEL.feed_forward_state is LIFExFeedForwardState
    assert MODEL.feed_forward_step is lif_ex_feed_forward_step
    state = MODEL.initial_state((4,), LIFExParameters(), torch.float64, "cpu")
    assert all(getattr(state, name).dtype == torch.float64 for name in MODEL.variables)
    assert set(lif_ex.__all__) >= {
        "LIFExParameters",
        "LIFExState",
        "LIFExFeedForwardState",
        "lif_ex_feed_forward_step",
        "lif_ex_step",
        "lif_ex_current_encoder",
        "LIFExCell",
        "LIFEx",
        "LIFExRecurrentCell",
        "LIFExRecurrent",
    }


# --- modules -----------------------------------------------------------------------------------


def test_cell_shapes() -> None:
    z, state = LIFExCell()(torch.ones(5, 2))
    assert z.shape == (5, 2)
    assert all(t.shape == (5, 2) for t in state)
    z, state = LIFExCell()(torch.ones(3, 5, 2))
    assert z.shape == (3, 5, 2) and state.v.shape == (3, 5, 2)


def test_layer_shapes() -> None:
    z, state = LIFEx()(torch.ones(10, 5, 4))
    assert z.shape == (10, 5, 4)
    assert isinstance(state, LIFExFeedForwardState)
    assert all(t.shape == (5, 4) for t in state)
    z, states = LIFEx(record_states=True)(torch.ones(10, 3, 5, 4))
    assert z.shape == (10, 3, 5, 4) and states.v.shape == (10, 3, 5, 4)


def test_recurrent_shapes() -> None:
    z, state = LIFExRecurrentCell(2, 4)(torch.ones(5, 2))
    assert z.shape == (5, 4) and isinstance(state, LIFExState)
    assert all(t.shape == (5, 4) for t in state)
    z, state = LIFExRecurrentCell(2, 4)(torch.ones(3, 5, 2))
    assert z.shape == (3, 5, 4) and state.v.shape == (3, 5, 4)
    z, state = LIFExRecurrent(2, 4)(torch.ones(10, 5, 2))
    assert z.shape == (10, 5, 4) and all(t.shape == (5, 4) for t in state)
    z, state = LIFExRecurrent(2, 4)(torch.ones(10, 3, 5, 2))
    assert z.shape == (10, 3, 5, 4) and state.i.shape == (3, 5, 4)
    with pytest.raises(ValueError, match="input_size = 2"):
        LIFExRecurrent(2, 4)(torch.ones(10, 5, 3))


def test_layer_golden() -> None:
    z, states = LIFEx(record_states=True)(torch.ones(9, 1))
    assert z[:, 0].tolist() == GOLDEN_Z
    assert states.v[:, 0].tolist() == pytest.approx(GOLDEN_V, abs=1e-4)


def test_cell_loop_equals_layer() -> None:
    torch.manual_seed(0)
    x = torch.rand(30, 4, 3) * 3
    cell = LIFExCell()
    outs, state = run_cell(cell, x)
    z_layer, s_layer = LIFEx()(x)
    assert z_layer.sum() > 0
    assert torch.equal(outs, z_layer)
    assert torch.allclose(state.v, s_layer.v) and torch.allclose(state.i, s_layer.i)


def test_recurrent_cell_loop_equals_layer() -> None:
    torch.manual_seed(0)
    x = torch.rand(20, 3, 2) * 4
    layer, cell = recurrent_pair(LIFExRecurrent, LIFExRecurrentCell, 2, 5)
    outs, state = run_cell(cell, x)
    z_layer, s_layer = layer(x)
    assert torch.equal(outs, z_layer)
    assert torch.allclose(state.v, s_layer.v)


def test_autapses() -> None:
    cell = LIFExRecurrentCell(2, 2, autapses=True, recurrent_weights=torch.ones(2, 2) * 0.01)
    assert torch.diagonal(cell.recurrent_weights).abs().sum() > 0
    zeros = torch.zeros(1, 2)
    s_full = LIFExState(z=torch.ones(1, 2), v=zeros, i=zeros)
    s_part = LIFExState(z=torch.tensor([[0.0, 1.0]]), v=zeros, i=zeros)
    _, full = cell(zeros, s_full)
    _, part = cell(zeros, s_part)
    assert full.i[0, 0] != part.i[0, 0]


def test_no_autapses() -> None:
    cell = LIFExRecurrentCell(2, 2, autapses=False, recurrent_weights=torch.ones(2, 2) * 0.01)
    assert torch.diagonal(cell.recurrent_weights).abs().sum() == 0
    zeros = torch.zeros(1, 2)
    s_full = LIFExState(z=torch.ones(1, 2), v=zeros, i=zeros)
    s_part = LIFExState(z=torch.tensor([[0.0, 1.0]]), v=zeros, i=zeros)
    _, full = cell(zeros, s_full)
    _, part = cell(zeros, s_part)
    assert full.i[0, 0] == part.i[0, 0]


def test_gradients_reach_input_and_per_neuron_parameter() -> None:
    tau = torch.nn.Parameter(torch.tensor([100.0, 80.0, 120.0]))
    layer = LIFEx(LIFExParameters(tau_mem_inv=tau))
    assert layer.p.tau_mem_inv is tau
    x = (torch.rand(20, 2, 3) * 3).requires_grad_(True)
    z, state = layer(x)
    (z.sum() + state.v.sum()).backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    assert tau.grad is not None and tau.grad.shape == (3,) and tau.grad.abs().sum() > 0


def test_gradients_recurrent_two_steps() -> None:
    cell = LIFExRecurrentCell(2, 3)
    x = torch.rand(4, 2, requires_grad=True)
    z, state = cell(x)
    z, state = cell(x, state)
    (z.sum() + state.v.sum()).backward()
    assert x.grad is not None and cell.input_weights.grad is not None


def test_float_params_and_dtype() -> None:
    layer = LIFEx(LIFExParameters(v_leak=0, tau_mem_inv=100)).to(torch.float64)
    assert layer.p.v_leak.dtype == torch.float64
    z, state = layer(torch.ones(9, 1, dtype=torch.float64))
    assert state.v.dtype == torch.float64 and z.dtype == torch.float64
    assert z[:, 0].tolist() == GOLDEN_Z
    _, state = LIFExCell()(torch.ones(2, 3, dtype=torch.bool))
    assert state.v.dtype == torch.float32 and state.i.dtype == torch.float32


def test_per_neuron_parameters_broadcast() -> None:
    p = LIFExParameters(v_th=torch.tensor([1.0, 100.0]))
    z, _ = LIFEx(p)(torch.ones(9, 3, 2))
    assert z[:, :, 0].sum() == 2 * 3 and z[:, :, 1].sum() == 0


def test_repr() -> None:
    assert "dt=0.001" in repr(LIFExCell())
    assert "input_size=2, hidden_size=4" in repr(LIFExRecurrent(2, 4))


@pytest.mark.cuda
@cuda
def test_cuda() -> None:
    layer = LIFEx().to("cuda")
    z, state = layer(torch.ones(9, 1, device="cuda"))
    assert z.device.type == "cuda" and state.v.device.type == "cuda"
    assert z[:, 0].cpu().tolist() == GOLDEN_Z
    z, state = LIFExRecurrent(2, 4).to("cuda")(torch.ones(10, 5, 2, device="cuda"))
    assert z.shape == (10, 5, 4) and state.v.device.type == "cuda"
    z, state = LIFExCell().to("cuda")(torch.ones(5, 2, device="cuda"))
    assert state.i.device.type == "cuda"
