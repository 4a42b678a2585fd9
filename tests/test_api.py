"""simctl.run: the CLI's configs from Python."""

from __future__ import annotations

import h5py
import pytest

import simctl
from simctl.config import ConfigError


def test_run_returns_the_run_directory_and_summary(tmp_path):
    result = simctl.run(
        ["neuron=lif", "input=constant", "simulation.duration=200", "plot.enabled=false"],
        run_dir=tmp_path / "run",
    )
    assert result.h5_path == tmp_path / "run" / "sim.h5"
    (row,) = result.summary["populations"]
    assert row["population"] == "lif" and row["spikes"] > 0
    with h5py.File(result.h5_path, "r") as f:
        assert f.attrs["complete"]
        assert len(f["spikes/lif/timestamps"]) == row["spikes"]
    assert list(result.load(spikes=False).populations) == ["lif"]


def test_run_with_a_user_config_dir(tmp_path):
    presets = tmp_path / "configs" / "preset"
    presets.mkdir(parents=True)
    (presets / "my_rs.yaml").write_text(
        "# @package _global_\n"
        "defaults:\n  - override /input: step\n"
        "preset_info: {name: my_rs, model: izhikevich, source: test, description: test}\n"
        "input: {amplitude: 12.0}\nsimulation: {duration: 100.0}\n"
    )
    result = simctl.run(
        ["preset=my_rs", "plot.enabled=false"],
        run_dir=tmp_path / "run",
        config_dir=tmp_path / "configs",
    )
    assert result.summary["populations"][0]["population"] == "my_rs"


def test_a_bad_config_raises_the_one_line_error(tmp_path):
    with pytest.raises(ConfigError) as info:
        simctl.run(["neuron.tau_inv=-1"], run_dir=tmp_path / "run")
    assert info.value.line().startswith("neuron.tau_inv=-1.0: out of range")
