r"""LIF neurons with an absolute refractory period counted in steps.

Each call runs the LIF step of :mod:`simctl.neurons.lif` (input jump first, then the voltage
update, threshold and reset) and then applies the refractory mask, with ``rho`` the number of
refractory steps left:

1. ``(z_lif, v_lif, i2) =`` LIF step from ``(v, i)`` (recurrent: ``lif_step`` with weights)
2. ``m = Θ(rho)`` (the same surrogate threshold, so ``m = 1`` iff ``rho > 0``)
3. ``v2 = (1 − m)·v_lif + m·v`` (the voltage is **frozen** while refractory)
4. ``z = (1 − m)·z_lif`` (no spikes while refractory)
5. ``rho2 = (1 − z)·relu(rho − m) + z·rho_reset``

The synaptic current keeps integrating during the refractory period. After a spike the voltage
stays at ``v_reset`` for ``rho_reset`` steps (5 by default), independent of ``dt``.

Units: as :mod:`simctl.neurons.lif` (Norse's 1/s with ``dt = 0.001`` s by default; ms and mV in
simctl's configs); ``rho_reset`` is a number of steps.

Examples:
    >>> import torch
    >>> layer = LIFRefrac()
    >>> z, state = layer(torch.ones(16, 1))
    >>> torch.nonzero(z[:, 0]).flatten().tolist()
    [5, 13]
    >>> cell = LIFRefracRecurrentCell(2, 4)
    >>> z, state = cell(torch.ones(3, 5, 2))
    >>> z.shape, state.rho.shape
    (torch.Size([3, 5, 4]), torch.Size([3, 5, 4]))
"""

from __future__ import annotations

from typing import Any, NamedTuple

import torch

from ._modules import model_modules
from .base import (
    SNN,
    NeuronModel,
    SNNCell,
    SNNRecurrent,
    SNNRecurrentCell,
    full_state,
    mark_initial,
    state_dtype,
)
from .lif import (
    LIFFeedForwardState,
    LIFParameters,
    LIFState,
    lif_current_step,
    lif_feed_forward_step,
    lif_initial_state,
    lif_step,
    lif_step_sparse,
)
from .threshold import threshold

__all__ = [
    "LIFRefracParameters",
    "LIFRefracState",
    "LIFRefracFeedForwardState",
    "compute_refractory_update",
    "lif_refrac_feed_forward_step",
    "lif_refrac_current_step",
    "lif_refrac_step",
    "lif_refrac_step_sparse",
    "lif_refrac_initial_state",
    "LIFRefracCell",
    "LIFRefrac",
    "LIFRefracRecurrentCell",
    "LIFRefracRecurrent",
]


class LIFRefracParameters(NamedTuple):
    """Parameters of a refractory LIF neuron.

    Attributes:
        lif: the LIF parameters (nested; registered as buffers like any other field).
        rho_reset: refractory period in **steps** after a spike.
    """

    lif: LIFParameters = LIFParameters()
    rho_reset: Any = 5.0


class LIFRefracState(NamedTuple):
    """State of a recurrent refractory LIF population: the LIF state and ``rho`` (steps left)."""

    lif: LIFState
    rho: torch.Tensor


class LIFRefracFeedForwardState(NamedTuple):
    """State of a feed-forward refractory LIF population: the LIF state and ``rho``."""

    lif: LIFFeedForwardState
    rho: torch.Tensor


