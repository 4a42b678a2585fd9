"""Norse's ``norse.torch.module.lif`` path: simctl's objects."""

from simctl.neurons.lif import (  # noqa: F401
    LIF,
    LIFCell,
    LIFRecurrent,
    LIFRecurrentCell,
)

__all__ = [
    "LIF",
    "LIFCell",
    "LIFRecurrent",
    "LIFRecurrentCell",
]
