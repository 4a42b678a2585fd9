"""Norse's ``norse.torch.functional.regularization`` path: simctl's objects."""

from simctl.neurons.containers import (  # noqa: F401
    regularize_step,
    spike_accumulator,
    voltage_accumulator,
)

__all__ = [
    "regularize_step",
    "spike_accumulator",
    "voltage_accumulator",
]
