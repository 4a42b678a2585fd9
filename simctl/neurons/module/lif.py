"""Norse's ``norse.torch.module.lif`` path: simctl's objects."""

from simctl.neurons.base import (  # noqa: F401
    SNN,
    SNNCell,
    SNNRecurrent,
    SNNRecurrentCell,
)
from simctl.neurons.lif import (  # noqa: F401
    LIF,
    LIFCell,
    LIFFeedForwardState,
    LIFParameters,
    LIFRecurrent,
    LIFRecurrentCell,
    LIFState,
    lif_feed_forward_step,
    lif_feed_forward_step_sparse,
    lif_step,
    lif_step_sparse,
)

__all__ = [
    "LIF",
    "LIFCell",
    "LIFFeedForwardState",
    "LIFParameters",
    "LIFRecurrent",
    "LIFRecurrentCell",
    "LIFState",
    "SNN",
    "SNNCell",
    "SNNRecurrent",
    "SNNRecurrentCell",
    "lif_feed_forward_step",
    "lif_feed_forward_step_sparse",
    "lif_step",
    "lif_step_sparse",
]
