"""Norse's ``norse.torch.functional.correlation_sensor`` path: simctl's objects."""

from simctl.neurons.correlation_sensor import (  # noqa: F401
    CorrelationSensorParameters,
    CorrelationSensorState,
    correlation_based_update,
    correlation_sensor_step,
)
from simctl.neurons.threshold import (  # noqa: F401
    heaviside,
)

__all__ = [
    "CorrelationSensorParameters",
    "CorrelationSensorState",
    "correlation_based_update",
    "correlation_sensor_step",
    "heaviside",
]
