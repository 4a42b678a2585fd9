r"""An idealised correlation sensor (as on the BrainScaleS-2 chips) for plasticity rules.

Every synapse ``(i, j)`` from presynaptic neuron ``i`` to postsynaptic neuron ``j`` carries
three variables, stored with shape ``(..., n_pre, n_post)``:

* ``post_pre`` ∈ {0, 1}: 1 while the last event at the synapse was a postsynaptic spike;
* ``correlation_trace`` ``c`` (pre before post, causal): grows by ``eta_p`` on presynaptic
  spikes and decays only while ``post_pre = 0``;
* ``anti_correlation_trace`` ``a`` (post before pre): grows by ``eta_m`` on postsynaptic
  spikes and decays only while ``post_pre = 1``.

.. math::
    \dot c = -\tau_c^{-1} c \;(\text{while } post\_pre = 0), \qquad
    \dot a = -\tau_{ac}^{-1} a \;(\text{while } post\_pre = 1)

One forward-Euler step, with the masks ``pre[i, j] = z_pre[i]`` and ``post[i, j] = z_post[j]``:

1. ``c1 = c − (1 − post_pre)·dt·tau_c_inv·c``
2. ``a1 = a − post_pre·dt·tau_ac_inv·a``
3. ``post_pre' = Θ(post_pre + post − pre)`` (strict ``> 0``: a presynaptic spike clears it,
   a postsynaptic spike sets it, both together keep it)
4. ``c' = c1 + eta_p·pre``, ``a' = a1 + eta_m·post``

Units: ``tau_c_inv``/``tau_ac_inv`` in 1/s with the default ``dt = 0.001`` s (defaults
``1/100 ms = 10``); ``eta_p``/``eta_m`` are dimensionless increments.

:func:`correlation_based_update` turns the traces into a weight change through a learned
linear map and restarts the traces.

Examples:
    >>> import torch
    >>> s = CorrelationSensorState(*(torch.zeros(1, 2, 1) for _ in range(3)))
    >>> s = correlation_sensor_step(torch.tensor([[1.0, 0.0]]), torch.tensor([[0.0]]), s)
    >>> s.correlation_trace.flatten().tolist(), s.post_pre.flatten().tolist()
    ([1.0, 0.0], [0.0, 0.0])
    >>> s = correlation_sensor_step(torch.tensor([[0.0, 0.0]]), torch.tensor([[1.0]]), s)
    >>> s.correlation_trace.flatten().tolist()  # decayed by 1 − dt·tau_c_inv = 0.99
    [0.9900000095367432, 0.0]
    >>> s.anti_correlation_trace.flatten().tolist(), s.post_pre.flatten().tolist()
    ([1.0, 1.0], [1.0, 1.0])
"""

from __future__ import annotations

from typing import Any, NamedTuple

import torch

from .threshold import heaviside

__all__ = [
    "CorrelationSensorParameters",
    "CorrelationSensorState",
    "correlation_sensor_step",
    "correlation_sensor_initial_state",
    "correlation_based_update",
    "pre_mask",
    "post_mask",
    "post_pre_update",
]


