"""Norse's ``norse.torch.functional.receptive_field`` path: simctl's objects."""

from simctl.neurons.receptive_fields import (  # noqa: F401
    calculate_normalization,
    covariance_matrix,
    derive_kernel,
    derive_spatial_receptive_field,
    derive_spatial_receptive_field_single,
    gaussian_kernel,
    spatial_parameters,
    spatial_receptive_field,
    spatial_receptive_fields_with_derivatives,
    spatio_temporal_parameters,
    temporal_scale_distribution,
)

__all__ = [
    "calculate_normalization",
    "covariance_matrix",
    "derive_kernel",
    "derive_spatial_receptive_field",
    "derive_spatial_receptive_field_single",
    "gaussian_kernel",
    "spatial_parameters",
    "spatial_receptive_field",
    "spatial_receptive_fields_with_derivatives",
    "spatio_temporal_parameters",
    "temporal_scale_distribution",
]
