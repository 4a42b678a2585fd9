"""Containers that thread ``(output, state)`` pairs through time and through layers.

``torch.nn.Sequential`` cannot chain spiking modules, because they return ``(output, state)``
and need their state back on the next call. The containers here fill that gap:

* :class:`Lift` applies a module along the time dimension (dim 0) of its input.
* :func:`lift` does the same for a pure step function ``(input, state, p, dt)``.
* :class:`SequentialState` chains modules in one time step, keeping one state per layer.
* :class:`RecurrentSequential` is a :class:`SequentialState` whose selected layer outputs are
  fed back and added to the next step's input.
* :class:`RegularizationCell`, :func:`regularize_step`, :func:`spike_accumulator` and
  :func:`voltage_accumulator` accumulate an activity measure (spike count, voltage) for a loss.

A module is **stateful** when its ``forward`` has a parameter named ``state`` or when it is a
:class:`torch.nn.RNNBase`; stateful modules are called as ``module(x, state)`` and must return
``(output, new_state)``; the others are called as ``module(x)``.

Examples:
    >>> import torch
    >>> from simctl.neurons import LIFCell
    >>> model = SequentialState(torch.nn.Linear(4, 3), LIFCell())
    >>> out, state = model(torch.ones(2, 4))
    >>> out.shape, state[0] is None, type(state[1]).__name__
    (torch.Size([2, 3]), True, 'LIFFeedForwardState')
    >>> lifted = Lift(LIFCell())
    >>> z, last = lifted(torch.ones(10, 2, 3))
    >>> z.shape
    torch.Size([10, 2, 3])
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import torch

from ._keywords import keyword_aliases

__all__ = [
    "Lift",
    "lift",
    "SequentialState",
    "RecurrentSequential",
    "RecurrentSequentialState",
    "RegularizationCell",
    "regularize_step",
    "spike_accumulator",
    "voltage_accumulator",
    "is_stateful",
]


def is_stateful(module: Any) -> bool:
    """True when ``module`` takes a state: an RNN, or a ``forward`` with a ``state`` parameter."""
    if isinstance(module, torch.nn.RNNBase):
        return True
    forward = getattr(module, "forward", None)
    if forward is None:
        return False
    function = getattr(forward, "__func__", forward)
    if _is_compiling():  # dynamo warns about lru_cache wrappers: trace the plain check
        return _takes_state.__wrapped__(function)
    # SequentialState asks on every step: cache per underlying function, not per call
    return _takes_state(function)


def _is_compiling() -> bool:
    compiler = getattr(torch, "compiler", None)
    check = getattr(compiler, "is_compiling", None)
    return bool(check()) if check is not None else False


@functools.lru_cache(maxsize=1024)
def _takes_state(function: Callable[..., Any]) -> bool:
    try:
        parameters = inspect.signature(function).parameters
    except (TypeError, ValueError):  # builtins without a signature
        return False
    return "state" in parameters


def _split_input(input_tensor: Any) -> tuple[torch.Tensor, Any]:
    """``(x, state)`` tuples seed the state; a plain tensor starts from ``None``."""
    if isinstance(input_tensor, tuple) and not hasattr(input_tensor, "_fields"):
        if len(input_tensor) != 2:
            raise ValueError(
                f"expected a tensor or a tuple (input, state), got a tuple of {len(input_tensor)}"
            )
        return input_tensor[0], input_tensor[1]
    return input_tensor, None


class Lift(torch.nn.Module):
    """Applies ``module`` to every step of a (T, ...) input, looping over dim 0.

    The input is a tensor, or a tuple ``(x, state)`` whose state seeds the first step (it is
    used, not ignored). Stateful modules (see :func:`is_stateful`) receive the state of the
    previous step and the lifted module returns ``(stack(outputs), last_state)``; stateless
    modules return ``stack(outputs)``.

    Args:
        module: the module to apply at each time step.

    Examples:
        >>> import torch
        >>> conv = Lift(torch.nn.Conv2d(2, 4, 3))
        >>> conv(torch.ones(5, 1, 2, 8, 8)).shape
        torch.Size([5, 1, 4, 6, 6])
    """

    def __init__(self, module: torch.nn.Module):
        super().__init__()
        self.lifted_module = module
        self.is_stateful = is_stateful(module)  # Norse's attribute name

    @keyword_aliases(x="input_tensor")
    def forward(self, input_tensor: Any) -> Any:
        x, state = _split_input(input_tensor)
        if not isinstance(x, torch.Tensor) or x.dim() < 1:
            raise ValueError("Lift expects an input of shape (time, ...) with time as dim 0")
        outputs = []
        for x_t in x:
            if self.is_stateful:
                out, state = self.lifted_module(x_t, state)
            else:
                out = self.lifted_module(x_t)
            outputs.append(out)
        stacked = torch.stack(outputs)
        if self.is_stateful:
            return stacked, state
        return stacked


def lift(
    activation: Callable[..., tuple[torch.Tensor, Any]], p: Any = None
) -> Callable[..., tuple[torch.Tensor, Any]]:
    """Lifts a step function ``activation(input, state, p=..., dt=...)`` over dim 0.

    The returned callable is ``lifted(input (T, ...), state=..., **kwargs)``: it passes ``p``
    (the one given here, unless the call gives its own ``p``) and the other keyword arguments to
    every step, threads the state and returns ``(stack(outputs), final_state)``.

    Raises:
        TypeError: when the call gives no ``state`` (a step function has no state fallback).

    Examples:
        >>> import torch
        >>> from simctl.neurons import LIFFeedForwardState, LIFParameters, lif_feed_forward_step
        >>> lifted = lift(lif_feed_forward_step, p=LIFParameters())
        >>> state = LIFFeedForwardState(v=torch.zeros(3), i=torch.zeros(3))
        >>> z, state = lifted(torch.ones(9, 3), state=state)
        >>> z[:, 0].tolist()
        [0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 1.0]
    """

    def lifted(input_tensor: torch.Tensor, **kwargs: Any) -> tuple[torch.Tensor, Any]:
        state = kwargs.pop("state", None)
        if state is None:
            name = getattr(activation, "__name__", type(activation).__name__)
            raise TypeError(
                f"lift({name}) needs an initial state: call it as lifted(input, state=...)"
            )
        if p is not None and "p" not in kwargs:
            kwargs["p"] = p
        outputs = []
        for x_t in input_tensor:
            out, state = activation(x_t, state, **kwargs)
            outputs.append(out)
        return torch.stack(outputs), state

    return lifted


class SequentialState(torch.nn.Sequential):
    """A :class:`torch.nn.Sequential` that carries one state per layer (one time step).

    ``forward(x, state=None)`` takes a list with one entry per layer (``None`` entries, or
    ``state=None``, let each stateful layer build its own initial state). Stateful layers are
    called as ``layer(x, s)``; stateless layers as ``layer(x)`` and get ``None`` in the state
    list. The returned state list is always a new list (the argument is never modified).

    Args:
        *modules: the layers, in order.
        return_hidden: return the list of every layer's output instead of the last output.

    Returns:
        ``(output, state_list)``, or ``([output of every layer], state_list)``.

    Examples:
        >>> import torch
        >>> from simctl.neurons import LIFCell
        >>> model = SequentialState(torch.nn.Linear(2, 3), LIFCell(), return_hidden=True)
        >>> hidden, state = model(torch.ones(4, 2))
        >>> [h.shape[-1] for h in hidden], len(state)
        ([3, 3], 2)
    """

    def __init__(self, *modules: torch.nn.Module, return_hidden: bool = False):
        super().__init__(*modules)
        self.return_hidden = return_hidden
        self.forward_state_hooks: list[torch.utils.hooks.RemovableHandle] = []

    @property
    def stateful_layers(self) -> list[bool]:
        """For each layer, whether it is stateful (see :func:`is_stateful`)."""
        return [is_stateful(module) for module in self]

    def register_forward_state_hooks(self, forward_hook: Callable[..., Any]) -> None:
        """Registers ``forward_hook(module, input, output)`` on every stateful layer.

        Raises:
            ValueError: when hooks are already installed (remove them first).
        """
        if self.forward_state_hooks:
            raise ValueError(
                "forward state hooks are already installed; call remove_forward_state_hooks()"
            )
        for module, stateful in zip(self, self.stateful_layers, strict=True):
            if stateful:
                self.forward_state_hooks.append(module.register_forward_hook(forward_hook))

    def remove_forward_state_hooks(self) -> None:
        """Removes the hooks installed by :meth:`register_forward_state_hooks`."""
        for handle in self.forward_state_hooks:
            handle.remove()
        self.forward_state_hooks.clear()

    def append(self, module: torch.nn.Module) -> SequentialState:
        """Appends a layer at the end; returns ``self``."""
        super().append(module)
        return self

    def forward(  # type: ignore[override]
        self, input_tensor: torch.Tensor, state: Sequence[Any] | None = None
    ) -> tuple[Any, list[Any]]:
        n_layers = len(self)
        if state is None:
            state = [None] * n_layers
        elif len(state) != n_layers:
            raise ValueError(
                f"SequentialState has {n_layers} layers but got a state list of {len(state)}"
            )
        new_state: list[Any] = []
        hidden: list[Any] = []
        x = input_tensor
        for module, layer_state in zip(self, state, strict=True):
            if is_stateful(module):
                x, layer_state = module(x, layer_state)
                new_state.append(layer_state)
            else:
                x = module(x)
                new_state.append(None)
            if self.return_hidden:
                hidden.append(x)
        return (hidden if self.return_hidden else x), new_state


class RecurrentSequentialState(NamedTuple):
    """State of :class:`RecurrentSequential`.

    Attributes:
        cache: the fed-back outputs of the previous step (added to the next input), or None.
        state: the per-layer state list of the inner :class:`SequentialState`, or None.
    """

    cache: Any = None
    state: Any = None


class RecurrentSequential(torch.nn.Module):
    """A :class:`SequentialState` whose selected layer outputs are fed back as input.

    One call is one time step. The outputs of the layers selected by ``output_modules`` are
    summed and kept in the state's ``cache``; the next call adds that cache to its input, so
    every selected layer's output must have the input's shape (or broadcast to it).

    Args:
        *modules: the layers, in order.
        output_modules: index (or indices) of the layer(s) whose output is fed back; ``-1``, the
            default, feeds back the last layer's output.

    Returns:
        ``(output, RecurrentSequentialState(cache, layer_states))``: the selected layer's output
        for an integer ``output_modules``, the list of selected outputs for a sequence.

    Examples:
        >>> import torch
        >>> from simctl.neurons import LIFCell
        >>> model = RecurrentSequential(torch.nn.Linear(3, 3), LIFCell())
        >>> out, state = model(torch.ones(2, 3))
        >>> out, state = model(torch.ones(2, 3), state)
        >>> out.shape, state.cache.shape
        (torch.Size([2, 3]), torch.Size([2, 3]))
    """

    def __init__(self, *modules: torch.nn.Module, output_modules: int | Sequence[int] = -1):
        super().__init__()
        # named ``module`` as in Norse, so state_dict keys match (``module.0.weight``)
        self.module = SequentialState(*modules, return_hidden=True)
        indices = [output_modules] if isinstance(output_modules, int) else list(output_modules)
        if not indices:
            raise ValueError("output_modules must select at least one layer")
        n_layers = len(self.module)
        for index in indices:
            if not -n_layers <= index < n_layers:
                raise ValueError(f"output module {index} out of range for {n_layers} layers")
        self.output_modules = indices
        self._single_output = isinstance(output_modules, int)

    @keyword_aliases(x="input_tensor")
    def forward(
        self, input_tensor: torch.Tensor, state: RecurrentSequentialState | None = None
    ) -> tuple[Any, RecurrentSequentialState]:
        state = RecurrentSequentialState() if state is None else state
        x = input_tensor if state.cache is None else input_tensor + state.cache
        hidden, layer_states = self.module(x, state.state)
        cache = hidden[self.output_modules[0]]
        for index in self.output_modules[1:]:
            cache = cache + hidden[index]
        new_state = RecurrentSequentialState(cache=cache, state=layer_states)
        if self._single_output:  # as Norse: the selected layer's output
            return hidden[self.output_modules[0]], new_state
        return [hidden[index] for index in self.output_modules], new_state


def spike_accumulator(z: torch.Tensor, s: Any, state: Any = None) -> torch.Tensor:
    """Counts spikes: ``state + z.sum()`` (``state`` starts at 0)."""
    count = z.sum()
    return count if state is None else state + count


def voltage_accumulator(z: torch.Tensor, s: Any, state: Any = None) -> torch.Tensor:
    """Sums membrane voltages: ``state + s.v`` (``state`` starts at ``zeros_like(s.v)``)."""
    # a fresh tensor even on the first call, so the accumulator never aliases the neuron state
    return (torch.zeros_like(s.v) if state is None else state) + s.v


def regularize_step(
    z: torch.Tensor,
    s: Any,
    accumulator: Callable[[torch.Tensor, Any, Any], Any] = spike_accumulator,
    state: Any = None,
) -> tuple[torch.Tensor, Any]:
    """Passes ``z`` through and accumulates: returns ``(z, accumulator(z, s, state))``.

    Examples:
        >>> import torch
        >>> z, count = regularize_step(torch.ones(2, 3), None)
        >>> count
        tensor(6.)
    """
    return z, accumulator(z, s, state)


class RegularizationCell(torch.nn.Module):
    """Accumulates an activity term across calls, for a regularisation loss.

    ``forward(z, s)`` returns ``(z, accumulated)`` and keeps the accumulated value in
    :attr:`state` (reset it with ``cell.state = None``).

    Args:
        accumulator: ``(z, s, state) -> new state``; :func:`spike_accumulator` by default.
        state: the initial accumulated value (``None`` lets the accumulator start).

    Examples:
        >>> import torch
        >>> from simctl.neurons import LIFCell
        >>> cell, regularization = LIFCell(), RegularizationCell()
        >>> z, s = cell(torch.full((5, 2), 1000.0))
        >>> z, count = regularization(z, s)
        >>> int(count)
        10
    """

    def __init__(
        self,
        accumulator: Callable[[torch.Tensor, Any, Any], Any] = spike_accumulator,
        state: Any = None,
    ):
        super().__init__()
        self.accumulator = accumulator
        self.state = state

    def forward(self, z: torch.Tensor, s: Any) -> tuple[torch.Tensor, Any]:
        _, self.state = regularize_step(z, s, self.accumulator, self.state)
        return z, self.state
