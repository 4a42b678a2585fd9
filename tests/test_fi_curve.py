"""LIF f-I curve: closed form, the exact forward-Euler formula and simctl's ``lif_refrac``.

Closed form: Gerstner, Kistler, Naud, Paninski (2014) Neuronal Dynamics Sec. 1.3.
Parameter set (A): tau_m = 10 ms, E_L = 0, theta = 20 mV, V_r = 0,
t_ref = 2 ms, R*I in mV. The library neuron is driven directly by the current: with
``tau_syn_inv = 1/dt`` the synaptic current is emptied every step (``i2 = i1 - 1*i1 = 0``), so
each step sees exactly the input ``I``.
"""

import math

import numpy as np
import pytest
import torch

from simctl.fi_curve import (
    euler_error_bound,
    isi_closed_form,
    rate_closed_form,
    rate_euler,
    rheobase,
    steps_to_threshold,
)
from simctl.neurons.lif import LIFParameters
from simctl.neurons.lif_refrac import (
    LIFRefracParameters,
    lif_refrac_feed_forward_step,
    lif_refrac_initial_state,
)

TAU, THETA, V_R, T_REF = 10.0, 20.0, 0.0, 2.0


def simulate_rates(currents: np.ndarray, dt: float, duration: float) -> np.ndarray:
    """Steady rate (Hz) of lif_refrac from the last inter-spike interval, float64."""
    p = LIFRefracParameters(
        lif=LIFParameters(
            tau_syn_inv=1.0 / dt, tau_mem_inv=1.0 / TAU, v_leak=0.0, v_th=THETA, v_reset=V_R
        ),
        rho_reset=round(T_REF / dt),
    )
    x = torch.as_tensor(currents, dtype=torch.float64)
    state = lif_refrac_initial_state(x.shape, p, dtype=torch.float64)
    last = np.full(x.shape, np.nan)
    isi = np.full(x.shape, np.nan)
    with torch.no_grad():
        for k in range(round(duration / dt)):
            z, state = lif_refrac_feed_forward_step(x, state, p, dt)
            fired = z.numpy() > 0
            t = (k + 1) * dt
            isi[fired] = t - last[fired]
            last[fired] = t
    rate = 1000.0 / isi
    return np.where(np.isnan(rate), 0.0, rate)


def test_rheobase_and_closed_form_values():
    assert rheobase(0.0, THETA, 1.0) == 20.0
    # N set: E_L -70, theta -50, R 10 MOhm -> rheobase 2 nA (R*I in mV with I in nA: R=10)
    assert rheobase(-70.0, -50.0, 10.0) == pytest.approx(2.0)
    r = rate_closed_form(np.array([10.0, 20.0, 40.0]), TAU, THETA, V_R, T_REF)
    expect = 1000.0 / (T_REF + TAU * math.log(40.0 / 20.0))
    assert r[0] == 0.0 and r[1] == 0.0 and r[2] == pytest.approx(expect)
    # large drive -> 1/t_ref
    assert rate_closed_form(1e9, TAU, THETA, V_R, T_REF) == pytest.approx(500.0, rel=1e-6)
    assert math.isinf(float(isi_closed_form(THETA, TAU, THETA, V_R, T_REF)))


def test_steps_to_threshold_matches_a_direct_iteration():
    dt = 0.1
    for drive in (20.5, 25.0, 33.3, 80.0, 400.0):
        v, n = V_R, 0
        while True:
            v = v + (dt / TAU) * (drive - v)
            n += 1
            if v > THETA:
                break
        assert steps_to_threshold(drive, TAU, THETA, V_R, dt) == n


@pytest.mark.parametrize("dt", [0.1, 0.05, 0.025])
def test_library_rate_equals_discrete_formula(dt):
    currents = np.linspace(0.0, 100.0, 41)
    sim = simulate_rates(currents, dt, duration=300.0)
    theory = rate_euler(currents, TAU, THETA, V_R, T_REF, dt)
    # near rheobase the interval exceeds the run: those neurons fire at most once
    long = 1000.0 / np.where(theory > 0, theory, 1e-9) > 140.0
    np.testing.assert_allclose(sim[~long], theory[~long], rtol=1e-12)
    assert np.all(sim[currents <= THETA] == 0.0)


