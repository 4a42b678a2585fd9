"""Network benchmarks: simctl against NEST and Brian2 on the same protocols, in one run.

Cases (each in its own subprocess):

``brunel``
    Brunel (2000) model A, regime C (g = 5, η = 2) at full scale (12 500 neurons, 15.6 M
    synapses, dt 0.1 ms), 1 s of model time. simctl (in-process build and simulation times,
    CPU time, bytes per synapse, and the whole ``simctl run`` process), NEST 3
    (``iaf_psc_delta``, fixed in-degree, one Poisson generator per neuron at C_E·ν_ext; input
    discarded while refractory, as simctl) and Brian2's C++ standalone mode (the Brian2 example's
    equations, ``PoissonInput``, fixed in-degree from the same arrays; compile time apart).
``netm``
    Izhikevich (2003) net.m, 1000 neurons, 1000 ms: simctl and Brian2 standalone (1 ms Euler
    steps as Brian2's own port of net.m).
``scaling``
    simctl's time per simulated second against N (10^3 … 10^5 at in-degree 100) and against
    the in-degree (100 … 1000 at N = 12 500), regime C's weights.

The peers are run with ``--peers-python`` (a separate virtual environment with ``brian2`` and
``nest-simulator``); a peer that is missing is reported as such. ``--threads`` sets the thread
count of every engine (simctl: torch and the fused kernels; NEST: local_num_threads; Brian2:
OpenMP threads). Prints one JSON line per measurement and a markdown table at the end.

Usage::

    python benchmarks/network.py --peers-python /work/peers-venv/bin/python
    python benchmarks/network.py --case netm --threads 1
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

SIMCTL_BRUNEL = r"""
import json, os, sys, time
import torch
torch.set_num_threads(int(sys.argv[1]))
from simctl.config.resolve import resolve
from simctl.network import build_network
scale, duration, indegree_scale = float(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
cfg = {"network": {"name": "brunel2000", "g": 5.0, "eta": 2.0, "scale": scale},
       "simulation": {"dt": 0.1, "duration": duration}, "record": {"neurons": 0}}
if indegree_scale != 1.0:
    cfg["network"]["epsilon"] = 0.1 * indegree_scale
class Sink:
    n = 0
    def append_spikes(self, name, t, ids): Sink.n += len(t)
    def append_state(self, *a): pass
    def flush(self): pass
spec = resolve(cfg)
t0 = time.perf_counter()
net = build_network(spec, spec.simulation, torch.device("cpu"), torch.float32)
build = time.perf_counter() - t0
net.run_loop(Sink(), 20)  # compile and trace outside the timing
t0, c0 = time.perf_counter(), time.process_time()
net.run(Sink())
share = net.n_steps / (net.n_steps - 20)  # the 20 warm-up steps, timed at the same pace
sim, cpu = (time.perf_counter() - t0) * share, (time.process_time() - c0) * share
syn = sum(p.conn.n_synapses for p in net.projections)
size = sum(p.pop.spec.size for p in net.pops)
print(json.dumps({"engine": "simctl", "build_s": build, "sim_s": sim, "cpu_s": cpu,
    "synapses": syn, "neurons": size, "rate_hz": Sink.n / size / (duration / 1000),
    "bytes_per_synapse": sum(p.conn.nbytes() for p in net.projections) / syn}))
"""

NEST_BRUNEL = r"""
import json, sys, time
import nest
threads, duration = int(sys.argv[1]), float(sys.argv[2])
nest.ResetKernel()
nest.set_verbosity("M_ERROR")
nest.local_num_threads = threads
nest.resolution = 0.1
nest.rng_seed = 1
NE, NI, CE, CI, J, g, eta, D, tau, theta = 10000, 2500, 1000, 250, 0.1, 5.0, 2.0, 1.5, 20.0, 20.0
nu_thr = theta / (J * CE * tau)
params = {"C_m": 1.0, "tau_m": tau, "t_ref": 2.0, "E_L": 0.0, "V_reset": 10.0, "V_th": theta}
t0 = time.perf_counter()
E = nest.Create("iaf_psc_delta", NE, params=params)
I = nest.Create("iaf_psc_delta", NI, params=params)
allp = E + I
allp.V_m = nest.random.uniform(0.0, theta)
noise = nest.Create("poisson_generator", params={"rate": eta * nu_thr * CE * 1000.0})
rec = nest.Create("spike_recorder")
nest.Connect(noise, allp, syn_spec={"weight": J, "delay": D})
conn = {"allow_autapses": False, "allow_multapses": False}
nest.Connect(E, allp, {"rule": "fixed_indegree", "indegree": CE, **conn}, {"weight": J, "delay": D})
nest.Connect(I, allp, {"rule": "fixed_indegree", "indegree": CI, **conn},
             {"weight": -g * J, "delay": D})
nest.Connect(allp, rec)
build = time.perf_counter() - t0
t0, c0 = time.perf_counter(), time.process_time()
nest.Simulate(duration)
sim, cpu = time.perf_counter() - t0, time.process_time() - c0
n = rec.n_events
print(json.dumps({"engine": "nest", "version": nest.__version__, "build_s": build, "sim_s": sim,
    "cpu_s": cpu,
    "rate_hz": n / (NE + NI) / (duration / 1000)}))
"""

BRIAN_BRUNEL = r"""
import json, sys, time, tempfile
import numpy as np
from brian2 import *
threads, duration = int(sys.argv[1]), float(sys.argv[2])
directory = tempfile.mkdtemp()
set_device("cpp_standalone", directory=directory, build_on_run=False)
prefs.devices.cpp_standalone.openmp_threads = threads
defaultclock.dt = 0.1 * ms
NE, NI, CE, CI = 10000, 2500, 1000, 250
J, g, eta, D, tau, theta, Vr = 0.1 * mV, 5.0, 2.0, 1.5 * ms, 20 * ms, 20 * mV, 10 * mV
nu_ext = eta * theta / (J * CE * tau)
G = NeuronGroup(NE + NI, "dv/dt = -v/tau : volt (unless refractory)", threshold="v > theta",
                reset="v = Vr", refractory=2 * ms, method="exact")
G.v = "theta * rand()"
rng = np.random.default_rng(1)
def indegree(n_pre, k, offset):
    pre = np.concatenate([rng.choice(n_pre, k, replace=False) for _ in range(NE + NI)])
    return pre, np.repeat(np.arange(NE + NI), k)
pe, qe = indegree(NE, CE, 0)
pi, qi = indegree(NI, CI, NE)
SE = Synapses(G[:NE], G, on_pre="v += J", delay=D)
SE.connect(i=pe, j=qe)
SI = Synapses(G[NE:], G, on_pre="v += -g * J", delay=D)
SI.connect(i=pi, j=qi)
P = PoissonInput(G, "v", CE, nu_ext, weight=J)
M = SpikeMonitor(G)
run(duration * ms)
t0 = time.perf_counter()
device.build(directory=directory, compile=True, run=False)
compile_s = time.perf_counter() - t0
import resource
def children():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime
t0, c0 = time.perf_counter(), children()
device.run(directory=directory, with_output=False)
sim, cpu = time.perf_counter() - t0, children() - c0
print(json.dumps({"engine": "brian2", "compile_s": compile_s, "process_s": sim, "cpu_s": cpu,
    "sim_s": float(getattr(device, "_last_run_time", sim)),
    "rate_hz": M.num_spikes / (NE + NI) / (duration / 1000)}))
"""

SIMCTL_NETM = r"""
import json, sys, time
import torch
torch.set_num_threads(int(sys.argv[1]))
from simctl.config.resolve import resolve
from simctl.network import build_network
class Sink:
    n = 0
    def append_spikes(self, name, t, ids): Sink.n += len(t)
    def append_state(self, *a): pass
    def flush(self): pass
spec = resolve({"network": {"name": "izhikevich2003"}, "simulation": {"dt": 1.0,
                "duration": 1000.0}, "record": {"neurons": 0}})
net = build_network(spec, spec.simulation, torch.device("cpu"), torch.float32)
net.run_loop(Sink(), 5)
spec = resolve({"network": {"name": "izhikevich2003"}, "simulation": {"dt": 1.0,
                "duration": 1000.0}, "record": {"neurons": 0}})
net = build_network(spec, spec.simulation, torch.device("cpu"), torch.float32)
t0, c0 = time.perf_counter(), time.process_time()
net.run(Sink())
print(json.dumps({"engine": "simctl", "sim_s": time.perf_counter() - t0,
                  "cpu_s": time.process_time() - c0, "spikes": Sink.n}))
"""

BRIAN_NETM = r"""
import json, sys, time, tempfile
import numpy as np
from brian2 import *
threads = int(sys.argv[1])
directory = tempfile.mkdtemp()
set_device("cpp_standalone", directory=directory, build_on_run=False)
prefs.devices.cpp_standalone.openmp_threads = threads
defaultclock.dt = 1 * ms
Ne, Ni = 800, 200
eqs = '''dv/dt = (0.04*v**2 + 5*v + 140 - u + I + I_noise)/ms : 1
du/dt = a*(b*v - u)/ms : 1
I_noise : 1
I : 1
a : 1
b : 1
c : 1
d : 1'''
G = NeuronGroup(Ne + Ni, eqs, threshold="v >= 30", reset="v = c; u += d", method="euler")
re, ri = np.random.rand(Ne), np.random.rand(Ni)
G.a = np.r_[0.02 * np.ones(Ne), 0.02 + 0.08 * ri]
G.b = np.r_[0.2 * np.ones(Ne), 0.25 - 0.05 * ri]
G.c = np.r_[-65 + 15 * re**2, -65 * np.ones(Ni)]
G.d = np.r_[8 - 6 * re**2, 2 * np.ones(Ni)]
G.v = -65
G.u = "b*v"
G.run_regularly("I_noise = (5 * int(i < 800) + 2 * int(i >= 800)) * randn()", dt=1 * ms)
S = Synapses(G, G, "w : 1", on_pre={"up": "I += w", "down": "I -= w"},
             delay={"up": 0 * ms, "down": 1 * ms})
S.connect()
S.w["i < 800"] = "0.5 * rand()"
S.w["i >= 800"] = "-rand()"
M = SpikeMonitor(G)
run(1000 * ms)
device.build(directory=directory, compile=True, run=False)
import resource
r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
t0 = time.perf_counter()
device.run(directory=directory, with_output=False)
process = time.perf_counter() - t0
r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
cpu = r1.ru_utime + r1.ru_stime - r0.ru_utime - r0.ru_stime
print(json.dumps({"engine": "brian2", "process_s": process, "cpu_s": cpu,
                  "sim_s": float(getattr(device, "_last_run_time", process)),
                  "spikes": int(M.num_spikes)}))
"""


def _run(python: str, source: str, *args: str, timeout: float = 1800) -> dict:
    env = {**os.environ, "OMP_NUM_THREADS": args[0] if args else "1"}
    with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as fh:
        fh.write(textwrap.dedent(source))
    try:
        done = subprocess.run(
            [python, fh.name, *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            env=env,
            cwd=REPO,
        )
    except subprocess.TimeoutExpired:
        return {"error": "timeout"}
    finally:
        os.unlink(fh.name)
    lines = [x for x in done.stdout.splitlines() if x.startswith("{")]
    if done.returncode or not lines:
        return {"error": (done.stderr or done.stdout)[-300:].strip().splitlines()[-1:]}
    return json.loads(lines[-1])


def _whole_process(threads: int) -> tuple[float, float]:
    """Wall and CPU time of ``simctl run network=brunel2000 simulation.duration=1000``."""
    import resource

    out = tempfile.mkdtemp()
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MPLBACKEND": "Agg"}
    args = [
        "run",
        "network=brunel2000",
        "simulation.duration=1000",
        "record.neurons=0",
        "plot.enabled=false",
        f"hydra.run.dir={out}",
    ]
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "simctl.cli", *args], check=True, capture_output=True, env=env
    )
    wall = time.perf_counter() - t0
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, r1.ru_utime + r1.ru_stime - r0.ru_utime - r0.ru_stime


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--case", choices=("brunel", "netm", "scaling", "all"), default="all")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--peers-python", default="")
    parser.add_argument("--duration", type=float, default=1000.0)
    a = parser.parse_args()
    me = sys.executable
    rows = []

    def emit(case: str, threads: int, result: dict) -> None:
        row = {"case": case, "threads": threads, **result}
        rows.append(row)
        print(json.dumps(row), flush=True)

    for threads in a.threads:
        t = str(threads)
        if a.case in ("brunel", "all"):
            emit("brunel_C", threads, _run(me, SIMCTL_BRUNEL, t, "1.0", str(a.duration), "1.0"))
            emit(
                "brunel_C",
                threads,
                dict(
                    zip(("sim_s", "cpu_s"), _whole_process(threads), strict=True),
                    engine="simctl run (whole process)",
                ),
            )
            if a.peers_python:
                emit("brunel_C", threads, _run(a.peers_python, NEST_BRUNEL, t, str(a.duration)))
                emit("brunel_C", threads, _run(a.peers_python, BRIAN_BRUNEL, t, str(a.duration)))
        if a.case in ("netm", "all"):
            emit("netm", threads, _run(me, SIMCTL_NETM, t))
            if a.peers_python:
                emit("netm", threads, _run(a.peers_python, BRIAN_NETM, t))
    if a.case in ("scaling", "all"):
        for scale in (0.1, 1.0, 8.0):  # N = 1250 ... 100 000 at in-degree C_E = 1000·scale·…
            # fixed in-degree 100: epsilon such that 0.1·scale·N_E·eps' = 100
            eps_scale = 1.0 / (10 * scale)
            r = _run(me, SIMCTL_BRUNEL, "1", str(scale), "200", str(eps_scale))
            emit(f"scaling_N_{round(12500 * scale)}", 1, r)
        for k in (0.1, 0.3, 1.0):
            emit(
                f"scaling_indegree_{round(1000 * k)}",
                1,
                _run(me, SIMCTL_BRUNEL, "1", "1.0", "200", str(k)),
            )
    # wall times on a shared machine include waiting for the CPU: cpu_s is the CPU time
    print("\n| case | threads | engine | simulation wall (s) | other |")
    print("|---|---|---|---|---|")
    for r in rows:
        other = {k: v for k, v in r.items() if k not in ("case", "threads", "engine", "sim_s")}
        sim = r.get("sim_s")
        shown = f"{sim:.3g}" if isinstance(sim, float) else "-"
        engine = r.get("engine", "?")
        print(f"| {r['case']} | {r['threads']} | {engine} | {shown} | {json.dumps(other)} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
