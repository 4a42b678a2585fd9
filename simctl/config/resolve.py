"""From a composed config (plain dict) to a validated :class:`RunSpec` (no torch).

The short form (``neuron=… preset=… input=…``) describes one population; ``populations:``
describes several. Named presets inside ``populations`` are read from the config search path
as data: a preset file is ``# @package _global_`` YAML whose defaults list may say
``override /input: <protocol>``; its ``neuron``, ``input``, ``simulation`` and ``population``
nodes are laid over the chosen group options exactly as Hydra does for the short form.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import ConfigError
from .schema import (
    ENCODERS,
    INPUTS,
    POPULATION_KEYS,
    ROOT_KEYS,
    Experiment,
    Plot,
    Population,
    PresetInfo,
    Record,
    Simulation,
)
from .validate import check_distribution, check_node, check_value, number_or_list

#: the largest population (``/spikes/<pop>/node_ids`` are uint32)
MAX_SIZE = 2**32 - 1

#: node keys of a neuron option that are not model parameters
NEURON_META = ("model", "params_dist")

# ---------------------------------------------------------------------------------------------
# config files on the search path


def package_config_dir() -> Path:
    """The directory of the configs shipped in the package (``simctl.configs``)."""
    import importlib.util

    spec = importlib.util.find_spec("simctl.configs")
    if spec is None or not spec.submodule_search_locations:  # pragma: no cover
        raise RuntimeError("simctl.configs is missing from the installation")
    return Path(next(iter(spec.submodule_search_locations)))


def search_dirs(extra: list[str] | None = None) -> list[Path]:
    """User config dirs (``--config-dir``, ``hydra.searchpath``) first, then the package's."""
    dirs = []
    for item in extra or []:
        item = str(item)
        if item.startswith("file://"):
            item = item[len("file://") :]
        elif item.startswith("pkg://"):
            import importlib.util

            spec = importlib.util.find_spec(item[len("pkg://") :].replace("/", "."))
            if spec is None or not spec.submodule_search_locations:
                continue
            item = next(iter(spec.submodule_search_locations))
        dirs.append(Path(item))
    dirs.append(package_config_dir())
    return dirs


def list_options(group: str, dirs: list[Path] | None = None) -> list[str]:
    """The option names of a config group (file stems), sorted."""
    names: set[str] = set()
    for d in dirs or search_dirs():
        folder = d / group
        if folder.is_dir():
            names.update(p.stem for p in folder.glob("*.yaml"))
    return sorted(names)


_yaml_cache: dict[Path, tuple[tuple[int, int], dict]] = {}


def _read_yaml(path: Path) -> dict:
    """``path`` parsed as OmegaConf parses it, memoised per process by (mtime, size): one
    experiment reads the same neuron and input files dozens of times.

    libyaml parses (with OmegaConf's scalar rules: :func:`_fast_loader`), ~10x faster than
    ``OmegaConf.load`` (3-4 ms a file: 20 presets and their options cost ~0.1 s); a file with
    anything but mappings, lists and plain scalars goes through OmegaConf, for its errors."""
    from omegaconf import OmegaConf

    info = path.stat()
    stamp = (info.st_mtime_ns, info.st_size)
    found = _yaml_cache.get(path)
    if found is not None and found[0] == stamp:
        return found[1]
    loader = _fast_loader()
    data = None
    if loader is not None:
        import yaml

        with open(path, encoding="utf-8") as fh:
            data = yaml.load(fh, Loader=loader)  # noqa: S506 - a SafeLoader
        data = (data or {}) if _plain(data, top=True) else None
    if data is None:
        data = OmegaConf.to_container(OmegaConf.load(path), resolve=False) or {}
    _yaml_cache[path] = (stamp, data)
    return data


_SCALARS = (str, int, float, bool, type(None))


