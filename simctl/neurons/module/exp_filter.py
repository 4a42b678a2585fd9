"""Norse's ``norse.torch.module.exp_filter`` path: simctl's objects."""

from simctl.neurons.exp_filter import (  # noqa: F401
    ExpFilter,
    exp_filter_step,
)

__all__ = [
    "ExpFilter",
    "exp_filter_step",
]
