"""Norse's ``norse.torch.module.lsnn`` path: simctl's objects."""

from simctl.neurons.lsnn import (  # noqa: F401
    LSNN,
    LSNNCell,
    LSNNRecurrent,
    LSNNRecurrentCell,
)

__all__ = [
    "LSNN",
    "LSNNCell",
    "LSNNRecurrent",
    "LSNNRecurrentCell",
]
