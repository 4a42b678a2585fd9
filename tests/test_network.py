"""Networks: delivery times, hand-derived small circuits, refractory input, the fused and
device engines equal to the reference, seeds, Poisson drive, config errors, the file, net.m."""

from __future__ import annotations

import copy
import os
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch

from simctl.config.errors import ConfigError
from simctl.config.resolve import resolve
from simctl.network import PoissonDrive, build_network, netm_step

DT = 0.1
TAU_INV = 0.05  # 1/ms


class Collect:
    """A writer that keeps what the network hands it."""

    def __init__(self):
        self.spikes: dict[str, list] = {}
        self.state: dict[str, list] = {}

    def append_spikes(self, name, times, ids):
        self.spikes.setdefault(name, []).append((times.copy(), ids.copy()))

    def append_state(self, name, time, values):
        self.state.setdefault(name, []).append(
            (time.copy(), {k: v.copy() for k, v in values.items()})
        )

    def flush(self):
        pass

    def times(self, name):
        parts = self.spikes.get(name, [])
        if not parts:
            return np.empty(0), np.empty(0, np.int64)
        return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])

    def trace(self, name, var):
        parts = self.state[name]
        return np.concatenate([p[0] for p in parts]), np.concatenate([p[1][var] for p in parts])


def lif(size=1, v0=0.0, rho_steps=20.0, **extra):
    """A lif_refrac population refractory for ``rho_steps`` steps (t_ref = rho_steps·dt)."""
    return {
        "neuron": {
            "model": "lif_refrac",
            "lif": {"tau_mem_inv": TAU_INV, "v_leak": 0.0, "v_th": 20.0, "v_reset": 0.0},
            "t_ref": rho_steps * DT,  # ms
        },
        "size": size,
        "initial_state": {"lif.v": v0},
        **extra,
    }


def config(pops, projs, duration=5.0, dtype="float64", **network):
    return {
        "populations": pops,
        "projections": projs,
        "network": network,
        "simulation": {"dt": DT, "duration": duration, "dtype": dtype, "seed": 1},
        "record": {"neurons": "all", "every": 1},
    }


def run(cfg, engine="loop"):
    spec = resolve(copy.deepcopy(cfg))
    dtype = torch.float64 if spec.simulation.dtype == "float64" else torch.float32
    net = build_network(spec, spec.simulation, torch.device("cpu"), dtype)
    out = Collect()
    net.run(out, engine=engine)
    return out, net


def proj(pre, post, weight, delay, rule="one_to_one", **conn):
    return {
        "pre": pre,
        "post": post,
        "connectivity": {"rule": rule, **conn},
        "weight": weight,
        "delay": delay,
        "target": "v",
    }


ENGINES = ["loop", "blocks", "device", "reference"]


@pytest.mark.parametrize("engine", ENGINES)
def test_single_spike_arrives_exactly_delay_later(engine):
    """A (v0 = 30 > θ) spikes in step 0, stamped 0.1 ms. With D = 1.5 ms = 15 steps the jump
    w = 0.5 is added at t = 0.1 + 1.5 = 1.6 ms, the start of step 16: B's v is 0 up to the
    sample at 1.6 ms and ``0.5 + dt·τ⁻¹·(0 − 0.5)`` (one Euler step of the leak) at 1.7 ms."""
    cfg = config({"A": lif(v0=30.0), "B": lif()}, {"AB": proj("A", "B", 0.5, 1.5)})
    out, net = run(cfg, engine)
    t, ids = out.times("A")
    assert t.tolist() == [pytest.approx(0.1)]
    assert out.times("B")[0].size == 0
    time, v = out.trace("B", "lif.v")
    v = v[:, 0]
    k16 = int(np.argmin(np.abs(time - 1.7)))
    assert np.all(v[:k16] == 0.0)
    assert v[k16] == 0.5 + DT * TAU_INV * (0.0 - 0.5)
    assert net.projections[0].conn.delay_range() == (15, 15)