def _plain(value: Any, top: bool = False) -> bool:
    """Whether a parsed document is what ``OmegaConf.create`` keeps as it is: a mapping at
    the top (or nothing), string or int keys, lists, plain scalars."""
    if top and not isinstance(value, dict | type(None)):
        return False
    if isinstance(value, dict):
        return all(
            isinstance(k, str | int) and not isinstance(k, bool) and _plain(v)
            for k, v in value.items()
        )
    if isinstance(value, list):
        return all(_plain(v) for v in value)
    return isinstance(value, _SCALARS)


@functools.cache
def _fast_loader() -> Any:
    """A libyaml ``CSafeLoader`` with OmegaConf's loader rules (its implicit resolvers: YAML
    1.2 floats such as ``1e-3``, no timestamps; duplicate keys are an error), or None without
    libyaml."""
    import yaml

    if not getattr(yaml, "__with_libyaml__", False):
        return None
    try:
        from omegaconf._utils import get_yaml_loader

        rules = get_yaml_loader().yaml_implicit_resolvers
    except (ImportError, AttributeError):  # pragma: no cover - another OmegaConf
        return None

    class Loader(yaml.CSafeLoader):
        def construct_mapping(self, node: Any, deep: bool = False) -> Any:
            keys = set()
            for key_node, _ in node.value:
                if key_node.tag != yaml.resolver.BaseResolver.DEFAULT_SCALAR_TAG:
                    continue
                if key_node.value in keys:
                    raise yaml.constructor.ConstructorError(
                        "while constructing a mapping",
                        node.start_mark,
                        f"found duplicate key {key_node.value}",
                        key_node.start_mark,
                    )
                keys.add(key_node.value)
            return super().construct_mapping(node, deep=deep)

    Loader.yaml_implicit_resolvers = {key: list(rules) for key, rules in rules.items()}
    return Loader


def load_option(group: str, name: str, dirs: list[Path] | None = None, key: str = "") -> dict:
    """Reads ``<group>/<name>.yaml`` as data (first match on the search path)."""
    if not isinstance(name, str) or not name or os.sep in name or name.startswith("."):
        raise ConfigError(key or group, name, f"unknown {group}", list_options(group, dirs))
    for d in dirs or search_dirs():
        path = d / group / f"{name}.yaml"
        if path.is_file():
            return copy.deepcopy(_read_yaml(path))
    raise ConfigError(key or group, name, f"unknown {group}", list_options(group, dirs))


def preset_overrides(data: dict) -> dict[str, str]:
    """``{'input': 'piecewise'}`` from a preset's ``override /input: piecewise`` entries."""
    out = {}
    for entry in data.get("defaults", []) or []:
        if isinstance(entry, dict):
            for k, v in entry.items():
                k = str(k)
                if k.startswith("override "):
                    out[k[len("override ") :].strip().lstrip("/")] = v
    return out


def _merge(base: dict, over: dict) -> dict:
    out = copy.deepcopy(base)
    for k, v in (over or {}).items():
        if isinstance(v, dict) and isinstance(out.get(k), dict) and k != "initial_state":
            out[k] = _merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


def _strip(data: dict) -> dict:
    return {k: v for k, v in data.items() if k != "defaults"}


# ---------------------------------------------------------------------------------------------
# resolved run description


@dataclass
class PopulationSpec:
    """One population, fully resolved and validated."""

    name: str
    model: str
    preset: str
    size: int
    params: dict[str, Any]  #: model parameters (scalars)
    params_dist: dict[str, dict]  #: per-neuron distributions of parameters
    initial_state: dict[str, Any]  #: number, per-neuron list or distribution per variable
    input: Any  #: an Input* dataclass
    encoder: Any  #: an Encoder* dataclass
    dt: float  #: ms
    n_steps: int
    source: str = ""
    #: the physical parameters as given (``neuron.physical``), empty in the library form
    physical: dict[str, Any] = field(default_factory=dict)
    input_units: str = ""  #: unit of the protocol's values (the model's current unit)
    #: the model's input is ``current / input_divisor`` (g_L in nS for pA: pA/nS = mV)
    input_divisor: float | None = None
    #: where the population is configured: ``population`` (short form) or ``populations.<name>``
    key: str = ""

    @property
    def t_stop(self) -> float:
        """ms: the end of the last step."""
        return self.n_steps * self.dt


