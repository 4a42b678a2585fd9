"""Norse's ``norse.torch.functional.superspike`` path: simctl's objects."""

from simctl.neurons.threshold import (  # noqa: F401
    SuperSpike,
    heaviside,
    super_fn,
)

__all__ = [
    "SuperSpike",
    "heaviside",
    "super_fn",
]
