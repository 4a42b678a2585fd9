"""Trust: a config never runs code or changes the process, every bad input is one line (exit 2,
printed once), faults end cleanly, and one ``simctl run`` composes and validates once."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import h5py
import pytest
from conftest import cli_env, run_cli

from simctl.config import package_config_dir

RS = (package_config_dir() / "preset" / "rs.yaml").read_text()


def one_error_line(result: subprocess.CompletedProcess, code: int = 2) -> str:
    """The single stderr line of a failed command (and nothing that looks like a traceback)."""
    assert result.returncode == code, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr + result.stdout, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


def write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    return root


# -- configs cannot run code -------------------------------------------------------------------
CALLBACK_PRESET = RS + textwrap.dedent(
    """
    hydra:
      callbacks:
        build:
          _target_: simctl.kernels.cbuild.load_kernel
          source: "void simctl_kernel(void) {}"
    """
)
ENV_PRESET = RS + "\nhydra:\n  job:\n    env_set:\n      CC: /tmp/evil-cc\n"
LOGGING_PRESET = RS + textwrap.dedent(
    """
    hydra:
      job_logging:
        handlers:
          file:
            (): builtins.print
    """
)
LOGGING_CLASS = """\
version: 1
handlers:
  console:
    class: subprocess.Popen
    args: [touch, marker]
root:
  handlers: [console]
"""
EXPERIMENT = """\
# @package _global_
experiment:
  name: evil
  options:
    hook: {_target_: os.getcwd}
populations:
  rs: {preset: rs}
