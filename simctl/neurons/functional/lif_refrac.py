"""Norse's ``norse.torch.functional.lif_refrac`` path: simctl's objects."""

from simctl.neurons.lif import (  # noqa: F401
    LIFFeedForwardState,
    LIFParameters,
    LIFState,
    lif_feed_forward_step,
    lif_step,
    lif_step_sparse,
)
from simctl.neurons.lif_refrac import (  # noqa: F401
    LIFRefracFeedForwardState,
    LIFRefracParameters,
    LIFRefracState,
    compute_refractory_update,
    lif_refrac_feed_forward_step,
    lif_refrac_step,
    lif_refrac_step_sparse,
)
from simctl.neurons.threshold import (  # noqa: F401
    threshold,
)

__all__ = [
    "LIFFeedForwardState",
    "LIFParameters",
    "LIFRefracFeedForwardState",
    "LIFRefracParameters",
    "LIFRefracState",
    "LIFState",
    "compute_refractory_update",
    "lif_feed_forward_step",
    "lif_refrac_feed_forward_step",
    "lif_refrac_step",
    "lif_refrac_step_sparse",
    "lif_step",
    "lif_step_sparse",
    "threshold",
]
