"""``simctl run -m hydra/launcher=batch``: a sweep as one simulation, each job's files as the
basic launcher leaves them (spikes and traces bit-identical, own node ids, ``.hydra/``,
``summary.json``, figures), and jobs that cannot share a batch run one by one with the reason."""

from __future__ import annotations

import copy
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


def _hydra_yaml(job: Path, sweep: Path) -> dict:
    """A job's ``.hydra/hydra.yaml`` less what names the launcher (its node, its choice, its
    override) and with the sweep's directory as ``SWEEP``."""
    import yaml

    data = yaml.safe_load((job / ".hydra" / "hydra.yaml").read_text().replace(str(sweep), "SWEEP"))
    hydra = data["hydra"]
    del hydra["launcher"], hydra["runtime"]["choices"]["hydra/launcher"]
    hydra["overrides"]["hydra"].remove(
        next(o for o in hydra["overrides"]["hydra"] if o.startswith("hydra/launcher="))
    )
    return data


def _compare_sweeps(basic: Path, batch: Path) -> None:
    jobs_a, jobs_b = _jobs(basic), _jobs(batch)
    assert [j.name for j in jobs_a] == [j.name for j in jobs_b]
    for ja, jb in zip(jobs_a, jobs_b, strict=True):
        assert _tree(ja) == _tree(jb), ja.name
        assert_same_file(ja / "sim.h5", jb / "sim.h5")
        for name in ("config.yaml", "overrides.yaml"):
            assert (ja / ".hydra" / name).read_text() == (jb / ".hydra" / name).read_text()
        assert _hydra_yaml(ja, basic) == _hydra_yaml(jb, batch), ja.name
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
    assert "8 of 8 jobs: composed once per set of group choices" in out
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


def test_a_sweep_that_mixes_a_group_choice_with_values(tmp_path):
    """Two models (a group choice) × two amplitudes × an added initial value: each model's
    jobs are copies of that model's one composition with their values applied, one batch per
    model, and every file is the basic launcher's (``.hydra/`` included)."""
    sweep = (
        "neuron=izhikevich,lif",
        "input.amplitude=18,24",
        "+population.initial_state.v=-70,-66",
        "population.size=2",
        "simulation.duration=100",
        "plot.enabled=false",
    )
    basic, _ = _sweep(tmp_path, "basic", *sweep)
    batch, out = _sweep(tmp_path, "batch", *sweep, launcher="batch")
    assert "8 of 8 jobs: composed once per set of group choices" in out
    assert "jobs #0-#3: one simulation of 8 x izhikevich" in out
    assert "jobs #4-#7 are a batch of their own: neuron differs" in out
    _compare_sweeps(basic, batch)


def test_a_bad_value_in_one_job_is_that_jobs_one_line_error(tmp_path):
    """The copies are validated as Hydra's compositions are: the sweep stops with the bad
    job's one line (exit 2) before any job runs, exactly as with the basic launcher."""
    results = []
    for launcher in ("basic", "batch"):
        out = tmp_path / launcher
        result = run_cli(
            "run",
            "-m",
            f"hydra/launcher={launcher}",
            "input.amplitude=5,abc,7",
            "simulation.duration=100",
            f"hydra.sweep.dir={out}",
        )
        assert not out.exists()  # refused before any job: no job, no half-made sweep dir
        results.append((result.returncode, result.stdout, result.stderr))
    assert results[0] == results[1]
    assert results[1][0] == 2
    assert results[1][2] == "simctl: error: input.amplitude=abc: expected a number\n"


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


# -- the shared composition (hydra_plugins/simctl_batch_launcher/_compose.py) ------------------


def _nodes(node, path: str = "") -> list:
    """Every node of a config: its path, type, own flags, metadata and value (for a leaf)."""
    from omegaconf import DictConfig, ListConfig

    meta = node._metadata
    flags = {f: node._get_node_flag(f) for f in ("struct", "readonly", "allow_objects")}
    out = [(path, type(node).__name__, flags, meta.ref_type, meta.object_type, meta.key)]
    if not isinstance(node, DictConfig | ListConfig):
        return [*out, (path, repr(node._value()))]
    if node._is_none() or node._is_missing() or node._is_interpolation():
        return [*out, (path, repr(node._value()))]
    keys = list(node.keys()) if isinstance(node, DictConfig) else range(len(node))
    for key in keys:
        out += _nodes(node._get_node(key), f"{path}.{key}")
    return out


