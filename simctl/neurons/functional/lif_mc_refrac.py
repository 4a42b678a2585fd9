"""Norse's ``norse.torch.functional.lif_mc_refrac`` path: simctl's objects."""

from simctl.neurons.lif import (  # noqa: F401
    LIFFeedForwardState,
    LIFState,
)
from simctl.neurons.lif_mc_refrac import (  # noqa: F401
    lif_mc_refrac_feed_forward_step,
    lif_mc_refrac_step,
)
from simctl.neurons.lif_refrac import (  # noqa: F401
    LIFRefracFeedForwardState,
    LIFRefracParameters,
    LIFRefracState,
)
from simctl.neurons.threshold import (  # noqa: F401
    threshold,
)

__all__ = [
    "LIFFeedForwardState",
    "LIFRefracFeedForwardState",
    "LIFRefracParameters",
    "LIFRefracState",
    "LIFState",
    "lif_mc_refrac_feed_forward_step",
    "lif_mc_refrac_step",
    "threshold",
]
