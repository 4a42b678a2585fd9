r"""Adaptive exponential LIF neurons with an absolute refractory period (LIFAdExRefrac).

Each step first runs the LIFAdEx step (:mod:`simctl.neurons.lif_adex`), giving
``(z, v_adex, i, a)``, then applies the refractory counter ``rho`` (in **steps**, not time):

1. ``m = Θ(rho)`` (the model's surrogate threshold, so ``m = 1`` iff ``rho > 0``)
2. ``v = (1 − m)·v_adex + m·v_old`` (``v`` frozen while refractory)
3. ``z = (1 − m)·z`` (no output spike while refractory)
4. ``rho1 = (1 − z)·relu(rho − m) + z·rho_reset``

The synaptic current keeps integrating while refractory, and so does the adaptation current:
as in Norse, ``a`` receives the **unmasked** spike of the LIFAdEx step (a neuron whose frozen
``v`` would cross the cut-off still gets ``a += adaptation_spike``), and its subthreshold term
uses the frozen ``v``.

Units and parameters as in :mod:`simctl.neurons.lif_adex` (``v_peak`` included).

Examples:
    >>> import torch
    >>> cell = LIFAdExRefracCell()
    >>> z, state = cell(torch.ones(5, 2))
    >>> z.shape, state.lif_adex.v.shape, state.rho.shape
    (torch.Size([5, 2]), torch.Size([5, 2]), torch.Size([5, 2]))
"""

from __future__ import annotations

from typing import Any, NamedTuple

import torch

from ._modules import model_modules
from .base import NeuronModel, SNNCell, SNNRecurrent, SNNRecurrentCell, mark_initial, state_dtype
from .lif_adex import (
    LIFAdExFeedForwardState,
    LIFAdExParameters,
    LIFAdExState,
    lif_adex_current_step,
    lif_adex_feed_forward_step,
    lif_adex_initial_state,
    lif_adex_step,
)
from .lif_refrac import _refractory_mask

__all__ = [
    "LIFAdExRefracParameters",
    "LIFAdExRefracState",
    "LIFAdExRefracFeedForwardState",
    "lif_adex_refrac_step",
    "lif_adex_refrac_feed_forward_step",
    "lif_adex_refrac_current_step",
    "lif_adex_refrac_initial_state",
    "LIFAdExRefracCell",
    "LIFAdExRefracRecurrentCell",
    "LIFAdExRefracRecurrent",
]


class LIFAdExRefracParameters(NamedTuple):
    """Parameters of a refractory LIFAdEx neuron.

    Attributes:
        lif_adex: the LIFAdEx parameters.
        rho_reset: refractory period in **steps** (``rho`` is set to it on a spike).
    """

    lif_adex: LIFAdExParameters = LIFAdExParameters()
    rho_reset: Any = 5.0


_DEFAULT_P = LIFAdExRefracParameters()  # immutable NamedTuple, the default of every ``p``


class LIFAdExRefracState(NamedTuple):
    """State of a recurrent refractory LIFAdEx population: ``lif_adex`` and the counter
    ``rho``."""

    lif_adex: LIFAdExState
    rho: torch.Tensor


class LIFAdExRefracFeedForwardState(NamedTuple):
    """State of a feed-forward refractory LIFAdEx population: ``lif_adex`` and ``rho``."""

    lif_adex: LIFAdExFeedForwardState
    rho: torch.Tensor


