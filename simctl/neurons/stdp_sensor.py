r"""An event-driven STDP sensor: exponentially decaying pre- and postsynaptic traces.

.. math::
    \dot a_{pre} = -\tau_c^{-1} a_{pre} + \eta_p \sum_k \delta(t - t^{pre}_k), \qquad
    \dot a_{post} = -\tau_c^{-1} a_{post} + \eta_m \sum_k \delta(t - t^{post}_k)

One forward-Euler step (decay first, then this step's spikes):

1. ``a_pre' = a_pre − dt·tau_c_inv·a_pre + eta_p·z_pre``
2. ``a_post' = a_post − dt·tau_c_inv·a_post + eta_m·z_post``

A pair-based STDP rule reads ``a_pre`` at postsynaptic spikes (potentiation) and ``a_post``
at presynaptic spikes (depression). The traces broadcast against the spikes, so per-synapse
traces (``(n_post, n_pre)``) and per-neuron traces both work.

As in Norse, **both** traces decay with ``tau_c_inv``; ``tau_ac_inv`` is part of the
parameters (and equal by default) but the step does not use it. The step returns the new
state only (Norse's current signature).

Units: ``tau_c_inv`` in 1/s with the default ``dt = 0.001`` s (default ``1/100 ms = 10``);
``eta_p``/``eta_m`` are dimensionless increments.

Examples:
    >>> import torch
    >>> s = STDPSensorState(a_pre=torch.zeros(1), a_post=torch.zeros(1))
    >>> s = stdp_sensor_step(torch.ones(1), torch.zeros(1), s)
    >>> s = stdp_sensor_step(torch.zeros(1), torch.ones(1), s)
    >>> s.a_pre.item(), s.a_post.item()  # a_pre decayed once by 1 − 0.001·10
    (0.9900000095367432, 1.0)
"""

from __future__ import annotations

from typing import Any, NamedTuple

import torch

__all__ = ["STDPSensorParameters", "STDPSensorState", "stdp_sensor_step"]


class STDPSensorParameters(NamedTuple):
    """Parameters of the STDP sensor.

    Attributes:
        eta_p: increment of ``a_pre`` per presynaptic spike.
        eta_m: increment of ``a_post`` per postsynaptic spike.
        tau_ac_inv: inverse anti-correlation time constant (1/s; default 10; unused, as in
            Norse).
        tau_c_inv: inverse correlation time constant of both traces (1/s; default 10).
    """

    eta_p: Any = 1.0
    eta_m: Any = 1.0
    tau_ac_inv: Any = 1.0 / 100e-3
    tau_c_inv: Any = 1.0 / 100e-3


class STDPSensorState(NamedTuple):
    """The presynaptic trace ``a_pre`` and the postsynaptic trace ``a_post``."""

    a_pre: torch.Tensor
    a_post: torch.Tensor


def stdp_sensor_step(
    z_pre: torch.Tensor,
    z_post: torch.Tensor,
    state: STDPSensorState,
    p: STDPSensorParameters = STDPSensorParameters(),
    dt: float = 0.001,
) -> STDPSensorState:
    """One Euler step of the STDP sensor (see the module docstring).

    Args:
        z_pre: presynaptic spikes (broadcast against ``state.a_pre``).
        z_post: postsynaptic spikes (broadcast against ``state.a_post``).
        state: the traces.
        p: the parameters.
        dt: the integration step.

    Returns:
        The new :class:`STDPSensorState` (fresh tensors).
    """
    a_pre = state.a_pre + dt * (p.tau_c_inv * (-state.a_pre)) + z_pre * p.eta_p
    a_post = state.a_post + dt * (p.tau_c_inv * (-state.a_post)) + z_post * p.eta_m
    return STDPSensorState(a_pre=a_pre, a_post=a_post)
