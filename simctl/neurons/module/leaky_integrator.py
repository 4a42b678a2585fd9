"""Norse's ``norse.torch.module.leaky_integrator`` path: simctl's objects."""

from simctl.neurons.base import (  # noqa: F401
    SNN,
    SNNCell,
)
from simctl.neurons.li import (  # noqa: F401
    LI,
    LICell,
    LILinearCell,
    LIParameters,
    LIState,
    li_feed_forward_step,
    li_step,
)

__all__ = [
    "LI",
    "LICell",
    "LILinearCell",
    "LIParameters",
    "LIState",
    "SNN",
    "SNNCell",
    "li_feed_forward_step",
    "li_step",
]
