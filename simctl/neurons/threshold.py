r"""Spike thresholds with surrogate gradients.

Every method has the Heaviside forward :math:`z = \Theta(x) = [x > 0]` (so 0 maps to 0) and
differs only in the backward pass, :math:`\partial L/\partial x = \partial L/\partial z \cdot g(x)`:

=================  ===========================================  =============================
method             surrogate derivative :math:`g(x)`            reference
=================  ===========================================  =============================
``"heaviside"``    none (no gradient flows)
``"super"``        :math:`1/(\alpha|x| + 1)^2`                  Zenke & Ganguli 2018 (SuperSpike)
``"triangle"``     :math:`\alpha \max(0, 1 - |x|)`               Esser 2016; Bellec 2020
``"tanh"``         :math:`1 - \tanh^2(\alpha x)`
``"circ"``         :math:`\alpha^3 / (x^2 + \alpha^2)^{3/2}`
``"heavi_erfc"``   :math:`(2/\sqrt\pi) \exp(-(\alpha x)^2)`
=================  ===========================================  =============================

Examples:
    >>> import torch
    >>> x = torch.tensor([-0.1, 0.0, 0.1, 1.0], requires_grad=True)
    >>> threshold(x, "super", 2.0)
    tensor([0., 0., 1., 1.], grad_fn=<SuperSpikeBackward>)
"""

from __future__ import annotations

import math
from typing import Any

import torch

from ._keywords import keyword_aliases

__all__ = [
    "THRESHOLD_METHODS",
    "heaviside",
    "super_fn",
    "triangle_fn",
    "heavi_tanh_fn",
    "heavi_circ_fn",
    "heavi_erfc_fn",
    "logistic_fn",
    "circ_dist_fn",
    "threshold",
    "sign",
    "SuperSpike",
    "TriangleSpike",
    "HeaviTanh",
    "HeaviCirc",
    "HeaviErfc",
    "superspike_fn",
    "Triangle",
    "Logistic",
    "CircDist",
]

THRESHOLD_METHODS = ("heaviside", "super", "triangle", "tanh", "circ", "heavi_erfc")


@keyword_aliases(data="x")
def heaviside(x: torch.Tensor) -> torch.Tensor:
    """``(x > 0)`` cast to ``x``'s dtype; not differentiable (0 maps to 0)."""
    return torch.gt(x, 0).to(x.dtype)  # a Python scalar: no constant tensor in traces


def _saved_x_alpha(ctx: Any) -> tuple[torch.Tensor, Any]:
    if ctx.alpha_is_tensor:
        x, alpha = ctx.saved_tensors
        return x, alpha
    (x,) = ctx.saved_tensors
    return x, ctx.alpha


class _Surrogate(torch.autograd.Function):
    """Heaviside forward; subclasses define :meth:`surrogate` and a one-line static
    ``backward`` (static, not a classmethod, and a tensor ``alpha`` saved with
    ``save_for_backward``, so that ``torch.compile(fullgraph=True)`` traces forward and backward
    without graph breaks)."""

    @staticmethod
    def surrogate(x: torch.Tensor, alpha: Any) -> torch.Tensor:  # pragma: no cover
        raise NotImplementedError

    @staticmethod
    def forward(x: torch.Tensor, alpha: Any) -> torch.Tensor:  # type: ignore[override]
        return heaviside(x)

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple[Any, ...], output: torch.Tensor) -> None:
        x, alpha = inputs
        ctx.alpha_is_tensor = isinstance(alpha, torch.Tensor)
        if ctx.alpha_is_tensor:
            ctx.save_for_backward(x, alpha)
        else:
            ctx.save_for_backward(x)
            ctx.alpha = alpha


class SuperSpike(_Surrogate):
    """SuperSpike (Zenke & Ganguli 2018): ``g = 1/(alpha·|x| + 1)^2``, peak 1 at x = 0."""

    @staticmethod
    def surrogate(x: torch.Tensor, alpha: Any) -> torch.Tensor:
        return 1.0 / (alpha * x.abs() + 1.0) ** 2

    @staticmethod
    def backward(ctx: Any, grad_output: torch.Tensor) -> tuple[torch.Tensor, None]:  # type: ignore[override]
        x, alpha = _saved_x_alpha(ctx)
        return grad_output * SuperSpike.surrogate(x, alpha), None


class TriangleSpike(_Surrogate):
    """Triangle (Esser 2016, Bellec 2020): ``g = alpha·max(0, 1 − |x|)``, width 1, peak alpha."""

    @staticmethod
    def surrogate(x: torch.Tensor, alpha: Any) -> torch.Tensor:
        return alpha * torch.relu(1.0 - x.abs())

    @staticmethod
    def backward(ctx: Any, grad_output: torch.Tensor) -> tuple[torch.Tensor, None]:  # type: ignore[override]
        x, alpha = _saved_x_alpha(ctx)
        return grad_output * TriangleSpike.surrogate(x, alpha), None


class HeaviTanh(_Surrogate):
    """``g = 1 − tanh²(alpha·x)``, peak 1."""

    @staticmethod
    def surrogate(x: torch.Tensor, alpha: Any) -> torch.Tensor:
        return 1.0 - torch.tanh(alpha * x) ** 2

    @staticmethod
    def backward(ctx: Any, grad_output: torch.Tensor) -> tuple[torch.Tensor, None]:  # type: ignore[override]
        x, alpha = _saved_x_alpha(ctx)
        return grad_output * HeaviTanh.surrogate(x, alpha), None


