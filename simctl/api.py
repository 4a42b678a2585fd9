"""simctl from Python (a notebook, a script): the same configs as ``simctl run``.

    >>> import simctl
    >>> result = simctl.run(["neuron=lif", "input=constant", "simulation.duration=200"])
    >>> result.summary["populations"][0]["mean_rate_hz"] > 0  # doctest: +SKIP
    True

The overrides are Hydra's, composed with Hydra's compose API from the configs shipped in the
package (plus ``config_dir``, like ``--config-dir``), validated exactly as ``simctl run`` does,
and simulated in this process; the run directory holds what ``simctl run`` leaves there
(``sim.h5``, ``summary.json``, the figures unless ``plot.enabled=false``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

__all__ = ["RunResult", "run"]


@dataclass
class RunResult:
    """What :func:`run` returns: where the run went and what ``summary.json`` says."""

    run_dir: Path
    h5_path: Path
    summary: dict[str, Any]

    def load(self, **kwargs: Any) -> Any:
        """The run read back (:func:`simctl.recording.load_run`)."""
        from simctl.recording import load_run

        return load_run(self.h5_path, **kwargs)


def run(
    overrides: list[str] | tuple[str, ...] = (),
    run_dir: str | Path | None = None,
    config_dir: str | Path | None = None,
) -> RunResult:
    """Runs one configuration (no sweeps: loop over ``run`` for those) and returns its
    :class:`RunResult`. ``run_dir`` defaults to ``outputs/<date>/<time>`` as on the command
    line; a bad config raises :class:`simctl.config.ConfigError` with the CLI's one-line
    message (``error.line()``)."""
    from hydra import compose, initialize_config_dir, initialize_config_module

    from simctl.app import simulate
    from simctl.config.resolve import package_config_dir

    overrides = [str(o) for o in overrides]
    if run_dir is None:
        run_dir = Path("outputs") / datetime.now().strftime("%Y-%m-%d/%H-%M-%S-%f")
    run_dir = Path(run_dir)
    extra = [str(Path(config_dir).resolve())] if config_dir else []
    if config_dir:
        context = initialize_config_dir(str(package_config_dir()), version_base="1.3")
        overrides = [*overrides, f"hydra.searchpath=[file://{extra[0]}]"]
    else:
        context = initialize_config_module("simctl.configs", version_base="1.3")
    with context:
        full = compose("config", overrides=overrides, return_hydra_config=True)
        choices = {
            k: v for k, v in full.hydra.runtime.choices.items() if not k.startswith("hydra/")
        }
        cfg = compose("config", overrides=overrides)
    h5_path = simulate(cfg, run_dir, choices, config_dirs=extra)
    summary = json.loads((run_dir / "summary.json").read_text())
    return RunResult(run_dir=run_dir, h5_path=h5_path, summary=summary)
