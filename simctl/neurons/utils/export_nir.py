"""Norse's ``norse.torch.utils.export_nir`` path: :func:`simctl.neurons.nir.to_nir`."""

from simctl.neurons.nir import to_nir  # noqa: F401

__all__ = ["to_nir"]
