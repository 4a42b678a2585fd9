"""Tests of the refractory adaptive exponential LIF model (``simctl.neurons.lif_adex_refrac``)."""

from __future__ import annotations

import math

import pytest
import torch
from neuron_loops import recurrent_pair, run_cell

from simctl.neurons import lif_adex_refrac
from simctl.neurons.lif_adex import LIFAdExFeedForwardState, LIFAdExParameters, LIFAdExState
from simctl.neurons.lif_adex_refrac import (
    MODEL,
    LIFAdExRefracCell,
    LIFAdExRefracFeedForwardState,
    LIFAdExRefracParameters,
    LIFAdExRefracRecurrent,
    LIFAdExRefracRecurrentCell,
    LIFAdExRefracState,
    lif_adex_refrac_feed_forward_step,
    lif_adex_refrac_initial_state,
    lif_adex_refrac_step,
)

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


def _expected_unit_input() -> tuple[list[float], list[float], list[float], list[float], list[int]]:
    """Hand derivation, default parameters, input 1 every step, all state 0 (1-based steps).

    Constants: ``dt·tau_mem_inv = 0.1``, ``dt·tau_syn_inv = 0.2``, ``dt·tau_ada_inv = 0.002``,
    ``adaptation_current = 4``, ``adaptation_spike = 0.02``, ``delta_T = 0.5``, ``rho_reset = 5``.

    * The current never sees the refractory mask: ``i_k = 0.8·(i_{k−1} + 1) = 4·(1 − 0.8^k)``.
    * Steps 1–5 equal LIFAdEx (spec §2.5): ``v = 0.1068, 0.2845, 0.5119, 0.7744``, then the spike
      at step 5 (``v = 0``, ``rho = 5``, ``a5 = 0.0333980``).
    * Steps 6–10: ``rho = 5, 4, 3, 2, 1 > 0`` so ``m = 1``: ``v`` stays at the old 0, no output
      spike, ``rho`` counts down to ``4, 3, 2, 1, 0``. The adaptation still integrates with the
      frozen ``v = 0``: ``a_k = a_{k−1} + 0.002·(4·0 − a_{k−1}) = 0.998·a_{k−1}``.
    * Step 11: ``rho = 0``, so ``v11 = 0 + 0.1·(0 − 0 + 0.5·e^{−2} + (i10 + 1) − a10)``; step 12
      likewise from ``v11``; step 13 crosses ``v_th`` (spike, ``rho = 5``).

    The recursions above are evaluated in float64 here, from the formulas, not from the library.
    """
    v, i, a = 0.0, 0.0, 0.0
    rho = 0.0
    vs, is_, as_, rhos, zs = [], [], [], [], []
    for _ in range(16):
        i_jump = i + 1.0
        if rho > 0:  # frozen v; adaptation with the (frozen) old v; the current integrates
            z_adex = v + 0.1 * (-v + 0.5 * math.exp((v - 1) / 0.5) + i_jump - a) > 1
            a = a + 0.002 * (4 * v - a) + (0.02 if z_adex else 0.0)
            z = 0
            rho = max(rho - 1, 0.0)
        else:
            v_new = v + 0.1 * (-v + 0.5 * math.exp((v - 1) / 0.5) + i_jump - a)
            a = a + 0.002 * (4 * v - a)
            z = int(v_new > 1)
            v = 0.0 if z else v_new
            a += 0.02 * z
            rho = 5.0 if z else 0.0
        i = 0.8 * i_jump
        vs.append(v)
        is_.append(i)
        as_.append(a)
        rhos.append(rho)
        zs.append(z)
    return vs, is_, as_, rhos, zs


def test_hand_derivation_is_consistent_with_spec() -> None:
    vs, is_, as_, rhos, zs = _expected_unit_input()
    assert vs[:5] == pytest.approx([0.1068, 0.2845, 0.5119, 0.7744, 0.0], abs=1e-4)
    assert zs == [0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0]
    assert rhos == [0, 0, 0, 0, 5, 4, 3, 2, 1, 0, 0, 0, 5, 4, 3, 2]
    assert vs[5:10] == [0.0] * 5
    assert is_[9] == pytest.approx(4 * (1 - 0.8**10))
    assert as_[9] == pytest.approx(as_[4] * 0.998**5)
    assert vs[10] == pytest.approx(0.4605106, abs=1e-7)
    assert vs[11] == pytest.approx(0.8937970, abs=1e-7)


