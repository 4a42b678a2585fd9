"""Every option of every config group composes and validates; presets carry the paper's data."""

from __future__ import annotations

import importlib

import pytest
from conftest import resolve_overrides

from simctl.config import ConfigError, list_options, load_preset, search_dirs
from simctl.config.schema import ENCODERS, INPUTS
from simctl.models import describe

NEURONS = list_options("neuron")
PRESETS = list_options("preset")
INPUT_OPTIONS = list_options("input")
ENCODER_OPTIONS = list_options("encoder")
SIMULATIONS = list_options("simulation")
EXPERIMENTS = list_options("experiment")


def _model_of(preset: str) -> str:
    return load_preset(preset, search_dirs())["preset_info"]["model"]


@pytest.mark.parametrize("name", NEURONS)
def test_neuron_option_composes_and_matches_the_library(name):
    spec = resolve_overrides(f"neuron={name}", "input=constant")
    pop = spec.populations[0]
    assert pop.model == name and pop.name == name
    module = importlib.import_module(f"simctl.neurons.{name}")
    model = getattr(module, "MODEL", None)
    if model is None:
        pytest.skip(f"simctl.neurons.{name} has no MODEL yet")
    fields = set(model.parameters._fields)
    refractory = describe(name).get("refractory") or {}
    fields |= {refractory["config_key"]} if refractory else set()  # ms in configs, steps inside
    assert set(pop.params) <= fields, f"neuron/{name}.yaml keys not in {model.parameters.__name__}"


@pytest.mark.parametrize("name", PRESETS)
def test_preset_composes_with_its_neuron(name):
    model = _model_of(name)
    spec = resolve_overrides(f"neuron={model}", f"preset={name}")
    pop = spec.populations[0]
    assert pop.preset == name and pop.model == model
    assert pop.n_steps > 0 and pop.dt > 0
    info = load_preset(name, search_dirs())["preset_info"]
    assert info["source"], "every preset cites its source"


@pytest.mark.parametrize("name", INPUT_OPTIONS)
def test_input_option(name):
    spec = resolve_overrides(f"input={name}")
    assert spec.populations[0].input.protocol == name


@pytest.mark.parametrize("name", ENCODER_OPTIONS)
def test_encoder_option(name):
    spec = resolve_overrides(f"encoder={name}", "input=constant", "input.amplitude=0.5")
    assert spec.populations[0].encoder.name == name


@pytest.mark.parametrize("name", SIMULATIONS)
def test_simulation_option(name):
    assert resolve_overrides(f"simulation={name}").simulation.dt > 0


@pytest.mark.parametrize("name", EXPERIMENTS)
def test_experiment_option(name):
    spec = resolve_overrides(f"experiment={name}")
    assert spec.experiment is not None and spec.populations


def test_groups_cover_the_contract():
    assert {
        "izhikevich",
        "lif",
        "iaf",
        "li",
        "lif_box",
        "coba_lif",
        "lif_adex",
        "lif_ex",
        "lif_refrac",
        "lif_mc",
        "lsnn",
    } <= set(NEURONS)
    assert set(INPUTS) == set(INPUT_OPTIONS)
    assert set(ENCODERS) == set(ENCODER_OPTIONS)
    panels = [
        "tonic_spiking",
        "phasic_spiking",
        "tonic_bursting",
        "phasic_bursting",
        "mixed_mode",
        "spike_frequency_adaptation",
        "class_1_exc",
        "class_2_exc",
        "spike_latency",
        "subthreshold_oscillation",
        "resonator",
        "integrator",
        "rebound_spike",
        "rebound_burst",
        "threshold_variability",
        "bistability",
        "dap",
        "accomodation",
        "accommodation",
        "inhibition_induced_spiking",
        "inhibition_induced_bursting",
    ]
    assert set(panels) | {"rs", "ib", "ch", "fs", "tc", "rz", "lts", "bursting"} <= set(PRESETS)


def test_preset_values_and_overrides_win():
    pop = resolve_overrides("preset=tonic_spiking").populations[0]
    assert (pop.dt, pop.n_steps) == (0.25, 401)  # 0:0.25:100 inclusive
    assert pop.params["a"] == 0.02 and pop.params["update_order"] == "sequential"
    assert pop.initial_state == {"v": -70.0, "u": -14.0}
    assert (pop.input.amplitude, pop.input.start, pop.input.include_start) == (14.0, 10.0, False)
    pop = resolve_overrides(
        "preset=tonic_spiking", "simulation.dt=0.1", "input.amplitude=5", "neuron.a=0.03"
    ).populations[0]
    assert (pop.dt, pop.n_steps, pop.input.amplitude, pop.params["a"]) == (0.1, 1001, 5.0, 0.03)
    pop = resolve_overrides("preset=accommodation").populations[0]
    assert pop.params["u_law"] == "accommodation" and pop.dt == 0.5
    pop = resolve_overrides("preset=class_1_exc").populations[0]
    assert (pop.params["mn"], pop.params["bias"]) == (4.1, 108.0)


