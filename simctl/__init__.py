"""simctl: a command-line simulator of spiking neurons on PyTorch.

The neuron library lives in :mod:`simctl.neurons`; the command line in :mod:`simctl.cli`.
This module imports nothing heavy, so ``simctl --help`` stays fast.
"""

__version__ = "0.1.0"


def run(overrides=(), run_dir=None, config_dir=None):  # noqa: ANN001, ANN201 - see simctl.api
    """Runs ``simctl run OVERRIDES`` in this process: :func:`simctl.api.run`."""
    from simctl.api import run as _run

    return _run(overrides, run_dir=run_dir, config_dir=config_dir)
