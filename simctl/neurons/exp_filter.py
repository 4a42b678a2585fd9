r"""Exponential smoothing of a time series (Norse's ``ExpFilter``): a linear read-out
followed by a leaky sum.

.. math::
    y_t = W x_t + b, \qquad s_0 = y_0, \qquad s_t = \alpha\, s_{t-1} + y_t,
    \qquad \alpha = e^{-\Delta t\, \tau_{filter}^{-1}}

Time is dim 0. The defaults (``tau_filter_inv = 1000`` per second, ``dt = 0.001`` s) give
:math:`\alpha = e^{-1}`.

Examples:
    >>> import torch
    >>> layer = ExpFilter(1, 1, tau_filter_inv=0.0, input_weights=torch.ones(1, 1), bias=False)
    >>> layer(torch.ones(3, 1)).flatten().tolist()  # alpha = 1: a running sum
    [1.0, 2.0, 3.0]
"""

from __future__ import annotations

import math

import torch

__all__ = ["exp_filter_step", "ExpFilter"]


def exp_filter_step(
    old_value: torch.Tensor, new_value: torch.Tensor, parameter: float
) -> torch.Tensor:
    """One step ``parameter · old_value + new_value``; the parameter is a float (an integer
    ``1`` still gives a floating result, as the annotation promises).

    Examples:
        >>> exp_filter_step(torch.tensor([1]), torch.tensor([0]), 1)
        tensor([1.])
    """
    if isinstance(parameter, (int, float)):
        parameter = float(parameter)
    return parameter * old_value + new_value


class ExpFilter(torch.nn.Module):
    """A linear layer whose outputs are exponentially smoothed over time (dim 0).

    Args:
        input_size, output_size: sizes of the linear layer.
        tau_filter_inv: inverse filter time constant (1/s with the default ``dt``).
        dt: the time step.
        input_weights: initial weights ``(output_size, input_size)``, copied into the layer.
        bias: whether the linear layer has a bias.
    """

    def __init__(
        self,
        input_size: int,
        output_size: int,
        tau_filter_inv: float = 1e3,
        dt: float = 1e-3,
        input_weights: torch.Tensor | None = None,
        bias: bool = True,
    ) -> None:
        super().__init__()
        self.input_size = torch.as_tensor(input_size)
        self.output_size = torch.as_tensor(output_size)
        self.parameter = math.exp(-dt * tau_filter_inv)
        self.linear = torch.nn.Linear(input_size, output_size, bias=bias)
        if input_weights is not None:
            with torch.no_grad():
                self.linear.weight.copy_(input_weights)

    def extra_repr(self) -> str:
        return (
            f"input_size={self.input_size}, output_size={self.output_size}, "
            f"parameter={self.parameter}"
        )

    def forward(self, input_tensor: torch.Tensor) -> torch.Tensor:
        drive = self.linear(input_tensor)
        outputs = [drive[0]]
        for t in range(1, drive.shape[0]):
            outputs.append(exp_filter_step(outputs[-1], drive[t], self.parameter))
        return torch.stack(outputs)
