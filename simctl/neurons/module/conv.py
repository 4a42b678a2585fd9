"""Norse's ``norse.torch.module.conv`` path: simctl's objects."""

from simctl.neurons.conv import (  # noqa: F401
    LConv2d,
)

__all__ = [
    "LConv2d",
]
