"""Norse's ``norse.torch.functional.logical`` path: simctl's objects."""

from simctl.neurons.logical import (  # noqa: F401
    logical_and,
    logical_or,
    logical_xor,
    muller_c,
    posedge_detector,
)
from simctl.neurons.threshold import (  # noqa: F401
    super_fn,
)

__all__ = [
    "logical_and",
    "logical_or",
    "logical_xor",
    "muller_c",
    "posedge_detector",
    "super_fn",
]
