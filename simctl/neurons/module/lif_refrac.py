"""Norse's ``norse.torch.module.lif_refrac`` path: simctl's objects."""

from simctl.neurons.lif_refrac import (  # noqa: F401
    LIFRefracCell,
    LIFRefracRecurrent,
    LIFRefracRecurrentCell,
)

__all__ = [
    "LIFRefracCell",
    "LIFRefracRecurrent",
    "LIFRefracRecurrentCell",
]
