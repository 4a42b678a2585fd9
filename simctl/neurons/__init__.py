"""simctl's neuron library: the system the Norse documentation describes, written anew.

Every public name is importable from here: base classes, thresholds, each model's
Parameters/State types, step functions and modules, encoders, containers, ``LConv2d``, the
receptive fields, the spike-time decoder, the plasticity sensors (correlation, STDP,
Tsodyks–Markram, ``LIFCorrelation``) and the logical gates. Model files follow one pattern
(see ``lif.py``): Parameters and State NamedTuples, pure step functions
``(input, state, p, dt) -> (out, state)``, thin modules on the bases of
:mod:`simctl.neurons.base`, and one ``MODEL`` description for simulators.
"""

from .adjoint import *  # noqa: F403
from .base import *  # noqa: F403
from .coba_lif import *  # noqa: F403
from .containers import *  # noqa: F403
from .conv import *  # noqa: F403
from .correlation_sensor import *  # noqa: F403
from .decode import *  # noqa: F403
from .encoders import *  # noqa: F403
from .exp_filter import *  # noqa: F403
from .iaf import *  # noqa: F403
from .izhikevich import *  # noqa: F403
from .li import *  # noqa: F403
from .li_box import *  # noqa: F403
from .lif import *  # noqa: F403
from .lif_adex import *  # noqa: F403
from .lif_adex_refrac import *  # noqa: F403
from .lif_box import *  # noqa: F403
from .lif_correlation import *  # noqa: F403
from .lif_ex import *  # noqa: F403
from .lif_mc import *  # noqa: F403
from .lif_mc_refrac import *  # noqa: F403
from .lif_refrac import *  # noqa: F403
from .logical import *  # noqa: F403
from .lsnn import *  # noqa: F403
from .nir import *  # noqa: F403
from .receptive_fields import *  # noqa: F403
from .stdp import *  # noqa: F403
from .stdp_sensor import *  # noqa: F403
from .threshold import *  # noqa: F403
from .tsodyks_makram import *  # noqa: F403

#: model files, in the order the registry lists them (each defines ``MODEL``)
MODEL_MODULES = (
    "iaf",
    "izhikevich",
    "li",
    "li_box",
    "lif",
    "lif_box",
    "coba_lif",
    "lif_adex",
    "lif_adex_refrac",
    "lif_ex",
    "lif_refrac",
    "lif_mc",
    "lif_mc_refrac",
    "lsnn",
)


def _public_names() -> list[str]:
    import importlib

    modules = (
        "base",
        "threshold",
        *MODEL_MODULES,
        "encoders",
        "containers",
        "conv",
        "receptive_fields",
        "decode",
        "exp_filter",
        "correlation_sensor",
        "lif_correlation",
        "stdp_sensor",
        "tsodyks_makram",
        "logical",
        "nir",
        "stdp",
        "adjoint",
    )
    names: set[str] = set()
    for module in modules:
        names.update(importlib.import_module(f"{__name__}.{module}").__all__)
    return sorted(names)


__all__ = _public_names()