def test_convergence_is_first_order_in_dt():
    currents = np.linspace(22.0, 120.0, 197)
    exact = rate_closed_form(currents, TAU, THETA, V_R, T_REF)
    dts = [0.2, 0.1, 0.05, 0.025, 0.0125, 0.00625]
    errors = [
        float(np.sqrt(np.mean((rate_euler(currents, TAU, THETA, V_R, T_REF, dt) - exact) ** 2)))
        for dt in dts
    ]
    slope = np.polyfit(np.log(dts), np.log(errors), 1)[0]
    assert 0.85 < slope < 1.15, (slope, errors)
    # the textbook bound |nu_E - nu| <~ nu^2 dt (1 + L/2), with a margin for the O(dt^2) terms
    for dt in dts:
        e = np.abs(rate_euler(currents, TAU, THETA, V_R, T_REF, dt) - exact)
        L = np.log((currents - V_R) / (currents - THETA))
        bound = (exact / 1000.0) ** 2 * dt * (1 + L / 2) * 1000.0
        assert np.all(e <= 1.05 * bound + 1e-9)
        # the library's bound (lif_fi_curve's check) is this formula, and 0 below rheobase
        np.testing.assert_allclose(
            euler_error_bound(currents, TAU, THETA, V_R, T_REF, dt), bound, rtol=1e-12
        )
    assert np.all(euler_error_bound(np.array([0.0, THETA]), TAU, THETA, V_R, T_REF, 0.1) == 0)


def test_rate_euler_rejects_inconsistent_steps():
    with pytest.raises(ValueError, match="whole number"):
        rate_euler(30.0, TAU, THETA, V_R, 2.0, 0.3)
    with pytest.raises(ValueError, match="dt < tau_m"):
        steps_to_threshold(30.0, TAU, THETA, V_R, 20.0)


def _fi_experiment(tmp_path, *overrides):
    """``experiment=lif_fi_curve`` in-process (run and finish); returns the rows of fi_curve.csv
    and the run's dt."""
    import csv

    from conftest import compose_cfg

    from simctl.app import simulate
    from simctl.experiments import finish
    from simctl.recording import load_run

    cfg = compose_cfg("experiment=lif_fi_curve", "plot.enabled=false", *overrides)
    h5 = simulate(cfg, tmp_path, {}, config_dirs=[])
    finish(cfg, tmp_path, h5)
    with open(tmp_path / "fi_curve.csv") as fh:
        rows = list(csv.DictReader(fh))
    pop = load_run(h5).populations["lif"]
    assert "t_ref" in pop.attrs["parameters_json"]
    return rows, pop.dt


@pytest.mark.parametrize(
    "overrides, t_ref",
    [
        # t_ref stays 2 ms at every dt (t_ref/dt steps)
        (("simulation.dt=0.05",), 2.0),
        (("simulation.dt=0.08",), 2.0),
    ],
)
def test_fi_experiment_is_direct_drive_for_any_dt(tmp_path, overrides, t_ref):
    """A current protocol is a current into the membrane at any dt: the experiment's rates
    equal the exact forward-Euler formula on the new grid."""
    rows, dt = _fi_experiment(tmp_path, *overrides)
    assert dt == float(overrides[0].split("=")[1])
    current = np.array([float(r["current"]) for r in rows])
    rate = np.array([float(r["rate_hz"]) for r in rows])
    np.testing.assert_allclose(rate, rate_euler(current, TAU, THETA, V_R, t_ref, dt), rtol=1e-9)
    assert np.all(rate[current <= THETA] == 0.0)


def test_current_drive_ignores_tau_syn_and_leaves_no_current():
    """The registry's current drive: whatever tau_syn_inv, each step sees exactly the input in
    the membrane equation and no synaptic current builds up (the same numbers as the library
    step with tau_syn_inv = 1/dt, where that is exact)."""
    from simctl.registry import drive, get_model

    model = drive(get_model("lif_refrac"), spikes=False)
    assert model is drive(get_model("lif_refrac"), spikes=False)  # kernels memoise on it
    dt = 0.1
    x = torch.linspace(0.0, 80.0, 81, dtype=torch.float64)
    outs = []
    for tau_syn_inv in (0.5, 1.0 / dt):
        p = LIFRefracParameters(
            lif=LIFParameters(
                tau_syn_inv=tau_syn_inv, tau_mem_inv=0.1, v_leak=0.0, v_th=THETA, v_reset=V_R
            ),
            rho_reset=20.0,
        )
        state = model.initial_state(x.shape, p, torch.float64, "cpu")
        zs = []
        for _ in range(300):
            z, state = model.feed_forward_step(x, state, p, dt)
            zs.append(z)
            assert torch.all(state.lif.i == 0)
        outs.append((torch.stack(zs), state.lif.v))
        # the plain model with tau_syn_inv = 1/dt (exact at dt = 0.1) gives the same numbers
    ref_state = lif_refrac_initial_state(x.shape, p, dtype=torch.float64)
    ref = []
    for _ in range(300):
        z, ref_state = lif_refrac_feed_forward_step(x, ref_state, p, dt)
        ref.append(z)
    for zs, v in outs:
        assert torch.equal(zs, torch.stack(ref)) and torch.equal(v, ref_state.lif.v)


