"""Peers for benchmarks/run.py's ``*_peers`` / ``*_brian2`` cases: a plain C step loop and Brian2.

* :func:`c_step_loop` compiles, at run time, the baseline a C programmer writes for a
  feed-forward LIF population: one loop over steps, inside it one loop over all neurons
  (``-O3 -march=native -ffp-contract=off``, OpenMP over neurons with a static schedule, so a
  thread keeps its neuron range from step to step and no barrier is needed). The update is
  :func:`simctl.neurons.lif.lif_feed_forward_step`'s, operation for operation in float32, so the
  spikes are identical to simctl's.
* :class:`Peer` runs a script in the peers' own virtual environment (``--peers-python``; Brian2
  is never a simctl dependency) as a long-lived process: it builds once, then answers each
  ``run`` line on stdin with one JSON line of timings, so the caller can alternate it with
  simctl in the same run.
* ``BRIAN2_IZHIKEVICH`` and ``BRIAN2_RECURRENT`` are the Brian2 C++ standalone scripts. The
  build is kept in a fixed directory (``$TMPDIR/simctl-bench-brian2/<name>``) so a later run
  reuses it; a ``run`` executes the built binary again (``device.run``) and reports Brian2's own
  timer (``device._last_run_time``: the time of the network's run inside the binary), the
  binary's wall time and its CPU time (user + system of the child process).
"""

from __future__ import annotations

import ctypes
import json
import os
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

C_LIF_STEP_LOOP = r"""
#include <stdint.h>

/* Feed-forward LIF (simctl.neurons.lif.lif_feed_forward_step), steps t0 ... t0 + steps - 1:
 * i_jump = i + x;  v1 = v + a*((0 - v) + i_jump);  i2 = i_jump - b*i_jump;
 * z = (v1 - v_th) > 0;  v = (1 - z)*v1 + z*v_reset;  i = i2.
 * x is (x_rows, n), read at row t % x_rows; out is (steps, n). */
void lif_steps(const float *x, int64_t x_rows, int64_t n, int64_t t0, int64_t steps,
               float *v, float *i, float *out, float a, float b, float v_th, float v_reset,
               int threads) {
#pragma omp parallel num_threads(threads)
    for (int64_t t = 0; t < steps; ++t) {
        const float *xt = x + ((t0 + t) % x_rows) * n;
        float *zt = out + t * n;
#pragma omp for schedule(static) nowait
        for (int64_t k = 0; k < n; ++k) {
            float ij = i[k] + xt[k];
            float v1 = v[k] + a * ((0.0f - v[k]) + ij);
            float i2 = ij - b * ij;
            float z = (v1 - v_th) > 0.0f ? 1.0f : 0.0f;
            v[k] = (1.0f - z) * v1 + z * v_reset;
            i[k] = i2;
            zt[k] = z;
        }
    }
}
"""

C_FLAGS = ["-O3", "-march=native", "-ffp-contract=off", "-fno-math-errno", "-fopenmp"]


def c_step_loop(directory: str) -> Callable[..., None]:
    """Compiles :data:`C_LIF_STEP_LOOP` with ``$CC`` (``cc``) into ``directory``; returns
    ``lif_steps(x, t0, v, i, out, a, b, v_th, v_reset, threads)`` on float32 torch tensors
    (``x`` ``(rows, N)``, ``v``/``i`` ``(N,)`` updated in place, ``out`` ``(steps, N)``)."""
    source = Path(directory) / "lif_steps.c"
    library = Path(directory) / "lif_steps.so"
    source.write_text(C_LIF_STEP_LOOP)
    compiler = os.environ.get("CC", "cc")
    command = [compiler, *C_FLAGS, "-shared", "-fPIC", str(source), "-o", str(library)]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode:  # e.g. a compiler without -march=native
        command.remove("-march=native")
        subprocess.run(command, check=True, capture_output=True, text=True)
    kernel = ctypes.CDLL(str(library)).lif_steps
    i64, f32, ptr = ctypes.c_int64, ctypes.c_float, ctypes.c_void_p
    kernel.argtypes = [ptr, i64, i64, i64, i64, ptr, ptr, ptr, f32, f32, f32, f32, ctypes.c_int]
    kernel.restype = None

    def lif_steps(x, t0, v, i, out, a, b, v_th, v_reset, threads) -> None:
        rows, n = x.shape
        kernel(
            x.data_ptr(), rows, n, t0, out.shape[0], v.data_ptr(), i.data_ptr(),
            out.data_ptr(), a, b, v_th, v_reset, threads,
        )  # fmt: skip

    return lif_steps


def timed(function: Callable[[], Any]) -> tuple[float, float]:
    """(wall s, CPU s of this process: every thread) of one call."""
    wall, cpu = time.perf_counter(), time.process_time()
    function()
    return time.perf_counter() - wall, time.process_time() - cpu


