"""Norse's ``norse.torch.module.regularization`` path: simctl's objects."""

from simctl.neurons.containers import (  # noqa: F401
    RegularizationCell,
)

__all__ = [
    "RegularizationCell",
]
