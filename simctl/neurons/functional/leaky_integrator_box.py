"""Norse's ``norse.torch.functional.leaky_integrator_box`` path: simctl's objects."""

from simctl.neurons.li_box import (  # noqa: F401
    LIBoxParameters,
    LIBoxState,
    li_box_feed_forward_step,
    li_box_step,
)

__all__ = [
    "LIBoxParameters",
    "LIBoxState",
    "li_box_feed_forward_step",
    "li_box_step",
]
