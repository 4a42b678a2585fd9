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


def _big_file(path, n_spikes: int, size: int = 1000, t_stop: float = 1000.0):
    """A sim.h5 of ``n_spikes`` random spikes, written as a killed run leaves it: no summary,
    complete=false."""
    from simctl.recording import SimWriter

    rng = np.random.default_rng(1)
    attrs = {"model": "lif", "size": size, "preset": "", "dt": 0.1, "t_stop": t_stop}
    with SimWriter(path, {"t_stop": t_stop, "dt": 0.1}, clock=lambda: {"big": t_stop}) as w:
        w.add_population("big", {**attrs, "parameters_json": "{}"}, {}, np.arange(0), False)
        step = 1_000_000
        for start in range(0, n_spikes, step):
            n = min(step, n_spikes - start)
            lo = t_stop * start / n_spikes
            t = np.sort(rng.uniform(lo, t_stop * (start + n) / n_spikes, n))
            w.append_spikes("big", t, rng.integers(0, size, n))
            w.flush()
    return path


def _peak_mib(fn) -> float:
    import tracemalloc

    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1] / 2**20
    finally:
        tracemalloc.stop()


def test_plot_and_inspect_memory_does_not_grow_with_spikes(tmp_path, capsys):
    """Ten times the spikes (6e5 → 6e6: 86 MiB more as arrays) cost plot_run and inspect no
    more memory: spikes are read in chunks, the raster is a 2-D histogram of density."""
    from simctl import cli

    peaks = {}
    for n in (600_000, 6_000_000):
        path = _big_file(tmp_path / f"{n}.h5", n)
        out = tmp_path / f"fig{n}"
        plot_peak = _peak_mib(lambda p=path, o=out: plot_run(p, o))
        inspect_peak = _peak_mib(lambda p=path: cli.main(["inspect", str(p)]))
        peaks[n] = (plot_peak, inspect_peak)
        text = capsys.readouterr().out
        assert f"  {n}  " in text and "stopped at t = 1000 ms" in text
    (small_plot, small_inspect), (big_plot, big_inspect) = peaks.values()
    assert big_plot < small_plot + 8 and big_inspect < small_inspect + 8, peaks
    assert big_inspect < 16, peaks


def test_dense_raster_shows_density_not_presence(tmp_path):
    """Above the tick limit each population is an image of spike counts per bin."""
    from simctl.recording import load_run

    path = _big_file(tmp_path / "d.h5", 1_000_000, size=100, t_stop=100.0)
    fig = raster_figure(load_run(path, spikes=False))
    (image,) = fig.axes[0].get_images()
    counts = np.asarray(image.get_array())
    # 1e6 spikes into 100 neurons x 1000 time bins: about 10 per bin, all of them counted
    assert counts.shape == (100, 1000) and counts.sum() == 1_000_000
    assert 5 < counts.mean() < 15 and counts.max() > 15
    rate_line = fig.axes[1].patches[0]
    assert rate_line is not None


def test_raster_of_a_foreign_sonata_file(tmp_path):
    """SONATA spikes written by another tool (only timestamps and node_ids) draw, in ms."""
    import h5py

    from simctl.recording import load_run

    path = tmp_path / "other.h5"
    t = np.array([0.010, 0.020, 0.5])  # seconds
    with h5py.File(path, "w") as f:
        f["spikes/v1/timestamps"] = t
        f["spikes/v1/timestamps"].attrs["units"] = "s"
        f["spikes/v1/node_ids"] = np.array([0, 3, 1], dtype="u8")
    fig = raster_figure(load_run(path, spikes=False))
    (line,) = fig.axes[0].get_lines()
    assert line.get_xdata().tolist() == [10.0, 20.0, 500.0]
    assert line.get_ydata().tolist() == [0, 3, 1]
    assert fig.axes[0].get_xlim() == (0.0, 500.0)
    assert "incomplete run" not in [text.get_text() for text in fig.texts]


def test_plot_says_which_populations_it_shows_and_picks_others(tmp_path):
    """A 20-population file: traces.png names the populations it leaves out and how to pick
    them; --populations picks; an unknown name is a one-line error."""
    from conftest import run_cli, simulate

    presets = [f"+populations.P{i}.preset=tonic_spiking" for i in range(10)]
    path = simulate(tmp_path / "run", *presets, "simulation.duration=50")
    result = run_cli("plot", str(path), "-o", str(tmp_path / "all"))
    assert result.returncode == 0, result.stderr
    from simctl.plotting import traces_figure
    from simctl.recording import load_run

    fig = traces_figure(load_run(path), max_populations=8)
    assert "showing 8 of 10 populations" in fig._suptitle.get_text()
    assert "--populations" in fig._suptitle.get_text()
    picked = run_cli("plot", str(path), "--populations", "P9,P3", "-o", str(tmp_path / "two"))
    assert picked.returncode == 0, picked.stderr
    assert (tmp_path / "two" / "traces.png").is_file()
    bad = run_cli("plot", str(path), "--populations", "nope")
    assert bad.returncode == 2 and "no population 'nope'" in bad.stderr
    assert bad.stderr.strip().count("\n") == 0
