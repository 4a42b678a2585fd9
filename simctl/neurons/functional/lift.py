"""Norse's ``norse.torch.functional.lift`` path: simctl's objects."""

from simctl.neurons.containers import (  # noqa: F401
    lift,
)

__all__ = [
    "lift",
]
