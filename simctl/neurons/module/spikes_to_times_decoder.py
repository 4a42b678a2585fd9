"""Norse's ``norse.torch.module.spikes_to_times_decoder`` path: simctl's objects."""

from simctl.neurons.decode import (  # noqa: F401
    SpikesToTimesDecoder,
    ToSpikeTimes,
)

__all__ = [
    "SpikesToTimesDecoder",
    "ToSpikeTimes",
]
