"""Norse's ``norse.torch.module.iaf`` path: simctl's objects."""

from simctl.neurons.base import (  # noqa: F401
    SNN,
    SNNCell,
)
from simctl.neurons.iaf import (  # noqa: F401
    IAF,
    IAFCell,
    IAFFeedForwardState,
    IAFParameters,
    iaf_feed_forward_step,
)

__all__ = [
    "IAF",
    "IAFCell",
    "IAFFeedForwardState",
    "IAFParameters",
    "SNN",
    "SNNCell",
    "iaf_feed_forward_step",
]
