r"""Exponential leaky integrate-and-fire (LIFEx) neurons with exponential current synapses.

.. math::
    \dot v = \tau_{mem}^{-1} \left(v_{leak} - v + \Delta_T e^{(v - v_{th})/\Delta_T} + i\right),
    \qquad \dot i = -\tau_{syn}^{-1} i, \qquad
    z = \Theta(v - v_{th}), \quad v \leftarrow v_{reset} \text{ on } z = 1

Forward Euler, one call per step, the input jump **before** the voltage update (as in LIF) and
the exponential term evaluated on the **old** voltage:

1. ``i1 = i + I`` (recurrent: ``I = W_in·x + W_rec·z_old``)
2. ``v1 = v + dt·tau_mem_inv·(v_leak − v + delta_T·exp((v − v_th)/delta_T) + i1)``
3. ``i2 = i1 − dt·tau_syn_inv·i1``
4. ``z = Θ(v1 − v_th)`` (strict ``>``)
5. ``v2 = (1 − z)·v1 + z·v_reset`` (``z`` not detached, in the recurrent step too, as in Norse)

Units: Norse's defaults (inverse time constants in 1/s with ``dt = 0.001``, dimensionless
voltages, ``v_th = 1``); any consistent unit system works (simctl's configs use ms and mV).
``delta_T`` must be positive: ``delta_T = 0`` divides by zero (NaN above threshold).

Reference: Fourcaud-Trocmé, Hansel, van Vreeswijk & Brunel (2003), "How spike generation
mechanisms determine the neuronal response to fluctuating inputs", J. Neurosci. 23(37).

Examples:
    >>> import torch
    >>> cell = LIFExCell()
    >>> z, state = cell(torch.ones(5, 2))
    >>> z.shape, state.v.shape
    (torch.Size([5, 2]), torch.Size([5, 2]))
    >>> layer = LIFEx()
    >>> z, state = layer(torch.ones(9, 1))
    >>> torch.nonzero(z[:, 0]).flatten().tolist()
    [4, 7]
"""

from __future__ import annotations

from typing import Any, NamedTuple

import torch

from ._keywords import keyword_aliases
from ._modules import model_modules
from .base import (
    SNN,
    NeuronModel,
    SNNCell,
    SNNRecurrent,
    SNNRecurrentCell,
    full_state,
)
from .threshold import threshold

__all__ = [
    "LIFExParameters",
    "LIFExState",
    "LIFExFeedForwardState",
    "lif_ex_step",
    "lif_ex_feed_forward_step",
    "lif_ex_current_step",
    "lif_ex_current_encoder",
    "lif_ex_initial_state",
    "LIFExCell",
    "LIFEx",
    "LIFExRecurrentCell",
    "LIFExRecurrent",
]


class LIFExParameters(NamedTuple):
    """Parameters of an exponential LIF neuron.

    Attributes:
        delta_T: sharpness of the exponential spike initiation (voltage unit, > 0).
        tau_syn_inv: inverse synaptic time constant (1/s with the default dt; 1/ms in configs).
        tau_mem_inv: inverse membrane time constant (same unit).
        v_leak: leak (resting) potential.
        v_th: threshold potential of the exponential term; a spike needs ``v > v_th``.
        v_reset: potential after a spike.
        method: surrogate gradient method (see :mod:`simctl.neurons.threshold`).
        alpha: surrogate shape parameter.
    """

    delta_T: Any = 0.5
    tau_syn_inv: Any = 1.0 / 5e-3
    tau_mem_inv: Any = 1.0 / 1e-2
    v_leak: Any = 0.0
    v_th: Any = 1.0
    v_reset: Any = 0.0
    method: str = "super"
    alpha: Any = 100.0


_DEFAULT_P = LIFExParameters()  # immutable NamedTuple, the default of every ``p``


class LIFExState(NamedTuple):
    """State of a recurrent LIFEx population: spikes ``z``, voltage ``v``, current ``i``."""

    z: torch.Tensor
    v: torch.Tensor
    i: torch.Tensor


