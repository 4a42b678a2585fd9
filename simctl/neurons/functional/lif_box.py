"""Norse's ``norse.torch.functional.lif_box`` path: simctl's objects."""

from simctl.neurons.lif_box import (  # noqa: F401
    LIFBoxFeedForwardState,
    LIFBoxParameters,
    LIFBoxState,
    lif_box_feed_forward_step,
)

__all__ = [
    "LIFBoxFeedForwardState",
    "LIFBoxParameters",
    "LIFBoxState",
    "lif_box_feed_forward_step",
]
