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
def test_configs_that_would_run_code_are_refused_before_hydra_runs(files, args, expected, tmp_path):
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
    (
        ["simulation.dt=${oc.env:SIMCTL_SURELY_UNSET}"],
        "simulation.dt=${oc.env:SIMCTL_SURELY_UNSET}",
    ),
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
        (["simulation.device=cuda"], "simulation.device=cuda: no CUDA device"),
    ],
)
def test_run_time_errors_are_printed_once(args, expected, tmp_path):
    if "simulation.device=cuda" in args:
        import torch

        if torch.cuda.is_available():
            pytest.skip("a GPU is present")
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


@pytest.mark.parametrize("delay", [0.8, 2.0])
def test_ctrl_c_at_start_up(delay, tmp_path):
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "simctl.cli",
            "run",
            f"hydra.run.dir={tmp_path / 'r'}",
            "plot.enabled=false",
            "simulation.duration=10000000",
            "simulation.progress=false",
        ],
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
    assert proc.returncode == 130, (err, out[-1500:])
    assert "Traceback" not in out + err, err


INTERRUPT_IN_PLOTTING = """
import sys
import simctl.plotting

def interrupted(*a, **k):
    raise KeyboardInterrupt  # what Ctrl-C does while the figures are drawn
simctl.plotting.plot_run = interrupted
from simctl.cli import main
sys.exit(main(sys.argv[1:]))
"""


def test_ctrl_c_while_plotting_keeps_the_complete_data(tmp_path):
    run_dir = tmp_path / "r"
    result = subprocess.run(
        [sys.executable, "-c", INTERRUPT_IN_PLOTTING, "run", f"hydra.run.dir={run_dir}"],
        capture_output=True,
        text=True,
        env=cli_env(),
        timeout=120,
    )
    assert result.returncode == 130 and "Traceback" not in result.stderr, result.stderr
    assert "figures skipped" in result.stdout + result.stderr
    with h5py.File(run_dir / "sim.h5") as f:
        assert f.attrs["complete"]
    assert json.loads((run_dir / "summary.json").read_text())["status"] == "ok"


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
    try:
        out, err = proc.communicate(timeout=180)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()  # reap it and close its pipes (no leak into later tests)
    assert proc.returncode == 143, err
    assert "Traceback" not in out + err, err
    with h5py.File(sweep / "0" / "sim.h5") as f:
        assert f.attrs["complete"]
    with h5py.File(sweep / "1" / "sim.h5") as f:
        assert not f.attrs["complete"]
    assert json.loads((sweep / "1" / "summary.json").read_text())["status"] == "interrupted"
    assert not (sweep / "2").exists()


# -- the kernel cache is verified ---------------------------------------------------------------
ADD = "double simctl_add(double a, double b) { return a + b; }\n"
SUB = "double simctl_add(double a, double b) { return a - b; }\n"


LOADER = """
import ctypes, hashlib, importlib.util, json, logging, os, sys
spec = importlib.util.spec_from_file_location("cbuild", sys.argv[1])
cbuild = importlib.util.module_from_spec(spec)
spec.loader.exec_module(cbuild)  # stdlib only: no torch
warnings = []

class Keep(logging.Handler):
    def emit(self, record):
        warnings.append(record.getMessage())

logging.getLogger("simctl.kernels").addHandler(Keep())
if os.environ.get("TEST_UMASK"):
    os.umask(int(os.environ["TEST_UMASK"], 8))
if os.environ.get("TEST_CACHE_LIMIT"):
    cbuild.CACHE_LIMIT_BYTES = int(os.environ["TEST_CACHE_LIMIT"])
try:
    f = cbuild.load_kernel(sys.argv[2], "simctl_add", [ctypes.c_double, ctypes.c_double])
    f.restype = ctypes.c_double
    result = f(2.0, 3.0)
except cbuild.CompileError as error:
    result = f"CompileError: {error}"
parts = [sys.argv[2], cbuild.compiler(), *cbuild.FLAGS, *cbuild._NATIVE, cbuild._cpu_id()]
name = "k_" + hashlib.sha256(chr(0).join(parts).encode()).hexdigest()[:32] + ".so"
private = [str(p) for p in getattr(cbuild, "_private", [])]
print(json.dumps({"result": result, "warnings": warnings, "name": name, "private": private}))
"""