@pytest.mark.parametrize("engine", ENGINES)
def test_two_and_three_neuron_chain(engine):
    """A → B (w 25 mV, D 1 ms) → C (w 25 mV, D 2 ms): a jump of 25 > θ = 20 fires in the step it
    arrives (25·(1 − 0.005) = 24.875 > 20). A fires at 0.1 ms; B at 0.1 + 1.0 + 0.1 = 1.2 ms;
    C at 1.2 + 2.0 + 0.1 = 3.3 ms; each once."""
    pops = {"A": lif(v0=30.0), "B": lif(), "C": lif()}
    projs = {"AB": proj("A", "B", 25.0, 1.0), "BC": proj("B", "C", 25.0, 2.0)}
    out, _ = run(config(pops, projs), engine)
    assert out.times("A")[0] == pytest.approx([0.1])
    assert out.times("B")[0] == pytest.approx([1.2])
    assert out.times("C")[0] == pytest.approx([3.3])


@pytest.mark.parametrize("engine", ENGINES)
def test_convergence_sums_simultaneous_jumps(engine):
    """Two sources of 12 mV each arriving together (24 mV after the arrival step's leak:
    23.88 > 20) fire the target; one alone (11.94) does not."""
    pops = {"A": lif(size=2, v0=30.0), "B": lif(size=2)}
    projs = {"AB": proj("A", "B", 12.0, 0.5, rule="fixed_indegree", k=2)}
    out, _ = run(config(pops, projs), engine)
    t, ids = out.times("B")
    assert sorted(ids.tolist()) == [0, 1] and t == pytest.approx([0.7, 0.7])
    one = {"AB": proj("A", "B", 12.0, 0.5, rule="fixed_indegree", k=1)}
    assert run(config(pops, one), engine)[0].times("B")[0].size == 0


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("mode", ["discard", "keep"])
def test_refractory_input(engine, mode):
    """B fires in step 0 and is refractory for 20 steps (2 ms: rho > 0 at the start of steps
    1 … 20). A's jump of 5 mV arrives at the start of step 6 (D = 0.5 ms): discarded, v stays
    at V_r = 0 for ever; kept, v holds 5 mV (clamped) until the sample at 2.1 ms and then
    leaks (5·(1 − 0.005) at 2.2 ms)."""
    pops = {"A": lif(v0=30.0), "B": lif(v0=30.0)}
    cfg = config(pops, {"AB": proj("A", "B", 5.0, 0.5)}, refractory_input=mode)
    out, _ = run(cfg, engine)
    time, v = out.trace("B", "lif.v")
    v = v[:, 0]
    if mode == "discard":
        assert np.all(v == 0.0)
    else:
        held = (time > 0.65) & (time < 2.15)
        assert np.all(v[time < 0.65] == 0.0) and np.all(v[held] == 5.0)
        k = int(np.argmin(np.abs(time - 2.2)))
        assert v[k] == 5.0 + DT * TAU_INV * (0.0 - 5.0)


RULES = [
    {"rule": "all_to_all"},
    {"rule": "fixed_probability", "p": 0.2},
    {"rule": "fixed_indegree", "k": 6},
    {"rule": "fixed_outdegree", "k": 5, "multapses": True},
    {"rule": "fixed_total", "n": 300},
]


