r"""Leaky integrate-and-fire (LIF) neurons with exponential current synapses.

.. math::
    \dot v = \tau_{mem}^{-1} (v_{leak} - v + i), \qquad
    \dot i = -\tau_{syn}^{-1} i, \qquad
    z = \Theta(v - v_{th}), \quad v \leftarrow v_{reset} \text{ on } z = 1

Forward Euler, one call per step, with the input jump **before** the voltage update (no one-step
delay; Norse PR #326):

1. ``i1 = i + I`` (recurrent: ``I = W_in·x + W_rec·z_old``)
2. ``v1 = v + dt·tau_mem_inv·(v_leak − v + i1)``
3. ``i2 = i1 − dt·tau_syn_inv·i1``
4. ``z = Θ(v1 − v_th)`` (strict ``>``)
5. ``v2 = (1 − z)·v1 + z·v_reset`` (the recurrent step resets with a detached ``z``)

Units: the library defaults are Norse's (inverse time constants in 1/s with ``dt = 0.001`` s,
dimensionless voltages, ``v_th = 1``). Any consistent unit system works: simctl's configs use ms
and mV (``tau_mem_inv`` in 1/ms, ``dt`` in ms).

Examples:
    >>> import torch
    >>> cell = LIFCell()
    >>> z, state = cell(torch.ones(5, 2))
    >>> z.shape, state.v.shape
    (torch.Size([5, 2]), torch.Size([5, 2]))
    >>> layer = LIF()
    >>> z, state = layer(torch.ones(9, 1))
    >>> torch.nonzero(z[:, 0]).flatten().tolist()
    [5, 8]
"""

from __future__ import annotations

from typing import Any, NamedTuple

import torch

from ._keywords import keyword_aliases
from ._modules import model_modules, scalar_cell_state
from .base import (
    SNN,
    NeuronModel,
    SNNCell,
    SNNRecurrent,
    SNNRecurrentCell,
    state_tuple,
)
from .threshold import threshold

__all__ = [
    "LIFParameters",
    "LIFState",
    "LIFFeedForwardState",
    "lif_step",
    "lif_step_sparse",
    "lif_feed_forward_step",
    "lif_current_step",
    "lif_feed_forward_step_sparse",
    "lif_feed_forward_integral",
    "lif_step_integral",
    "lif_current_encoder",
    "LIFCell",
    "LIF",
    "LIFRecurrentCell",
    "LIFRecurrent",
]


@state_tuple
class LIFParameters(NamedTuple):
    """Parameters of a LIF neuron.

    Attributes:
        tau_syn_inv: inverse synaptic time constant (1/s with the default dt; 1/ms in configs).
        tau_mem_inv: inverse membrane time constant (same unit).
        v_leak: leak (resting) potential.
        v_th: threshold potential; a spike needs ``v > v_th``.
        v_reset: potential after a spike.
        method: surrogate gradient method (see :mod:`simctl.neurons.threshold`).
        alpha: surrogate shape parameter.
    """

    tau_syn_inv: Any = 1.0 / 5e-3
    tau_mem_inv: Any = 1.0 / 1e-2
    v_leak: Any = 0.0
    v_th: Any = 1.0
    v_reset: Any = 0.0
    method: str = "super"
    alpha: Any = 100.0


@state_tuple
class LIFState(NamedTuple):
    """State of a recurrent LIF population: spikes ``z``, voltage ``v``, current ``i``."""

    z: torch.Tensor
    v: torch.Tensor
    i: torch.Tensor


@state_tuple
class LIFFeedForwardState(NamedTuple):
    """State of a feed-forward LIF population: voltage ``v``, synaptic current ``i``."""

    v: torch.Tensor
    i: torch.Tensor


