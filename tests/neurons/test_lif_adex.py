"""Tests of the adaptive exponential LIF model (``simctl.neurons.lif_adex``)."""

from __future__ import annotations

import math

import pytest
import torch
from neuron_loops import recurrent_pair, run_cell

from simctl.neurons import lif_adex
from simctl.neurons.lif_adex import (
    MODEL,
    LIFAdEx,
    LIFAdExCell,
    LIFAdExFeedForwardState,
    LIFAdExParameters,
    LIFAdExRecurrent,
    LIFAdExRecurrentCell,
    LIFAdExState,
    lif_adex_current_encoder,
    lif_adex_feed_forward_step,
    lif_adex_initial_state,
    lif_adex_step,
)

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")

# spec §2.5, default parameters, unit input, v = i = a = 0
GOLDEN_V = [0.1068, 0.2845, 0.5119, 0.7744, 0.0, 0.3724, 0.7412, 0.0, 0.4334]
GOLDEN_A = [0.0, 0.00085, 0.00313, 0.00722, 0.0334]
GOLDEN_Z = [0, 0, 0, 0, 1, 0, 0, 1, 0]


def _zeros_ff(*shape: int) -> LIFAdExFeedForwardState:
    return LIFAdExFeedForwardState(*(torch.zeros(shape) for _ in range(3)))


def _zeros_rec(*shape: int) -> LIFAdExState:
    return LIFAdExState(*(torch.zeros(shape) for _ in range(4)))


def test_parameter_defaults() -> None:
    p = LIFAdExParameters()
    assert LIFAdExParameters._fields == (
        "adaptation_current",
        "adaptation_spike",
        "delta_T",
        "tau_ada_inv",
        "tau_syn_inv",
        "tau_mem_inv",
        "v_leak",
        "v_th",
        "v_reset",
        "method",
        "alpha",
        "v_peak",
    )
    assert p == (4.0, 0.02, 0.5, 2.0, 200.0, 100.0, 0.0, 1.0, 0.0, "super", 100.0, None)


def test_feed_forward_golden() -> None:
    state = _zeros_ff(1)
    vs, as_, zs = [], [], []
    for _ in range(9):
        z, state = lif_adex_feed_forward_step(torch.ones(1), state)
        vs.append(state.v.item())
        as_.append(state.a.item())
        zs.append(int(z.item()))
    assert vs == pytest.approx(GOLDEN_V, abs=1e-4)
    assert as_[:5] == pytest.approx(GOLDEN_A, abs=1e-5)
    assert zs == GOLDEN_Z


def test_recurrent_step_golden() -> None:
    """``lif_adex_step`` with ``W_in = 1``, ``W_rec = 0`` reproduces the feed-forward values."""
    state = _zeros_rec(1)
    w_in, w_rec = torch.ones(1, 1), torch.zeros(1, 1)
    vs, as_, zs = [], [], []
    for _ in range(9):
        z, state = lif_adex_step(torch.ones(1), state, w_in, w_rec)
        vs.append(state.v.item())
        as_.append(state.a.item())
        zs.append(int(z.item()))
    assert vs == pytest.approx(GOLDEN_V, abs=1e-4)
    assert as_[:5] == pytest.approx(GOLDEN_A, abs=1e-5)
    assert zs == GOLDEN_Z