@dataclass
class RunSpec:
    simulation: Simulation
    record: Record
    plot: Plot
    populations: list[PopulationSpec]
    experiment: Experiment | None = None
    preset_info: PresetInfo = field(default_factory=PresetInfo)
    #: projections and Poisson drive (:mod:`simctl.config.network`); None: unconnected
    network: Any = None


def _steps(dt: float, duration: float, include_end: bool, steps: int | None, key: str) -> int:
    if dt <= 0 or not math.isfinite(dt):
        raise ConfigError(f"{key}.dt", dt, "must be a positive number of ms")
    if steps is not None:
        if steps <= 0:
            raise ConfigError(f"{key}.steps", steps, "must be a positive number of steps")
        return int(steps)
    if duration <= 0 or not math.isfinite(duration):
        raise ConfigError(f"{key}.duration", duration, "must be a positive number of ms")
    if dt > duration:
        # one step of dt would run past the duration asked for (t_stop = dt)
        raise ConfigError(
            f"{key}.dt",
            dt,
            f"is longer than {key}.duration = {duration:g} ms",
            f"a step of at most {duration:g} ms, or a longer {key}.duration",
        )
    n = duration / dt
    n_round = round(n)
    n = n_round if abs(n - n_round) < 1e-6 else math.ceil(n)
    return int(n) + (1 if include_end else 0)


def _check_params(node: dict, reference: dict, key: str, model: str, path: str = "") -> dict:
    """Checks parameter values against the option file (which keys exist, their types) and the
    model's description (:mod:`simctl.models`: choices, bounds and units)."""
    from simctl.models import parameter

    allowed = [k for k in reference if k not in NEURON_META]
    params: dict[str, Any] = {}
    for name, value in node.items():
        full = f"{key}.{name}"
        dotted = f"{path}{name}"
        if name not in reference or name in NEURON_META:
            raise ConfigError(full, value, f"unknown parameter of neuron={model}", allowed)
        default = reference[name]
        described = parameter(model, dotted) or {}
        if isinstance(default, dict):
            if value is None and all(v is None for v in default.values()):
                value = {}  # an optional node such as ``physical`` (all null: unused)
            if not isinstance(value, dict):
                raise ConfigError(full, value, "expected a mapping", list(default))
            value = _check_params(value, default, full, model, f"{dotted}.")
        elif isinstance(default, str):
            value = check_value(value, str, full)
            choices = described.get("choices")
            if choices and value not in choices:
                raise ConfigError(full, value, "not a valid choice", choices)
        elif isinstance(default, bool):
            value = check_value(value, bool, full)
        elif default is None or isinstance(default, (int, float)):
            value = check_value(value, float | None if default is None else float, full)
            interval = described.get("interval")
            if value is not None and interval is not None and value not in interval:
                unit = described.get("unit", "")
                unit = f" {unit}" if unit and unit != "1" else ""
                raise ConfigError(
                    full,
                    value,
                    f"out of range for neuron={model} ({described.get('doc', name)})",
                    f"{interval.describe()}{unit}",
                )
        params[name] = value
    return params


@dataclass
class NeuronSpec:
    """A checked neuron node: the library model and parameters plus how the input arrives."""

    model: str
    params: dict[str, Any]
    dists: dict[str, dict]
    physical: dict[str, Any] = field(default_factory=dict)
    input_units: str = ""
    input_divisor: float | None = None