class LIFExFeedForwardState(NamedTuple):
    """State of a feed-forward LIFEx population: voltage ``v``, synaptic current ``i``."""

    v: torch.Tensor
    i: torch.Tensor


_ZERO = torch.zeros(())  # never modified: the steps are out of place
_ZERO_STATE = LIFExFeedForwardState(_ZERO, _ZERO)  # Norse's default state (all zeros) of the step


def _lif_ex_update(
    i_jump: torch.Tensor, v: torch.Tensor, p: LIFExParameters, dt: float
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Steps 2–5 from the current after the jump; returns ``(z, v2, i2)``."""
    dv_exp = p.delta_T * torch.exp((v - p.v_th) / p.delta_T)
    v_decayed = v + dt * p.tau_mem_inv * ((p.v_leak - v) + dv_exp + i_jump)
    i_decayed = i_jump - dt * p.tau_syn_inv * i_jump
    z_new = threshold(v_decayed - p.v_th, p.method, p.alpha)
    v_new = (1 - z_new) * v_decayed + z_new * p.v_reset
    return z_new, v_new, i_decayed


@keyword_aliases(input_spikes="input_tensor")
def lif_ex_feed_forward_step(
    input_tensor: torch.Tensor,
    state: LIFExFeedForwardState = _ZERO_STATE,
    p: LIFExParameters = _DEFAULT_P,
    dt: float = 0.001,
) -> tuple[torch.Tensor, LIFExFeedForwardState]:
    """One Euler step of a feed-forward LIFEx population (input added to ``i`` first).

    Returns:
        ``(z, LIFExFeedForwardState(v, i))`` with ``z`` the 0/1 spikes of this step.
    """
    i_jump = state.i + input_tensor
    z_new, v_new, i_decayed = _lif_ex_update(i_jump, state.v, p, dt)
    return z_new, LIFExFeedForwardState(v=v_new, i=i_decayed)


def lif_ex_current_step(
    input_current: torch.Tensor,
    state: LIFExFeedForwardState,
    p: LIFExParameters = _DEFAULT_P,
    dt: float = 0.001,
) -> tuple[torch.Tensor, LIFExFeedForwardState]:
    """One Euler step with ``I`` a continuous current into the membrane (mV, ``R·I``):
    ``v1 = v + dt·tau_mem_inv·(v_leak − v + delta_T·exp((v − v_th)/delta_T) + i + I)``,
    ``i2 = i − dt·tau_syn_inv·i``."""
    z_new, v_new, _ = _lif_ex_update(state.i + input_current, state.v, p, dt)
    i_decayed = state.i - dt * p.tau_syn_inv * state.i
    return z_new, LIFExFeedForwardState(v=v_new, i=i_decayed)


def lif_ex_step(
    input_tensor: torch.Tensor,
    state: LIFExState,
    input_weights: torch.Tensor,
    recurrent_weights: torch.Tensor,
    p: LIFExParameters = _DEFAULT_P,
    dt: float = 0.001,
) -> tuple[torch.Tensor, LIFExState]:
    """One Euler step of a recurrent LIFEx population: ``i1 = i + W_in·x + W_rec·z_old``.

    Unlike :func:`simctl.neurons.lif.lif_step`, the reset keeps the spike's graph (as in Norse).
    """
    i_jump = (
        state.i
        + torch.nn.functional.linear(input_tensor, input_weights)
        + torch.nn.functional.linear(state.z, recurrent_weights)
    )
    z_new, v_new, i_decayed = _lif_ex_update(i_jump, state.v, p, dt)
    return z_new, LIFExState(z=z_new, v=v_new, i=i_decayed)


def lif_ex_current_encoder(
    input_current: torch.Tensor,
    voltage: torch.Tensor,
    p: LIFExParameters = _DEFAULT_P,
    dt: float = 0.001,
) -> tuple[torch.Tensor, torch.Tensor]:
    """LIFEx without a synaptic current: the input drives ``v`` directly.

    ``v1 = v + dt·tau_mem_inv·(v_leak − v + delta_T·exp((v − v_th)/delta_T) + I)``,
    ``z = Θ(v1 − v_th)``, ``v2 = v1 − z·(v1 − v_reset)``. Returns ``(z, v2)``.
    """
    dv_exp = p.delta_T * torch.exp((voltage - p.v_th) / p.delta_T)
    v_new = voltage + dt * p.tau_mem_inv * ((p.v_leak - voltage) + dv_exp + input_current)
    z = threshold(v_new - p.v_th, p.method, p.alpha)
    v_new = v_new - z * (v_new - p.v_reset)
    return z, v_new


def lif_ex_initial_state(
    shape: tuple[int, ...],
    p: LIFExParameters = _DEFAULT_P,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str | None = None,
) -> LIFExFeedForwardState:
    """A fresh feed-forward state: ``v = v_leak``, ``i = 0``, both of ``shape``."""
    return LIFExFeedForwardState(
        v=full_state(p.v_leak, shape, dtype, device),
        i=torch.zeros(shape, dtype=dtype, device=device),
    )


_modules = model_modules(
    _DEFAULT_P,
    feed_forward=lif_ex_feed_forward_step,
    recurrent=lif_ex_step,
    initial_state=lif_ex_initial_state,
    recurrent_state=LIFExState,
)


@_modules
class LIFExCell(SNNCell):
    """One step of a feed-forward LIFEx population (see the module docstring).

    The initial state is ``v = v_leak`` and ``i = 0``, both shaped like the input.

    Args:
        p: the parameters; plain floats and per-neuron tensors work.
        dt: the integration step (default 0.001, seconds with the default parameters).
    """


@_modules
class LIFEx(SNN):
    """A feed-forward LIFEx population looped over time (dim 0).

    Args:
        p: the parameters.
        dt: the integration step.
        record_states: return every step's state (stacked along dim 0) instead of the last.
    """


@_modules
class LIFExRecurrentCell(SNNRecurrentCell):
    """One step of a recurrent LIFEx population.

    Args:
        input_size: number of inputs.
        hidden_size: number of neurons.
        p: the parameters.
        input_weights, recurrent_weights, autapses, dt: see :class:`SNNRecurrentCell`.

    Examples:
        >>> import torch
        >>> cell = LIFExRecurrentCell(2, 4)
        >>> z, state = cell(torch.ones(5, 2))
        >>> z.shape
        torch.Size([5, 4])
    """


@_modules
class LIFExRecurrent(SNNRecurrent):
    """A recurrent LIFEx population looped over time (dim 0).

    Examples:
        >>> import torch
        >>> layer = LIFExRecurrent(2, 4)
        >>> z, state = layer(torch.ones(10, 5, 2))
        >>> z.shape, state.v.shape
        (torch.Size([10, 5, 4]), torch.Size([5, 4]))
    """


MODEL = NeuronModel(
    name="lif_ex",
    parameters=LIFExParameters,
    feed_forward_state=LIFExFeedForwardState,
    feed_forward_step=lif_ex_feed_forward_step,
    initial_state=lif_ex_initial_state,
    variables=("v", "i"),
    current_step=lif_ex_current_step,
)

#: units, bounds and inputs in simctl's config units (read without torch: simctl.models)
DESCRIPTION = {
    "name": "lif_ex",
    "summary": "exponential integrate-and-fire with an exponential current synapse",
    "equations": "dv/dt = tau_mem_inv (v_leak - v + delta_T exp((v - v_th)/delta_T) + i + I); "
    "di/dt = -tau_syn_inv i",
    "voltage": "v",
    "include": {"": "lif"},
    "parameters": {
        "delta_T": {"unit": "mV", "bounds": "(0, inf)", "doc": "slope factor"},
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
    "cli_input": {"amplitude": 14.0, "noise_mean": 12.0, "noise_std": 15.0, "jump": 3.0},
}
