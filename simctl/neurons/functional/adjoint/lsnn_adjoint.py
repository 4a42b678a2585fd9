"""Norse's ``norse.torch.functional.adjoint.lsnn_adjoint`` path: simctl's objects."""

from simctl.neurons.adjoint import (  # noqa: F401
    lsnn_adjoint_step,
    lsnn_feed_forward_adjoint_step,
)
from simctl.neurons.lsnn import (  # noqa: F401
    LSNNFeedForwardState,
    LSNNParameters,
    LSNNState,
    lsnn_feed_forward_step,
    lsnn_step,
)

__all__ = [
    "lsnn_adjoint_step",
    "lsnn_feed_forward_adjoint_step",
    "LSNNFeedForwardState",
    "LSNNParameters",
    "LSNNState",
    "lsnn_feed_forward_step",
    "lsnn_step",
]