def check_neuron(node: Any, key: str, dirs: list[Path]) -> NeuronSpec:
    """The :class:`NeuronSpec` of a neuron node, checked against its option file."""
    if not isinstance(node, dict):
        raise ConfigError(key, node, "expected a neuron mapping")
    model = node.get("model")
    options = list_options("neuron", dirs)
    if model not in options:
        raise ConfigError(f"{key}.model", model, "unknown neuron model", options)
    reference = _strip(load_option("neuron", model, dirs, key=f"{key}.model"))
    params = _check_params(
        {k: v for k, v in node.items() if k not in NEURON_META}, reference, key, model
    )
    dist_node = node.get("params_dist") or {}
    if not isinstance(dist_node, dict):
        raise ConfigError(
            f"{key}.params_dist", dist_node, "expected a mapping {param: distribution}"
        )
    dists = {}
    numeric = [
        k
        for k, v in reference.items()
        if k not in NEURON_META and isinstance(v, (int, float)) and not isinstance(v, bool)
    ]
    for name, spec in dist_node.items():
        if name not in numeric:
            raise ConfigError(
                f"{key}.params_dist.{name}",
                spec,
                f"not a numeric parameter of neuron={model}",
                numeric,
            )
        dists[name] = check_distribution(spec, f"{key}.params_dist.{name}")
    from simctl.models import current_unit

    out = NeuronSpec(model, params, dists)
    out.input_units = current_unit(model)
    physical = {k: v for k, v in (params.pop("physical", None) or {}).items() if v is not None}
    if physical:
        _apply_physical(out, physical, reference, key)
    return out


def _refractory_steps(nspec: NeuronSpec, dt: float, key: str) -> None:
    """The config's refractory period in ms (``t_ref``) as the library's count of steps
    (``rho_reset = round(t_ref/dt)``); both stay in the parameters (and so in sim.h5)."""
    from simctl.models import describe

    refractory = describe(nspec.model).get("refractory")
    if not refractory:
        return
    config_key, parameter = refractory["config_key"], refractory["parameter"]
    t_ref = nspec.params.get(config_key)
    if t_ref is None:
        return
    steps = t_ref / dt
    if abs(steps - round(steps)) > 1e-6:
        raise ConfigError(
            f"{key}.{config_key}",
            t_ref,
            f"is not a whole number of steps of dt = {dt:g} ms",
            f"a multiple of {dt:g} ms",
        )
    nspec.params[parameter] = float(round(steps))
    if config_key in nspec.dists:
        raise ConfigError(
            f"{key}.params_dist.{config_key}",
            nspec.dists[config_key],
            "per-neuron refractory periods are not supported",
        )


def _apply_physical(out: NeuronSpec, physical: dict, reference: dict, key: str) -> None:
    """Sets the library fields from ``neuron.physical`` (simctl.units, exact) and the input
    to pA through g_L, driving V directly."""
    from simctl.units import (
        AdExParameterError,
        adex_leak_conductance,
        adex_physical_to_library,
    )

    if out.dists:
        name = next(iter(out.dists))
        raise ConfigError(
            f"{key}.params_dist.{name}",
            out.dists[name],
            f"per-neuron distributions are not available with {key}.physical",
        )
    try:
        library = adex_physical_to_library(physical)
    except AdExParameterError as error:
        raise ConfigError(
            f"{key}.physical.{error.key}", physical.get(error.key), error.problem
        ) from None
    # the fields the conversion sets, and tau_syn_inv (unused: the input drives V directly),
    # are the physical form's: a library value beside it would be silently replaced
    for name in (*library, "tau_syn_inv"):
        if name in out.params and out.params[name] != reference.get(name):
            raise ConfigError(
                f"{key}.{name}",
                out.params[name],
                f"is set by {key}.physical (the physical form); change {key}.physical.* "
                "or drop physical",
            )
    out.params.update(library)
    out.physical = physical
    from simctl.models import current_unit

    out.input_units = current_unit(out.model, physical=True)
    out.input_divisor = adex_leak_conductance(physical)


def _default_drive(spec: Any, neuron: NeuronSpec | None) -> None:
    """Fills the protocol values left null with the model's default drive (its description's
    ``cli_input``, in the current's unit; times g_L in the physical form's pA)."""
    if neuron is None:
        return
    from simctl.models import cli_input

    drive = cli_input(neuron.model)
    scale = neuron.input_divisor or 1.0
    sine = getattr(spec, "protocol", "") == "sine"
    fields = (
        ("amplitude", "amplitude", 0.5 if sine else 1.0),
        ("offset", "amplitude", 1.0),
        ("mean", "noise_mean", 1.0),
        ("std", "noise_std", 1.0),
    )
    for name, default, factor in fields:
        if hasattr(spec, name) and getattr(spec, name) is None and default in drive:
            setattr(spec, name, drive[default] * scale * factor)


