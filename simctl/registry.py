"""The allowlist: config names to builders. Configs cannot name code (no ``_target_``).

* neuron models: discovered from the ``MODEL`` of each file in
  :data:`simctl.neurons.MODEL_MODULES` (adding a model never edits this file);
* input protocols and encoders: :data:`simctl.stimuli.STIMULI`, :data:`simctl.stimuli.ENCODERS`;
* per-neuron distributions: :data:`DISTRIBUTIONS` below.

:func:`build_population` turns a validated :class:`~simctl.config.PopulationSpec` into the
runner's :class:`~simctl.runner.Population` (tensors on the chosen device and dtype).
"""

from __future__ import annotations

import dataclasses
import importlib
import json
from collections.abc import Callable
from typing import Any

import torch

from simctl.config.errors import ConfigError
from simctl.config.resolve import PopulationSpec
from simctl.neurons.base import NeuronModel, is_namedtuple

__all__ = [
    "DISTRIBUTIONS",
    "get_model",
    "sample",
    "build_parameters",
    "build_initial_state",
    "build_population",
    "drive",
]


def _models() -> dict[str, NeuronModel]:
    from simctl import neurons

    found = {}
    for module_name in neurons.MODEL_MODULES:
        module = importlib.import_module(f"simctl.neurons.{module_name}")
        model = getattr(module, "MODEL", None)
        if isinstance(model, NeuronModel):
            found[model.name] = model
    return found


def get_model(name: str) -> NeuronModel:
    models = _models()
    if name not in models:
        raise ConfigError("neuron.model", name, "no such model in simctl.neurons", sorted(models))
    return models[name]


def _uniform(spec, n, g, dtype):
    return spec["low"] + (spec["high"] - spec["low"]) * torch.rand(n, generator=g, dtype=dtype)


DISTRIBUTIONS: dict[str, Callable[[dict, int, torch.Generator, torch.dtype], torch.Tensor]] = {
    "constant": lambda s, n, g, dt: torch.full((n,), s["value"], dtype=dt),
    "uniform": _uniform,
    "normal": lambda s, n, g, dt: s["mean"] + s["std"] * torch.randn(n, generator=g, dtype=dt),
    "lognormal": lambda s, n, g, dt: torch.exp(
        s["mean"] + s["std"] * torch.randn(n, generator=g, dtype=dt)
    ),
    "linspace": lambda s, n, g, dt: torch.linspace(s["low"], s["high"], n, dtype=dt),
    "choice": lambda s, n, g, dt: torch.as_tensor(s["values"], dtype=dt)[
        torch.randint(len(s["values"]), (n,), generator=g)
    ],
}


def sample(
    spec: dict, size: int, generator: torch.Generator, dtype: torch.dtype, device: Any
) -> torch.Tensor:
    """``size`` draws of a distribution spec, drawn on the CPU (same numbers on every device)."""
    return DISTRIBUTIONS[spec["dist"]](spec, size, generator, torch.float64).to(
        dtype=dtype, device=device
    )


def _values(params: dict, template: Any) -> Any:
    """``params`` laid over the defaults of the NamedTuple type or instance ``template``."""
    cls = template if isinstance(template, type) else type(template)
    defaults = dict(cls._field_defaults) if isinstance(template, type) else template._asdict()
    kwargs = {}
    for name, value in params.items():
        base = defaults.get(name)
        if isinstance(value, dict) and is_namedtuple(base):
            value = _values(value, base)
        kwargs[name] = value
    return cls(**{**defaults, **kwargs})


def _set_path(tup: Any, path: list[str], value: Any) -> Any:
    if len(path) == 1:
        return tup._replace(**{path[0]: value})
    return tup._replace(**{path[0]: _set_path(getattr(tup, path[0]), path[1:], value)})


def _get_path(tup: Any, path: list[str]) -> Any:
    for part in path:
        tup = getattr(tup, part)
    return tup


def build_parameters(
    model: NeuronModel,
    params: dict,
    dists: dict,
    size: int,
    dtype: torch.dtype,
    device: Any,
    generator: torch.Generator,
) -> Any:
    """The model's Parameters: scalars stay Python floats, distributed ones are (size,) tensors."""
    from simctl.models import describe

    refractory = describe(model.name).get("refractory") or {}
    # the config's refractory period in ms became the library's step count in resolve
    params = {k: v for k, v in params.items() if k != refractory.get("config_key")}
    p = _values(params, model.parameters)
    for name, spec in dists.items():
        p = _set_path(p, name.split("."), sample(spec, size, generator, dtype, device))
    return p


def build_initial_state(
    model: NeuronModel,
    spec: PopulationSpec,
    p: Any,
    dtype: torch.dtype,
    device: Any,
    generator: torch.Generator,
    key: str,
) -> Any:
    """The model's fresh state of shape (size,), with ``initial_state`` values laid over it."""
    state = model.initial_state((spec.size,), p, dtype, device)
    fields = _state_paths(state)
    for var, value in spec.initial_state.items():
        if var not in fields:
            raise ConfigError(
                f"{key}.{var}", value, f"not a state variable of neuron={model.name}", fields
            )
        if isinstance(value, dict):
            tensor = sample(value, spec.size, generator, dtype, device)
        else:
            tensor = torch.as_tensor(value, dtype=dtype, device=device).expand(spec.size).clone()
        old = _get_path(state, var.split("."))
        state = _set_path(
            state, var.split("."), tensor.expand_as(old).clone() if old.shape else tensor
        )
    return state


