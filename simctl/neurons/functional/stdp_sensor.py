"""Norse's ``norse.torch.functional.stdp_sensor`` path: simctl's objects."""

from simctl.neurons.stdp_sensor import (  # noqa: F401
    STDPSensorParameters,
    STDPSensorState,
    stdp_sensor_step,
)

__all__ = [
    "STDPSensorParameters",
    "STDPSensorState",
    "stdp_sensor_step",
]