@pytest.fixture
def kernel_cache(tmp_path):
    """``load(source)`` → (a + b at 2, 3 from a fresh process, its warnings, the cache file);
    each load is a new process, as a tampered cache meets the next run."""
    import shutil

    from simctl.kernels import cbuild

    if shutil.which("cc") is None:
        pytest.skip("no C compiler")
    cache = tmp_path / "cache"

    def load(source: str = ADD, cwd: Path = tmp_path, where=None, **extra: str):
        env = cli_env(SIMCTL_CACHE_DIR=str(cache if where is None else where), **extra)
        args = [sys.executable, "-c", LOADER, cbuild.__file__, source]
        done = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, (done.returncode, done.stderr[-2000:])
        out = json.loads(done.stdout)
        return out["result"], out["warnings"], cache / out["name"]

    load.cache = cache
    return load


def recorded_hash_matches(so: Path) -> bool:
    import hashlib

    recorded = so.with_suffix(".sha256").read_text().strip()
    return hashlib.sha256(so.read_bytes()).hexdigest() == recorded


def replace_bytes(path: Path, data: bytes) -> None:
    """``path`` replaced by a new file of ``data`` with the same mode."""
    import os

    tmp = path.with_name(path.name + ".new")
    tmp.write_bytes(data)
    tmp.chmod(path.stat().st_mode)
    os.replace(tmp, path)


def tampered_library(tmp_path: Path) -> bytes:
    """A valid library with the same symbol and the wrong result (a - b)."""
    src, out = tmp_path / "evil.c", tmp_path / "evil.so"
    src.write_text(SUB)
    subprocess.run(["cc", "-shared", "-fPIC", "-o", str(out), str(src)], check=True)
    return out.read_bytes()


