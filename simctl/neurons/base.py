"""Base classes for spiking neuron modules (the Norse ``snn.py`` semantics).

Four :class:`torch.nn.Module` bases wrap the pure step functions of each model file:

* :class:`SNNCell`: one time step of a feed-forward population, ``forward(input, state)``.
* :class:`SNN`: the same, looped over time; **time is dim 0**.
* :class:`SNNRecurrentCell`: one step of a population with input and recurrent weights.
* :class:`SNNRecurrent`: the same, looped over time.

Every forward returns ``(output, state)``. When ``state`` is ``None`` the module builds a fresh
initial state with its ``state_fallback`` (never a tensor shared with another module).

Departures from Norse (spec "Decisions for simctl"):

* The numeric fields of the parameters ``p`` are registered as **non-persistent** buffers (or
  kept as :class:`torch.nn.Parameter` when given as such), so ``.to(device)`` and ``.to(dtype)``
  move them while ``state_dict()`` has the same keys as Norse's (which keeps ``p`` as a plain
  attribute): Norse checkpoints load strictly into simctl modules and back. ``module.p``
  rebuilds the NamedTuple from the registered tensors on every access.
* A parameter given as a Python number keeps full precision: when the module changes dtype
  (``.double()``, ``.to(torch.float64)``) its buffer is rebuilt from the number, so a module
  converted to float64 computes bit-identically to one built in float64.
* Trainable (``nn.Parameter``) fields of ``p`` are saved as ``p__<field>`` (nested:
  ``p__lif__v_th``). Norse never saves ``p``, so these keys may be absent from a state dict
  loaded with ``strict=True``: the module then keeps its current values.
* Weights given as plain tensors (not ``nn.Parameter``) are non-persistent buffers: Norse keeps
  them as plain attributes, outside ``state_dict()``.
* Plain Python floats work everywhere; every numeric parameter may be a per-neuron tensor that
  broadcasts against the state.
* Wrong input shapes raise a :class:`ValueError` that names the expected shape.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

import torch

__all__ = [
    "FeedforwardActivation",
    "RecurrentActivation",
    "NeuronModel",
    "SNNCell",
    "SNN",
    "SNNRecurrentCell",
    "SNNRecurrent",
    "stack_states",
    "is_namedtuple",
    "install_fast_path",
    "state_tuple",
    "is_tracing",
    "mark_initial",
]

FeedforwardActivation = Callable[[torch.Tensor, Any, Any, float], tuple[torch.Tensor, Any]]
"""``activation(input, state, p, dt) -> (output, state)``."""

RecurrentActivation = Callable[
    [torch.Tensor, Any, torch.Tensor, torch.Tensor, Any, float], tuple[torch.Tensor, Any]
]
"""``activation(input, state, input_weights, recurrent_weights, p, dt) -> (output, state)``."""


def is_namedtuple(value: Any) -> bool:
    """True for instances of :func:`typing.NamedTuple` / :func:`collections.namedtuple`."""
    return isinstance(value, tuple) and hasattr(value, "_fields")


#: the fused whole-loop integration of :class:`SNN` layers, installed by a backend package
#: (``import simctl.kernels`` installs its C kernels); the library itself imports no backend
_FAST_LAYER_FORWARD: Callable[..., Any] | None = None
#: tried first in :meth:`SNN.forward`, before its checks and initial state (a backend's cache)
_FAST_LAYER_CALL: Callable[..., Any] | None = None


def install_fast_path(
    forward: Callable[..., Any] | None, call: Callable[..., Any] | None = None
) -> None:
    """Installs ``forward(layer, input, state, p) -> (outputs, state) | None`` as the fast path
    of every :class:`SNN` layer (``None`` restores the plain loop). A backend must return
    exactly what the loop returns, or ``None`` to decline a call.

    ``call(layer, input, state) -> (outputs, state) | None``, optional, runs first in
    ``forward``, with the state as given (``None`` for the initial state): a backend's cached
    path for repeated calls, which must return what ``forward`` would (fresh tensors), or
    ``None`` to let ``forward`` run as usual."""
    global _FAST_LAYER_FORWARD, _FAST_LAYER_CALL
    _FAST_LAYER_FORWARD = forward
    _FAST_LAYER_CALL = call if forward is not None else None


@dataclass(frozen=True)
class NeuronModel:
    """Description of a model for simulators built on the library (simctl's registry).

    Each model file exposes one ``MODEL = NeuronModel(...)``; the registry discovers them, so
    adding a model never edits a central table.

    Attributes:
        name: short name, also the config option (``"lif"``).
        parameters: the Parameters NamedTuple type.
        feed_forward_state: the feed-forward State NamedTuple type.
        feed_forward_step: pure step ``(input, state, p, dt) -> (spikes or output, state)``.
        initial_state: ``(shape, p, dtype, device) -> state``, a fresh full-shape state.
        variables: recordable state fields, as dotted paths into the state (``"lif.v"``).
        spiking: whether the step's output is a spike tensor (False for leaky integrators).
        voltage: dotted path of the membrane potential in the state.
        current_step: the step with the input read as a continuous current in the
            equations (``(current, state, p, dt) -> (out, state)``), so that a current
            protocol delivers the same charge per ms at every ``dt``; ``None`` where the
            library step already reads its input that way (Izhikevich, the box models).
            The library step (``feed_forward_step``) adds its input as a jump (Norse).

    What the parameters, state and inputs mean, with units, is the model file's
    ``DESCRIPTION`` (read without torch by :mod:`simctl.models`).
    """

    name: str
    parameters: type
    feed_forward_state: type
    feed_forward_step: FeedforwardActivation
    initial_state: Callable[..., Any]
    variables: tuple[str, ...]
    spiking: bool = True
    voltage: str = "v"
    extra: Mapping[str, Any] = field(default_factory=dict)
    current_step: FeedforwardActivation | None = None

    @property
    def current_drive_step(self) -> FeedforwardActivation:
        """The step a current protocol drives (:attr:`current_step` or the library step)."""
        return self.current_step or self.feed_forward_step


def _to_tensor(value: Any) -> torch.Tensor:
    if isinstance(value, torch.Tensor):
        return value
    return torch.as_tensor(float(value), dtype=torch.get_default_dtype())


def _is_numeric(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    return isinstance(value, (int, float, torch.Tensor))


class _ParameterMixin:
    """Registers the numeric leaves of a (nested) parameter NamedTuple as buffers."""

    def _register_p(self, p: Any) -> None:
        module: torch.nn.Module = self  # type: ignore[assignment]
        old = getattr(self, "_p_names", ())
        for name in old:
            module._buffers.pop(name, None)
            module._parameters.pop(name, None)
        names: list[str] = []
        spec = self._flatten_p(p, "p", names)
        object.__setattr__(self, "_p_spec", spec)
        object.__setattr__(self, "_p_names", tuple(names))

    def _flatten_p(self, p: Any, prefix: str, names: list[str]) -> Any:
        module: torch.nn.Module = self  # type: ignore[assignment]
        if is_namedtuple(p):
            return (
                type(p),
                [(f, self._flatten_p(getattr(p, f), f"{prefix}__{f}", names)) for f in p._fields],
            )
        if _is_numeric(p):
            given = p if not isinstance(p, torch.Tensor) else None  # a number, for the repr
            if isinstance(p, torch.Tensor) and not torch.is_floating_point(p):
                p = p.to(torch.get_default_dtype())
            tensor = _to_tensor(p)
            if isinstance(tensor, torch.nn.Parameter):
                module.register_parameter(prefix, tensor)
            else:  # outside state_dict(), as Norse's plain-attribute p
                module.register_buffer(prefix, tensor, persistent=False)
            names.append(prefix)
            return ("tensor", prefix, given)
        return ("const", p)

    def _given_numbers(self, spec: Any, out: dict[str, Any]) -> dict[str, Any]:
        """``{buffer name: number}`` for the fields given as Python numbers."""
        if spec[0] == "tensor":
            if spec[2] is not None:
                out[spec[1]] = spec[2]
        elif spec[0] != "const":
            for _, sub in spec[1]:
                self._given_numbers(sub, out)
        return out

    def _apply(self, fn: Callable[..., Any], recurse: bool = True) -> Any:
        """``nn.Module._apply`` (behind ``.to()``, ``.double()``, ``.cuda()``, ...), then rebuilds
        the buffers of Python-number parameters whose dtype changed from the number itself, so
        float64 never inherits a float32 rounding. A buffer edited in place (no longer holding
        its number) is converted as usual."""
        module: torch.nn.Module = self  # type: ignore[assignment]
        exact = {}
        for name, number in self._given_numbers(getattr(self, "_p_spec", ("const",)), {}).items():
            buffer = module._buffers.get(name)
            if buffer is None or buffer.dim() != 0 or not torch.is_floating_point(buffer):
                continue
            if buffer.item() == torch.as_tensor(float(number), dtype=buffer.dtype).item():
                exact[name] = (number, buffer.dtype)
        result = super()._apply(fn, recurse)  # type: ignore[misc]
        for name, (number, old_dtype) in exact.items():
            buffer = module._buffers[name]
            if buffer.dtype != old_dtype and torch.is_floating_point(buffer):
                module._buffers[name] = torch.tensor(
                    float(number), dtype=buffer.dtype, device=buffer.device
                )
        return result

    def _load_from_state_dict(
        self,
        state_dict: Mapping[str, Any],
        prefix: str,
        local_metadata: dict[str, Any],
        strict: bool,
        missing_keys: list[str],
        unexpected_keys: list[str],
        error_msgs: list[str],
    ) -> None:
        # Norse keeps p out of state_dict(): a trainable field of p missing from a (Norse)
        # state dict keeps its current value instead of failing a strict load.
        super()._load_from_state_dict(  # type: ignore[misc]
            state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys, error_msgs
        )
        for name in getattr(self, "_p_names", ()):
            key = prefix + name
            if key not in state_dict and key in missing_keys:
                missing_keys.remove(key)

    def _rebuild_p(self, spec: Any, as_given: bool = False) -> Any:
        module: torch.nn.Module = self  # type: ignore[assignment]
        if spec[0] == "tensor":
            name, given = spec[1], spec[2]
            value = module._parameters.get(name)
            value = value if value is not None else module._buffers[name]
            if as_given and given is not None and value.dim() == 0:
                # a number given by the user is shown as given while the buffer still holds it
                if value.item() == torch.as_tensor(float(given), dtype=value.dtype).item():
                    return given
            return value
        if spec[0] == "const":
            return spec[1]
        cls, fields = spec
        return cls(**{f: self._rebuild_p(s, as_given) for f, s in fields})

    def _p_repr(self) -> str:
        """``p`` as the user gave it (numbers stay numbers), so that
        ``str(LIFCell(p=p)) == f"LIFCell(p={p}, dt=0.001)"`` as in Norse."""
        return repr(self._rebuild_p(self._p_spec, as_given=True))

    def _per_neuron_shapes(self) -> list[tuple[str, tuple[int, ...]]]:
        module: torch.nn.Module = self  # type: ignore[assignment]
        shapes = []
        for name in self._p_names:
            tensor = module._parameters.get(name)
            if tensor is None:
                tensor = module._buffers[name]
            if tensor.dim() > 0:
                shapes.append((name[3:].replace("__", "."), tuple(tensor.shape)))
        return shapes

    def _check_per_neuron(self, input_shape: tuple[int, ...], time_dim: bool) -> None:
        """Per-neuron parameters must broadcast against one step's input.

        A broadcast that enlarges the input (one current of shape ``(..., 1)`` driving a
        heterogeneous population) is allowed; incompatible shapes raise ``ValueError``.
        """
        step_shape = tuple(input_shape[1:]) if time_dim else tuple(input_shape)
        for name, shape in self._per_neuron_shapes():
            try:
                broadcast_shapes(step_shape, shape)
                ok = True
            except RuntimeError:
                ok = False
            if not ok:
                trailing = ", ".join(str(n) for n in shape)
                expected = f"(time, ..., {trailing})" if time_dim else f"(..., {trailing})"
                raise ValueError(
                    f"{type(self).__name__} expects input of shape {expected} to match the "
                    f"per-neuron parameter p.{name} of shape {shape}, got {tuple(input_shape)}"
                )

    @property
    def p(self) -> Any:
        """The neuron parameters (a NamedTuple rebuilt from the registered tensors)."""
        return self._rebuild_p(self._p_spec)

    @p.setter
    def p(self, value: Any) -> None:
        self._register_p(value)


def _tree_map_tensors(value: Any, function: Callable[[torch.Tensor], Any]) -> Any:
    if is_namedtuple(value):
        return type(value)(*[_tree_map_tensors(v, function) for v in value])
    return function(value) if isinstance(value, torch.Tensor) else value


def _broadcast_field(value: Any, template: torch.Tensor) -> Any:
    if isinstance(value, bool) or isinstance(value, str) or value is None:
        return value
    if isinstance(value, (int, float)) or (isinstance(value, torch.Tensor) and value.numel() == 1):
        number = value.item() if isinstance(value, torch.Tensor) else value
        return torch.full_like(template, number)
    if isinstance(value, torch.Tensor) and value.shape == template.shape:
        return value
    shape = tuple(value.shape) if isinstance(value, torch.Tensor) else type(value).__name__
    raise ValueError(
        f"cannot broadcast a field of shape {shape} to the template shape "
        f"{tuple(template.shape)}: only scalars and same-shaped tensors broadcast"
    )


class _StateTupleMethods:
    """The methods of Norse's ``StateTuple`` (``norse.torch.utils.pytree``), attached to a
    NamedTuple by :func:`state_tuple`. Tensor fields are mapped (nested tuples too); numbers and
    strings are kept as they are."""

    def to(self, *args: Any, **kwargs: Any) -> Any:
        """Every tensor field ``.to(*args, **kwargs)``, keeping ``requires_grad``."""

        def move(tensor: torch.Tensor) -> torch.Tensor:
            moved = tensor.to(*args, **kwargs)
            if tensor.requires_grad and not moved.requires_grad and moved.is_floating_point():
                moved.requires_grad_(True)
            return moved

        return _tree_map_tensors(self, move)

    def cuda(self) -> Any:
        return self.to("cuda")

    def cpu(self) -> Any:
        return self.to("cpu")

    def int(self) -> Any:
        return _tree_map_tensors(self, lambda tensor: tensor.int())

    def float(self) -> Any:
        return _tree_map_tensors(self, lambda tensor: tensor.float())

    def broadcast(self, template: torch.Tensor) -> Any:
        """A scalar field becomes ``full_like(template, value)``, a tensor of the template's shape
        is kept, anything else raises ``ValueError``."""
        if is_namedtuple(self):
            return type(self)(*[_broadcast_nested(v, template) for v in self])  # type: ignore[arg-type]
        return self


def _broadcast_nested(value: Any, template: torch.Tensor) -> Any:
    if is_namedtuple(value):
        return type(value)(*[_broadcast_nested(v, template) for v in value])
    return _broadcast_field(value, template)


_T = TypeVar("_T")


def state_tuple(cls: type[_T]) -> type[_T]:
    """Class decorator: gives a NamedTuple Norse's ``StateTuple`` methods (``to``, ``cuda``,
    ``cpu``, ``int``, ``float``, ``broadcast``), as Norse's LIF and LIF-box tuples have.

    Examples:
        >>> from simctl.neurons.lif import LIFState
        >>> LIFState(z=torch.zeros(2), v=torch.ones(2), i=0.0).to(torch.float64).v.dtype
        torch.float64
    """
    for name in ("to", "cuda", "cpu", "int", "float", "broadcast"):
        setattr(cls, name, getattr(_StateTupleMethods, name))
    return cls


def stack_states(states: list[Any]) -> Any:
    """Stacks a list of (nested) state NamedTuples along a new dim 0, field by field."""
    first = states[0]
    if is_namedtuple(first):
        return type(first)(*[stack_states([getattr(s, f) for s in states]) for f in first._fields])
    tensors = [_to_tensor(s) for s in states]
    if any(t.is_sparse for t in tensors):
        tensors = [t.to_dense() for t in tensors]
    return torch.stack(torch.broadcast_tensors(*tensors))


def state_dtype(input_tensor: torch.Tensor) -> torch.dtype:
    """The dtype of states built for ``input_tensor``: its own if floating, else float32."""
    return input_tensor.dtype if torch.is_floating_point(input_tensor) else torch.float32


def broadcast_shapes(*shapes: Any) -> tuple[int, ...]:
    """``torch.broadcast_shapes`` for a few short shapes, in plain Python.

    torch's version imports ``torch.fx.experimental.symbolic_shapes`` (and sympy) on its first
    call, about 0.5 s of a short ``simctl run`` that otherwise never needs them. Raises
    ``RuntimeError`` as torch does when the shapes do not broadcast.
    """
    result: list[int] = []
    for shape in shapes:
        shape = (shape,) if isinstance(shape, int) else tuple(shape)
        if len(shape) > len(result):
            result = [1] * (len(shape) - len(result)) + result
        offset = len(result) - len(shape)
        for k, n in enumerate(shape):
            m = result[offset + k]
            if m == 1:
                result[offset + k] = n
            elif n != 1 and n != m:
                raise RuntimeError(
                    f"shape mismatch: objects cannot be broadcast to a single shape: {shapes}"
                )
    return tuple(result)


def full_state(
    value: Any,
    shape: tuple[int, ...],
    dtype: torch.dtype = torch.float32,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """A fresh tensor of ``shape`` filled with ``value`` (a float or a per-neuron tensor).

    The value is detached, so an initial state never aliases or back-propagates into a
    parameter; the result owns its memory (never a view of ``value``). A per-neuron value that
    is larger than ``shape`` (one input driving a heterogeneous population) widens the result
    to the broadcast shape.
    """
    source = torch.as_tensor(value, dtype=dtype, device=device).detach()
    shape = tuple(broadcast_shapes(tuple(shape), tuple(source.shape)))
    out = torch.empty(shape, dtype=dtype, device=device)
    out.copy_(source.expand(shape))
    return out


def is_tracing() -> bool:
    """True while ``torch.compile``/``torch.export`` (TorchDynamo) or ``torch.jit.trace``
    records the computation (public checks only)."""
    compiler = getattr(torch, "compiler", None)
    if compiler is not None:
        if compiler.is_compiling():
            return True
        is_exporting = getattr(compiler, "is_exporting", None)
        if is_exporting is not None and is_exporting():
            return True
    return bool(torch.jit.is_tracing())


def _initial_state(module: Any, input_tensor: torch.Tensor) -> Any:
    """``module.state_fallback(input)``: a fresh initial state."""
    return module.state_fallback(input_tensor)


#: A zero leaf that requires grad, created outside any compiled region (see mark_initial);
#: its hook keeps its own .grad at zero.
_GRAD_ANCHOR = torch.zeros((), requires_grad=True)
_GRAD_ANCHOR.register_hook(torch.zeros_like)


def mark_initial(tensor: torch.Tensor) -> torch.Tensor:
    """Marks a fresh initial-state tensor as requiring grad (Norse's convention for the initial
    ``v``, so outputs are differentiable even when nothing else is), in place.

    Eagerly this is ``tensor.requires_grad_(True)``. TorchDynamo cannot trace that (nor a factory
    with ``requires_grad=True``) when the tensor feeds a graph output, so while
    ``torch.compile`` traces, the tensor instead gets ``+= 0`` from a module-level zero leaf that
    requires grad (a graph input, like a parameter): the same values, and the outputs require
    grad as in eager mode, so ``fullgraph=True`` holds and backward works. ``torch.export``
    records a forward graph, where the initial state is simply a constant.
    """
    compiler = getattr(torch, "compiler", None)
    if compiler is not None and compiler.is_compiling():
        exporting = getattr(compiler, "is_exporting", None)
        if exporting is not None and exporting():
            return tensor  # an exported program is a forward graph: the state stays a constant
        if torch.is_grad_enabled() and torch.is_floating_point(tensor):
            tensor.add_(_GRAD_ANCHOR.to(tensor.dtype))
        return tensor
    tensor.requires_grad_(True)
    return tensor


def _fmt_dt(dt: float) -> str:
    return repr(float(dt)) if isinstance(dt, (int, float)) else str(dt)


class SNNCell(_ParameterMixin, torch.nn.Module):
    """One step of a feed-forward population: ``forward(input, state=None) -> (output, state)``.

    Args:
        activation: the step function ``(input, state, p, dt) -> (output, state)``.
        state_fallback: builds the initial state from the input when ``state`` is ``None``.
        p: the parameters (a NamedTuple; floats or tensors, per-neuron tensors allowed).
        dt: the integration step, in the time unit of ``p``'s inverse time constants.
        activation_sparse: used instead of ``activation`` when the input is a sparse tensor.
    """

    def __init__(
        self,
        activation: FeedforwardActivation,
        state_fallback: Callable[[torch.Tensor], Any],
        p: Any,
        dt: float = 0.001,
        activation_sparse: FeedforwardActivation | None = None,
    ):
        super().__init__()
        self.activation = activation
        self.activation_sparse = activation_sparse
        self.state_fallback = state_fallback
        self.p = p
        self.dt = dt

    def extra_repr(self) -> str:
        return f"p={self._p_repr()}, dt={_fmt_dt(self.dt)}"

    def forward(self, input_tensor: torch.Tensor, state: Any | None = None) -> tuple[Any, Any]:
        if not isinstance(input_tensor, torch.Tensor):
            raise TypeError(
                f"{type(self).__name__} expects a tensor input, got {type(input_tensor).__name__}"
            )
        self._check_per_neuron(tuple(input_tensor.shape), time_dim=False)
        state = _initial_state(self, input_tensor) if state is None else state
        p = self.p
        if self.activation_sparse is not None and input_tensor.is_sparse:
            return self.activation_sparse(input_tensor, state, p, self.dt)
        return self.activation(input_tensor, state, p, self.dt)


class SNN(_ParameterMixin, torch.nn.Module):
    """A feed-forward population looped over time (dim 0 of the input).

    ``forward(input (T, ...), state=None)`` returns ``(outputs (T, ...), final_state)``; with
    ``record_states=True`` the second element is instead the state of every step, each field
    stacked along a new dim 0.

    When no gradient is needed, :func:`simctl.kernels.fused_layer_forward` may run the whole
    loop in one fused call; the tests prove it equal to the step function.
    """

    def __init__(
        self,
        activation: FeedforwardActivation,
        state_fallback: Callable[[torch.Tensor], Any],
        p: Any,
        dt: float = 0.001,
        activation_sparse: FeedforwardActivation | None = None,
        record_states: bool = False,
    ):
        super().__init__()
        self.activation = activation
        self.activation_sparse = activation_sparse
        self.state_fallback = state_fallback
        self.p = p
        self.dt = dt
        self.record_states = record_states

    def extra_repr(self) -> str:
        return f"p={self._p_repr()}, dt={_fmt_dt(self.dt)}"

    def _fast_path(self, input_tensor: torch.Tensor, state: Any, p: Any) -> Any | None:
        """The fused integration installed by :func:`install_fast_path` (``simctl.kernels``
        installs one when imported); ``None`` means use the loop.

        The fused C kernel writes outside torch's view of the computation, so it steps aside
        whenever torch records one (``torch.compile``, ``torch.export``, ``torch.jit.trace``)
        or the input is not a plain tensor (fake, functional and proxy tensors of tracers):
        the traced program is then the step-function loop and equals eager execution.
        """
        if (
            input_tensor.is_sparse
            or _FAST_LAYER_FORWARD is None
            or is_tracing()
            or type(input_tensor) is not torch.Tensor
        ):
            return None
        return _FAST_LAYER_FORWARD(self, input_tensor, state, p)

    def forward(self, input_tensor: torch.Tensor, state: Any | None = None) -> tuple[Any, Any]:
        if _FAST_LAYER_CALL is not None:
            fast = _FAST_LAYER_CALL(self, input_tensor, state)
            if fast is not None:
                return fast
        if not isinstance(input_tensor, torch.Tensor) or input_tensor.dim() < 1:
            shape = getattr(input_tensor, "shape", None)
            raise ValueError(
                f"{type(self).__name__} expects input of shape (time, ...) with time as dim 0, "
                f"got {tuple(shape) if shape is not None else type(input_tensor).__name__}"
            )
        self._check_per_neuron(tuple(input_tensor.shape), time_dim=True)
        state = _initial_state(self, input_tensor) if state is None else state
        p = self.p
        fast = self._fast_path(input_tensor, state, p)
        if fast is not None:
            return fast
        use_sparse = self.activation_sparse is not None and input_tensor.is_sparse
        step = self.activation_sparse if use_sparse else self.activation
        outputs = []
        states = []
        for ts in range(input_tensor.shape[0]):
            out, state = step(input_tensor[ts], state, p, self.dt)
            outputs.append(out)
            if self.record_states:
                states.append(state)
        if use_sparse and not all(o.is_sparse for o in outputs):
            outputs = [o.to_dense() if o.is_sparse else o for o in outputs]
        stacked = torch.stack(outputs)  # sparse spikes stay sparse, as in Norse
        if self.record_states:
            return stacked, stack_states(states)
        return stacked, state


class _RecurrentMixin(_ParameterMixin):
    def _init_weights(
        self,
        input_size: int,
        hidden_size: int,
        input_weights: torch.Tensor | None,
        recurrent_weights: torch.Tensor | None,
        autapses: bool,
    ) -> None:
        module: torch.nn.Module = self  # type: ignore[assignment]
        self.input_size = torch.as_tensor(input_size)
        self.hidden_size = torch.as_tensor(hidden_size)
        scale = math.sqrt(2.0 / hidden_size)  # He-style on the hidden size, as in Norse
        if input_weights is None:
            input_weights = torch.nn.Parameter(torch.randn(hidden_size, input_size) * scale)
        if recurrent_weights is None:
            recurrent_weights = torch.nn.Parameter(torch.randn(hidden_size, hidden_size) * scale)
        for name, weights in (
            ("input_weights", input_weights),
            ("recurrent_weights", recurrent_weights),
        ):
            if isinstance(weights, torch.nn.Parameter):
                module.register_parameter(name, weights)
            else:  # user tensors are kept as they are (same object), move with .to(), and
                # stay out of state_dict() like Norse's plain attributes
                module.register_buffer(name, weights, persistent=False)
        self.autapses = autapses
        for name, shape in self._per_neuron_shapes():
            try:
                ok = tuple(broadcast_shapes((hidden_size,), shape)) == (hidden_size,)
            except RuntimeError:
                ok = False
            if not ok:
                raise ValueError(
                    f"{type(self).__name__}: the per-neuron parameter p.{name} of shape {shape} "
                    f"must broadcast to the population shape ({hidden_size},)"
                )
        if not autapses:
            self._remove_autapses()

    def _remove_autapses(self) -> None:
        weights: torch.Tensor = self.recurrent_weights  # type: ignore[attr-defined]
        if weights.layout != torch.strided:  # sparse (COO/CSR) weights: no stored diagonal
            return
        with torch.no_grad():
            weights.fill_diagonal_(0.0)
        if weights.is_leaf:
            weights.requires_grad_(True)

        def zero_diagonal_gradient(gradient: torch.Tensor) -> torch.Tensor:
            # keeps the diagonal at 0 through optimiser steps
            gradient = gradient.clone()
            gradient.fill_diagonal_(0.0)
            return gradient

        weights.register_hook(zero_diagonal_gradient)

    def _check_input(self, input_tensor: torch.Tensor, time_dim: bool) -> None:
        n_in = int(self.input_size)
        min_dims = 2 if time_dim else 1
        if (
            not isinstance(input_tensor, torch.Tensor)
            or input_tensor.dim() < min_dims
            or input_tensor.shape[-1] != n_in
        ):
            expected = f"(time, ..., {n_in})" if time_dim else f"(..., {n_in})"
            shape = getattr(input_tensor, "shape", None)
            got = tuple(shape) if shape is not None else type(input_tensor).__name__
            raise ValueError(
                f"{type(self).__name__} expects input of shape {expected} "
                f"(last dimension = input_size = {n_in}), got {got}"
            )

    def extra_repr(self) -> str:
        return (
            f"input_size={int(self.input_size)}, hidden_size={int(self.hidden_size)}, "
            f"p={self._p_repr()}, autapses={self.autapses}, dt={_fmt_dt(self.dt)}"
        )


class SNNRecurrentCell(_RecurrentMixin, torch.nn.Module):
    """One step of a population with input weights (hidden, input) and recurrent weights
    (hidden, hidden).

    Args:
        activation: ``(input, state, input_weights, recurrent_weights, p, dt) -> (z, state)``.
        state_fallback: builds the initial state from the input.
        input_size, hidden_size: sizes of the input and of the population.
        p: the parameters.
        input_weights, recurrent_weights: kept as given; by default ``randn · sqrt(2/hidden)``.
        autapses: keep self-connections; when False the diagonal is zeroed and kept at zero.
        dt: the integration step.
        activation_sparse: used when the input is sparse.
    """

    def __init__(
        self,
        activation: RecurrentActivation,
        state_fallback: Callable[[torch.Tensor], Any],
        input_size: int,
        hidden_size: int,
        p: Any,
        input_weights: torch.Tensor | None = None,
        recurrent_weights: torch.Tensor | None = None,
        autapses: bool = False,
        dt: float = 0.001,
        activation_sparse: RecurrentActivation | None = None,
    ):
        super().__init__()
        self.activation = activation
        self.activation_sparse = activation_sparse
        self.state_fallback = state_fallback
        self.p = p
        self.dt = dt
        self._init_weights(input_size, hidden_size, input_weights, recurrent_weights, autapses)

    def forward(self, input_tensor: torch.Tensor, state: Any | None = None) -> tuple[Any, Any]:
        self._check_input(input_tensor, time_dim=False)
        state = _initial_state(self, input_tensor) if state is None else state
        p = self.p
        if self.activation_sparse is not None and input_tensor.is_sparse:
            step = self.activation_sparse
        else:
            step = self.activation
        return step(input_tensor, state, self.input_weights, self.recurrent_weights, p, self.dt)


class SNNRecurrent(_RecurrentMixin, torch.nn.Module):
    """A recurrent population looped over time (dim 0); see :class:`SNNRecurrentCell`."""

    def __init__(
        self,
        activation: RecurrentActivation,
        state_fallback: Callable[[torch.Tensor], Any],
        input_size: int,
        hidden_size: int,
        p: Any,
        input_weights: torch.Tensor | None = None,
        recurrent_weights: torch.Tensor | None = None,
        autapses: bool = False,
        dt: float = 0.001,
        activation_sparse: RecurrentActivation | None = None,
        record_states: bool = False,
    ):
        super().__init__()
        self.activation = activation
        self.activation_sparse = activation_sparse
        self.state_fallback = state_fallback
        self.p = p
        self.dt = dt
        self.record_states = record_states
        self._init_weights(input_size, hidden_size, input_weights, recurrent_weights, autapses)

    def forward(self, input_tensor: torch.Tensor, state: Any | None = None) -> tuple[Any, Any]:
        self._check_input(input_tensor, time_dim=True)
        state = _initial_state(self, input_tensor) if state is None else state
        p = self.p
        use_sparse = self.activation_sparse is not None and input_tensor.is_sparse
        step = self.activation_sparse if use_sparse else self.activation
        outputs = []
        states = []
        for ts in range(input_tensor.shape[0]):
            out, state = step(
                input_tensor[ts], state, self.input_weights, self.recurrent_weights, p, self.dt
            )
            outputs.append(out)
            if self.record_states:
                states.append(state)
        if use_sparse and not all(o.is_sparse for o in outputs):
            outputs = [o.to_dense() if o.is_sparse else o for o in outputs]
        stacked = torch.stack(outputs)  # sparse spikes stay sparse, as in Norse
        if self.record_states:
            return stacked, stack_states(states)
        return stacked, state
