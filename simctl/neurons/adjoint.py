"""Norse's adjoint step names (``norse.torch.functional.adjoint``), as plain autograd steps.

Norse 1.1.0 pairs each of these with a ``torch.autograd.Function`` whose backward pass is the
hand-written adjoint (EventProp-like) recursion of Wunderlich & Pehle, "Event-based
backpropagation can compute exact gradients for spiking neural networks", Sci. Rep. 11, 12829
(2021). **simctl does not implement that recursion.** Each function here returns the same
forward values as the ordinary step it names (``lif_adjoint_step`` is :func:`lif_step`, ...),
and its gradient is what autograd computes through that step: the surrogate gradient of
``p.method``. A ``p.method`` of ``"adjoint"`` (how Norse's modules select these functions) is
read as simctl's default surrogate ``"super"``, so Norse code that calls them runs; it gets
surrogate gradients, not adjoint ones. The ``*AdjointFunction`` classes are not provided (see
docs/norse-parity.md).

Examples:
    >>> import torch
    >>> from simctl.neurons import LIFFeedForwardState, lif_feed_forward_step
    >>> s = LIFFeedForwardState(v=torch.zeros(2), i=torch.zeros(2))
    >>> x = torch.tensor([0.5, 3.0])
    >>> a = lif_feed_forward_adjoint_step(x, s)
    >>> b = lif_feed_forward_step(x, s)
    >>> all(torch.equal(u, w) for u, w in zip(a[1], b[1]))
    True
"""

from __future__ import annotations

from typing import Any

import torch

from .coba_lif import CobaLIFParameters, CobaLIFState, coba_lif_step
from .lif import (
    LIFFeedForwardState,
    LIFParameters,
    LIFState,
    lif_feed_forward_step,
    lif_feed_forward_step_sparse,
    lif_step,
    lif_step_sparse,
)
from .lif_mc import lif_mc_step
from .lif_mc_refrac import lif_mc_refrac_step
from .lif_refrac import (
    LIFRefracFeedForwardState,
    LIFRefracParameters,
    LIFRefracState,
    lif_refrac_feed_forward_step,
    lif_refrac_step,
    lif_refrac_step_sparse,
)
from .lsnn import (
    LSNNFeedForwardState,
    LSNNParameters,
    LSNNState,
    lsnn_feed_forward_step,
    lsnn_step,
)

__all__ = [
    "lif_adjoint_step",
    "lif_adjoint_step_sparse",
    "lif_feed_forward_adjoint_step",
    "lif_feed_forward_adjoint_step_sparse",
    "lif_refrac_adjoint_step",
    "lif_refrac_adjoint_step_sparse",
    "lif_refrac_feed_forward_adjoint_step",
    "lsnn_adjoint_step",
    "lsnn_feed_forward_adjoint_step",
    "coba_lif_adjoint_step",
    "lif_mc_adjoint_step",
    "lif_mc_refrac_adjoint",
]


def _surrogate(p: Any) -> Any:
    """``p`` with ``method="adjoint"`` read as ``"super"`` (also in a nested ``p.lif``)."""
    if hasattr(p, "lif"):
        p = p._replace(lif=_surrogate(p.lif))
    if getattr(p, "method", None) == "adjoint":
        p = p._replace(method="super")
    return p


def lif_adjoint_step(
    input: torch.Tensor,
    s: LIFState,
    input_weights: torch.Tensor,
    recurrent_weights: torch.Tensor,
    p: LIFParameters = LIFParameters(),
    dt: float = 0.001,
) -> tuple[torch.Tensor, LIFState]:
    """:func:`~simctl.neurons.lif.lif_step` under Norse's adjoint name (autograd gradients)."""
    return lif_step(input, s, input_weights, recurrent_weights, _surrogate(p), dt)


def lif_adjoint_step_sparse(
    input: torch.Tensor,
    s: LIFState,
    input_weights: torch.Tensor,
    recurrent_weights: torch.Tensor,
    p: LIFParameters = LIFParameters(),
    dt: float = 0.001,
) -> tuple[torch.Tensor, LIFState]:
    """:func:`~simctl.neurons.lif.lif_step_sparse` under Norse's adjoint name."""
    return lif_step_sparse(input, s, input_weights, recurrent_weights, _surrogate(p), dt)


def lif_feed_forward_adjoint_step(
    input: torch.Tensor,
    s: LIFFeedForwardState,
    p: LIFParameters = LIFParameters(),
    dt: float = 0.001,
) -> tuple[torch.Tensor, LIFFeedForwardState]:
    """:func:`~simctl.neurons.lif.lif_feed_forward_step` under Norse's adjoint name."""
    return lif_feed_forward_step(input, s, _surrogate(p), dt)


