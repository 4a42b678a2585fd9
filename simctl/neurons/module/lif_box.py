"""Norse's ``norse.torch.module.lif_box`` path: simctl's objects."""

from simctl.neurons.base import (  # noqa: F401
    SNNCell,
)
from simctl.neurons.lif_box import (  # noqa: F401
    LIFBoxCell,
    LIFBoxFeedForwardState,
    LIFBoxParameters,
    lif_box_feed_forward_step,
)

__all__ = [
    "LIFBoxCell",
    "LIFBoxFeedForwardState",
    "LIFBoxParameters",
    "SNNCell",
    "lif_box_feed_forward_step",
]
