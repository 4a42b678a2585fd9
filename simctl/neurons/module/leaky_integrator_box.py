"""Norse's ``norse.torch.module.leaky_integrator_box`` path: simctl's objects."""

from simctl.neurons.base import (  # noqa: F401
    SNN,
    SNNCell,
)
from simctl.neurons.li_box import (  # noqa: F401
    LIBoxCell,
    LIBoxParameters,
    LIBoxState,
    li_box_feed_forward_step,
    li_box_step,
)

__all__ = [
    "LIBoxCell",
    "LIBoxParameters",
    "LIBoxState",
    "SNN",
    "SNNCell",
    "li_box_feed_forward_step",
    "li_box_step",
]
