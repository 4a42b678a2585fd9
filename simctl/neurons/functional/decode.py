"""Norse's ``norse.torch.functional.decode`` path: simctl's objects."""

from simctl.neurons.decode import (  # noqa: F401
    sum_decode,
)

__all__ = [
    "sum_decode",
]
