"""Norse's ``norse.torch.functional.spikes_to_times_decoder`` path: simctl's objects."""

from simctl.neurons.decode import (  # noqa: F401
    ToSpikeTimes,
)

__all__ = [
    "ToSpikeTimes",
]
