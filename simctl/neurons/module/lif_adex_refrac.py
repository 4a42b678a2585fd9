"""Norse's ``norse.torch.module.lif_adex_refrac`` path: simctl's objects."""

from simctl.neurons.base import (  # noqa: F401
    SNNCell,
    SNNRecurrent,
    SNNRecurrentCell,
)
from simctl.neurons.lif_adex import (  # noqa: F401
    LIFAdExFeedForwardState,
    LIFAdExState,
)
from simctl.neurons.lif_adex_refrac import (  # noqa: F401
    LIFAdExRefracCell,
    LIFAdExRefracFeedForwardState,
    LIFAdExRefracParameters,
    LIFAdExRefracRecurrent,
    LIFAdExRefracRecurrentCell,
    LIFAdExRefracState,
    lif_adex_refrac_feed_forward_step,
    lif_adex_refrac_step,
)

__all__ = [
    "LIFAdExFeedForwardState",
    "LIFAdExRefracCell",
    "LIFAdExRefracFeedForwardState",
    "LIFAdExRefracParameters",
    "LIFAdExRefracRecurrent",
    "LIFAdExRefracRecurrentCell",
    "LIFAdExRefracState",
    "LIFAdExState",
    "SNNCell",
    "SNNRecurrent",
    "SNNRecurrentCell",
    "lif_adex_refrac_feed_forward_step",
    "lif_adex_refrac_step",
]