@pytest.mark.parametrize("recurrent", [False, True])
def test_unit_input_hand_derived(recurrent: bool) -> None:
    vs, is_, as_, rhos, zs = _expected_unit_input()
    zeros = torch.zeros(1, dtype=torch.float64)
    w_in, w_rec = torch.ones(1, 1, dtype=torch.float64), torch.zeros(1, 1, dtype=torch.float64)
    if recurrent:
        state = LIFAdExRefracState(LIFAdExState(zeros, zeros, zeros, zeros), zeros)
    else:
        state = lif_adex_refrac_initial_state((1,), dtype=torch.float64)
    got = []
    for _ in range(16):
        x = torch.ones(1, dtype=torch.float64)
        if recurrent:
            z, state = lif_adex_refrac_step(x, state, w_in, w_rec)
            assert torch.equal(state.lif_adex.z, z)  # the fed-back spike is the masked one
        else:
            z, state = lif_adex_refrac_feed_forward_step(x, state)
        s = state.lif_adex
        got.append((s.v.item(), s.i.item(), s.a.item(), state.rho.item(), int(z.item())))
    assert [g[0] for g in got] == pytest.approx(vs, abs=1e-12)
    assert [g[1] for g in got] == pytest.approx(is_, abs=1e-12)
    assert [g[2] for g in got] == pytest.approx(as_, abs=1e-12)
    assert [g[3] for g in got] == rhos
    assert [g[4] for g in got] == zs


def test_adaptation_receives_unmasked_spike() -> None:
    """Input 20 every step, defaults:

    * step 1: ``i1 = 20``, ``v1 = 0.1·(0.5·e^{−2} + 20) = 2.0067668 > 1`` → spike, ``v = 0``,
      ``rho = 5``, ``a = 0 + 0.002·(0 − 0) + 0.02 = 0.02``, ``i = 16``.
    * step 2 (refractory, ``m = 1``): the AdEx step gives ``v = 0.1·(0.0676676 + 36 − 0.02)
      = 3.6047668 > 1``, an *unmasked* spike. The output spike is masked (0), ``v`` stays 0 and
      ``rho = relu(5 − 1) = 4``, but ``a = 0.02 + 0.002·(0 − 0.02) + 0.02 = 0.03996`` (Norse's
      behaviour; a masked adaptation would give 0.01996).
    """
    state = lif_adex_refrac_initial_state((1,))
    z, state = lif_adex_refrac_feed_forward_step(torch.tensor([20.0]), state)
    assert z.item() == 1 and state.rho.item() == 5
    assert state.lif_adex.a.item() == pytest.approx(0.02)
    z, state = lif_adex_refrac_feed_forward_step(torch.tensor([20.0]), state)
    assert z.item() == 0 and state.lif_adex.v.item() == 0 and state.rho.item() == 4
    assert state.lif_adex.a.item() == pytest.approx(0.03996, abs=1e-7)


def test_v_peak_is_used() -> None:
    """``v_th = 0.5``, ``v_peak = 1``, from ``v = 0.5`` with input 2:
    ``v1 = 0.5 + 0.1·(−0.5 + 0.5 + 2) = 0.7`` (above ``v_th``, below ``v_peak``): no spike, ``rho``
    stays 0."""
    adex = LIFAdExParameters(adaptation_current=0.0, v_th=0.5, v_peak=1.0)
    p = LIFAdExRefracParameters(lif_adex=adex)
    state = LIFAdExRefracFeedForwardState(
        LIFAdExFeedForwardState(torch.tensor([0.5]), torch.zeros(1), torch.zeros(1)),
        torch.zeros(1),
    )
    z, state = lif_adex_refrac_feed_forward_step(torch.tensor([2.0]), state, p)
    assert z.item() == 0 and state.rho.item() == 0
    assert state.lif_adex.v.item() == pytest.approx(0.7, abs=1e-6)


def test_rho_reset_per_neuron() -> None:
    p = LIFAdExRefracParameters(rho_reset=torch.tensor([2.0, 5.0]))
    cell = LIFAdExRefracCell(p)
    state = None
    zs = []
    for _ in range(12):
        z, state = cell(torch.full((2,), 20.0), state)
        zs.append(z.tolist())
    # strong input spikes as soon as the neuron leaves the refractory period
    assert [z[0] for z in zs] == [1, 0, 0, 1, 0, 0, 1, 0, 0, 1, 0, 0]
    assert [z[1] for z in zs] == [1, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0]


