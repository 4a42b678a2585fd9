"""simctl collect for every sweep shape: categorical values, two swept numbers, failed jobs."""

from __future__ import annotations

import csv

import matplotlib.image
import numpy as np
from conftest import run_cli


def _sweep(tmp_path, *overrides):
    result = run_cli(
        "run",
        "-m",
        *overrides,
        "plot.enabled=false",
        f"hydra.sweep.dir={tmp_path / 'sweep'}",
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    collected = run_cli("collect", str(tmp_path / "sweep"))
    assert collected.returncode == 0, collected.stderr
    with open(tmp_path / "sweep" / "collect.csv") as f:
        return list(csv.DictReader(f)), tmp_path / "sweep" / "collect.png"


def test_a_preset_sweep_gives_one_row_per_job_and_bars(tmp_path):
    rows, png = _sweep(tmp_path, "preset=rs,fs,ch", "simulation.duration=100")
    assert [r["preset"] for r in rows] == ["rs", "fs", "ch"]
    # one rate column, filled on every row (not one column per preset: a diagonal)
    assert [r["population"] for r in rows] == ["rs", "fs", "ch"]
    rates = [float(r["mean_rate_hz"]) for r in rows]
    assert all(rate > 0 for rate in rates)
    assert rates[1] > rates[0]  # fast spiking fires faster than regular spiking
    assert not any(k.startswith("mean_rate_hz:") for k in rows[0])
    image = matplotlib.image.imread(png)
    assert image.shape[1] > 300 and np.std(image) > 0.01  # a drawn figure, not a blank page


def test_two_swept_numbers_give_heat_maps_with_rate_and_cv(tmp_path):
    rows, png = _sweep(
        tmp_path,
        "neuron=lif",
        "input=noise",
        "input.mean=10,14",
        "input.std=10,20",
        "population.size=20",
        "simulation.duration=300",
    )
    assert len(rows) == 4
    assert all(float(r["mean_rate_hz:lif"]) >= 0 for r in rows)
    assert all(r["cv_isi:lif"] != "" and 0 < float(r["cv_isi:lif"]) < 2 for r in rows)
    by = {(r["input.mean"], r["input.std"]): float(r["mean_rate_hz:lif"]) for r in rows}
    assert by[("14", "20")] > by[("10", "10")]  # more drive, more spikes
    assert matplotlib.image.imread(png).shape[1] > 600  # two panels side by side
