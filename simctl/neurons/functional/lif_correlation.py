"""Norse's ``norse.torch.functional.lif_correlation`` path: simctl's objects."""

from simctl.neurons.correlation_sensor import (  # noqa: F401
    CorrelationSensorParameters,
    CorrelationSensorState,
    correlation_sensor_step,
)
from simctl.neurons.lif import (  # noqa: F401
    LIFParameters,
    LIFState,
    lif_step,
)
from simctl.neurons.lif_correlation import (  # noqa: F401
    LIFCorrelationParameters,
    LIFCorrelationState,
    lif_correlation_step,
)

__all__ = [
    "CorrelationSensorParameters",
    "CorrelationSensorState",
    "LIFCorrelationParameters",
    "LIFCorrelationState",
    "LIFParameters",
    "LIFState",
    "correlation_sensor_step",
    "lif_correlation_step",
    "lif_step",
]