def test_functional_runs_100_steps() -> None:
    state = lif_adex_refrac_initial_state((2, 3))
    zeros = torch.zeros(2, 3)
    rec = LIFAdExRefracState(LIFAdExState(zeros, zeros, zeros, zeros), zeros)
    w_in, w_rec = torch.randn(3, 4), torch.randn(3, 3)
    for _ in range(100):
        _, state = lif_adex_refrac_feed_forward_step(torch.rand(2, 3) * 5, state)
        _, rec = lif_adex_refrac_step(torch.rand(2, 4) * 5, rec, w_in, w_rec)
    assert torch.isfinite(state.lif_adex.v).all() and torch.isfinite(rec.lif_adex.v).all()


def test_parameters_and_model() -> None:
    p = LIFAdExRefracParameters()
    assert p.lif_adex == LIFAdExParameters() and p.rho_reset == 5.0
    assert MODEL.name == "lif_adex_refrac"
    assert MODEL.parameters is LIFAdExRefracParameters
    assert MODEL.feed_forward_step is lif_adex_refrac_feed_forward_step
    assert MODEL.voltage == "lif_adex.v"
    assert set(lif_adex_refrac.__all__) >= {
        "LIFAdExRefracParameters",
        "LIFAdExRefracState",
        "LIFAdExRefracFeedForwardState",
        "lif_adex_refrac_feed_forward_step",
        "lif_adex_refrac_step",
        "LIFAdExRefracCell",
        "LIFAdExRefracRecurrentCell",
        "LIFAdExRefracRecurrent",
    }


def test_model_with_reference_integrator() -> None:
    from simctl.kernels import integrate_reference

    state = MODEL.initial_state((3,), LIFAdExRefracParameters(), torch.float64, "cpu")
    out, traces, _ = integrate_reference(
        MODEL,
        torch.ones(16, 3, dtype=torch.float64),
        state,
        LIFAdExRefracParameters(),
        0.001,
        record=MODEL.variables,
    )
    vs, _, as_, rhos, zs = _expected_unit_input()
    assert out[:, 0].tolist() == zs
    assert traces["lif_adex.v"][:, 1].tolist() == pytest.approx(vs, abs=1e-12)
    assert traces["lif_adex.a"][:, 2].tolist() == pytest.approx(as_, abs=1e-12)
    assert traces["rho"][:, 0].tolist() == rhos


def test_initial_states_are_fresh() -> None:
    cell = LIFAdExRefracCell()
    s1, s2 = cell.initial_state(torch.zeros(2, 3)), cell.initial_state(torch.zeros(2, 3))
    assert s1.lif_adex.v.data_ptr() != s2.lif_adex.v.data_ptr()
    assert s1.rho.data_ptr() != s2.rho.data_ptr()
    assert s1.lif_adex.v.requires_grad and not cell.p.lif_adex.v_leak.requires_grad


# --- modules -----------------------------------------------------------------------------------


def test_cell_shapes() -> None:
    z, state = LIFAdExRefracCell()(torch.ones(5, 2))
    assert z.shape == (5, 2) and isinstance(state, LIFAdExRefracFeedForwardState)
    assert all(t.shape == (5, 2) for t in state.lif_adex) and state.rho.shape == (5, 2)
    z, state = LIFAdExRefracCell()(torch.ones(3, 5, 2))
    assert z.shape == (3, 5, 2) and state.rho.shape == (3, 5, 2)


def test_recurrent_shapes() -> None:
    z, state = LIFAdExRefracRecurrentCell(2, 4)(torch.ones(5, 2))
    assert z.shape == (5, 4) and isinstance(state, LIFAdExRefracState)
    assert all(t.shape == (5, 4) for t in state.lif_adex) and state.rho.shape == (5, 4)
    z, state = LIFAdExRefracRecurrentCell(2, 4)(torch.ones(3, 5, 2))
    assert z.shape == (3, 5, 4) and state.rho.shape == (3, 5, 4)
    z, state = LIFAdExRefracRecurrent(2, 4)(torch.ones(10, 5, 2))
    assert z.shape == (10, 5, 4) and state.lif_adex.v.shape == (5, 4)
    z, state = LIFAdExRefracRecurrent(2, 4)(torch.ones(10, 3, 5, 2))
    assert z.shape == (10, 3, 5, 4) and state.rho.shape == (3, 5, 4)
    z, states = LIFAdExRefracRecurrent(2, 4, record_states=True)(torch.ones(10, 5, 2))
    assert states.lif_adex.a.shape == (10, 5, 4) and states.rho.shape == (10, 5, 4)