def compute_refractory_update(
    state: LIFRefracState | LIFRefracFeedForwardState,
    z_new: torch.Tensor,
    v_new: torch.Tensor,
    p: LIFRefracParameters = LIFRefracParameters(),
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Steps 2–5: masks the LIF step's ``(z_new, v_new)`` by the old ``rho``.

    Returns:
        ``(v, z, rho)`` after the refractory update.
    """
    return _refractory_mask(
        state.rho, state.lif.v, z_new, v_new, p.rho_reset, p.lif.method, p.lif.alpha
    )


def _refractory_mask(
    rho: torch.Tensor,
    v_old: torch.Tensor,
    z_new: torch.Tensor,
    v_new: torch.Tensor,
    rho_reset: Any,
    method: str,
    alpha: Any,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Steps 2–5 on plain tensors (shared with the other refractory models); ``(v, z, rho)``."""
    refrac_mask = threshold(rho, method, alpha)
    v_masked = (1 - refrac_mask) * v_new + refrac_mask * v_old
    z_masked = (1 - refrac_mask) * z_new
    rho_new = (1 - z_masked) * torch.relu(rho - refrac_mask) + z_masked * rho_reset
    return v_masked, z_masked, rho_new


def lif_refrac_feed_forward_step(
    input_tensor: torch.Tensor,
    state: LIFRefracFeedForwardState,
    p: LIFRefracParameters = LIFRefracParameters(),
    dt: float = 0.001,
) -> tuple[torch.Tensor, LIFRefracFeedForwardState]:
    """One step of a feed-forward refractory LIF population (see the module docstring)."""
    z_lif, lif_state = lif_feed_forward_step(input_tensor, state.lif, p.lif, dt)
    v_new, z_new, rho_new = compute_refractory_update(state, z_lif, lif_state.v, p)
    return z_new, LIFRefracFeedForwardState(
        lif=LIFFeedForwardState(v=v_new, i=lif_state.i), rho=rho_new
    )


def lif_refrac_current_step(
    input_current: torch.Tensor,
    state: LIFRefracFeedForwardState,
    p: LIFRefracParameters = LIFRefracParameters(),
    dt: float = 0.001,
) -> tuple[torch.Tensor, LIFRefracFeedForwardState]:
    """:func:`~simctl.neurons.lif.lif_current_step` (``I`` a continuous current), then the
    refractory mask (the voltage is held while refractory, so the current is lost then)."""
    z_lif, lif_state = lif_current_step(input_current, state.lif, p.lif, dt)
    v_new, z_new, rho_new = compute_refractory_update(state, z_lif, lif_state.v, p)
    return z_new, LIFRefracFeedForwardState(
        lif=LIFFeedForwardState(v=v_new, i=lif_state.i), rho=rho_new
    )


def lif_refrac_step(
    input_tensor: torch.Tensor,
    state: LIFRefracState,
    input_weights: torch.Tensor,
    recurrent_weights: torch.Tensor,
    p: LIFRefracParameters = LIFRefracParameters(),
    dt: float = 0.001,
) -> tuple[torch.Tensor, LIFRefracState]:
    """One step of a recurrent refractory LIF population: :func:`lif_step`, then the mask.

    The recurrent input uses the previous step's masked spikes ``state.lif.z``.
    """
    z_lif, lif_state = lif_step(
        input_tensor, state.lif, input_weights, recurrent_weights, p.lif, dt
    )
    v_new, z_new, rho_new = compute_refractory_update(state, z_lif, lif_state.v, p)
    return z_new, LIFRefracState(lif=LIFState(z=z_new, v=v_new, i=lif_state.i), rho=rho_new)


def lif_refrac_step_sparse(
    input_tensor: torch.Tensor,
    state: LIFRefracState,
    input_weights: torch.Tensor,
    recurrent_weights: torch.Tensor,
    p: LIFRefracParameters = LIFRefracParameters(),
    dt: float = 0.001,
) -> tuple[torch.Tensor, LIFRefracState]:
    """:func:`lif_refrac_step` for sparse inputs/spikes (``torch.sparse.mm``); sparse spikes out."""
    z_lif, lif_state = lif_step_sparse(
        input_tensor, state.lif, input_weights, recurrent_weights, p.lif, dt
    )
    z_dense = z_lif.to_dense() if z_lif.is_sparse else z_lif
    v_new, z_new, rho_new = compute_refractory_update(state, z_dense, lif_state.v, p)
    z_sparse = z_new.to_sparse()
    return z_sparse, LIFRefracState(lif=LIFState(z=z_sparse, v=v_new, i=lif_state.i), rho=rho_new)


def lif_refrac_initial_state(
    shape: tuple[int, ...],
    p: LIFRefracParameters = LIFRefracParameters(),
    dtype: torch.dtype = torch.float32,
    device: torch.device | str | None = None,
) -> LIFRefracFeedForwardState:
    """A fresh feed-forward state: ``lif.v = v_leak``, ``lif.i = 0``, ``rho = 0``."""
    lif = lif_initial_state(tuple(shape), p.lif, dtype, device)
    return LIFRefracFeedForwardState(
        lif=lif, rho=torch.zeros(lif.v.shape, dtype=dtype, device=device)
    )


def _recurrent_state(
    module: LIFRefracRecurrentCell | LIFRefracRecurrent,
    shape: tuple[int, ...],
    input_tensor: torch.Tensor,
) -> LIFRefracState:
    dtype = state_dtype(input_tensor)
    device = input_tensor.device
    z = torch.zeros(shape, dtype=dtype, device=device)
    if input_tensor.is_sparse:
        z = z.to_sparse()
    v = full_state(module.p.lif.v_leak, shape, dtype, device)
    mark_initial(v)
    lif = LIFState(z=z, v=v, i=torch.zeros(shape, dtype=dtype, device=device))
    return LIFRefracState(lif=lif, rho=torch.zeros(shape, dtype=dtype, device=device))


_modules = model_modules(
    LIFRefracParameters(),
    feed_forward=lif_refrac_feed_forward_step,
    recurrent=lif_refrac_step,
    recurrent_sparse=lif_refrac_step_sparse,
    initial_state=lif_refrac_initial_state,
    voltage="lif.v",
    recurrent_state=_recurrent_state,
)


@_modules
class LIFRefracCell(SNNCell):
    """One step of a feed-forward refractory LIF population (see the module docstring).

    The initial state is ``lif.v = v_leak``, ``lif.i = 0`` and ``rho = 0``, shaped like the
    input.

    Args:
        p: the parameters; plain floats and per-neuron tensors work (also inside ``p.lif``).
        dt: the integration step.
    """


@_modules
class LIFRefrac(SNN):
    """A feed-forward refractory LIF population looped over time (dim 0); a simctl addition.

    Args:
        p: the parameters.
        dt: the integration step.
        record_states: return every step's state (stacked along dim 0) instead of the last.
    """


@_modules
class LIFRefracRecurrentCell(SNNRecurrentCell):
    """One step of a recurrent refractory LIF population; inputs of any rank ``(..., input)``.

    Args:
        input_size: number of inputs.
        hidden_size: number of neurons.
        p: the parameters.
        input_weights, recurrent_weights, autapses, dt: see :class:`SNNRecurrentCell`.
    """


@_modules
class LIFRefracRecurrent(SNNRecurrent):
    """A recurrent refractory LIF population looped over time (dim 0); sparse inputs work.

    Examples:
        >>> import torch
        >>> layer = LIFRefracRecurrent(2, 4)
        >>> z, state = layer(torch.ones(10, 5, 2))
        >>> z.shape, state.lif.v.shape
        (torch.Size([10, 5, 4]), torch.Size([5, 4]))
    """


MODEL = NeuronModel(
    name="lif_refrac",
    parameters=LIFRefracParameters,
    feed_forward_state=LIFRefracFeedForwardState,
    feed_forward_step=lif_refrac_feed_forward_step,
    initial_state=lif_refrac_initial_state,
    variables=("lif.v", "lif.i", "rho"),
    voltage="lif.v",
    current_step=lif_refrac_current_step,
)

#: units, bounds and inputs in simctl's config units (read without torch: simctl.models)
DESCRIPTION = {
    "name": "lif_refrac",
    "summary": "LIF with an absolute refractory period",
    "equations": "lif, with v held and spikes suppressed for t_ref after a spike",
    "voltage": "lif.v",
    "include": {"lif.": "lif"},
    "parameters": {
        "t_ref": {
            "unit": "ms",
            "bounds": "[0, inf)",
            "doc": "refractory period after the spike step (configs; rho_reset = t_ref/dt)",
        },
        "rho_reset": {
            "unit": "steps",
            "bounds": "[0, inf)",
            "doc": "refractory steps (library form; set t_ref in configs)",
        },
    },
    "state": {"lif.v": "mV", "lif.i": "mV", "rho": "steps"},
    "current": {
        "unit": "mV",
        "enters": "lif.v",
        "doc": "R*I, the current times the membrane resistance",
    },
    "jumps": {"lif.v": "mV", "lif.i": "mV"},
    "default_jump": "lif.i",
    "refractory": {"state": "rho", "parameter": "rho_reset", "config_key": "t_ref"},
    "cli_input": {"amplitude": 16.0, "noise_mean": 14.0, "noise_std": 15.0, "jump": 3.0},
}