#: jobs of one sweep: values only, a group choice with values, additions (+), a preset, a bad
#: value (it composes: simctl's validation refuses it), and jobs that must fall back to Hydra's
#: full composition (a value under a key another override sets too; a deletion is a template
#: of its own)
JOBS = [
    ["input.amplitude=3", "population.size=3"],
    ["input.amplitude=4", "population.size=3"],
    ["input.amplitude=4.5", "neuron.d=8", "population.size=2"],
    ["neuron=lif", "input.amplitude=20", "+population.initial_state.v=-70"],
    ["neuron=lif", "input.amplitude=21", "+population.initial_state.v=-60"],
    ["neuron=izhikevich", "input=noise", "input.mean=3", "simulation.seed=2"],
    ["preset=bursting", "input.amplitude=7"],
    ["input.amplitude=abc"],
    ["++plot.dpi=50", "input.amplitude='${population.size}'"],
    ["+population.initial_state={v: -65}", "+population.initial_state.u=-13"],
    ["~preset_info.source", "input.amplitude=9"],
]


def test_jobs_composed_from_one_composition_are_hydras_node_for_node():
    """Each job copied from a shared composition with its values applied is, node for node
    (types, flags, metadata, values) and as YAML, what Hydra's ``load_sweep_config``
    composes; the jobs that cannot be proven so are composed by Hydra."""
    from hydra import initialize_config_module
    from hydra.core.global_hydra import GlobalHydra
    from hydra.types import RunMode
    from omegaconf import OmegaConf, open_dict, read_write

    import hydra_plugins.simctl_batch_launcher.batch_launcher  # noqa: F401 - registers batch
    from hydra_plugins.simctl_batch_launcher._compose import SweepComposer
    from simctl import cli

    with initialize_config_module("simctl.configs", version_base="1.3"):
        loader = GlobalHydra.instance().config_loader()
        master = loader.load_configuration(
            "config",
            ["hydra/launcher=batch", "hydra.sweep.dir=/tmp/sweep", "input.amplitude=1,2"],
            RunMode.MULTIRUN,
        )
        composer = SweepComposer(
            loader,
            master,
            load=lambda ov: loader.load_configuration("config", ov, RunMode.RUN),
            full=lambda ov: loader.load_sweep_config(master, ov),
        )
        for overrides in JOBS:
            ours = composer.compose(list(overrides))
            hydras = loader.load_sweep_config(master, list(overrides))
            assert OmegaConf.to_yaml(ours) == OmegaConf.to_yaml(hydras), overrides
            assert _nodes(ours) == _nodes(hydras), overrides
            assert OmegaConf.get_cache(ours) == OmegaConf.get_cache(hydras)
            if overrides == JOBS[0]:
                assert composer.stats["copies"] == 1  # (the fast path is taken)
            # the task's config made for the check is run_job's deep copy less the hydra node
            task_cfg = cli._task_config(ours)
            expected = copy.deepcopy(hydras)
            with read_write(expected), open_dict(expected):
                del expected["hydra"]
            assert _nodes(task_cfg) == _nodes(expected), overrides
            assert OmegaConf.get_cache(task_cfg) == OmegaConf.get_cache(expected)
            assert OmegaConf.to_yaml(ours) == OmegaConf.to_yaml(hydras)  # (left as it was)
        # a key the config lacks, an unknown option: Hydra's own composition raises its error
        for overrides in (["input.no_such_key=3"], ["neuron=no_such_model", "input.amplitude=3"]):
            with pytest.raises(Exception) as ours:
                composer.compose(overrides)
            with pytest.raises(Exception) as hydras:
                loader.load_sweep_config(master, overrides)
            assert type(ours.value) is type(hydras.value)
            assert str(ours.value) == str(hydras.value)
    # 5 templates (none; neuron=lif; izhikevich with input=noise; the preset; the deletion), the
    # other jobs copies of one, and 3 composed by Hydra (the overlap, the two errors)
    assert composer.stats == {"templates": 5, "copies": 10, "full": 3}
