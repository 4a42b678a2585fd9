"""Norse's ``norse.torch.functional.stdp`` path: simctl's objects."""

from simctl.neurons.threshold import (  # noqa: F401
    heaviside,
)

__all__ = [
    "heaviside",
]
