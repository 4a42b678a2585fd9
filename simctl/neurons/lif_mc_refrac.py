r"""Multi-compartment LIF neurons with an absolute refractory period (counted in steps).

Compartments are coupled by a conductance matrix ``G`` as in :mod:`simctl.neurons.lif_mc`
(coupling term ``(v·Gᵀ)_j = Σ_k G_jk v_k``); ``rho`` counts the refractory steps left. Norse's
**old ordering** (the input jump comes last, so it reaches ``v`` one step later):

1. ``m = Θ(rho)`` (the surrogate threshold of ``p.lif``; ``m = 1`` iff ``rho > 0``)
2. ``v1 = v + (1 − m)·dt·tau_mem_inv·(v_leak − v + i) + dt·(v·Gᵀ)`` (the old ``i``)
3. ``i1 = i·(1 − dt·tau_syn_inv)``
4. ``z = (1 − m)·Θ(v1 − v_th)``
5. ``v2 = (1 − z)·v1 + z·v_reset``
6. ``i2 = i1 + I`` (recurrent: ``I = W_in·x + W_rec·z_old``)
7. ``rho2 = (1 − z)·relu(rho − m) + z·rho_reset``

**Departures from Norse (spec §9.8), chosen for consistency with the other models:**

* the coupling is scaled by ``dt`` (Norse adds ``v·Gᵀ`` without ``dt`` here, but with ``dt`` in
  :mod:`simctl.neurons.lif_mc`), so ``G`` has the same meaning in both files;
* spikes are masked while refractory (step 4's ``(1 − m)``), as in
  :mod:`simctl.neurons.lif_refrac` (Norse emits them, and restarts the refractory count).

With ``G = 0`` and no refractory neuron both departures vanish and the step equals Norse's.
During the refractory period the leak and current drive are frozen but the coupling still acts.

Units: as :mod:`simctl.neurons.lif` (Norse's 1/s with ``dt = 0.001`` s); ``rho_reset`` is a
number of steps. Inputs of any rank ``(..., n)`` work.

Examples:
    >>> import torch
    >>> cell = LIFMCRefracRecurrentCell(2, 4)
    >>> z, state = cell(torch.ones(3, 5, 2))
    >>> z.shape, state.rho.shape
    (torch.Size([3, 5, 4]), torch.Size([3, 5, 4]))
"""

from __future__ import annotations

from typing import Any, NamedTuple

import torch

from .base import NeuronModel, SNNRecurrentCell, full_state, mark_initial, state_dtype
from .lif import LIFFeedForwardState, LIFParameters, LIFState
from .lif_mc import _coupling, _register_coupling
from .lif_refrac import (
    LIFRefracFeedForwardState,
    LIFRefracParameters,
    LIFRefracState,
    lif_refrac_initial_state,
)
from .threshold import threshold

__all__ = [
    "LIFMCRefracParameters",
    "lif_mc_refrac_step",
    "lif_mc_refrac_feed_forward_step",
    "lif_mc_refrac_model_step",
    "lif_mc_refrac_current_step",
    "lif_mc_refrac_initial_state",
    "LIFMCRefracRecurrentCell",
]


class LIFMCRefracParameters(NamedTuple):
    """Parameters of a refractory multi-compartment population for simulators (simctl addition).

    Attributes:
        lif: the LIF parameters of every compartment.
        rho_reset: refractory period in steps.
        g_coupling: the coupling matrix ``G`` (``n × n``), or a scalar ``g`` meaning
            ``g·ones(n, n)`` (``0`` = uncoupled).
    """

    lif: LIFParameters = LIFParameters()
    rho_reset: Any = 5.0
    g_coupling: Any = 0.0


