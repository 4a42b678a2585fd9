"""Norse's ``norse.torch.module.lif_box`` path: simctl's objects."""

from simctl.neurons.lif_box import (  # noqa: F401
    LIFBoxCell,
)

__all__ = [
    "LIFBoxCell",
]