"""

ROUTES = [
    # (files of --config-dir, arguments, text of the one line)
    ({"preset/cb.yaml": CALLBACK_PRESET}, ["preset=cb"], "hydra.callbacks.build="),
    ({"preset/env.yaml": ENV_PRESET}, ["preset=env"], "hydra.job.env_set.CC=/tmp/evil-cc"),
    ({}, ["+hydra.job.env_set.LD_PRELOAD=/tmp/x.so"], "hydra.job.env_set.LD_PRELOAD="),
    ({}, ["++hydra.job.env_set.SIMCTL_CACHE_DIR=/tmp"], "hydra.job.env_set.SIMCTL_CACHE_DIR="),
    ({"preset/log.yaml": LOGGING_PRESET}, ["preset=log"], "hydra.job_logging.handlers.file.()"),
    (
        {"hydra/job_logging/evil.yaml": LOGGING_CLASS},
        ["hydra/job_logging=evil"],
        "hydra.job_logging.handlers.console.class=subprocess.Popen",
    ),
    ({"experiment/evil.yaml": EXPERIMENT}, ["experiment=evil"], "experiment.options.hook._target_"),
    ({}, ["+hydra.callbacks.x._target_=os.getcwd"], "hydra.callbacks.x=os.getcwd"),
    ({}, ["hydra.output_subdir=/tmp/elsewhere"], "hydra.output_subdir=/tmp/elsewhere"),
]


@pytest.mark.parametrize("files, args, expected", ROUTES)
def test_configs_that_would_run_code_are_refused_before_hydra_runs(
    files, args, expected, tmp_path
):
    conf = write(tmp_path / "conf", files)
    conf.mkdir(exist_ok=True)
    cache = tmp_path / "cache"
    run_dir = tmp_path / "run"
    env = cli_env(SIMCTL_CACHE_DIR=str(cache))
    result = run_cli(
        "run",
        "--config-dir",
        str(conf),
        *args,
        f"hydra.run.dir={run_dir}",
        "plot.enabled=false",
        cwd=tmp_path,
        env=env,
    )
    line = one_error_line(result)
    assert expected in line and "cannot run code" in line, line
    assert not run_dir.exists()  # nothing ran: no run directory, no log, no .hydra
    assert not cache.exists() or not list(cache.iterdir())  # no kernel was compiled
    assert not (tmp_path / "marker").exists()


def test_cfg_and_help_refuse_them_too(tmp_path):
    conf = write(tmp_path / "conf", {"preset/cb.yaml": CALLBACK_PRESET})
    for flag in (["--cfg", "job"], ["--help"]):
        result = run_cli("run", "--config-dir", str(conf), "preset=cb", *flag, cwd=tmp_path)
        assert "hydra.callbacks.build" in one_error_line(result)


def test_env_copy_of_the_real_environment_is_allowed(tmp_path):
    result = run_cli(
        "run",
        "hydra.job.env_copy=[HOME]",
        f"hydra.run.dir={tmp_path / 'r'}",
        "plot.enabled=false",
        "simulation.duration=5",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr


def test_experimental_rerun_is_refused(tmp_path):
    pickle = tmp_path / "config.pickle"
    pickle.write_bytes(b"\x80\x04N.")
    line = one_error_line(run_cli("run", "--experimental-rerun", str(pickle), cwd=tmp_path))
    assert line.startswith("simctl: error: --experimental-rerun=") and "unpickles" in line


# -- no traceback paths -----------------------------------------------------------------------
BAD = [
    (["simulation.dt=${oc.env:SIMCTL_SURELY_UNSET}"], "simulation.dt=${oc.env:SIMCTL_SURELY_UNSET}"),
    (["simulation.dt=${nosuchresolver:1}"], "Unsupported interpolation type nosuchresolver"),
    (["simulation.dt=${simulation.nokey}"], "Interpolation key 'simulation.nokey' not found"),
    (["hydra.run.dir=${oc.env:SIMCTL_SURELY_UNSET}"], "hydra.run.dir=${oc.env:"),
    (["hydra.job.nokey=1"], "hydra.job.nokey=1: unknown key; allowed: name"),
    (["hydra.run.dir=["], "cannot parse the override"),
    (["hydra/launcher=nonesuch"], "hydra/launcher=nonesuch: unknown hydra/launcher option"),
    (["experiment=lif_fi_curve", "experiment.options.transient=abc"], "transient=abc: expected"),
    (["plot.dpi=100000"], "plot.dpi=100000"),
]


@pytest.mark.parametrize("args, expected", BAD)
def test_bad_values_are_one_line(args, expected, tmp_path):
    if not any(a.startswith("hydra.run.dir") for a in args):
        args = [*args, f"hydra.run.dir={tmp_path / 'r'}"]
    assert expected in one_error_line(run_cli("run", *args, cwd=tmp_path))


def test_broken_yaml_names_the_file_and_line(tmp_path):
    conf = write(tmp_path / "conf", {"preset/broken.yaml": "a: [1,\nb: 2\n"})
    for route in ("preset=broken", "+populations.p.preset=broken"):
        result = run_cli("run", "--config-dir", str(conf), route, cwd=tmp_path)
        line = one_error_line(result)
        assert f"{conf / 'preset' / 'broken.yaml'}:3: broken YAML" in line, line


def test_config_dir_among_the_overrides(tmp_path):
    conf = write(tmp_path / "conf", {"preset/mine.yaml": RS})
    result = run_cli(
        "run",
        "simulation.duration=20",
        "--config-dir",
        str(conf),
        "preset=mine",
        f"hydra.run.dir={tmp_path / 'r'}",
        "plot.enabled=false",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    with h5py.File(tmp_path / "r" / "sim.h5") as f:
        pop = f["populations/rs"].attrs
        assert f.attrs["complete"] and 20 <= pop["t_stop"] <= 20 + pop["dt"]
    result = run_cli("run", "--config-dir", str(tmp_path / "nope"), cwd=tmp_path)
    assert "--config-dir=" in one_error_line(result)


def test_slurm_launcher_without_slurm(tmp_path):
    launcher = "hydra_plugins.hydra_submitit_launcher.submitit_launcher.SlurmLauncher"
    conf = write(tmp_path / "conf", {"hydra/launcher/slurm.yaml": f"_target_: {launcher}\n"})
    env = cli_env(PATH="/usr/bin:/bin")
    if subprocess.run(["sh", "-c", "command -v sbatch"], env=env).returncode == 0:
        pytest.skip("SLURM is installed here")
    result = run_cli(
        "run", "-m", "--config-dir", str(conf), "hydra/launcher=slurm", cwd=tmp_path, env=env
    )
    assert "hydra/launcher=slurm: SLURM is not available" in one_error_line(result)


def test_unknown_kernel_backend(tmp_path):
    result = run_cli("run", cwd=tmp_path, env=cli_env(SIMCTL_KERNELS="fastest"))
    assert "SIMCTL_KERNELS=fastest" in one_error_line(result)
    from simctl.cli import KERNEL_CHOICES
    from simctl.kernels import BACKENDS

    assert KERNEL_CHOICES == BACKENDS


@pytest.mark.parametrize(
    "args, expected",
    [
        (["record.variables=[zz]"], "record.variables=zz: not a variable"),
        (["input.amplitude=1e39", "simulation.duration=50"], "NaN or infinite"),
    ],
)
def test_run_time_errors_are_printed_once(args, expected, tmp_path):
    run_dir = tmp_path / "r"
    result = run_cli("run", *args, f"hydra.run.dir={run_dir}", "plot.enabled=false", cwd=tmp_path)
    assert result.returncode in (1, 2)
    assert expected in one_error_line(result, result.returncode)
    assert (result.stdout + result.stderr).count(expected) == 1
    assert expected in (run_dir / "simctl.log").read_text()  # the log keeps it


def test_inspect_of_a_malformed_file(tmp_path):
    path = tmp_path / "half.h5"
    with h5py.File(path, "w") as f:
        f.attrs["format"] = "simctl"
        f.create_group("populations/x")
    line = one_error_line(run_cli("inspect", str(path)))
    assert line.startswith(f"simctl: error: {path}: cannot read")


# -- resolve once ------------------------------------------------------------------------------
COUNTING = """
import sys
from hydra._internal.config_loader_impl import ConfigLoaderImpl
import simctl.config as config

