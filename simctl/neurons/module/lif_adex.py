"""Norse's ``norse.torch.module.lif_adex`` path: simctl's objects."""

from simctl.neurons.lif_adex import (  # noqa: F401
    LIFAdEx,
    LIFAdExCell,
    LIFAdExRecurrent,
    LIFAdExRecurrentCell,
)

__all__ = [
    "LIFAdEx",
    "LIFAdExCell",
    "LIFAdExRecurrent",
    "LIFAdExRecurrentCell",
]
