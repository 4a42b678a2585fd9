"""Norse's ``norse.torch.module.receptive_field`` path: simctl's objects."""

from simctl.neurons.base import (  # noqa: F401
    SNNCell,
)
from simctl.neurons.li_box import (  # noqa: F401
    LIBoxCell,
    LIBoxParameters,
)
from simctl.neurons.receptive_fields import (  # noqa: F401
    ParameterizedSpatialReceptiveField2d,
    SampledSpatialReceptiveField2d,
    SpatialReceptiveField2d,
    TemporalReceptiveField,
    spatial_parameters,
    spatial_receptive_fields_with_derivatives,
    temporal_scale_distribution,
)

__all__ = [
    "LIBoxCell",
    "LIBoxParameters",
    "ParameterizedSpatialReceptiveField2d",
    "SNNCell",
    "SampledSpatialReceptiveField2d",
    "SpatialReceptiveField2d",
    "TemporalReceptiveField",
    "spatial_parameters",
    "spatial_receptive_fields_with_derivatives",
    "temporal_scale_distribution",
]
