"""Norse's ``norse.torch.functional.adjoint.lif_adjoint`` path: simctl's objects."""

from simctl.neurons.adjoint import (  # noqa: F401
    lif_adjoint_step,
    lif_adjoint_step_sparse,
    lif_feed_forward_adjoint_step,
    lif_feed_forward_adjoint_step_sparse,
)
from simctl.neurons.lif import (  # noqa: F401
    LIFFeedForwardState,
    LIFParameters,
    LIFState,
    lif_feed_forward_step,
    lif_feed_forward_step_sparse,
    lif_step,
    lif_step_sparse,
)

__all__ = [
    "lif_adjoint_step",
    "lif_adjoint_step_sparse",
    "lif_feed_forward_adjoint_step",
    "lif_feed_forward_adjoint_step_sparse",
    "LIFFeedForwardState",
    "LIFParameters",
    "LIFState",
    "lif_feed_forward_step",
    "lif_feed_forward_step_sparse",
    "lif_step",
    "lif_step_sparse",
]
