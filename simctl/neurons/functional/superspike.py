"""Norse's ``norse.torch.functional.superspike`` path: simctl's objects."""

from simctl.neurons.threshold import (  # noqa: F401
    SuperSpike,
    super_fn,
)

__all__ = [
    "SuperSpike",
    "super_fn",
]