def test_published_step_sizes():
    expected = {
        "phasic_bursting": 0.2,
        "spike_latency": 0.2,
        "rebound_spike": 0.2,
        "rebound_burst": 0.2,
        "dap": 0.1,
        "accommodation": 0.5,
        "inhibition_induced_spiking": 0.5,
        "inhibition_induced_bursting": 0.5,
        "tonic_spiking": 0.25,
    }
    for name, dt in expected.items():
        assert resolve_overrides(f"preset={name}").populations[0].dt == dt, name


def test_populations_long_form_with_presets():
    spec = resolve_overrides(
        "+populations.a.preset=tonic_spiking",
        "+populations.b.preset=dap",
        "+populations.c.size=3",
        "+populations.b.neuron.d=-20",
    )
    a, b, c = spec.populations
    assert (a.name, a.dt, a.n_steps) == ("a", 0.25, 401)
    assert (b.dt, b.params["d"], b.params["a"]) == (0.1, -20.0, 1.0)
    assert c.size == 3 and c.preset == "" and c.model == "izhikevich"
    with pytest.raises(ConfigError, match="populations.x.preset"):
        resolve_overrides("+populations.x.preset=nope")
    with pytest.raises(ConfigError, match="is a preset for neuron=izhikevich"):
        resolve_overrides("+populations.x.preset=dap", "+populations.x.neuron=lif")


def test_short_form_name_and_params_dist():
    pop = resolve_overrides("preset=bursting").populations[0]
    assert pop.name == "bursting" and pop.size == 10 and pop.params_dist["d"]["dist"] == "linspace"
    pop = resolve_overrides("population.name=cells").populations[0]
    assert pop.name == "cells"


@pytest.mark.parametrize(
    "overrides, key",
    [
        (["neuron=lif", "preset=tonic_spiking"], "preset=tonic_spiking"),
        (["simulation.dt=-1"], "simulation.dt"),
        (["simulation.duration=0"], "simulation.duration"),
        (["simulation.dtype=float16"], "simulation.dtype"),
        (["simulation.device=tpu"], "simulation.device"),
        (["input.amplitude=abc"], "input.amplitude"),
        (["record.every=0"], "record.every"),
        (["neuron.update_order=sideways"], "neuron.update_order"),
        (["+neuron.params_dist.a.dist=cauchy"], "neuron.params_dist.a.dist"),
        (["input=noise", "input.kind=pink"], "input.kind"),
        (["input=pulses", "input.width=0"], "input.width"),
        (["+population.initial_state.v.dist=uniform"], "population.initial_state.v.low"),
        # negative rates and widths, infinities, impossible record/plot settings
        (["input.amplitude=inf"], "input.amplitude=inf"),
        (["encoder=poisson", "encoder.f_max=-5"], "encoder.f_max"),
        (["input=noise", "input.std=-1"], "input.std"),
        (["input=sine", "input.frequency=-1"], "input.frequency"),
        (["input=pulses", "input.count=-1"], "input.count"),
        (["encoder=constant_current_lif", "encoder.tau_mem_inv=0"], "encoder.tau_mem_inv"),
        (["simulation.block_ms=0"], "simulation.block_ms"),
        (["plot.dpi=0"], "plot.dpi"),
        (["plot.max_traces=-1"], "plot.max_traces"),
        (["plot.rate_bin_ms=-1"], "plot.rate_bin_ms"),
        (["record.neurons=[5]"], "record.neurons=[5]"),
        (["population.size=3", "record.neurons=[1,1]"], "record.neurons"),
        (["population.size=1e12"], "population.size=1000000000000"),
        (["population.name=a/b"], "population.name=a/b"),
        (["simulation.seed=99999999999999999999999"], "simulation.seed"),
        (["+neuron.params_dist.d={dist: choice, values: []}"], "neuron.params_dist.d.values"),
        # a step longer than the run (one step would run to t = dt), windows that are never on
        (["simulation.dt=10", "simulation.duration=1"], "simulation.dt=10.0: is longer than"),
        (["+populations.A.dt=5", "+populations.A.duration=1"], "populations.A.dt=5.0: is longer"),
        (["input.start=50", "input.stop=10"], "input.stop=10.0: is before input.start = 50 ms"),
        (["input=ramp", "input.start=50", "input.stop=10"], "input.stop=10.0: is before"),
        (["input=piecewise", "input.segments=[{start: 10, end: 5}]"], "input.segments[0].end=5.0"),
        (
            ["population.size=5", "neuron.params_dist={d: {dist: uniform, low: 8, high: 2}}"],
            "neuron.params_dist.d.high=2.0: is below neuron.params_dist.d.low = 8",
        ),
        # a close spelling of what is allowed is named
        (
            ["simulation.device=CPU"],
            "simulation.device=CPU: not a valid choice (did you mean cpu?)",
        ),
        (["encoder=poisson", "+encoder.f_mx=1"], "unknown key in encoder (did you mean f_max?)"),
        (["+populations.A.preset=tonic_spikin"], "unknown preset (did you mean tonic_spiking?)"),
        (["neuron=lif", "+neuron.v_thr=1"], "unknown parameter of neuron=lif (did you mean v_th?)"),
    ],
)
def test_bad_values_are_one_line_errors(overrides, key):
    with pytest.raises(ConfigError) as info:
        resolve_overrides(*overrides)
    line = info.value.line()
    assert "\n" not in line and key in line


