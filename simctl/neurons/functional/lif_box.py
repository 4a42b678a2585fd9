"""Norse's ``norse.torch.functional.lif_box`` path: simctl's objects."""

from simctl.neurons.lif_box import (  # noqa: F401
    LIFBoxFeedForwardState,
    LIFBoxParameters,
    LIFBoxState,
    ResetMethod,
    lif_box_feed_forward_step,
    reset_value,
)
from simctl.neurons.threshold import (  # noqa: F401
    threshold,
)

__all__ = [
    "LIFBoxFeedForwardState",
    "LIFBoxParameters",
    "LIFBoxState",
    "ResetMethod",
    "lif_box_feed_forward_step",
    "reset_value",
    "threshold",
]