def check_input(node: Any, key: str, size: int, neuron: NeuronSpec | None = None) -> Any:
    if not isinstance(node, dict):
        raise ConfigError(key, node, "expected an input mapping")
    protocol = node.get("protocol")
    if protocol not in INPUTS:
        raise ConfigError(f"{key}.protocol", protocol, "unknown input protocol", INPUTS)
    spec = check_node(node, INPUTS[protocol], key)
    _default_drive(spec, neuron)
    if hasattr(spec, "amplitude"):
        spec.amplitude = number_or_list(spec.amplitude, f"{key}.amplitude", size)
    for name in ("width", "period", "tau"):
        value = getattr(spec, name, None)
        if value is not None and value <= 0:
            raise ConfigError(f"{key}.{name}", value, "must be > 0 ms")
    for name, unit in (("std", ""), ("frequency", " Hz"), ("count", "")):
        value = getattr(spec, name, None)
        if value is not None and value < 0:
            raise ConfigError(f"{key}.{name}", value, f"must be >= 0{unit}")
    # a window that ends before it starts is never on (the protocol would be silent)
    windows = [(key, spec)] if hasattr(spec, "stop") else []
    segments = enumerate(getattr(spec, "segments", []))
    windows += [(f"{key}.segments[{i}]", seg) for i, seg in segments]
    for where, item in windows:
        start, end_name = item.start, "stop" if hasattr(item, "stop") else "end"
        end = getattr(item, end_name)
        if start is not None and end is not None and end < start:
            raise ConfigError(
                f"{where}.{end_name}",
                end,
                f"is before {where}.start = {start:g} ms (the window is never on)",
                f"a time >= {start:g} ms, or null (until the end)",
            )
    return spec


def spikes_of(encoder: Any) -> bool:
    """Whether an encoder drives its population with spikes (jumps of the model's
    ``default_jump``) rather than a current (``none``; ``population``'s tuning curves)."""
    return encoder.name not in ("none", "population")


def check_encoder(node: Any, key: str) -> Any:
    if not isinstance(node, dict):
        raise ConfigError(key, node, "expected an encoder mapping")
    name = node.get("name")
    if name not in ENCODERS:
        raise ConfigError(f"{key}.name", name, "unknown encoder", ENCODERS)
    spec = check_node(node, ENCODERS[name], key)
    if getattr(spec, "fan_in", 1) < 1:
        raise ConfigError(f"{key}.fan_in", spec.fan_in, "must be >= 1")
    if getattr(spec, "f_max", 0.0) < 0:
        raise ConfigError(f"{key}.f_max", spec.f_max, "must be >= 0 Hz (a firing rate)")
    if getattr(spec, "tau_mem_inv", 1.0) <= 0:
        raise ConfigError(f"{key}.tau_mem_inv", spec.tau_mem_inv, "must be > 0 1/ms")
    window = getattr(spec, "window", None)
    if window is not None and window <= 0:
        raise ConfigError(f"{key}.window", window, "must be > 0 ms or null")
    return spec


def check_initial_state(node: Any, key: str, size: int) -> dict[str, Any]:
    if node is None:
        return {}
    if not isinstance(node, dict):
        raise ConfigError(key, node, "expected a mapping {variable: value}")
    out = {}
    for var, value in node.items():
        full = f"{key}.{var}"
        if isinstance(value, dict):
            out[var] = check_distribution(value, full)
        else:
            out[var] = number_or_list(value, full, size)
    return out


_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.\-]*")


def check_population_name(name: Any, key: str) -> str:
    """A population name usable as an HDF5 group name (``/populations/<name>``)."""
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise ConfigError(
            key, name, "not a usable population name", "letters, digits, _ - . (not first)"
        )
    return name


