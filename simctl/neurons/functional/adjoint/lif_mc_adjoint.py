"""Norse's ``norse.torch.functional.adjoint.lif_mc_adjoint`` path: simctl's objects."""

from simctl.neurons.adjoint import lif_mc_adjoint_step  # noqa: F401
from simctl.neurons.lif import LIFParameters, LIFState  # noqa: F401
from simctl.neurons.lif_mc import lif_mc_step  # noqa: F401

__all__ = [
    "lif_mc_adjoint_step",
    "lif_mc_step",
]
