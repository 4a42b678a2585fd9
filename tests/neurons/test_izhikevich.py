"""Tests of :mod:`simctl.neurons.izhikevich`."""

from __future__ import annotations

import pytest
import torch
from neuron_loops import recurrent_pair, run_cell

from simctl.neurons import izhikevich as izk
from simctl.neurons.izhikevich import (
    IZHIKEVICH_PRESETS,
    MODEL,
    Izhikevich,
    IzhikevichCell,
    IzhikevichParameters,
    IzhikevichRecurrent,
    IzhikevichRecurrentCell,
    IzhikevichRecurrentState,
    IzhikevichSpikingBehavior,
    IzhikevichState,
    create_izhikevich_spiking_behavior,
    izhikevich_feed_forward_step,
    izhikevich_initial_state,
    izhikevich_recurrent_step,
)

PRESET_NAMES = sorted(IZHIKEVICH_PRESETS)
cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


def fresh(behavior: IzhikevichSpikingBehavior, shape=(1,), dtype=torch.float32):
    """A private copy of a preset's state (never the preset's own tensors)."""
    s = behavior.s
    return IzhikevichState(
        v=s.v.detach().to(dtype).expand(shape).clone(),
        u=s.u.detach().to(dtype).expand(shape).clone(),
    )


# --------------------------------------------------------------------------- presets


# name: (a, b, c, d, tau_inv, v0, u0, mn, bias) from spec §3
TABLE = {
    "tonic_spiking": (0.02, 0.2, -65, 6, 250, -70, -14.0, 5, 140),
    "phasic_spiking": (0.02, 0.25, -65, 6, 250, -64, -16.0, 5, 140),
    "tonic_bursting": (0.02, 0.2, -50, 2, 250, -70, -14.0, 5, 140),
    "phasic_bursting": (0.02, 0.25, -55, 0.05, 200, -64, -16.0, 5, 140),
    "mixed_mode": (0.02, 0.2, -55, 4, 250, -70, -14.0, 5, 140),
    "spike_frequency_adaptation": (0.01, 0.2, -65, 8, 250, -70, -14.0, 5, 140),
    "class_1_exc": (0.02, -0.1, -55, 6, 250, -60, 6.0, 4.1, 108),
    "class_2_exc": (0.2, 0.26, -65, 0, 250, -64, -16.64, 5, 140),
    "spike_latency": (0.02, 0.2, -65, 6, 250, -70, -14.0, 5, 140),
    "subthreshold_oscillation": (0.05, 0.26, -60, 0, 250, -62, -16.12, 5, 140),
    "resonator": (0.1, 0.26, -60, -1, 250, -62, -16.12, 5, 140),
    "integrator": (0.02, -0.1, -55, 6, 250, -60, 6.0, 4.1, 108),
    "rebound_spike": (0.03, 0.25, -60, 4, 200, -64, -16.0, 5, 140),
    "rebound_burst": (0.03, 0.25, -52, 0, 200, -64, -16.0, 5, 140),
    "threshold_variability": (0.03, 0.25, -60, 4, 250, -64, -16.0, 5, 140),
    "bistability": (0.1, 0.26, -60, 0, 250, -61, -15.86, 5, 140),
    "dap": (1.0, 0.2, -60, -21, 100, -70, -14.0, 5, 140),
    "accomodation": (0.02, 1.0, -55, 4, 500, -65, -16.0, 5, 140),
    "inhibition_induced_spiking": (-0.02, -1.0, -60, 8, 250, -63.8, 63.8, 5, 140),
    "inhibition_induced_bursting": (-0.026, -1.0, -45, -2, 250, -63.8, 63.8, 5, 140),
}


def test_twenty_presets_and_aliases():
    assert len(IZHIKEVICH_PRESETS) == 20
    assert set(IZHIKEVICH_PRESETS) == set(TABLE)
    for name, behavior in IZHIKEVICH_PRESETS.items():
        assert getattr(izk, name) is behavior
        assert getattr(izk, f"{name}_p") is behavior.p
        assert name in izk.__all__ and f"{name}_p" in izk.__all__
    assert izk.accommodation is izk.accomodation
    assert izk.accommodation_p is izk.accomodation_p


