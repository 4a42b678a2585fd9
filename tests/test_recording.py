"""The HDF5 writer and loaders (README.md, "The HDF5 file")."""

from __future__ import annotations

import subprocess
import sys

import h5py
import numpy as np
import pytest
from conftest import run_cli

from simctl.recording import (
    SORTING,
    RunDirBusy,
    RunDirLock,
    SimWriter,
    iter_spikes,
    load_run,
    load_spikes,
    load_summary,
    recover,
)

try:
    import libsonata  # noqa: F401 - only whether it imports

    HAS_LIBSONATA = True
except ImportError:
    HAS_LIBSONATA = False


def _write(path, finish: bool, compression: str = "scaleoffset"):
    with SimWriter(
        path,
        {"seed": 1, "device": "cpu", "dtype": "float32", "t_stop": 2.0, "dt": 0.5},
        spike_compression=compression,
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
        ts, ids = f["spikes/p/timestamps"], f["spikes/p/node_ids"]
        assert (
            ts.dtype == np.float64
            and ts.attrs["units"] == "ms"
            and ts.attrs["sorting"] == "by_time"  # README.md: attrs of the timestamps
        )
        # SONATA: `sorting` of the group is an HDF5 enum on uint8, node_ids are uint64
        sorting = f["spikes/p"].attrs.get_id("sorting")
        assert h5py.check_enum_dtype(sorting.dtype) == {"none": 0, "by_id": 1, "by_time": 2}
        assert sorting.dtype.base == np.uint8 and f["spikes/p"].attrs["sorting"] == 2
        assert ids.dtype == np.uint64 and ids.scaleoffset == 0 and ts.compression is None
        # HDF5 1.8's superblock: no "open for writing" flag a killed writer could leave behind
        with open(path, "rb") as raw:
            assert raw.read(9)[8] == 2
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


@pytest.mark.parametrize(
    ("compression", "ts_filter", "id_filter"),
    [("none", None, None), ("gzip", "gzip", "gzip"), ("scaleoffset", None, None)],
)
def test_spike_compression_options_round_trip(tmp_path, compression, ts_filter, id_filter):
    path = tmp_path / "sim.h5"
    _write(path, finish=True, compression=compression)
    with h5py.File(path) as f:
        assert f["spikes/p/timestamps"].compression == ts_filter
        assert f["spikes/p/node_ids"].compression == id_filter
        assert (f["spikes/p/node_ids"].scaleoffset == 0) == (compression == "scaleoffset")
    assert load_spikes(path)[0].tolist() == [0.5, 1.5]
    with pytest.raises(ValueError, match="spike_compression='lz4'; allowed: scaleoffset"):
        SimWriter(tmp_path / "x.h5", {}, spike_compression="lz4")


@pytest.mark.skipif(not HAS_LIBSONATA, reason="libsonata is not installed")
def test_libsonata_reads_the_default_output_as_it_is(sim):
    """libsonata's SpikeReader (the reference SONATA reader; its PyPI wheel has no deflate)
    reads a default run's file unchanged: population, sorting, and every spike."""
    import libsonata

    path = sim("neuron=lif", "population.size=50", "input.amplitude=20")
    times, ids = load_spikes(path)
    assert len(times) > 100
    reader = libsonata.SpikeReader(str(path))
    assert reader.get_population_names() == ["lif"]
    pop = reader["lif"]
    assert pop.sorting == "by_time" and pop.times == (times[0], times[-1])
    got = np.array(pop.get(), dtype=[("id", "u8"), ("t", "f8")])
    np.testing.assert_array_equal(got["t"], times)
    np.testing.assert_array_equal(got["id"], ids)
    assert pop.get(node_ids=[3]) == [(3, t) for t in times[ids == 3]]


def _foreign_sonata(path, units="ms", sorting: int | None = 2):
    """Spikes as another tool writes them: /spikes/<pop>/{timestamps,node_ids} only."""
    rng = np.random.default_rng(0)
    t = np.sort(rng.uniform(0, 500.0, 3000))
    ids = rng.integers(0, 40, 3000).astype("u8")
    with h5py.File(path, "w") as f:
        group = f.create_group("spikes/v1")
        if sorting is not None:
            group.attrs.create("sorting", sorting, dtype=SORTING)
        group["timestamps"] = t / 1000.0 if units == "s" else t
        group["timestamps"].attrs["units"] = units
        group["node_ids"] = ids
    return t, ids


@pytest.mark.parametrize("units", ["ms", "s"])
def test_foreign_sonata_spike_file_loads(tmp_path, units):
    path = tmp_path / "other.h5"
    t, ids = _foreign_sonata(path, units, sorting=None if units == "s" else 2)
    run = load_run(path)
    assert run.foreign and list(run.populations) == ["v1"]
    pop = run.populations["v1"]
    np.testing.assert_allclose(pop.spike_times, t, rtol=1e-12)  # in ms, whatever it says
    assert pop.spike_ids.tolist() == ids.tolist() and pop.size == ids.max() + 1
    assert pop.t_stop == pytest.approx(t.max()) and pop.n_spikes == 3000
    chunks = list(iter_spikes(path, "v1", chunk=1000))
    assert [len(c[0]) for c in chunks] == [1000, 1000, 1000]
    np.testing.assert_allclose(np.concatenate([c[0] for c in chunks]), t, rtol=1e-12)


def test_not_simctl_nor_sonata_is_refused(tmp_path):
    path = tmp_path / "x.h5"
    with h5py.File(path, "w") as f:
        f.create_group("spikes/a")  # no timestamps
    with pytest.raises(ValueError, match="not a simctl file"):
        load_run(path)


def test_recover_moves_a_stale_end_address_to_the_end_of_the_file(tmp_path):
    """A kill inside HDF5's flush leaves the superblock's end-of-allocation address (EOA)
    before data the file's index already points at; recover() sets it to the file's size
    with a valid checksum (what h5clear --increment does), and leaves sound files alone."""
    import struct

    path = tmp_path / "sim.h5"
    _write(path, finish=False)
    assert not recover(path)  # a cleanly closed file: EOA == size
    size = path.stat().st_size
    with open(path, "r+b") as raw:  # what a torn flush leaves: the data, an older EOA
        raw.seek(size)
        raw.write(b"\0" * 4096)
    assert recover(path)
    with open(path, "rb") as raw:
        head = raw.read(48)
    assert struct.unpack("<Q", head[28:36])[0] == size + 4096
    assert not recover(path)
    assert load_run(path).populations["p"].spike_times.tolist() == [0.5, 1.5]
    head = bytearray(head)
    head[30] ^= 1  # a wrong checksum: not ours to touch
    path.write_bytes(bytes(head) + path.read_bytes()[48:] + b"\0" * 10)
    assert not recover(path)


def test_run_dir_lock_is_exclusive_between_processes(tmp_path):
    run_dir = tmp_path / "run"
    with RunDirLock(run_dir):
        with RunDirLock(run_dir):  # re-entrant within a process
            pass
        code = (
            "import sys; from simctl.recording import RunDirLock, RunDirBusy\n"
            "try:\n    RunDirLock(sys.argv[1])\nexcept RunDirBusy as e:\n"
            "    print(e); sys.exit(3)"
        )
        out = subprocess.run(
            [sys.executable, "-c", code, str(run_dir)], capture_output=True, text=True
        )
        assert out.returncode == 3 and f"hydra.run.dir={run_dir}" in out.stdout
    out = subprocess.run([sys.executable, "-c", code, str(run_dir)], capture_output=True)
    assert out.returncode == 0  # released
    assert issubclass(RunDirBusy, Exception)


def test_recover_leaves_a_file_with_a_live_writer_alone(tmp_path):
    """A running writer's file may lie beyond its recorded end between flushes; its own
    superblock is the truth, so recover() (run by every simctl reader) must not touch it."""
    path = tmp_path / "live.h5"
    with SimWriter(path, {}) as w:
        w.flush()
        with open(path, "ab") as raw:
            raw.write(b"\0" * 4096)
        head = path.read_bytes()[:48]
        assert not recover(path)
        assert path.read_bytes()[:48] == head


def test_inspect_and_plot_read_a_foreign_sonata_file(tmp_path):
    """A SONATA spike file written by another tool (h5py by hand: only timestamps and
    node_ids, in seconds here) through the CLI."""
    path = tmp_path / "other.h5"
    t, _ = _foreign_sonata(path, "s", sorting=None)
    out = run_cli("inspect", str(path))
    assert out.returncode == 0, out.stderr
    assert "SONATA spikes written by another tool" in out.stdout
    row = next(line.split() for line in out.stdout.splitlines() if line.strip().startswith("v1"))
    # population, model, preset, size, dt, t ms, spikes, mean Hz, active
    assert row[3] == "40" and float(row[5]) == pytest.approx(t.max(), abs=0.01)
    assert row[6] == "3000" and float(row[7]) == pytest.approx(3000 / 40 / (t.max() / 1000), 0.01)
    out = run_cli("plot", str(path), "-o", str(tmp_path / "fig"))
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "fig" / "raster.png").stat().st_size > 5000
