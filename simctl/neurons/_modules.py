"""The module classes of every model file, written once.

A model's ``XCell``, ``X``, ``XRecurrentCell`` and ``XRecurrent`` differ only in their step
functions, their parameters' default and how their initial state is built, so a model file states
those once and decorates plain class statements (name, base and docstring)::

    _modules = model_modules(
        LIFParameters(),
        feed_forward=lif_feed_forward_step,
        recurrent=lif_step,
        initial_state=lif_initial_state,
        recurrent_state=LIFState,
    )

    @_modules
    class LIF(SNN):
        \"\"\"A feed-forward LIF population looped over time (dim 0).\"\"\"

The decorator adds the two methods each such class used to write out:

* ``__init__(self, [input_size, hidden_size,] p=<default>, **kwargs)``, a plain function with
  exactly that signature (so ``inspect.signature``, ``help()`` and the error for a missing
  argument read as Norse's), which hands the step functions, the state fallback and every
  argument to the base class (:class:`~simctl.neurons.base.SNNCell`, ...);
* ``initial_state(self, input_tensor)``, the state fallback: the model's initial state for one
  step's shape, ``input.shape`` (cell), ``input.shape[1:]`` (layer, time is dim 0), or the
  input's batch shape with ``hidden_size`` last (recurrent cell and layer).

The classes stay ordinary classes of the model file (``__module__``, ``__qualname__``, pickling,
subclassing and ``isinstance`` are those of a class statement). Both methods are made once, at
import: nothing is looked up or built per call. A method the class body defines itself is kept.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import torch

from .base import (
    SNN,
    SNNCell,
    SNNRecurrent,
    SNNRecurrentCell,
    mark_initial,
    state_dtype,
)

__all__ = ["model_modules", "scalar_cell_state", "scalar_state"]

M = TypeVar("M", bound=type)

#: ``state(module, shape, input_tensor) -> state``: a fresh initial state of one step's ``shape``
StateFunction = Callable[[Any, tuple[int, ...], torch.Tensor], Any]

_RECURRENT = (SNNRecurrentCell, SNNRecurrent)


def _cell_state(state: StateFunction) -> Callable[..., Any]:
    def initial_state(self: Any, input_tensor: torch.Tensor) -> Any:
        return state(self, tuple(input_tensor.shape), input_tensor)

    return initial_state


def _layer_state(state: StateFunction) -> Callable[..., Any]:
    def initial_state(self: Any, input_tensor: torch.Tensor) -> Any:
        return state(self, tuple(input_tensor.shape[1:]), input_tensor)

    # a model's own initial state (a function of shape, dtype, device and p): a backend may
    # build it once per input shape and copy it (simctl.kernels.fused_layer_call)
    initial_state._simctl_pure_state = getattr(state, "_simctl_pure_state", False)  # type: ignore[attr-defined]
    return initial_state


def _recurrent_cell_state(state: StateFunction) -> Callable[..., Any]:
    def initial_state(self: Any, input_tensor: torch.Tensor) -> Any:
        return state(self, (*input_tensor.shape[:-1], int(self.hidden_size)), input_tensor)

    return initial_state


def _recurrent_layer_state(state: StateFunction) -> Callable[..., Any]:
    def initial_state(self: Any, input_tensor: torch.Tensor) -> Any:
        return state(self, (*input_tensor.shape[1:-1], int(self.hidden_size)), input_tensor)

    return initial_state


_STATE_METHODS: dict[type, Callable[[StateFunction], Callable[..., Any]]] = {
    SNNCell: _cell_state,
    SNN: _layer_state,
    SNNRecurrentCell: _recurrent_cell_state,
    SNNRecurrent: _recurrent_layer_state,
}

_NO_DEFAULT = object()


def scalar_state(value: Any, input_tensor: torch.Tensor) -> torch.Tensor:
    """A fresh copy of a 0-dim (or per-neuron) parameter as an initial state variable, in the
    input's state dtype and device and marked with :func:`~simctl.neurons.base.mark_initial`:
    the ``v`` of Norse's cells, which broadcasts against the input on the first step."""
    v = torch.as_tensor(value, dtype=state_dtype(input_tensor), device=input_tensor.device)
    return mark_initial(v.detach().clone(memory_format=torch.contiguous_format))


