"""Norse's ``norse.torch.functional.lif_mc_refrac`` path: simctl's objects."""

from simctl.neurons.lif_mc_refrac import (  # noqa: F401
    lif_mc_refrac_feed_forward_step,
    lif_mc_refrac_step,
)

__all__ = [
    "lif_mc_refrac_feed_forward_step",
    "lif_mc_refrac_step",
]
