"""The HDF5 writer and loaders (README.md, "The HDF5 file")."""

from __future__ import annotations

import h5py
import numpy as np

from simctl.recording import SimWriter, load_run, load_spikes, load_summary


def _write(path, finish: bool):
    with SimWriter(
        path, {"seed": 1, "device": "cpu", "dtype": "float32", "t_stop": 2.0, "dt": 0.5}
    ) as w:
        w.add_population(
            "p",
            {
                "model": "m",
                "size": 3,
                "preset": "",
                "dt": 0.5,
                "t_stop": 2.0,
                "parameters_json": "{}",
            },
            {"v": "mV"},
            np.array([0, 2]),
            True,
        )
        for k0 in (0, 2):
            w.append_spikes("p", np.array([(k0 + 1) * 0.5]), np.array([2]))
            w.append_state(
                "p", np.array([(k0 + 1) * 0.5, (k0 + 2) * 0.5]), {"v": np.ones((2, 2)) * k0}
            )
            w.append_input("p", np.array([k0 * 0.5, (k0 + 1) * 0.5]), np.zeros((2, 2)))
        w.write_summary("p", np.array([0, 0, 2]), 2.0, np.array([np.nan, np.nan, 0.5]))
        if finish:
            w.finish()


def test_roundtrip_and_layout(tmp_path):
    path = tmp_path / "sim.h5"
    _write(path, finish=True)
    with h5py.File(path) as f:
        assert (
            f.attrs["format"] == "simctl" and f.attrs["format_version"] == 1 and f.attrs["complete"]
        )
        ts = f["spikes/p/timestamps"]
        assert (
            ts.dtype == np.float64
            and ts.attrs["units"] == "ms"
            and f["spikes/p"].attrs["sorting"] == "by_time"
            and ts.attrs["sorting"] == "by_time"  # README.md: attrs of the timestamps
        )
        assert f["state/p/v"].dtype == np.float32 and f["state/p/v"].attrs["units"] == "mV"
        assert f["state/p/v"].chunks is not None and f["state/p/v"].compression == "gzip"
        assert f["summary/p/rate_hz"][:].tolist() == [0, 0, 1000.0]
    run = load_run(path)
    pop = run.populations["p"]
    assert run.complete and pop.size == 3 and pop.dt == 0.5
    assert pop.spike_times.tolist() == [0.5, 1.5] and pop.state["v"].shape == (4, 2)
    assert pop.input_current.shape == (4, 2) and pop.state_ids.tolist() == [0, 2]
    assert load_spikes(path)[1].tolist() == [2, 2]
    assert np.isnan(load_summary(path)["p"]["first_spike_ms"][0])


def test_unfinished_file_is_valid_and_incomplete(tmp_path):
    path = tmp_path / "sim.h5"
    _write(path, finish=False)
    run = load_run(path)
    assert not run.complete and len(run.populations["p"].spike_times) == 2
