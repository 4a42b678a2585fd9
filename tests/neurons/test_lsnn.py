"""Tests of :mod:`simctl.neurons.lsnn`."""

from __future__ import annotations

import pytest
import torch
from neuron_loops import recurrent_pair, run_cell

from simctl.neurons.lsnn import (
    LSNN,
    MODEL,
    LSNNCell,
    LSNNFeedForwardState,
    LSNNParameters,
    LSNNRecurrent,
    LSNNRecurrentCell,
    LSNNState,
    ada_lif_step,
    lsnn_feed_forward_step,
    lsnn_initial_state,
    lsnn_step,
)

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


def test_parameters_defaults():
    p = LSNNParameters()
    assert (p.tau_syn_inv, p.tau_mem_inv, p.tau_adapt_inv) == (200.0, 100.0, 1 / 800)
    assert (p.v_leak, p.v_th, p.v_reset, p.beta, p.method, p.alpha) == (
        0.0,
        1.0,
        0.0,
        1.8,
        "super",
        100.0,
    )


def test_cell_current_after_two_steps():
    """Spec §2.5: LSNNCell on ones(1,2,2): no spikes on step 1; i == 1.8 after step 2
    (the old ordering: i = 0 → 0 + 1; then 1·(1 − 0.2) + 1 = 1.8)."""
    cell = LSNNCell()
    z, state = cell(torch.ones(1, 2, 2))
    assert torch.equal(z, torch.zeros(1, 2, 2))
    assert torch.equal(state.v, torch.zeros(1, 2, 2))  # the input reaches v one step later
    z, state = cell(torch.ones(1, 2, 2), state)
    assert torch.allclose(state.i, torch.full((1, 2, 2), 1.8))


def test_feed_forward_sequence_input_5():
    """Spec §2.5, input 5, b0 = v_th = 1, dt = 0.001 (k_mem = 0.1, k_syn = 0.2):

    step 1: v1 = 0 (i = 0), i = 0 + 5 = 5
    step 2: v1 = 0.1·5 = 0.5, i = 4 + 5 = 9
    step 3: v1 = 0.5 + 0.1·(9 − 0.5) = 1.35 > b → spike, v = 0, b = 1 + 1.8 = 2.8, i = 12.2
    step 4: v1 = 0.1·12.2 = 1.22, i = 9.76 + 5 = 14.76
    step 5: v1 = 1.22 + 0.1·(14.76 − 1.22) = 2.574, i = 16.808
    step 6: v1 = 2.574 + 0.1·(16.808 − 2.574) = 3.9974 > 2.8 → spike, v = 0, b = 4.6
    (b relaxes by dt·(1/800)·(1 − b) ≈ −2e-6 per step: "≈".)
    """
    state = lsnn_initial_state((1,), LSNNParameters())
    vs, bs, zs = [], [], []
    for _ in range(6):
        z, state = lsnn_feed_forward_step(torch.full((1,), 5.0), state)
        vs.append(state.v.item())
        bs.append(state.b.item())
        zs.append(z.item())
    assert vs == pytest.approx([0.0, 0.5, 0.0, 1.22, 2.574, 0.0], abs=1e-5)
    assert bs == pytest.approx([1.0, 1.0, 2.8, 2.8, 2.8, 4.6], abs=1e-4)
    assert zs == [0.0, 0.0, 1.0, 0.0, 0.0, 1.0]


def test_recurrent_step_equals_feed_forward_with_identity_weights():
    p = LSNNParameters()
    ff = lsnn_initial_state((2, 3), p)
    rec = LSNNState(torch.zeros(2, 3), ff.v.clone(), ff.i.clone(), ff.b.clone())
    x = torch.rand(100, 2, 3) * 6
    for x_t in x:
        z_ff, ff = lsnn_feed_forward_step(x_t, ff, p)
        z_rec, rec = lsnn_step(x_t, rec, torch.eye(3), torch.zeros(3, 3), p)
        assert torch.equal(z_ff, z_rec)
    assert torch.allclose(ff.v, rec.v) and torch.allclose(ff.b, rec.b)


def test_recurrent_step_detaches_reset():
    p = LSNNParameters()
    state = LSNNState(
        z=torch.zeros(1, 1),
        v=torch.full((1, 1), 2.0, requires_grad=True),
        i=torch.zeros(1, 1),
        b=torch.ones(1, 1),
    )
    z, new = lsnn_step(torch.zeros(1, 1), state, torch.ones(1, 1), torch.zeros(1, 1), p)
    assert z.item() == 1.0 and new.v.item() == 0.0
    assert new.b.item() == pytest.approx(2.8, abs=1e-5)
    assert not new.b.requires_grad  # b2 = b1 + beta·z.detach()


def test_ada_lif_step_values():
    """v = 0.5, i = 7, b = 0.2, no input: v1 = 0.5 + 0.1·(−0.5 + 7 − 0.2) = 1.13 > 1 → spike,
    v2 = 1.13 − (1 − 0) = 0.13, b2 = 0.2·(1 − 0.001/800) + 1.8, i2 = 7·0.8 = 5.6."""
    state = LSNNState(
        z=torch.zeros(1, 1),
        v=torch.full((1, 1), 0.5),
        i=torch.full((1, 1), 7.0),
        b=torch.full((1, 1), 0.2),
    )
    z, new = ada_lif_step(torch.zeros(1, 1), state, torch.ones(1, 1), torch.zeros(1, 1))
    assert z.item() == 1.0
    assert new.v.item() == pytest.approx(0.13, abs=1e-5)
    assert new.b.item() == pytest.approx(0.2 * (1 - 0.001 / 800) + 1.8, abs=1e-6)
    assert new.i.item() == pytest.approx(5.6, abs=1e-5)


