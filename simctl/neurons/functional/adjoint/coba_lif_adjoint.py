"""Norse's ``norse.torch.functional.adjoint.coba_lif_adjoint`` path: simctl's objects."""

from simctl.neurons.adjoint import coba_lif_adjoint_step  # noqa: F401
from simctl.neurons.coba_lif import (  # noqa: F401
    CobaLIFParameters,
    CobaLIFState,
    coba_lif_step,
)

__all__ = [
    "coba_lif_adjoint_step",
    "CobaLIFParameters",
    "CobaLIFState",
    "coba_lif_step",
]
