r"""LIF neurons with a box (instantaneous) synapse: the input drives the voltage directly.

.. math::
    \dot v = \tau_{mem}^{-1} (v_{leak} - v + I), \qquad z = \Theta(v - v_{th})

Forward Euler, one call per step; there is no synaptic current:

1. ``v1 = v + dt·tau_mem_inv·(I + v_leak − v)``
2. ``z = Θ(v1 − v_th)`` (strict ``>``)
3. ``v2 = reset_method(z, v1, v_reset, v_th)``, with

   * :func:`reset_value` (default): ``(1 − z)·v1 + z·v_reset``
   * :func:`reset_subtract`: ``(1 − z)·v1 + z·(v1 − v_th)``

Units: Norse's defaults (``tau_mem_inv`` in 1/s with ``dt = 0.001`` s, dimensionless voltages);
simctl's configs use ms and mV.

Examples:
    >>> import torch
    >>> layer = LIFBox()
    >>> z, state = layer(torch.full((6, 1), 5.0))
    >>> torch.nonzero(z[:, 0]).flatten().tolist()
    [2, 5]
    >>> cell = LIFBoxCell(LIFBoxParameters(reset_method=reset_subtract))
    >>> z, state = cell(torch.tensor([20.0]), LIFBoxFeedForwardState(v=torch.tensor([0.0])))
    >>> z.tolist(), [round(x, 4) for x in state.v.tolist()]
    ([1.0], [1.0])
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import torch

from ._modules import model_modules, scalar_cell_state
from .base import SNN, NeuronModel, SNNCell, full_state, state_tuple
from .threshold import threshold

__all__ = [
    "ResetMethod",
    "reset_value",
    "reset_subtract",
    "LIFBoxParameters",
    "LIFBoxState",
    "LIFBoxFeedForwardState",
    "lif_box_feed_forward_step",
    "lif_box_initial_state",
    "LIFBoxCell",
    "LIFBox",
]

ResetMethod = Callable[[torch.Tensor, torch.Tensor, Any, Any], torch.Tensor]
"""``reset_method(z, v, v_reset, v_th) -> v`` after the spikes ``z``."""


def reset_value(z: torch.Tensor, v: torch.Tensor, reset: Any, th: Any) -> torch.Tensor:
    """Reset to a value: ``(1 − z)·v + z·reset`` (``th`` is unused)."""
    return (1 - z) * v + z * reset


def reset_subtract(z: torch.Tensor, v: torch.Tensor, reset: Any, th: Any) -> torch.Tensor:
    """Reset by subtraction: ``(1 − z)·v + z·(v − th)`` (``reset`` is unused)."""
    return (1 - z) * v + z * (v - th)


@state_tuple
class LIFBoxParameters(NamedTuple):
    """Parameters of a box-synapse LIF neuron.

    Attributes:
        tau_mem_inv: inverse membrane time constant (1/s with the default dt; 1/ms in configs).
        v_leak: leak (resting) potential.
        v_th: threshold potential; a spike needs ``v > v_th``.
        v_reset: potential after a spike (for :func:`reset_value`).
        method: surrogate gradient method (see :mod:`simctl.neurons.threshold`).
        alpha: surrogate shape parameter.
        reset_method: :func:`reset_value` or :func:`reset_subtract` (any :data:`ResetMethod`).
    """

    tau_mem_inv: Any = 1.0 / 1e-2
    v_leak: Any = 0.0
    v_th: Any = 1.0
    v_reset: Any = 0.0
    method: str = "super"
    alpha: Any = 100.0
    reset_method: ResetMethod = reset_value


@state_tuple
class LIFBoxState(NamedTuple):
    """State of a recurrent box-synapse LIF population: spikes ``z`` and voltage ``v``."""

    z: torch.Tensor
    v: torch.Tensor


@state_tuple
class LIFBoxFeedForwardState(NamedTuple):
    """State of a feed-forward box-synapse LIF population: voltage ``v``."""

    v: torch.Tensor


def lif_box_feed_forward_step(
    input_tensor: torch.Tensor,
    state: LIFBoxFeedForwardState,
    p: LIFBoxParameters = LIFBoxParameters(),
    dt: float = 0.001,
) -> tuple[torch.Tensor, LIFBoxFeedForwardState]:
    """One Euler step of a box-synapse LIF population (see the module docstring).

    Returns:
        ``(z, LIFBoxFeedForwardState(v))`` with ``z`` the 0/1 spikes of this step.
    """
    v_decayed = state.v + dt * p.tau_mem_inv * (input_tensor + p.v_leak - state.v)  # Norse's order
    z_new = threshold(v_decayed - p.v_th, p.method, p.alpha)
    v_new = p.reset_method(z_new, v_decayed, p.v_reset, p.v_th)
    return z_new, LIFBoxFeedForwardState(v=v_new)


def lif_box_initial_state(
    shape: tuple[int, ...],
    p: LIFBoxParameters = LIFBoxParameters(),
    dtype: torch.dtype = torch.float32,
    device: torch.device | str | None = None,
) -> LIFBoxFeedForwardState:
    """A fresh feed-forward state: ``v = v_leak`` of ``shape``."""
    return LIFBoxFeedForwardState(v=full_state(p.v_leak, shape, dtype, device))


_modules = model_modules(
    LIFBoxParameters(),
    extra={"dt": 0.001},  # dt may be positional: Norse's IAF and box modules take (p, dt)
    feed_forward=lif_box_feed_forward_step,
    cell_state=scalar_cell_state(LIFBoxFeedForwardState, "v_leak"),
    initial_state=lif_box_initial_state,
)


@_modules
class LIFBoxCell(SNNCell):
    """One step of a feed-forward box-synapse LIF population (see the module docstring).

    The initial state is ``v = v_leak`` (0-dim, broadcast on the first step).

    Args:
        p: the parameters; plain floats and per-neuron tensors work.
        dt: the integration step.
    """


@_modules
class LIFBox(SNN):
    """A feed-forward box-synapse LIF population looped over time (dim 0).

    Args:
        p: the parameters.
        dt: the integration step.
        record_states: return every step's state (stacked along dim 0) instead of the last.
    """


MODEL = NeuronModel(
    name="lif_box",
    parameters=LIFBoxParameters,
    feed_forward_state=LIFBoxFeedForwardState,
    feed_forward_step=lif_box_feed_forward_step,
    initial_state=lif_box_initial_state,
    variables=("v",),
)

#: units, bounds and inputs in simctl's config units (read without torch: simctl.models)
DESCRIPTION = {
    "name": "lif_box",
    "summary": "leaky integrate-and-fire without a synapse: the input is a current into v",
    "equations": "dv/dt = tau_mem_inv (v_leak - v + I); v > v_th: spike, v <- v_reset",
    "voltage": "v",
    "parameters": {
        "tau_mem_inv": {
            "unit": "1/ms",
            "bounds": "(0, inf)",
            "doc": "inverse membrane time constant",
        },
        "v_leak": {"unit": "mV", "bounds": "(-inf, inf)", "doc": "leak (resting) potential"},
        "v_th": {"unit": "mV", "bounds": "(-inf, inf)", "doc": "threshold (spike when v > v_th)"},
        "v_reset": {"unit": "mV", "bounds": "(-inf, inf)", "doc": "potential after a spike"},
        "method": {"choices": "surrogate", "doc": "surrogate gradient (unused when simulating)"},
        "alpha": {"unit": "1", "bounds": "(0, inf)", "doc": "surrogate sharpness"},
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
    "cli_input": {"amplitude": 16.0, "noise_mean": 14.0, "noise_std": 15.0, "jump": 0.5},
}
