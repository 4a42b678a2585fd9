"""Norse's ``norse.torch.functional.adjoint.lif_mc_refrac_adjoint`` path: simctl's objects."""

from simctl.neurons.adjoint import lif_mc_refrac_adjoint  # noqa: F401
from simctl.neurons.lif_mc_refrac import lif_mc_refrac_step  # noqa: F401
from simctl.neurons.lif_refrac import LIFRefracParameters, LIFRefracState  # noqa: F401

__all__ = [
    "lif_mc_refrac_adjoint",
    "lif_mc_refrac_step",
]
