r"""Spike-to-time decoding: the first spike times of every output trace.

A spike train ``z`` of shape ``(T, ...)`` (time is dim 0) is turned into the indices of its
first ``K`` spikes along time, in ascending order,

.. math::
    t_k[\ldots] = \text{the } k\text{-th smallest } t \text{ with } z[t, \ldots] \neq 0,
    \qquad k = 0, \ldots, K' - 1, \quad K' = \min(K, T),

and ``+inf`` where a trace has fewer than ``k + 1`` spikes. The result has shape
``(K', ...)``. :class:`SpikesToTimesDecoder` multiplies the indices by ``dt`` to give times
(seconds with the default ``dt = 1e-3``; the unit of ``dt`` in general).

Gradient (Norse's local rule for time-to-first-spike learning): an output ``t_k`` is decreased
by a spike at its own index, so ``∂t_k/∂z[t_k] = −1`` and every other input entry (no spike,
or a spike that was not among the first ``K``) gets 0. With times, the chain rule gives
``−dt``. Unlike Norse, the backward routes each output's gradient to its own spike (Norse
broadcasts ``grad_output`` over time, which is only right for ``K = 1`` or an all-ones
``grad_output``) and it accepts any number of trailing dims, not only ``(T, batch, out)``.

Examples:
    >>> import torch
    >>> z = torch.zeros(5, 1, 3)
    >>> z[1, 0, 0] = z[3, 0, 0] = z[4, 0, 1] = 1.0
    >>> SpikesToTimesDecoder(spike_count=2, convert_indices_to_times=False)(z)
    tensor([[[1., 4., inf]],
    <BLANKLINE>
            [[3., inf, inf]]])
    >>> SpikesToTimesDecoder()(z)  # the first spike, in seconds (dt = 1e-3)
    tensor([[[0.0010, 0.0040,    inf]]])
"""

from __future__ import annotations

from typing import Any

import torch

__all__ = ["ToSpikeTimes", "spikes_to_times", "SpikesToTimesDecoder", "sum_decode"]


def sum_decode(tensor: torch.Tensor, dimension: int = 0) -> torch.Tensor:
    """Sums over ``dimension`` (time, dim 0, by default): spike counts from a spike train.

    Examples:
        >>> sum_decode(torch.tensor([[0.0, 1.0], [1.0, 1.0]])).tolist()
        [1.0, 2.0]
    """
    return tensor.sum(dimension)


def _count(spike_count: Any) -> int:
    count = int(spike_count)  # Norse's HEAD passes a 0-dim tensor; ints work too
    if count < 0:  # 0 is allowed (an empty (0, ...) result), as Norse's tests use it
        raise ValueError(f"spike_count must be a non-negative integer, got {spike_count!r}")
    return count


class ToSpikeTimes(torch.autograd.Function):
    """``ToSpikeTimes.apply(spike_input (T, ...), spike_count) -> indices (min(K, T), ...)``.

    The autograd function behind :class:`SpikesToTimesDecoder` (Norse's name). The indices are
    floats (the input's dtype, or the default dtype for integer/bool inputs) so that missing
    spikes can be ``inf``; see the module docstring for the gradient.
    """

    @staticmethod
    def forward(ctx: Any, spike_input: torch.Tensor, spike_count: Any) -> torch.Tensor:
        if spike_input.dim() < 1:
            raise ValueError("ToSpikeTimes expects input of shape (time, ...), got a 0-dim tensor")
        steps = spike_input.shape[0]
        dtype = (
            spike_input.dtype if torch.is_floating_point(spike_input) else torch.get_default_dtype()
        )
        index = torch.arange(steps, dtype=dtype, device=spike_input.device)
        index = index.reshape(steps, *([1] * (spike_input.dim() - 1)))
        inf = torch.tensor(float("inf"), dtype=dtype, device=spike_input.device)
        candidates = torch.where(spike_input != 0, index, inf)
        indices = torch.sort(candidates, dim=0).values[: min(_count(spike_count), steps)]
        ctx.save_for_backward(indices)
        ctx.input_shape = spike_input.shape
        return indices

    @staticmethod
    def backward(ctx: Any, grad_output: torch.Tensor) -> tuple[torch.Tensor | None, None]:
        (indices,) = ctx.saved_tensors
        found = torch.isfinite(indices)
        position = torch.where(found, indices, torch.zeros_like(indices)).long()
        source = torch.where(found, -grad_output, torch.zeros_like(grad_output))
        grad = torch.zeros(ctx.input_shape, dtype=grad_output.dtype, device=grad_output.device)
        grad.scatter_add_(0, position, source)  # each output's gradient to its own spike
        return grad, None


def spikes_to_times(
    spike_input: torch.Tensor,
    spike_count: int = 1,
    convert_indices_to_times: bool = True,
    dt: float = 1e-3,
) -> torch.Tensor:
    """Functional form of :class:`SpikesToTimesDecoder`.

    Args:
        spike_input: spikes of shape ``(T, ...)`` (nonzero entries are spikes).
        spike_count: how many of the first spikes to return per trace (``K``).
        convert_indices_to_times: multiply the indices by ``dt``.
        dt: the step of the time axis.

    Returns:
        A tensor of shape ``(min(K, T), ...)``, ascending along dim 0, ``inf`` for no spike.

    Examples:
        >>> import torch
        >>> spikes_to_times(torch.tensor([[0.0], [1.0], [1.0]]), 2, dt=0.5)
        tensor([[0.5000],
                [1.0000]])
    """
    indices = ToSpikeTimes.apply(spike_input, spike_count)
    return indices * dt if convert_indices_to_times else indices


class SpikesToTimesDecoder(torch.nn.Module):
    """Decodes spikes ``(T, ...)`` into the times (or indices) of the first ``spike_count`` spikes.

    Args:
        spike_count: spikes returned per trace, in ascending order (an int or a 0-dim tensor).
        convert_indices_to_times: return ``index·dt`` instead of the time index.
        dt: the step of the input's time axis (default 1e-3 s).

    Examples:
        >>> import torch
        >>> decoder = SpikesToTimesDecoder(spike_count=1, dt=1e-3)
        >>> decoder(torch.tensor([[0.0, 0.0], [0.0, 1.0], [1.0, 1.0]]))
        tensor([[0.0020, 0.0010]])
    """

    def __init__(
        self,
        spike_count: Any = 1,
        convert_indices_to_times: bool = True,
        dt: float = 1e-3,
    ):
        super().__init__()
        _count(spike_count)
        self.spike_count = spike_count
        self.convert_to_time = convert_indices_to_times
        self.dt = dt

    def extra_repr(self) -> str:
        return (
            f"spike_count={int(self.spike_count)}, "
            f"convert_indices_to_times={self.convert_to_time}, dt={self.dt}"
        )

    def forward(self, spike_input: torch.Tensor) -> torch.Tensor:
        return spikes_to_times(spike_input, self.spike_count, self.convert_to_time, self.dt)
