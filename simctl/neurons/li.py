r"""Leaky integrators (LI): LIF dynamics without threshold or reset; the output is the voltage.

.. math::
    \dot v = \tau_{mem}^{-1} (v_{leak} - v + i), \qquad \dot i = -\tau_{syn}^{-1} i

Forward Euler, one call per step, with the input jump **before** the voltage update (as LIF):

1. ``i1 = i + I`` (``li_step``: ``I = W_in·x``; there is no recurrence)
2. ``v1 = v + dt·tau_mem_inv·(v_leak − v + i1)``
3. ``i2 = i1 − dt·tau_syn_inv·i1``
4. the step returns ``v1`` and the state ``(v1, i2)``; the state's ``v`` is a separate tensor
   from the output, so editing one never changes the other.

Units: Norse's defaults (inverse time constants in 1/s with ``dt = 0.001`` s, dimensionless
voltages); simctl's configs use ms and mV. LI units are typically the read-out layer of a
spiking network.

Examples:
    >>> import torch
    >>> layer = LI()
    >>> v, state = layer(torch.ones(3, 1))
    >>> [round(x, 4) for x in v.flatten().tolist()]
    [0.1, 0.27, 0.487]
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import torch

from ._keywords import keyword_aliases
from ._modules import model_modules, scalar_cell_state, scalar_state
from .base import (
    SNN,
    NeuronModel,
    SNNCell,
    _fmt_dt,
    _ParameterMixin,
    full_state,
    state_dtype,
)

__all__ = [
    "LIParameters",
    "LIState",
    "li_feed_forward_step",
    "li_current_step",
    "li_step",
    "li_initial_state",
    "LICell",
    "LILinearCell",
    "LI",
]


class LIParameters(NamedTuple):
    """Parameters of a leaky integrator.

    Attributes:
        tau_syn_inv: inverse synaptic time constant (1/s with the default dt; 1/ms in configs).
        tau_mem_inv: inverse membrane time constant (same unit).
        v_leak: leak (resting) potential.
    """

    tau_syn_inv: Any = 1.0 / 5e-3
    tau_mem_inv: Any = 1.0 / 1e-2
    v_leak: Any = 0.0


class LIState(NamedTuple):
    """State of a leaky integrator: voltage ``v`` and synaptic current ``i``."""

    v: torch.Tensor
    i: torch.Tensor


def _li_update(
    i_jump: torch.Tensor, state: LIState, p: LIParameters, dt: float
) -> tuple[torch.Tensor, LIState]:
    v_new = state.v + dt * p.tau_mem_inv * ((p.v_leak - state.v) + i_jump)
    i_new = i_jump - dt * p.tau_syn_inv * i_jump
    return v_new, LIState(v=v_new.clone(), i=i_new)


def li_feed_forward_step(
    input_tensor: torch.Tensor,
    state: LIState,
    p: LIParameters = LIParameters(),
    dt: float = 0.001,
) -> tuple[torch.Tensor, LIState]:
    """One Euler step of a leaky integrator (input added to ``i`` first).

    Returns:
        ``(v, LIState(v, i))``: the new voltage and the new state.
    """
    return _li_update(state.i + input_tensor, state, p, dt)


def li_current_step(
    input_current: torch.Tensor,
    state: LIState,
    p: LIParameters = LIParameters(),
    dt: float = 0.001,
) -> tuple[torch.Tensor, LIState]:
    """One Euler step with ``I`` a continuous current into the membrane:
    ``v1 = v + dt·tau_mem_inv·(v_leak − v + i + I)``, ``i1 = i − dt·tau_syn_inv·i``."""
    v_new = state.v + dt * p.tau_mem_inv * ((p.v_leak - state.v) + (state.i + input_current))
    i_new = state.i - dt * p.tau_syn_inv * state.i
    return v_new, LIState(v=v_new.clone(), i=i_new)


@keyword_aliases(input_spikes="input_tensor")
def li_step(
    input_tensor: torch.Tensor,
    state: LIState,
    input_weights: torch.Tensor,
    p: LIParameters = LIParameters(),
    dt: float = 0.001,
) -> tuple[torch.Tensor, LIState]:
    """One Euler step of a leaky integrator behind input weights: ``i1 = i + W_in·x``."""
    i_jump = state.i + torch.nn.functional.linear(input_tensor, input_weights)
    return _li_update(i_jump, state, p, dt)


def li_initial_state(
    shape: tuple[int, ...],
    p: LIParameters = LIParameters(),
    dtype: torch.dtype = torch.float32,
    device: torch.device | str | None = None,
) -> LIState:
    """A fresh state: ``v = v_leak``, ``i = 0``, both of ``shape``."""
    v = full_state(p.v_leak, shape, dtype, device)
    return LIState(v=v, i=torch.zeros(v.shape, dtype=dtype, device=device))


_modules = model_modules(
    LIParameters(),
    feed_forward=li_feed_forward_step,
    cell_state=scalar_cell_state(LIState, "v_leak"),
    initial_state=li_initial_state,
)


@_modules
class LICell(SNNCell):
    """One step of a leaky integrator population (see the module docstring).

    The initial state is ``v = v_leak`` (0-dim, broadcast on the first step) and ``i = 0``
    shaped like the input.

    Args:
        p: the parameters; plain floats and per-neuron tensors work.
        dt: the integration step.
    """


@_modules
class LI(SNN):
    """A leaky integrator population looped over time (dim 0); outputs the voltages.

    Args:
        p: the parameters.
        dt: the integration step.
        record_states: return every step's state (stacked along dim 0) instead of the last.
    """


class LILinearCell(_ParameterMixin, torch.nn.Module):
    """One step of ``hidden_size`` leaky integrators behind a linear map of ``input_size`` inputs.

    ``forward(input (..., input_size), state=None) -> (v (..., hidden_size), LIState)``.

    Args:
        input_size: number of inputs.
        hidden_size: number of integrators.
        p: the parameters (registered as buffers, so ``.to()`` moves them).
        dt: the integration step.
        input_weights: kept as given; by default ``Parameter(randn(hidden, input)/sqrt(input))``.

    Examples:
        >>> import torch
        >>> cell = LILinearCell(2, 4)
        >>> v, state = cell(torch.ones(5, 2))
        >>> v.shape, state.i.shape
        (torch.Size([5, 4]), torch.Size([5, 4]))
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        p: LIParameters = LIParameters(),
        dt: float = 0.001,
        input_weights: torch.Tensor | None = None,
    ):
        super().__init__()
        self.input_size = torch.as_tensor(input_size)
        self.hidden_size = torch.as_tensor(hidden_size)
        self.p = p
        self.dt = dt
        if input_weights is None:
            input_weights = torch.nn.Parameter(
                torch.randn(hidden_size, input_size) / math.sqrt(input_size)
            )
        if isinstance(input_weights, torch.nn.Parameter):
            self.register_parameter("input_weights", input_weights)
        else:  # user tensors are kept as they are (same object), move with .to(), not saved (Norse)
            self.register_buffer("input_weights", input_weights, persistent=False)

    def extra_repr(self) -> str:
        return (
            f"input_size={int(self.input_size)}, hidden_size={int(self.hidden_size)}, "
            f"p={self._p_repr()}, dt={_fmt_dt(self.dt)}"
        )

    def initial_state(self, input_tensor: torch.Tensor) -> LIState:
        i = torch.zeros(
            (*input_tensor.shape[:-1], int(self.hidden_size)),
            dtype=state_dtype(input_tensor),
            device=input_tensor.device,
        )
        return LIState(v=scalar_state(self.p.v_leak, input_tensor), i=i)

    def forward(
        self, input_tensor: torch.Tensor, state: LIState | None = None
    ) -> tuple[torch.Tensor, LIState]:
        n_in = int(self.input_size)
        if (
            not isinstance(input_tensor, torch.Tensor)
            or input_tensor.dim() < 1
            or input_tensor.shape[-1] != n_in
        ):
            shape = getattr(input_tensor, "shape", None)
            got = tuple(shape) if shape is not None else type(input_tensor).__name__
            raise ValueError(
                f"{type(self).__name__} expects input of shape (..., {n_in}) "
                f"(last dimension = input_size = {n_in}), got {got}"
            )
        state = self.initial_state(input_tensor) if state is None else state
        return li_step(input_tensor, state, self.input_weights, self.p, self.dt)


