"""Shared helpers: compose configs in-process, run the CLI in a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

os.environ.setdefault("MPLBACKEND", "Agg")

REPO = Path(__file__).resolve().parents[1]


def cli_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("HYDRA_FULL_ERROR", None)
    env["MPLBACKEND"] = "Agg"
    env.update(extra)
    return env


def run_cli(
    *args: str,
    cwd: Path | None = None,
    timeout: float = 120,
    env: dict | None = None,
    python: str = sys.executable,
) -> subprocess.CompletedProcess:
    """``simctl ARGS`` in a subprocess (``python -m simctl.cli``), text output captured."""
    return subprocess.run(
        [python, "-m", "simctl.cli", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env or cli_env(),
    )


def compose_cfg(*overrides: str):
    """The composed config for ``overrides`` (compose API; no Hydra runtime)."""
    from hydra import compose, initialize_config_module

    with initialize_config_module("simctl.configs", version_base="1.3"):
        return compose("config", overrides=list(overrides))


def resolve_overrides(*overrides: str):
    from omegaconf import OmegaConf

    from simctl.config import resolve

    cfg = compose_cfg(*overrides)
    choices = {
        k: v
        for k, _, v in (o.partition("=") for o in overrides)
        if k in ("preset", "neuron", "input")
    }
    return resolve(OmegaConf.to_container(cfg, resolve=True), None, choices)


def simulate(tmp_path: Path, *overrides: str, plot: bool = False) -> Path:
    """Runs a config in-process into ``tmp_path``; returns sim.h5's path."""
    from simctl.app import simulate as _simulate

    ov = list(overrides)
    if not plot:
        ov.append("plot.enabled=false")
    cfg = compose_cfg(*ov)
    choices = {
        k: v for k, _, v in (o.partition("=") for o in ov) if k in ("preset", "neuron", "input")
    }
    return _simulate(cfg, tmp_path, choices, config_dirs=[])


@pytest.fixture
def sim(tmp_path):
    """``sim(*overrides)`` → path of a fresh in-process run's sim.h5."""
    counter = iter(range(10_000))

    def _run(*overrides: str, plot: bool = False) -> Path:
        return simulate(tmp_path / f"run{next(counter)}", *overrides, plot=plot)

    return _run
