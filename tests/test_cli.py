"""The command line in subprocesses: runs, files (README "The HDF5 file"), errors, sweeps."""

from __future__ import annotations

import csv
import json
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest
from conftest import REPO, cli_env, run_cli

ROOT_ATTRS = {
    "format",
    "format_version",
    "simctl_version",
    "created",
    "seed",
    "device",
    "dtype",
    "torch_version",
    "dt",
    "t_stop",
    "complete",
    "config_yaml",
    "choices_json",
}
POP_ATTRS = {"model", "size", "preset", "dt", "t_stop", "parameters_json"}


def check_file(path: Path) -> None:
    """Asserts the layout of README.md "The HDF5 file" for every population of ``path``."""
    with h5py.File(path) as f:
        assert ROOT_ATTRS - {"dt"} <= set(f.attrs)
        assert f.attrs["format"] == "simctl" and f.attrs["format_version"] == 1
        json.loads(f.attrs["choices_json"])
        for name, group in f["populations"].items():
            assert POP_ATTRS <= set(group.attrs)
            dt = group.attrs["dt"]
            ts, ids = f[f"spikes/{name}/timestamps"], f[f"spikes/{name}/node_ids"]
            assert ts.dtype == np.float64 and ts.attrs["units"] == "ms"
            assert f[f"spikes/{name}"].attrs["sorting"] == 2  # SONATA's enum: by_time
            assert ts.attrs["sorting"] == "by_time"
            t = ts[:]
            assert len(t) == len(ids) and np.all(np.diff(t) >= 0)
            steps = t / dt
            assert np.allclose(steps, np.round(steps)) and (len(t) == 0 or steps.min() >= 1)
            assert np.all(ids[:] < group.attrs["size"])
            state = f[f"state/{name}"]
            assert state["time"].dtype == np.float64 and state["time"].attrs["units"] == "ms"
            for var in state:
                if var not in ("time", "node_ids"):
                    ds = state[var]
                    assert (
                        ds.dtype == np.float32
                        and ds.chunks
                        and ds.compression
                        and "units" in ds.attrs
                    )
                    assert ds.shape == (len(state["time"]), len(state["node_ids"]))
            assert f[f"input/{name}/current"].shape[0] == len(state["time"])
            for key in ("spike_count", "rate_hz", "first_spike_ms"):
                assert f[f"summary/{name}/{key}"].shape == (group.attrs["size"],)