MODEL = NeuronModel(
    name="li",
    parameters=LIParameters,
    feed_forward_state=LIState,
    feed_forward_step=li_feed_forward_step,
    initial_state=li_initial_state,
    variables=("v", "i"),
    spiking=False,
    current_step=li_current_step,
)

#: units, bounds and inputs in simctl's config units (read without torch: simctl.models)
DESCRIPTION = {
    "name": "li",
    "summary": "leaky integrator with an exponential current synapse (no spikes)",
    "equations": "dv/dt = tau_mem_inv (v_leak - v + i + I); di/dt = -tau_syn_inv i",
    "voltage": "v",
    "parameters": {
        "tau_syn_inv": {
            "unit": "1/ms",
            "bounds": "(0, inf)",
            "doc": "inverse synaptic time constant",
        },
        "tau_mem_inv": {
            "unit": "1/ms",
            "bounds": "(0, inf)",
            "doc": "inverse membrane time constant",
        },
        "v_leak": {"unit": "mV", "bounds": "(-inf, inf)", "doc": "leak (resting) potential"},
    },
    "state": {"v": "mV", "i": "mV"},
    "current": {
        "unit": "mV",
        "enters": "v",
        "doc": "R*I, the current times the membrane resistance",
    },
    "jumps": {"v": "mV", "i": "mV"},
    "default_jump": "i",
    "refractory": None,
    "cli_input": {"amplitude": 10.0, "noise_mean": 10.0, "noise_std": 10.0, "jump": 3.0},
}
