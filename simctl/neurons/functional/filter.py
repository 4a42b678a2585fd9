"""Norse's ``norse.torch.functional.filter`` path: simctl's objects."""

from simctl.neurons.exp_filter import (  # noqa: F401
    exp_filter_step,
)

__all__ = [
    "exp_filter_step",
]
