"""Norse's ``norse.torch.module.lift`` path: simctl's objects."""

from simctl.neurons.containers import (  # noqa: F401
    Lift,
)

__all__ = [
    "Lift",
]