def test_ada_lif_importable_but_not_reexported():
    import simctl.neurons as neurons

    assert callable(ada_lif_step)
    assert not hasattr(neurons, "ada_lif_step")


def test_shapes():
    z, state = LSNNCell()(torch.ones(5, 2))
    assert z.shape == state.v.shape == state.i.shape == state.b.shape == (5, 2)
    z, state = LSNNCell()(torch.ones(3, 5, 2))
    assert z.shape == state.b.shape == (3, 5, 2)
    z, state = LSNN()(torch.zeros(2, 5, 2))
    assert torch.equal(z, torch.zeros(2, 5, 2)) and isinstance(state, LSNNFeedForwardState)
    assert state.b.shape == (5, 2)
    z, state = LSNNRecurrentCell(2, 4)(torch.ones(5, 2))
    assert z.shape == state.z.shape == state.b.shape == (5, 4) and isinstance(state, LSNNState)
    z, state = LSNNRecurrentCell(2, 4)(torch.ones(3, 5, 2))
    assert z.shape == (3, 5, 4)
    z, state = LSNNRecurrent(2, 10)(torch.ones(20, 8, 2))
    assert z.shape == (20, 8, 10) and state.v.shape == (8, 10)


def test_fresh_initial_states():
    cell = LSNNCell()
    a = cell.initial_state(torch.ones(2, 3))
    b = cell.initial_state(torch.ones(2, 3))
    assert a.v.data_ptr() != b.v.data_ptr() and a.b.data_ptr() != b.b.data_ptr()
    assert torch.equal(a.b, torch.ones(2, 3)) and a.v.requires_grad
    assert cell.p.v_th.data_ptr() != a.b.data_ptr()


def test_autapses():
    cell = LSNNRecurrentCell(2, 2, autapses=True, recurrent_weights=torch.ones(2, 2) * 0.01)
    assert not torch.allclose(torch.zeros(2), torch.diagonal(cell.recurrent_weights))
    s1 = LSNNState(z=torch.ones(1, 2), v=torch.zeros(1, 2), i=torch.zeros(1, 2), b=torch.ones(1, 2))
    _, s_full = cell(torch.zeros(1, 2), s1)
    s2 = LSNNState(
        z=torch.tensor([[0.0, 1.0]]), v=torch.zeros(1, 2), i=torch.zeros(1, 2), b=torch.ones(1, 2)
    )
    _, s_part = cell(torch.zeros(1, 2), s2)
    assert s_full.i[0, 0] != s_part.i[0, 0]


def test_no_autapses():
    cell = LSNNRecurrentCell(2, 2, autapses=False, recurrent_weights=torch.ones(2, 2) * 0.01)
    assert torch.equal(torch.diagonal(cell.recurrent_weights), torch.zeros(2))
    s1 = LSNNState(z=torch.ones(1, 2), v=torch.zeros(1, 2), i=torch.zeros(1, 2), b=torch.ones(1, 2))
    _, s_full = cell(torch.zeros(1, 2), s1)
    s2 = LSNNState(
        z=torch.tensor([[0.0, 1.0]]), v=torch.zeros(1, 2), i=torch.zeros(1, 2), b=torch.ones(1, 2)
    )
    _, s_part = cell(torch.zeros(1, 2), s2)
    assert s_full.i[0, 0] == s_part.i[0, 0]


def test_gradients_reach_inputs_and_parameters():
    p = LSNNParameters(tau_mem_inv=torch.nn.Parameter(torch.tensor(100.0)))
    layer = LSNN(p)
    x = torch.full((10, 2, 3), 3.0, requires_grad=True)
    z, state = layer(x)
    (z.sum() + state.v.sum()).backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    assert layer.p.tau_mem_inv.grad is not None

    rlayer = LSNNRecurrent(3, 4, adjoint=True)
    assert rlayer.adjoint is True
    z, state = rlayer(x.detach() * 2)
    (z.sum() + state.v.sum()).backward()
    assert rlayer.input_weights.grad is not None and rlayer.recurrent_weights.grad is not None


def test_cell_loop_equals_layer():
    x = torch.rand(50, 2, 3) * 8
    layer = LSNN()
    cell = LSNNCell()
    z_layer, s_layer = layer(x)
    outs, state = run_cell(cell, x)
    assert torch.equal(outs, z_layer)
    assert torch.equal(state.b, s_layer.b) and z_layer.sum() > 0

    torch.manual_seed(1)
    rlayer, rcell = recurrent_pair(LSNNRecurrent, LSNNRecurrentCell, 3, 4)
    z_layer, s_layer = rlayer(x)
    outs, state = run_cell(rcell, x)
    assert torch.equal(outs, z_layer) and torch.equal(state.v, s_layer.v)


def test_float64_and_model():
    layer = LSNN().to(torch.float64)
    z, state = layer(torch.ones(4, 3, dtype=torch.float64) * 5)
    assert z.dtype == torch.float64 and state.b.dtype == torch.float64
    state = MODEL.initial_state((2, 3), LSNNParameters(), torch.float32, None)
    assert torch.equal(state.b, torch.ones(2, 3)) and torch.equal(state.v, torch.zeros(2, 3))
    assert MODEL.name == "lsnn" and MODEL.feed_forward_step is lsnn_feed_forward_step
    per_neuron = lsnn_initial_state((1,), LSNNParameters(v_th=torch.tensor([1.0, 2.0])))
    assert per_neuron.b.tolist() == [1.0, 2.0] and per_neuron.i.shape == (2,)


@cuda
@pytest.mark.cuda
def test_cuda():
    layer = LSNNRecurrent(2, 3).cuda()
    z, state = layer(torch.ones(5, 4, 2, device="cuda"))
    assert z.is_cuda and state.b.is_cuda
