"""Norse's ``norse.torch.module.lif_mc`` path: simctl's objects."""

from simctl.neurons.lif_mc import (  # noqa: F401
    LIFMCRecurrentCell,
)

__all__ = [
    "LIFMCRecurrentCell",
]