@pytest.mark.parametrize("name", PRESET_NAMES)
def test_preset_values(name):
    a, b, c, d, tau_inv, v0, u0, mn, bias = TABLE[name]
    p, s = IZHIKEVICH_PRESETS[name]
    assert (p.a, p.b, p.c, p.d, p.tau_inv, p.mn, p.bias) == (a, b, c, d, tau_inv, mn, bias)
    assert (p.sq, p.v_th, p.method, p.alpha) == (0.04, 30, "super", 100.0)
    assert (p.update_order, p.u_law) == ("simultaneous", "standard")
    assert s.v.dim() == 0 and s.v.requires_grad and s.v.dtype == torch.float32
    assert s.u.dim() == 0 and s.u.dtype == torch.float32  # accomodation: float, not int64
    assert float(s.v.detach()) == pytest.approx(v0)
    assert float(s.u) == pytest.approx(u0, abs=1e-5)


def test_create_round_trip():
    p, s = izk.tonic_spiking
    created = create_izhikevich_spiking_behavior(
        a=p.a, b=p.b, c=p.c, d=p.d, v_rest=float(s.v.detach()), u_rest=float(s.u) / p.b
    )
    assert created.p == p
    assert torch.equal(created.s.v, s.v) and torch.equal(created.s.u, s.u)
    assert created.s.v.requires_grad
    assert created.s.v is not s.v
    # u = u_rest · b, as in Norse
    other = create_izhikevich_spiking_behavior(0.1, 0.5, -60, 2, -60, 10.0, tau_inv=100)
    assert other.p.tau_inv == 100
    assert float(other.s.u) == pytest.approx(5.0)


# --------------------------------------------------------------------------- golden values


def test_golden_values_simultaneous_and_sequential():
    """Hand derivation, tonic_spiking (a=0.02, b=0.2), k = 250·0.001 = 0.25, I = 10,
    v0 = -70, u0 = -14.

    Step 1: f = 0.04·4900 − 350 + 140 + 14 + 10 = 10, v1 = −70 + 0.25·10 = −67.5.
      simultaneous: u1 = −14 + 0.25·0.02·(0.2·(−70) + 14) = −14.
      sequential:   u1 = −14 + 0.005·(0.2·(−67.5) + 14) = −14 + 0.005·0.5 = −13.9975.
    Step 2 (simultaneous, v = −67.5, u = −14):
      f = 0.04·4556.25 − 337.5 + 140 + 14 + 10 = 8.75, v2 = −67.5 + 2.1875 = −65.3125,
      u2 = −14 + 0.005·(−13.5 + 14) = −13.9975.
    Step 2 (sequential, v = −67.5, u = −13.9975):
      f = 182.25 − 337.5 + 140 + 13.9975 + 10 = 8.7475, v2 = −67.5 + 2.186875 = −65.313125,
      u2 = −13.9975 + 0.005·(0.2·(−65.313125) + 13.9975) = −13.9975 + 0.005·0.934875
         = −13.992825625.
    """
    expected = {
        "simultaneous": [(-67.5, -14.0), (-65.3125, -13.9975)],
        "sequential": [(-67.5, -13.9975), (-65.313125, -13.992825625)],
    }
    for order, values in expected.items():
        p = izk.tonic_spiking_p._replace(update_order=order)
        state = fresh(izk.tonic_spiking, dtype=torch.float64)
        for v_exp, u_exp in values:
            z, state = izhikevich_feed_forward_step(
                torch.tensor([10.0], dtype=torch.float64), state, p
            )
            assert z.item() == 0
            assert state.v.item() == pytest.approx(v_exp, abs=1e-12)
            assert state.u.item() == pytest.approx(u_exp, abs=1e-12)


