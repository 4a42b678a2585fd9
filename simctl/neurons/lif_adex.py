r"""Adaptive exponential leaky integrate-and-fire (LIFAdEx) neurons with current synapses.

.. math::
    \dot v = \tau_{mem}^{-1} \left(v_{leak} - v + \Delta_T e^{(v - v_{th})/\Delta_T} + i - a\right),
    \qquad \dot i = -\tau_{syn}^{-1} i, \qquad
    \dot a = \tau_{ada}^{-1} \left(a_{current} (v - v_{leak}) - a\right)

with the spike ``z = Θ(v − v_cut)``, after which ``v ← v_reset`` and ``a ← a + a_spike``.
``v_cut`` is ``v_th`` (Norse's behaviour, ``v_peak=None``) or, when set, ``v_peak``: then
``v_th`` is only the exponential's threshold and ``v`` may exceed it without spiking, as in
the Brette–Gerstner model in physical units.

Forward Euler, one call per step, input jump **before** the voltage update; the exponential
and the adaptation are evaluated on the **old** state:

1. ``i1 = i + I`` (recurrent: ``I = W_in·x + W_rec·z_old``)
2. ``v1 = v + dt·tau_mem_inv·(v_leak − v + delta_T·exp((v − v_th)/delta_T) + i1 − a)``
3. ``i2 = i1 − dt·tau_syn_inv·i1``
4. ``a1 = a + dt·tau_ada_inv·(adaptation_current·(v − v_leak) − a)``
5. ``z = Θ(v1 − v_cut)`` (strict ``>``)
6. ``v2 = (1 − z)·v1 + z·v_reset`` (``z`` not detached, in the recurrent step too, as in Norse)
7. ``a2 = a1 + z·adaptation_spike``

Units: Norse's defaults (inverse time constants in 1/s with ``dt = 0.001``, dimensionless
voltages); any consistent unit system works (simctl's configs use ms and mV, where ``a`` is a
current in the voltage unit, i.e. already multiplied by the membrane resistance).

Reference: Brette & Gerstner (2005), "Adaptive exponential integrate-and-fire model as an
effective description of neuronal activity", J. Neurophysiol. 94:3637–3642.

Examples:
    >>> import torch
    >>> cell = LIFAdExCell()
    >>> z, state = cell(torch.ones(5, 2))
    >>> z.shape, state.v.shape, state.a.shape
    (torch.Size([5, 2]), torch.Size([5, 2]), torch.Size([5, 2]))
    >>> layer = LIFAdEx()
    >>> z, state = layer(torch.ones(9, 1))
    >>> torch.nonzero(z[:, 0]).flatten().tolist()
    [4, 7]
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
    full_state,
)
from .threshold import threshold

__all__ = [
    "LIFAdExParameters",
    "LIFAdExState",
    "LIFAdExFeedForwardState",
    "lif_adex_step",
    "lif_adex_feed_forward_step",
    "lif_adex_current_step",
    "lif_adex_current_encoder",
    "lif_adex_initial_state",
    "LIFAdExCell",
    "LIFAdEx",
    "LIFAdExRecurrentCell",
    "LIFAdExRecurrent",
]


class LIFAdExParameters(NamedTuple):
    """Parameters of an adaptive exponential LIF neuron.

    Attributes:
        adaptation_current: subthreshold adaptation coupling (Brette–Gerstner ``a``), per unit
            of ``v − v_leak`` (Norse stores an int tensor 4; simctl a float).
        adaptation_spike: jump of the adaptation current per spike (Brette–Gerstner ``b``).
        delta_T: sharpness of the exponential spike initiation (voltage unit, > 0).
        tau_ada_inv: inverse adaptation time constant (1/s with the default dt; 1/ms in configs).
        tau_syn_inv: inverse synaptic time constant (same unit).
        tau_mem_inv: inverse membrane time constant (same unit).
        v_leak: leak (resting) potential.
        v_th: threshold of the exponential term (and the spike cut-off when ``v_peak`` is None).
        v_reset: potential after a spike.
        method: surrogate gradient method (see :mod:`simctl.neurons.threshold`).
        alpha: surrogate shape parameter.
        v_peak: simctl extension. ``None`` (default, Norse's behaviour): spike when
            ``v > v_th``. A number: spike when ``v > v_peak``; ``v_th`` stays the exponential's
            threshold.
    """

    adaptation_current: Any = 4.0
    adaptation_spike: Any = 0.02
    delta_T: Any = 0.5
    tau_ada_inv: Any = 2.0
    tau_syn_inv: Any = 1.0 / 5e-3
    tau_mem_inv: Any = 1.0 / 1e-2
    v_leak: Any = 0.0
    v_th: Any = 1.0
    v_reset: Any = 0.0
    method: str = "super"
    alpha: Any = 100.0
    v_peak: Any = None


_DEFAULT_P = LIFAdExParameters()  # immutable NamedTuple, the default of every ``p``


class LIFAdExState(NamedTuple):
    """State of a recurrent LIFAdEx population: spikes ``z``, voltage ``v``, current ``i``,
    adaptation current ``a``."""

    z: torch.Tensor
    v: torch.Tensor
    i: torch.Tensor
    a: torch.Tensor


class LIFAdExFeedForwardState(NamedTuple):
    """State of a feed-forward LIFAdEx population: voltage ``v``, synaptic current ``i``,
    adaptation current ``a``."""

    v: torch.Tensor
    i: torch.Tensor
    a: torch.Tensor


def _spike_cut(p: LIFAdExParameters) -> Any:
    """The potential a spike must exceed: ``v_peak`` when set, else ``v_th``."""
    v_peak = getattr(p, "v_peak", None)
    return p.v_th if v_peak is None else v_peak


_ZERO = torch.zeros(())  # never modified: the steps are out of place
_ZERO_STATE = LIFAdExFeedForwardState(
    _ZERO, _ZERO, _ZERO
)  # Norse's default state (all zeros) of the step


def _lif_adex_update(
    i_jump: torch.Tensor,
    v: torch.Tensor,
    a: torch.Tensor,
    p: LIFAdExParameters,
    dt: float,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Steps 2–7 from the current after the jump; returns ``(z, v2, i2, a2)``."""
    dv_exp = p.delta_T * torch.exp((v - p.v_th) / p.delta_T)
    v_decayed = v + dt * p.tau_mem_inv * ((p.v_leak - v) + dv_exp + i_jump - a)
    i_decayed = i_jump - dt * p.tau_syn_inv * i_jump
    a_decayed = a + dt * p.tau_ada_inv * (p.adaptation_current * (v - p.v_leak) - a)
    z_new = threshold(v_decayed - _spike_cut(p), p.method, p.alpha)
    v_new = (1 - z_new) * v_decayed + z_new * p.v_reset
    a_new = a_decayed + z_new * p.adaptation_spike
    return z_new, v_new, i_decayed, a_new


@keyword_aliases(input_spikes="input_tensor")
def lif_adex_feed_forward_step(
    input_tensor: torch.Tensor,
    state: LIFAdExFeedForwardState = _ZERO_STATE,
    p: LIFAdExParameters = _DEFAULT_P,
    dt: float = 0.001,
) -> tuple[torch.Tensor, LIFAdExFeedForwardState]:
    """One Euler step of a feed-forward LIFAdEx population (input added to ``i`` first).

    Returns:
        ``(z, LIFAdExFeedForwardState(v, i, a))`` with ``z`` the 0/1 spikes of this step.
    """
    i_jump = state.i + input_tensor
    z_new, v_new, i_new, a_new = _lif_adex_update(i_jump, state.v, state.a, p, dt)
    return z_new, LIFAdExFeedForwardState(v=v_new, i=i_new, a=a_new)


def lif_adex_current_step(
    input_current: torch.Tensor,
    state: LIFAdExFeedForwardState,
    p: LIFAdExParameters = _DEFAULT_P,
    dt: float = 0.001,
) -> tuple[torch.Tensor, LIFAdExFeedForwardState]:
    """One Euler step with ``I`` a continuous current into the membrane (mV, ``R·I``):
    ``v1 = v + dt·tau_mem_inv·(v_leak − v + delta_T·exp((v − v_th)/delta_T) + i + I − a)``,
    ``i2 = i − dt·tau_syn_inv·i``, ``a`` as in :func:`lif_adex_feed_forward_step`."""
    z_new, v_new, _, a_new = _lif_adex_update(state.i + input_current, state.v, state.a, p, dt)
    i_decayed = state.i - dt * p.tau_syn_inv * state.i
    return z_new, LIFAdExFeedForwardState(v=v_new, i=i_decayed, a=a_new)


@keyword_aliases(input_spikes="input_tensor")
def lif_adex_step(
    input_tensor: torch.Tensor,
    state: LIFAdExState,
    input_weights: torch.Tensor,
    recurrent_weights: torch.Tensor,
    p: LIFAdExParameters = _DEFAULT_P,
    dt: float = 0.001,
) -> tuple[torch.Tensor, LIFAdExState]:
    """One Euler step of a recurrent LIFAdEx population: ``i1 = i + W_in·x + W_rec·z_old``.

    Unlike :func:`simctl.neurons.lif.lif_step`, the reset keeps the spike's graph (as in Norse).
    """
    i_jump = (
        state.i
        + torch.nn.functional.linear(input_tensor, input_weights)
        + torch.nn.functional.linear(state.z, recurrent_weights)
    )
    z_new, v_new, i_new, a_new = _lif_adex_update(i_jump, state.v, state.a, p, dt)
    return z_new, LIFAdExState(z=z_new, v=v_new, i=i_new, a=a_new)


def lif_adex_current_encoder(
    input_current: torch.Tensor,
    voltage: torch.Tensor,
    adaptation: torch.Tensor,
    p: LIFAdExParameters = _DEFAULT_P,
    dt: float = 0.001,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """LIFAdEx without a synaptic current: the input drives ``v`` directly.

    ``v1 = v + dt·tau_mem_inv·(v_leak − v + delta_T·exp((v − v_th)/delta_T) + I − a)``,
    ``z = Θ(v1 − v_cut)``, ``v2 = v1 − z·(v1 − v_reset)``,
    ``a2 = a + dt·tau_ada_inv·(adaptation_current·(v − v_leak) − a) + z·adaptation_spike``
    with the **old** ``v``. (Norse's version drops ``a +`` and ``dt`` and uses the reset ``v``;
    that is not an Euler step, spec §9.5.) Returns ``(z, v2, a2)``.
    """
    dv_exp = p.delta_T * torch.exp((voltage - p.v_th) / p.delta_T)
    v_new = voltage + dt * p.tau_mem_inv * (
        (p.v_leak - voltage) + dv_exp + input_current - adaptation
    )
    a_new = adaptation + dt * p.tau_ada_inv * (
        p.adaptation_current * (voltage - p.v_leak) - adaptation
    )
    z = threshold(v_new - _spike_cut(p), p.method, p.alpha)
    v_new = v_new - z * (v_new - p.v_reset)
    a_new = a_new + z * p.adaptation_spike
    return z, v_new, a_new


def lif_adex_initial_state(
    shape: tuple[int, ...],
    p: LIFAdExParameters = _DEFAULT_P,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str | None = None,
) -> LIFAdExFeedForwardState:
    """A fresh feed-forward state: ``v = v_leak``, ``i = a = 0``, all of ``shape``."""
    return LIFAdExFeedForwardState(
        v=full_state(p.v_leak, shape, dtype, device),
        i=torch.zeros(shape, dtype=dtype, device=device),
        a=torch.zeros(shape, dtype=dtype, device=device),
    )


_modules = model_modules(
    _DEFAULT_P,
    feed_forward=lif_adex_feed_forward_step,
    recurrent=lif_adex_step,
    initial_state=lif_adex_initial_state,
    cell_state=scalar_cell_state(LIFAdExFeedForwardState, "v_leak"),
    recurrent_state=LIFAdExState,
)


@_modules
class LIFAdExCell(SNNCell):
    """One step of a feed-forward LIFAdEx population (see the module docstring).

    The initial state is ``v = v_leak`` (0-dim, broadcast on the first step), ``i = a = 0``
    shaped like the input.

    Args:
        p: the parameters; plain floats and per-neuron tensors work.
        dt: the integration step (default 0.001, seconds with the default parameters).
    """


@_modules
class LIFAdEx(SNN):
    """A feed-forward LIFAdEx population looped over time (dim 0).

    Args:
        p: the parameters.
        dt: the integration step.
        record_states: return every step's state (stacked along dim 0) instead of the last.
    """


@_modules
class LIFAdExRecurrentCell(SNNRecurrentCell):
    """One step of a recurrent LIFAdEx population.

    Args:
        input_size: number of inputs.
        hidden_size: number of neurons.
        p: the parameters.
        input_weights, recurrent_weights, autapses, dt: see :class:`SNNRecurrentCell`.

    Examples:
        >>> import torch
        >>> cell = LIFAdExRecurrentCell(2, 4)
        >>> z, state = cell(torch.ones(5, 2))
        >>> z.shape, state.a.shape
        (torch.Size([5, 4]), torch.Size([5, 4]))
    """


@_modules
class LIFAdExRecurrent(SNNRecurrent):
    """A recurrent LIFAdEx population looped over time (dim 0).

    Examples:
        >>> import torch
        >>> layer = LIFAdExRecurrent(2, 4)
        >>> z, state = layer(torch.ones(10, 5, 2))
        >>> z.shape, state.v.shape
        (torch.Size([10, 5, 4]), torch.Size([5, 4]))
    """


MODEL = NeuronModel(
    name="lif_adex",
    parameters=LIFAdExParameters,
    feed_forward_state=LIFAdExFeedForwardState,
    feed_forward_step=lif_adex_feed_forward_step,
    initial_state=lif_adex_initial_state,
    variables=("v", "i", "a"),
    current_step=lif_adex_current_step,
)

#: units, bounds and inputs in simctl's config units (read without torch: simctl.models)
DESCRIPTION = {
    "name": "lif_adex",
    "summary": "adaptive exponential integrate-and-fire (Brette & Gerstner 2005)",
    "equations": "dv/dt = tau_mem_inv (v_leak - v + delta_T exp((v - v_th)/delta_T) + i + I - a); "
    "da/dt = tau_ada_inv (adaptation_current (v - v_leak) - a); di/dt = -tau_syn_inv i",
    "voltage": "v",
    "include": {"": "lif"},
    "parameters": {
        "adaptation_current": {
            "unit": "1",
            "bounds": "(-inf, inf)",
            "doc": "subthreshold adaptation a/g_L",
        },
        "adaptation_spike": {
            "unit": "mV",
            "bounds": "(-inf, inf)",
            "doc": "spike-triggered adaptation jump b/g_L",
        },
        "delta_T": {"unit": "mV", "bounds": "(0, inf)", "doc": "slope factor"},
        "tau_ada_inv": {
            "unit": "1/ms",
            "bounds": "(0, inf)",
            "doc": "inverse adaptation time constant",
        },
        "v_peak": {"unit": "mV", "bounds": "(-inf, inf)", "doc": "spike cut-off (null: v_th)"},
        "physical.C": {
            "unit": "pF",
            "bounds": "(0, inf)",
            "doc": "membrane capacitance (physical form)",
        },
        "physical.g_L": {"unit": "nS", "bounds": "(0, inf)", "doc": "leak conductance"},
        "physical.tau_m": {
            "unit": "ms",
            "bounds": "(0, inf)",
            "doc": "instead of C: C = tau_m g_L",
        },
        "physical.R": {"unit": "MOhm", "bounds": "(0, inf)", "doc": "instead of g_L: g_L = 1000/R"},
        "physical.E_L": {"unit": "mV", "bounds": "(-inf, inf)", "doc": "leak reversal potential"},
        "physical.V_T": {
            "unit": "mV",
            "bounds": "(-inf, inf)",
            "doc": "threshold of the exponential",
        },
        "physical.Delta_T": {"unit": "mV", "bounds": "(0, inf)", "doc": "slope factor"},
        "physical.V_peak": {"unit": "mV", "bounds": "(-inf, inf)", "doc": "spike cut-off"},
        "physical.V_r": {"unit": "mV", "bounds": "(-inf, inf)", "doc": "reset potential"},
        "physical.a": {"unit": "nS", "bounds": "(-inf, inf)", "doc": "subthreshold adaptation"},
        "physical.tau_w": {"unit": "ms", "bounds": "(0, inf)", "doc": "adaptation time constant"},
        "physical.b": {"unit": "pA", "bounds": "(-inf, inf)", "doc": "spike-triggered adaptation"},
    },
    "state": {"v": "mV", "i": "mV", "a": "mV"},
    "current": {
        "unit": "mV",
        "physical_unit": "pA",
        "enters": "v",
        "doc": "R*I in mV (library form); pA with neuron.physical",
    },
    "jumps": {"v": "mV", "i": "mV"},
    "default_jump": "i",
    "refractory": None,
    "cli_input": {"amplitude": 16.0, "noise_mean": 14.0, "noise_std": 15.0, "jump": 3.0},
}
