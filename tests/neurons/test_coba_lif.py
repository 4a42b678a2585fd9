"""Tests of :mod:`simctl.neurons.coba_lif`."""

from __future__ import annotations

import pytest
import torch
from neuron_loops import run_cell

from simctl.neurons.coba_lif import (
    MODEL,
    CobaLIF,
    CobaLIFCell,
    CobaLIFFeedForwardCell,
    CobaLIFFeedForwardState,
    CobaLIFParameters,
    CobaLIFState,
    coba_lif_feed_forward_step,
    coba_lif_initial_state,
    coba_lif_step,
)

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
F64 = torch.float64


def test_parameter_defaults():
    p = CobaLIFParameters()
    assert (p.tau_syn_exc_inv, p.tau_syn_inh_inv, p.c_m_inv, p.g_l) == (0.2, 0.2, 5.0, 0.25)
    assert (p.e_rev_I, p.e_rev_E, p.v_rest, p.v_reset, p.v_thresh) == (-100, 60, -20, -70, -10)
    assert (p.method, p.alpha) == ("super", 100.0)


def test_feed_forward_values():
    """Defaults, dt = 0.001, input +1, v = v_rest = −20, g = 0 (dt·c_m_inv = 0.005):

    step 1: g_e = (0 + 1)·(1 − 0.0002) = 0.9998;
            v = −20 + 0.005·(0.25·0 + 0.9998·80) = −20 + 0.39992 = −19.60008
    step 2: g_e = (0.9998 + 1)·0.9998 = 1.99940004;
            v = −19.60008 + 0.005·(0.25·(−0.39992) + 1.99940004·79.60008)
              = −19.60008 + 0.005·(−0.09998 + 159.15240313) = −18.80481788
    """
    state = coba_lif_initial_state((1,), dtype=F64)
    expected = [(-19.60008, 0.9998), (-18.80481788, 1.99940004)]
    for v_exp, g_exp in expected:
        z, state = coba_lif_feed_forward_step(torch.ones(1, dtype=F64), state)
        assert z.item() == 0.0
        assert state.v.item() == pytest.approx(v_exp, abs=1e-7)
        assert state.g_e.item() == pytest.approx(g_exp, abs=1e-9)
        assert state.g_i.item() == 0.0


def test_inhibitory_input():
    """Input −1 from v = −20: g_i = 0.9998, v = −20 + 0.005·0.9998·(−100 + 20) = −20.39992."""
    state = coba_lif_initial_state((1,), dtype=F64)
    _, state = coba_lif_feed_forward_step(-torch.ones(1, dtype=F64), state)
    assert state.g_e.item() == 0.0 and state.g_i.item() == pytest.approx(0.9998)
    assert state.v.item() == pytest.approx(-20.39992, abs=1e-9)


def test_spike_and_reset():
    """dt = 1 (ms), v = −11, g_e = 10, no input: g_e = 10·0.8 = 8,
    v1 = −11 + 5·(0.25·(−9) + 8·71) = −11 + 5·565.75 > −10 → z = 1, v = v_reset = −70."""
    state = CobaLIFFeedForwardState(
        v=torch.tensor([-11.0]), g_e=torch.tensor([10.0]), g_i=torch.zeros(1)
    )
    z, state = coba_lif_feed_forward_step(torch.zeros(1), state, dt=1.0)
    assert z.item() == 1.0 and state.v.item() == -70.0
    assert state.g_e.item() == pytest.approx(8.0)


def test_recurrent_step_uses_its_input():
    """Spec §9.3 (Norse drops the input): W_in = 1, x = 1, z_old = 0 → g_e = 1·(1 − 0.0002)."""
    state = CobaLIFState(
        z=torch.zeros(1, 2),
        v=torch.full((1, 2), -20.0),
        g_e=torch.zeros(1, 2),
        g_i=torch.zeros(1, 2),
    )
    z, new = coba_lif_step(torch.ones(1, 2), state, torch.ones(2, 2), torch.zeros(2, 2))
    assert torch.allclose(new.g_e, torch.full((1, 2), 2 * 0.9998))  # two inputs of 1 each
    assert torch.equal(new.g_i, torch.zeros(1, 2))
    # negative weights drive g_i; recurrent spikes add relu(±W_rec)·z_old
    state = state._replace(z=torch.ones(1, 2))
    w_rec = torch.tensor([[0.0, -3.0], [2.0, 0.0]])
    _, new = coba_lif_step(torch.ones(1, 2), state, -torch.ones(2, 2), w_rec)
    assert torch.allclose(new.g_i, torch.tensor([[5.0, 2.0]]) * 0.9998)
    assert torch.allclose(new.g_e, torch.tensor([[0.0, 2.0]]) * 0.9998)


def test_recurrent_equals_feed_forward_for_positive_identity():
    x = torch.rand(100, 3, 4) * 0.5
    ff = coba_lif_initial_state((3, 4))
    rec = CobaLIFState(torch.zeros(3, 4), ff.v.clone(), ff.g_e.clone(), ff.g_i.clone())
    total = 0.0
    for x_t in x:
        z_ff, ff = coba_lif_feed_forward_step(x_t, ff, dt=1.0)
        z_rec, rec = coba_lif_step(x_t, rec, torch.eye(4), torch.zeros(4, 4), dt=1.0)
        assert torch.equal(z_ff, z_rec)
        total += float(z_ff.sum())
    assert total > 0 and torch.allclose(ff.v, rec.v)


