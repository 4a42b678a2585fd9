"""Helpers shared by the neuron tests (a plain module: a ``conftest.py`` here would shadow
``tests/conftest.py``, which the top-level tests import as ``conftest``)."""

from __future__ import annotations

from typing import Any

import torch


def run_cell(cell: Any, x: torch.Tensor, state: Any = None) -> tuple[torch.Tensor, Any]:
    """Feeds ``x`` to ``cell`` one step (dim 0) at a time: ``(stacked outputs, final state)``."""
    outputs = []
    for x_t in x:
        out, state = cell(x_t, state)
        outputs.append(out)
    return torch.stack(outputs), state


def recurrent_pair(
    layer_cls: type, cell_cls: type, input_size: int, hidden_size: int, *args: Any
) -> tuple[Any, Any]:
    """A recurrent layer and a recurrent cell holding copies of the layer's weights."""
    layer = layer_cls(input_size, hidden_size, *args)
    cell = cell_cls(
        input_size,
        hidden_size,
        *args,
        input_weights=layer.input_weights.detach().clone(),
        recurrent_weights=layer.recurrent_weights.detach().clone(),
    )
    return layer, cell
