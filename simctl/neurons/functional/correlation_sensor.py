"""Norse's ``norse.torch.functional.correlation_sensor`` path: simctl's objects."""

from simctl.neurons.correlation_sensor import (  # noqa: F401
    CorrelationSensorParameters,
    CorrelationSensorState,
    correlation_based_update,
    correlation_sensor_step,
    post_mask,
    post_pre_update,
    pre_mask,
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
    "pre_mask",
    "post_mask",
    "post_pre_update",
]
