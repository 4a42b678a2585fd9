"""The device engine (:meth:`simctl.network.Network.run_device`): rings on the populations'
device, propagation by torch scatters, the kernels layer per block. Without a GPU it runs on
CPU tensors (with the C kernels, and with the Triton backend in Triton's interpreter); its
arithmetic is the blocks engine's, so spikes and traces are compared exactly. Also: which
engine runs, what sim.h5 records, host transfers per block, and a signal during a chunk's
write."""

from __future__ import annotations

import copy
import os
import signal
import sys

import h5py
import numpy as np
import pytest
import torch
from conftest import cli_env, run_cli
from test_network import RULES, Collect, config, lif, proj, random_network, run

from simctl.config.resolve import resolve
from simctl.network import DEVICE_SCATTER_EVENTS, build_network


def _equal(a: Collect, b: Collect, pops=("P", "Q"), var="lif.v") -> None:
    for pop in pops:
        ta, ia = a.times(pop)
        tb, ib = b.times(pop)
        assert ta.size > 20  # the network is active
        assert np.array_equal(ta, tb) and np.array_equal(ia, ib)
        assert np.array_equal(a.trace(pop, var)[1], b.trace(pop, var)[1])


def test_device_equals_blocks_with_a_current_and_input_jumps():
    """Jumps into ``input`` (a one-step pulse of the current) added to a constant current,
    delays drawn per synapse, E and I: identical to the blocks engine in float32."""
    pops = {
        "P": lif(size=30, input={"protocol": "constant", "amplitude": 40.0}),
        "Q": lif(size=20, input={"protocol": "constant", "amplitude": 26.0}),
    }
    delay = {"dist": "uniform", "low": 0.2, "high": 1.5}
    rule = {"rule": "fixed_probability", "p": 0.3}
    projs = {
        "PQ": {**proj("P", "Q", 300.0, delay), "connectivity": rule, "target": "input"},
        "QP": {**proj("Q", "P", -150.0, delay), "connectivity": rule, "target": "input"},
        "PP": {**proj("P", "P", 100.0, 0.3), "connectivity": rule, "target": "input"},
    }
    cfg = config(pops, projs, duration=60.0, dtype="float32")
    a, _ = run(cfg, "blocks")
    b, net = run(cfg, "device")
    _equal(a, b)
    assert net.engine == "device" and {p.pop.backend for p in net.pops} == {"c"}


def test_scatter_in_slices_equals_one_scatter(monkeypatch):
    """A block's synapse events split into several scatters (a bound on the temporaries)
    give the same ring: the slices keep the order of the additions."""
    cfg = random_network(RULES[0], 0.5, "discard", "float32", dyadic=False)
    a, _ = run(cfg, "device")
    monkeypatch.setattr("simctl.network.DEVICE_SCATTER_EVENTS", 7)
    assert DEVICE_SCATTER_EVENTS > 7
    b, _ = run(cfg, "device")
    _equal(a, b)


class _Counter:
    """Counts calls of the torch methods that copy to the host or wait for the device."""

    NAMES = ("cpu", "numpy", "item", "tolist")

    def __init__(self, monkeypatch):
        self.calls = 0
        self.outside_kernels = 0  #: calls not made by simctl.kernels (the engine's own)
        for name in self.NAMES:
            original = getattr(torch.Tensor, name)

            def counted(tensor, *args, _original=original, **kwargs):
                self.calls += 1
                caller = sys._getframe(1).f_code.co_filename
                if f"simctl{os.sep}kernels" not in caller:
                    self.outside_kernels += 1
                return _original(tensor, *args, **kwargs)

            monkeypatch.setattr(torch.Tensor, name, counted)


def _net(cfg):
    spec = resolve(copy.deepcopy(cfg))
    dtype = torch.float64 if spec.simulation.dtype == "float64" else torch.float32
    return build_network(spec, spec.simulation, torch.device("cpu"), dtype)


