"""Norse's ``norse.torch.functional.tsodyks_makram`` path: simctl's objects."""

from simctl.neurons.tsodyks_makram import (  # noqa: F401
    TsodyksMakramParameters,
    TsodyksMakramState,
    stp_step,
)

__all__ = [
    "TsodyksMakramParameters",
    "TsodyksMakramState",
    "stp_step",
]
