"""Norse's ``norse.torch.functional.lif_mc`` path: simctl's objects."""

from simctl.neurons.lif import (  # noqa: F401
    LIFFeedForwardState,
    LIFParameters,
    LIFState,
    lif_feed_forward_step,
    lif_step,
)
from simctl.neurons.lif_mc import (  # noqa: F401
    lif_mc_feed_forward_step,
    lif_mc_step,
)

__all__ = [
    "LIFFeedForwardState",
    "LIFParameters",
    "LIFState",
    "lif_feed_forward_step",
    "lif_mc_feed_forward_step",
    "lif_mc_step",
    "lif_step",
]
