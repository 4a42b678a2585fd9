"""Norse's ``norse.torch.module.izhikevich`` path: simctl's objects."""

from simctl.neurons.base import (  # noqa: F401
    SNN,
    SNNCell,
    SNNRecurrent,
    SNNRecurrentCell,
)
from simctl.neurons.izhikevich import (  # noqa: F401
    Izhikevich,
    IzhikevichCell,
    IzhikevichRecurrent,
    IzhikevichRecurrentCell,
    IzhikevichRecurrentState,
    IzhikevichSpikingBehavior,
    IzhikevichState,
    izhikevich_feed_forward_step,
    izhikevich_recurrent_step,
)

__all__ = [
    "Izhikevich",
    "IzhikevichCell",
    "IzhikevichRecurrent",
    "IzhikevichRecurrentCell",
    "IzhikevichRecurrentState",
    "IzhikevichSpikingBehavior",
    "IzhikevichState",
    "SNN",
    "SNNCell",
    "SNNRecurrent",
    "SNNRecurrentCell",
    "izhikevich_feed_forward_step",
    "izhikevich_recurrent_step",
]