def _population_from(
    name: str,
    preset: str,
    neuron: dict,
    inp: dict,
    enc: dict,
    sim: dict,
    pop: dict,
    key: str,
    dirs: list[Path],
    source: str = "",
) -> PopulationSpec:
    check_population_name(name, f"{key.rstrip('.')}" if key else "population.name")
    nspec = check_neuron(neuron, f"{key}neuron", dirs)
    size = check_value(pop.get("size", 1), int, f"{key}size" if key else "population.size")
    if not 1 <= size <= MAX_SIZE:
        raise ConfigError(
            f"{key}size" if key else "population.size",
            size,
            "must be >= 1" if size < 1 else f"must be <= {MAX_SIZE} (node ids are uint32)",
        )
    sim_key = key.rstrip(".") if key else "simulation"
    dt = check_value(sim.get("dt"), float, f"{sim_key}.dt")
    duration = check_value(sim.get("duration"), float, f"{sim_key}.duration")
    include_end = check_value(sim.get("include_end", False), bool, f"{sim_key}.include_end")
    steps = check_value(sim.get("steps"), int | None, f"{sim_key}.steps")
    n_steps = _steps(dt, duration, include_end, steps, sim_key)
    init_key = f"{key}initial_state" if key else "population.initial_state"
    _refractory_steps(nspec, dt, f"{key}neuron")
    encoder = check_encoder(enc, f"{key}encoder")
    if getattr(encoder, "weight", 0.0) is None:
        from simctl.models import cli_input

        drive = cli_input(nspec.model)
        if spikes_of(encoder):
            # the jump of one spike, made larger where fewer trains drive each neuron (the
            # default fan-in of the Poisson encoders is 50)
            encoder.weight = drive["jump"] * max(1.0, 25.0 / getattr(encoder, "fan_in", 1))
        else:
            encoder.weight = drive["amplitude"]
    return PopulationSpec(
        name=name,
        model=nspec.model,
        preset=preset,
        size=size,
        params=nspec.params,
        params_dist=nspec.dists,
        initial_state=check_initial_state(pop.get("initial_state"), init_key, size),
        input=check_input(inp, f"{key}input", size, nspec),
        encoder=encoder,
        dt=dt,
        n_steps=n_steps,
        source=source,
        physical=nspec.physical,
        input_units=nspec.input_units,
        input_divisor=nspec.input_divisor,
        key=key.rstrip(".") if key else "population",
    )


def load_preset(name: str, dirs: list[Path], key: str = "preset") -> dict:
    """A preset as a dict of nodes: ``preset_info``, ``neuron``, ``input``, ``simulation``,
    ``population`` (each complete: group option merged with the preset's values)."""
    data = load_option("preset", name, dirs, key=key)
    info = data.get("preset_info") or {}
    model = info.get("model", "")
    over = preset_overrides(data)
    neuron = _merge(
        _strip(load_option("neuron", model, dirs, key=f"{key}(model)")), data.get("neuron") or {}
    )
    inp = data.get("input") or {}
    if "input" in over:
        inp = _merge(_strip(load_option("input", over["input"], dirs, key=f"{key}(input)")), inp)
    enc = data.get("encoder") or {}
    if "encoder" in over:
        enc = _merge(
            _strip(load_option("encoder", over["encoder"], dirs, key=f"{key}(encoder)")), enc
        )
    return {
        "preset_info": {**info, "name": info.get("name") or name},
        "neuron": neuron,
        "input": inp or None,
        "encoder": enc or None,
        "simulation": data.get("simulation") or {},
        "population": data.get("population") or {},
    }


