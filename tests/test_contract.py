"""Contract checks found by black-box QA (README's CLI, file format and errors): one-line errors for
inputs
that used to crash or pass silently, ``-m`` with ``--cfg``, ``simctl plot`` on a foreign file,
and a population that cannot fit in memory."""

from __future__ import annotations

import os

import h5py
import pytest
from conftest import run_cli, simulate

from simctl.config import ConfigError, package_config_dir

# (arguments of `simctl run`, text the one stderr line must contain)
BAD = [
    (["plot.dpi=0"], "plot.dpi=0: must be >= 1"),
    (["encoder=poisson", "encoder.f_max=-5"], "encoder.f_max=-5"),
    (["input=noise", "input.std=-1"], "input.std=-1"),
    (["input.amplitude=inf"], "input.amplitude=inf: expected a finite number"),
    (["record.neurons=[5]"], "record.neurons=[5]"),
    (["population.size=1e12"], "population.size=1000000000000"),
    (["population.initial_state.v=-70"], "+population.initial_state.v=-70"),
    (["--foo"], "--foo: unknown option"),
    (["--cfg", "jobs"], "allowed: job, hydra, all"),
    (["=5"], "cannot parse the override '=5'"),
    (["+population.initial_state.zz=1"], "population.initial_state.zz=1.0: not a state"),
    (["preset=bursting~"], "cannot parse the override"),
]


def test_bad_inputs_one_line_exit_2(tmp_path):
    for args, expected in BAD:
        result = run_cli("run", *args, f"hydra.run.dir={tmp_path / 'r'}", cwd=tmp_path)
        lines = result.stderr.strip().splitlines()
        assert result.returncode == 2, (args, result.stderr)
        assert len(lines) == 1 and expected in lines[0], (args, result.stderr)
        assert "Traceback" not in result.stderr + result.stdout


def test_sweep_with_cfg_prints_the_first_job_and_plot_rejects_foreign_files(tmp_path):
    result = run_cli(
        "run", "-m", "input.amplitude=3,4", "preset=rs,ch", "--cfg", "job", cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert "amplitude: 3" in result.stdout and "name: rs" in result.stdout
    foreign = tmp_path / "other.h5"
    with h5py.File(foreign, "w") as f:
        f.create_group("a")
    result = run_cli("plot", str(foreign))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "not a simctl file" in result.stderr


def test_population_too_large_for_memory_is_a_config_error(tmp_path, monkeypatch):
    real = os.sysconf
    monkeypatch.setattr(os, "sysconf", lambda name: 1024 if name == "SC_PHYS_PAGES" else real(name))
    with pytest.raises(ConfigError) as info:
        simulate(tmp_path, "population.size=10000000", "simulation.device=cpu")
    assert info.value.key == "population.size" and "memory" in info.value.line()


def test_config_dir_presets_are_validated_before_hydra(tmp_path):
    """``--config-dir`` adds option files; the pre-flight check composes with them (it used to
    fail with a traceback resolving the hydra node)."""
    user = tmp_path / "conf" / "preset"
    user.mkdir(parents=True)
    (user / "mine.yaml").write_text((package_config_dir() / "preset" / "rs.yaml").read_text())
    args = ("run", "--config-dir", str(tmp_path / "conf"), "preset=mine")
    result = run_cli(*args, "--cfg", "job", cwd=tmp_path)
    assert result.returncode == 0 and "model: izhikevich" in result.stdout, result.stderr
    result = run_cli(*args, "neuron.a=x", cwd=tmp_path)
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2 and lines == ["simctl: error: neuron.a=x: expected a number"]
