"""Norse's ``norse.torch.module.receptive_field`` path: simctl's objects."""

from simctl.neurons.receptive_fields import (  # noqa: F401
    ParameterizedSpatialReceptiveField2d,
    SampledSpatialReceptiveField2d,
    SpatialReceptiveField2d,
    TemporalReceptiveField,
)

__all__ = [
    "ParameterizedSpatialReceptiveField2d",
    "SampledSpatialReceptiveField2d",
    "SpatialReceptiveField2d",
    "TemporalReceptiveField",
]
