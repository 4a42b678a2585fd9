"""Checks every model file's ``MODEL`` the same way (spec "Decisions for simctl").

For each model in :data:`simctl.neurons.MODEL_MODULES`:

* surrogate gradients: with each surrogate method (every ``THRESHOLD_METHODS`` entry except
  ``heaviside``), a few feed-forward steps driven hard enough to spike pass a nonzero, finite
  gradient to the input and to at least one per-neuron parameter tensor; the surrogate's
  ``alpha`` is set to 1 (``WIDE_ALPHA``) so the check does not depend on the voltage landing
  within a narrow band of the threshold;
* ``MODEL.initial_state`` returns fresh tensors of the requested shape and dtype that share no
  storage with each other or with the parameters (scalar and per-neuron parameters);
* ``.to(torch.float64)`` of every module class of the file (cells, time layers, recurrent
  ones) moves its parameters, and a float64 forward then runs in float64.
"""

from __future__ import annotations

import importlib
import inspect
from typing import Any

import pytest
import torch

import simctl.neurons
from simctl.neurons.base import SNN, SNNRecurrent, is_namedtuple
from simctl.neurons.threshold import THRESHOLD_METHODS

SURROGATES = [method for method in THRESHOLD_METHODS if method != "heaviside"]
#: surrogates about one voltage unit wide for every method: wide enough not to depend on the
#: voltage landing within a narrow band of the threshold, narrow enough that the reset path
#: (dv/dv ≈ 1 + (v_reset − v)·g on every step) does not blow the gradient up
WIDE_ALPHA = dict.fromkeys(SURROGATES, 1.0)
#: fields that are not per-neuron quantities (a surrogate shape; a coupling matrix)
NOT_PER_NEURON = {"alpha", "g_coupling"}
N_NEURONS = 64
STEPS = 30


def _load_models() -> tuple[dict[str, Any], list[str]]:
    found, missing = {}, []
    for name in simctl.neurons.MODEL_MODULES:
        module = importlib.import_module(f"simctl.neurons.{name}")
        model = getattr(module, "MODEL", None)
        if model is None:
            missing.append(name)
        else:
            found[name] = model
    return found, missing


MODELS, MISSING = _load_models()
SPIKING = [name for name, model in MODELS.items() if model.spiking]
NON_SPIKING = [name for name, model in MODELS.items() if not model.spiking]


def test_every_model_file_has_a_model():
    assert not MISSING, f"model files without MODEL (still being written?): {MISSING}"


def _preset(model: Any) -> Any:
    presets = model.extra.get("presets")
    if not presets:
        return None
    return presets["tonic_spiking"] if "tonic_spiking" in presets else next(iter(presets.values()))


def _parameters(model: Any) -> Any:
    preset = _preset(model)
    if preset is not None:
        return preset.p
    return model.parameters()


def _map_leaves(p: Any, function: Any, name: str = "") -> Any:
    """Applies ``function(field_name, value)`` to every leaf of a nested NamedTuple."""
    if is_namedtuple(p):
        return type(p)(**{f: _map_leaves(getattr(p, f), function, f) for f in p._fields})
    return function(name, p)


