"""simctl: a command-line simulator of spiking neurons on PyTorch.

The neuron library lives in :mod:`simctl.neurons`; the command line in :mod:`simctl.cli`.
This module imports nothing heavy, so ``simctl --help`` stays fast.
"""

__version__ = "0.1.0"