def _lif_update(
    i_jump: torch.Tensor, v: torch.Tensor, p: LIFParameters, dt: float
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Steps 2–4: returns ``(z, v1, i2)`` from the current after the jump."""
    v_decayed = v + dt * p.tau_mem_inv * ((p.v_leak - v) + i_jump)
    i_decayed = i_jump - dt * p.tau_syn_inv * i_jump
    z_new = threshold(v_decayed - p.v_th, p.method, p.alpha)
    return z_new, v_decayed, i_decayed


@keyword_aliases(input_spikes="input_tensor")
def lif_feed_forward_step(
    input_tensor: torch.Tensor,
    state: LIFFeedForwardState,
    p: LIFParameters = LIFParameters(),
    dt: float = 0.001,
) -> tuple[torch.Tensor, LIFFeedForwardState]:
    """One Euler step of a feed-forward LIF population (input added to ``i`` first).

    Returns:
        ``(z, LIFFeedForwardState(v, i))`` with ``z`` the 0/1 spikes of this step.
    """
    i_jump = state.i + input_tensor
    z_new, v_decayed, i_decayed = _lif_update(i_jump, state.v, p, dt)
    v_new = (1 - z_new) * v_decayed + z_new * p.v_reset
    return z_new, LIFFeedForwardState(v=v_new, i=i_decayed)


def lif_current_step(
    input_current: torch.Tensor,
    state: LIFFeedForwardState,
    p: LIFParameters = LIFParameters(),
    dt: float = 0.001,
) -> tuple[torch.Tensor, LIFFeedForwardState]:
    """One Euler step with ``I`` a continuous current into the membrane (simctl's current
    protocols), so the charge per ms does not depend on ``dt``:

    ``v1 = v + dt·tau_mem_inv·(v_leak − v + i + I)``, ``i2 = i − dt·tau_syn_inv·i``, then the
    threshold and reset of :func:`lif_feed_forward_step`. ``I`` is in the unit of ``v``
    (``R·I``: mV in simctl's configs); spikes still jump ``i`` (or ``v``) from outside.
    """
    z_new, v_decayed, _ = _lif_update(state.i + input_current, state.v, p, dt)
    i_decayed = state.i - dt * p.tau_syn_inv * state.i
    v_new = (1 - z_new) * v_decayed + z_new * p.v_reset
    return z_new, LIFFeedForwardState(v=v_new, i=i_decayed)


@keyword_aliases(input_spikes="input_tensor")
def lif_step(
    input_tensor: torch.Tensor,
    state: LIFState,
    input_weights: torch.Tensor,
    recurrent_weights: torch.Tensor,
    p: LIFParameters = LIFParameters(),
    dt: float = 0.001,
) -> tuple[torch.Tensor, LIFState]:
    """One Euler step of a recurrent LIF population: ``i1 = i + W_in·x + W_rec·z_old``.

    The reset uses the detached spike, as in Norse. ``recurrent_weights`` may be a sparse (COO or
    CSR) tensor: the product then goes through :func:`simctl.kernels.sparse.sparse_linear`
    (event-driven when no gradient is needed, chosen by density).
    """
    i_jump = (
        state.i
        + torch.nn.functional.linear(input_tensor, input_weights)
        + _recurrent_linear(state.z, recurrent_weights)
    )
    z_new, v_decayed, i_decayed = _lif_update(i_jump, state.v, p, dt)
    z_reset = z_new.detach()
    v_new = (1 - z_reset) * v_decayed + z_reset * p.v_reset
    return z_new, LIFState(z=z_new, v=v_new, i=i_decayed)


def _recurrent_linear(z: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """``linear(z, weights)``; sparse weights use simctl's event-driven product."""
    if weights.layout == torch.strided:
        return torch.nn.functional.linear(z, weights)
    from simctl.kernels.sparse import sparse_linear  # lazy: kernels import the library

    return sparse_linear(z, weights)


def _sparse_linear(x: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    flat = x.to_dense() if x.dim() != 2 else x
    if flat.is_sparse:
        return torch.sparse.mm(flat, weights.t())
    return torch.nn.functional.linear(flat, weights)


def lif_feed_forward_step_sparse(
    input_tensor: torch.Tensor,
    state: LIFFeedForwardState,
    p: LIFParameters = LIFParameters(),
    dt: float = 0.001,
) -> tuple[torch.Tensor, LIFFeedForwardState]:
    """:func:`lif_feed_forward_step` for a sparse input; returns sparse spikes."""
    z_new, new_state = lif_feed_forward_step(input_tensor.to_dense(), state, p, dt)
    return z_new.to_sparse(), new_state


@keyword_aliases(input_spikes="input_tensor")
def lif_step_sparse(
    input_tensor: torch.Tensor,
    state: LIFState,
    input_weights: torch.Tensor,
    recurrent_weights: torch.Tensor,
    p: LIFParameters = LIFParameters(),
    dt: float = 0.001,
) -> tuple[torch.Tensor, LIFState]:
    """:func:`lif_step` using ``torch.sparse.mm`` for sparse inputs/spikes; sparse spikes out."""
    i_jump = (
        state.i
        + _sparse_linear(input_tensor, input_weights)
        + _sparse_linear(state.z, recurrent_weights)
    )
    z_new, v_decayed, i_decayed = _lif_update(i_jump, state.v, p, dt)
    z_reset = z_new.detach()
    v_new = (1 - z_reset) * v_decayed + z_reset * p.v_reset
    z_sparse = z_new.to_sparse()
    return z_sparse, LIFState(z=z_sparse, v=v_new, i=i_decayed)


def lif_feed_forward_integral(
    input_tensor: torch.Tensor,
    state: LIFFeedForwardState,
    p: LIFParameters = LIFParameters(),
    dt: float = 0.001,
) -> tuple[torch.Tensor, LIFFeedForwardState]:
    """Loops :func:`lif_feed_forward_step` over dim 0; returns ``(stack(z), final state)``."""
    outputs = []
    for x in input_tensor:
        z, state = lif_feed_forward_step(x, state, p, dt)
        outputs.append(z)
    return torch.stack(outputs), state


def lif_step_integral(
    input_tensor: torch.Tensor,
    state: LIFState,
    input_weights: torch.Tensor,
    recurrent_weights: torch.Tensor,
    p: LIFParameters = LIFParameters(),
    dt: float = 0.001,
) -> tuple[torch.Tensor, LIFState]:
    """Loops :func:`lif_step` over dim 0; returns **all** steps' spikes (unlike Norse)."""
    outputs = []
    for x in input_tensor:
        z, state = lif_step(x, state, input_weights, recurrent_weights, p, dt)
        outputs.append(z)
    return torch.stack(outputs), state


def lif_current_encoder(
    input_current: torch.Tensor,
    voltage: torch.Tensor,
    p: LIFParameters = LIFParameters(),
    dt: float = 0.001,
) -> tuple[torch.Tensor, torch.Tensor]:
    """LIF without a synaptic current: the input drives ``v`` directly.

    ``v1 = v + dt·tau_mem_inv·(v_leak − v + I)``, ``z = Θ(v1 − v_th)``,
    ``v2 = v1 − z·(v1 − v_reset)``. Returns ``(z, v2)``.
    """
    v_new = voltage + dt * p.tau_mem_inv * ((p.v_leak - voltage) + input_current)
    z = threshold(v_new - p.v_th, p.method, p.alpha)
    v_new = v_new - z * (v_new - p.v_reset)
    return z, v_new


def _like(reference: torch.Tensor, value: Any, shape: tuple[int, ...]) -> torch.Tensor:
    """A fresh float tensor of ``shape`` filled with ``value`` (scalar or per-neuron tensor).

    The value is detached (as Norse's ``torch.full(..., v_leak.detach())``): an initial state is
    a constant, so a trainable ``v_leak`` gets its gradient through the dynamics only.
    """
    dtype = reference.dtype if torch.is_floating_point(reference) else torch.float32
    out = torch.empty(shape, dtype=dtype, device=reference.device)
    source = torch.as_tensor(value, dtype=dtype, device=reference.device).detach()
    out.copy_(source.expand(shape))
    return out


def lif_initial_state(
    shape: tuple[int, ...],
    p: LIFParameters = LIFParameters(),
    dtype: torch.dtype = torch.float32,
    device: torch.device | str | None = None,
) -> LIFFeedForwardState:
    """A fresh feed-forward state: ``v = v_leak``, ``i = 0``, both of ``shape``."""
    reference = torch.empty((), dtype=dtype, device=device)
    return LIFFeedForwardState(
        v=_like(reference, p.v_leak, shape), i=torch.zeros(shape, dtype=dtype, device=device)
    )


_modules = model_modules(
    LIFParameters(),
    feed_forward=lif_feed_forward_step,
    feed_forward_sparse=lif_feed_forward_step_sparse,
    recurrent=lif_step,
    recurrent_sparse=lif_step_sparse,
    initial_state=lif_initial_state,
    cell_state=scalar_cell_state(LIFFeedForwardState, "v_leak"),
    recurrent_state=LIFState,
)


@_modules
class LIFCell(SNNCell):
    """One step of a feed-forward LIF population (see the module docstring).

    The initial state is ``v = v_leak`` (0-dim, broadcast on the first step) and ``i = 0``
    shaped like the input.

    Args:
        p: the parameters; plain floats and per-neuron tensors work.
        dt: the integration step (default 0.001, seconds with the default parameters).
    """


@_modules
class LIF(SNN):
    """A feed-forward LIF population looped over time (dim 0).

    Args:
        p: the parameters.
        dt: the integration step.
        record_states: return every step's state (stacked along dim 0) instead of the last.
    """


@_modules
class LIFRecurrentCell(SNNRecurrentCell):
    """One step of a recurrent LIF population.

    Args:
        input_size: number of inputs.
        hidden_size: number of neurons.
        p: the parameters.
        input_weights, recurrent_weights, autapses, dt: see :class:`SNNRecurrentCell`.

    Examples:
        >>> import torch
        >>> cell = LIFRecurrentCell(2, 4)
        >>> z, state = cell(torch.ones(5, 2))
        >>> z.shape
        torch.Size([5, 4])
    """


@_modules
class LIFRecurrent(SNNRecurrent):
    """A recurrent LIF population looped over time (dim 0).

    Examples:
        >>> import torch
        >>> layer = LIFRecurrent(2, 4)
        >>> z, state = layer(torch.ones(10, 5, 2))
        >>> z.shape, state.v.shape
        (torch.Size([10, 5, 4]), torch.Size([5, 4]))
    """


MODEL = NeuronModel(
    name="lif",
    parameters=LIFParameters,
    feed_forward_state=LIFFeedForwardState,
    feed_forward_step=lif_feed_forward_step,
    initial_state=lif_initial_state,
    variables=("v", "i"),
    current_step=lif_current_step,
)

#: units, bounds and inputs in simctl's config units (read without torch: simctl.models)
DESCRIPTION = {
    "name": "lif",
    "summary": "leaky integrate-and-fire with an exponential current synapse",
    "equations": "dv/dt = tau_mem_inv (v_leak - v + i + I); di/dt = -tau_syn_inv i; "
    "v > v_th: spike, v <- v_reset",
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
        "v_th": {"unit": "mV", "bounds": "(-inf, inf)", "doc": "threshold (spike when v > v_th)"},
        "v_reset": {"unit": "mV", "bounds": "(-inf, inf)", "doc": "potential after a spike"},
        "method": {"choices": "surrogate", "doc": "surrogate gradient (unused when simulating)"},
        "alpha": {"unit": "1", "bounds": "(0, inf)", "doc": "surrogate sharpness"},
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
    "cli_input": {"amplitude": 17.0, "noise_mean": 14.0, "noise_std": 15.0, "jump": 3.0},
}