def test_current_encoder_is_an_euler_step() -> None:
    """Defaults: ``dt·tau_mem_inv = 0.1``, ``dt·tau_ada_inv = 0.002``, ``adaptation_current = 4``.

    From ``v = a = 0`` with input 1:

    * ``v1 = 0.1·(1 + 0.5·e^{−2}) = 0.1067668``; ``a1 = 0 + 0.002·(4·(0 − 0) − 0) = 0``.
    * ``v2 = v1 + 0.1·(−v1 + 0.5·e^{(v1−1)/0.5} + 1 − a1) = 0.2044676`` (``a1 = 0``, as LIFEx);
      ``a2 = a1 + 0.002·(4·v1 − a1) = 0.008·0.1067668 = 0.000854134`` (the **old** v).

    A spike from ``v = 0.99``, ``a = 0.5`` with input 10:
    ``v1 = 0.99 + 0.1·(−0.99 + 0.5·e^{−0.02} + 10 − 0.5) = 1.8900099 > 1`` → ``z = 1``, ``v = 0``;
    ``a = 0.5 + 0.002·(4·0.99 − 0.5) + 0.02 = 0.52692``. (Norse's formula,
    ``tau_ada_inv·(4·(v_reset − v_leak) − a) + z·0.02``, would give −0.98: spec §9.5.)
    """
    z, v, a = lif_adex_current_encoder(torch.ones(1), torch.zeros(1), torch.zeros(1))
    assert (z.item(), v.item(), a.item()) == pytest.approx((0, 0.1067668, 0.0), abs=1e-7)
    z, v, a = lif_adex_current_encoder(torch.ones(1), v, a)
    assert (z.item(), v.item(), a.item()) == pytest.approx((0, 0.2044676, 0.000854134), abs=1e-7)
    z, v, a = lif_adex_current_encoder(
        torch.tensor([10.0]), torch.tensor([0.99]), torch.tensor([0.5])
    )
    assert (z.item(), v.item(), a.item()) == pytest.approx((1, 0.0, 0.52692), abs=1e-6)
    assert 0.99 + 0.1 * (-0.99 + 0.5 * math.exp(-0.02) + 10 - 0.5) == pytest.approx(1.8900099)


def test_v_peak_separates_cut_off_from_exponential_threshold() -> None:
    """``v_th = 0.5`` (exponential), ``v_peak = 1`` (cut-off), no adaptation, ``v0 = 0.5``,
    ``i0 = 0``, input 2 then 0 (``dt·tau_mem_inv = 0.1``, ``dt·tau_syn_inv = 0.2``):

    * step 1: ``i1 = 2``, ``v1 = 0.5 + 0.1·(0 − 0.5 + 0.5·e^{0} + 2) = 0.7``: above ``v_th`` but
      below ``v_peak``, so no spike; ``i2 = 0.8·2 = 1.6``.
    * step 2: ``i1 = 1.6``, ``v1 = 0.7 + 0.1·(−0.7 + 0.5·e^{0.4} + 1.6) = 0.7 + 0.1·1.6459123
      = 0.8645912``: still no spike.
    * with ``v_peak = None`` the first step spikes (``0.7 > v_th = 0.5``) and resets to 0.
    """
    p = LIFAdExParameters(adaptation_current=0.0, adaptation_spike=0.0, v_th=0.5, v_peak=1.0)
    state = LIFAdExFeedForwardState(v=torch.tensor([0.5]), i=torch.zeros(1), a=torch.zeros(1))
    z, state = lif_adex_feed_forward_step(torch.tensor([2.0]), state, p)
    assert z.item() == 0 and state.v.item() == pytest.approx(0.7, abs=1e-6)
    z, state = lif_adex_feed_forward_step(torch.tensor([0.0]), state, p)
    assert z.item() == 0 and state.v.item() == pytest.approx(0.8645912, abs=1e-6)
    assert 0.7 + 0.1 * (-0.7 + 0.5 * math.exp(0.4) + 1.6) == pytest.approx(0.8645912)

    p_norse = p._replace(v_peak=None)
    state = LIFAdExFeedForwardState(v=torch.tensor([0.5]), i=torch.zeros(1), a=torch.zeros(1))
    z, state = lif_adex_feed_forward_step(torch.tensor([2.0]), state, p_norse)
    assert z.item() == 1 and state.v.item() == 0.0