def lif_feed_forward_adjoint_step_sparse(
    input: torch.Tensor,
    s: LIFFeedForwardState,
    p: LIFParameters = LIFParameters(),
    dt: float = 0.001,
) -> tuple[torch.Tensor, LIFFeedForwardState]:
    """:func:`~simctl.neurons.lif.lif_feed_forward_step_sparse` under Norse's adjoint name."""
    return lif_feed_forward_step_sparse(input, s, _surrogate(p), dt)


def lif_refrac_adjoint_step(
    input: torch.Tensor,
    s: LIFRefracState,
    input_weights: torch.Tensor,
    recurrent_weights: torch.Tensor,
    p: LIFRefracParameters = LIFRefracParameters(),
    dt: float = 0.001,
) -> tuple[torch.Tensor, LIFRefracState]:
    """:func:`~simctl.neurons.lif_refrac.lif_refrac_step` under Norse's adjoint name."""
    return lif_refrac_step(input, s, input_weights, recurrent_weights, _surrogate(p), dt)


def lif_refrac_adjoint_step_sparse(
    input: torch.Tensor,
    s: LIFRefracState,
    input_weights: torch.Tensor,
    recurrent_weights: torch.Tensor,
    p: LIFRefracParameters = LIFRefracParameters(),
    dt: float = 0.001,
) -> tuple[torch.Tensor, LIFRefracState]:
    """:func:`~simctl.neurons.lif_refrac.lif_refrac_step_sparse` under Norse's adjoint name."""
    return lif_refrac_step_sparse(input, s, input_weights, recurrent_weights, _surrogate(p), dt)


def lif_refrac_feed_forward_adjoint_step(
    input: torch.Tensor,
    s: LIFRefracFeedForwardState,
    p: LIFRefracParameters = LIFRefracParameters(),
    dt: float = 0.001,
) -> tuple[torch.Tensor, LIFRefracFeedForwardState]:
    """:func:`~simctl.neurons.lif_refrac.lif_refrac_feed_forward_step` under Norse's adjoint
    name."""
    return lif_refrac_feed_forward_step(input, s, _surrogate(p), dt)


def lsnn_adjoint_step(
    input: torch.Tensor,
    s: LSNNState,
    input_weights: torch.Tensor,
    recurrent_weights: torch.Tensor,
    p: LSNNParameters = LSNNParameters(),
    dt: float = 0.001,
) -> tuple[torch.Tensor, LSNNState]:
    """:func:`~simctl.neurons.lsnn.lsnn_step` under Norse's adjoint name."""
    return lsnn_step(input, s, input_weights, recurrent_weights, _surrogate(p), dt)


def lsnn_feed_forward_adjoint_step(
    input: torch.Tensor,
    s: LSNNFeedForwardState,
    p: LSNNParameters = LSNNParameters(),
    dt: float = 0.001,
) -> tuple[torch.Tensor, LSNNFeedForwardState]:
    """:func:`~simctl.neurons.lsnn.lsnn_feed_forward_step` under Norse's adjoint name."""
    return lsnn_feed_forward_step(input, s, _surrogate(p), dt)


def coba_lif_adjoint_step(
    input: torch.Tensor,
    s: CobaLIFState,
    input_weights: torch.Tensor,
    recurrent_weights: torch.Tensor,
    p: CobaLIFParameters = CobaLIFParameters(),
    dt: float = 0.001,
) -> tuple[torch.Tensor, CobaLIFState]:
    """:func:`~simctl.neurons.coba_lif.coba_lif_step` under Norse's adjoint name."""
    return coba_lif_step(input, s, input_weights, recurrent_weights, _surrogate(p), dt)


def lif_mc_adjoint_step(
    input: torch.Tensor,
    s: LIFState,
    input_weights: torch.Tensor,
    recurrent_weights: torch.Tensor,
    g_coupling: torch.Tensor,
    p: LIFParameters = LIFParameters(),
    dt: float = 0.001,
) -> tuple[torch.Tensor, LIFState]:
    """:func:`~simctl.neurons.lif_mc.lif_mc_step` under Norse's adjoint name."""
    return lif_mc_step(input, s, input_weights, recurrent_weights, g_coupling, _surrogate(p), dt)


def lif_mc_refrac_adjoint(
    input: torch.Tensor,
    s: LIFRefracState,
    input_weights: torch.Tensor,
    recurrent_weights: torch.Tensor,
    g_coupling: torch.Tensor,
    p: LIFRefracParameters = LIFRefracParameters(),
    dt: float = 0.001,
) -> tuple[torch.Tensor, LIFRefracState]:
    """:func:`~simctl.neurons.lif_mc_refrac.lif_mc_refrac_step` under Norse's adjoint name
    (Norse's name has no ``_step``)."""
    return lif_mc_refrac_step(
        input, s, input_weights, recurrent_weights, g_coupling, _surrogate(p), dt
    )
