"""Hydra launchers beyond the basic one (README "Clusters"), in subprocesses: a submitit_local
sweep and a sweep on a local Ray cluster give the basic launcher's files and numbers; SLURM
without sbatch and a launcher plugin that is not installed are one-line errors."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest
from conftest import cli_env, run_cli

#: a short sweep of two jobs: the second current is larger, so it fires more
SWEEP = ["input.amplitude=6,12", "simulation.duration=200", "plot.enabled=false"]


def one_line_error(result) -> str:
    """The whole stderr of a configuration error: exit 2, one line, no traceback."""
    assert result.returncode == 2, (result.returncode, result.stderr[-2000:])
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr[-2000:]
    assert lines[0].startswith("simctl: error: ")
    return lines[0]


def spikes(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """The spike times and ids of the one population of a complete sim.h5."""
    with h5py.File(path) as f:
        assert f.attrs["complete"]
        (pop,) = list(f["populations"])
        return f[f"spikes/{pop}/timestamps"][:], f[f"spikes/{pop}/node_ids"][:]


def check_sweep(sweep: Path, reference: Path) -> None:
    """Each job's directory as the basic launcher leaves it (sim.h5, .hydra, summary.json),
    each job got its own amplitude, and job 1 is spike for spike the basic launcher's run."""
    counts = []
    for job, amplitude in ((0, 6.0), (1, 12.0)):
        run = sweep / str(job)
        assert (run / ".hydra" / "overrides.yaml").is_file()
        assert json.loads((run / "summary.json").read_text())["status"] == "ok"
        with h5py.File(run / "sim.h5") as f:
            (pop,) = list(f["populations"])
            current = f[f"input/{pop}/current"][:]
        assert current.max() == pytest.approx(amplitude)
        counts.append(len(spikes(run / "sim.h5")[0]))
    assert 0 < counts[0] < counts[1]
    for ours, basic in zip(spikes(sweep / "1" / "sim.h5"), spikes(reference), strict=True):
        np.testing.assert_array_equal(ours, basic)


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    """Job 1 of SWEEP run by the basic launcher (a plain run)."""
    tmp = tmp_path_factory.mktemp("basic")
    args = ["input.amplitude=12", *SWEEP[1:], f"hydra.run.dir={tmp / 'run'}"]
    result = run_cli("run", *args, cwd=tmp)
    assert result.returncode == 0, result.stderr[-2000:]
    return tmp / "run" / "sim.h5"


