"""``simctl export FILE.h5 --to nwb``: NWB 2 that pynwb reads back and nwbinspector passes."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
from conftest import cli_env, run_cli

pynwb = pytest.importorskip("pynwb")


def test_export_nwb_round_trip(sim):
    path = sim("neuron=lif", "population.size=12", "input.amplitude=20", "record.neurons=[0,5]")
    out = run_cli("export", str(path), "--to", "nwb")
    assert out.returncode == 0, out.stderr
    nwb_path = path.with_name("sim.nwb")
    assert out.stdout.strip() == str(nwb_path)
    with h5py.File(path) as f:
        t, ids = f["spikes/lif/timestamps"][:], f["spikes/lif/node_ids"][:]
        v, time_ = f["state/lif/v"][:], f["state/lif/time"][:]
        current = f["input/lif/current"][:]
        config, dt = f.attrs["config_yaml"], f["populations/lif"].attrs["dt"]
        t_stop = f["populations/lif"].attrs["t_stop"]
    assert len(t) > 50
    with pynwb.NWBHDF5IO(str(nwb_path), "r") as io:
        nwb = io.read()
        units = nwb.units
        assert len(units) == 12 and units.resolution == pytest.approx(dt / 1000)
        for row in range(12):
            assert units["population"][row] == "lif" and units["node_id"][row] == row
            np.testing.assert_allclose(units["spike_times"][row], t[ids == row] / 1000)
            assert units["obs_intervals"][row].tolist() == [[0.0, t_stop / 1000]]
        ts = nwb.acquisition["lif_v"]
        assert ts.unit == "volts" and ts.conversion == 1e-3
        np.testing.assert_array_equal(ts.data[:], v)
        assert ts.rate == pytest.approx(1000 / dt) and ts.starting_time == pytest.approx(
            time_[0] / 1000
        )
        assert "[0, 5]" in ts.description
        np.testing.assert_array_equal(nwb.acquisition["lif_input"].data[:], current)
        assert nwb.notes == config and "simctl" in nwb.source_script
    neo_io = pytest.importorskip("neo.io")
    block = neo_io.NWBIO(str(nwb_path), mode="r").read_block()
    trains = block.segments[0].spiketrains
    assert len(trains) == 12
    for row, train in enumerate(trains):  # neo reads the same spike trains, in seconds
        np.testing.assert_allclose(train.rescale("ms").magnitude, t[ids == row])
    signals = {s.name: s for s in block.segments[0].analogsignals}
    np.testing.assert_allclose(signals["lif_v"].rescale("mV").magnitude, v, rtol=1e-6)
    inspector = pytest.importorskip("nwbinspector")
    critical = [
        issue
        for issue in inspector.inspect_nwbfile(nwbfile_path=str(nwb_path))
        if issue.importance == inspector.Importance.CRITICAL
    ]
    assert critical == []


def test_export_without_pynwb_is_one_line(sim, tmp_path):
    path = sim("neuron=lif", "simulation.duration=20")
    fake = tmp_path / "fake" / "pynwb"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("raise ImportError('No module named pynwb')\n")
    out = run_cli("export", str(path), "--to", "nwb", env=cli_env(PYTHONPATH=str(fake.parent)))
    assert out.returncode == 2 and "Traceback" not in out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and "simctl[nwb]" in lines[0]
    out = run_cli("export", str(path), "--to", "csv")
    assert out.returncode == 2 and "invalid choice: 'csv'" in out.stderr
