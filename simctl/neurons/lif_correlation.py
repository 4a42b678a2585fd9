r"""A recurrent LIF population with correlation sensors on its input and recurrent synapses.

Each step runs :func:`simctl.neurons.lif.lif_step` and feeds its spikes to two
:mod:`correlation sensors <simctl.neurons.correlation_sensor>`:

1. ``z, lif' = lif_step(x, lif, W_in, W_rec, p.lif_parameters, dt)``
   (``i1 = i + W_in·x + W_rec·z_old``, ``v1 = v + dt·tau_mem_inv·(v_leak − v + i1)``, …)
2. input synapses: ``correlation_sensor_step(z_pre = x, z_post = z)``, state ``(..., n_in, n_hid)``
3. recurrent synapses: ``correlation_sensor_step(z_pre = z_old, z_post = z)``, state
   ``(..., n_hid, n_hid)``, where ``z_old`` is the population's spikes of the previous step.

The traces feed learned plasticity rules such as
:func:`simctl.neurons.correlation_sensor.correlation_based_update`. The weights are arguments
of every step (they change during learning), so :class:`LIFCorrelation` owns none.

Units: Norse's defaults (1/s, ``dt = 0.001`` s), see :mod:`simctl.neurons.lif`.

Examples:
    >>> import torch
    >>> layer = LIFCorrelation(input_size=3, hidden_size=2)
    >>> w_in, w_rec = torch.full((2, 3), 40.0), torch.zeros(2, 2)
    >>> z, s = layer(torch.ones(4, 3), w_in, w_rec)  # batch of 4; v = 0.1·120 = 12 > 1
    >>> z.shape, s.input_correlation_state.correlation_trace.shape
    (torch.Size([4, 2]), torch.Size([4, 3, 2]))
    >>> z[0].tolist(), s.input_correlation_state.anti_correlation_trace[0, 0].tolist()
    ([1.0, 1.0], [1.0, 1.0])
"""

from __future__ import annotations

from typing import NamedTuple

import torch

from .base import _fmt_dt, _ParameterMixin, full_state, state_dtype
from .correlation_sensor import (
    CorrelationSensorParameters,
    CorrelationSensorState,
    correlation_sensor_initial_state,
    correlation_sensor_step,
)
from .lif import LIFParameters, LIFState, lif_step

__all__ = [
    "LIFCorrelationParameters",
    "LIFCorrelationState",
    "lif_correlation_step",
    "LIFCorrelation",
]


class LIFCorrelationParameters(NamedTuple):
    """Parameters of :class:`LIFCorrelation`.

    Attributes:
        lif_parameters: the LIF neurons' parameters.
        input_correlation_parameters: the sensors on the input synapses.
        recurrent_correlation_parameters: the sensors on the recurrent synapses.
    """

    lif_parameters: LIFParameters = LIFParameters()
    input_correlation_parameters: CorrelationSensorParameters = CorrelationSensorParameters()
    recurrent_correlation_parameters: CorrelationSensorParameters = CorrelationSensorParameters()


class LIFCorrelationState(NamedTuple):
    """The LIF state and the sensor states of the input and the recurrent synapses."""

    lif_state: LIFState
    input_correlation_state: CorrelationSensorState
    recurrent_correlation_state: CorrelationSensorState


def lif_correlation_step(
    input_tensor: torch.Tensor,
    state: LIFCorrelationState,
    input_weights: torch.Tensor,
    recurrent_weights: torch.Tensor,
    p: LIFCorrelationParameters = LIFCorrelationParameters(),
    dt: float = 0.001,
) -> tuple[torch.Tensor, LIFCorrelationState]:
    """One step: :func:`lif_step`, then both correlation sensors (see the module docstring).

    Args:
        input_tensor: input spikes ``(..., n_in)``.
        state: the previous :class:`LIFCorrelationState`.
        input_weights: ``(n_hid, n_in)``.
        recurrent_weights: ``(n_hid, n_hid)``.
        p: the parameters.
        dt: the integration step.

    Returns:
        ``(z, LIFCorrelationState)`` with ``z`` the population's spikes ``(..., n_hid)``.
    """
    z_new, lif_new = lif_step(
        input_tensor, state.lif_state, input_weights, recurrent_weights, p.lif_parameters, dt
    )
    input_sensor = correlation_sensor_step(
        input_tensor, z_new, state.input_correlation_state, p.input_correlation_parameters, dt
    )
    recurrent_sensor = correlation_sensor_step(
        state.lif_state.z,
        z_new,
        state.recurrent_correlation_state,
        p.recurrent_correlation_parameters,
        dt,
    )
    return z_new, LIFCorrelationState(lif_new, input_sensor, recurrent_sensor)


class LIFCorrelation(_ParameterMixin, torch.nn.Module):
    """One step of a recurrent LIF population with input and recurrent correlation sensors.

    ``forward(input (..., input_size), input_weights, recurrent_weights, state=None)`` returns
    ``(z (..., hidden_size), LIFCorrelationState)``. Without a state it starts from
    :meth:`initial_state`. The numeric fields of ``p`` are buffers, so they move with ``.to()``.

    Args:
        input_size: number of inputs ``n_in``.
        hidden_size: number of neurons ``n_hid``.
        p: the parameters.
        dt: the integration step.
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        p: LIFCorrelationParameters = LIFCorrelationParameters(),
        dt: float = 0.001,
    ):
        super().__init__()
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.p = p
        self.dt = dt

    def extra_repr(self) -> str:
        return (
            f"input_size={self.input_size}, hidden_size={self.hidden_size}, "
            f"p={self._p_repr()}, dt={_fmt_dt(self.dt)}"
        )

    def initial_state(self, input_tensor: torch.Tensor) -> LIFCorrelationState:
        """Fresh state for ``input_tensor (..., input_size)``: ``z = i = 0``, ``v = v_leak``
        (shape ``(..., hidden_size)``) and all-zero sensors."""
        dtype, device = state_dtype(input_tensor), input_tensor.device
        batch = tuple(input_tensor.shape[:-1])
        hidden = (*batch, self.hidden_size)
        lif_state = LIFState(
            z=torch.zeros(hidden, dtype=dtype, device=device),
            v=full_state(self.p.lif_parameters.v_leak, hidden, dtype, device),
            i=torch.zeros(hidden, dtype=dtype, device=device),
        )
        return LIFCorrelationState(
            lif_state=lif_state,
            input_correlation_state=correlation_sensor_initial_state(
                (*batch, self.input_size, self.hidden_size), dtype, device
            ),
            recurrent_correlation_state=correlation_sensor_initial_state(
                (*batch, self.hidden_size, self.hidden_size), dtype, device
            ),
        )

    def forward(
        self,
        input_tensor: torch.Tensor,
        input_weights: torch.Tensor,
        recurrent_weights: torch.Tensor,
        state: LIFCorrelationState | None = None,
    ) -> tuple[torch.Tensor, LIFCorrelationState]:
        if input_tensor.dim() < 1 or input_tensor.shape[-1] != self.input_size:
            raise ValueError(
                f"LIFCorrelation expects input of shape (..., {self.input_size}), "
                f"got {tuple(input_tensor.shape)}"
            )
        if state is None:
            state = self.initial_state(input_tensor)
        return lif_correlation_step(
            input_tensor, state, input_weights, recurrent_weights, self.p, self.dt
        )
