"""Norse's ``norse.torch.module.sequential`` path: simctl's objects."""

from simctl.neurons.containers import (  # noqa: F401
    RecurrentSequential,
    RecurrentSequentialState,
    SequentialState,
)

__all__ = [
    "RecurrentSequential",
    "RecurrentSequentialState",
    "SequentialState",
]
