"""``simctl run -m hydra/launcher=batch``: a sweep as one simulation, each job's files as the
basic launcher leaves them (spikes and traces bit-identical, own node ids, ``.hydra/``,
``summary.json``, figures), and jobs that cannot share a batch run one by one with the reason."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import h5py
import numpy as np
import pytest

from tests.conftest import run_cli

pytestmark = pytest.mark.slow

#: attributes that differ between any two runs of the same config (the wall-clock time)
VOLATILE = {"created"}


def _sweep(tmp_path: Path, name: str, *overrides: str, launcher: str = "basic"):
    out = tmp_path / name
    result = run_cli(
        "run",
        "-m",
        f"hydra/launcher={launcher}",
        *overrides,
        f"hydra.sweep.dir={out}",
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return out, result.stdout + result.stderr


def _jobs(sweep_dir: Path) -> list[Path]:
    return sorted((p for p in sweep_dir.iterdir() if p.name.isdigit()), key=lambda p: int(p.name))


def _attrs(node) -> dict:
    return {k: v for k, v in node.attrs.items() if k not in VOLATILE}


def _same_attrs(a: dict, b: dict, where: str) -> None:
    assert a.keys() == b.keys(), where
    for key in a:
        va, vb = a[key], b[key]
        if isinstance(va, np.ndarray):
            assert va.dtype == vb.dtype and np.array_equal(va, vb, equal_nan=True), (where, key)
        elif isinstance(va, float) and np.isnan(va):
            assert np.isnan(vb), (where, key)
        else:
            assert va == vb, (where, key, va, vb)


def assert_same_file(a: Path, b: Path) -> None:
    """Every group, dataset (values, dtype, shape) and attribute of ``a`` is ``b``'s."""
    with h5py.File(a, "r") as fa, h5py.File(b, "r") as fb:
        names_a, names_b = [], []
        fa.visit(names_a.append)
        fb.visit(names_b.append)
        assert names_a == names_b
        _same_attrs(_attrs(fa), _attrs(fb), "/")
        for name in names_a:
            oa, ob = fa[name], fb[name]
            _same_attrs(_attrs(oa), _attrs(ob), name)
            if isinstance(oa, h5py.Dataset):
                va, vb = oa[()], ob[()]
                assert oa.dtype == ob.dtype and oa.shape == ob.shape, name
                # bit for bit: the bytes, not a tolerance
                assert np.asarray(va).tobytes() == np.asarray(vb).tobytes(), name


def _tree(job: Path) -> list[str]:
    return sorted(
        str(p.relative_to(job)) for p in job.rglob("*") if p.is_file() and p.name != ".simctl.lock"
    )


def _compare_sweeps(basic: Path, batch: Path) -> None:
    jobs_a, jobs_b = _jobs(basic), _jobs(batch)
    assert [j.name for j in jobs_a] == [j.name for j in jobs_b]
    for ja, jb in zip(jobs_a, jobs_b, strict=True):
        assert _tree(ja) == _tree(jb), ja.name
        assert_same_file(ja / "sim.h5", jb / "sim.h5")
        for name in ("config.yaml", "overrides.yaml"):
            assert (ja / ".hydra" / name).read_text() == (jb / ".hydra" / name).read_text()
        sa, sb = (json.loads((j / "summary.json").read_text()) for j in (ja, jb))
        assert sa == sb, ja.name


def test_a_sweep_over_a_parameter_an_amplitude_and_an_initial_state_is_one_simulation(tmp_path):
    """8 jobs (Izhikevich ``d`` × ``input.amplitude`` × initial ``v``), 3 neurons each: one
    simulation of 24 neurons, each job's files identical to the basic launcher's."""
    sweep = (
        "neuron.d=6,8",
        "input.amplitude=10,14",
        "+population.initial_state.v=-70,-60",
        "population.size=3",
        "record.neurons=all",
        "simulation.duration=150",
    )
    basic, _ = _sweep(tmp_path, "basic", *sweep)
    batch, out = _sweep(tmp_path, "batch", *sweep, launcher="batch")
    assert "jobs #0-#7: one simulation of 24 x izhikevich" in out
    assert "one by one" not in out and "on its own" not in out
    _compare_sweeps(basic, batch)
    job = _jobs(batch)[3]
    assert (job / "raster.png").is_file() and (job / "traces.png").is_file()
    assert "simulated in one batch with jobs #0-#7" in (job / "simctl.log").read_text()
    with h5py.File(job / "sim.h5", "r") as f:
        ids = f["spikes/izhikevich/node_ids"][()]
        assert ids.size and set(ids.tolist()) <= {0, 1, 2}  # the job's own ids, not the batch's
        assert f["state/izhikevich/v"].shape[1] == 3
        spikes = f["summary/izhikevich/spike_count"][()]
    # the jobs really differ (else the test could not tell one job's data from another's)
    counts = set()
    for j in _jobs(batch):
        with h5py.File(j / "sim.h5", "r") as f:
            counts.add(f["spikes/izhikevich/timestamps"][()].tobytes())
    assert len(counts) == 8 and spikes.sum() > 0