def scalar_cell_state(state_type: type, parameter: str) -> StateFunction:
    """The state function of a cell that starts as Norse's cells do: ``v`` a
    :func:`scalar_state` copy of ``p.<parameter>`` (0-dim, or per-neuron), every further field of
    ``state_type`` (``v`` first) zero of the input's shape."""
    fields = getattr(state_type, "_fields", ())
    if not fields or fields[0] != "v":
        raise TypeError(f"scalar_cell_state: {state_type.__name__} must be a NamedTuple led by v")
    zeros = len(fields) - 1

    def state(module: Any, shape: tuple[int, ...], input_tensor: torch.Tensor) -> Any:
        values = [scalar_state(getattr(module.p, parameter), input_tensor)]
        dtype = state_dtype(input_tensor)
        for _ in range(zeros):
            values.append(torch.zeros(shape, dtype=dtype, device=input_tensor.device))
        return state_type(*values)

    state.__annotations__["return"] = state_type.__name__
    return state


def _make_init(
    cls: type,
    base: type,
    arguments: list[tuple[str, Any, str]],
    attributes: list[tuple[str, Any, str]],
    step: Callable[..., Any],
    sparse_step: Callable[..., Any] | None,
) -> Callable[..., Any]:
    """``__init__`` with the model's signature, compiled once (as :mod:`dataclasses` does), so
    that it binds its arguments natively: no per-call work, Python's own errors."""
    sizes = [("input_size", _NO_DEFAULT, "int"), ("hidden_size", _NO_DEFAULT, "int")]
    signature = (sizes if base in _RECURRENT else []) + arguments + attributes
    namespace: dict[str, Any] = {"_cls": cls, "_step": step, "_sparse_step": sparse_step}
    parameters = []
    for name, default, _ in signature:
        if default is _NO_DEFAULT:
            parameters.append(name)
        else:
            namespace[f"_default_{name}"] = default
            parameters.append(f"{name}=_default_{name}")
    kept = [name for name, _, _ in attributes]
    passed = [
        "activation=_step",
        *(["activation_sparse=_sparse_step"] if sparse_step is not None else []),
        "state_fallback=self.initial_state",
        *(f"{name}={name}" for name, _, _ in signature if name not in kept),
    ]
    source = "\n".join(
        [
            f"def __init__(self, {', '.join(parameters)}, **kwargs):",
            f"    super(_cls, self).__init__({', '.join(passed)}, **kwargs)",
            *(f"    self.{name} = {name}" for name in kept),
        ]
    )
    exec(source, namespace)  # noqa: S102 - a fixed template over checked identifiers
    init = namespace["__init__"]
    init.__annotations__ = {name: annotation for name, _, annotation in signature}
    init.__annotations__["kwargs"] = "Any"
    return init


def _annotation(value: Any) -> str:
    return value.__name__ if isinstance(value, type) else type(value).__name__


def _fresh_state(initial_state: Callable[..., Any], voltage: str) -> StateFunction:
    """The state function of a model's ``initial_state(shape, p, dtype, device)``: that state
    in the input's state dtype and device, its voltage marked with ``mark_initial``."""
    path = voltage.split(".")  # getattr, not operator.attrgetter: TorchDynamo traces getattr

    def state(module: Any, shape: tuple[int, ...], input_tensor: torch.Tensor) -> Any:
        fresh = initial_state(shape, module.p, state_dtype(input_tensor), input_tensor.device)
        v = fresh
        for name in path:
            v = getattr(v, name)
        mark_initial(v)
        return fresh

    state.__annotations__["return"] = initial_state.__annotations__.get("return", "Any")
    state._simctl_pure_state = True  # type: ignore[attr-defined]
    return state


def _with_spikes(state_type: type, feed_forward: StateFunction, sparse: bool) -> StateFunction:
    """``state_type(z = 0, *feed-forward state)``: a recurrent state whose fields are ``z``
    followed by the feed-forward state's; ``z`` is sparse for a sparse input when the model
    has a sparse recurrent step (its spikes stay sparse)."""
    fields = getattr(state_type, "_fields", ())
    if not fields or fields[0] != "z":
        raise TypeError(f"recurrent_state {state_type.__name__} must be a NamedTuple led by z")

    def state(module: Any, shape: tuple[int, ...], input_tensor: torch.Tensor) -> Any:
        base = feed_forward(module, shape, input_tensor)
        z = torch.zeros(shape, dtype=state_dtype(input_tensor), device=input_tensor.device)
        if sparse and input_tensor.is_sparse:
            z = z.to_sparse()
        return state_type(z, *base)

    state.__annotations__["return"] = state_type.__name__
    return state


