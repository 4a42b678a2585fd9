"""Norse's ``norse.torch.functional.encode`` path: simctl's objects."""

from simctl.neurons.encoders import (  # noqa: F401
    constant_current_lif_encode,
    euclidean_distance,
    gaussian_rbf,
    poisson_encode,
    poisson_encode_step,
    population_encode,
    signed_poisson_encode,
    signed_poisson_encode_step,
    spike_latency_encode,
    spike_latency_lif_encode,
)
from simctl.neurons.lif import (  # noqa: F401
    LIFParameters,
    lif_current_encoder,
)

__all__ = [
    "LIFParameters",
    "constant_current_lif_encode",
    "euclidean_distance",
    "gaussian_rbf",
    "lif_current_encoder",
    "poisson_encode",
    "poisson_encode_step",
    "population_encode",
    "signed_poisson_encode",
    "signed_poisson_encode_step",
    "spike_latency_encode",
    "spike_latency_lif_encode",
]
