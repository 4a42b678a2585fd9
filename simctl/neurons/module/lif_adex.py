"""Norse's ``norse.torch.module.lif_adex`` path: simctl's objects."""

from simctl.neurons.base import (  # noqa: F401
    SNN,
    SNNCell,
    SNNRecurrent,
    SNNRecurrentCell,
)
from simctl.neurons.lif_adex import (  # noqa: F401
    LIFAdEx,
    LIFAdExCell,
    LIFAdExFeedForwardState,
    LIFAdExParameters,
    LIFAdExRecurrent,
    LIFAdExRecurrentCell,
    LIFAdExState,
    lif_adex_feed_forward_step,
    lif_adex_step,
)

__all__ = [
    "LIFAdEx",
    "LIFAdExCell",
    "LIFAdExFeedForwardState",
    "LIFAdExParameters",
    "LIFAdExRecurrent",
    "LIFAdExRecurrentCell",
    "LIFAdExState",
    "SNN",
    "SNNCell",
    "SNNRecurrent",
    "SNNRecurrentCell",
    "lif_adex_feed_forward_step",
    "lif_adex_step",
]
