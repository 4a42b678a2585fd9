"""Norse's ``norse.torch.module.lif_ex`` path: simctl's objects."""

from simctl.neurons.lif_ex import (  # noqa: F401
    LIFEx,
    LIFExCell,
    LIFExRecurrent,
    LIFExRecurrentCell,
)

__all__ = [
    "LIFEx",
    "LIFExCell",
    "LIFExRecurrent",
    "LIFExRecurrentCell",
]