def test_cell_loop_equals_functional() -> None:
    torch.manual_seed(0)
    x = torch.rand(30, 4, 3) * 5
    cell = LIFAdExRefracCell()
    state, ref = None, lif_adex_refrac_initial_state((4, 3))
    for step in x:
        z, state = cell(step, state)
        z_ref, ref = lif_adex_refrac_feed_forward_step(step, ref)
        assert torch.equal(z, z_ref)
    assert torch.allclose(state.rho, ref.rho) and torch.allclose(state.lif_adex.v, ref.lif_adex.v)


def test_recurrent_cell_loop_equals_layer() -> None:
    torch.manual_seed(2)
    x = torch.rand(20, 3, 2) * 5
    layer, cell = recurrent_pair(LIFAdExRefracRecurrent, LIFAdExRefracRecurrentCell, 2, 5)
    outs, state = run_cell(cell, x)
    z_layer, s_layer = layer(x)
    assert z_layer.sum() > 0
    assert torch.equal(outs, z_layer)
    assert torch.allclose(state.rho, s_layer.rho)


def _autapse_pair(autapses: bool) -> tuple[LIFAdExRefracState, LIFAdExRefracState]:
    cell = LIFAdExRefracRecurrentCell(
        2, 2, autapses=autapses, recurrent_weights=torch.ones(2, 2) * 0.01
    )
    assert (torch.diagonal(cell.recurrent_weights).abs().sum() > 0) == autapses
    zeros = torch.zeros(1, 2)
    s_full = LIFAdExRefracState(LIFAdExState(torch.ones(1, 2), zeros, zeros, zeros), zeros)
    s_part = LIFAdExRefracState(
        LIFAdExState(torch.tensor([[0.0, 1.0]]), zeros, zeros, zeros), zeros
    )
    _, full = cell(zeros, s_full)
    _, part = cell(zeros, s_part)
    return full, part


def test_autapses() -> None:
    full, part = _autapse_pair(True)
    assert full.lif_adex.i[0, 0] != part.lif_adex.i[0, 0]


def test_no_autapses() -> None:
    full, part = _autapse_pair(False)
    assert full.lif_adex.i[0, 0] == part.lif_adex.i[0, 0]


def test_gradients_reach_input_and_per_neuron_parameter() -> None:
    tau = torch.nn.Parameter(torch.tensor([100.0, 80.0, 120.0]))
    cell = LIFAdExRefracCell(LIFAdExRefracParameters(LIFAdExParameters(tau_mem_inv=tau)))
    x = (torch.rand(2, 3) * 3).requires_grad_(True)
    state = None
    loss = torch.zeros(())
    for _ in range(20):
        z, state = cell(x, state)
        loss = loss + z.sum()
    (loss + state.lif_adex.v.sum()).backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    assert tau.grad is not None and tau.grad.shape == (3,) and tau.grad.abs().sum() > 0


def test_gradients_recurrent() -> None:
    layer = LIFAdExRefracRecurrent(2, 3)
    x = torch.rand(10, 4, 2, requires_grad=True)
    z, state = layer(x)
    (z.sum() + state.lif_adex.v.sum()).backward()
    assert x.grad is not None and layer.input_weights.grad is not None


def test_dtype() -> None:
    cell = LIFAdExRefracCell(LIFAdExRefracParameters(rho_reset=3)).to(torch.float64)
    assert cell.p.rho_reset.dtype == torch.float64
    assert cell.p.lif_adex.tau_ada_inv.dtype == torch.float64
    _, state = cell(torch.ones(2, dtype=torch.float64))
    assert state.rho.dtype == torch.float64
    _, state = LIFAdExRefracCell()(torch.ones(2, 3, dtype=torch.bool))
    assert state.lif_adex.v.dtype == torch.float32


@pytest.mark.cuda
@cuda
def test_cuda() -> None:
    cell = LIFAdExRefracCell().to("cuda")
    z, state = cell(torch.ones(5, 2, device="cuda"))
    assert z.device.type == "cuda" and state.rho.device.type == "cuda"
    z, state = LIFAdExRefracRecurrent(2, 4).to("cuda")(torch.ones(10, 5, 2, device="cuda"))
    assert z.shape == (10, 5, 4) and state.lif_adex.a.device.type == "cuda"
