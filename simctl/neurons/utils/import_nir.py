"""Norse's ``norse.torch.utils.import_nir`` path: :func:`simctl.neurons.nir.from_nir`
(``_to_tensor`` is the array conversion it uses, under the name Norse's tests import)."""

from simctl.neurons.nir import _tensor as _to_tensor  # noqa: F401
from simctl.neurons.nir import from_nir  # noqa: F401

__all__ = ["from_nir"]