def test_golden_spike_and_reset():
    """From v = 29, u = 0, I = 0 (tonic_spiking, k = 0.25):
    f = 0.04·841 + 5·29 + 140 = 318.64, v1 = 29 + 79.66 = 108.66 > 30: spike, v = c = −65.
    simultaneous: u = 0 + 0.005·(0.2·29) + d = 0.029 + 6 = 6.029.
    sequential:   u = 0 + 0.005·(0.2·108.66) + 6 = 0.10866 + 6 = 6.10866.
    """
    for order, u_exp in (("simultaneous", 6.029), ("sequential", 6.10866)):
        p = izk.tonic_spiking_p._replace(update_order=order)
        state = IzhikevichState(
            v=torch.tensor([29.0], dtype=torch.float64), u=torch.zeros(1, dtype=torch.float64)
        )
        z, state = izhikevich_feed_forward_step(torch.zeros(1, dtype=torch.float64), state, p)
        assert z.item() == 1.0
        assert state.v.item() == -65.0
        assert state.u.item() == pytest.approx(u_exp, abs=1e-12)


def test_golden_accommodation_law():
    """accomodation preset (a=0.02, b=1, tau_inv=500, so k = 0.5), v0 = −65, u0 = −16, I = 2:
    f = 0.04·4225 − 325 + 140 + 16 + 2 = 2, v1 = −65 + 1 = −64.
    standard,      simultaneous: u1 = −16 + 0.01·(−65 + 16) = −16.49
    standard,      sequential:   u1 = −16 + 0.01·(−64 + 16) = −16.48
    accommodation, simultaneous: u1 = −16 + 0.5·0.02·1·(−65 + 65) = −16
    accommodation, sequential:   u1 = −16 + 0.01·(−64 + 65) = −15.99
    """
    cases = {
        ("standard", "simultaneous"): -16.49,
        ("standard", "sequential"): -16.48,
        ("accommodation", "simultaneous"): -16.0,
        ("accommodation", "sequential"): -15.99,
    }
    for (law, order), u_exp in cases.items():
        p = izk.accommodation_p._replace(u_law=law, update_order=order)
        state = fresh(izk.accommodation, dtype=torch.float64)
        _, state = izhikevich_feed_forward_step(
            torch.full((1,), 2.0, dtype=torch.float64), state, p
        )
        assert state.v.item() == pytest.approx(-64.0, abs=1e-12)
        assert state.u.item() == pytest.approx(u_exp, abs=1e-12)


def test_variant_41_108():
    """class_1_exc: mn = 4.1, bias = 108, v0 = −60, u0 = 6, I = 0, k = 0.25:
    f = 0.04·3600 − 246 + 108 − 6 = 0, so v stays at −60 (it is the resting point)."""
    _, state = izhikevich_feed_forward_step(
        torch.zeros(1), fresh(izk.class_1_exc), izk.class_1_exc_p
    )
    assert state.v.item() == pytest.approx(-60.0, abs=1e-5)


def test_unknown_variants_raise():
    bad_order = izk.tonic_spiking_p._replace(update_order="backwards")
    with pytest.raises(ValueError, match="'simultaneous', 'sequential'"):
        izhikevich_feed_forward_step(torch.zeros(1), fresh(izk.tonic_spiking), bad_order)
    bad_law = izk.tonic_spiking_p._replace(u_law="weird")
    with pytest.raises(ValueError, match="'standard', 'accommodation'"):
        izhikevich_feed_forward_step(torch.zeros(1), fresh(izk.tonic_spiking), bad_law)
    with pytest.raises(ValueError, match="update_order"):
        IzhikevichCell(IzhikevichSpikingBehavior(bad_order, izk.tonic_spiking.s))
    with pytest.raises(ValueError, match="u_law"):
        IzhikevichRecurrent(1, 2, IzhikevichSpikingBehavior(bad_law, izk.tonic_spiking.s))


# --------------------------------------------------------------------------- Norse protocols


