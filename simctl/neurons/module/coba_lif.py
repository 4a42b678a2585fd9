"""Norse's ``norse.torch.module.coba_lif`` path: simctl's objects."""

from simctl.neurons.coba_lif import (  # noqa: F401
    CobaLIFCell,
)

__all__ = [
    "CobaLIFCell",
]