def _mc_refrac_update(
    v: torch.Tensor,
    i: torch.Tensor,
    rho: torch.Tensor,
    g_coupling: Any,
    p: LIFRefracParameters,
    dt: float,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Steps 1–5 and 7; returns ``(z, v2, i1, rho2)`` (the input jump is the caller's)."""
    lif = p.lif
    m = threshold(rho, lif.method, lif.alpha)
    # Norse's operation order (v + dv; i + di) so uncoupled results agree to the last bit
    dv = (1 - m) * dt * lif.tau_mem_inv * ((lif.v_leak - v) + i) + dt * _coupling(v, g_coupling)
    v_decayed = v + dv
    i_decayed = i + (-dt * lif.tau_syn_inv * i)
    z = (1 - m) * threshold(v_decayed - lif.v_th, lif.method, lif.alpha)
    v_new = (1 - z) * v_decayed + z * lif.v_reset
    rho_new = (1 - z) * torch.relu(rho - m) + z * p.rho_reset
    return z, v_new, i_decayed, rho_new


def lif_mc_refrac_step(
    input_tensor: torch.Tensor,
    state: LIFRefracState,
    input_weights: torch.Tensor,
    recurrent_weights: torch.Tensor,
    g_coupling: torch.Tensor,
    p: LIFRefracParameters = LIFRefracParameters(),
    dt: float = 0.001,
) -> tuple[torch.Tensor, LIFRefracState]:
    """One recurrent step (module docstring), ``i2 = i1 + W_in·x + W_rec·z_old``.

    Returns:
        ``(z, LIFRefracState(LIFState(z, v, i), rho))``.
    """
    z, v, i, rho = _mc_refrac_update(state.lif.v, state.lif.i, state.rho, g_coupling, p, dt)
    i = (
        i
        + torch.nn.functional.linear(input_tensor, input_weights)
        + torch.nn.functional.linear(state.lif.z, recurrent_weights)
    )
    return z, LIFRefracState(lif=LIFState(z=z, v=v, i=i), rho=rho)


def lif_mc_refrac_feed_forward_step(
    input_tensor: torch.Tensor,
    state: LIFRefracFeedForwardState,
    g_coupling: torch.Tensor,
    p: LIFRefracParameters = LIFRefracParameters(),
    dt: float = 0.001,
) -> tuple[torch.Tensor, LIFRefracFeedForwardState]:
    """One feed-forward step (module docstring), ``i2 = i1 + I``.

    Returns:
        ``(z, LIFRefracFeedForwardState(LIFFeedForwardState(v, i), rho))``.
    """
    z, v, i, rho = _mc_refrac_update(state.lif.v, state.lif.i, state.rho, g_coupling, p, dt)
    return z, LIFRefracFeedForwardState(lif=LIFFeedForwardState(v=v, i=i + input_tensor), rho=rho)


def lif_mc_refrac_model_step(
    input_tensor: torch.Tensor,
    state: LIFRefracFeedForwardState,
    p: LIFMCRefracParameters = LIFMCRefracParameters(),
    dt: float = 0.001,
) -> tuple[torch.Tensor, LIFRefracFeedForwardState]:
    """:func:`lif_mc_refrac_feed_forward_step` with the ``(input, state, p, dt)`` signature of
    :class:`~simctl.neurons.base.NeuronModel` (``p`` carries ``G``)."""
    refrac = LIFRefracParameters(lif=p.lif, rho_reset=p.rho_reset)
    return lif_mc_refrac_feed_forward_step(input_tensor, state, p.g_coupling, refrac, dt)


def lif_mc_refrac_current_step(
    input_current: torch.Tensor,
    state: LIFRefracFeedForwardState,
    p: LIFMCRefracParameters = LIFMCRefracParameters(),
    dt: float = 0.001,
) -> tuple[torch.Tensor, LIFRefracFeedForwardState]:
    """:func:`lif_mc_refrac_model_step` with ``I`` a continuous current into the membrane
    (it enters the voltage update, not the synaptic current)."""
    refrac = LIFRefracParameters(lif=p.lif, rho_reset=p.rho_reset)
    i = state.lif.i
    z, v, _, rho = _mc_refrac_update(
        state.lif.v, i + input_current, state.rho, p.g_coupling, refrac, dt
    )
    i_decayed = i + (-dt * p.lif.tau_syn_inv * i)
    return z, LIFRefracFeedForwardState(lif=LIFFeedForwardState(v=v, i=i_decayed), rho=rho)


def lif_mc_refrac_initial_state(
    shape: tuple[int, ...],
    p: LIFMCRefracParameters = LIFMCRefracParameters(),
    dtype: torch.dtype = torch.float32,
    device: torch.device | str | None = None,
) -> LIFRefracFeedForwardState:
    """A fresh feed-forward state of ``shape``: ``lif.v = v_leak``, ``lif.i = 0``, ``rho = 0``."""
    refrac = LIFRefracParameters(lif=p.lif, rho_reset=p.rho_reset)
    return lif_refrac_initial_state(tuple(shape), refrac, dtype, device)


class LIFMCRefracRecurrentCell(SNNRecurrentCell):
    """One step of a recurrent refractory multi-compartment population
    (:func:`lif_mc_refrac_step`).

    The initial state is ``z = 0``, ``v = v_leak``, ``i = 0``, ``rho = 0`` of shape
    ``(*input.shape[:-1], hidden_size)``; inputs of any rank work.

    Args:
        input_size: number of inputs.
        hidden_size: number of compartments.
        p: the refractory LIF parameters.
        g_coupling: the coupling matrix (hidden, hidden); by default
            ``Parameter(randn(hidden, hidden) / sqrt(hidden))`` as in Norse.
        input_weights, recurrent_weights, autapses, dt: see :class:`SNNRecurrentCell`.
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        p: LIFRefracParameters = LIFRefracParameters(),
        g_coupling: torch.Tensor | None = None,
        **kwargs: Any,
    ):
        super().__init__(
            activation=self._step,
            state_fallback=self.initial_state,
            input_size=input_size,
            hidden_size=hidden_size,
            p=p,
            **kwargs,
        )
        _register_coupling(self, g_coupling, hidden_size)

    def _step(
        self,
        input_tensor: torch.Tensor,
        state: LIFRefracState,
        input_weights: torch.Tensor,
        recurrent_weights: torch.Tensor,
        p: LIFRefracParameters,
        dt: float,
    ) -> tuple[torch.Tensor, LIFRefracState]:
        return lif_mc_refrac_step(
            input_tensor, state, input_weights, recurrent_weights, self.g_coupling, p, dt
        )

    def initial_state(self, input_tensor: torch.Tensor) -> LIFRefracState:
        dims = (*input_tensor.shape[:-1], int(self.hidden_size))
        dtype = state_dtype(input_tensor)
        device = input_tensor.device
        v = full_state(self.p.lif.v_leak, dims, dtype, device)
        mark_initial(v)
        zeros = torch.zeros(v.shape, dtype=dtype, device=device)
        lif = LIFState(z=zeros, v=v, i=zeros.clone())
        return LIFRefracState(lif=lif, rho=zeros.clone())


MODEL = NeuronModel(
    name="lif_mc_refrac",
    parameters=LIFMCRefracParameters,
    feed_forward_state=LIFRefracFeedForwardState,
    feed_forward_step=lif_mc_refrac_model_step,
    initial_state=lif_mc_refrac_initial_state,
    variables=("lif.v", "lif.i", "rho"),
    voltage="lif.v",
    current_step=lif_mc_refrac_current_step,
)

#: units, bounds and inputs in simctl's config units (read without torch: simctl.models)
DESCRIPTION = {
    "name": "lif_mc_refrac",
    "summary": "multi-compartment LIF with an absolute refractory period",
    "equations": "lif_mc, with v held and spikes suppressed for t_ref after a spike",
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
        "g_coupling": {
            "unit": "1/ms",
            "bounds": "(-inf, inf)",
            "doc": "coupling between compartments",
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