def _count(behavior, times, current):
    """Norse's functional test loop: one default step (dt = 0.001) per grid time ``t``."""
    p = behavior.p
    state = fresh(behavior)
    spikes = []
    for k, t in enumerate(times):
        z, state = izhikevich_feed_forward_step(torch.full((1,), float(current(t))), state, p)
        if z.item() > 0:
            spikes.append(k)
    return spikes


def _grid(end, step):
    return [k * step for k in range(round(end / step))]


def test_norse_protocol_spike_counts():
    """Spike counts of spec §3 "Our own run" (simultaneous order, Norse's tau_inv)."""
    ts = _grid(100, 0.25)
    spikes = _count(izk.tonic_spiking, ts, lambda t: 14 if t > ts[-1] / 10 else 0)
    assert len(spikes) == 5 and spikes[0] == 51
    ts = _grid(220, 0.25)
    assert len(_count(izk.tonic_bursting, ts, lambda t: 15 if t > 25 else 0)) == 29
    ts = _grid(200, 0.25)
    assert len(_count(izk.phasic_spiking, ts, lambda t: 0.5 if t > 20 else 0)) == 1
    assert len(_count(izk.phasic_bursting, ts, lambda t: 0.6 if t > 20 else 0)) == 7
    ts = _grid(160, 0.25)
    assert len(_count(izk.mixed_mode, ts, lambda t: 10 if t > ts[-1] / 10 else 0)) == 6
    ts = _grid(85, 0.25)
    sfa = _count(izk.spike_frequency_adaptation, ts, lambda t: 30 if t > ts[-1] / 10 else 0)
    assert len(sfa) == 6
    ts = _grid(50, 0.1)
    assert len(_count(izk.dap, ts, lambda t: 20 if abs(t - 10) < 1 else 0)) == 4
    ts = _grid(300, 0.25)
    assert len(_count(izk.class_1_exc, ts, lambda t: 0.075 * (t - 30) if t > 30 else 0)) == 10
    ramp2 = _count(izk.class_2_exc, ts, lambda t: -0.5 + 0.015 * (t - 30) if t > 30 else -0.5)
    assert len(ramp2) == 16


# --------------------------------------------------------------------------- published numerics


def _published(a, b, c, d, v0, u0, tau, t_end, current, dtype=torch.float64):
    """figure1.m's scheme: grid t = 0, τ, …, T_end inclusive, I from the grid time, v then u
    from the new v. Returns the grid times of the steps that reset (the script stores 30 there).
    """
    p = IzhikevichParameters(a, b, c, d, tau_inv=1.0, update_order="sequential")
    state = IzhikevichState(torch.tensor([v0], dtype=dtype), torch.tensor([u0], dtype=dtype))
    times = []
    for k in range(round(t_end / tau) + 1):
        t = k * tau
        z, state = izhikevich_feed_forward_step(
            torch.tensor([current(t)], dtype=dtype), state, p, tau
        )
        if z.item() > 0:
            times.append(t)
    return times


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_published_panel_a_tonic_spiking(dtype):
    """OSB's Octave reference (0-mV crossings): 13.0, 17.0, 31.25, 59.0, 86.75 ms."""
    times = _published(0.02, 0.2, -65, 6, -70, -14, 0.25, 100, lambda t: 14 if t > 10 else 0, dtype)
    reference = [13.0, 17.0, 31.25, 59.0, 86.75]
    assert len(times) == len(reference)
    for ours, ref in zip(times, reference, strict=True):
        assert abs(ours - ref) <= 0.25 + 1e-9


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_published_panel_c_tonic_bursting(dtype):
    """OSB: 28 spikes in 4 bursts of 10, 6, 6, 6; the first at 25.0 ms."""
    times = _published(0.02, 0.2, -50, 2, -70, -14, 0.25, 220, lambda t: 15 if t > 22 else 0, dtype)
    assert len(times) == 28
    assert abs(times[0] - 25.0) <= 0.25
    bursts = [1]
    for previous, current in zip(times, times[1:], strict=False):
        if current - previous > 10.0:
            bursts.append(1)
        else:
            bursts[-1] += 1
    assert bursts == [10, 6, 6, 6]