def random_network(rule, delay, mode, dtype, dyadic):
    weight_e = 0.75 if dyadic else {"dist": "uniform", "low": 0.2, "high": 1.3}
    weight_i = -1.5 if dyadic else {"dist": "normal", "mean": -2.0, "std": 0.3}
    drive = {"protocol": "poisson", "n": 50, "rate_hz": 120.0, "weight": 0.5, "target": "v"}
    pops = {
        "P": lif(size=40, v0={"dist": "uniform", "low": 0.0, "high": 20.0}, input=drive),
        "Q": lif(size=30, rho_steps=7.0, input=drive),
    }
    projs = {
        "PP": {**proj("P", "P", weight_e, delay), "connectivity": rule},
        "PQ": {**proj("P", "Q", weight_e, 0.3), "connectivity": {"rule": "fixed_indegree", "k": 4}},
        "QP": {**proj("Q", "P", weight_i, delay), "connectivity": rule},
    }
    return config(pops, projs, duration=25.0, dtype=dtype, refractory_input=mode)


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r["rule"])
@pytest.mark.parametrize(
    "delay",
    [0.1, pytest.param(0.5, marks=pytest.mark.slow), {"dist": "uniform", "low": 0.1, "high": 1.0}],
    ids=["1step", "5steps", "dist"],
)
@pytest.mark.parametrize("mode", ["discard", "keep"])
def test_fused_equals_reference_float64(rule, delay, mode):
    """Dyadic weights make every sum of simultaneous arrivals exact, so the two engines must
    agree bit for bit (spikes and every sampled voltage)."""
    cfg = random_network(rule, delay, mode, "float64", dyadic=True)
    ref, _ = run(cfg, "reference")
    for engine in ("loop", "blocks", "device"):
        a, _ = run(cfg, engine)
        for pop in ("P", "Q"):
            ta, ia = a.times(pop)
            tb, ib = ref.times(pop)
            assert ta.size > 20  # the network is active
            assert np.array_equal(ta, tb) and np.array_equal(ia, ib)
            assert np.array_equal(a.trace(pop, "lif.v")[1], ref.trace(pop, "lif.v")[1])


@pytest.mark.parametrize("rule", RULES[1:3], ids=lambda r: r["rule"])
def test_fused_equals_reference_float32(rule):
    """Weights from distributions in float32: the engines may add simultaneous arrivals in
    another order, so voltages agree within a few float32 ulps of the jump sizes."""
    cfg = random_network(
        rule, {"dist": "uniform", "low": 0.1, "high": 1.0}, "discard", "float32", dyadic=False
    )
    a, _ = run(cfg, "loop")
    b, _ = run(cfg, "reference")
    c, _ = run(cfg, "blocks")
    d, _ = run(cfg, "device")
    for pop in ("P", "Q"):
        assert np.array_equal(a.times(pop)[1], b.times(pop)[1])
        # the loop, the blocks and the device's scatter add in the same order: identical
        # even in float32
        assert np.array_equal(a.trace(pop, "lif.v")[1], c.trace(pop, "lif.v")[1])
        assert np.array_equal(a.times(pop)[0], d.times(pop)[0])
        assert np.array_equal(a.times(pop)[1], d.times(pop)[1])
        assert np.array_equal(a.trace(pop, "lif.v")[1], d.trace(pop, "lif.v")[1])
        va, vb = a.trace(pop, "lif.v")[1], b.trace(pop, "lif.v")[1]
        assert np.allclose(va, vb, rtol=0, atol=1e-4)


def test_same_seed_same_network_and_spikes():
    cfg = random_network(RULES[1], 0.5, "discard", "float32", dyadic=False)
    a, na = run(cfg)
    b, nb = run(cfg)
    for pa, pb in zip(na.projections, nb.projections, strict=True):
        assert np.array_equal(pa.conn.indices, pb.conn.indices)
        assert np.array_equal(pa.conn.weights(), pb.conn.weights())
    assert np.array_equal(a.times("P")[1], b.times("P")[1])
    cfg["simulation"]["seed"] = 2
    c, nc = run(cfg)
    assert not np.array_equal(na.projections[0].conn.indices, nc.projections[0].conn.indices)


