"""Norse's ``norse.torch.functional.lif_adex_refrac`` path: simctl's objects."""

from simctl.neurons.lif_adex_refrac import (  # noqa: F401
    LIFAdExRefracFeedForwardState,
    LIFAdExRefracParameters,
    LIFAdExRefracState,
    lif_adex_refrac_feed_forward_step,
    lif_adex_refrac_step,
)
from simctl.neurons.lif_refrac import (  # noqa: F401
    compute_refractory_update,
)

__all__ = [
    "LIFAdExRefracFeedForwardState",
    "LIFAdExRefracParameters",
    "LIFAdExRefracState",
    "compute_refractory_update",
    "lif_adex_refrac_feed_forward_step",
    "lif_adex_refrac_step",
]