def test_v_peak_crossing_spikes_and_jumps_adaptation() -> None:
    """From ``v0 = 0.9`` (``v_th = 0.5``, ``v_peak = 1``, ``adaptation_current = 0``), input 3:
    ``v1 = 0.9 + 0.1·(−0.9 + 0.5·e^{0.8} + 3) = 0.9 + 0.1·3.2127705 = 1.2212771 > v_peak`` → spike,
    ``v = v_reset = 0``, ``a = 0 + 0.002·(0 − 0) + 0.02 = 0.02``.

    The current encoder gives the same, as it also uses ``v_peak``.
    """
    p = LIFAdExParameters(adaptation_current=0.0, v_th=0.5, v_peak=1.0)
    state = LIFAdExFeedForwardState(v=torch.tensor([0.9]), i=torch.zeros(1), a=torch.zeros(1))
    z, state = lif_adex_feed_forward_step(torch.tensor([3.0]), state, p)
    assert (z.item(), state.v.item(), state.a.item()) == pytest.approx((1, 0, 0.02))
    z, v, a = lif_adex_current_encoder(torch.tensor([3.0]), torch.tensor([0.9]), torch.zeros(1), p)
    assert (z.item(), v.item(), a.item()) == pytest.approx((1, 0, 0.02))
    z, v, a = lif_adex_current_encoder(torch.tensor([1.0]), torch.tensor([0.5]), torch.zeros(1), p)
    assert z.item() == 0 and v.item() == pytest.approx(0.5 + 0.1 * 1.0)


def test_v_peak_in_modules() -> None:
    """None is kept as a constant, a number becomes a buffer that follows ``.to()``; a
    per-neuron ``v_peak`` broadcasts (a huge ``v_peak`` never spikes; ``v`` above ``v_th``
    then grows through the exponential)."""
    cell = LIFAdExCell()
    assert cell.p.v_peak is None
    layer = LIFAdEx(LIFAdExParameters(v_peak=1.0)).to(torch.float64)
    assert layer.p.v_peak.dtype == torch.float64
    z, _ = layer(torch.ones(9, 1, dtype=torch.float64))
    assert z[:, 0].tolist() == GOLDEN_Z  # v_peak == v_th: Norse's behaviour
    p = LIFAdExParameters(v_th=0.5, v_peak=torch.tensor([1.0, 1e6]))
    z, states = LIFAdEx(p, record_states=True)(torch.ones(6, 2) * 0.8)
    assert z[:, 0].sum() > 0 and z[:, 1].sum() == 0
    assert states.v[:, 1].max() > 0.5


def test_functional_runs_100_steps() -> None:
    state = lif_adex_initial_state((2, 3))
    rec = _zeros_rec(2, 3)
    w_in, w_rec = torch.randn(3, 4), torch.randn(3, 3)
    for _ in range(100):
        _, state = lif_adex_feed_forward_step(torch.rand(2, 3), state)
        _, rec = lif_adex_step(torch.rand(2, 4), rec, w_in, w_rec)
    assert all(torch.isfinite(t).all() for t in (*state, *rec))


def test_step_does_not_mutate() -> None:
    state = LIFAdExFeedForwardState(v=torch.full((3,), 0.5), i=torch.ones(3), a=torch.ones(3))
    before = [t.clone() for t in state]
    lif_adex_feed_forward_step(torch.ones(3), state)
    assert all(torch.equal(a, b) for a, b in zip(before, state, strict=True))


def test_initial_states_are_fresh() -> None:
    p = LIFAdExParameters(v_leak=torch.tensor([0.1, 0.2]))
    s1 = lif_adex_initial_state((3, 2), p)
    s2 = lif_adex_initial_state((3, 2), p)
    assert all(t.shape == (3, 2) for t in s1)
    assert torch.equal(s1.v, torch.tensor([0.1, 0.2]).expand(3, 2))
    assert s1.v.data_ptr() != s2.v.data_ptr() and s1.a.data_ptr() != s2.a.data_ptr()
    cell = LIFAdExCell(p)
    a = cell.initial_state(torch.zeros(3, 2))
    b = cell.initial_state(torch.zeros(3, 2))
    assert a.v.data_ptr() != b.v.data_ptr() and a.v.data_ptr() != cell.p.v_leak.data_ptr()
    assert not cell.p.v_leak.requires_grad
    rec = LIFAdExRecurrentCell(2, 3)
    r1, r2 = rec.initial_state(torch.zeros(4, 2)), rec.initial_state(torch.zeros(4, 2))
    assert all(x.data_ptr() != y.data_ptr() for x, y in zip(r1, r2, strict=True))


