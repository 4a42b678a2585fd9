"""The whole `simctl run` process against Brian2 on the same LIF protocol, spikes recorded.

Protocol (both engines): N identical LIF neurons with an exponential current synapse (tau_mem
10 ms, tau_syn 2 ms, v_leak = v_reset = -70 mV, v_th = -55 mV), a constant current R·I = 17 mV
from t = 0, forward Euler at dt = 0.25 ms for ``--steps`` steps (4000: 1 s), every spike
recorded with its time, and v and the synaptic current of the first 10 neurons at every step.
simctl: ``simctl run neuron=lif input=constant population.size=N ... plot.enabled=false``,
which writes ``sim.h5``; Brian2 2.x: the same equations (``method="euler"``, threshold
``v > v_th``, reset ``v = v_reset``), a ``SpikeMonitor`` and a ``StateMonitor``, the results
saved with ``numpy.savez``. Brian2 runs in its own virtual environment (``--peers-python``,
never a simctl dependency), once with its Cython runtime (extension cache warm) and once as
C++ standalone into a fixed directory that earlier runs have built (a reused build: make
finds nothing to recompile).

Each engine runs as its own process, rotated, after one untimed warm-up run each (simctl's
trace and kernel caches, Brian2's Cython cache and standalone build). Reported per engine: the
best wall time, the best CPU time (user + system of the process and its children), peak RSS,
and the spike count. The machine may be shared: the engines see the same load because they
alternate, and the CPU times are less sensitive to it than the wall times.

Usage::

    python benchmarks/cli_end_to_end.py --peers-python /work/peers-venv/bin/python
    python benchmarks/cli_end_to_end.py --sizes 1000 --repeats 1   # simctl alone without peers
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

BRIAN2_LIF = r"""
import sys, time
import numpy as np
mode, N, steps, out = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
from brian2 import *
if mode == "standalone":
    set_device("cpp_standalone", directory=sys.argv[5])
else:
    prefs.codegen.target = "cython"
defaultclock.dt = 0.25 * ms
tau_mem, tau_syn = 10 * ms, 2 * ms
v_leak, v_th, v_reset, I = -70 * mV, -55 * mV, -70 * mV, 17 * mV
G = NeuronGroup(
    N,
    "dv/dt = (v_leak - v + isyn + I) / tau_mem : volt\ndisyn/dt = -isyn / tau_syn : volt",
    threshold="v > v_th", reset="v = v_reset", method="euler",
)
G.v = v_leak
M = SpikeMonitor(G)
S = StateMonitor(G, ["v", "isyn"], record=range(min(10, N)))
run(steps * defaultclock.dt)
np.savez(out, i=np.asarray(M.i[:]), t=np.asarray(M.t_[:]), v=np.asarray(S.v_[:]),
         isyn=np.asarray(S.isyn_[:]))
print("SPIKES", int(M.num_spikes))
"""


def _measure(command: list[str], env: dict[str, str]) -> dict[str, Any]:
    """Runs ``command``; wall time, CPU time and peak RSS of that process alone (wait4)."""
    start = time.perf_counter()
    process = subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=False
    )
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - start
    stdout = process.stdout.read().decode(errors="replace") if process.stdout else ""
    stderr = process.stderr.read().decode(errors="replace") if process.stderr else ""
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise RuntimeError(f"{' '.join(command[:4])} ... failed:\n{stderr[-2000:]}")
    return {
        "wall_s": wall,
        "cpu_s": usage.ru_utime + usage.ru_stime,
        "peak_rss_mb": usage.ru_maxrss / 1024,
        "stdout": stdout,
    }


def _simctl_spikes(run_dir: Path) -> int:
    import h5py

    with h5py.File(run_dir / "sim.h5", "r") as f:
        return int(sum(g["spike_count"][:].sum() for g in f["summary"].values()))


def _engines(args: argparse.Namespace, n: int, work: Path) -> dict[str, Any]:
    """name -> (command, env, spike counter) for one size."""
    env = dict(os.environ, MPLBACKEND="Agg")
    duration = args.steps * 0.25
    engines: dict[str, Any] = {}
    run_dir = work / f"simctl_{n}"
    engines["simctl"] = (
        [
            sys.executable,
            "-m",
            "simctl.cli",
            "run",
            "neuron=lif",
            "input=constant",
            f"population.size={n}",
            "simulation.dt=0.25",
            f"simulation.duration={duration:g}",
            "plot.enabled=false",
            f"hydra.run.dir={run_dir}",
        ],
        env,
        lambda result: _simctl_spikes(run_dir),
    )
    if args.peers_python:
        script = work / "brian2_lif.py"
        script.write_text(BRIAN2_LIF)
        # the peer's own environment, none of simctl's
        peer_env = {k: v for k, v in env.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
        for mode in ("cython", "standalone"):
            build = work / f"brian2_standalone_{n}"
            engines[f"brian2_{mode}"] = (
                [
                    args.peers_python,
                    str(script),
                    mode,
                    str(n),
                    str(args.steps),
                    str(work / f"brian2_{mode}_{n}.npz"),
                    str(build),
                ],
                peer_env,
                lambda result: int(result["stdout"].split("SPIKES")[-1].split()[0]),
            )
    return engines


def run(args: argparse.Namespace) -> list[dict[str, Any]]:
    rows = []
    with tempfile.TemporaryDirectory(prefix="simctl-e2e-") as tmp:
        work = Path(tmp)
        for n in args.sizes:
            engines = _engines(args, n, work)
            for command, env, _ in engines.values():  # warm-up: caches and builds
                _measure(command, env)
            best: dict[str, dict[str, Any]] = {}
            names = list(engines)
            for r in range(args.repeats):
                for name in names[r % len(names) :] + names[: r % len(names)]:
                    command, env, spikes = engines[name]
                    result = _measure(command, env)
                    result["spikes"] = spikes(result)
                    kept = best.setdefault(name, result)
                    kept["wall_s"] = min(kept["wall_s"], result["wall_s"])
                    kept["cpu_s"] = min(kept["cpu_s"], result["cpu_s"])
                    kept["peak_rss_mb"] = max(kept["peak_rss_mb"], result["peak_rss_mb"])
            for name, result in best.items():
                result.pop("stdout", None)
                rows.append({"engine": name, "neurons": n, "steps": args.steps, **result})
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--peers-python", default="", help="python of a venv with brian2")
    parser.add_argument("--sizes", type=int, nargs="*", default=[1000, 100000])
    parser.add_argument("--steps", type=int, default=4000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    for row in run(args):
        print(json.dumps(row), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