def test_edges_of_the_new_checks_are_allowed():
    """dt equal to the duration is one step; a window may open and close at one time; a
    linspace may run downwards; a far spelling gets no suggestion."""
    pop = resolve_overrides("simulation.dt=1", "simulation.duration=1").populations[0]
    assert (pop.dt, pop.n_steps) == (1.0, 1)
    pop = resolve_overrides("input.start=10", "input.stop=10", "input.include_stop=true")
    assert (pop.populations[0].input.start, pop.populations[0].input.stop) == (10.0, 10.0)
    pop = resolve_overrides(
        "population.size=3", "neuron.params_dist={d: {dist: linspace, low: 8, high: 2}}"
    ).populations[0]
    assert pop.params_dist["d"] == {"dist": "linspace", "low": 8.0, "high": 2.0}
    with pytest.raises(ConfigError) as info:
        resolve_overrides("simulation.device=tpu")
    assert "did you mean" not in info.value.line()


# --- AdEx in physical units (neuron.physical) ------------------------------------------------

ADEX_PRESETS = [p for p in PRESETS if p.startswith(("adex_", "nd_"))]
PHYS = "neuron.physical"


@pytest.mark.parametrize("name", ADEX_PRESETS)
def test_adex_presets_are_physical_and_converted_exactly(name):
    pop = resolve_overrides(f"preset={name}").populations[0]
    given = load_preset(name, search_dirs())["neuron"]["physical"]
    physical = {k: v for k, v in given.items() if v is not None}
    assert pop.physical == physical
    # Brette & Gerstner's table, written out here (not through simctl.units)
    g_l = physical["g_L"] if "g_L" in physical else 1000.0 / physical["R"]
    c = physical["C"] if "C" in physical else physical["tau_m"] * g_l
    expected = {
        "tau_mem_inv": g_l / c,
        "v_leak": physical["E_L"],
        "v_th": physical["V_T"],
        "delta_T": physical["Delta_T"],
        "v_reset": physical["V_r"],
        "v_peak": physical.get("V_peak"),
        "tau_ada_inv": 1 / physical["tau_w"],
        "adaptation_current": physical["a"] / g_l,
        "adaptation_spike": physical["b"] / g_l,
    }
    assert {k: pop.params[k] for k in expected} == pytest.approx(expected, rel=1e-12)
    assert pop.input_units == "pA"
    assert pop.input_divisor == pytest.approx(g_l, rel=1e-12)
    assert pop.input.amplitude in (
        500.0,
        400.0,
        300.0,
        210.0,
        180.0,
        160.0,
        110.0,
        65.0,
        50.0,
        25.0,
    )


def test_adex_physical_from_the_command_line():
    table = dict(C=200, g_L=10, E_L=-70, V_T=-50, Delta_T=2, V_peak=0, V_r=-58, a=2, tau_w=30, b=0)
    pop = resolve_overrides(
        "neuron=lif_adex",
        *(f"{PHYS}.{k}={v}" for k, v in table.items()),
        "input=constant",
        "input.amplitude=500",
    ).populations[0]
    assert pop.params["tau_mem_inv"] == 10 / 200 and pop.params["adaptation_current"] == 2 / 10
    assert pop.params["v_peak"] == 0.0 and pop.params["tau_ada_inv"] == 1 / 30
    assert (pop.input.amplitude, pop.input_units, pop.input_divisor) == (500.0, "pA", 10.0)
    # Neuronal Dynamics' tau_m and R instead of C and g_L
    pop = resolve_overrides("preset=nd_tonic").populations[0]
    assert pop.params["tau_mem_inv"] == 1 / 20 and pop.input_divisor == 2.0
    # the library form is unchanged
    pop = resolve_overrides("neuron=lif_adex", "input=constant").populations[0]
    assert pop.physical == {} and pop.input_divisor is None
    assert pop.input_units == "mV"  # R*I: the lif_adex description's current unit