def test_bursting_run_inspect_plot_presets(tmp_path):
    run_dir = tmp_path / "run"
    result = run_cli(
        "run", "neuron=izhikevich", "preset=bursting", f"hydra.run.dir={run_dir}", cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    for name in (
        "sim.h5",
        "raster.png",
        "traces.png",
        "simctl.log",
        ".hydra/config.yaml",
        "summary.json",
    ):
        assert (run_dir / name).is_file(), name
    check_file(run_dir / "sim.h5")
    with h5py.File(run_dir / "sim.h5") as f:
        assert f.attrs["complete"] and f.attrs["dt"] == 0.25 and f.attrs["seed"] == 0
        assert json.loads(f.attrs["choices_json"])["preset"] == "bursting"
        assert f["populations/bursting"].attrs["preset"] == "bursting"
        assert f["populations/bursting"].attrs["size"] == 10
        assert f["summary/bursting/spike_count"][:].min() > 10
        # spike convention: the first spike's stored v sample (end of its step) is the reset c
        t0, n0 = f["spikes/bursting/timestamps"][0], f["spikes/bursting/node_ids"][0]
        time_ = f["state/bursting/time"][:]
        k = int(np.nonzero(np.isclose(time_, t0))[0][0])
        assert f["state/bursting/v"][
            k, list(f["state/bursting/node_ids"][:]).index(n0)
        ] == pytest.approx(-50)
    out = run_cli("inspect", str(run_dir / "sim.h5"))
    assert out.returncode == 0 and "bursting" in out.stdout and "complete" in out.stdout
    (run_dir / "raster.png").unlink()
    out = run_cli("plot", str(run_dir / "sim.h5"))
    assert out.returncode == 0 and (run_dir / "raster.png").is_file()
    out = run_cli("presets", "tonic_spiking")
    assert out.returncode == 0 and "Fig. 1(A)" in out.stdout and "0.25" in out.stdout


def test_default_run_is_quick(tmp_path):
    start = time.perf_counter()
    result = run_cli("run", f"hydra.run.dir={tmp_path / 'd'}", "plot.enabled=false", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert time.perf_counter() - start < 30
    check_file(tmp_path / "d" / "sim.h5")


@pytest.mark.parametrize(
    "args", [["run", "--help"], ["run", "--cfg", "job"], ["presets"], ["--help"]]
)
def test_light_commands_do_not_import_torch(args, tmp_path):
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "simctl.cli", *args],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=cli_env(),
        timeout=60,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    imported = {
        line.rsplit("|", 1)[-1].strip() for line in result.stderr.splitlines() if "|" in line
    }
    assert "torch" not in imported and "matplotlib" not in imported
    if args[:2] == ["run", "--help"]:
        assert (
            "simctl" in result.stdout
            and "preset:" in result.stdout
            and "cli is powered" not in result.stdout
        )


BAD = [
    (["neuron=nonesuch"], "neuron=nonesuch"),
    (["neuron.aa=1"], "neuron.aa=1"),
    (["simulation.dt=abc"], "simulation.dt=abc"),
    (["simulation.dt=-0.1"], "simulation.dt=-0.1"),
    (["simulation.duration=0"], "simulation.duration="),
    (["neuron=lif", "preset=tonic_spiking"], "preset=tonic_spiking"),
    (["preset=nonesuch"], "preset=nonesuch"),
    (["simulation.dtype=float16"], "simulation.dtype=float16"),
    (["simulation.device=tpu"], "simulation.device=tpu"),
    (["input=piecewise", "input.segments.0.value=x"], "input.segments[0].value=x"),
    (["+populations.p.preset=nonesuch"], "populations.p.preset=nonesuch"),
    (["hydra.run.dir=/proc/simctl/x"], "hydra.run.dir="),
    (["-m", "input.amplitude=1,x"], "input.amplitude=x"),
    (["simulation.dt=("], "cannot parse"),
    # sweeps the basic sweeper reports with a traceback, or runs as zero jobs and exit 0
    (["-m", "input.amplitude=range(1,5,0)"], "input.amplitude=range(1,5,0): range() arg 3"),
    (["-m", "input.amplitude=range(5,1)"], "input.amplitude=range(5,1): the sweep has no values"),
    (["-m", "preset=glob(zz*)"], "preset=glob(zz*): the sweep has no values"),
    (["-m", "input.amplitude=interval(0,1)"], "cannot run an interval sweep"),
    # Path('') is the working directory: the run would write among the user's files
    (["hydra.run.dir="], "hydra.run.dir='': empty; allowed: a directory"),
    (
        ["-m", "hydra/launcher=batch", "hydra.launcher.max_batch=abc", "input.amplitude=1,2"],
        "hydra.launcher.max_batch=abc: Value 'abc' of type 'str' could not be converted to "
        "Integer; allowed: an integer",
    ),
    (
        ["preset=tonic_spikin"],
        "preset=tonic_spikin: unknown preset option (did you mean tonic_spiking?)",
    ),
    (["input.amplitud=3"], "input.amplitud=3: unknown key (did you mean amplitude?)"),
    # a file outside the preset group (Hydra takes the path), or one without its header
    (["preset=../neuron/lif"], "preset=../neuron/lif: its file is not a preset (it does not"),
    # an option the experiment does not read (a typo would be silently ignored)
    (
        ["experiment=lif_fi_curve", "+experiment.options.transiet=5"],
        "experiment.options.transiet=5: unknown key in experiment.options of "
        "experiment=lif_fi_curve (did you mean transient?); allowed: transient,",
    ),
]


@pytest.mark.parametrize("args, expected", BAD)
def test_bad_inputs_one_line_exit_2(args, expected, tmp_path):
    result = run_cli("run", *args, cwd=tmp_path)
    assert result.returncode == 2, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and expected in lines[0], result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_a_refused_sweep_leaves_no_directory(tmp_path):
    """Hydra's sweeper makes the sweep directory and its multirun.yaml before the jobs are
    validated; a sweep refused there leaves nothing behind (a directory of its own stays)."""
    result = run_cli("run", "-m", "population.size=1,-3", f"hydra.sweep.dir={tmp_path / 's' / 'a'}")
    assert result.returncode == 2 and "population.size=-3: must be >= 1" in result.stderr
    assert not (tmp_path / "s").exists()
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("kept")
    result = run_cli("run", "-m", "population.size=1,-3", f"hydra.sweep.dir={tmp_path / 'mine'}")
    assert result.returncode == 2
    assert sorted(p.name for p in (tmp_path / "mine").iterdir()) == ["multirun.yaml", "notes.txt"]


#: (arguments, text of the one stderr line) for the commands besides ``run``; {tmp} is the
#: test's directory, {junk} a file there that is not HDF5
OTHER_BAD = [
    (["inspct", "{junk}"], "inspct: unknown command (did you mean inspect?); allowed: run"),
    (["presets", "a", "b"], "simctl presets: unrecognized arguments: b; allowed: simctl"),
    (["inspect"], "simctl inspect: the following arguments are required: file; allowed:"),
    (["export", "{junk}", "--to", "csv"], "invalid choice: 'csv' (choose from 'nwb')"),
    (["export", "{junk}"], "the following arguments are required: --to"),
    (["plot", "{junk}", "--format", "gif"], "invalid choice: 'gif' (choose from 'png'"),
    (["inspect", "{tmp}"], "{tmp}: a directory, not a file; allowed: a sim.h5"),
    (["plot", "{junk}", "-o", "/proc/simctl/x"], "-o=/proc/simctl/x: output directory is not"),
    (["export", "{junk}", "--to", "nwb", "-o", "/proc/simctl/x.nwb"], "-o=/proc/simctl/x.nwb:"),
    (["collect", "{tmp}/empty"], "{tmp}/empty: no jobs"),
    (["collect", "{tmp}/single"], "{tmp}/single: a single run's directory, not a sweep"),
    (["collect", "{junk}"], "{junk}: a file, not a directory"),
]


@pytest.mark.parametrize("args, expected", OTHER_BAD)
def test_other_commands_bad_input_is_one_line_exit_2(args, expected, tmp_path):
    """argparse's usage errors, a mistyped command and bad paths of inspect, plot, export and
    collect: simctl's one line (no usage block), exit 2, nothing written."""
    junk = tmp_path / "junk.h5"
    junk.write_bytes(b"not hdf5")
    (tmp_path / "empty").mkdir()
    (tmp_path / "single" / ".hydra").mkdir(parents=True)
    (tmp_path / "single" / ".hydra" / "overrides.yaml").write_text("[]\n")
    args = [a.format(tmp=tmp_path, junk=junk) for a in args]
    before = sorted(tmp_path.rglob("*"))
    result = run_cli(*args, cwd=tmp_path)
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2, result.stderr
    assert len(lines) == 1 and lines[0].startswith("simctl: error: "), result.stderr
    assert expected.format(tmp=tmp_path, junk=junk) in lines[0], lines[0]
    assert "Traceback" not in result.stderr + result.stdout
    assert sorted(tmp_path.rglob("*")) == before


def test_cuda_without_gpu_is_a_config_error(tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    result = run_cli(
        "run", "simulation.device=cuda", f"hydra.run.dir={tmp_path / 'c'}", cwd=tmp_path
    )
    assert result.returncode == 2 and result.stderr.strip().count("\n") == 0
    assert "simulation.device=cuda" in result.stderr


@pytest.mark.parametrize("sig, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_interrupted_run_leaves_a_valid_file(sig, code, tmp_path):
    run_dir = tmp_path / "long"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "simctl.cli",
            "run",
            "simulation.duration=10000000",
            "population.size=50",
            f"hydra.run.dir={run_dir}",
            "simulation.progress=false",
        ],
        cwd=tmp_path,
        env=cli_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.time() + 60
    while time.time() < deadline:
        log = run_dir / "simctl.log"
        if log.is_file() and "simulating" in log.read_text():
            break
        time.sleep(0.2)
    # then until the first blocks are flushed (the kernel may still compile on a fresh cache)
    h5 = run_dir / "sim.h5"
    while time.time() < deadline and (not h5.is_file() or h5.stat().st_size < 200_000):
        time.sleep(0.2)
    proc.send_signal(sig)
    try:
        out, err = proc.communicate(timeout=180)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()  # reap it and close its pipes (no leak into later tests)
    assert proc.returncode == code, err
    with h5py.File(run_dir / "sim.h5") as f:
        assert not f.attrs["complete"]
        assert f["state/izhikevich/v"].shape[0] > 0
        assert f["summary/izhikevich/spike_count"].shape == (50,)
    assert json.loads((run_dir / "summary.json").read_text())["status"] == "interrupted"


def test_sweep_with_a_failing_job_and_collect(tmp_path):
    sweep = tmp_path / "sweep"
    result = run_cli(
        "run",
        "-m",
        "input.amplitude=5,15,1e39",
        "simulation.duration=100",
        "plot.enabled=false",
        f"hydra.sweep.dir={sweep}",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert all((sweep / str(i) / "sim.h5").is_file() for i in range(3))
    out = run_cli("collect", str(sweep))
    assert out.returncode == 0, out.stderr
    with open(sweep / "collect.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert [r["status"] for r in rows] == ["ok", "ok", "failed"]
    assert [float(r["input.amplitude"]) for r in rows] == [5, 15, 1e39]
    assert float(rows[0]["mean_rate_hz:izhikevich"]) < float(rows[1]["mean_rate_hz:izhikevich"])
    assert "NaN or infinite" in rows[2]["error"] and "failed job 2" in out.stdout
    over = rows[2]["overrides"].split()
    assert float(over[0].split("=")[1]) == 1e39 and [o.lower() for o in over[1:]] == [
        "simulation.duration=100",
        "plot.enabled=false",
    ]
    assert f"failed job 2 ({rows[2]['overrides']})" in out.stdout
    assert (sweep / "collect.png").stat().st_size > 5000


def test_joblib_sweep(tmp_path):
    pytest.importorskip("hydra_plugins.hydra_joblib_launcher")
    sweep = tmp_path / "jl"
    result = run_cli(
        "run",
        "-m",
        "hydra/launcher=joblib",
        "hydra.launcher.n_jobs=2",
        "preset=rs,fs",
        "plot.enabled=false",
        f"hydra.sweep.dir={sweep}",
        cwd=tmp_path,
        timeout=240,
    )
    assert result.returncode == 0, result.stderr
    for i in range(2):
        check_file(sweep / str(i) / "sim.h5")


@pytest.mark.slow
def test_non_editable_install_finds_its_configs(tmp_path):
    src = tmp_path / "src"
    shutil.copytree(
        REPO,
        src,
        ignore=shutil.ignore_patterns(
            ".git",
            "outputs",
            "multirun",
            "build",
            "*.egg-info",
            "__pycache__",
            ".pytest_cache",
            "tests",
            "docs",
        ),
    )
    target = tmp_path / "site"
    pip = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--no-deps",
            "--no-build-isolation",
            "--quiet",
            "--target",
            str(target),
            str(src),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert pip.returncode == 0, pip.stderr[-3000:]
    assert (target / "simctl" / "configs" / "preset" / "bursting.yaml").is_file()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = cli_env(PYTHONPATH=str(target))
    where = subprocess.run(
        [sys.executable, "-c", "import simctl; print(simctl.__file__)"],
        cwd=elsewhere,
        env=env,
        capture_output=True,
        text=True,
    )
    assert where.returncode == 0 and where.stdout.startswith(str(target)), where.stderr
    info = run_cli("run", "--info", "searchpath", cwd=elsewhere, env=env)
    assert info.returncode == 0 and "pkg://simctl.configs" in info.stdout, info.stderr
    result = run_cli(
        "run",
        "preset=tonic_spiking",
        "plot.enabled=false",
        f"hydra.run.dir={elsewhere / 'r'}",
        cwd=elsewhere,
        env=env,
    )
    assert result.returncode == 0, result.stderr
    check_file(elsewhere / "r" / "sim.h5")