def test_host_transfers_per_block_not_per_step(monkeypatch):
    """The device engine touches the host O(blocks) times, never per step: with 1.5 ms
    delays (16-step blocks) over 80 ms (50 blocks, 800 steps, 2 populations), its calls of
    ``.cpu()/.numpy()/.item()/.tolist()`` stay under two per population and block (the
    kernels layer's, one per call here), its own calls are per chunk, while the reference
    engine (one iteration per step) makes at least one per population and step. (On the
    CPU a proxy: on CUDA these are the calls that copy to the host or wait for the device.)"""
    drive = {"protocol": "poisson", "n": 50, "rate_hz": 150.0, "weight": 0.5, "target": "v"}
    pops = {"P": lif(size=40, input=drive), "Q": lif(size=30, rho_steps=7.0, input=drive)}
    rule = {"rule": "fixed_indegree", "k": 6}
    projs = {
        "PQ": {**proj("P", "Q", 0.75, 1.5), "connectivity": rule},
        "QP": {**proj("Q", "P", -1.5, {"dist": "uniform", "low": 1.5, "high": 3.0})},
        "PP": {**proj("P", "P", 0.75, 2.0), "connectivity": rule},
    }
    projs["QP"]["connectivity"] = rule
    cfg = config(pops, projs, duration=80.0, dtype="float32")
    cfg["record"] = {"neurons": [0, 3], "every": 1}
    nets = {engine: _net(cfg) for engine in ("device", "reference")}
    assert nets["device"].block == 16
    counts = {}
    for engine, net in nets.items():
        out = Collect()
        counter = _Counter(monkeypatch)
        net.run(out, engine=engine)
        counts[engine] = counter.calls
        counts[f"{engine} outside kernels"] = counter.outside_kernels
        monkeypatch.undo()
        assert out.times("P")[0].size > 50 and out.times("Q")[0].size > 20
    steps, blocks = 800, 800 // 16
    assert counts["reference"] >= 2 * steps
    assert counts["device"] < 2 * 2 * blocks, counts
    # 800 steps × 70 neurons is one chunk (2^21 neuron-steps); per chunk and population two
    # calls per recorded variable (3) and about six for the NaN check and the spike counts
    assert counts["device outside kernels"] <= 2 * (2 * 3 + 6), counts


@pytest.mark.triton
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("mode", ["discard", "keep"])
def test_device_engine_on_triton_equals_blocks(monkeypatch, tmp_path, dtype, mode):
    """The device engine with the Triton backend (Triton's interpreter on CPU tensors: the
    kernel the GPU runs, jump wrapper and refractory mask included) equals the blocks engine
    with the C kernels, spikes and traces."""
    pytest.importorskip("triton")
    delay = {"dist": "uniform", "low": 0.1, "high": 1.0}
    cfg = random_network(RULES[2], delay, mode, dtype, dyadic=dtype == "float64")
    cfg["simulation"]["duration"] = 10.0
    a, _ = run(cfg, "blocks")
    monkeypatch.setenv("SIMCTL_CACHE_DIR", str(tmp_path / "kernels"))
    monkeypatch.setenv("TRITON_CACHE_DIR", str(tmp_path / "triton"))
    monkeypatch.setenv("SIMCTL_KERNELS", "triton")
    monkeypatch.setenv("TRITON_INTERPRET", "1")
    b, net = run(cfg, "device")
    assert [p.pop.backend for p in net.pops] == ["triton", "triton"]
    for pop in ("P", "Q"):
        assert a.times(pop)[0].size > 10
        assert np.array_equal(a.times(pop)[0], b.times(pop)[0])
        assert np.array_equal(a.times(pop)[1], b.times(pop)[1])
        assert np.array_equal(a.trace(pop, "lif.v")[1], b.trace(pop, "lif.v")[1])


def test_engine_selection(monkeypatch):
    """``auto``: the loop on the CPU, the device engine when a population is elsewhere;
    ``$SIMCTL_NETWORK_ENGINE`` overrides; ``SIMCTL_KERNELS=reference`` means the reference."""
    from simctl.config.errors import ConfigError

    net = _net(config({"A": lif(v0=30.0), "B": lif()}, {"AB": proj("A", "B", 0.5, 1.5)}))
    monkeypatch.delenv("SIMCTL_NETWORK_ENGINE", raising=False)
    monkeypatch.delenv("SIMCTL_KERNELS", raising=False)
    assert net.select_engine() == "loop"
    assert net.select_engine("blocks") == "blocks"
    net.pops[1].pop.device = torch.device("meta")  # only read here
    assert net.select_engine() == "device"
    net.pops[1].pop.device = torch.device("cpu")
    monkeypatch.setenv("SIMCTL_NETWORK_ENGINE", "device")
    assert net.select_engine() == "device"
    monkeypatch.setenv("SIMCTL_NETWORK_ENGINE", "gpu")
    with pytest.raises(ConfigError) as info:
        net.select_engine()
    assert str(info.value).startswith("SIMCTL_NETWORK_ENGINE=gpu: ")
    assert "device" in str(info.value)
    monkeypatch.setenv("SIMCTL_NETWORK_ENGINE", "auto")
    monkeypatch.setenv("SIMCTL_KERNELS", "reference")
    assert net.select_engine() == "reference"


