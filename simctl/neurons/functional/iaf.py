"""Norse's ``norse.torch.functional.iaf`` path: simctl's objects."""

from simctl.neurons.iaf import (  # noqa: F401
    IAFFeedForwardState,
    IAFParameters,
    IAFState,
    iaf_feed_forward_step,
    iaf_step,
)
from simctl.neurons.threshold import (  # noqa: F401
    threshold,
)

__all__ = [
    "IAFFeedForwardState",
    "IAFParameters",
    "IAFState",
    "iaf_feed_forward_step",
    "iaf_step",
    "threshold",
]
