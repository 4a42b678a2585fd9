"""Norse's ``norse.torch.functional.lif_adex`` path: simctl's objects."""

from simctl.neurons.lif_adex import (  # noqa: F401
    LIFAdExFeedForwardState,
    LIFAdExParameters,
    LIFAdExState,
    lif_adex_current_encoder,
    lif_adex_feed_forward_step,
    lif_adex_step,
)
from simctl.neurons.threshold import (  # noqa: F401
    threshold,
)

__all__ = [
    "LIFAdExFeedForwardState",
    "LIFAdExParameters",
    "LIFAdExState",
    "lif_adex_current_encoder",
    "lif_adex_feed_forward_step",
    "lif_adex_step",
    "threshold",
]
