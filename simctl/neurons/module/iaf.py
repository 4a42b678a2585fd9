"""Norse's ``norse.torch.module.iaf`` path: simctl's objects."""

from simctl.neurons.iaf import (  # noqa: F401
    IAF,
    IAFCell,
)

__all__ = [
    "IAF",
    "IAFCell",
]
