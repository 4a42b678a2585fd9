r"""Long short-term memory spiking neurons (LSNN): LIF neurons with an adaptive threshold.

.. math::
    \dot v = \tau_{mem}^{-1} (v_{leak} - v + i), \qquad
    \dot i = -\tau_{syn}^{-1} i, \qquad
    \dot b = \tau_{adapt}^{-1} (v_{th} - b), \qquad
    z = \Theta(v - b), \quad v \leftarrow v_{reset},\; b \leftarrow b + \beta \text{ on } z = 1

``b`` **is the adaptive threshold itself** (it starts at and relaxes toward ``v_th`` and jumps by
``beta`` on every spike), as in Norse's code; Norse's docstrings describe ``Θ(v − v_th + b)``
with ``b`` decaying to 0, which is :func:`ada_lif_step`.

Forward Euler with Norse's **old ordering**: the input jump comes last, so an input reaches ``v``
one step later (unlike LIF):

1. ``v1 = v + dt·tau_mem_inv·(v_leak − v + i)`` (the old ``i``)
2. ``i1 = i − dt·tau_syn_inv·i``
3. ``b1 = b + dt·tau_adapt_inv·(v_th − b)``
4. ``z = Θ(v1 − b1)`` (strict ``>``)
5. ``v2 = (1 − z)·v1 + z·v_reset``
6. ``i2 = i1 + I`` (recurrent: ``I = W_in·x + W_rec·z_old``)
7. ``b2 = b1 + beta·z``

:func:`lsnn_step` (recurrent) uses the detached ``z`` in steps 5 and 7, the feed-forward step
does not (as in Norse).

Units: Norse's defaults (1/s with ``dt = 0.001`` s; dimensionless voltages). The default
``tau_adapt_inv = 1/800`` means the threshold relaxes by about 1e-6 per step, i.e. hardly at all.

Paper: G. Bellec et al., "Long short-term memory and learning-to-learn in networks of spiking
neurons", NeurIPS 2018.

Examples:
    >>> import torch
    >>> cell = LSNNCell()
    >>> z, state = cell(torch.ones(1, 2, 2))
    >>> z, state = cell(torch.ones(1, 2, 2), state)
    >>> state.i
    tensor([[[1.8000, 1.8000],
             [1.8000, 1.8000]]])
    >>> layer = LSNNRecurrent(2, 10)
    >>> z, state = layer(torch.ones(20, 8, 2))
    >>> z.shape
    torch.Size([20, 8, 10])
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
)
from .threshold import threshold

__all__ = [
    "LSNNParameters",
    "LSNNState",
    "LSNNFeedForwardState",
    "lsnn_step",
    "lsnn_feed_forward_step",
    "lsnn_current_step",
    "lsnn_initial_state",
    "LSNNCell",
    "LSNN",
    "LSNNRecurrentCell",
    "LSNNRecurrent",
]


class LSNNParameters(NamedTuple):
    """Parameters of an LSNN neuron.

    Attributes:
        tau_syn_inv: inverse synaptic time constant (1/s with the default dt).
        tau_mem_inv: inverse membrane time constant.
        tau_adapt_inv: inverse time constant of the threshold's relaxation toward ``v_th``.
        v_leak: leak (resting) potential.
        v_th: resting threshold; the initial value of ``b``.
        v_reset: potential after a spike.
        beta: threshold jump per spike.
        method: surrogate gradient method (see :mod:`simctl.neurons.threshold`).
        alpha: surrogate shape parameter.
    """

    tau_syn_inv: Any = 1.0 / 5e-3
    tau_mem_inv: Any = 1.0 / 1e-2
    tau_adapt_inv: Any = 1.0 / 800
    v_leak: Any = 0.0
    v_th: Any = 1.0
    v_reset: Any = 0.0
    beta: Any = 1.8
    method: str = "super"
    alpha: Any = 100.0


class LSNNState(NamedTuple):
    """Recurrent state: spikes ``z``, voltage ``v``, current ``i``, adaptive threshold ``b``."""

    z: torch.Tensor
    v: torch.Tensor
    i: torch.Tensor
    b: torch.Tensor


class LSNNFeedForwardState(NamedTuple):
    """Feed-forward state: voltage ``v``, current ``i``, adaptive threshold ``b``."""

    v: torch.Tensor
    i: torch.Tensor
    b: torch.Tensor


def _lsnn_update(
    state: Any, p: LSNNParameters, dt: float
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Steps 1–4: returns ``(z, v1, i1, b1)``."""
    v_decayed = state.v + dt * p.tau_mem_inv * ((p.v_leak - state.v) + state.i)
    i_decayed = state.i - dt * p.tau_syn_inv * state.i
    b_decayed = state.b + dt * p.tau_adapt_inv * (p.v_th - state.b)
    z_new = threshold(v_decayed - b_decayed, p.method, p.alpha)
    return z_new, v_decayed, i_decayed, b_decayed


