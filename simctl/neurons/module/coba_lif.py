"""Norse's ``norse.torch.module.coba_lif`` path: simctl's objects."""

from simctl.neurons.coba_lif import (  # noqa: F401
    CobaLIFCell,
    CobaLIFParameters,
    CobaLIFState,
    coba_lif_step,
)

__all__ = [
    "CobaLIFCell",
    "CobaLIFParameters",
    "CobaLIFState",
    "coba_lif_step",
]
