"""Norse's ``norse.torch.functional.lif_refrac`` path: simctl's objects."""

from simctl.neurons.lif_refrac import (  # noqa: F401
    LIFRefracFeedForwardState,
    LIFRefracParameters,
    LIFRefracState,
    compute_refractory_update,
    lif_refrac_feed_forward_step,
    lif_refrac_step,
    lif_refrac_step_sparse,
)

__all__ = [
    "LIFRefracFeedForwardState",
    "LIFRefracParameters",
    "LIFRefracState",
    "compute_refractory_update",
    "lif_refrac_feed_forward_step",
    "lif_refrac_step",
    "lif_refrac_step_sparse",
]
