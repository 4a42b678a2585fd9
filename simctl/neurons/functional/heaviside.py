"""Norse's ``norse.torch.functional.heaviside`` path: simctl's objects."""

from simctl.neurons.threshold import (  # noqa: F401
    heaviside,
)

__all__ = [
    "heaviside",
]