def test_sim_h5_records_engine_and_backend(tmp_path):
    """End to end with ``SIMCTL_NETWORK_ENGINE=device``: sim.h5 names the engine and the
    kernel backend per population, and the spikes equal the default engine's."""
    args = [
        "run",
        "network=brunel2000",
        "network.scale=0.02",
        "simulation.duration=40",
        "plot.enabled=false",
    ]
    runs = {}
    for engine in ("device", "loop"):
        env = cli_env(SIMCTL_NETWORK_ENGINE=engine)
        done = run_cli(*args, f"hydra.run.dir={tmp_path / engine}", env=env)
        assert done.returncode == 0, done.stderr[-2000:]
        with h5py.File(tmp_path / engine / "sim.h5") as f:
            runs[engine] = {
                name: (
                    dict(f[f"populations/{name}"].attrs),
                    f[f"spikes/{name}/timestamps"][:],
                    f[f"spikes/{name}/node_ids"][:],
                )
                for name in ("E", "I")
            }
    for name in ("E", "I"):
        attrs, times, ids = runs["device"][name]
        assert attrs["network_engine"] == "device" and attrs["backend"] == "c"
        assert runs["loop"][name][0]["network_engine"] == "loop"
        assert times.size > 0
        assert np.array_equal(times, runs["loop"][name][1])
        assert np.array_equal(ids, runs["loop"][name][2])


def test_bad_engine_variable_is_one_line(tmp_path):
    """Refused before the run directory is touched: an earlier run's sim.h5 stays as it was."""
    earlier = tmp_path / "sim.h5"
    earlier.write_bytes(b"an earlier run")
    env = cli_env(SIMCTL_NETWORK_ENGINE="gpu")
    done = run_cli(
        "run",
        "network=brunel2000",
        "network.scale=0.02",
        "simulation.duration=5",
        f"hydra.run.dir={tmp_path}",
        env=env,
    )
    assert done.returncode == 2
    lines = [x for x in done.stderr.splitlines() if x.startswith("simctl:")]
    assert lines and "SIMCTL_NETWORK_ENGINE=gpu" in lines[0] and "device" in lines[0]
    assert "Traceback" not in done.stderr
    assert earlier.read_bytes() == b"an earlier run"


class _SignalWriter(Collect):
    """Sends itself SIGTERM while the first population's spikes are being written."""

    def __init__(self, network):
        super().__init__()
        self.network = network
        self.sent = False
        self.seen_k: list[list[int]] = []

    def append_spikes(self, name, times, ids):
        super().append_spikes(name, times, ids)
        if not self.sent:
            self.sent = True
            os.kill(os.getpid(), signal.SIGTERM)

    def flush(self):
        self.seen_k.append([p.pop.k for p in self.network.pops])


@pytest.mark.parametrize("engine", ["device", "loop"])
def test_signal_during_a_chunks_write_is_raised_after_it(engine):
    """SIGTERM while a chunk's spikes are handed to the writer is raised once every
    population's spikes, traces and step count are written: the second population's spikes
    and samples of the chunk are there, and every population's step count covers them."""
    from simctl import runner

    cfg = random_network(RULES[2], 0.5, "discard", "float64", dyadic=True)
    net = _net(cfg)
    out = _SignalWriter(net)
    with pytest.raises(runner.Interrupted):
        net.run(out, engine=engine)
    assert out.sent and not out.seen_k  # raised before the first flush
    ks = {p.pop.k for p in net.pops}
    assert ks == {net.k} and net.k > 0
    for name in ("P", "Q"):
        times, _ = out.times(name)
        assert times.size and times.max() <= net.k * net.pops[0].pop.spec.dt + 1e-9
        assert out.trace(name, "lif.v")[0].max() == pytest.approx(net.k * 0.1)
    assert runner._DEFERRED.pending is None and runner._DEFERRED.depth == 0


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_device_engine_on_cuda_equals_the_cpu(dtype):
    """On CUDA (Triton kernels, rings and scatters on the GPU): with dyadic weights every sum
    of simultaneous arrivals is exact in any order, so the spikes and traces equal the CPU
    blocks engine's exactly."""
    cfg = random_network(
        RULES[1], {"dist": "uniform", "low": 0.1, "high": 1.0}, "discard", dtype, dyadic=True
    )
    a, _ = run(cfg, "blocks")
    spec = resolve(copy.deepcopy(cfg))
    torch_dtype = torch.float64 if dtype == "float64" else torch.float32
    net = build_network(spec, spec.simulation, torch.device("cuda"), torch_dtype)
    b = Collect()
    net.run(b)  # auto: the device engine
    assert net.engine == "device"
    assert all(r.device.type == "cuda" for p in net.pops for r in p.ring.values())
    assert {p.pop.backend for p in net.pops} == {"triton"}
    _equal(a, b)
