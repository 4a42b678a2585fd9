"""Norse's ``norse.torch.functional.coba_lif`` path: simctl's objects."""

from simctl.neurons.coba_lif import (  # noqa: F401
    CobaLIFFeedForwardState,
    CobaLIFParameters,
    CobaLIFState,
    coba_lif_feed_forward_step,
    coba_lif_step,
)
from simctl.neurons.threshold import (  # noqa: F401
    threshold,
)

__all__ = [
    "CobaLIFFeedForwardState",
    "CobaLIFParameters",
    "CobaLIFState",
    "coba_lif_feed_forward_step",
    "coba_lif_step",
    "threshold",
]

#: Norse 1.1.0's module constants (plain floats: no tensor shared between users).
default_bio_state = CobaLIFState(z=0.0, v=-65.0, g_e=0.0, g_i=0.0)
default_bio_parameters = CobaLIFParameters(
    tau_syn_exc_inv=1 / 0.3,
    tau_syn_inh_inv=1 / 0.5,
    e_rev_E=0.0,
    e_rev_I=-70.0,
    v_thresh=-50.0,
    v_reset=-65.0,
    v_rest=-65.0,
)
__all__ += ["default_bio_state", "default_bio_parameters"]