def test_noise_and_seeds_draw_from_each_jobs_own_stream(tmp_path):
    """White-noise input with different seeds and means: each job's draws are a lone run's."""
    sweep = (
        "input=noise",
        "input.mean=4,6",
        "input.std=3",
        "simulation.seed=1,2",
        "population.size=4",
        "simulation.duration=100",
        "plot.enabled=false",
    )
    basic, _ = _sweep(tmp_path, "basic", *sweep)
    batch, out = _sweep(tmp_path, "batch", *sweep, launcher="batch")
    assert "jobs #0-#3: one simulation of 16 x izhikevich" in out
    _compare_sweeps(basic, batch)
    with (
        h5py.File(_jobs(batch)[0] / "sim.h5", "r") as f0,
        h5py.File(_jobs(batch)[1] / "sim.h5", "r") as f1,
    ):
        # seeds 1 and 2 (same mean): different noise
        assert not np.array_equal(f0["input/izhikevich/current"], f1["input/izhikevich/current"])


def test_jobs_that_cannot_share_a_batch_run_one_by_one_and_say_why(tmp_path):
    """``simulation.dt`` differs: the job runs on its own, the key named. Izhikevich's step
    multiplies ``a`` by dt in Python (double precision) before it meets the state, and a
    per-neuron ``a`` would round that product in float32: at dt = 0.1, ``a`` = 0.1 and 0.017
    the two differ in the last bit and the traces by up to 1e-4 (measured), so jobs that
    differ in ``a`` are apart too. Another model is its own batch. Every job's file is the
    basic launcher's."""
    sweep = (
        "neuron.a=0.1,0.017",
        "simulation.dt=0.1,0.2",
        "simulation.duration=100",
        "plot.enabled=false",
    )
    basic, _ = _sweep(tmp_path, "basic", *sweep)
    batch, out = _sweep(tmp_path, "batch", *sweep, launcher="batch")
    assert "job #1 runs on its own: simulation.dt differs from job #0 (0.2 here, 0.1 there)" in out
    assert "job #2 runs on its own: neuron.a: the step combines it with other numbers" in out
    assert "one simulation" not in out
    _compare_sweeps(basic, batch)

    models = ("neuron=izhikevich,lif", "simulation.duration=100", "plot.enabled=false")
    basic, _ = _sweep(tmp_path, "basic_models", *models)
    batch, out = _sweep(tmp_path, "batch_models", *models, launcher="batch")
    assert "job #1 runs on its own: neuron differs from job #0 (lif here, izhikevich there)" in out
    _compare_sweeps(basic, batch)


def test_collect_reads_a_batched_sweep_as_a_basic_one(tmp_path):
    sweep = ("input.amplitude=4,8,12,16", "simulation.duration=200", "plot.enabled=false")
    basic, _ = _sweep(tmp_path, "basic", *sweep)
    batch, out = _sweep(tmp_path, "batch", *sweep, launcher="batch")
    assert "jobs #0-#3: one simulation of 4 x izhikevich" in out
    tables = []
    for sweep_dir in (basic, batch):
        result = run_cli("collect", str(sweep_dir))
        assert result.returncode == 0, result.stderr
        with open(sweep_dir / "collect.csv", newline="") as handle:
            tables.append(list(csv.DictReader(handle)))
        assert (sweep_dir / "collect.png").is_file()
    assert tables[0] == tables[1]
    rates = [float(row["mean_rate_hz:izhikevich"]) for row in tables[1]]
    assert rates == sorted(rates) and rates[-1] > rates[0]  # more current, more spikes


def test_a_bad_max_batch_is_one_line(tmp_path):
    result = run_cli(
        "run",
        "-m",
        "hydra/launcher=batch",
        "hydra.launcher.max_batch=0",
        "input.amplitude=4,8",
        f"hydra.sweep.dir={tmp_path / 'sweep'}",
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert lines[-1] == (
        "simctl: error: hydra.launcher.max_batch=0: must be at least 1; "
        "allowed: a whole number of jobs >= 1"
    )
    assert "Traceback" not in result.stderr


def test_a_batch_that_fails_reruns_its_jobs_one_by_one(tmp_path):
    """One job's input (1e39, beyond float32) makes its state infinite: the batch stops, its
    jobs run one by one, and each job's files and status are what the basic launcher leaves."""
    sweep = ("input.amplitude=10,1e39", "simulation.duration=100", "plot.enabled=false")
    basic, _ = _sweep(tmp_path, "basic", *sweep)
    batch, out = _sweep(tmp_path, "batch", *sweep, launcher="batch")
    assert "jobs #0, #1 run one by one: the batch failed (population izhikevich: the state" in out
    _compare_sweeps(basic, batch)
    status = [json.loads((j / "summary.json").read_text())["status"] for j in _jobs(batch)]
    assert status == ["ok", "failed"]
