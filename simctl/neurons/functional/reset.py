"""Norse's ``norse.torch.functional.reset`` path: simctl's objects."""

from simctl.neurons.lif_box import (  # noqa: F401
    ResetMethod,
    reset_subtract,
    reset_value,
)

__all__ = [
    "ResetMethod",
    "reset_subtract",
    "reset_value",
]
