r"""Integrate-and-fire (IAF) neurons without a leak: a perfect integrator with a threshold.

.. math::
    v_{k+1} = v_k + I_k, \qquad z = \Theta(v_{k+1} - v_{th}), \quad v \leftarrow v_{reset}
    \text{ on } z = 1

Each call adds the input directly to the voltage (the input is a charge per step, so ``dt`` is
accepted for a uniform signature but ignored):

1. ``v1 = v + I`` (recurrent: ``I = W_in·x + W_rec·z_old``)
2. ``z = Θ(v1 − v_th)`` (strict ``>``)
3. ``v2 = (1 − z)·v1 + z·v_reset``

Units: dimensionless voltages by default (``v_th = 1``, ``v_reset = 0``); any consistent voltage
unit works (the bio preset is ``v_th = −55``, ``v_reset = −70`` mV). The initial voltage is a
fresh copy of ``v_reset``; unlike Norse the parameter tensor itself is never used as the state.

Examples:
    >>> import torch
    >>> cell = IAFCell()
    >>> z, state = cell(torch.full((2,), 0.3))
    >>> state.v
    tensor([0.3000, 0.3000], grad_fn=<AddBackward0>)
    >>> layer = IAF()
    >>> z, state = layer(torch.full((8, 1), 0.3))
    >>> torch.nonzero(z[:, 0]).flatten().tolist()
    [3, 7]
"""

from __future__ import annotations

from typing import Any, NamedTuple

import torch

from ._keywords import keyword_aliases
from ._modules import model_modules, scalar_cell_state
from .base import SNN, NeuronModel, SNNCell, full_state
from .threshold import threshold

__all__ = [
    "IAFParameters",
    "IAFState",
    "IAFFeedForwardState",
    "iaf_feed_forward_step",
    "iaf_current_step",
    "iaf_step",
    "iaf_initial_state",
    "IAFCell",
    "IAF",
]


class IAFParameters(NamedTuple):
    """Parameters of an IAF neuron.

    Attributes:
        v_th: threshold potential; a spike needs ``v > v_th``.
        v_reset: potential after a spike (and the initial potential).
        method: surrogate gradient method (see :mod:`simctl.neurons.threshold`).
        alpha: surrogate shape parameter.
    """

    v_th: Any = 1.0
    v_reset: Any = 0.0
    method: str = "super"
    alpha: Any = 100.0


class IAFState(NamedTuple):
    """State of a recurrent IAF population: spikes ``z`` and voltage ``v``."""

    z: torch.Tensor
    v: torch.Tensor


class IAFFeedForwardState(NamedTuple):
    """State of a feed-forward IAF population: voltage ``v``."""

    v: torch.Tensor


def _iaf_fire(v_jump: torch.Tensor, p: IAFParameters) -> tuple[torch.Tensor, torch.Tensor]:
    """Steps 2–3: threshold and reset; returns ``(z, v2)``."""
    z_new = threshold(v_jump - p.v_th, p.method, p.alpha)
    v_new = (1 - z_new) * v_jump + z_new * p.v_reset
    return z_new, v_new


@keyword_aliases(input_spikes="input_tensor")
def iaf_feed_forward_step(
    input_tensor: torch.Tensor,
    state: IAFFeedForwardState,
    p: IAFParameters = IAFParameters(),
    dt: float = 0.001,
) -> tuple[torch.Tensor, IAFFeedForwardState]:
    """One step of a feed-forward IAF population: ``v1 = v + I`` (``dt`` is ignored).

    Returns:
        ``(z, IAFFeedForwardState(v))`` with ``z`` the 0/1 spikes of this step.
    """
    z_new, v_new = _iaf_fire(state.v + input_tensor, p)
    return z_new, IAFFeedForwardState(v=v_new)


