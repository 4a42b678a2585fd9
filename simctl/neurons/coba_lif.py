r"""Conductance-based LIF neurons (CobaLIF) with exponential excitatory/inhibitory synapses.

.. math::
    \dot v = c_m^{-1} \big(g_l (v_{rest} - v) + g_e (E_E - v) + g_i (E_I - v)\big), \qquad
    \dot g_e = -\tau_{e}^{-1} g_e, \qquad \dot g_i = -\tau_{i}^{-1} g_i, \qquad
    z = \Theta(v - v_{thresh}), \quad v \leftarrow v_{reset} \text{ on } z = 1

Forward Euler, the input jump first (no delay):

1. ``g_e1 = g_e + relu(I)``, ``g_i1 = g_i + relu(−I)``; recurrent:
   ``g_e1 = g_e + relu(W_in)·x + relu(W_rec)·z_old``, ``g_i1 = g_i + relu(−W_in)·x +
   relu(−W_rec)·z_old`` (the input term is kept; Norse drops it, spec §9.3)
2. ``g_x2 = g_x1·(1 − dt·tau_x_inv)``
3. ``v1 = v + dt·c_m_inv·(g_l·(v_rest − v) + g_e2·(e_rev_E − v) + g_i2·(e_rev_I − v))``
4. ``z = Θ(v1 − v_thresh)`` (strict ``>``), ``v2 = (1 − z)·v1 + z·v_reset``

Units: the defaults are Norse's, which read as ms (``tau_syn_*_inv = 0.2`` per ms, ``c_m_inv =
5``, ``g_l = 0.25``) and mV; use ``dt`` in ms with them (with ``dt = 0.001`` almost nothing
happens per step). Modules start at ``v = v_rest`` (Norse starts at 0).

Examples:
    >>> import torch
    >>> cell = CobaLIFCell(2, 4, dt=1.0)
    >>> z, state = cell(torch.ones(5, 2))
    >>> z.shape, state.g_e.shape
    (torch.Size([5, 4]), torch.Size([5, 4]))
    >>> layer = CobaLIF(dt=1.0)
    >>> z, state = layer(torch.full((100, 1), 0.1))
    >>> int(z.sum()) > 0
    True
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import torch

from ._keywords import keyword_aliases
from ._modules import model_modules
from .base import SNN, NeuronModel, SNNCell, SNNRecurrentCell, full_state
from .threshold import threshold

__all__ = [
    "CobaLIFParameters",
    "CobaLIFState",
    "CobaLIFFeedForwardState",
    "coba_lif_step",
    "coba_lif_feed_forward_step",
    "coba_lif_current_step",
    "coba_lif_initial_state",
    "CobaLIFCell",
    "CobaLIFFeedForwardCell",
    "CobaLIF",
]


class CobaLIFParameters(NamedTuple):
    """Parameters of a conductance-based LIF neuron (Norse's defaults; ms and mV).

    Attributes:
        tau_syn_exc_inv: inverse excitatory synaptic time constant.
        tau_syn_inh_inv: inverse inhibitory synaptic time constant.
        c_m_inv: inverse membrane capacitance.
        g_l: leak conductance.
        e_rev_I: inhibitory reversal potential.
        e_rev_E: excitatory reversal potential.
        v_rest: resting potential.
        v_reset: potential after a spike.
        v_thresh: threshold potential; a spike needs ``v > v_thresh``.
        method: surrogate gradient method (see :mod:`simctl.neurons.threshold`).
        alpha: surrogate shape parameter.
    """

    tau_syn_exc_inv: Any = 1.0 / 5
    tau_syn_inh_inv: Any = 1.0 / 5
    c_m_inv: Any = 1 / 0.2
    g_l: Any = 1 / 20 * 1 / 0.2
    e_rev_I: Any = -100
    e_rev_E: Any = 60
    v_rest: Any = -20
    v_reset: Any = -70
    v_thresh: Any = -10
    method: str = "super"
    alpha: Any = 100.0


class CobaLIFState(NamedTuple):
    """Recurrent state: spikes ``z``, voltage ``v``, conductances ``g_e``, ``g_i``."""

    z: torch.Tensor
    v: torch.Tensor
    g_e: torch.Tensor
    g_i: torch.Tensor


class CobaLIFFeedForwardState(NamedTuple):
    """Feed-forward state: voltage ``v``, conductances ``g_e``, ``g_i``."""

    v: torch.Tensor
    g_e: torch.Tensor
    g_i: torch.Tensor


def _coba_update(
    g_e: torch.Tensor, g_i: torch.Tensor, v: torch.Tensor, p: CobaLIFParameters, dt: float
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Steps 2–4 from the conductances after the jump; returns ``(z, v2, g_e2, g_i2)``."""
    # written as g + (−dt·τ⁻¹·g), Norse's operation order, so results agree to the last bit
    g_e = g_e + (-dt * p.tau_syn_exc_inv * g_e)
    g_i = g_i + (-dt * p.tau_syn_inh_inv * g_i)
    dv = dt * p.c_m_inv * (p.g_l * (p.v_rest - v) + g_e * (p.e_rev_E - v) + g_i * (p.e_rev_I - v))
    v_decayed = v + dv
    z = threshold(v_decayed - p.v_thresh, p.method, p.alpha)
    v_new = (1 - z) * v_decayed + z * p.v_reset
    return z, v_new, g_e, g_i


def coba_lif_feed_forward_step(
    input_tensor: torch.Tensor,
    state: CobaLIFFeedForwardState,
    p: CobaLIFParameters = CobaLIFParameters(),
    dt: float = 0.001,
) -> tuple[torch.Tensor, CobaLIFFeedForwardState]:
    """One Euler step of a feed-forward population: positive input raises ``g_e``, negative
    input raises ``g_i`` (both before the voltage update).

    Returns:
        ``(z, CobaLIFFeedForwardState(v, g_e, g_i))``.
    """
    g_e = state.g_e + torch.relu(input_tensor)
    g_i = state.g_i + torch.relu(-input_tensor)
    z, v, g_e, g_i = _coba_update(g_e, g_i, state.v, p, dt)
    return z, CobaLIFFeedForwardState(v=v, g_e=g_e, g_i=g_i)


def coba_lif_current_step(
    input_current: torch.Tensor,
    state: CobaLIFFeedForwardState,
    p: CobaLIFParameters = CobaLIFParameters(),
    dt: float = 0.001,
) -> tuple[torch.Tensor, CobaLIFFeedForwardState]:
    """One Euler step with ``I`` a continuous current into the membrane (nA with
    ``c_m_inv`` in 1/nF and conductances in µS):
    ``v1 = v + dt·c_m_inv·(g_l·(v_rest − v) + g_e·(e_rev_E − v) + g_i·(e_rev_I − v) + I)``
    with the decayed conductances, then threshold and reset; spikes jump ``g_e``/``g_i``
    from outside."""
    g_e = state.g_e + (-dt * p.tau_syn_exc_inv * state.g_e)
    g_i = state.g_i + (-dt * p.tau_syn_inh_inv * state.g_i)
    v = state.v
    leak = p.g_l * (p.v_rest - v) + g_e * (p.e_rev_E - v) + g_i * (p.e_rev_I - v)
    v_decayed = v + dt * p.c_m_inv * (leak + input_current)
    z = threshold(v_decayed - p.v_thresh, p.method, p.alpha)
    v_new = (1 - z) * v_decayed + z * p.v_reset
    return z, CobaLIFFeedForwardState(v=v_new, g_e=g_e, g_i=g_i)


@keyword_aliases(input_spikes="input_tensor")
def coba_lif_step(
    input_tensor: torch.Tensor,
    state: CobaLIFState,
    input_weights: torch.Tensor,
    recurrent_weights: torch.Tensor,
    p: CobaLIFParameters = CobaLIFParameters(),
    dt: float = 0.001,
) -> tuple[torch.Tensor, CobaLIFState]:
    """One Euler step of a recurrent population. Positive weights drive ``g_e``, negative
    weights ``g_i``; both the input and the recurrent term are added (unlike Norse, §9.3).

    Returns:
        ``(z, CobaLIFState(z, v, g_e, g_i))``.
    """
    linear = torch.nn.functional.linear
    g_e = (
        state.g_e
        + linear(input_tensor, torch.relu(input_weights))
        + linear(state.z, torch.relu(recurrent_weights))
    )
    g_i = (
        state.g_i
        + linear(input_tensor, torch.relu(-input_weights))
        + linear(state.z, torch.relu(-recurrent_weights))
    )
    z, v, g_e, g_i = _coba_update(g_e, g_i, state.v, p, dt)
    return z, CobaLIFState(z=z, v=v, g_e=g_e, g_i=g_i)


def coba_lif_initial_state(
    shape: tuple[int, ...],
    p: CobaLIFParameters = CobaLIFParameters(),
    dtype: torch.dtype = torch.float32,
    device: torch.device | str | None = None,
) -> CobaLIFFeedForwardState:
    """A fresh feed-forward state of ``shape``: ``v = v_rest``, ``g_e = g_i = 0``."""
    v = full_state(p.v_rest, tuple(shape), dtype, device)
    return CobaLIFFeedForwardState(
        v=v,
        g_e=torch.zeros(v.shape, dtype=dtype, device=device),
        g_i=torch.zeros(v.shape, dtype=dtype, device=device),
    )


_modules = model_modules(
    CobaLIFParameters(),
    feed_forward=coba_lif_feed_forward_step,
    initial_state=coba_lif_initial_state,
    recurrent_state=CobaLIFState,
)


@_modules  # initial_state only: CobaLIFCell's __init__ keeps Norse's weight scaling
class CobaLIFCell(SNNRecurrentCell):
    """One step of a recurrent conductance-based LIF population (:func:`coba_lif_step`).

    Unlike Norse's plain ``nn.Module``, this is an :class:`SNNRecurrentCell`: autapses are
    removed by default, the parameters move with ``.to()``, and the state starts at
    ``v = v_rest`` (not 0) with ``z = g_e = g_i = 0``, shape ``(*input.shape[:-1], hidden)``.

    Args:
        input_size: number of inputs.
        hidden_size: number of neurons.
        p: the parameters.
        dt: the integration step (in ms for the default parameters).
        input_weights: default ``randn(hidden, input) / sqrt(input)`` (Norse's scaling).
        recurrent_weights: default ``randn(hidden, hidden) / sqrt(hidden)``.
        autapses: keep self-connections (default False).
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        p: CobaLIFParameters = CobaLIFParameters(),
        dt: float = 0.001,
        input_weights: torch.Tensor | None = None,
        recurrent_weights: torch.Tensor | None = None,
        **kwargs: Any,
    ):
        if input_weights is None:
            input_weights = torch.nn.Parameter(
                torch.randn(hidden_size, input_size) / math.sqrt(input_size)
            )
        if recurrent_weights is None:
            recurrent_weights = torch.nn.Parameter(
                torch.randn(hidden_size, hidden_size) / math.sqrt(hidden_size)
            )
        super().__init__(
            activation=coba_lif_step,
            state_fallback=self.initial_state,
            input_size=input_size,
            hidden_size=hidden_size,
            p=p,
            input_weights=input_weights,
            recurrent_weights=recurrent_weights,
            dt=dt,
            **kwargs,
        )


@_modules
class CobaLIFFeedForwardCell(SNNCell):
    """One step of a feed-forward CobaLIF population driven by a signed input (simctl addition).

    The initial state is ``v = v_rest``, ``g_e = g_i = 0`` shaped like the input.

    Args:
        p: the parameters.
        dt: the integration step.
    """


@_modules
class CobaLIF(SNN):
    """A feed-forward CobaLIF population looped over time (dim 0; simctl addition).

    Args:
        p: the parameters.
        dt: the integration step.
        record_states: return every step's state (stacked along dim 0) instead of the last.
    """


MODEL = NeuronModel(
    name="coba_lif",
    parameters=CobaLIFParameters,
    feed_forward_state=CobaLIFFeedForwardState,
    feed_forward_step=coba_lif_feed_forward_step,
    initial_state=coba_lif_initial_state,
    variables=("v", "g_e", "g_i"),
    current_step=coba_lif_current_step,
)

#: units, bounds and inputs in simctl's config units (read without torch: simctl.models)
DESCRIPTION = {
    "name": "coba_lif",
    "summary": "conductance-based LIF with exponential excitatory and inhibitory conductances",
    "equations": "dv/dt = c_m_inv (g_l (v_rest - v) + g_e (e_rev_E - v) + g_i (e_rev_I - v) + I); "
    "dg_e/dt = -tau_syn_exc_inv g_e; dg_i/dt = -tau_syn_inh_inv g_i",
    "voltage": "v",
    "parameters": {
        "tau_syn_exc_inv": {
            "unit": "1/ms",
            "bounds": "(0, inf)",
            "doc": "inverse excitatory synaptic time constant",
        },
        "tau_syn_inh_inv": {
            "unit": "1/ms",
            "bounds": "(0, inf)",
            "doc": "inverse inhibitory synaptic time constant",
        },
        "c_m_inv": {"unit": "1/nF", "bounds": "(0, inf)", "doc": "inverse membrane capacitance"},
        "g_l": {"unit": "uS", "bounds": "[0, inf)", "doc": "leak conductance"},
        "e_rev_I": {"unit": "mV", "bounds": "(-inf, inf)", "doc": "inhibitory reversal potential"},
        "e_rev_E": {"unit": "mV", "bounds": "(-inf, inf)", "doc": "excitatory reversal potential"},
        "v_rest": {"unit": "mV", "bounds": "(-inf, inf)", "doc": "resting potential"},
        "v_reset": {"unit": "mV", "bounds": "(-inf, inf)", "doc": "potential after a spike"},
        "v_thresh": {
            "unit": "mV",
            "bounds": "(-inf, inf)",
            "doc": "threshold (spike when v > v_thresh)",
        },
        "method": {"choices": "surrogate", "doc": "surrogate gradient (unused when simulating)"},
        "alpha": {"unit": "1", "bounds": "(0, inf)", "doc": "surrogate sharpness"},
    },
    "state": {"v": "mV", "g_e": "uS", "g_i": "uS"},
    "current": {"unit": "nA", "enters": "v", "doc": "injected current"},
    "jumps": {"g_e": "uS", "g_i": "uS", "v": "mV"},
    "default_jump": "g_e",
    "refractory": None,
    "cli_input": {"amplitude": 0.2, "noise_mean": 0.14, "noise_std": 0.2, "jump": 0.0002},
}