def test_poisson_counts_are_poisson():
    """One count per neuron and step with mean and variance λ = n·rate·dt: over 4·10^5
    draws the sample mean lies within 5 standard errors sqrt(λ/M) of λ, the variance within
    5·sqrt(2/M) relative (λ large enough for the normal approximation)."""
    from simctl.config.network import PoissonSpec

    spec = PoissonSpec(n=1000, rate_hz=20.0, weight=0.1, target="v")
    drive = PoissonDrive(spec, 1000, 0.1, np.random.SeedSequence(3))
    counts = np.concatenate([drive.counts(100) for _ in range(4)]).astype(np.float64)
    lam = 1000 * 20.0 * 0.1 / 1000.0
    m = counts.size
    assert abs(counts.mean() - lam) < 5 * np.sqrt(lam / m)
    assert abs(counts.var() / lam - 1) < 5 * np.sqrt(2 / m + 1 / (m * lam))
    again = PoissonDrive(spec, 1000, 0.1, np.random.SeedSequence(3))
    assert np.array_equal(again.counts(400), counts.astype(np.int32))


@pytest.mark.parametrize(
    ("patch", "key"),
    [
        ({"pre": "X"}, "projections.AB.pre"),
        ({"target": "u"}, "projections.AB.target"),
        ({"delay": 0.02}, "projections.AB.delay"),
        ({"delay": {"dist": "uniform", "low": 0.0, "high": 1.0}}, "projections.AB.delay"),
        ({"connectivity": {"rule": "nearest"}}, "projections.AB.connectivity.rule"),
        ({"connectivity": {"rule": "fixed_indegree", "k": 5}}, "projections.AB.connectivity.k"),
        ({"connectivity": {"rule": "fixed_indegree", "p": 0.1}}, "projections.AB.connectivity.p"),
        ({"synapses": 3}, "projections.AB.synapses"),
    ],
)
def test_config_errors_name_the_key(patch, key):
    pops = {"A": lif(size=3), "B": lif(size=3)}
    projs = {"AB": {**proj("A", "B", 1.0, 1.0), **patch}}
    with pytest.raises(ConfigError) as info:
        resolve(config(pops, projs))
    line = str(info.value)
    assert line.startswith(f"{key}=") and "\n" not in line
    if patch.get("target") == "u":
        assert "allowed: lif.v, lif.i, input" in line


def test_instantaneous_allows_zero_delay():
    pops = {"A": lif(v0=30.0), "B": lif()}
    projs = {"AB": proj("A", "B", 25.0, 0.0)}
    with pytest.raises(ConfigError):
        resolve(config(pops, projs))
    out, _ = run(config(pops, projs, instantaneous=True))
    assert out.times("B")[0] == pytest.approx([0.2])  # the next step's advance


def test_netm_step_by_hand():
    """One ms of net.m from v = −65, u = −13 with I = 10: two half-steps of
    0.04v² + 5v + 140 − u + I, then u += a(bv − u); no spike."""
    from simctl.neurons import IzhikevichParameters, IzhikevichState

    p = IzhikevichParameters(a=0.02, b=0.2, c=-65.0, d=8.0, tau_inv=1.0, v_th=30.0)
    v, u, i = -65.0, -13.0, 10.0
    for _ in range(2):
        v = v + 0.5 * (0.04 * v * v + 5 * v + 140 - u + i)
    u_new = u + 0.02 * (0.2 * v - u)
    s = IzhikevichState(
        v=torch.tensor([-65.0], dtype=torch.float64), u=torch.tensor([-13.0], dtype=torch.float64)
    )
    z, out = netm_step(torch.tensor([10.0], dtype=torch.float64), s, p, 1.0)
    assert float(z) == 0.0
    assert float(out.v) == pytest.approx(v, abs=1e-12) and float(out.u) == pytest.approx(u_new)
    hot = IzhikevichState(v=torch.tensor([29.0]), u=torch.tensor([0.0]))
    z, out = netm_step(torch.tensor([0.0]), hot, p, 1.0)  # crosses 30: v ← c, u ← u + d
    assert float(z) == 1.0 and float(out.v) == -65.0