def lsnn_feed_forward_step(
    input_tensor: torch.Tensor,
    state: LSNNFeedForwardState,
    p: LSNNParameters = LSNNParameters(),
    dt: float = 0.001,
) -> tuple[torch.Tensor, LSNNFeedForwardState]:
    """One Euler step of a feed-forward LSNN population (input added to ``i`` last).

    Returns:
        ``(z, LSNNFeedForwardState(v, i, b))``.
    """
    z_new, v_decayed, i_decayed, b_decayed = _lsnn_update(state, p, dt)
    v_new = (1 - z_new) * v_decayed + z_new * p.v_reset
    i_new = i_decayed + input_tensor
    b_new = b_decayed + z_new * p.beta
    return z_new, LSNNFeedForwardState(v=v_new, i=i_new, b=b_new)


def lsnn_current_step(
    input_current: torch.Tensor,
    state: LSNNFeedForwardState,
    p: LSNNParameters = LSNNParameters(),
    dt: float = 0.001,
) -> tuple[torch.Tensor, LSNNFeedForwardState]:
    """One Euler step with ``I`` a continuous current into the membrane (mV, ``R·I``):
    ``v1 = v + dt·tau_mem_inv·(v_leak − v + i + I)``; ``i`` decays; the adaptive threshold
    ``b`` as in :func:`lsnn_feed_forward_step`."""
    driven = LSNNFeedForwardState(v=state.v, i=state.i + input_current, b=state.b)
    z_new, v_decayed, _, b_decayed = _lsnn_update(driven, p, dt)
    i_decayed = state.i - dt * p.tau_syn_inv * state.i
    v_new = (1 - z_new) * v_decayed + z_new * p.v_reset
    b_new = b_decayed + z_new * p.beta
    return z_new, LSNNFeedForwardState(v=v_new, i=i_decayed, b=b_new)


def lsnn_step(
    input_tensor: torch.Tensor,
    state: LSNNState,
    input_weights: torch.Tensor,
    recurrent_weights: torch.Tensor,
    p: LSNNParameters = LSNNParameters(),
    dt: float = 0.001,
) -> tuple[torch.Tensor, LSNNState]:
    """One Euler step of a recurrent LSNN population: ``i2 = i1 + W_in·x + W_rec·z_old``.

    The reset and the threshold jump use the detached spike, as in Norse.
    """
    z_new, v_decayed, i_decayed, b_decayed = _lsnn_update(state, p, dt)
    z_detached = z_new.detach()
    v_new = (1 - z_detached) * v_decayed + z_detached * p.v_reset
    i_new = (
        i_decayed
        + torch.nn.functional.linear(input_tensor, input_weights)
        + torch.nn.functional.linear(state.z, recurrent_weights)
    )
    b_new = b_decayed + z_detached * p.beta
    return z_new, LSNNState(z=z_new, v=v_new, i=i_new, b=b_new)


def ada_lif_step(
    input_tensor: torch.Tensor,
    state: LSNNState,
    input_weights: torch.Tensor,
    recurrent_weights: torch.Tensor,
    p: LSNNParameters = LSNNParameters(),
    dt: float = 0.001,
) -> tuple[torch.Tensor, LSNNState]:
    """Adaptive LIF (the variant Norse's LSNN docstrings describe), recurrent, old ordering.

    ``b`` is an adaptation variable decaying to 0 that is subtracted from the drive:

    1. ``v1 = v + dt·tau_mem_inv·(v_leak − v + i − b)``
    2. ``i1 = i − dt·tau_syn_inv·i``
    3. ``b1 = b − dt·tau_adapt_inv·b``
    4. ``z = Θ(v1 − v_th)`` against the fixed threshold
    5. ``v2 = v1 − z·(v_th − v_reset)`` (reset by subtraction)
    6. ``b2 = b1 + beta·z``
    7. ``i2 = i1 + W_in·x + W_rec·z_old``

    Unlike :func:`lsnn_step`, steps 5 and 6 use the spike **with** its surrogate gradient (as
    Norse's ``ada_lif_step`` does), so the reset and the adaptation jump carry gradient. Like
    Norse, it is not
    in ``__all__`` (so not re-exported from :mod:`simctl.neurons`); import it from this module.
    """
    v_decayed = state.v + dt * p.tau_mem_inv * ((p.v_leak - state.v) + state.i - state.b)
    i_decayed = state.i - dt * p.tau_syn_inv * state.i
    b_decayed = state.b - dt * p.tau_adapt_inv * state.b
    z_new = threshold(v_decayed - p.v_th, p.method, p.alpha)
    v_new = v_decayed - z_new * (p.v_th - p.v_reset)
    b_new = b_decayed + z_new * p.beta
    i_new = (
        i_decayed
        + torch.nn.functional.linear(input_tensor, input_weights)
        + torch.nn.functional.linear(state.z, recurrent_weights)
    )
    return z_new, LSNNState(z=z_new, v=v_new, i=i_new, b=b_new)