# --------------------------------------------------------------------------- modules


@pytest.mark.parametrize("name", PRESET_NAMES)
def test_module_shapes(name):
    behavior = IZHIKEVICH_PRESETS[name]
    cell = IzhikevichCell(behavior)
    z, state = cell(torch.ones(5, 2))
    assert z.shape == (5, 2) and state.v.shape == (5, 2) and state.u.shape == (5, 2)
    z, state = cell(torch.ones(3, 5, 2))
    assert z.shape == (3, 5, 2) and state.u.shape == (3, 5, 2)

    rcell = IzhikevichRecurrentCell(2, 4, behavior)
    z, state = rcell(torch.ones(5, 2))
    assert z.shape == (5, 4) and isinstance(state, IzhikevichRecurrentState)
    assert state.z.shape == state.v.shape == state.u.shape == (5, 4)
    z, state = rcell(torch.ones(3, 5, 2))
    assert z.shape == (3, 5, 4)

    layer = Izhikevich(behavior)
    z, state = layer(torch.ones(10, 5, 2))
    assert z.shape == (10, 5, 2) and state.v.shape == (5, 2) and state.u.shape == (5, 2)

    rlayer = IzhikevichRecurrent(2, 4, behavior)
    z, state = rlayer(torch.ones(10, 5, 2))
    assert z.shape == (10, 5, 4) and state.v.shape == (5, 4)


@pytest.mark.parametrize("name", PRESET_NAMES)
def test_recurrent_autapses(name):
    behavior = IZHIKEVICH_PRESETS[name]
    cell = IzhikevichRecurrentCell(
        2, 2, behavior, autapses=True, recurrent_weights=torch.ones(2, 2) * 0.01, dt=0.0001
    )
    assert not torch.allclose(torch.zeros(2), torch.diagonal(cell.recurrent_weights))
    s1 = IzhikevichRecurrentState(z=torch.ones(1, 2), v=torch.zeros(1, 2), u=torch.zeros(1, 2))
    _, s_full = cell(torch.zeros(1, 2), s1)
    s2 = IzhikevichRecurrentState(
        z=torch.tensor([[0.0, 1.0]]), v=torch.zeros(1, 2), u=torch.zeros(1, 2)
    )
    _, s_part = cell(torch.zeros(1, 2), s2)
    assert s_full.v[0, 0] != s_part.v[0, 0]


@pytest.mark.parametrize("name", PRESET_NAMES)
def test_recurrent_no_autapses(name):
    behavior = IZHIKEVICH_PRESETS[name]
    cell = IzhikevichRecurrentCell(
        2, 2, behavior, autapses=False, recurrent_weights=torch.ones(2, 2) * 0.01, dt=0.0001
    )
    assert torch.equal(torch.diagonal(cell.recurrent_weights), torch.zeros(2))
    s1 = IzhikevichRecurrentState(z=torch.ones(1, 2), v=torch.zeros(1, 2), u=torch.zeros(1, 2))
    _, s_full = cell(torch.zeros(1, 2), s1)
    s2 = IzhikevichRecurrentState(
        z=torch.tensor([[0.0, 1.0]]), v=torch.zeros(1, 2), u=torch.zeros(1, 2)
    )
    _, s_part = cell(torch.zeros(1, 2), s2)
    assert s_full.v[0, 0] == s_part.v[0, 0]


@pytest.mark.parametrize("name", PRESET_NAMES)
def test_backward(name):
    behavior = IZHIKEVICH_PRESETS[name]
    x = torch.ones(5, 2, requires_grad=True)
    cell = IzhikevichCell(behavior)
    z, state = cell(x)
    z, state = cell(x, state)
    (z.sum() + state.v.sum()).backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()

    rcell = IzhikevichRecurrentCell(2, 4, behavior)
    z, state = rcell(x)
    z, state = rcell(x, state)
    state.v.sum().backward()
    assert rcell.input_weights.grad is not None
    assert rcell.recurrent_weights.grad is not None


