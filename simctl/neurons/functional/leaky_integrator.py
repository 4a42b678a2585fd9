"""Norse's ``norse.torch.functional.leaky_integrator`` path: simctl's objects."""

from simctl.neurons.li import (  # noqa: F401
    LIParameters,
    LIState,
    li_feed_forward_step,
    li_step,
)

__all__ = [
    "LIParameters",
    "LIState",
    "li_feed_forward_step",
    "li_step",
]
