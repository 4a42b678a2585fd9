r"""Leaky integrators with a box (instantaneous) synapse: the input drives the voltage directly.

.. math::
    \dot v = \tau_{mem}^{-1} (v_{leak} - v + I)

Forward Euler, one call per step; there is no synaptic current, so the state is only ``v``:

1. ``v1 = v + dt·tau_mem_inv·(v_leak − v + I)`` (``li_box_step``: ``I = W_in·x``)
2. the step returns ``v1`` and the state ``(v1,)`` (a separate tensor from the output).

Units: Norse's defaults (``tau_mem_inv`` in 1/s with ``dt = 0.001`` s, dimensionless voltages);
simctl's configs use ms and mV.

Examples:
    >>> import torch
    >>> cell = LIBoxCell(LIBoxParameters(tau_mem_inv=1000.0))
    >>> v, state = cell(torch.ones(2))
    >>> v.tolist()
    [1.0, 1.0]
    >>> layer = LIBox()
    >>> v, state = layer(torch.ones(3, 1))
    >>> [round(x, 4) for x in v.flatten().tolist()]
    [0.1, 0.19, 0.271]
"""

from __future__ import annotations

from typing import Any, NamedTuple

import torch

from ._keywords import keyword_aliases
from ._modules import model_modules, scalar_cell_state
from .base import SNN, NeuronModel, SNNCell, full_state

__all__ = [
    "LIBoxParameters",
    "LIBoxState",
    "li_box_feed_forward_step",
    "li_box_step",
    "li_box_initial_state",
    "LIBoxCell",
    "LIBox",
]


class LIBoxParameters(NamedTuple):
    """Parameters of a box-synapse leaky integrator.

    Attributes:
        tau_mem_inv: inverse membrane time constant (1/s with the default dt; 1/ms in configs).
        v_leak: leak (resting) potential.
    """

    tau_mem_inv: Any = 1.0 / 1e-2
    v_leak: Any = 0.0


class LIBoxState(NamedTuple):
    """State of a box-synapse leaky integrator: voltage ``v``."""

    v: torch.Tensor


def li_box_feed_forward_step(
    input_tensor: torch.Tensor,
    state: LIBoxState,
    p: LIBoxParameters = LIBoxParameters(),
    dt: float = 0.001,
) -> tuple[torch.Tensor, LIBoxState]:
    """One Euler step: ``v1 = v + dt·tau_mem_inv·(v_leak − v + I)``; returns ``(v1, state)``."""
    v_new = state.v + dt * p.tau_mem_inv * ((p.v_leak - state.v) + input_tensor)
    return v_new, LIBoxState(v=v_new.clone())


@keyword_aliases(input_spikes="input_tensor")
def li_box_step(
    input_tensor: torch.Tensor,
    state: LIBoxState,
    input_weights: torch.Tensor,
    p: LIBoxParameters = LIBoxParameters(),
    dt: float = 0.001,
) -> tuple[torch.Tensor, LIBoxState]:
    """:func:`li_box_feed_forward_step` with the input ``I = W_in·x``."""
    current = torch.nn.functional.linear(input_tensor, input_weights)
    return li_box_feed_forward_step(current, state, p, dt)


def li_box_initial_state(
    shape: tuple[int, ...],
    p: LIBoxParameters = LIBoxParameters(),
    dtype: torch.dtype = torch.float32,
    device: torch.device | str | None = None,
) -> LIBoxState:
    """A fresh state: ``v = v_leak`` of ``shape``."""
    return LIBoxState(v=full_state(p.v_leak, shape, dtype, device))


_modules = model_modules(
    LIBoxParameters(),
    extra={"dt": 0.001},  # dt may be positional: Norse's IAF and box modules take (p, dt)
    feed_forward=li_box_feed_forward_step,
    cell_state=scalar_cell_state(LIBoxState, "v_leak"),
    initial_state=li_box_initial_state,
)


@_modules
class LIBoxCell(SNNCell):
    """One step of a box-synapse leaky integrator population (see the module docstring).

    The initial state is ``v = v_leak`` (0-dim, broadcast on the first step).

    Args:
        p: the parameters; plain floats and per-neuron tensors work.
        dt: the integration step.
    """


@_modules
class LIBox(SNN):
    """A box-synapse leaky integrator population looped over time (dim 0).

    Args:
        p: the parameters.
        dt: the integration step.
        record_states: return every step's state (stacked along dim 0) instead of the last.
    """


MODEL = NeuronModel(
    name="li_box",
    parameters=LIBoxParameters,
    feed_forward_state=LIBoxState,
    feed_forward_step=li_box_feed_forward_step,
    initial_state=li_box_initial_state,
    variables=("v",),
    spiking=False,
)

#: units, bounds and inputs in simctl's config units (read without torch: simctl.models)
DESCRIPTION = {
    "name": "li_box",
    "summary": "leaky integrator without a synapse (no spikes)",
    "equations": "dv/dt = tau_mem_inv (v_leak - v + I)",
    "voltage": "v",
    "parameters": {
        "tau_mem_inv": {
            "unit": "1/ms",
            "bounds": "(0, inf)",
            "doc": "inverse membrane time constant",
        },
        "v_leak": {"unit": "mV", "bounds": "(-inf, inf)", "doc": "leak (resting) potential"},
    },
    "state": {"v": "mV"},
    "current": {
        "unit": "mV",
        "enters": "v",
        "doc": "R*I, the current times the membrane resistance",
    },
    "jumps": {"v": "mV"},
    "default_jump": "v",
    "refractory": None,
    "cli_input": {"amplitude": 10.0, "noise_mean": 10.0, "noise_std": 10.0, "jump": 0.5},
}