@pytest.mark.parametrize("damage", ["tampered", "garbage", "truncated"])
def test_a_bad_cache_entry_is_rebuilt_with_one_warning(damage, kernel_cache, tmp_path):
    result, warnings, so = kernel_cache()
    assert result == 5.0 and warnings == []
    if damage == "tampered":
        replace_bytes(so, tampered_library(tmp_path))
    elif damage == "garbage":
        replace_bytes(so, b"\x7fELF" + bytes(range(256)) * 8)
    else:
        replace_bytes(so, so.read_bytes()[: so.stat().st_size // 2])
    result, warnings, so = kernel_cache()
    assert result == 5.0  # the rebuilt library, never the bad one
    assert len(warnings) == 1 and "rebuilding" in warnings[0], warnings
    assert "do not match the hash" in warnings[0]
    assert recorded_hash_matches(so)
    assert kernel_cache() == (5.0, [], so)  # and then it is trusted again


def test_world_writable_and_foreign_entries_are_rebuilt(kernel_cache):
    import os

    _, _, so = kernel_cache()
    so.chmod(0o777)
    result, warnings, so = kernel_cache()
    assert result == 5.0 and len(warnings) == 1 and "not a private file" in warnings[0]
    assert so.stat().st_mode & 0o022 == 0 and recorded_hash_matches(so)
    if os.getuid() != 0:
        pytest.skip("chown to another user needs root")
    os.chown(so, 12345, 12345)
    result, warnings, so = kernel_cache()
    assert result == 5.0 and len(warnings) == 1 and "not a private file" in warnings[0]
    assert so.stat().st_uid == os.getuid()


def test_cache_directory_is_private_even_under_umask_000(kernel_cache):
    import stat

    result, _, _ = kernel_cache(TEST_UMASK="000")
    assert result == 5.0
    assert stat.S_IMODE(kernel_cache.cache.stat().st_mode) == 0o700
    for path in kernel_cache.cache.iterdir():
        assert path.stat().st_mode & 0o077 == 0, (path, oct(path.stat().st_mode))
    kernel_cache.cache.chmod(0o777)  # made writable by others later: fixed, with a warning
    result, warnings, _ = kernel_cache(ADD + "// again\n")
    assert stat.S_IMODE(kernel_cache.cache.stat().st_mode) == 0o700
    assert result == 5.0 and len(warnings) == 1 and "writable by others" in warnings[0]


def test_a_cache_directory_of_another_user_is_not_used(kernel_cache):
    import os

    if os.getuid() != 0:
        pytest.skip("chown to another user needs root")
    kernel_cache.cache.mkdir(mode=0o755)
    os.chown(kernel_cache.cache, 12345, 12345)
    result, warnings, _ = kernel_cache()
    assert result == 5.0 and list(kernel_cache.cache.iterdir()) == []
    assert len(warnings) == 1 and "belongs to uid 12345" in warnings[0]


def test_cache_size_is_capped(kernel_cache):
    _, _, first = kernel_cache(ADD)
    cap = str(3 * first.stat().st_size)
    for n in range(6):
        _, _, newest = kernel_cache(ADD + f"// {n}\n", TEST_CACHE_LIMIT=cap)
    left = set(kernel_cache.cache.glob("k_*.so"))
    assert newest in left and len(left) <= 3
    assert sum(p.stat().st_size for p in left) <= int(cap)
    assert {p.with_suffix(".sha256") for p in left} == set(kernel_cache.cache.glob("*.sha256"))


def test_cache_dir_may_be_relative(kernel_cache, tmp_path):
    here = tmp_path / "here"
    here.mkdir()
    result, warnings, so = kernel_cache(cwd=here, where=".")
    assert result == 5.0 and warnings == []
    assert list(here.glob("k_*.so")) == [here / so.name]


# -- small ones --------------------------------------------------------------------------------
def test_collect_reports_empty_and_partial_summaries(tmp_path):
    sweep = tmp_path / "sweep"
    result = run_cli(
        "run",
        "-m",
        "input.amplitude=5,6,7",
        "simulation.duration=20",
        "plot.enabled=false",
        f"hydra.sweep.dir={sweep}",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    (sweep / "1" / "summary.json").write_text("")
    text = (sweep / "2" / "summary.json").read_text()
    (sweep / "2" / "summary.json").write_text(text[: len(text) // 2])
    out = run_cli("collect", str(sweep))
    assert out.returncode == 0 and "Traceback" not in out.stderr, out.stderr
    import csv

    with open(sweep / "collect.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert [r["status"] for r in rows] == ["ok", "failed", "failed"]
    assert "summary.json is empty" in rows[1]["error"]
    assert "summary.json is partial" in rows[2]["error"]


def test_distinct_seeds_give_distinct_streams(sim):
    import numpy as np

    def noise(seed: int):
        path = sim("input=noise", f"simulation.seed={seed}", "simulation.duration=20")
        with h5py.File(path) as f:
            (pop,) = list(f["input"])
            return f[f"input/{pop}/current"][:]

    a, b, c = noise(0), noise(2**63 - 1), noise(1)
    assert not np.array_equal(a, b) and not np.array_equal(a, c)
    assert np.array_equal(a, noise(0))


@pytest.fixture
def small_disk(tmp_path):
    """A 2 MiB tmpfs (needs root and CAP_SYS_ADMIN; skipped where it cannot be mounted)."""
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount)], capture_output=True
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({done.stderr.decode().strip()})")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], capture_output=True)


def test_a_full_disk_is_a_one_line_error(small_disk, tmp_path):
    result = run_cli(
        "run",
        f"hydra.run.dir={small_disk / 'r'}",
        "population.size=200",
        "record.neurons=all",
        "simulation.duration=20000",
        "plot.enabled=false",
        "simulation.progress=false",
        cwd=tmp_path,
        timeout=300,
    )
    line = one_error_line(result, 1)  # not a segfault (139), not a traceback
    assert "No space left on device" in line and str(small_disk / "r") in line