def test_gradient_reaches_parameters():
    p = izk.tonic_spiking_p._replace(a=torch.nn.Parameter(torch.tensor(0.02)))
    cell = IzhikevichCell(IzhikevichSpikingBehavior(p, izk.tonic_spiking.s))
    x = torch.full((3,), 10.0, requires_grad=True)
    state = None
    for _ in range(3):
        _, state = cell(x, state)
    state.u.sum().backward()
    assert cell.p.a.grad is not None and cell.p.a.grad.abs() > 0
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_surrogate_gradient_of_spike():
    p = izk.tonic_spiking_p
    v = torch.tensor([29.0], requires_grad=True)
    z, _ = izhikevich_feed_forward_step(torch.zeros(1), IzhikevichState(v, torch.zeros(1)), p)
    z.sum().backward()
    # dz/dv = SuperSpike(v1 − 30) · dv1/dv with v1 = 108.66, dv1/dv = 1 + 0.25·(0.08·29 + 5)
    surrogate = 1.0 / (100.0 * abs(108.66 - 30.0) + 1.0) ** 2
    assert v.grad.item() == pytest.approx(surrogate * (1 + 0.25 * (0.08 * 29 + 5)), rel=1e-4)


def test_state_not_shared_with_preset():
    behavior = izk.tonic_spiking
    v_before = behavior.s.v.detach().clone()
    u_before = behavior.s.u.clone()
    for module, x in (
        (IzhikevichCell(behavior), torch.full((4,), 20.0)),
        (Izhikevich(behavior), torch.full((50, 4), 20.0)),
        (IzhikevichRecurrentCell(4, 4, behavior), torch.ones(2, 4)),
        (IzhikevichRecurrent(4, 4, behavior), torch.ones(5, 2, 4)),
    ):
        initial = module.initial_state(x)
        assert initial.v is not behavior.s.v and initial.u is not behavior.s.u
        assert initial.v.data_ptr() != behavior.s.v.data_ptr()
        assert initial.u.data_ptr() != behavior.s.u.data_ptr()
        again = module.initial_state(x)
        assert again.v.data_ptr() != initial.v.data_ptr()
        _, state = module(x)
        with torch.no_grad():
            state.v.add_(1.0)
            state.u.add_(1.0)
        assert torch.equal(behavior.s.v.detach(), v_before)
        assert torch.equal(behavior.s.u, u_before)
    assert behavior.s.v.grad is None


def test_cell_initial_state_full_shape():
    cell = IzhikevichCell(izk.phasic_spiking)
    state = cell.initial_state(torch.zeros(3, 2))
    assert state.v.shape == (3, 2) and state.u.shape == (3, 2)
    assert torch.all(state.v == -64.0) and torch.allclose(state.u, torch.full((3, 2), -16.0))
    assert state.v.requires_grad


def test_cell_loop_equals_layer():
    x = torch.full((300, 3), 12.0) + torch.linspace(0, 3, 3)
    for order in ("simultaneous", "sequential"):
        p = izk.tonic_bursting_p._replace(update_order=order)
        behavior = IzhikevichSpikingBehavior(p, izk.tonic_bursting.s)
        layer = Izhikevich(behavior)
        cell = IzhikevichCell(behavior)
        z_layer, s_layer = layer(x)
        outputs, state = run_cell(cell, x)
        assert torch.equal(outputs, z_layer)
        assert torch.equal(state.v, s_layer.v) and torch.equal(state.u, s_layer.u)
        assert z_layer.sum() > 10


