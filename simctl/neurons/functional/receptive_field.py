"""Norse's ``norse.torch.functional.receptive_field`` path: simctl's objects."""

from simctl.neurons.receptive_fields import (  # noqa: F401
    covariance_matrix,
    gaussian_kernel,
    spatial_parameters,
    spatial_receptive_field,
    spatial_receptive_fields_with_derivatives,
    temporal_scale_distribution,
)

__all__ = [
    "covariance_matrix",
    "gaussian_kernel",
    "spatial_parameters",
    "spatial_receptive_field",
    "spatial_receptive_fields_with_derivatives",
    "temporal_scale_distribution",
]
