"""Norse's ``norse.torch.functional.stdp`` path: simctl's objects."""

from simctl.neurons.stdp import (  # noqa: F401
    STDPParameters,
    STDPState,
    stdp_step_conv2d,
    stdp_step_linear,
)
from simctl.neurons.threshold import (  # noqa: F401
    heaviside,
)

__all__ = [
    "heaviside",
    "STDPParameters",
    "STDPState",
    "stdp_step_linear",
    "stdp_step_conv2d",
]