def test_recurrent_cell_loop_equals_layer():
    torch.manual_seed(0)
    layer, cell = recurrent_pair(
        IzhikevichRecurrent, IzhikevichRecurrentCell, 3, 4, izk.tonic_spiking
    )
    x = torch.rand(100, 2, 3) * 20
    z_layer, s_layer = layer(x)
    outputs, state = run_cell(cell, x)
    assert torch.equal(outputs, z_layer)
    assert torch.equal(state.v, s_layer.v)


def test_recurrent_step_matches_feed_forward_with_identity_input():
    p = izk.tonic_spiking_p
    ff = fresh(izk.tonic_spiking, (2, 3))
    rec = IzhikevichRecurrentState(torch.zeros(2, 3), ff.v.clone(), ff.u.clone())
    x = torch.full((2, 3), 14.0)
    for _ in range(80):
        z_ff, ff = izhikevich_feed_forward_step(x, ff, p)
        z_rec, rec = izhikevich_recurrent_step(x, rec, torch.eye(3), torch.zeros(3, 3), p)
        assert torch.equal(z_ff, z_rec)
    assert torch.allclose(ff.v, rec.v) and torch.allclose(ff.u, rec.u)


def test_per_neuron_parameters_and_dtype():
    p = izk.tonic_spiking_p._replace(d=torch.tensor([2.0, 8.0]))
    layer = Izhikevich(IzhikevichSpikingBehavior(p, izk.tonic_spiking.s)).to(torch.float64)
    assert layer.p.d.dtype == torch.float64 and layer.initial_v.dtype == torch.float64
    z, state = layer(torch.full((400, 2), 14.0, dtype=torch.float64))
    assert state.v.dtype == torch.float64 and state.u.dtype == torch.float64
    assert z[:, 0].sum() > z[:, 1].sum()  # a smaller after-spike jump of u fires more


def test_model_initial_state():
    p = izk.tonic_spiking_p
    state = izhikevich_initial_state((3, 2), p)
    assert state.v.shape == (3, 2) and state.u.shape == (3, 2)
    assert torch.all(state.v == -65.0) and torch.allclose(state.u, torch.full((3, 2), -13.0))
    other = MODEL.initial_state((3, 2), p, torch.float64, "cpu")
    assert other.v.dtype == torch.float64 and other.v.data_ptr() != state.v.data_ptr()
    per_neuron = izhikevich_initial_state((2,), p._replace(c=torch.tensor([-65.0, -50.0])))
    assert per_neuron.v.tolist() == [-65.0, -50.0]
    assert MODEL.name == "izhikevich" and MODEL.variables == ("v", "u")
    assert MODEL.feed_forward_step is izhikevich_feed_forward_step
    z, _ = MODEL.feed_forward_step(torch.zeros(3, 2), state, p, 0.001)
    assert z.shape == (3, 2)


def test_repr_and_model_extra():
    cell = IzhikevichCell(izk.tonic_spiking)
    assert repr(cell).startswith(f"IzhikevichCell(p={izk.tonic_spiking.p}")  # p as given
    assert "dt=0.001" in repr(cell)
    assert MODEL.extra["presets"] is IZHIKEVICH_PRESETS
    assert MODEL.extra["update_orders"] == ("simultaneous", "sequential")
    assert MODEL.extra["u_laws"] == ("standard", "accommodation")


@cuda
@pytest.mark.cuda
def test_cuda():
    layer = Izhikevich(izk.tonic_spiking).cuda()
    z, state = layer(torch.full((200, 3), 14.0, device="cuda"))
    assert z.is_cuda and state.v.is_cuda
    cpu_z, _ = Izhikevich(izk.tonic_spiking)(torch.full((200, 3), 14.0))
    # GPU arithmetic may contract to FMA: allow one spike of difference per neuron
    assert (z.cpu().sum(0) - cpu_z.sum(0)).abs().max() <= 1
    rcell = IzhikevichRecurrentCell(3, 4, izk.tonic_spiking).cuda()
    z, state = rcell(torch.ones(2, 3, device="cuda"))
    assert z.is_cuda and state.u.is_cuda
