"""Norse's ``norse.torch.module.lif_ex`` path: simctl's objects."""

from simctl.neurons.base import (  # noqa: F401
    SNN,
    SNNCell,
    SNNRecurrent,
    SNNRecurrentCell,
)
from simctl.neurons.lif_ex import (  # noqa: F401
    LIFEx,
    LIFExCell,
    LIFExFeedForwardState,
    LIFExParameters,
    LIFExRecurrent,
    LIFExRecurrentCell,
    LIFExState,
    lif_ex_feed_forward_step,
    lif_ex_step,
)

__all__ = [
    "LIFEx",
    "LIFExCell",
    "LIFExFeedForwardState",
    "LIFExParameters",
    "LIFExRecurrent",
    "LIFExRecurrentCell",
    "LIFExState",
    "SNN",
    "SNNCell",
    "SNNRecurrent",
    "SNNRecurrentCell",
    "lif_ex_feed_forward_step",
    "lif_ex_step",
]