def model_modules(
    p: Any,
    *,
    feed_forward: Callable[..., Any] | None = None,
    feed_forward_sparse: Callable[..., Any] | None = None,
    recurrent: Callable[..., Any] | None = None,
    recurrent_sparse: Callable[..., Any] | None = None,
    initial_state: Callable[..., Any] | None = None,
    voltage: str = "v",
    state: StateFunction | None = None,
    cell_state: StateFunction | None = None,
    recurrent_state: StateFunction | type | None = None,
    name: str = "p",
    extra: Mapping[str, Any] | None = None,
    attributes: Mapping[str, Any] | None = None,
) -> Callable[[M], M]:
    """A class decorator that completes a model's module classes (see the module docstring).

    Args:
        p: the default of the parameters argument (``XParameters()``); a type instead makes
            the argument required, annotated with that type (Izhikevich's ``spiking_method``).
        feed_forward, feed_forward_sparse: the step (and sparse-input step) of
            :class:`SNNCell` and :class:`SNN` classes.
        recurrent, recurrent_sparse: the same for :class:`SNNRecurrentCell` and
            :class:`SNNRecurrent` classes.
        initial_state, voltage: the model's ``initial_state(shape, p, dtype, device)`` (as in
            its ``MODEL``) and the dotted path of its voltage: the feed-forward state is that
            state in the input's dtype and device, with the voltage marked by
            :func:`~simctl.neurons.base.mark_initial` (Norse's ``requires_grad`` initial ``v``).
        state: instead, ``state(module, shape, input_tensor)``: the fresh feed-forward state of
            one step's ``shape``.
        cell_state: replaces it for the cell (a 0-dim ``v`` that broadcasts on the first step,
            as Norse's cells start; see :func:`scalar_cell_state`).
        recurrent_state: a state function for the recurrent classes (``shape`` ends in
            hidden_size), or the recurrent State NamedTuple when its fields are ``z`` and then
            the feed-forward state's (``z`` starts at 0).
        name: the parameters argument's name.
        extra: further arguments (name: default) after it, passed on to the base class
            (``{"dt": 0.001}`` where ``dt`` may be positional, as in Norse's IAF and box cells).
        attributes: further arguments (name: default) kept as attributes of the module
            (LSNN's ``adjoint``).

    A class body that defines ``__init__`` (or ``initial_state``) keeps its own.
    """
    default = p if not isinstance(p, type) else _NO_DEFAULT
    arguments = [(name, default, _annotation(p))]
    arguments += [(n, d, _annotation(d)) for n, d in (extra or {}).items()]
    kept = [(n, d, _annotation(d)) for n, d in (attributes or {}).items()]
    for argument, _, _ in arguments + kept:
        if not argument.isidentifier():
            raise ValueError(f"model_modules: argument name {argument!r} is not an identifier")
    if state is None and initial_state is not None:
        state = _fresh_state(initial_state, voltage)
    if isinstance(recurrent_state, type):
        if state is None:
            raise TypeError("a recurrent_state type needs the feed-forward state")
        recurrent_state = _with_spikes(recurrent_state, state, recurrent_sparse is not None)
    steps = {
        SNNCell: (feed_forward, feed_forward_sparse, cell_state or state),
        SNN: (feed_forward, feed_forward_sparse, state),
        SNNRecurrentCell: (recurrent, recurrent_sparse, recurrent_state),
        SNNRecurrent: (recurrent, recurrent_sparse, recurrent_state),
    }

    def complete(cls: M) -> M:
        base = next((b for b in steps if issubclass(cls, b)), None)
        if base is None:
            raise TypeError(f"{cls.__qualname__} is not an SNNCell, SNN or SNNRecurrent(Cell)")
        step, sparse_step, state_function = steps[base]
        methods: dict[str, Callable[..., Any]] = {}
        if "__init__" not in vars(cls):
            if step is None:
                raise TypeError(f"{cls.__qualname__}: model_modules has no step for it")
            methods["__init__"] = _make_init(cls, base, arguments, kept, step, sparse_step)
        if "initial_state" not in vars(cls):
            if state_function is None:
                raise TypeError(f"{cls.__qualname__}: model_modules has no state for it")
            methods["initial_state"] = _STATE_METHODS[base](state_function)
            methods["initial_state"].__annotations__ = {
                "input_tensor": "torch.Tensor",
                "return": state_function.__annotations__.get("return", "Any"),
            }
        for method_name, method in methods.items():
            method.__module__ = cls.__module__
            method.__qualname__ = f"{cls.__qualname__}.{method_name}"
            setattr(cls, method_name, method)
        return cls

    return complete
