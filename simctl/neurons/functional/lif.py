"""Norse's ``norse.torch.functional.lif`` path: simctl's objects."""

from simctl.neurons.lif import (  # noqa: F401
    LIFFeedForwardState,
    LIFParameters,
    LIFState,
    lif_current_encoder,
    lif_feed_forward_integral,
    lif_feed_forward_step,
    lif_feed_forward_step_sparse,
    lif_step,
    lif_step_integral,
    lif_step_sparse,
)
from simctl.neurons.threshold import (  # noqa: F401
    threshold,
)

__all__ = [
    "LIFFeedForwardState",
    "LIFParameters",
    "LIFState",
    "lif_current_encoder",
    "lif_feed_forward_integral",
    "lif_feed_forward_step",
    "lif_feed_forward_step_sparse",
    "lif_step",
    "lif_step_integral",
    "lif_step_sparse",
    "threshold",
]

#: Norse 1.1.0's module constants: parameters in ms and mV-like units (use ``dt`` in ms).
#: Plain floats, so no tensor is shared between the modules that use them.
default_bio_parameters = LIFParameters(
    tau_syn_inv=1 / 0.5, tau_mem_inv=1 / 20.0, v_leak=-65.0, v_th=-50.0, v_reset=-65.0
)
default_bio_initial_state = LIFState(z=0.0, v=-65.0, i=0.0)
__all__ += ["default_bio_parameters", "default_bio_initial_state"]