def _state_paths(state: Any, prefix: str = "") -> list[str]:
    out = []
    for name in state._fields:
        value = getattr(state, name)
        if is_namedtuple(value):
            out.extend(_state_paths(value, f"{prefix}{name}."))
        else:
            out.append(f"{prefix}{name}")
    return out


def parameters_json(spec: PopulationSpec) -> str:
    """The population's parameters (and distributions) as JSON for the HDF5 attrs; the
    physical form adds ``physical`` (as given) next to the library fields it set."""
    extra: dict[str, Any] = {}
    if spec.physical:
        extra["physical"] = spec.physical
    return json.dumps({**spec.params, **extra, "params_dist": spec.params_dist}, default=str)


_DRIVES: dict[tuple[str, str], NeuronModel] = {}


def _jump_step(model: NeuronModel):
    """The model's step with its input read as a jump of its ``default_jump`` variable right
    before the update, where the library step reads its input as a current (Izhikevich, the
    box models)."""
    from simctl.models import describe

    path = describe(model.name)["default_jump"].split(".")
    step = model.feed_forward_step

    def step_jump(input_tensor, state, p, dt):
        state = _set_path(state, path, _get_path(state, path) + input_tensor)
        return step(input_tensor * 0.0, state, p, dt)

    step_jump.__name__ = f"{getattr(step, '__name__', 'step')}_jump"
    step_jump.__doc__ = f"{model.name}: the input jumps {'.'.join(path)} before each step."
    return step_jump


def drive(model: NeuronModel, spikes: bool) -> NeuronModel:
    """``model`` with the step that reads its input the way the population is driven.

    * a current protocol (``spikes=False``): :attr:`NeuronModel.current_drive_step`, the
      input a continuous current in the equations (dt-invariant to first order);
    * an encoder's spikes (``spikes=True``): the input is a jump of the model's
      ``default_jump`` variable (its description) before each step: the library step itself
      where it adds its input that way (Norse's convention), else a wrapper.

    One wrapper per model and mode (the fused kernels memoise per step function).
    """
    key = (model.name, "jump" if spikes else "current")
    cached = _DRIVES.get(key)
    if cached is not None and cached.parameters is model.parameters:
        return cached
    if not spikes:
        step = model.current_drive_step
    elif model.current_step is None:  # the library step reads a current
        step = _jump_step(model)
    else:
        step = model.feed_forward_step
    wrapped = dataclasses.replace(model, feed_forward_step=step)
    _DRIVES[key] = wrapped
    return wrapped


def build_population(
    spec: PopulationSpec, index: int, sim: Any, record: Any, device: Any, dtype: torch.dtype
):
    """Builds the runner's population from a validated spec."""
    from simctl.config.resolve import spikes_of
    from simctl.runner import Population
    from simctl.stimuli import build_encoder, build_stimulus

    model = drive(get_model(spec.model), spikes=spikes_of(spec.encoder))
    seed = (int(sim.seed) * 1_000_003 + 7919 * index) % (2**64 - 1)  # coprime: injective
    cpu_gen = torch.Generator().manual_seed(seed)
    dev_gen = torch.Generator(device=device).manual_seed(seed + 1)
    key = spec.key or (f"populations.{spec.name}" if spec.name else "population")
    p = build_parameters(model, spec.params, spec.params_dist, spec.size, dtype, device, cpu_gen)
    try:
        state = build_initial_state(model, spec, p, dtype, device, cpu_gen, f"{key}.initial_state")
    except (TypeError, ValueError) as error:  # a ConfigError is neither: it passes through
        raise ConfigError(f"{key}.neuron", spec.model, f"cannot build the model: {error}") from None
    stimulus = build_stimulus(spec.input, spec.size, spec.dt, dtype, device, dev_gen)
    encoder = build_encoder(spec.encoder, spec.size, spec.dt, spec.n_steps, dtype, device, dev_gen)
    variables = list(model.variables) if record.variables is None else list(record.variables)
    for var in variables:
        if var not in model.variables:
            raise ConfigError(
                "record.variables", var, f"not a variable of neuron={model.name}", model.variables
            )
    if record.neurons == "all":
        ids = list(range(spec.size))
    elif isinstance(record.neurons, int):
        ids = list(range(min(record.neurons, spec.size)))
    else:
        ids = [i for i in record.neurons if i < spec.size]
    return Population(
        spec=spec,
        model=model,
        p=p,
        state=state,
        stimulus=stimulus,
        encoder=encoder,
        variables=variables,
        record_ids=ids,
        every=record.every,
        record_input=record.input,
        device=device,
        dtype=dtype,
    )