class HeaviCirc(_Surrogate):
    """``g = alpha³/(x² + alpha²)^{3/2}``, peak 1."""

    @staticmethod
    def surrogate(x: torch.Tensor, alpha: Any) -> torch.Tensor:
        alpha_sq = alpha * alpha
        return alpha * alpha_sq / (x * x + alpha_sq) ** 1.5

    @staticmethod
    def backward(ctx: Any, grad_output: torch.Tensor) -> tuple[torch.Tensor, None]:  # type: ignore[override]
        x, alpha = _saved_x_alpha(ctx)
        return grad_output * HeaviCirc.surrogate(x, alpha), None


class HeaviErfc(_Surrogate):
    """``g = (2/√π)·exp(−(alpha·x)²)``, peak 2/√π ≈ 1.128 (no factor alpha, as in Norse)."""

    @staticmethod
    def surrogate(x: torch.Tensor, alpha: Any) -> torch.Tensor:
        return (2.0 / math.sqrt(math.pi)) * torch.exp(-((alpha * x) ** 2))

    @staticmethod
    def backward(ctx: Any, grad_output: torch.Tensor) -> tuple[torch.Tensor, None]:  # type: ignore[override]
        x, alpha = _saved_x_alpha(ctx)
        return grad_output * HeaviErfc.surrogate(x, alpha), None


def super_fn(x: torch.Tensor, alpha: Any = 100.0) -> torch.Tensor:
    """Heaviside forward with the SuperSpike surrogate ``1/(alpha·|x| + 1)^2``."""
    return SuperSpike.apply(x, alpha)


def triangle_fn(x: torch.Tensor, alpha: Any = 0.3) -> torch.Tensor:
    """Heaviside forward with the triangle surrogate ``alpha·max(0, 1 − |x|)``."""
    return TriangleSpike.apply(x, alpha)


def heavi_tanh_fn(x: torch.Tensor, k: Any) -> torch.Tensor:
    """Heaviside forward with the surrogate ``1 − tanh²(k·x)``."""
    return HeaviTanh.apply(x, k)


def heavi_circ_fn(x: torch.Tensor, k: Any) -> torch.Tensor:
    """Heaviside forward with the surrogate ``k³/(x² + k²)^{3/2}``."""
    return HeaviCirc.apply(x, k)


def heavi_erfc_fn(x: torch.Tensor, k: Any) -> torch.Tensor:
    """Heaviside forward with the surrogate ``(2/√π)·exp(−(k·x)²)``."""
    return HeaviErfc.apply(x, k)


class _StochasticTanh(torch.autograd.Function):
    @staticmethod
    def forward(x: torch.Tensor, k: Any) -> torch.Tensor:  # type: ignore[override]
        return torch.bernoulli(0.5 + 0.5 * torch.tanh(k * x))

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple[Any, ...], output: torch.Tensor) -> None:
        x, k = inputs
        ctx.save_for_backward(x)
        ctx.k = k

    @staticmethod
    def backward(ctx: Any, grad_output: torch.Tensor) -> tuple[torch.Tensor, None]:  # type: ignore[override]
        (x,) = ctx.saved_tensors
        return grad_output * (1.0 - torch.tanh(ctx.k * x) ** 2), None


class _StochasticCirc(torch.autograd.Function):
    @staticmethod
    def forward(x: torch.Tensor, alpha: Any) -> torch.Tensor:  # type: ignore[override]
        return torch.bernoulli(0.5 + 0.5 * x / torch.sqrt(x * x + alpha * alpha))

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple[Any, ...], output: torch.Tensor) -> None:
        x, alpha = inputs
        ctx.save_for_backward(x)
        ctx.alpha = alpha

    @staticmethod
    def backward(ctx: Any, grad_output: torch.Tensor) -> tuple[torch.Tensor, None]:  # type: ignore[override]
        (x,) = ctx.saved_tensors
        return grad_output * HeaviCirc.surrogate(x, ctx.alpha), None


def logistic_fn(x: torch.Tensor, k: Any) -> torch.Tensor:
    """Stochastic forward: Bernoulli(0.5 + 0.5·tanh(k·x)); surrogate ``1 − tanh²(k·x)``."""
    return _StochasticTanh.apply(x, k)


@keyword_aliases(k="alpha")
def circ_dist_fn(x: torch.Tensor, alpha: Any) -> torch.Tensor:
    """Stochastic forward: Bernoulli(0.5 + 0.5·x/√(x² + alpha²)); surrogate as ``circ``."""
    return _StochasticCirc.apply(x, alpha)


#: Norse's names for the same objects (``norse.torch.functional.threshold``)
superspike_fn = super_fn
Triangle = TriangleSpike
Logistic = _StochasticTanh
CircDist = _StochasticCirc

_METHODS = {
    "super": super_fn,
    "triangle": triangle_fn,
    "tanh": heavi_tanh_fn,
    "circ": heavi_circ_fn,
    "heavi_erfc": heavi_erfc_fn,
}


def threshold(x: torch.Tensor, method: str, alpha: Any) -> torch.Tensor:
    """Heaviside step ``Θ(x)`` whose backward is the surrogate named by ``method``.

    Args:
        x: the distance to threshold (e.g. ``v − v_th``).
        method: one of :data:`THRESHOLD_METHODS`.
        alpha: the surrogate's shape parameter (see the module docstring).

    Raises:
        ValueError: for an unknown method; the message lists the known ones.
    """
    if method == "heaviside":
        return heaviside(x)
    function = _METHODS.get(method)
    if function is None:
        raise ValueError(
            f"unknown threshold method {method!r}; known methods: " + ", ".join(THRESHOLD_METHODS)
        )
    return function(x, alpha)


def sign(x: torch.Tensor, method: str, alpha: Any) -> torch.Tensor:
    """``2·threshold(x) − 1``: ±1 with the same surrogate gradient (times 2)."""
    return 2.0 * threshold(x, method, alpha) - 1.0