def test_model_description() -> None:
    assert MODEL.name == "lif_adex"
    assert MODEL.parameters is LIFAdExParameters
    assert MODEL.feed_forward_state is LIFAdExFeedForwardState
    assert MODEL.feed_forward_step is lif_adex_feed_forward_step
    assert MODEL.variables == ("v", "i", "a")
    state = MODEL.initial_state((4,), LIFAdExParameters(), torch.float64, "cpu")
    assert all(getattr(state, name).dtype == torch.float64 for name in MODEL.variables)
    assert set(lif_adex.__all__) >= {
        "LIFAdExParameters",
        "LIFAdExState",
        "LIFAdExFeedForwardState",
        "lif_adex_feed_forward_step",
        "lif_adex_step",
        "lif_adex_current_encoder",
        "LIFAdExCell",
        "LIFAdEx",
        "LIFAdExRecurrentCell",
        "LIFAdExRecurrent",
    }


# --- modules -----------------------------------------------------------------------------------


def test_cell_shapes() -> None:
    z, state = LIFAdExCell()(torch.ones(5, 2))
    assert z.shape == (5, 2) and all(t.shape == (5, 2) for t in state)
    z, state = LIFAdExCell()(torch.ones(3, 5, 2))
    assert z.shape == (3, 5, 2) and state.a.shape == (3, 5, 2)


def test_layer_shapes() -> None:
    z, state = LIFAdEx()(torch.ones(10, 5, 4))
    assert z.shape == (10, 5, 4) and isinstance(state, LIFAdExFeedForwardState)
    assert all(t.shape == (5, 4) for t in state)
    z, states = LIFAdEx(record_states=True)(torch.ones(10, 3, 5, 4))
    assert z.shape == (10, 3, 5, 4) and states.a.shape == (10, 3, 5, 4)


def test_recurrent_shapes() -> None:
    z, state = LIFAdExRecurrentCell(2, 4)(torch.ones(5, 2))
    assert z.shape == (5, 4) and isinstance(state, LIFAdExState)
    assert all(t.shape == (5, 4) for t in state)
    z, state = LIFAdExRecurrentCell(2, 4)(torch.ones(3, 5, 2))
    assert z.shape == (3, 5, 4) and state.a.shape == (3, 5, 4)
    z, state = LIFAdExRecurrent(2, 4)(torch.ones(10, 5, 2))
    assert z.shape == (10, 5, 4) and all(t.shape == (5, 4) for t in state)
    z, state = LIFAdExRecurrent(2, 4)(torch.ones(10, 3, 5, 2))
    assert z.shape == (10, 3, 5, 4) and state.v.shape == (3, 5, 4)
    with pytest.raises(ValueError, match="input_size = 2"):
        LIFAdExRecurrentCell(2, 4)(torch.ones(5, 3))


def test_chained_recurrent_layers() -> None:
    layers = [LIFAdExRecurrent(8, 6), LIFAdExRecurrent(6, 4), LIFAdExRecurrent(4, 1)]
    x = torch.ones(10, 1, 8)
    for layer in layers:
        x, _ = layer(x)
    assert x.shape == (10, 1, 1)


def test_layer_golden() -> None:
    z, states = LIFAdEx(record_states=True)(torch.ones(9, 1))
    assert z[:, 0].tolist() == GOLDEN_Z
    assert states.v[:, 0].tolist() == pytest.approx(GOLDEN_V, abs=1e-4)
    assert states.a[:5, 0].tolist() == pytest.approx(GOLDEN_A, abs=1e-5)


