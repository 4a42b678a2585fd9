"""Models know their units: descriptions, currents that are currents, dt-invariant rates.

The dt-halving tolerance (forward Euler, spikes detected on the grid). For a neuron that
integrates a constant drive to threshold, the Euler crossing time is the exact one plus
``-(L/2)·dt + O(dt²)`` (``L = ln((V∞ − V_r)/(V∞ − θ))`` for the LIF; for any smooth model some
``c·dt`` with ``c`` of order one), and detecting the crossing on the grid delays each spike by
``δ·dt`` with ``δ ∈ [0, 1)``. So ``|ISI_dt − ISI| ≤ (1 + L/2)·dt`` to first order, and the
rates at ``dt`` and ``dt/2`` differ by at most ``ν²·(1 + L/2)·(dt + dt/2)``. Counting spikes
in a window of ``T`` adds at most one spike of quantisation to each count, ``2/T`` in rate.
With ``L ≤ 4`` (the drives below are at least 2 % above rheobase) the bound used is
``ν²·3·1.5·dt + 2/T``. A model with a rate set by the step (a spike every step) would double
its rate when dt halves and fail this by orders of magnitude.

Under white noise the same bound holds for the mean rate of a population (the noise has a
dt-independent intensity ``std²`` per ms only if it is scaled by ``1/√dt``; unscaled it would
change the rate by far more), plus the sampling error of the mean rate of ``n`` neurons over
``T`` (Poisson-like counts: ``3·√(ν/(n·T))`` for three standard deviations of the difference).
"""

from __future__ import annotations

import math

import h5py
import numpy as np
import pytest

from simctl import models

SPIKING = [
    "lif",
    "lif_refrac",
    "iaf",
    "coba_lif",
    "lif_adex",
    "lif_adex_refrac",
    "lif_ex",
    "lif_box",
    "lif_mc",
    "lif_mc_refrac",
    "lsnn",
    "izhikevich",
]


def _rate(sim, *overrides):
    path = sim(*overrides)
    with h5py.File(path, "r") as f:
        (name,) = list(f["summary"])
        return float(np.mean(f["summary"][name]["rate_hz"][()]))


@pytest.mark.parametrize("neuron", SPIKING)
def test_rate_under_a_constant_current_does_not_depend_on_dt(sim, neuron):
    t_ms = 1000.0
    dt = 0.1
    rates = [
        _rate(
            sim,
            f"neuron={neuron}",
            "input=constant",
            f"simulation.dt={step}",
            f"simulation.duration={t_ms}",
            "simulation.dtype=float64",
        )
        for step in (dt, dt / 2)
    ]
    nu = max(rates) / 1000.0  # per ms
    bound_hz = (nu**2 * 3 * 1.5 * dt) * 1000.0 + 2 / (t_ms / 1000.0)
    assert 5 <= rates[0] <= 60, f"{neuron}: the default drive gives {rates[0]} Hz"
    assert abs(rates[0] - rates[1]) <= bound_hz, (neuron, rates, bound_hz)


@pytest.mark.parametrize("neuron", ["lif", "lif_refrac", "coba_lif", "izhikevich", "iaf"])
def test_rate_under_white_noise_does_not_depend_on_dt(sim, neuron):
    t_ms, n, dt = 1000.0, 200, 0.1
    rates = [
        _rate(
            sim,
            f"neuron={neuron}",
            "input=noise",
            f"population.size={n}",
            f"simulation.dt={step}",
            f"simulation.duration={t_ms}",
            "simulation.dtype=float64",
            "record.neurons=0",
        )
        for step in (dt, dt / 2)
    ]
    nu = max(rates) / 1000.0
    sampling_hz = 3 * math.sqrt(2 * max(rates) / (n * t_ms / 1000.0))
    bound_hz = (nu**2 * 3 * 1.5 * dt) * 1000.0 + 2 / (t_ms / 1000.0) + sampling_hz
    assert rates[0] > 1, f"{neuron}: the default noise drive gives {rates[0]} Hz"
    assert abs(rates[0] - rates[1]) <= bound_hz, (neuron, rates, bound_hz)


