"""Norse's ``norse.torch.module.lsnn`` path: simctl's objects."""

from simctl.neurons.base import (  # noqa: F401
    SNN,
    SNNCell,
    SNNRecurrent,
    SNNRecurrentCell,
)
from simctl.neurons.lsnn import (  # noqa: F401
    LSNN,
    LSNNCell,
    LSNNFeedForwardState,
    LSNNParameters,
    LSNNRecurrent,
    LSNNRecurrentCell,
    LSNNState,
    lsnn_feed_forward_step,
    lsnn_step,
)

__all__ = [
    "LSNN",
    "LSNNCell",
    "LSNNFeedForwardState",
    "LSNNParameters",
    "LSNNRecurrent",
    "LSNNRecurrentCell",
    "LSNNState",
    "SNN",
    "SNNCell",
    "SNNRecurrent",
    "SNNRecurrentCell",
    "lsnn_feed_forward_step",
    "lsnn_step",
]
