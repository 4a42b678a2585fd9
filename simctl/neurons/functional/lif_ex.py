"""Norse's ``norse.torch.functional.lif_ex`` path: simctl's objects."""

from simctl.neurons.lif_ex import (  # noqa: F401
    LIFExFeedForwardState,
    LIFExParameters,
    LIFExState,
    lif_ex_current_encoder,
    lif_ex_feed_forward_step,
    lif_ex_step,
)
from simctl.neurons.threshold import (  # noqa: F401
    threshold,
)

__all__ = [
    "LIFExFeedForwardState",
    "LIFExParameters",
    "LIFExState",
    "lif_ex_current_encoder",
    "lif_ex_feed_forward_step",
    "lif_ex_step",
    "threshold",
]
