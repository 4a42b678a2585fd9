"""Norse's ``norse.torch.functional.adjoint.lif_refrac_adjoint`` path: simctl's objects."""

from simctl.neurons.adjoint import (  # noqa: F401
    lif_refrac_adjoint_step,
    lif_refrac_adjoint_step_sparse,
    lif_refrac_feed_forward_adjoint_step,
)
from simctl.neurons.lif import (  # noqa: F401
    LIFFeedForwardState,
    LIFParameters,
    LIFState,
)
from simctl.neurons.lif_refrac import (  # noqa: F401
    LIFRefracFeedForwardState,
    LIFRefracParameters,
    LIFRefracState,
    lif_refrac_feed_forward_step,
    lif_refrac_step,
    lif_refrac_step_sparse,
)

__all__ = [
    "lif_refrac_adjoint_step",
    "lif_refrac_adjoint_step_sparse",
    "lif_refrac_feed_forward_adjoint_step",
    "LIFFeedForwardState",
    "LIFParameters",
    "LIFState",
    "LIFRefracFeedForwardState",
    "LIFRefracParameters",
    "LIFRefracState",
    "lif_refrac_feed_forward_step",
    "lif_refrac_step",
    "lif_refrac_step_sparse",
]
