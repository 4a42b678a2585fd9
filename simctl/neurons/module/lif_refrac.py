"""Norse's ``norse.torch.module.lif_refrac`` path: simctl's objects."""

from simctl.neurons.base import (  # noqa: F401
    SNNCell,
    SNNRecurrent,
    SNNRecurrentCell,
)
from simctl.neurons.lif import (  # noqa: F401
    LIFFeedForwardState,
    LIFParameters,
    LIFState,
)
from simctl.neurons.lif_refrac import (  # noqa: F401
    LIFRefracCell,
    LIFRefracFeedForwardState,
    LIFRefracParameters,
    LIFRefracRecurrent,
    LIFRefracRecurrentCell,
    LIFRefracState,
    lif_refrac_feed_forward_step,
    lif_refrac_step,
    lif_refrac_step_sparse,
)

__all__ = [
    "LIFFeedForwardState",
    "LIFParameters",
    "LIFRefracCell",
    "LIFRefracFeedForwardState",
    "LIFRefracParameters",
    "LIFRefracRecurrent",
    "LIFRefracRecurrentCell",
    "LIFRefracState",
    "LIFState",
    "SNNCell",
    "SNNRecurrent",
    "SNNRecurrentCell",
    "lif_refrac_feed_forward_step",
    "lif_refrac_step",
    "lif_refrac_step_sparse",
]
