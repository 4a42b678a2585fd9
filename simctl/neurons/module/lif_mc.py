"""Norse's ``norse.torch.module.lif_mc`` path: simctl's objects."""

from simctl.neurons.base import (  # noqa: F401
    SNNRecurrentCell,
)
from simctl.neurons.lif import (  # noqa: F401
    LIFParameters,
    LIFState,
)
from simctl.neurons.lif_mc import (  # noqa: F401
    LIFMCRecurrentCell,
    lif_mc_step,
)

__all__ = [
    "LIFMCRecurrentCell",
    "LIFParameters",
    "LIFState",
    "SNNRecurrentCell",
    "lif_mc_step",
]
