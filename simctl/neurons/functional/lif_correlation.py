"""Norse's ``norse.torch.functional.lif_correlation`` path: simctl's objects."""

from simctl.neurons.lif_correlation import (  # noqa: F401
    LIFCorrelationParameters,
    LIFCorrelationState,
    lif_correlation_step,
)

__all__ = [
    "LIFCorrelationParameters",
    "LIFCorrelationState",
    "lif_correlation_step",
]