counts = {"compose": 0, "resolve": 0}
compose, resolve = ConfigLoaderImpl._load_configuration_impl, config.resolve

def counted_compose(*a, **k):
    counts["compose"] += 1
    return compose(*a, **k)

def counted_resolve(*a, **k):
    counts["resolve"] += 1
    return resolve(*a, **k)

ConfigLoaderImpl._load_configuration_impl = counted_compose
config.resolve = counted_resolve
from simctl.cli import main
try:
    code = main(sys.argv[1:])
finally:
    print("COUNTS", counts["compose"], counts["resolve"], file=sys.stderr)
sys.exit(code)
"""


def counted_run(tmp_path: Path, *args: str) -> tuple[int, int]:
    result = subprocess.run(
        [sys.executable, "-c", COUNTING, "run", *args, "plot.enabled=false"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=cli_env(),
        timeout=180,
    )
    assert result.returncode == 0, result.stderr
    line = [x for x in result.stderr.splitlines() if x.startswith("COUNTS")][-1]
    return int(line.split()[1]), int(line.split()[2])


def test_one_composition_and_one_validation_per_job(tmp_path):
    run_dir = tmp_path / "r"
    assert counted_run(tmp_path, "preset=rs", f"hydra.run.dir={run_dir}") == (1, 1)
    assert h5py.File(run_dir / "sim.h5")["populations/rs"].attrs["model"] == "izhikevich"
    # a sweep: the sweep's own composition, then one per job (Hydra's batch check and the
    # launch share it); every job is validated once, all of them before the first runs
    sweep = tmp_path / "s"
    args = ("-m", "input.amplitude=5,10,15", "simulation.duration=20", f"hydra.sweep.dir={sweep}")
    assert counted_run(tmp_path, *args) == (1 + 3, 3)
    for job in range(3):
        info = json.loads((sweep / str(job) / "summary.json").read_text())
        assert info["status"] == "ok"


# -- clean faults ------------------------------------------------------------------------------
INTERRUPT_IN_COMPOSITION = """
import sys
from hydra._internal.config_loader_impl import ConfigLoaderImpl

def interrupted(*a, **k):
    raise KeyboardInterrupt  # what Ctrl-C does while Hydra composes
ConfigLoaderImpl._load_configuration_impl = interrupted
from simctl.cli import main
sys.exit(main(sys.argv[1:]))
"""


def test_ctrl_c_while_composing_is_one_line(tmp_path):
    result = subprocess.run(
        [sys.executable, "-c", INTERRUPT_IN_COMPOSITION, "run", f"hydra.run.dir={tmp_path}/r"],
        capture_output=True,
        text=True,
        env=cli_env(),
        timeout=60,
    )
    assert "interrupted (Ctrl-C)" in one_error_line(result, 130)


@pytest.mark.parametrize("delay", [0.4, 1.0])
def test_ctrl_c_at_start_up(delay, tmp_path):
    proc = subprocess.Popen(
        [sys.executable, "-m", "simctl.cli", "run", f"hydra.run.dir={tmp_path / 'r'}"],
        cwd=tmp_path,
        env=cli_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    time.sleep(delay)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    if proc.returncode == 0:
        pytest.skip("the run finished before the signal")
    assert proc.returncode == 130, err
    assert "Traceback" not in out + err, err


def test_sigterm_during_a_sweep_keeps_the_finished_jobs(tmp_path):
    sweep = tmp_path / "sweep"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "simctl.cli",
            "run",
            "-m",
            "simulation.duration=50,10000000,50",
            "plot.enabled=false",
            "simulation.progress=false",
            f"hydra.sweep.dir={sweep}",
        ],
        cwd=tmp_path,
        env=cli_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.time() + 90
    log = sweep / "1" / "simctl.log"
    while time.time() < deadline and not (log.is_file() and "simulating" in log.read_text()):
        time.sleep(0.2)
    time.sleep(1.0)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, err
    assert "Traceback" not in out + err, err
    with h5py.File(sweep / "0" / "sim.h5") as f:
        assert f.attrs["complete"]
    with h5py.File(sweep / "1" / "sim.h5") as f:
        assert not f.attrs["complete"]
    assert json.loads((sweep / "1" / "summary.json").read_text())["status"] == "interrupted"
    assert not (sweep / "2").exists()