def test_unscaled_noise_would_fail_the_bound(sim):
    """The bound above discriminates: the same noise with its per-step std held fixed (not
    scaled by 1/√dt) changes the rate by more than the bound."""
    t_ms, n = 1000.0, 200
    rates = []
    for step in (0.1, 0.05):
        std = 15.0 / math.sqrt(0.1)  # per-step std of dt = 0.1, kept at dt = 0.05
        rates.append(
            _rate(
                sim,
                "neuron=lif",
                "input=noise",
                f"input.std={std * math.sqrt(step)}",
                f"population.size={n}",
                f"simulation.dt={step}",
                f"simulation.duration={t_ms}",
                "record.neurons=0",
            )
        )
    nu = max(rates) / 1000.0
    bound_hz = (nu**2 * 3 * 1.5 * 0.1) * 1000.0 + 2 + 3 * math.sqrt(2 * max(rates) / n)
    assert abs(rates[0] - rates[1]) > bound_hz, (rates, bound_hz)


@pytest.mark.parametrize("amplitude", [0.16, 0.35, 0.7])
def test_iaf_rate_equals_its_closed_form(sim, amplitude):
    """dv/dt = I from v_reset; a spike when v > v_th after the step: the n-th step has
    v = v_reset + n·I·dt, so n = floor((v_th − v_reset)/(I·dt)) + 1 steps per spike
    (amplitudes where the ratio is not a whole number: at a whole number the float sum
    decides)."""
    dt, t_ms = 0.1, 1000.0
    v_th, v_reset = -55.0, -70.0
    rate = _rate(
        sim,
        "neuron=iaf",
        "input=constant",
        f"input.amplitude={amplitude}",
        f"simulation.dt={dt}",
        f"simulation.duration={t_ms}",
        "simulation.dtype=float64",
    )
    steps = math.floor((v_th - v_reset) / (amplitude * dt) + 1e-9) + 1
    expected = math.floor(round(t_ms / dt) / steps) / (t_ms / 1000.0)
    assert rate == pytest.approx(expected, abs=1e-9)
    # the discrete interval is within one step of the continuous one, (v_th − v_reset)/I
    assert 0 <= steps * dt - (v_th - v_reset) / amplitude < dt


def test_refractory_period_is_in_ms(sim):
    """t_ref = 2 ms holds the voltage for 2 ms after the spike step at every dt (20 steps at
    0.1 ms, 40 at 0.05 ms); the parameters in sim.h5 say both."""
    import json

    for dt, steps in ((0.1, 20), (0.05, 40)):
        path = sim("neuron=lif_refrac", "input=constant", f"simulation.dt={dt}")
        with h5py.File(path, "r") as f:
            params = json.loads(f["populations/lif_refrac"].attrs["parameters_json"])
        assert params["t_ref"] == 2.0
        assert params["rho_reset"] == steps


def test_t_ref_must_be_whole_steps(tmp_path):
    from conftest import resolve_overrides

    from simctl.config import ConfigError

    with pytest.raises(ConfigError) as info:
        resolve_overrides("neuron=lif_refrac", "simulation.dt=0.3")
    assert "neuron.t_ref" in info.value.line()
    assert "multiple of 0.3 ms" in info.value.line()


def test_izhikevich_current_is_unchanged():
    """Izhikevich's library step already reads a current: the CLI drives it with that step,
    so the published numerics (the preset tests) hold exactly."""
    from simctl.registry import drive, get_model

    model = get_model("izhikevich")
    assert drive(model, spikes=False).feed_forward_step is model.feed_forward_step