@pytest.mark.parametrize(
    "overrides, key, problem",
    [
        ([f"{PHYS}.C=200"], f"{PHYS}.g_L", "missing"),
        (["preset=adex_tonic", f"{PHYS}.tau_m=20"], f"{PHYS}.tau_m", "not both"),
        (["preset=adex_tonic", f"{PHYS}.tau_w=0"], f"{PHYS}.tau_w", "> 0 ms"),
        (["preset=adex_tonic", "neuron.tau_mem_inv=0.2"], "neuron.tau_mem_inv", "physical"),
        (["preset=adex_tonic", f"+{PHYS}.Cm=200"], f"{PHYS}.Cm", "unknown"),
        (
            ["preset=adex_tonic", "+neuron.params_dist.v_th={dist:uniform,low:-51,high:-49}"],
            "neuron.params_dist.v_th",
            "physical",
        ),
    ],
)
def test_adex_physical_errors_are_one_line(overrides, key, problem):
    if not any(o.startswith("preset=") for o in overrides):
        overrides = ["neuron=lif_adex", *overrides]
    with pytest.raises(ConfigError) as info:
        resolve_overrides(*overrides)
    line = info.value.line()
    assert "\n" not in line and line.startswith(key) and problem in line, line


def test_synapse_key_is_gone():
    """A current protocol is always a current into the membrane (no ``synapse`` switch)."""
    with pytest.raises(ConfigError, match="neuron.synapse"):
        resolve_overrides("neuron=lif_refrac", "+neuron.synapse=none")


def test_readme_mapping_forms_of_initial_state_and_params_dist():
    """README: ``population.initial_state={v: -70, u: -14}`` and ``neuron.params_dist={d: …}``
    (no ``+``) work as written, and still merge over a preset's values."""
    pop = resolve_overrides("population.initial_state={v: -70, u: -14}").populations[0]
    assert pop.initial_state == {"v": -70.0, "u": -14.0}
    pop = resolve_overrides(
        "population.size=5", "neuron.params_dist={d: {dist: uniform, low: 2, high: 8}}"
    ).populations[0]
    assert pop.params_dist["d"] == {"dist": "uniform", "low": 2.0, "high": 8.0}
    pop = resolve_overrides("preset=rs", "population.initial_state={v: -60}").populations[0]
    assert pop.initial_state == {"v": -60.0, "u": -12.6}
    pop = resolve_overrides("+population.initial_state.v=-61").populations[0]
    assert pop.initial_state == {"v": -61.0}


def test_config_files_read_as_omegaconf_reads_them(tmp_path):
    """simctl parses config files with libyaml under OmegaConf's rules: every shipped file
    gives what ``OmegaConf.load`` gives; YAML 1.2 floats, duplicate keys and odd documents
    behave as in OmegaConf."""
    import sys
    from pathlib import Path

    import yaml
    from omegaconf import OmegaConf

    resolve = sys.modules["simctl.config.resolve"]

    def omegaconf(path: Path) -> dict:
        return OmegaConf.to_container(OmegaConf.load(path), resolve=False) or {}

    files = sorted(Path(importlib.import_module("simctl.configs").__path__[0]).rglob("*.yaml"))
    assert len(files) > 50
    for path in files:
        assert resolve._read_yaml(path) == omegaconf(path), path
    odd = tmp_path / "odd.yaml"
    odd.write_text("a: 1e-3\nb: 2001-01-01\nc: ${x.y}\n1: on\nd: [.5, +1, 0x1F]\ne:\n")
    assert resolve._read_yaml(odd) == omegaconf(odd) == {
        "a": 0.001, "b": "2001-01-01", "c": "${x.y}", 1: True, "d": [0.5, 1, 31], "e": None
    }  # fmt: skip
    duplicate = tmp_path / "duplicate.yaml"
    duplicate.write_text("a: 1\na: 2\n")
    with pytest.raises(yaml.constructor.ConstructorError, match="duplicate key a"):
        resolve._read_yaml(duplicate)
    keys = tmp_path / "keys.yaml"  # a float key: what OmegaConf makes of it
    keys.write_text("1.5: x\n")
    assert resolve._read_yaml(keys) == omegaconf(keys)
