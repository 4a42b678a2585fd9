"""Norse's ``norse.torch.module.encode`` path: simctl's objects."""

from simctl.neurons.encoders import (  # noqa: F401
    ConstantCurrentLIFEncoder,
    PoissonEncoder,
    PoissonEncoderStep,
    PopulationEncoder,
    SignedPoissonEncoder,
    SignedPoissonEncoderStep,
    SpikeLatencyEncoder,
    SpikeLatencyLIFEncoder,
)

__all__ = [
    "ConstantCurrentLIFEncoder",
    "PoissonEncoder",
    "PoissonEncoderStep",
    "PopulationEncoder",
    "SignedPoissonEncoder",
    "SignedPoissonEncoderStep",
    "SpikeLatencyEncoder",
    "SpikeLatencyLIFEncoder",
]