def pre_mask(weights: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """The presynaptic spikes on the synapse array ``(..., n_pre, n_post)``:
    ``mask[..., i, j] = z[..., i]`` (Norse's helper; its batch dimension is aligned here)."""
    return torch.zeros_like(weights) + z.unsqueeze(-1)


def post_mask(weights: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """The postsynaptic spikes on the synapse array: ``mask[..., i, j] = z[..., j]``."""
    return torch.zeros_like(weights) + z.unsqueeze(-2)


def post_pre_update(
    post_pre: torch.Tensor, post_spike_mask: torch.Tensor, pre_spike_mask: torch.Tensor
) -> torch.Tensor:
    """Step 3: ``Θ(post_pre + post − pre)``, which synapses saw a postsynaptic spike last."""
    return heaviside(post_pre + post_spike_mask - pre_spike_mask)


class CorrelationSensorParameters(NamedTuple):
    """Parameters of the correlation sensor.

    Attributes:
        eta_p: increment of the correlation trace per presynaptic spike.
        eta_m: increment of the anti-correlation trace per postsynaptic spike.
        tau_ac_inv: inverse time constant of the anti-correlation trace (1/s; default 10).
        tau_c_inv: inverse time constant of the correlation trace (1/s; default 10).
    """

    eta_p: Any = 1.0
    eta_m: Any = 1.0
    tau_ac_inv: Any = 1.0 / 100e-3
    tau_c_inv: Any = 1.0 / 100e-3


class CorrelationSensorState(NamedTuple):
    """Per-synapse sensor state, each field of shape ``(..., n_pre, n_post)``."""

    post_pre: torch.Tensor
    correlation_trace: torch.Tensor
    anti_correlation_trace: torch.Tensor


def correlation_sensor_initial_state(
    shape: tuple[int, ...],
    dtype: torch.dtype = torch.float32,
    device: torch.device | str | None = None,
) -> CorrelationSensorState:
    """A fresh all-zero state of ``shape`` (``(..., n_pre, n_post)``), three separate tensors."""
    return CorrelationSensorState(
        *(torch.zeros(shape, dtype=dtype, device=device) for _ in range(3))
    )


def correlation_sensor_step(
    z_pre: torch.Tensor,
    z_post: torch.Tensor,
    state: CorrelationSensorState,
    p: CorrelationSensorParameters = CorrelationSensorParameters(),
    dt: float = 0.001,
) -> CorrelationSensorState:
    """One Euler step of the correlation sensor (see the module docstring).

    Args:
        z_pre: presynaptic spikes ``(..., n_pre)``.
        z_post: postsynaptic spikes ``(..., n_post)``.
        state: the sensor state, fields ``(..., n_pre, n_post)``.
        p: the parameters.
        dt: the integration step.

    Returns:
        The new :class:`CorrelationSensorState` (fresh tensors; the arguments are untouched).
    """
    post_pre = state.post_pre
    correlation_decayed = state.correlation_trace + (1 - post_pre) * (
        dt * p.tau_c_inv * (-state.correlation_trace)
    )
    anti_correlation_decayed = state.anti_correlation_trace + post_pre * (
        dt * p.tau_ac_inv * (-state.anti_correlation_trace)
    )
    # synapse (i, j) sees the spike of presynaptic neuron i and of postsynaptic neuron j
    pre = pre_mask(post_pre, z_pre)
    post = post_mask(post_pre, z_post)
    return CorrelationSensorState(
        post_pre=post_pre_update(post_pre, post, pre),
        correlation_trace=correlation_decayed + p.eta_p * pre,
        anti_correlation_trace=anti_correlation_decayed + p.eta_m * post,
    )


def correlation_based_update(
    ts: int,
    linear_update: torch.nn.Module,
    weights: torch.Tensor,
    correlation_state: CorrelationSensorState,
    learning_rate: float,
    ts_frequency: int,
) -> torch.Tensor:
    """Every ``ts_frequency`` steps, a learned weight change from the correlation traces.

    When ``ts % ts_frequency == 0``, with traces of shape ``(..., n_pre, n_post)``:

    ``dw = linear_update(concat(c.flatten(), a.flatten())).detach()`` and
    ``weights' = weights + learning_rate·reshape(dw, (n_post, n_pre))``,

    so ``linear_update`` maps ``2·c.numel()`` features to ``n_post·n_pre``. The result is
    reshaped (not transposed), as in Norse. Both traces of ``correlation_state`` are then reset
    to 0 **in place**: this is the one function of the library that changes an argument,
    because the reset must reach the caller's state while the return value is the weights
    alone (Norse's signature). ``post_pre`` is kept. On other steps ``weights`` is returned
    as it is.

    Examples:
        >>> import torch
        >>> s = CorrelationSensorState(torch.zeros(1, 2, 1), torch.ones(1, 2, 1),
        ...                            torch.ones(1, 2, 1))
        >>> update = torch.nn.Linear(4, 2, bias=False)
        >>> _ = torch.nn.init.constant_(update.weight, 0.5)
        >>> correlation_based_update(0, update, torch.zeros(1, 2), s, 0.1, 10)
        tensor([[0.2000, 0.2000]])
        >>> s.correlation_trace.flatten().tolist()
        [0.0, 0.0]
    """
    if ts % ts_frequency != 0:
        return weights
    n_pre, n_post = correlation_state.correlation_trace.shape[-2:]
    features = torch.cat(
        (
            correlation_state.correlation_trace.flatten(),
            correlation_state.anti_correlation_trace.flatten(),
        )
    )
    dw = linear_update(features).detach()
    weights = weights + learning_rate * torch.reshape(dw, (n_post, n_pre))
    for trace in (correlation_state.correlation_trace, correlation_state.anti_correlation_trace):
        if trace.is_leaf and trace.requires_grad:
            with torch.no_grad():
                trace.zero_()
        else:  # recorded by autograd, so no gradient flows to the history before the reset
            trace.zero_()
    return weights
