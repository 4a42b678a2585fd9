"""Norse's ``norse.torch.functional.threshold`` path: simctl's objects."""

from simctl.neurons.threshold import (  # noqa: F401
    CircDist,
    HeaviCirc,
    HeaviErfc,
    HeaviTanh,
    Logistic,
    Triangle,
    circ_dist_fn,
    heavi_circ_fn,
    heavi_erfc_fn,
    heavi_tanh_fn,
    logistic_fn,
    sign,
    superspike_fn,
    threshold,
    triangle_fn,
)

__all__ = [
    "CircDist",
    "HeaviCirc",
    "HeaviErfc",
    "HeaviTanh",
    "Logistic",
    "Triangle",
    "circ_dist_fn",
    "heavi_circ_fn",
    "heavi_erfc_fn",
    "heavi_tanh_fn",
    "logistic_fn",
    "sign",
    "superspike_fn",
    "threshold",
    "triangle_fn",
]