def _node_or_option(
    value: Any, group: str, base: dict, key: str, dirs: list[Path], tag: str
) -> dict:
    """An entry's ``neuron``/``input``/``encoder``: an option name or a mapping of overrides
    (a mapping that changes the discriminator ``tag`` starts from that option's file)."""
    if value is None:
        return base
    if isinstance(value, str):
        return _strip(load_option(group, value, dirs, key=key))
    if not isinstance(value, dict):
        raise ConfigError(
            key, value, f"expected a {group} option name or mapping", list_options(group, dirs)
        )
    if tag in value and value[tag] != base.get(tag):
        if value[tag] not in list_options(group, dirs):
            raise ConfigError(
                f"{key}.{tag}", value[tag], f"unknown {group}", list_options(group, dirs)
            )
        base = _strip(load_option(group, value[tag], dirs, key=f"{key}.{tag}"))
    return _merge(base, value)


def resolve(cfg: dict, dirs: list[Path] | None = None, choices: dict | None = None) -> RunSpec:
    """Validates a composed config (``OmegaConf.to_container(cfg, resolve=True)``)."""
    from .network import check_network, expand_network

    dirs = dirs or search_dirs()
    cfg = {k: v for k, v in cfg.items() if k != "hydra"}
    for key, value in cfg.items():
        if key == "preset" and (choices or {}).get("preset"):
            # Hydra put the option file under its group's name: it is not a ``_global_``
            # file (a file of another group, ``preset=../neuron/lif``, or a missing header)
            raise ConfigError(
                "preset",
                choices["preset"],
                "its file is not a preset (it does not start with '# @package _global_')",
                "a file of the preset group, which starts with '# @package _global_'",
            )
        if key not in ROOT_KEYS:
            raise ConfigError(key, value, "unknown key", ROOT_KEYS)
    cfg = expand_network(cfg)
    info = check_node(cfg.get("preset_info") or {}, PresetInfo, "preset_info")
    neuron = cfg.get("neuron") or {}
    preset_choice = (choices or {}).get("preset") or info.name
    if info.model and isinstance(neuron, dict) and neuron.get("model") != info.model:
        presets = [
            p for p in list_options("preset", dirs) if _preset_model(p, dirs) == neuron.get("model")
        ]
        raise ConfigError(
            "preset",
            preset_choice,
            f"is a preset for neuron={info.model}, not neuron={neuron.get('model')}; "
            f"drop preset= or use neuron={info.model}",
            presets or None,
        )
    sim_node = cfg.get("simulation") or {}
    simulation = check_node(sim_node, Simulation, "simulation")
    if not -(2**63) <= simulation.seed < 2**64:
        raise ConfigError(
            "simulation.seed", simulation.seed, "out of range", "an integer from -2**63 to 2**64-1"
        )
    if simulation.block_ms is not None and simulation.block_ms <= 0:
        raise ConfigError("simulation.block_ms", simulation.block_ms, "must be > 0 ms or null")
    record = check_node(cfg.get("record") or {}, Record, "record")
    if record.every < 1:
        raise ConfigError("record.every", record.every, "must be >= 1")
    nrec = record.neurons
    if not (
        nrec == "all"
        or (isinstance(nrec, int) and not isinstance(nrec, bool) and nrec >= 0)
        or (isinstance(nrec, list) and all(isinstance(i, int) and i >= 0 for i in nrec))
    ):
        raise ConfigError("record.neurons", nrec, "expected a count, a list of neuron ids or 'all'")
    plot = check_node(cfg.get("plot") or {}, Plot, "plot")
    if not 1 <= plot.dpi <= 1200:  # the pixels (and memory) of a figure grow as dpi**2
        raise ConfigError(
            "plot.dpi", plot.dpi, "must be >= 1" if plot.dpi < 1 else "must be <= 1200", "1..1200"
        )
    if plot.max_traces < 0:
        raise ConfigError("plot.max_traces", plot.max_traces, "must be >= 0")
    if plot.rate_bin_ms is not None and plot.rate_bin_ms <= 0:
        raise ConfigError("plot.rate_bin_ms", plot.rate_bin_ms, "must be > 0 ms or null")
    experiment = None
    if cfg.get("experiment"):
        experiment = check_node(cfg["experiment"], Experiment, "experiment")
    population = cfg.get("population") or {}
    check_node(
        {k: v for k, v in population.items() if k != "initial_state"}, Population, "population"
    )
    pops_node = cfg.get("populations") or {}
    if not isinstance(pops_node, dict):
        raise ConfigError("populations", pops_node, "expected a mapping {name: population}")
    top = {
        "neuron": neuron,
        "input": cfg.get("input") or {"protocol": "none"},
        "encoder": cfg.get("encoder") or {"name": "none"},
        "simulation": sim_node,
        "population": population,
    }
    pops: list[PopulationSpec] = []
    if not pops_node:
        name = (
            population.get("name")
            or info.name
            or (choices or {}).get("preset")
            or neuron.get("model", "pop")
        )
        pops.append(
            _population_from(
                name,
                info.name,
                top["neuron"],
                top["input"],
                top["encoder"],
                top["simulation"],
                population,
                "",
                dirs,
                info.source,
            )
        )
    for name, entry in pops_node.items():
        key = f"populations.{name}."
        if entry is None:
            entry = {}
        if not isinstance(entry, dict):
            raise ConfigError(key[:-1], entry, "expected a mapping", POPULATION_KEYS)
        for k, v in entry.items():
            if k not in POPULATION_KEYS:
                raise ConfigError(f"{key}{k}", v, "unknown key in a population", POPULATION_KEYS)
        base = dict(top)
        preset = entry.get("preset") or ""
        source = ""
        if preset:
            p = load_preset(preset, dirs, key=f"{key}preset")
            model = p["preset_info"].get("model")
            base = {
                "neuron": p["neuron"],
                "input": p["input"] or {"protocol": "none"},
                "encoder": p["encoder"] or {"name": "none"},
                "simulation": _merge(sim_node, p["simulation"]),
                "population": p["population"],
            }
            source = p["preset_info"].get("source", "")
            wanted = entry.get("neuron")
            wanted = wanted if isinstance(wanted, str) else (wanted or {}).get("model", model)
            if wanted != model:
                raise ConfigError(
                    f"{key}preset", preset, f"is a preset for neuron={model}, not neuron={wanted}"
                )
        neuron_node = _node_or_option(
            entry.get("neuron"), "neuron", base["neuron"], f"{key}neuron", dirs, "model"
        )
        input_node = _node_or_option(
            entry.get("input"), "input", base["input"], f"{key}input", dirs, "protocol"
        )
        enc_node = _node_or_option(
            entry.get("encoder"), "encoder", base["encoder"], f"{key}encoder", dirs, "name"
        )
        sim = dict(base["simulation"])
        for k in ("dt", "duration", "include_end", "steps"):
            if k in entry:
                sim[k] = entry[k]
        if ("dt" in entry or "duration" in entry) and "steps" not in entry:
            sim.pop("steps", None)  # a new grid: steps follow from dt and duration
        pop = dict(base["population"])
        for k in ("size", "initial_state"):
            if k in entry:
                pop[k] = entry[k]
        pops.append(
            _population_from(
                str(name), preset, neuron_node, input_node, enc_node, sim, pop, key, dirs, source
            )
        )
    if isinstance(nrec, list):
        if len(set(nrec)) != len(nrec):
            raise ConfigError(
                "record.neurons", nrec, "lists a neuron id twice", "a list of distinct ids"
            )
        largest = max(p.size for p in pops)
        if nrec and max(nrec) >= largest:
            raise ConfigError(
                "record.neurons",
                nrec,
                f"neuron id {max(nrec)} is not in any population",
                f"ids from 0 to {largest - 1}",
            )
    network = check_network(cfg, pops)
    return RunSpec(simulation, record, plot, pops, experiment, info, network)


def _preset_model(name: str, dirs: list[Path]) -> str:
    try:
        return (load_option("preset", name, dirs).get("preset_info") or {}).get("model", "")
    except ConfigError:
        return ""


def spec_to_dict(spec: Any) -> Any:
    """A dataclass tree as plain data (for JSON attrs)."""
    if dataclasses.is_dataclass(spec):
        return {k: spec_to_dict(v) for k, v in dataclasses.asdict(spec).items()}
    return spec
