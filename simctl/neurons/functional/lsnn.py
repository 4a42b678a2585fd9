"""Norse's ``norse.torch.functional.lsnn`` path: simctl's objects."""

from simctl.neurons.lsnn import (  # noqa: F401
    LSNNFeedForwardState,
    LSNNParameters,
    LSNNState,
    ada_lif_step,
    lsnn_feed_forward_step,
    lsnn_step,
)
from simctl.neurons.threshold import (  # noqa: F401
    threshold,
)

__all__ = [
    "LSNNFeedForwardState",
    "LSNNParameters",
    "LSNNState",
    "ada_lif_step",
    "lsnn_feed_forward_step",
    "lsnn_step",
    "threshold",
]