class Peer:
    """A script in the peers' venv that builds once and then answers ``run`` lines."""

    def __init__(self, python: str, source: str, *args: str, threads: int = 1) -> None:
        handle, self.script = tempfile.mkstemp(suffix=".py", prefix="simctl-peer-")
        with os.fdopen(handle, "w") as fh:
            fh.write(textwrap.dedent(source))
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
        env["OMP_NUM_THREADS"] = str(threads)
        self.process = subprocess.Popen(
            [python, self.script, str(threads), *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        self.ready = self._reply()

    def _reply(self) -> dict[str, Any]:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            if line.startswith("{"):
                return json.loads(line)
        error = self.process.stderr.read() if self.process.stderr else ""
        raise RuntimeError(f"peer {self.script} failed:\n{error[-3000:]}")

    def run(self) -> dict[str, Any]:
        assert self.process.stdin is not None
        self.process.stdin.write("run\n")
        self.process.stdin.flush()
        return self._reply()

    def close(self) -> None:
        try:
            if self.process.poll() is None and self.process.stdin is not None:
                self.process.stdin.close()
            self.process.wait(timeout=60)
        finally:
            os.unlink(self.script)

    def __enter__(self) -> Peer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# the part every Brian2 script shares: a fixed build directory, build once, then serve runs
_BRIAN2_SERVE = r"""
def serve(directory, monitor, build_start):
    import resource
    device.build(directory=directory, compile=True, run=False)
    build = time.perf_counter() - build_start
    print(json.dumps({"ready": True, "build_s": build, "brian2": brian2.__version__}), flush=True)
    for line in sys.stdin:
        if line.strip() != "run":
            break
        r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        device.run(directory=directory, with_output=False)
        wall = time.perf_counter() - t0
        r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = r1.ru_utime + r1.ru_stime - r0.ru_utime - r0.ru_stime
        print(json.dumps({"run_s": float(device._last_run_time), "process_s": wall,
                          "cpu_s": cpu, "spikes": int(monitor.num_spikes)}), flush=True)
"""

BRIAN2_IZHIKEVICH = (
    r"""
import json, os, sys, tempfile, time
import brian2
from brian2 import *
threads, neurons, steps, current, directory = (int(sys.argv[1]), int(sys.argv[2]),
    int(sys.argv[3]), float(sys.argv[4]), sys.argv[5])
build_start = time.perf_counter()
set_device("cpp_standalone", directory=directory, build_on_run=False)
prefs.devices.cpp_standalone.openmp_threads = 0 if threads <= 1 else threads
prefs.core.default_float_dtype = float32
defaultclock.dt = 0.25 * ms
# Izhikevich (2004), figure1.m (tonic spiking): v += tau*(0.04 v^2 + 5 v + 140 - u + I);
# u += tau*a*(b*v - u) with the new v; if v > 30: v = c, u += d. The update is written out
# (run_regularly in the state-update slot) so it is this explicit form, not Brian2's Euler.
G = NeuronGroup(neurons, "v : 1\nu : 1\nI : 1\na : 1\nb : 1\nc : 1\nd : 1",
                threshold="v > 30", reset="v = c\nu = u + d", method="euler")
G.run_regularly("v = v + 0.25 * (0.04 * v**2 + 5 * v + 140 - u + I)\n"
                "u = u + 0.25 * (a * (b * v - u))", when="groups")
G.a, G.b, G.c, G.d, G.I = 0.02, 0.2, -65.0, 6.0, current
G.v = -65.0
G.u = "b * v"
M = SpikeMonitor(G)
S = StateMonitor(G, "v", record=True)
run(steps * defaultclock.dt)
"""
    + _BRIAN2_SERVE
    + "\nserve(directory, M, build_start)\n"
)

BRIAN2_RECURRENT = (
    r"""
import json, os, sys, tempfile, time
import numpy as np
import brian2
from brian2 import *
threads, arrays, directory = int(sys.argv[1]), sys.argv[2], sys.argv[3]
data = np.load(arrays)
neurons, inputs, steps = (int(data[k]) for k in ("neurons", "inputs", "steps"))
build_start = time.perf_counter()
set_device("cpp_standalone", directory=directory, build_on_run=False)
prefs.devices.cpp_standalone.openmp_threads = 0 if threads <= 1 else threads
prefs.core.default_float_dtype = float32
defaultclock.dt = 1 * ms
# simctl's LIF (Norse's defaults): dv/dt = ((0 - v) + i)/tau_mem, di/dt = -i/tau_syn,
# v > 1 -> v = 0; Euler at 1 ms. Input and recurrent spikes jump isyn (simctl's i).
G = NeuronGroup(neurons, "dv/dt = ((0 - v) + isyn) / (10*ms) : 1\ndisyn/dt = -isyn / (5*ms) : 1",
                threshold="v > 1", reset="v = 0", method="euler")
# simctl adds step t's input before updating step t; Brian2 delivers a spike after the state
# update of its step, so each input spike is emitted one step earlier (step 0's into isyn's
# initial value)
t_in, k_in = data["input_steps"], data["input_ids"]
early = t_in > 0
P = SpikeGeneratorGroup(inputs, k_in[early], (t_in[early] - 1) * defaultclock.dt)
SI = Synapses(P, G, "w : 1", on_pre="isyn_post += w")
SI.connect(i=data["in_pre"], j=data["in_post"])
SI.w = data["in_w"]
SR = Synapses(G, G, "w : 1", on_pre="isyn_post += w")
SR.connect(i=data["rec_pre"], j=data["rec_post"])
SR.w = data["rec_w"]
G.isyn = data["i0"]
M = SpikeMonitor(G)
run(steps * defaultclock.dt)
"""
    + _BRIAN2_SERVE
    + "\nserve(directory, M, build_start)\n"
)


def build_directory(name: str) -> str:
    """A fixed directory for a Brian2 build, reused by later runs (make recompiles nothing)."""
    path = Path(tempfile.gettempdir()) / "simctl-bench-brian2" / name
    path.mkdir(parents=True, exist_ok=True)
    return str(path)


if __name__ == "__main__":  # a check of the C loop: python benchmarks/peers.py
    import torch

    with tempfile.TemporaryDirectory() as tmp:
        loop = c_step_loop(tmp)
        x = 3.0 * torch.rand(100, 1000)
        v, i, out = torch.zeros(1000), torch.zeros(1000), torch.empty(100, 1000)
        loop(x, 0, v, i, out, 0.1, 0.2, 1.0, 0.0, 1)
        print(int(out.sum()), file=sys.stderr)
