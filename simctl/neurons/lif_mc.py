r"""Multi-compartment LIF neurons: LIF compartments coupled by a conductance matrix ``G``.

.. math::
    \dot v = \tau_{mem}^{-1} (v_{leak} - v + i) + G v, \qquad
    \dot i = -\tau_{syn}^{-1} i, \qquad
    z = \Theta(v - v_{th}), \quad v \leftarrow v_{reset} \text{ on } z = 1

Each of the ``n`` neurons of a population is a compartment; ``G`` (``n × n``) couples them, the
coupling term being ``(v·Gᵀ)_j = Σ_k G_jk v_k``. Forward Euler with Norse's update orders:

* recurrent (:func:`lif_mc_step`): the LIF step of :func:`simctl.neurons.lif.lif_step` (input
  jump first, threshold, reset), **then** the coupling ``v ← v2 + dt·(v2·Gᵀ)``; the spike is
  computed before the coupling.
* feed-forward (:func:`lif_mc_feed_forward_step`): the coupling **first**, ``v ← v + dt·(v·Gᵀ)``,
  then the LIF feed-forward step.

Inputs of any rank ``(..., n)`` work (Norse's cells assumed 2-D inputs).

Units: as :mod:`simctl.neurons.lif` (Norse's 1/s with ``dt = 0.001`` s); ``G`` is in the same
inverse time unit.

Examples:
    >>> import torch
    >>> cell = LIFMCRecurrentCell(2, 4)
    >>> z, state = cell(torch.ones(3, 5, 2))
    >>> z.shape, state.v.shape
    (torch.Size([3, 5, 4]), torch.Size([3, 5, 4]))
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import torch

from .base import NeuronModel, SNNRecurrentCell, full_state, mark_initial, state_dtype
from .lif import (
    LIFFeedForwardState,
    LIFParameters,
    LIFState,
    lif_current_step,
    lif_feed_forward_step,
    lif_initial_state,
    lif_step,
)

__all__ = [
    "LIFMCParameters",
    "lif_mc_step",
    "lif_mc_feed_forward_step",
    "lif_mc_model_step",
    "lif_mc_current_step",
    "lif_mc_initial_state",
    "LIFMCRecurrentCell",
]


class LIFMCParameters(NamedTuple):
    """Parameters of a multi-compartment population for simulators (simctl addition).

    Attributes:
        lif: the LIF parameters of every compartment.
        g_coupling: the coupling matrix ``G`` (``n × n``), or a scalar ``g`` meaning the uniform
            all-to-all matrix ``g·ones(n, n)`` (``0`` = uncoupled).
    """

    lif: LIFParameters = LIFParameters()
    g_coupling: Any = 0.0


def _coupling(v: torch.Tensor, g_coupling: Any) -> torch.Tensor:
    """``v·Gᵀ``; a scalar ``g`` stands for ``g·ones(n, n)``, i.e. ``g·Σ_k v_k``."""
    g = torch.as_tensor(g_coupling, dtype=v.dtype, device=v.device)
    if g.dim() == 0:
        return g * v.sum(dim=-1, keepdim=True)
    if g.dim() != 2:
        raise ValueError(
            f"g_coupling must be a scalar or an (n, n) matrix, got shape {tuple(g.shape)}"
        )
    return torch.nn.functional.linear(v, g)


def _register_coupling(
    module: torch.nn.Module, g_coupling: torch.Tensor | None, hidden_size: int
) -> None:
    """``module.g_coupling``: a Parameter is trained, a tensor kept as a non-persistent buffer
    (moves with ``.to()``, not saved, as Norse's plain attribute); ``None`` gives
    ``Parameter(randn(hidden, hidden) / sqrt(hidden))`` as in Norse."""
    if g_coupling is None:
        g_coupling = torch.nn.Parameter(
            torch.randn(hidden_size, hidden_size) / math.sqrt(hidden_size)
        )
    if isinstance(g_coupling, torch.nn.Parameter):
        module.register_parameter("g_coupling", g_coupling)
    else:
        module.register_buffer("g_coupling", g_coupling, persistent=False)


def lif_mc_step(
    input_tensor: torch.Tensor,
    state: LIFState,
    input_weights: torch.Tensor,
    recurrent_weights: torch.Tensor,
    g_coupling: torch.Tensor,
    p: LIFParameters = LIFParameters(),
    dt: float = 0.001,
) -> tuple[torch.Tensor, LIFState]:
    """One recurrent step: :func:`lif_step`, then ``v ← v2 + dt·(v2·Gᵀ)``.

    Returns:
        ``(z, LIFState(z, v, i))``; ``z`` is computed before the coupling.
    """
    z, s = lif_step(input_tensor, state, input_weights, recurrent_weights, p, dt)
    v = s.v + dt * _coupling(s.v, g_coupling)
    return z, LIFState(z=z, v=v, i=s.i)


def lif_mc_feed_forward_step(
    input_tensor: torch.Tensor,
    state: LIFFeedForwardState,
    g_coupling: torch.Tensor,
    p: LIFParameters = LIFParameters(),
    dt: float = 0.001,
) -> tuple[torch.Tensor, LIFFeedForwardState]:
    """One feed-forward step: ``v ← v + dt·(v·Gᵀ)``, then :func:`lif_feed_forward_step`.

    Returns:
        ``(z, LIFFeedForwardState(v, i))``.
    """
    v = state.v + dt * _coupling(state.v, g_coupling)
    return lif_feed_forward_step(input_tensor, LIFFeedForwardState(v=v, i=state.i), p, dt)


def lif_mc_model_step(
    input_tensor: torch.Tensor,
    state: LIFFeedForwardState,
    p: LIFMCParameters = LIFMCParameters(),
    dt: float = 0.001,
) -> tuple[torch.Tensor, LIFFeedForwardState]:
    """:func:`lif_mc_feed_forward_step` with the ``(input, state, p, dt)`` signature of
    :class:`~simctl.neurons.base.NeuronModel` (``p`` carries ``G``)."""
    return lif_mc_feed_forward_step(input_tensor, state, p.g_coupling, p.lif, dt)


def lif_mc_current_step(
    input_current: torch.Tensor,
    state: LIFFeedForwardState,
    p: LIFMCParameters = LIFMCParameters(),
    dt: float = 0.001,
) -> tuple[torch.Tensor, LIFFeedForwardState]:
    """The coupling ``v ← v + dt·(v·Gᵀ)``, then :func:`~simctl.neurons.lif.lif_current_step`
    (``I`` a continuous current into each compartment's membrane)."""
    v = state.v + dt * _coupling(state.v, p.g_coupling)
    return lif_current_step(input_current, LIFFeedForwardState(v=v, i=state.i), p.lif, dt)


def lif_mc_initial_state(
    shape: tuple[int, ...],
    p: LIFMCParameters = LIFMCParameters(),
    dtype: torch.dtype = torch.float32,
    device: torch.device | str | None = None,
) -> LIFFeedForwardState:
    """A fresh feed-forward state of ``shape``: ``v = v_leak``, ``i = 0``."""
    return lif_initial_state(tuple(shape), p.lif, dtype, device)


class LIFMCRecurrentCell(SNNRecurrentCell):
    """One step of a recurrent multi-compartment LIF population (:func:`lif_mc_step`).

    The initial state is ``z = 0``, ``v = v_leak``, ``i = 0`` of shape
    ``(*input.shape[:-1], hidden_size)``; inputs of any rank work.

    Args:
        input_size: number of inputs.
        hidden_size: number of compartments.
        p: the LIF parameters.
        g_coupling: the coupling matrix (hidden, hidden); by default
            ``Parameter(randn(hidden, hidden) / sqrt(hidden))`` as in Norse. A given tensor is kept
            as it is (registered as a buffer so it moves with ``.to()``), a Parameter is trained.
        input_weights, recurrent_weights, autapses, dt: see :class:`SNNRecurrentCell`.

    Examples:
        >>> import torch
        >>> cell = LIFMCRecurrentCell(2, 4, g_coupling=torch.zeros(4, 4))
        >>> z, state = cell(torch.ones(5, 2))
        >>> z.shape
        torch.Size([5, 4])
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        p: LIFParameters = LIFParameters(),
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
        state: LIFState,
        input_weights: torch.Tensor,
        recurrent_weights: torch.Tensor,
        p: LIFParameters,
        dt: float,
    ) -> tuple[torch.Tensor, LIFState]:
        return lif_mc_step(
            input_tensor, state, input_weights, recurrent_weights, self.g_coupling, p, dt
        )

    def initial_state(self, input_tensor: torch.Tensor) -> LIFState:
        dims = (*input_tensor.shape[:-1], int(self.hidden_size))
        dtype = state_dtype(input_tensor)
        device = input_tensor.device
        v = full_state(self.p.v_leak, dims, dtype, device)
        mark_initial(v)
        zeros = torch.zeros(v.shape, dtype=dtype, device=device)
        return LIFState(z=zeros, v=v, i=zeros.clone())


MODEL = NeuronModel(
    name="lif_mc",
    parameters=LIFMCParameters,
    feed_forward_state=LIFFeedForwardState,
    feed_forward_step=lif_mc_model_step,
    initial_state=lif_mc_initial_state,
    variables=("v", "i"),
    current_step=lif_mc_current_step,
)

#: units, bounds and inputs in simctl's config units (read without torch: simctl.models)
DESCRIPTION = {
    "name": "lif_mc",
    "summary": "multi-compartment LIF: compartments (the last dim) coupled by g_coupling",
    "equations": "dv/dt = v G^T + tau_mem_inv (v_leak - v + i + I); di/dt = -tau_syn_inv i",
    "voltage": "v",
    "include": {"lif.": "lif"},
    "parameters": {
        "g_coupling": {
            "unit": "1/ms",
            "bounds": "(-inf, inf)",
            "doc": "coupling between compartments",
        },
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
    "cli_input": {"amplitude": 16.0, "noise_mean": 14.0, "noise_std": 15.0, "jump": 3.0},
}
