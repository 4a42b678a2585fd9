"""Norse's ``norse.torch.functional.adjoint.<file>`` paths. simctl's adjoint names are the
ordinary steps with autograd gradients, not Norse's adjoint backward pass: see
:mod:`simctl.neurons.adjoint`.

The package re-exports the adjoint steps for convenience, except ``lif_mc_refrac_adjoint``:
that function has the name of its own submodule (``.lif_mc_refrac_adjoint``, as in Norse), and
importing the submodule would replace the package attribute. Import it from the submodule or
from :mod:`simctl.neurons`."""

from simctl.neurons.adjoint import (  # noqa: F401
    coba_lif_adjoint_step,
    lif_adjoint_step,
    lif_adjoint_step_sparse,
    lif_feed_forward_adjoint_step,
    lif_feed_forward_adjoint_step_sparse,
    lif_mc_adjoint_step,
    lif_refrac_adjoint_step,
    lif_refrac_adjoint_step_sparse,
    lif_refrac_feed_forward_adjoint_step,
    lsnn_adjoint_step,
    lsnn_feed_forward_adjoint_step,
)

__all__ = [
    "coba_lif_adjoint_step",
    "lif_adjoint_step",
    "lif_adjoint_step_sparse",
    "lif_feed_forward_adjoint_step",
    "lif_feed_forward_adjoint_step_sparse",
    "lif_mc_adjoint_step",
    "lif_refrac_adjoint_step",
    "lif_refrac_adjoint_step_sparse",
    "lif_refrac_feed_forward_adjoint_step",
    "lsnn_adjoint_step",
    "lsnn_feed_forward_adjoint_step",
]