def test_hundred_steps():
    state = CobaLIFState(
        torch.zeros(5, 3), torch.full((5, 3), -20.0), torch.zeros(5, 3), torch.zeros(5, 3)
    )
    w_in, w_rec = torch.randn(3, 4), torch.randn(3, 3)
    for _ in range(100):
        z, state = coba_lif_step(torch.ones(5, 4), state, w_in, w_rec, dt=1.0)
    assert torch.isfinite(state.v).all()


def test_cell_shapes_initial_state_autapse_default():
    cell = CobaLIFCell(2, 4)
    assert torch.equal(torch.diagonal(cell.recurrent_weights), torch.zeros(4))
    initial = cell.initial_state(torch.ones(5, 2))
    assert torch.equal(initial.v, torch.full((5, 4), -20.0))  # v_rest, not 0
    assert torch.equal(initial.g_e, torch.zeros(5, 4)) and torch.equal(initial.z, torch.zeros(5, 4))
    z, state = cell(torch.ones(5, 2))
    assert z.shape == state.v.shape == state.g_e.shape == state.g_i.shape == (5, 4)
    z, state = cell(torch.ones(3, 5, 2))
    assert z.shape == state.z.shape == (3, 5, 4)
    z, state = CobaLIFFeedForwardCell()(torch.ones(3, 5, 2))
    assert z.shape == state.v.shape == (3, 5, 2)
    z, state = CobaLIF()(torch.ones(10, 5, 2))
    assert z.shape == (10, 5, 2) and state.v.shape == (5, 2)
    with pytest.raises(ValueError, match="input_size"):
        cell(torch.ones(5, 3))


def test_autapses():
    cell = CobaLIFCell(2, 2, autapses=True, recurrent_weights=torch.ones(2, 2) * 0.01)
    assert not torch.allclose(torch.zeros(2), torch.diagonal(cell.recurrent_weights))
    s1 = CobaLIFState(torch.ones(1, 2), torch.zeros(1, 2), torch.zeros(1, 2), torch.zeros(1, 2))
    _, s_full = cell(torch.zeros(1, 2), s1)
    s2 = CobaLIFState(
        torch.tensor([[0.0, 1.0]]), torch.zeros(1, 2), torch.zeros(1, 2), torch.zeros(1, 2)
    )
    _, s_part = cell(torch.zeros(1, 2), s2)
    assert s_full.g_e[0, 0] != s_part.g_e[0, 0]


def test_no_autapses():
    cell = CobaLIFCell(2, 2, autapses=False, recurrent_weights=torch.ones(2, 2) * 0.01)
    assert torch.equal(torch.diagonal(cell.recurrent_weights), torch.zeros(2))
    s1 = CobaLIFState(torch.ones(1, 2), torch.zeros(1, 2), torch.zeros(1, 2), torch.zeros(1, 2))
    _, s_full = cell(torch.zeros(1, 2), s1)
    s2 = CobaLIFState(
        torch.tensor([[0.0, 1.0]]), torch.zeros(1, 2), torch.zeros(1, 2), torch.zeros(1, 2)
    )
    _, s_part = cell(torch.zeros(1, 2), s2)
    assert s_full.g_e[0, 0] == s_part.g_e[0, 0]


def test_gradients():
    p = CobaLIFParameters(g_l=torch.nn.Parameter(torch.tensor(0.25)))
    cell = CobaLIFCell(3, 4, p=p, dt=1.0)
    x = torch.ones(2, 3, requires_grad=True)
    state = None
    for _ in range(3):
        z, state = cell(x, state)
    (state.v.sum() + z.sum()).backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    assert cell.input_weights.grad is not None and cell.p.g_l.grad is not None


def test_cell_loop_equals_layer():
    x = torch.rand(60, 2, 3) * 0.4 - 0.1
    layer = CobaLIF(dt=1.0)
    cell = CobaLIFFeedForwardCell(dt=1.0)
    z_layer, s_layer = layer(x)
    outs, state = run_cell(cell, x)
    assert torch.equal(outs, z_layer) and torch.equal(state.v, s_layer.v)


def test_model_and_dtype():
    state = MODEL.initial_state((2, 3), CobaLIFParameters(), torch.float64, None)
    assert torch.equal(state.v, torch.full((2, 3), -20.0, dtype=F64))
    assert MODEL.name == "coba_lif" and MODEL.feed_forward_step is coba_lif_feed_forward_step
    cell = CobaLIFCell(2, 3).to(F64)
    z, s = cell(torch.ones(4, 2, dtype=F64))
    assert s.v.dtype == F64 and cell.p.c_m_inv.dtype == F64


@cuda
@pytest.mark.cuda
def test_cuda():
    cell = CobaLIFCell(2, 3).cuda()
    z, state = cell(torch.ones(4, 2, device="cuda"))
    assert z.is_cuda and state.g_e.is_cuda