def iaf_current_step(
    input_current: torch.Tensor,
    state: IAFFeedForwardState,
    p: IAFParameters = IAFParameters(),
    dt: float = 0.001,
) -> tuple[torch.Tensor, IAFFeedForwardState]:
    """One Euler step of ``dv/dt = I`` with ``I`` a continuous current (voltage per unit
    time: mV/ms in simctl's configs): ``v1 = v + dt·I``, then threshold and reset."""
    z_new, v_new = _iaf_fire(state.v + dt * input_current, p)
    return z_new, IAFFeedForwardState(v=v_new)


@keyword_aliases(input_spikes="input_tensor")
def iaf_step(
    input_tensor: torch.Tensor,
    state: IAFState,
    input_weights: torch.Tensor,
    recurrent_weights: torch.Tensor,
    p: IAFParameters = IAFParameters(),
    dt: float = 0.001,
) -> tuple[torch.Tensor, IAFState]:
    """One step of a recurrent IAF population: ``v1 = v + W_in·x + W_rec·z_old``."""
    v_jump = (
        state.v
        + torch.nn.functional.linear(input_tensor, input_weights)
        + torch.nn.functional.linear(state.z, recurrent_weights)
    )
    z_new, v_new = _iaf_fire(v_jump, p)
    return z_new, IAFState(z=z_new, v=v_new)


def iaf_initial_state(
    shape: tuple[int, ...],
    p: IAFParameters = IAFParameters(),
    dtype: torch.dtype = torch.float32,
    device: torch.device | str | None = None,
) -> IAFFeedForwardState:
    """A fresh feed-forward state: ``v = v_reset`` of ``shape`` (a copy, never ``p.v_reset``)."""
    return IAFFeedForwardState(v=full_state(p.v_reset, shape, dtype, device))


_modules = model_modules(
    IAFParameters(),
    extra={"dt": 0.001},  # dt may be positional: Norse's IAF and box modules take (p, dt)
    feed_forward=iaf_feed_forward_step,
    cell_state=scalar_cell_state(IAFFeedForwardState, "v_reset"),
    initial_state=iaf_initial_state,
)


@_modules
class IAFCell(SNNCell):
    """One step of a feed-forward IAF population (see the module docstring).

    The initial state is a fresh 0-dim (or per-neuron) copy of ``v_reset`` that broadcasts on
    the first step.

    Args:
        p: the parameters; plain floats and per-neuron tensors work.
        dt: accepted for a uniform signature; IAF ignores it.
    """


@_modules
class IAF(SNN):
    """A feed-forward IAF population looped over time (dim 0).

    Args:
        p: the parameters.
        dt: accepted for a uniform signature; IAF ignores it.
        record_states: return every step's state (stacked along dim 0) instead of the last.
    """


MODEL = NeuronModel(
    name="iaf",
    parameters=IAFParameters,
    feed_forward_state=IAFFeedForwardState,
    feed_forward_step=iaf_feed_forward_step,
    initial_state=iaf_initial_state,
    variables=("v",),
    current_step=iaf_current_step,
)

#: units, bounds and inputs in simctl's config units (read without torch: simctl.models)
DESCRIPTION = {
    "name": "iaf",
    "summary": "integrate-and-fire without leak (a perfect integrator with a threshold)",
    "equations": "dv/dt = I; v > v_th: spike, v <- v_reset",
    "voltage": "v",
    "parameters": {
        "v_th": {"unit": "mV", "bounds": "(-inf, inf)", "doc": "threshold (spike when v > v_th)"},
        "v_reset": {"unit": "mV", "bounds": "(-inf, inf)", "doc": "potential after a spike"},
        "method": {"choices": "surrogate", "doc": "surrogate gradient (unused when simulating)"},
        "alpha": {"unit": "1", "bounds": "(0, inf)", "doc": "surrogate sharpness"},
    },
    "state": {"v": "mV"},
    "current": {"unit": "mV/ms", "enters": "v", "doc": "the rate of rise of v"},
    "jumps": {"v": "mV"},
    "default_jump": "v",
    "refractory": None,
    "cli_input": {"amplitude": 0.3, "noise_mean": 0.25, "noise_std": 1.0, "jump": 0.1},
}
