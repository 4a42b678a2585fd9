"""The runner in-process: published spike times, bursts, several grids, NaN, seeds."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from simctl.config import SimulationError
from simctl.recording import load_run


def test_tonic_spiking_matches_the_published_numerics(sim):
    """OSB's Octave run of figure1.m (0-mV crossings): 13.0, 17.0, 31.25, 59.0, 86.75 ms.

    simctl stamps a spike at the end of its step, (k+1)·dt; the crossing on the stored trace is
    the reset step or one before it, so the stamp is 1 or 2 steps (0.25 ms) after the reference.
    """
    run = load_run(sim("preset=tonic_spiking"))
    t = run.populations["tonic_spiking"].spike_times
    ref = np.array([13.0, 17.0, 31.25, 59.0, 86.75])
    assert len(t) == 5
    assert np.all((t - ref > 0) & (t - ref <= 0.5 + 1e-9))


def test_tonic_bursting_four_bursts(sim):
    """OSB reference: 28 spikes in 4 bursts (10, 6, 6, 6), first at 25.0 ms."""
    t = load_run(sim("preset=tonic_bursting")).populations["tonic_bursting"].spike_times
    bursts = np.split(t, np.nonzero(np.diff(t) > 10)[0] + 1)
    assert len(bursts) == 4 and abs(len(t) - 28) <= 2
    assert 25.0 < t[0] <= 25.5


def test_bursting_preset_bursts(sim):
    run = load_run(sim("neuron=izhikevich", "preset=bursting"))
    pop = run.populations["bursting"]
    assert pop.size == 10
    for n in range(pop.size):
        t = pop.spike_times[pop.spike_ids == n]
        isi = np.diff(t)
        bursts = np.split(t, np.nonzero(isi > 15)[0] + 1)
        assert len(bursts) >= 4, f"neuron {n}: {len(bursts)} bursts"
        assert np.median([len(b) for b in bursts]) >= 3  # several spikes per burst
        assert isi.min() < 5 and isi.max() > 25  # short intra-, long inter-burst intervals


def test_phasic_and_latency_panels(sim):
    assert (
        len(load_run(sim("preset=phasic_spiking")).populations["phasic_spiking"].spike_times) == 1
    )
    t = load_run(sim("preset=spike_latency")).populations["spike_latency"].spike_times
    assert len(t) == 1 and t[0] > 15


def test_populations_on_their_own_grids(sim, tmp_path):
    path = sim(
        "+populations.A.preset=tonic_spiking",
        "+populations.Q.preset=dap",
        "+populations.L.neuron=lif",
        "+populations.L.size=3",
        "+populations.L.dt=0.5",
        "+populations.L.duration=20",
    )
    with h5py.File(path) as f:
        assert "dt" not in f.attrs  # the populations do not share it
        assert (
            f["populations/A"].attrs["dt"] == 0.25 and f["populations/A"].attrs["t_stop"] == 100.25
        )
        assert f["populations/Q"].attrs["dt"] == 0.1
        assert f["populations/L"].attrs["size"] == 3
        assert f["state/L/v"].shape == (40, 3)
        assert f.attrs["t_stop"] == pytest.approx(100.25)
    run = load_run(path)
    assert list(run.populations) == ["A", "Q", "L"]


def test_nan_stops_with_population_and_time(sim, tmp_path):
    with pytest.raises(
        SimulationError, match=r"population tonic_spiking: .* at t = 10\.5 ms; hint"
    ):
        sim("preset=tonic_spiking", "input.amplitude=1e39")
    files = sorted(tmp_path.glob("run*/sim.h5"))
    with h5py.File(files[-1]) as f:
        assert not f.attrs["complete"] and f["state/tonic_spiking/v"].shape[0] > 0
        # nothing after the failing step reaches the file: the last sample is at t = 10.5 ms
        # (the step from 10.25 to 10.5 ms, the first with the 1e39 input, overflows v)
        time = f["state/tonic_spiking/time"][:]
        assert time[-1] == pytest.approx(10.5)
        assert not np.isfinite(f["state/tonic_spiking/v"][-1]).all()
        assert np.isfinite(f["state/tonic_spiking/v"][:-1]).all()
        assert (f["spikes/tonic_spiking/timestamps"][:] <= 10.5).all()


def test_same_seed_same_data(sim):
    over = [
        "population.size=20",
        "input=noise",
        "+neuron.params_dist.d.dist=uniform",
        "+neuron.params_dist.d.low=2",
        "+neuron.params_dist.d.high=8",
        "+population.initial_state.v.dist=normal",
        "+population.initial_state.v.mean=-65",
        "+population.initial_state.v.std=3",
        "simulation.duration=200",
        "simulation.device=cpu",
    ]
    a, b, c = sim(*over), sim(*over), sim(*over, "simulation.seed=1")

    def datasets(path):
        out = {}
        with h5py.File(path) as f:
            f.visititems(
                lambda name, obj: (
                    out.__setitem__(name, obj[()]) if isinstance(obj, h5py.Dataset) else None
                )
            )
        return out

    da, db, dc = datasets(a), datasets(b), datasets(c)
    assert da.keys() == db.keys()
    for key in da:
        np.testing.assert_array_equal(da[key], db[key], err_msg=key)
    assert not np.array_equal(
        da["spikes/izhikevich/timestamps"], dc["spikes/izhikevich/timestamps"]
    )


@pytest.mark.parametrize("encoder", ["poisson", "constant_current_lif", "population"])
def test_encoders_drive_a_population(sim, encoder):
    path = sim(
        f"encoder={encoder}",
        "input=constant",
        "input.amplitude=0.8",
        "population.size=5",
        "simulation.duration=100",
    )
    assert len(load_run(path).populations["izhikevich"].spike_times) > 0


def test_record_options(sim):
    path = sim(
        "population.size=8",
        "record.neurons=[1,5]",
        "record.every=4",
        "record.variables=[v]",
        "record.input=false",
        "simulation.duration=10",
        "simulation.dt=0.25",
    )
    with h5py.File(path) as f:
        assert list(f["state/izhikevich"]) == ["node_ids", "time", "v"]
        assert f["state/izhikevich/node_ids"][:].tolist() == [1, 5]
        assert f["state/izhikevich/time"][:3].tolist() == [1.0, 2.0, 3.0]
        assert f["state/izhikevich/v"].shape == (10, 2)
        assert "izhikevich" not in f["input"]


@pytest.mark.parametrize(
    "neuron",
    [
        "lif",
        "iaf",
        "li",
        "lif_box",
        "lif_ex",
        "lif_adex",
        "lif_refrac",
        "lsnn",
        "coba_lif",
        "li_box",
        "lif_adex_refrac",
    ],
)
def test_every_neuron_runs(sim, neuron):
    import importlib

    if getattr(importlib.import_module(f"simctl.neurons.{neuron}"), "MODEL", None) is None:
        pytest.skip("model not written yet")
    path = sim(
        f"neuron={neuron}",
        "population.size=2",
        "simulation.duration=20",
        "input=constant",
        "input.amplitude=20",
    )
    run = load_run(path)
    pop = run.populations[neuron]
    assert run.complete and pop.state and all(np.isfinite(v).all() for v in pop.state.values())


def _datasets(path):
    out = {}
    with h5py.File(path) as f:
        f.visititems(
            lambda name, obj: (
                out.__setitem__(name, obj[()]) if isinstance(obj, h5py.Dataset) else None
            )
        )
    return out


@pytest.mark.parametrize(
    "overrides",
    [
        # one current per step for 3000 neurons: the kernel reads T values, records 3 neurons
        (
            "neuron=lif",
            "input=constant",
            "input.amplitude=18.0",
            "population.size=3000",
            "simulation.dt=0.1",
            "simulation.duration=60",
            "record.neurons=[2999,0,17]",
            "record.every=2",
        ),
        # a per-neuron noise block (full input), per-neuron parameters, float64
        (
            "population.size=300",
            "input=noise",
            "+neuron.params_dist.d.dist=uniform",
            "+neuron.params_dist.d.low=2",
            "+neuron.params_dist.d.high=8",
            "simulation.duration=100",
            "simulation.dtype=float64",
            "record.neurons=all",
        ),
        # physical units (the input is divided by g_L before the kernel)
        ("neuron=lif_adex", "input=step", "population.size=40", "simulation.duration=200"),
    ],
    ids=["lif-step-input", "izhikevich-noise", "adex"],
)
def test_fast_runner_writes_what_the_reference_loop_writes(sim, monkeypatch, overrides):
    """Recorded subsets, kernel-emitted spike events and broadcast inputs change nothing: every
    dataset equals the one written with SIMCTL_KERNELS=reference (full traces, torch.nonzero)."""
    from simctl import kernels, runner
    from simctl.kernels.cbuild import compiler

    if compiler() is None:
        pytest.skip("no C compiler: both runs would take the reference loop")
    backends: list[str] = []
    real = runner.advance

    def advance(pop, n, writer):
        real(pop, n, writer)
        backends.append(kernels.last_backend()[0])

    monkeypatch.setattr(runner, "advance", advance)
    fast = _datasets(sim(*overrides))
    assert backends and set(backends) == {"c"}, backends
    monkeypatch.setenv("SIMCTL_KERNELS", "reference")
    slow = _datasets(sim(*overrides))
    assert fast.keys() == slow.keys()
    for key in fast:
        assert fast[key].dtype == slow[key].dtype, key
        np.testing.assert_array_equal(fast[key], slow[key], err_msg=key)
    assert any(k.endswith("timestamps") and len(v) for k, v in fast.items())


class _FakeTTY:
    def __init__(self):
        self.text = ""

    def isatty(self):
        return True

    def write(self, s):
        self.text += s

    def flush(self):
        pass


def test_progress_default_needs_a_terminal_and_no_sweep(monkeypatch, tmp_path):
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode
    from omegaconf import OmegaConf

    from simctl import runner

    monkeypatch.setattr("sys.stderr", _FakeTTY())
    assert runner._show_progress()
    monkeypatch.setattr(HydraConfig, "initialized", staticmethod(lambda: True))
    monkeypatch.setattr(
        HydraConfig, "get", staticmethod(lambda: OmegaConf.create({"mode": RunMode.MULTIRUN}))
    )
    assert not runner._show_progress()  # a job of a sweep (basic or joblib launcher)
    monkeypatch.setattr(
        HydraConfig, "get", staticmethod(lambda: OmegaConf.create({"mode": RunMode.RUN}))
    )
    assert runner._show_progress()
    with open(tmp_path / "log", "w") as log:  # a file, not a terminal
        monkeypatch.setattr("sys.stderr", log)
        assert not runner._show_progress()


def test_progress_bar_in_simulated_ms(sim, monkeypatch):
    tty = _FakeTTY()
    monkeypatch.setattr("sys.stderr", tty)
    sim("simulation.duration=50", "simulation.progress=true")
    assert "simulating" in tty.text and "/50 ms" in tty.text  # in simulated ms
    tty.text = ""
    sim("simulation.duration=50")  # a terminal, but under a second: the bar never appears
    assert "simulating" not in tty.text


def test_streamed_spike_arrays_are_reused_not_reallocated(sim, monkeypatch):
    """Memory does not grow with the duration: block after block, the spikes go through the
    same kernel event workspace and the same per-population arrays (fresh multi-MB arrays per
    block, freed between HDF5's compression buffers, fragmented the heap without bound)."""
    from simctl import runner
    from simctl.kernels import fused

    seen: dict[str, set] = {}
    real = runner.advance

    def advance(pop, n, writer):
        real(pop, n, writer)
        space = fused._workspace.events
        seen.setdefault("events", set()).add((space.ctypes.data, space.nbytes))
        for name, array in pop.work.items():
            seen.setdefault(name, set()).add(array.ctypes.data)
        for dtype, array in writer._scratch.items():
            seen.setdefault(str(dtype), set()).add(array.ctypes.data)
        seen.setdefault("blocks", set()).add(pop.k)

    monkeypatch.setattr(runner, "advance", advance)
    path = sim(
        "neuron=lif",
        "input=noise",
        "input.mean=20",
        # a steady rate from the first block: the arrays settle at once
        "population.initial_state={v: {dist: uniform, low: -70, high: -55}}",
        "population.size=70000",
        "simulation.dt=0.1",
        "simulation.duration=60",
        "simulation.block_ms=1",
        "record.neurons=[0]",
    )
    assert len(seen.pop("blocks")) == 60
    assert {"events", "ids", "steps", "times", "uint64"} <= seen.keys()
    # allocated once (growing a few times while the spike rate finds its level), not 60 times
    assert all(len(pointers) <= 4 for pointers in seen.values()), seen
    assert len(load_run(path, state=False).populations["lif"].spike_times) > 10_000


def test_signal_during_a_blocks_write_is_raised_after_it() -> None:
    """SIGTERM while a block is handed to the writer waits until the block and its step count
    are both written (a signal in between would leave spikes after ``t_reached``)."""
    import os
    import signal

    from simctl import runner

    written = []
    with runner.handle_sigterm():
        with pytest.raises(runner.Interrupted):
            with runner._signals_deferred():
                os.kill(os.getpid(), signal.SIGTERM)
                written.append("spikes")  # still runs: the signal is held
                written.append("k")
            written.append("after")  # never: raised on leaving the block
        with pytest.raises(KeyboardInterrupt):
            with runner._signals_deferred():
                os.kill(os.getpid(), signal.SIGINT)
                written.append("input")
    assert written == ["spikes", "k", "input"]
    assert runner._DEFERRED.pending is None and runner._DEFERRED.depth == 0


def test_a_write_that_fails_while_a_signal_is_held_raises_its_error_and_drops_the_signal() -> None:
    """A failed write (a full disk) ends the run with its own error; the signal that came
    meanwhile is not left pending to interrupt the clean-up that follows."""
    import os
    import signal

    from simctl import runner

    with runner.handle_sigterm():
        with pytest.raises(OSError, match="No space"):
            with runner._signals_deferred():
                os.kill(os.getpid(), signal.SIGTERM)
                raise OSError(28, "No space left on device")
        assert runner._DEFERRED.pending is None and runner._DEFERRED.depth == 0
        with runner._signals_deferred():
            pass  # the clean-up's own write: not interrupted by the old signal