def brian2_rates(currents: np.ndarray, dt: float, t_ref: float, duration: float) -> np.ndarray:
    """A NumPy transcription of Brian2's scheduling for ``refractory=t_ref`` with the
    ``(unless refractory)`` flag on v: each step, (1) v is integrated by forward Euler where
    ``not_refractory``; (2) threshold ``v > theta`` (simctl's strict threshold); (3) reset and
    ``lastspike = t``; (4) at the next step ``not_refractory = t - lastspike >= t_ref``,
    compared in whole steps. The spike is stamped at the step's time t_k."""
    x = np.asarray(currents, dtype=np.float64)
    v = np.zeros_like(x)
    n_ref = round(t_ref / dt)
    last = np.full(x.shape, -(10**9))
    isi = np.full(x.shape, np.nan)
    for k in range(round(duration / dt)):
        free = (k - last) >= n_ref
        v = np.where(free, v + (dt / TAU) * (x - v), v)
        fired = v > THETA
        isi[fired] = (k - last[fired]) * dt
        last[fired] = k
        v[fired] = V_R
    rate = 1000.0 / isi
    return np.where(np.isnan(rate) | (isi > duration), 0.0, rate)


@pytest.mark.parametrize("dt", [0.1, 0.05])
def test_each_refractory_convention_matches_its_closed_form(dt):
    """simctl's lif_refrac matches ``rate_euler(convention="simctl")`` (spike step plus n_ref
    held steps) and Brian2's scheduling matches ``convention="brian2"`` (one step fewer); so
    simctl's ``rho_reset = n`` runs Brian2's ``refractory = (n + 1) dt``."""
    currents = np.linspace(25.0, 100.0, 16)
    simctl_rate = rate_euler(currents, TAU, THETA, V_R, T_REF, dt, convention="simctl")
    brian2_rate = rate_euler(currents, TAU, THETA, V_R, T_REF, dt, convention="brian2")
    np.testing.assert_allclose(simulate_rates(currents, dt, 300.0), simctl_rate, rtol=1e-12)
    np.testing.assert_allclose(brian2_rates(currents, dt, T_REF, 300.0), brian2_rate, rtol=1e-12)
    # one step fewer per period
    np.testing.assert_allclose(1000.0 / brian2_rate, 1000.0 / simctl_rate - dt, rtol=1e-12)
    np.testing.assert_allclose(
        rate_euler(currents, TAU, THETA, V_R, T_REF + dt, dt, convention="brian2"),
        simctl_rate,
        rtol=1e-12,
    )
    with pytest.raises(ValueError, match="convention='nest'; allowed: simctl, brian2"):
        rate_euler(30.0, TAU, THETA, V_R, T_REF, dt, convention="nest")


def test_fi_experiment_brian2_convention_option(tmp_path):
    """``experiment.options.refractory_convention=brian2`` reads the same run as Brian2's
    neuron with t_ref one step longer; the exact-formula check still holds."""
    import csv

    rows, dt = _fi_experiment(tmp_path, "experiment.options.refractory_convention=brian2")
    with open(tmp_path / "checks.csv") as fh:
        checks = list(csv.DictReader(fh))
    assert all(c["holds"] == "true" for c in checks), checks
    assert "brian2 refractory" in checks[0]["check"]
    theory = np.array([float(r["rate_theory_hz"]) for r in rows])
    current = np.array([float(r["current"]) for r in rows])
    expected = rate_closed_form(current, TAU, THETA, V_R, T_REF + dt)
    np.testing.assert_allclose(theory, expected, rtol=1e-12)
