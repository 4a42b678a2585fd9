"""Norse's ``norse.torch.module.lif_correlation`` path: simctl's objects."""

from simctl.neurons.lif_correlation import (  # noqa: F401
    LIFCorrelation,
)

__all__ = [
    "LIFCorrelation",
]
