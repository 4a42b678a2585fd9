r"""Logical gates on spike (bit) vectors, differentiable where it makes sense.

For ``x, y ∈ {0, 1}``:

=====================================  ==============================================
function                               value
=====================================  ==============================================
``logical_and(x, y)``                  ``x·y``
``logical_or(x, y)``                   ``Θ(x + y)`` (SuperSpike surrogate, α = 100)
``logical_xor(x, y)``                  ``|x − y|``
``muller_c(y_prev, x_1, x_2)``         ``Θ(x_1·x_2 + (x_1 + x_2)·y_prev)``
``posedge_detector(z, z_prev)``        ``(1 − z_prev)·z``
=====================================  ==============================================

``Θ(x) = [x > 0]`` with the SuperSpike backward ``1/(100|x| + 1)^2``
(:func:`simctl.neurons.threshold.super_fn`). The Muller C-element copies its inputs when they
agree and otherwise holds ``y_prev``; the positive-edge detector marks 0 → 1 transitions.
``muller_c`` and ``posedge_detector`` are importable from this module but, as in Norse, not
re-exported by :mod:`simctl.neurons`.

Examples:
    >>> import torch
    >>> x, y = torch.tensor([1, 0, 0, 1]), torch.tensor([1, 0, 0, 0])
    >>> logical_and(x, y), logical_or(x, y), logical_xor(x, y)
    (tensor([1, 0, 0, 0]), tensor([1, 0, 0, 1]), tensor([0, 0, 0, 1]))
    >>> muller_c(torch.tensor([1.0, 1.0, 0.0]), torch.tensor([1.0, 0.0, 0.0]),
    ...          torch.tensor([1.0, 1.0, 0.0]))
    tensor([1., 1., 0.])
"""

from __future__ import annotations

import torch

from .threshold import super_fn

__all__ = ["logical_and", "logical_or", "logical_xor"]


def logical_and(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """``x AND y`` for bit vectors: ``x·y``."""
    return x * y


def logical_xor(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """``x XOR y`` for bit vectors: ``|x − y|``."""
    return torch.abs(x - y)


def logical_or(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """``x OR y`` for bit vectors: ``Θ(x + y)`` with the SuperSpike surrogate gradient."""
    return super_fn(x + y)


def muller_c(y_prev: torch.Tensor, x_1: torch.Tensor, x_2: torch.Tensor) -> torch.Tensor:
    """Next output of a Muller C-element: ``Θ(x_1·x_2 + (x_1 + x_2)·y_prev)``.

    Both inputs 1 give 1, both 0 give 0, otherwise the previous output ``y_prev`` is held.
    """
    return super_fn(x_1 * x_2 + (x_1 + x_2) * y_prev)


def posedge_detector(z: torch.Tensor, z_prev: torch.Tensor) -> torch.Tensor:
    """1 where a bit went from 0 (``z_prev``) to 1 (``z``): ``(1 − z_prev)·z``."""
    return (1 - z_prev) * z