def test_submitit_local_sweep(tmp_path, reference):
    pytest.importorskip("hydra_plugins.hydra_submitit_launcher")
    sweep = tmp_path / "sweep"
    result = run_cli(
        "run",
        "-m",
        "hydra/launcher=submitit_local",
        *SWEEP,
        f"hydra.sweep.dir={sweep}",
        cwd=tmp_path,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert (sweep / ".submitit").is_dir()  # submitit's own logs: the jobs went through it
    check_sweep(sweep, reference)


#: Ray on one machine, for tests: loopback addresses only (Ray otherwise binds the machine's
#: network address), no usage statistics sent to Ray's authors, no token to share
RAY_ENV = {
    "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",
    "RAY_USAGE_STATS_ENABLED": "0",
    "RAY_AUTH_MODE": "disabled",
}


def ray_sweep(tmp_path: Path, *launcher: str):
    sweep = tmp_path / "sweep"
    result = run_cli(
        "run",
        "-m",
        "hydra/launcher=ray",
        *launcher,
        *SWEEP,
        f"hydra.sweep.dir={sweep}",
        cwd=tmp_path,
        timeout=300,
        env=cli_env(**RAY_ENV),
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Ray Launcher is launching 2 jobs" in result.stdout + result.stderr
    return sweep


@pytest.mark.ray
def test_ray_sweep_starts_a_local_ray(tmp_path, reference):
    pytest.importorskip("hydra_plugins.hydra_ray_launcher")
    init = "hydra.launcher.ray.init"
    sweep = ray_sweep(
        tmp_path,
        f"{init}.address=local",  # a new Ray instance, even where a cluster runs
        f"+{init}.num_cpus=2",
        f"+{init}.include_dashboard=false",
    )
    check_sweep(sweep, reference)


@pytest.mark.ray
def test_ray_sweep_on_a_running_cluster(tmp_path, reference):
    """README's cluster form: a head node started with ``ray start --head``, the sweep sent
    to its address."""
    pytest.importorskip("hydra_plugins.hydra_ray_launcher")
    ray = Path(sys.executable).with_name("ray")
    assert ray.is_file(), "the ray command comes with the ray package"
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    args = ["start", "--head", "--block", "--num-cpus=2", "--include-dashboard=false"]
    head = subprocess.Popen(
        [str(ray), *args, f"--port={port}"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=cli_env(**RAY_ENV),
        cwd=tmp_path,
    )
    try:
        deadline = time.monotonic() + 120
        while True:  # the head's GCS answers on its port
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            assert head.poll() is None and time.monotonic() < deadline, "ray start failed"
            time.sleep(0.5)
        sweep = ray_sweep(
            tmp_path,
            f"hydra.launcher.ray.init.address=127.0.0.1:{port}",
            # the launcher's default object store size is refused by a running cluster
            "+hydra.launcher.ray.init.object_store_memory=null",
        )
    finally:
        head.terminate()  # --block: the head stops its cluster on SIGTERM
        try:
            head.wait(timeout=90)
        except subprocess.TimeoutExpired:
            head.kill()
            head.wait()
    check_sweep(sweep, reference)


@pytest.mark.parametrize("multirun", [["-m", "input.amplitude=1,2"], []])
def test_slurm_launcher_without_sbatch(tmp_path, multirun):
    pytest.importorskip("hydra_plugins.hydra_submitit_launcher")
    bin_dir = tmp_path / "bin"  # a PATH without sbatch (whatever this machine has)
    bin_dir.mkdir()
    result = run_cli(
        "run",
        *multirun,
        "hydra/launcher=submitit_slurm",
        cwd=tmp_path,
        env=cli_env(PATH=str(bin_dir)),
    )
    line = one_line_error(result)
    assert line.startswith("simctl: error: hydra/launcher=submitit_slurm: ")
    assert "SLURM's sbatch was not found" in line
    assert "hydra/launcher=submitit_local" in line and "hydra/launcher=joblib" in line
    assert not (tmp_path / "multirun").exists() and not (tmp_path / "outputs").exists()


#: runs simctl with some of Hydra's plugins hidden, as on a machine without them
HIDE = """
import pkgutil, sys
hidden = sys.argv.pop(1).split(",")
walk = pkgutil.walk_packages
def visible(*args, **kwargs):
    return (m for m in walk(*args, **kwargs) if not any(h in m.name for h in hidden))
pkgutil.walk_packages = visible
from simctl.cli import main
sys.exit(main())
"""


@pytest.mark.parametrize(
    "launcher, hidden, extra",
    [
        ("ray", "hydra_ray_launcher", "simctl[ray]"),
        ("submitit_local", "hydra_submitit_launcher", "simctl[submitit]"),
        ("joblib", "hydra_joblib_launcher", "simctl[joblib]"),
    ],
)
def test_missing_launcher_plugin_names_its_extra(tmp_path, launcher, hidden, extra):
    script = tmp_path / "hide.py"
    script.write_text(HIDE)
    result = subprocess.run(
        [sys.executable, str(script), hidden, "run", "-m", f"hydra/launcher={launcher}"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        env=cli_env(),
    )
    line = one_line_error(result)
    assert line.startswith(f"simctl: error: hydra/launcher={launcher}: ")
    assert "is not installed" in line and f"pip install '{extra}'" in line
    assert "basic" in line.split("or one of", 1)[1]
    assert launcher not in line.split("or one of", 1)[1].split(", ")
