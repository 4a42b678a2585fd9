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

import inspect
from collections.abc import Callable
from typing import Any

from .coba_lif import coba_lif_step
from .lif import (
    lif_feed_forward_step,
    lif_feed_forward_step_sparse,
    lif_step,
    lif_step_sparse,
)
from .lif_mc import lif_mc_step
from .lif_mc_refrac import lif_mc_refrac_step
from .lif_refrac import lif_refrac_feed_forward_step, lif_refrac_step, lif_refrac_step_sparse
from .lsnn import lsnn_feed_forward_step, lsnn_step

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


def _adjoint(step: Callable[..., Any], name: str, note: str = "") -> Callable[..., Any]:
    """``step`` under Norse's adjoint ``name``: the same signature (``inspect.signature``
    shows the step's), the same forward values, autograd's gradients, ``p`` read through
    :func:`_surrogate`."""
    signature = inspect.signature(step)
    p_index = list(signature.parameters).index("p")
    p_default = signature.parameters["p"].default

    def adjoint_step(*args: Any, **kwargs: Any) -> Any:
        if len(args) > p_index:
            args = (*args[:p_index], _surrogate(args[p_index]), *args[p_index + 1 :])
        else:
            kwargs["p"] = _surrogate(kwargs.get("p", p_default))
        return step(*args, **kwargs)

    adjoint_step.__name__ = adjoint_step.__qualname__ = name
    adjoint_step.__module__ = __name__
    adjoint_step.__signature__ = signature  # type: ignore[attr-defined]
    adjoint_step.__doc__ = (
        f":func:`~{step.__module__}.{step.__name__}` under Norse's adjoint name{note} "
        "(autograd gradients)."
    )
    return adjoint_step


lif_adjoint_step = _adjoint(lif_step, "lif_adjoint_step")
lif_adjoint_step_sparse = _adjoint(lif_step_sparse, "lif_adjoint_step_sparse")
lif_feed_forward_adjoint_step = _adjoint(lif_feed_forward_step, "lif_feed_forward_adjoint_step")
lif_feed_forward_adjoint_step_sparse = _adjoint(
    lif_feed_forward_step_sparse, "lif_feed_forward_adjoint_step_sparse"
)
lif_refrac_adjoint_step = _adjoint(lif_refrac_step, "lif_refrac_adjoint_step")
lif_refrac_adjoint_step_sparse = _adjoint(lif_refrac_step_sparse, "lif_refrac_adjoint_step_sparse")
lif_refrac_feed_forward_adjoint_step = _adjoint(
    lif_refrac_feed_forward_step, "lif_refrac_feed_forward_adjoint_step"
)
lsnn_adjoint_step = _adjoint(lsnn_step, "lsnn_adjoint_step")
lsnn_feed_forward_adjoint_step = _adjoint(lsnn_feed_forward_step, "lsnn_feed_forward_adjoint_step")
coba_lif_adjoint_step = _adjoint(coba_lif_step, "coba_lif_adjoint_step")
lif_mc_adjoint_step = _adjoint(lif_mc_step, "lif_mc_adjoint_step")
lif_mc_refrac_adjoint = _adjoint(
    lif_mc_refrac_step, "lif_mc_refrac_adjoint", " (Norse's name has no ``_step``)"
)