def test_cell_loop_equals_layer() -> None:
    torch.manual_seed(0)
    x = torch.rand(30, 4, 3) * 3
    cell = LIFAdExCell()
    outs, state = run_cell(cell, x)
    z_layer, s_layer = LIFAdEx()(x)
    assert z_layer.sum() > 0
    assert torch.equal(outs, z_layer)
    assert all(torch.allclose(a, b) for a, b in zip(state, s_layer, strict=True))


def test_recurrent_cell_loop_equals_layer() -> None:
    torch.manual_seed(1)
    x = torch.rand(20, 3, 2) * 4
    layer, cell = recurrent_pair(LIFAdExRecurrent, LIFAdExRecurrentCell, 2, 5)
    outs, state = run_cell(cell, x)
    z_layer, s_layer = layer(x)
    assert torch.equal(outs, z_layer)
    assert torch.allclose(state.a, s_layer.a)


def _autapse_pair(autapses: bool) -> tuple[LIFAdExState, LIFAdExState]:
    cell = LIFAdExRecurrentCell(2, 2, autapses=autapses, recurrent_weights=torch.ones(2, 2) * 0.01)
    diagonal = torch.diagonal(cell.recurrent_weights).abs().sum()
    assert (diagonal > 0) == autapses
    zeros = torch.zeros(1, 2)
    s_full = LIFAdExState(z=torch.ones(1, 2), v=zeros, i=zeros, a=zeros)
    s_part = LIFAdExState(z=torch.tensor([[0.0, 1.0]]), v=zeros, i=zeros, a=zeros)
    _, full = cell(zeros, s_full)
    _, part = cell(zeros, s_part)
    return full, part


def test_autapses() -> None:
    full, part = _autapse_pair(True)
    assert full.i[0, 0] != part.i[0, 0]


def test_no_autapses() -> None:
    full, part = _autapse_pair(False)
    assert full.i[0, 0] == part.i[0, 0]


def test_gradients_reach_input_and_per_neuron_parameter() -> None:
    ada = torch.nn.Parameter(torch.tensor([4.0, 2.0, 6.0]))
    layer = LIFAdEx(LIFAdExParameters(adaptation_current=ada))
    x = (torch.rand(20, 2, 3) * 3).requires_grad_(True)
    z, state = layer(x)
    (z.sum() + state.v.sum() + state.a.sum()).backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    assert ada.grad is not None and ada.grad.shape == (3,) and ada.grad.abs().sum() > 0


def test_gradients_recurrent_two_steps() -> None:
    cell = LIFAdExRecurrentCell(2, 3)
    x = torch.rand(4, 2, requires_grad=True)
    z, state = cell(x)
    z, state = cell(x, state)
    (z.sum() + state.v.sum()).backward()
    assert x.grad is not None and cell.input_weights.grad is not None


def test_float_params_and_dtype() -> None:
    layer = LIFAdEx(LIFAdExParameters(adaptation_current=4, v_leak=0)).to(torch.float64)
    assert layer.p.adaptation_current.dtype == torch.float64
    z, state = layer(torch.ones(9, 1, dtype=torch.float64))
    assert state.a.dtype == torch.float64 and z[:, 0].tolist() == GOLDEN_Z
    _, state = LIFAdExCell()(torch.ones(2, 3, dtype=torch.bool))
    assert state.v.dtype == torch.float32 and state.a.dtype == torch.float32


@pytest.mark.cuda
@cuda
def test_cuda() -> None:
    layer = LIFAdEx(LIFAdExParameters(v_peak=1.0)).to("cuda")
    z, state = layer(torch.ones(9, 1, device="cuda"))
    assert z.device.type == "cuda" and state.a.device.type == "cuda"
    assert z[:, 0].cpu().tolist() == GOLDEN_Z
    z, state = LIFAdExRecurrent(2, 4).to("cuda")(torch.ones(10, 5, 2, device="cuda"))
    assert z.shape == (10, 5, 4) and state.v.device.type == "cuda"
    z, state = LIFAdExCell().to("cuda")(torch.ones(5, 2, device="cuda"))
    assert state.a.device.type == "cuda"
