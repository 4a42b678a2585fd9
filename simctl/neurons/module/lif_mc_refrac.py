"""Norse's ``norse.torch.module.lif_mc_refrac`` path: simctl's objects."""

from simctl.neurons.base import (  # noqa: F401
    SNNRecurrentCell,
)
from simctl.neurons.lif import (  # noqa: F401
    LIFState,
)
from simctl.neurons.lif_mc_refrac import (  # noqa: F401
    LIFMCRefracRecurrentCell,
    lif_mc_refrac_step,
)
from simctl.neurons.lif_refrac import (  # noqa: F401
    LIFRefracParameters,
    LIFRefracState,
)

__all__ = [
    "LIFMCRefracRecurrentCell",
    "LIFRefracParameters",
    "LIFRefracState",
    "LIFState",
    "SNNRecurrentCell",
    "lif_mc_refrac_step",
]
