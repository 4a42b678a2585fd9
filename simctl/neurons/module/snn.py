"""Norse's ``norse.torch.module.snn`` path: simctl's objects."""

from simctl.neurons.base import (  # noqa: F401
    SNN,
    FeedforwardActivation,
    RecurrentActivation,
    SNNCell,
    SNNRecurrent,
    SNNRecurrentCell,
)

__all__ = [
    "FeedforwardActivation",
    "RecurrentActivation",
    "SNN",
    "SNNCell",
    "SNNRecurrent",
    "SNNRecurrentCell",
]
