"""Configuration: dataclass schemas, validation and the one-line errors of simctl.

:func:`resolve` turns a composed config (plain dict) into a :class:`RunSpec` or raises
:class:`ConfigError`; nothing here imports torch.
"""

from .errors import ConfigError, SimulationError
from .resolve import (
    PopulationSpec,
    RunSpec,
    list_options,
    load_option,
    load_preset,
    package_config_dir,
    resolve,
    search_dirs,
)

__all__ = [
    "ConfigError",
    "SimulationError",
    "PopulationSpec",
    "RunSpec",
    "list_options",
    "load_option",
    "load_preset",
    "package_config_dir",
    "resolve",
    "search_dirs",
]
