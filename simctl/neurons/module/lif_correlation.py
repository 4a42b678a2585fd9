"""Norse's ``norse.torch.module.lif_correlation`` path: simctl's objects."""

from simctl.neurons.correlation_sensor import (  # noqa: F401
    CorrelationSensorState,
)
from simctl.neurons.lif import (  # noqa: F401
    LIFState,
)
from simctl.neurons.lif_correlation import (  # noqa: F401
    LIFCorrelation,
    LIFCorrelationParameters,
    LIFCorrelationState,
    lif_correlation_step,
)

__all__ = [
    "CorrelationSensorState",
    "LIFCorrelation",
    "LIFCorrelationParameters",
    "LIFCorrelationState",
    "LIFState",
    "lif_correlation_step",
]