def test_every_parameter_has_a_unit_and_bounds():
    """Every numeric key of every neuron option has a unit and bounds in its model's
    description; every string key has choices; every recorded variable has a unit."""
    from omegaconf import OmegaConf

    from simctl.config.resolve import package_config_dir

    def leaves(node, prefix=""):
        for key, value in node.items():
            if key in ("model", "params_dist"):
                continue
            if isinstance(value, dict):
                yield from leaves(value, f"{prefix}{key}.")
            else:
                yield f"{prefix}{key}", value

    for path in sorted((package_config_dir() / "neuron").glob("*.yaml")):
        data = OmegaConf.to_container(OmegaConf.load(path))
        described = models.describe(data["model"])
        for key, value in leaves(data):
            spec = described["parameters"].get(key)
            assert spec is not None, f"{path.name}: {key} has no description"
            if isinstance(value, str):
                assert spec.get("choices"), f"{path.name}: {key} has no choices"
                assert value in spec["choices"]
            else:
                assert spec.get("unit"), f"{path.name}: {key} has no unit"
                assert "interval" in spec, f"{path.name}: {key} has no bounds"
                if value is not None:
                    assert value in spec["interval"], f"{path.name}: default {key}={value}"
        assert described["current"]["unit"]
        assert described["jumps"], data["model"]


def test_descriptions_match_the_library_models():
    from simctl.registry import get_model

    for name in models.model_names():
        model = get_model(name)
        described = models.describe(name)
        assert set(model.variables) <= set(described["state"]), name
        assert described["voltage"] == model.voltage, name
        for path in described["jumps"]:
            assert path in described["state"], (name, path)
        assert described["default_jump"] in described["jumps"], name


def test_surrogate_choices_match_the_library():
    from simctl.neurons.threshold import THRESHOLD_METHODS

    assert tuple(models.SURROGATE_METHODS) == tuple(THRESHOLD_METHODS)


@pytest.mark.parametrize(
    "override, key, allowed",
    [
        ("neuron.tau_mem_inv=-0.1", "neuron.tau_mem_inv", "> 0 1/ms"),
        ("neuron.alpha=0", "neuron.alpha", "> 0"),
        ("neuron.method=bogus", "neuron.method", "super"),
    ],
)
def test_out_of_bounds_values_are_one_line_errors(override, key, allowed):
    from conftest import run_cli

    result = run_cli("run", "neuron=lif", override, "plot.enabled=false")
    assert result.returncode == 2
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert key in lines[0] and allowed in lines[0]
    assert "Traceback" not in result.stderr


def test_units_reach_the_file(sim):
    path = sim("neuron=coba_lif", "input=constant")
    with h5py.File(path, "r") as f:
        assert f["state/coba_lif/v"].attrs["units"] == "mV"
        assert f["state/coba_lif/g_e"].attrs["units"] == "uS"
        assert f["input/coba_lif/current"].attrs["units"] == "nA"


def test_a_runaway_population_is_named(sim, tmp_path):
    import json

    path = sim("neuron=lif", "input=constant", "input.amplitude=100000", "simulation.dt=0.1")
    summary = json.loads((path.parent / "summary.json").read_text())
    (row,) = summary["populations"]
    assert "far too strong" in row["warning"]


def test_descriptions_are_read_without_torch():
    import subprocess
    import sys

    code = (
        "import sys, simctl.models as m; m.describe('lif'); "
        "assert 'torch' not in sys.modules, 'torch imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_the_backend_of_each_population_is_recorded(sim, monkeypatch):
    from simctl.kernels.cbuild import compiler

    path = sim("neuron=lif", "input=constant")
    with h5py.File(path, "r") as f:
        attrs = dict(f["populations/lif"].attrs)
    assert attrs["backend"] == ("c" if compiler() else "reference")
    monkeypatch.setenv("SIMCTL_KERNELS", "reference")
    path = sim("neuron=lif", "input=constant")
    with h5py.File(path, "r") as f:
        attrs = dict(f["populations/lif"].attrs)
    assert attrs["backend"] == "reference" and attrs["backend_reason"] == "selected"
    assert attrs["warning"] == ""


def test_run_help_shows_the_neurons_units():
    from conftest import run_cli

    result = run_cli("run", "neuron=coba_lif", "--help")
    assert result.returncode == 0, result.stderr
    assert "neuron.g_l" in result.stdout and "uS" in result.stdout
    assert "a current in nA into v" in result.stdout
