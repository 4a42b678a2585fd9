"""``simctl run -m hydra/launcher=batch …``: the jobs of a sweep as one simulation.

Hydra imports every module of the ``hydra_plugins`` namespace package when it starts, so this
one stays light (no torch): it registers the launcher's config (``hydra/launcher=batch``,
whose ``_target_`` is this module's :class:`BatchLauncher`, a fixed entry and no user string)
and hands the sweep to :mod:`._core` when Hydra launches it.

Jobs that differ only in values that can lie on the neuron axis run as one population, each
job a contiguous block of neurons; each job's directory then holds exactly what the basic
launcher leaves there. Which values batch, and why the others cannot, is in :mod:`._core`.
The jobs that differ only in values are composed once per set of group choices (simctl's
composition guard hands the sweep's compositions to :mod:`._compose`), and their Hydra
bookkeeping (``.hydra/``, the job's log) is written without Hydra's repeated copies.

Options (``hydra.launcher.*``):

* ``max_batch`` (default 256): at most this many jobs in one simulation (each batch holds its
  jobs' ``sim.h5`` files open together).
"""

import logging
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hydra.core.config_store import ConfigStore
from hydra.core.utils import JobReturn, configure_log, setup_globals
from hydra.plugins.launcher import Launcher
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig

log = logging.getLogger(__name__)


@dataclass
class BatchLauncherConf:
    _target_: str = "hydra_plugins.simctl_batch_launcher.batch_launcher.BatchLauncher"
    #: at most this many jobs in one simulation
    max_batch: int = 256


ConfigStore.instance().store(
    group="hydra/launcher", name="batch", node=BatchLauncherConf, provider="simctl"
)


class BatchLauncher(Launcher):
    """Runs a sweep's batchable jobs as one simulation, the others one by one."""

    def __init__(self, max_batch: int = 256) -> None:
        super().__init__()
        self.max_batch = max_batch
        self.config: DictConfig | None = None
        self.task_function: TaskFunction | None = None
        self.hydra_context: HydraContext | None = None

    def setup(
        self,
        *,
        hydra_context: HydraContext,
        task_function: TaskFunction,
        config: DictConfig,
    ) -> None:
        self.config = config
        self.hydra_context = hydra_context
        self.task_function = task_function

    def launch(
        self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int
    ) -> Sequence[JobReturn]:
        setup_globals()
        assert self.hydra_context is not None
        assert self.config is not None
        assert self.task_function is not None
        if isinstance(self.max_batch, bool) or not isinstance(self.max_batch, int):
            _refuse(f"hydra.launcher.max_batch={self.max_batch}: not a whole number of jobs")
        if self.max_batch < 1:
            _refuse(f"hydra.launcher.max_batch={self.max_batch}: must be at least 1")
        configure_log(self.config.hydra.hydra_logging, self.config.hydra.verbose)
        Path(str(self.config.hydra.sweep.dir)).mkdir(parents=True, exist_ok=True)
        log.info(
            f"Launching {len(job_overrides)} jobs locally, as batches of jobs that differ "
            "only in values on the neuron axis"
        )
        from ._core import launch

        return launch(self, [list(o) for o in job_overrides], initial_job_idx)


def _refuse(message: str) -> Any:
    print(f"simctl: error: {message}; allowed: a whole number of jobs >= 1", file=sys.stderr)
    sys.exit(2)