def _refractory_update(
    rho: torch.Tensor,
    v_old: torch.Tensor,
    z_new: torch.Tensor,
    v_new: torch.Tensor,
    p: LIFAdExRefracParameters,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Steps 1–4 of the module docstring (LIFRefrac's mask); returns ``(v, z, rho1)``."""
    lif_adex = p.lif_adex
    return _refractory_mask(rho, v_old, z_new, v_new, p.rho_reset, lif_adex.method, lif_adex.alpha)


def lif_adex_refrac_feed_forward_step(
    input_tensor: torch.Tensor,
    state: LIFAdExRefracFeedForwardState,
    p: LIFAdExRefracParameters = _DEFAULT_P,
    dt: float = 0.001,
) -> tuple[torch.Tensor, LIFAdExRefracFeedForwardState]:
    """One Euler step of a feed-forward refractory LIFAdEx population.

    Returns:
        ``(z, LIFAdExRefracFeedForwardState(LIFAdExFeedForwardState(v, i, a), rho))``.
    """
    z_new, s_new = lif_adex_feed_forward_step(input_tensor, state.lif_adex, p.lif_adex, dt)
    v_new, z_new, rho_new = _refractory_update(state.rho, state.lif_adex.v, z_new, s_new.v, p)
    return z_new, LIFAdExRefracFeedForwardState(
        lif_adex=LIFAdExFeedForwardState(v=v_new, i=s_new.i, a=s_new.a), rho=rho_new
    )


def lif_adex_refrac_current_step(
    input_current: torch.Tensor,
    state: LIFAdExRefracFeedForwardState,
    p: LIFAdExRefracParameters = _DEFAULT_P,
    dt: float = 0.001,
) -> tuple[torch.Tensor, LIFAdExRefracFeedForwardState]:
    """:func:`~simctl.neurons.lif_adex.lif_adex_current_step` (``I`` a continuous current),
    then the refractory mask of :func:`lif_adex_refrac_feed_forward_step`."""
    z_new, s_new = lif_adex_current_step(input_current, state.lif_adex, p.lif_adex, dt)
    v_new, z_new, rho_new = _refractory_update(state.rho, state.lif_adex.v, z_new, s_new.v, p)
    return z_new, LIFAdExRefracFeedForwardState(
        lif_adex=LIFAdExFeedForwardState(v=v_new, i=s_new.i, a=s_new.a), rho=rho_new
    )


def lif_adex_refrac_step(
    input_tensor: torch.Tensor,
    state: LIFAdExRefracState,
    input_weights: torch.Tensor,
    recurrent_weights: torch.Tensor,
    p: LIFAdExRefracParameters = _DEFAULT_P,
    dt: float = 0.001,
) -> tuple[torch.Tensor, LIFAdExRefracState]:
    """One Euler step of a recurrent refractory LIFAdEx population.

    The state's ``z`` (fed back through ``W_rec``) is the masked spike.
    """
    z_new, s_new = lif_adex_step(
        input_tensor, state.lif_adex, input_weights, recurrent_weights, p.lif_adex, dt
    )
    v_new, z_new, rho_new = _refractory_update(state.rho, state.lif_adex.v, z_new, s_new.v, p)
    return z_new, LIFAdExRefracState(
        lif_adex=LIFAdExState(z=z_new, v=v_new, i=s_new.i, a=s_new.a), rho=rho_new
    )


def lif_adex_refrac_initial_state(
    shape: tuple[int, ...],
    p: LIFAdExRefracParameters = _DEFAULT_P,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str | None = None,
) -> LIFAdExRefracFeedForwardState:
    """A fresh feed-forward state: ``v = v_leak``, ``i = a = rho = 0``, all of ``shape``."""
    return LIFAdExRefracFeedForwardState(
        lif_adex=lif_adex_initial_state(shape, p.lif_adex, dtype, device),
        rho=torch.zeros(shape, dtype=dtype, device=device),
    )


def _recurrent_state(
    module: LIFAdExRefracRecurrentCell | LIFAdExRefracRecurrent,
    shape: tuple[int, ...],
    input_tensor: torch.Tensor,
) -> LIFAdExRefracState:
    dtype = state_dtype(input_tensor)
    base = lif_adex_refrac_initial_state(shape, module.p, dtype, input_tensor.device)
    mark_initial(base.lif_adex.v)
    z = torch.zeros(shape, dtype=dtype, device=input_tensor.device)
    return LIFAdExRefracState(
        lif_adex=LIFAdExState(z=z, v=base.lif_adex.v, i=base.lif_adex.i, a=base.lif_adex.a),
        rho=base.rho,
    )


_modules = model_modules(
    _DEFAULT_P,
    feed_forward=lif_adex_refrac_feed_forward_step,
    recurrent=lif_adex_refrac_step,
    initial_state=lif_adex_refrac_initial_state,
    voltage="lif_adex.v",
    recurrent_state=_recurrent_state,
)


@_modules
class LIFAdExRefracCell(SNNCell):
    """One step of a feed-forward refractory LIFAdEx population (see the module docstring).

    The initial state is ``v = v_leak``, ``i = a = rho = 0``, shaped like the input.

    Args:
        p: the parameters; plain floats and per-neuron tensors work.
        dt: the integration step (default 0.001, seconds with the default parameters).
    """


@_modules
class LIFAdExRefracRecurrentCell(SNNRecurrentCell):
    """One step of a recurrent refractory LIFAdEx population.

    Args:
        input_size: number of inputs.
        hidden_size: number of neurons.
        p: the parameters.
        input_weights, recurrent_weights, autapses, dt: see :class:`SNNRecurrentCell`.

    Examples:
        >>> import torch
        >>> cell = LIFAdExRefracRecurrentCell(2, 4)
        >>> z, state = cell(torch.ones(5, 2))
        >>> z.shape, state.rho.shape
        (torch.Size([5, 4]), torch.Size([5, 4]))
    """


@_modules
class LIFAdExRefracRecurrent(SNNRecurrent):
    """A recurrent refractory LIFAdEx population looped over time (dim 0).

    Examples:
        >>> import torch
        >>> layer = LIFAdExRefracRecurrent(2, 4)
        >>> z, state = layer(torch.ones(10, 5, 2))
        >>> z.shape, state.lif_adex.v.shape
        (torch.Size([10, 5, 4]), torch.Size([5, 4]))
    """


MODEL = NeuronModel(
    name="lif_adex_refrac",
    parameters=LIFAdExRefracParameters,
    feed_forward_state=LIFAdExRefracFeedForwardState,
    feed_forward_step=lif_adex_refrac_feed_forward_step,
    initial_state=lif_adex_refrac_initial_state,
    variables=("lif_adex.v", "lif_adex.i", "lif_adex.a", "rho"),
    voltage="lif_adex.v",
    current_step=lif_adex_refrac_current_step,
)

#: units, bounds and inputs in simctl's config units (read without torch: simctl.models)
DESCRIPTION = {
    "name": "lif_adex_refrac",
    "summary": "AdEx with an absolute refractory period",
    "equations": "lif_adex, with v held and spikes suppressed for t_ref after a spike",
    "voltage": "lif_adex.v",
    "include": {
        "lif_adex.": {
            "model": "lif_adex",
            "only": [
                "adaptation_current",
                "adaptation_spike",
                "delta_T",
                "tau_ada_inv",
                "tau_syn_inv",
                "tau_mem_inv",
                "v_leak",
                "v_th",
                "v_reset",
                "method",
                "alpha",
                "v_peak",
            ],
        }
    },
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
    "state": {"lif_adex.v": "mV", "lif_adex.i": "mV", "lif_adex.a": "mV", "rho": "steps"},
    "current": {
        "unit": "mV",
        "enters": "lif_adex.v",
        "doc": "R*I, the current times the membrane resistance",
    },
    "jumps": {"lif_adex.v": "mV", "lif_adex.i": "mV"},
    "default_jump": "lif_adex.i",
    "refractory": {"state": "rho", "parameter": "rho_reset", "config_key": "t_ref"},
    "cli_input": {"amplitude": 17.0, "noise_mean": 15.0, "noise_std": 15.0, "jump": 3.0},
}