def _is_number(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    return isinstance(value, (int, float)) or (
        isinstance(value, torch.Tensor) and value.is_floating_point()
    )


def _with_method(p: Any, method: str) -> Any:
    def replace(name: str, value: Any) -> Any:
        if name == "method":
            return method
        if name == "alpha":
            return WIDE_ALPHA[method]
        return value

    return _map_leaves(p, replace)


def _per_neuron(p: Any, n: int, requires_grad: bool) -> tuple[Any, list[torch.Tensor]]:
    """Every numeric per-neuron field as an (n,) tensor; returns the new p and its leaves."""
    leaves: list[torch.Tensor] = []

    def convert(name: str, value: Any) -> Any:
        if name in NOT_PER_NEURON or not _is_number(value):
            return value
        tensor = torch.as_tensor(value, dtype=torch.float32).detach()
        if tensor.dim() > 0:  # a matrix (e.g. a coupling) stays as given
            return value
        tensor = tensor.expand(n).clone().requires_grad_(requires_grad)
        leaves.append(tensor)
        return tensor

    return _map_leaves(p, convert), leaves


def _state_leaves(state: Any) -> list[torch.Tensor]:
    if is_namedtuple(state):
        return [t for f in state._fields for t in _state_leaves(getattr(state, f))]
    return [state] if isinstance(state, torch.Tensor) else []


def _drive(model: Any, p: Any) -> torch.Tensor:
    """A graded drive (neuron k gets amp·k/N) with the smallest amp that makes a spike."""
    grades = torch.arange(1, N_NEURONS + 1, dtype=torch.float32) / N_NEURONS
    for amplitude in (0.1, 1.0, 10.0, 100.0, 1e3, 1e4, 1e5):
        state = model.initial_state((N_NEURONS,), p, torch.float32, "cpu")
        total = 0.0
        with torch.no_grad():
            for _ in range(STEPS):
                z, state = model.feed_forward_step(amplitude * grades, state, p, 0.001)
                total += float(z.sum())
        if total > 0:
            return amplitude * grades
    raise AssertionError(f"{model.name}: no drive up to 1e5 makes a spike in {STEPS} steps")


def _check_gradients(model: Any, p_plain: Any) -> None:
    drive = _drive(model, p_plain)
    p, leaves = _per_neuron(p_plain, N_NEURONS, requires_grad=True)
    assert leaves, f"{model.name}: no numeric parameter to make per-neuron"
    data = drive.clone().requires_grad_(True)
    state = model.initial_state((N_NEURONS,), p_plain, torch.float32, "cpu")
    total = torch.zeros(())
    for _ in range(STEPS):
        out, state = model.feed_forward_step(data, state, p, 0.001)
        assert out.shape == (N_NEURONS,)
        total = total + out.sum()
    total.backward()
    assert data.grad is not None, f"{model.name}: no gradient reaches the input"
    assert torch.isfinite(data.grad).all(), f"{model.name}: non-finite input gradient"
    assert data.grad.abs().sum() > 0, f"{model.name}: zero input gradient"
    grads = [leaf.grad for leaf in leaves if leaf.grad is not None]
    assert grads, f"{model.name}: no gradient reaches any per-neuron parameter"
    assert all(torch.isfinite(g).all() for g in grads), f"{model.name}: non-finite parameter grad"
    assert any(g.abs().sum() > 0 for g in grads), f"{model.name}: zero parameter gradients"


@pytest.mark.parametrize("method", SURROGATES)
@pytest.mark.parametrize("name", SPIKING)
def test_surrogate_gradients(name, method):
    model = MODELS[name]
    _check_gradients(model, _with_method(_parameters(model), method))


@pytest.mark.parametrize("name", NON_SPIKING)
def test_non_spiking_gradients(name):
    model = MODELS[name]
    p_plain = _parameters(model)
    p, leaves = _per_neuron(p_plain, N_NEURONS, requires_grad=True)
    data = torch.rand(N_NEURONS, requires_grad=True)
    state = model.initial_state((N_NEURONS,), p_plain, torch.float32, "cpu")
    total = torch.zeros(())
    for _ in range(5):
        out, state = model.feed_forward_step(data, state, p, 0.001)
        total = total + out.sum()
    total.backward()
    assert data.grad is not None and data.grad.abs().sum() > 0
    assert any(leaf.grad is not None and leaf.grad.abs().sum() > 0 for leaf in leaves)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("per_neuron", [False, True], ids=["scalar_p", "per_neuron_p"])
@pytest.mark.parametrize("shape", [(3, 4), (4,)], ids=["3x4", "4"])
@pytest.mark.parametrize("name", list(MODELS))
def test_initial_state_fresh(name, shape, per_neuron, dtype):
    model = MODELS[name]
    p = _parameters(model)
    p_leaves: list[torch.Tensor] = []
    if per_neuron:
        p, p_leaves = _per_neuron(p, 4, requires_grad=False)
    first = model.initial_state(shape, p, dtype, "cpu")
    second = model.initial_state(shape, p, dtype, "cpu")
    assert isinstance(first, model.feed_forward_state)
    tensors = _state_leaves(first)
    assert tensors, f"{name}: the initial state holds no tensors"
    for tensor in tensors:
        assert tuple(tensor.shape) == shape, f"{name}: {tuple(tensor.shape)} != {shape}"
        assert tensor.dtype == dtype
    pointers_first = {t.untyped_storage().data_ptr() for t in tensors}
    pointers_second = {t.untyped_storage().data_ptr() for t in _state_leaves(second)}
    pointers_p = {t.untyped_storage().data_ptr() for t in p_leaves}
    assert not pointers_first & pointers_second, f"{name}: two initial states share storage"
    assert not pointers_first & pointers_p, f"{name}: the initial state shares the parameters"
    snapshot = [t.clone() for t in _state_leaves(second)]
    with torch.no_grad():
        for tensor in tensors:
            tensor.add_(1.0)
    for before, after in zip(snapshot, _state_leaves(second), strict=True):
        assert torch.equal(before, after)


def test_initial_state_leaves_default_parameters_alone():
    """No initial state may flag or alias the module-level default parameters."""
    for name, model in MODELS.items():
        p = _parameters(model)
        before = [
            (leaf.requires_grad, leaf.clone())
            for leaf in _state_leaves(p)
            if isinstance(leaf, torch.Tensor)
        ]
        state = model.initial_state((2,), p, torch.float32, "cpu")
        with torch.no_grad():
            for tensor in _state_leaves(state):
                tensor.add_(3.0)
        after = [(leaf.requires_grad, leaf) for leaf in _state_leaves(p)]
        for (grad_before, value_before), (grad_after, value_after) in zip(
            before, after, strict=True
        ):
            assert grad_before == grad_after, name
            assert torch.equal(value_before, value_after), name


def _module_classes(name: str) -> list[type]:
    module = importlib.import_module(f"simctl.neurons.{name}")
    classes = []
    for obj in vars(module).values():
        if (
            isinstance(obj, type)
            and issubclass(obj, torch.nn.Module)
            and obj.__module__ == module.__name__
            and isinstance(getattr(obj, "p", None), property)
            and not obj.__name__.startswith("_")
        ):
            classes.append(obj)
    return classes


MODULE_CASES = [
    pytest.param(name, cls, id=f"{name}-{cls.__name__}")
    for name in MODELS
    for cls in _module_classes(name)
]


def test_every_model_has_modules():
    names = {case.values[0] for case in MODULE_CASES}
    assert names == set(MODELS), f"models without module classes: {set(MODELS) - names}"


def _build(name: str, cls: type) -> tuple[torch.nn.Module, tuple[int, ...]]:
    parameters = inspect.signature(cls).parameters
    kwargs: dict[str, Any] = {}
    if "spiking_method" in parameters:
        kwargs["spiking_method"] = _preset(MODELS[name])
    recurrent = "input_size" in parameters
    if recurrent:
        kwargs["input_size"] = 2
        kwargs["hidden_size"] = 3
    module = cls(**kwargs)
    step_shape = (5, 2) if recurrent else (5, 3)
    timed = issubclass(cls, (SNN, SNNRecurrent))
    return module, ((4, *step_shape) if timed else step_shape)


@pytest.mark.parametrize(("name", "cls"), MODULE_CASES)
def test_to_float64_moves_parameters(name, cls):
    module, input_shape = _build(name, cls)
    module.to(torch.float64)
    for tensor_name, tensor in (*module.named_parameters(), *module.named_buffers()):
        if tensor.is_floating_point():
            assert tensor.dtype == torch.float64, f"{tensor_name} stayed {tensor.dtype}"
    for leaf in _state_leaves(module.p):
        assert leaf.dtype == torch.float64, f"a parameter of {cls.__name__}.p stayed {leaf.dtype}"
    output, state = module(torch.ones(input_shape, dtype=torch.float64))
    assert output.dtype == torch.float64
    for tensor in _state_leaves(state):
        assert tensor.dtype == torch.float64, f"{cls.__name__} state is {tensor.dtype}"
