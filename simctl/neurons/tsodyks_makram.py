r"""Tsodyks–Markram short-term synaptic plasticity (facilitation and depression).

.. math::
    \dot u = -\tau_f^{-1} u + U (1 - u^-) \sum_k \delta(t - t_k), \qquad
    \dot x = \tau_d^{-1} (1 - x) - u^+ x^- \sum_k \delta(t - t_k)

``u`` is the utilisation (release probability), ``x`` the fraction of available resources.
A presynaptic spike first raises ``u`` by ``U·(1 − u)``, then releases ``u⁺·x`` of the
resources, and that amount is the synaptic efficacy of the spike (Tsodyks, Pawelzik & Markram
1998; Scholarpedia "Short-term synaptic plasticity").

One forward-Euler step for spikes ``z``:

1. ``u' = u − dt·tau_f_inv·u + U·(1 − u)·z``
2. ``x' = x + dt·tau_d_inv·(1 − x) − u'·x·z``
3. output ``u'·x·z`` (with the **old** ``x``)

``tau_s_inv`` (the synaptic current's decay) is not used by the step: the caller integrates
the current, e.g. ``i' = i − dt·tau_s_inv·i + output``. Units: inverse time constants in 1/s
with the default ``dt = 0.001`` s (``tau_f = 50 ms``, ``tau_s = 20 ms``, ``tau_d = 750 ms``);
``U``, ``u`` and ``x`` are dimensionless.

Examples:
    >>> import torch
    >>> s = TsodyksMakramState(u=torch.zeros(1), x=torch.ones(1))
    >>> out, s = stp_step(torch.ones(1), s)
    >>> out.item(), s.u.item(), s.x.item()  # u' = 0.45, x' = 1 − 0.45
    (0.44999998807907104, 0.44999998807907104, 0.550000011920929)
"""

from __future__ import annotations

from typing import Any, NamedTuple

import torch

__all__ = ["TsodyksMakramParameters", "TsodyksMakramState", "stp_step"]


class TsodyksMakramParameters(NamedTuple):
    """Parameters of the Tsodyks–Markram model.

    Attributes:
        tau_f_inv: inverse facilitation time constant (1/s; default 1/50 ms = 20).
        tau_s_inv: inverse synaptic-current time constant (1/s; default 1/20 ms = 50), for the
            caller's current (unused by :func:`stp_step`).
        tau_d_inv: inverse depression (recovery) time constant (1/s; default 1/750 ms).
        U: utilisation increment per spike.
    """

    tau_f_inv: Any = 1 / 50.0e-3
    tau_s_inv: Any = 1 / 20.0e-3
    tau_d_inv: Any = 1 / 750.0e-3
    U: Any = 0.45


class TsodyksMakramState(NamedTuple):
    """Utilisation ``u`` and available resources ``x`` (the current is tracked by the caller)."""

    u: torch.Tensor
    x: torch.Tensor


def stp_step(
    z: torch.Tensor,
    s: TsodyksMakramState,
    p: TsodyksMakramParameters = TsodyksMakramParameters(),
    dt: float = 0.001,
) -> tuple[torch.Tensor, TsodyksMakramState]:
    """One Euler step of the Tsodyks–Markram model (see the module docstring).

    Args:
        z: presynaptic spikes.
        s: the state (tensors or floats, broadcast against ``z``).
        p: the parameters.
        dt: the integration step.

    Returns:
        ``(u'·x·z, TsodyksMakramState(u', x'))``: the efficacy of this step's spikes and the
        new state.
    """
    u_new = s.u + dt * (-p.tau_f_inv * s.u) + p.U * (1 - s.u) * z
    x_new = s.x + dt * (p.tau_d_inv * (1 - s.x)) - u_new * s.x * z
    return u_new * s.x * z, TsodyksMakramState(u=u_new, x=x_new)
