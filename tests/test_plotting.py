"""Figures from files: raster (fast for millions of spikes), traces, sweep plot."""

from __future__ import annotations

import time

import numpy as np

from simctl.plotting import collect_figure, plot_run, raster_figure
from simctl.recording import PopulationData, RunData


def test_run_figures(sim, tmp_path):
    path = sim("preset=tonic_spiking", plot=True)
    assert (path.parent / "raster.png").stat().st_size > 10_000
    assert (path.parent / "traces.png").stat().st_size > 10_000
    out = plot_run(path, tmp_path / "again")
    assert [p.name for p in out] == ["raster.png", "traces.png"]


def test_raster_two_million_spikes_is_fast(tmp_path):
    rng = np.random.default_rng(0)
    n = 2_000_000
    pop = PopulationData(
        name="big",
        attrs={"size": 10_000, "dt": 0.1, "t_stop": 1000.0, "model": "lif"},
        spike_times=np.sort(rng.uniform(0, 1000, n)),
        spike_ids=rng.integers(0, 10_000, n),
    )
    run = RunData(path=tmp_path / "x.h5", attrs={"complete": True}, populations={"big": pop})
    start = time.perf_counter()
    raster_figure(run).savefig(tmp_path / "raster.png", dpi=100)
    assert time.perf_counter() - start < 8.0


def test_collect_figure_marks_failures(tmp_path):
    rows = [
        {"input.amplitude": a, "status": s, "mean_rate_hz:p": r}
        for a, s, r in ((5, "ok", 1.0), (10, "ok", 3.0), (15, "failed", ""))
    ]
    fig = collect_figure(rows, ["input.amplitude"])
    (ax,) = fig.axes
    lines = ax.get_lines()
    # the ok jobs as one line, the failed one as a dotted vertical line at its value
    assert [(list(line.get_xdata()), list(line.get_ydata())) for line in lines[:1]] == [
        ([5.0, 10.0], [1.0, 3.0])
    ]
    assert [list(line.get_xdata()) for line in lines[1:]] == [[15.0, 15.0]]
    assert ax.get_title(loc="right") == "dotted: failed jobs"
    fig.savefig(tmp_path / "c.png")
    assert (tmp_path / "c.png").stat().st_size > 1000