def netm_numpy(a, b, c, d, S, current, steps):
    """net.m's loop (Izhikevich 2003) with given parameters, weights S[post, pre] and input."""
    v = -65.0 * np.ones(len(a))
    u = b * v
    fired = []
    for t in range(steps):
        f = np.nonzero(v >= 30)[0]
        fired += [(t, j) for j in f]
        v[f] = c[f]
        u[f] = u[f] + d[f]
        arrived = np.zeros(len(a))
        for j in f:  # in ascending order, as the ring buffer adds them: the same rounding
            arrived = arrived + S[:, j]
        i = current + arrived
        v = v + 0.5 * (0.04 * v**2 + 5 * v + 140 - u + i)
        v = v + 0.5 * (0.04 * v**2 + 5 * v + 140 - u + i)
        u = u + a * (b * v - u)
    return fired


@pytest.mark.parametrize("engine", ENGINES)
def test_izhikevich2003_equals_netm_loop(engine):
    """network=izhikevich2003 (8 E, 4 I, constant drive instead of noise) against net.m's loop
    run with the same per-cell parameters and weights: the same spikes, each stamped one step
    before net.m's detection (simctl stamps the end of the crossing ms)."""
    cfg = {
        "network": {"name": "izhikevich2003", "Ne": 8, "Ni": 4},
        "populations": {
            "E": {"input": {"protocol": "constant", "amplitude": [4.0 + k for k in range(8)]}},
            "I": {"input": {"protocol": "constant", "amplitude": 6.0}},
        },
        "simulation": {"dt": 1.0, "duration": 300.0, "dtype": "float64", "seed": 4},
        "record": {"neurons": 0},
    }
    out, net = run(cfg, engine)
    pe, pi = net.pops[0].pop.p, net.pops[1].pop.p

    def per(x, n):
        return np.broadcast_to(np.asarray(x, dtype=np.float64), (n,))

    a = np.r_[per(pe.a, 8), per(pi.a, 4)]
    b = np.r_[per(pe.b, 8), per(pi.b, 4)]
    c = np.r_[per(pe.c, 8), per(pi.c, 4)]
    d = np.r_[per(pe.d, 8), per(pi.d, 4)]
    S = np.zeros((12, 12))
    offset = {"E": 0, "I": 8}
    for pr in net.projections:
        r, q = offset[pr.spec.pre], offset[pr.spec.post]
        S[q : q + pr.conn.n_post, r : r + pr.conn.n_pre] += pr.conn.dense()
    assert np.all(S[:, :8] >= 0) and np.all(S[:, 8:] <= 0) and np.all(S[:, :8] <= 0.5)
    current = np.r_[4.0 + np.arange(8), 6.0 * np.ones(4)]
    fired = netm_numpy(a, b, c, d, S, current, 301)
    expect = sorted((t, j) for t, j in fired if t >= 1)
    te, ie = out.times("E")
    ti, ii = out.times("I")
    got = sorted(
        [(round(t), int(j)) for t, j in zip(te, ie, strict=True)]
        + [(round(t), int(j) + 8) for t, j in zip(ti, ii, strict=True)]
    )
    assert len(expect) > 30
    assert got == expect


