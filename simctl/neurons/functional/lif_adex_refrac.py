"""Norse's ``norse.torch.functional.lif_adex_refrac`` path: simctl's objects."""

from simctl.neurons.lif_adex import (  # noqa: F401
    LIFAdExFeedForwardState,
    LIFAdExParameters,
    LIFAdExState,
    lif_adex_feed_forward_step,
    lif_adex_step,
)
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
from simctl.neurons.threshold import (  # noqa: F401
    threshold,
)

__all__ = [
    "LIFAdExFeedForwardState",
    "LIFAdExParameters",
    "LIFAdExRefracFeedForwardState",
    "LIFAdExRefracParameters",
    "LIFAdExRefracState",
    "LIFAdExState",
    "compute_refractory_update",
    "lif_adex_feed_forward_step",
    "lif_adex_refrac_feed_forward_step",
    "lif_adex_refrac_step",
    "lif_adex_step",
    "threshold",
]
