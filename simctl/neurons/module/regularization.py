"""Norse's ``norse.torch.module.regularization`` path: simctl's objects."""

from simctl.neurons.containers import (  # noqa: F401
    RegularizationCell,
    regularize_step,
    spike_accumulator,
)

__all__ = [
    "RegularizationCell",
    "regularize_step",
    "spike_accumulator",
]