def test_cli_brunel_writes_projections(tmp_path: Path):
    """End to end: a small Brunel network with its edges in the file."""
    env = {**os.environ, "MPLBACKEND": "Agg"}
    cmd = [
        sys.executable,
        "-m",
        "simctl.cli",
        "run",
        "network=brunel2000",
        "network.scale=0.02",
        "simulation.duration=60",
        "record.connectivity=true",
        "plot.enabled=false",
        f"hydra.run.dir={tmp_path}",
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    with h5py.File(tmp_path / "sim.h5") as f:
        g = f["projections/IE"]
        assert g.attrs["pre"] == "I" and g.attrs["post"] == "E"
        assert g.attrs["n_synapses"] == 200 * 5
        assert list(g.attrs["delay_steps"]) == [15, 15]
        assert g.attrs["target"] == "lif.v"
        assert np.bincount(g["target_node_id"][:], minlength=200).tolist() == [5] * 200
        assert np.allclose(g["weight"][:], -5.0 * 0.1 / 0.02)
        assert np.allclose(g["delay"][:], 1.5)
        assert f["spikes/E/timestamps"].size > 0 and f["spikes/I/timestamps"].size > 0
        assert "E" in f["populations"] and "I" in f["populations"]


def test_cli_bad_target_is_one_line(tmp_path: Path):
    cmd = [
        sys.executable,
        "-m",
        "simctl.cli",
        "run",
        "network=brunel2000",
        "network.scale=0.02",
        "+projections.EE.target=w",
        f"hydra.run.dir={tmp_path}",
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 2
    lines = [x for x in done.stderr.splitlines() if x.startswith("simctl:")]
    assert lines and "projections.EE.target=w" in lines[0] and "lif.v" in lines[0]
    assert "Traceback" not in done.stderr


def test_python_api(tmp_path: Path):
    """The README's Python example: a network as a dict, run through simctl.app.simulate and
    read back with load_run."""
    from omegaconf import OmegaConf

    from simctl.app import simulate
    from simctl.recording import load_run

    drive = {"protocol": "poisson", "n": 100, "rate_hz": 40.0, "weight": 1.0, "target": "v"}
    cfg = OmegaConf.create(
        {
            "populations": {
                "E": {"neuron": "lif_refrac", "size": 80, "input": drive},
                "I": {"neuron": "lif_refrac", "size": 20, "input": drive},
            },
            "projections": {
                "EI": {
                    "pre": "E",
                    "post": "I",
                    "weight": 0.5,
                    "delay": 1.0,
                    "target": "v",
                    "connectivity": {"rule": "fixed_probability", "p": 0.1},
                },
                "IE": {
                    "pre": "I",
                    "post": "E",
                    "delay": 2.0,
                    "target": "v",
                    "connectivity": {"rule": "fixed_indegree", "k": 5},
                    "weight": {"dist": "uniform", "low": -2.0, "high": -1.0},
                },
            },
            "simulation": {"dt": 0.1, "duration": 50.0, "seed": 1},
            "record": {"connectivity": True},
            "plot": {"enabled": False},
        }
    )
    run = load_run(simulate(cfg, tmp_path, config_dirs=[]))
    assert set(run.populations) == {"E", "I"}
    assert run.populations["I"].spike_times.size > 0
    with h5py.File(tmp_path / "sim.h5") as f:
        ie = f["projections/IE"]
        assert ie.attrs["n_synapses"] == 80 * 5
        w = ie["weight"][:]
        assert ((w >= -2) & (w <= -1)).all()
        assert np.allclose(ie["delay"][:], 2.0)
        assert "cv_isi" in f["summary/E"]


@pytest.mark.parametrize("engine", ENGINES)
def test_conductance_target(engine):
    """A spike into coba_lif's g_e: 0 until the arrival (t = 0.1 + 1.0 ms), then a jump of w
    that decays by the excitatory synapse's factor 1 − dt·τ_e⁻¹ per step (first sample after
    the arrival step: w·(1 − 0.1·0.2)); v depolarises toward E_e."""
    pops = {"A": lif(v0=30.0), "B": {"neuron": "coba_lif", "size": 1}}
    projs = {"AB": {**proj("A", "B", 0.02, 1.0), "target": "g_e"}}
    out, _ = run(config(pops, projs), engine)
    time, g = out.trace("B", "g_e")
    k = int(np.argmin(np.abs(time - 1.2)))
    assert np.all(g[:k, 0] == 0.0)
    w = float(np.float32(0.02))  # weights are stored as float32
    assert g[k, 0] == pytest.approx(w * (1 - 0.1 * 0.2), rel=1e-12)
    assert g[k + 1, 0] < g[k, 0]
    v = out.trace("B", "v")[1][:, 0]
    assert v[k + 5] > v[k - 1]
