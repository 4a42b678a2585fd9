"""Norse's ``norse.torch.module.lif_adex_refrac`` path: simctl's objects."""

from simctl.neurons.lif_adex_refrac import (  # noqa: F401
    LIFAdExRefracCell,
    LIFAdExRefracRecurrent,
    LIFAdExRefracRecurrentCell,
)

__all__ = [
    "LIFAdExRefracCell",
    "LIFAdExRefracRecurrent",
    "LIFAdExRefracRecurrentCell",
]