def lsnn_initial_state(
    shape: tuple[int, ...],
    p: LSNNParameters = LSNNParameters(),
    dtype: torch.dtype = torch.float32,
    device: torch.device | str | None = None,
) -> LSNNFeedForwardState:
    """A fresh feed-forward state of ``shape``: ``v = v_leak``, ``i = 0``, ``b = v_th``.

    Per-neuron ``v_leak`` or ``v_th`` wider than ``shape`` widen every field to the broadcast
    shape (one input driving a heterogeneous population).
    """
    shape = torch.broadcast_shapes(
        tuple(shape), torch.as_tensor(p.v_leak).shape, torch.as_tensor(p.v_th).shape
    )
    return LSNNFeedForwardState(
        v=full_state(p.v_leak, shape, dtype, device),
        i=torch.zeros(shape, dtype=dtype, device=device),
        b=full_state(p.v_th, shape, dtype, device),
    )


_modules = model_modules(
    LSNNParameters(),
    attributes={"adjoint": False},
    feed_forward=lsnn_feed_forward_step,
    recurrent=lsnn_step,
    initial_state=lsnn_initial_state,
    recurrent_state=LSNNState,
)


@_modules
class LSNNCell(SNNCell):
    """One step of a feed-forward LSNN population (see the module docstring).

    The initial state is full-shape: ``v = v_leak``, ``i = 0``, ``b = v_th`` (Norse uses a
    0-dim ``b``; the values are the same).

    Args:
        p: the parameters; plain floats and per-neuron tensors work.
        adjoint: accepted for compatibility; simctl has no hand-written adjoint backward,
            autograd differentiates the same step.
        dt: the integration step.
    """


@_modules
class LSNN(SNN):
    """A feed-forward LSNN population looped over time (dim 0).

    Args:
        p: the parameters.
        adjoint: accepted for compatibility (see :class:`LSNNCell`).
        dt: the integration step.
        record_states: return every step's state (stacked along dim 0) instead of the last.

    Examples:
        >>> import torch
        >>> z, state = LSNN()(torch.zeros(2, 5, 2))
        >>> z.shape, type(state).__name__
        (torch.Size([2, 5, 2]), 'LSNNFeedForwardState')
    """


@_modules
class LSNNRecurrentCell(SNNRecurrentCell):
    """One step of a recurrent LSNN population.

    Args:
        input_size: number of inputs.
        hidden_size: number of neurons.
        p: the parameters.
        adjoint: accepted for compatibility (see :class:`LSNNCell`).
        input_weights, recurrent_weights, autapses, dt: see :class:`SNNRecurrentCell`.

    Examples:
        >>> import torch
        >>> z, state = LSNNRecurrentCell(2, 4)(torch.ones(5, 2))
        >>> z.shape, state.b.shape
        (torch.Size([5, 4]), torch.Size([5, 4]))
    """


@_modules
class LSNNRecurrent(SNNRecurrent):
    """A recurrent LSNN population looped over time (dim 0).

    Examples:
        >>> import torch
        >>> z, state = LSNNRecurrent(2, 10)(torch.ones(20, 8, 2))
        >>> z.shape, state.v.shape
        (torch.Size([20, 8, 10]), torch.Size([8, 10]))
    """


MODEL = NeuronModel(
    name="lsnn",
    parameters=LSNNParameters,
    feed_forward_state=LSNNFeedForwardState,
    feed_forward_step=lsnn_feed_forward_step,
    initial_state=lsnn_initial_state,
    variables=("v", "i", "b"),
    current_step=lsnn_current_step,
)

#: units, bounds and inputs in simctl's config units (read without torch: simctl.models)
DESCRIPTION = {
    "name": "lsnn",
    "summary": "LIF with an adaptive threshold b (Bellec et al. 2018)",
    "equations": "dv/dt = tau_mem_inv (v_leak - v + i + I); db/dt = tau_adapt_inv (v_th - b); "
    "v > b: spike, v <- v_reset, b <- b + beta",
    "voltage": "v",
    "include": {"": "lif"},
    "parameters": {
        "tau_adapt_inv": {
            "unit": "1/ms",
            "bounds": "(0, inf)",
            "doc": "inverse threshold-adaptation time constant",
        },
        "beta": {"unit": "mV", "bounds": "(-inf, inf)", "doc": "threshold increase per spike"},
    },
    "state": {"v": "mV", "i": "mV", "b": "mV"},
    "current": {
        "unit": "mV",
        "enters": "v",
        "doc": "R*I, the current times the membrane resistance",
    },
    "jumps": {"v": "mV", "i": "mV"},
    "default_jump": "i",
    "refractory": None,
    "cli_input": {"amplitude": 17.0, "noise_mean": 15.0, "noise_std": 15.0, "jump": 3.0},
}
