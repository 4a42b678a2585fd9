"""simctl's speed and memory benchmarks: ratios against a plain PyTorch eager loop.

Every case runs in its own subprocess (so its peak RSS is its own), times simctl's fast path and
an eager Euler loop of the same model written as simply as a user would write it, alternately in
one process, and prints one JSON line::

    {"case", "neurons", "steps", "neuron_steps_per_s", "eager_neuron_steps_per_s", "ratio",
     "target", "met", "peak_rss_mb", "backend", ...}

followed (in the driver) by a summary table. Timings are the best of ``--repeats`` alternating
rounds, which is robust to other load on the machine. Benchmarks are never timed assertions in
the tests.

Usage::

    python benchmarks/run.py                 # all cases
    python benchmarks/run.py --quick         # smoke run: small sizes, one repeat
    python benchmarks/run.py --case izhikevich_20x4000 --repeats 5
    python benchmarks/run.py --list
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

CASES: dict[str, Callable[[argparse.Namespace], dict[str, Any]]] = {}


def case(name: str) -> Callable[[Callable[..., dict[str, Any]]], Callable[..., dict[str, Any]]]:
    def register(function: Callable[..., dict[str, Any]]) -> Callable[..., dict[str, Any]]:
        CASES[name] = function
        return function

    return register


def _best(function: Callable[[], Any], repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        best = min(best, time.perf_counter() - start)
    return best


def _alternate(
    fast: Callable[[], Any], eager: Callable[[], Any], repeats: int
) -> tuple[float, float]:
    """Best times of ``fast`` and ``eager``, measured in alternation (same load for both)."""
    best_fast = best_eager = float("inf")
    for _ in range(repeats):
        best_eager = min(best_eager, _best(eager, 1))
        best_fast = min(best_fast, _best(fast, 1))
    return best_fast, best_eager


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _result(name, neurons, steps, t_fast, t_eager, eager_steps, target, **extra):
    rate = neurons * steps / t_fast
    eager_rate = neurons * eager_steps / t_eager
    ratio = rate / eager_rate
    return {
        "case": name,
        "neurons": neurons,
        "steps": steps,
        "neuron_steps_per_s": rate,
        "eager_neuron_steps_per_s": eager_rate,
        "ratio": ratio,
        "target": target,
        "met": ratio >= target if target else None,
        "peak_rss_mb": _peak_rss_mb(),
        **extra,
    }


# --------------------------------------------------------------------------------------------
# eager baselines: what a user writes


def eager_lif(x, steps, dt=0.001, tau_syn_inv=200.0, tau_mem_inv=100.0, v_th=1.0):
    import torch

    n = x.shape[-1]
    v = torch.zeros(n)
    i = torch.zeros(n)
    spikes = []
    for t in range(steps):
        i = i + x[t % x.shape[0]]
        v = v + dt * tau_mem_inv * ((0.0 - v) + i)
        i = i - dt * tau_syn_inv * i
        z = (v > v_th).float()
        v = (1 - z) * v + z * 0.0
        spikes.append(z)
    return torch.stack(spikes)


def eager_izhikevich(current, a, b, c, d, dt=0.25):
    import torch

    v = torch.full((current.shape[1],), -70.0)
    u = b * v
    spikes = []
    for t in range(current.shape[0]):
        v_new = v + dt * (0.04 * v * v + 5 * v + 140 - u + current[t])
        u = u + dt * a * (b * v_new - u)
        z = (v_new > 30).float()
        v = torch.where(z > 0, torch.tensor(c), v_new)
        u = u + z * d
        spikes.append(z)
    return torch.stack(spikes)


# --------------------------------------------------------------------------------------------
# cases


def _lif_case(name: str, neurons: int, steps: int, block: int, target: float, args) -> dict:
    import torch

    from simctl import kernels
    from simctl.neurons import lif

    torch.manual_seed(0)
    x = 3.0 * torch.rand(block, neurons)
    p = lif.LIFParameters()
    state0 = lif.lif_initial_state((neurons,), p)

    def fast():
        state = state0
        for _ in range(steps // block):  # blocks of input, as the runner streams them
            out, _, state = kernels.integrate(lif.MODEL, x, state, p, 0.001)
        return out

    eager_steps = steps if neurons <= 10**5 else max(block, steps // 5)

    def eager():
        with torch.no_grad():
            for _ in range(eager_steps // block):
                eager_lif(x, block)

    fast()  # build and load the kernel once (reported separately below)
    t_fast, t_eager = _alternate(fast, eager, args.repeats)
    return _result(
        name,
        neurons,
        steps,
        t_fast,
        t_eager,
        eager_steps,
        target,
        backend=kernels.last_backend()[0],
        threads=torch.get_num_threads(),
    )


@case("lif_ff_1e3")
def lif_small(args):
    return _lif_case("lif_ff_1e3", 1000, 1000, 1000, 10.0, args)


@case("lif_ff_1e6")
def lif_large(args):
    neurons = 10**5 if args.quick else 10**6
    return _lif_case("lif_ff_1e6", neurons, 1000 if not args.quick else 200, 100, 3.0, args)


@case("lif_ff_loop_order")
def lif_loop_order(args):
    """Feed-forward LIF in 100-step blocks at 10^4 … 10^6 neurons, one thread: the kernel's
    loop orders (``tile``: 256-neuron tiles with time inside, the order before the size-based
    choice; ``wide``: step-ordered 8192-neuron tiles; ``auto``: chosen by working-set size)
    against ``torch.compile`` of the same step looped in Python; identical spikes checked."""
    import torch

    from simctl import kernels
    from simctl.kernels import fused
    from simctl.neurons import lif

    torch.set_num_threads(1)
    sizes = (10**4, 10**5) if args.quick else (10**4, 10**5, 10**6)
    block, steps = 100, 200 if args.quick else 1000
    p = lif.LIFParameters()
    rows = {}
    compiled = torch.compile(lif.MODEL.feed_forward_step, dynamic=False)
    for neurons in sizes:
        torch.manual_seed(0)
        x = 3.0 * torch.rand(block, neurons)
        state0 = lif.lif_initial_state((neurons,), p)
        spikes = {}

        # spikes are counted in the untimed first run only: a count costs a pass over the output
        def fused_run(order, count=False, x=x, state0=state0):
            fused.LOOP_ORDER = order
            state, total = state0, 0
            for _ in range(steps // block):
                out, _, state = kernels.integrate(lif.MODEL, x, state, p, 0.001)
                total += int(torch.count_nonzero(out)) if count else 0
            return total

        def compiled_run(blocks=1, count=False, x=x, state0=state0):
            state, total = state0, 0
            with torch.no_grad():
                for _ in range(blocks):
                    for t in range(block):
                        z, state = compiled(x[t], state, p, 0.001)
                        total += int(torch.count_nonzero(z)) if count else 0
            return total

        timings = {}
        for order in ("tile", "wide", "auto"):
            spikes[order] = fused_run(order, count=True)
            timings[order] = _best(lambda order=order: fused_run(order), args.repeats) / steps
        spikes["compile"] = compiled_run(blocks=steps // block, count=True)
        timings["compile"] = _best(compiled_run, max(1, args.repeats)) / block
        fused.LOOP_ORDER = "auto"
        rows[neurons] = {
            **{f"{k}_neuron_steps_per_s": neurons / v for k, v in timings.items()},
            "auto_over_tile": timings["tile"] / timings["auto"],
            "auto_over_compile": timings["compile"] / timings["auto"],
            "identical_spikes": len(set(spikes.values())) == 1,
        }
    last = rows[sizes[-1]]
    return {
        "case": "lif_ff_loop_order",
        "neurons": sizes[-1],
        "steps": steps,
        "neuron_steps_per_s": last["auto_neuron_steps_per_s"],
        "eager_neuron_steps_per_s": last["compile_neuron_steps_per_s"],
        "ratio": last["auto_over_compile"],
        "target": 1.0,
        "met": all(r["auto_over_compile"] >= 1.0 and r["identical_spikes"] for r in rows.values()),
        "peak_rss_mb": _peak_rss_mb(),
        "baseline": "torch.compile of the step",
        "sizes": rows,
    }


@case("call_overhead")
def call_overhead(args):
    """The fixed cost of a call and of fresh output pages (benchmarks/overhead.py, in-process):
    targets ≤ 20 µs per library-layer call and ≤ 5 % of a runner block at 10^4 neurons."""
    import contextlib
    import io

    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import overhead

    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        overhead.main(["--calls", "300" if args.quick else "2000", "--repeats", str(args.repeats)])
    figures = json.loads(buffer.getvalue().strip().splitlines()[-1])
    return {
        "case": "call_overhead",
        "neurons": 10**4,
        "steps": 100,
        "target": "layer <= 20 us, block <= 5 %",
        "met": figures["layer_us"] <= 20 and figures["runner_block_overhead"] <= 0.05,
        "layer_met": figures["layer_us"] <= 20,
        "block_met": figures["runner_block_overhead"] <= 0.05,
        "peak_rss_mb": _peak_rss_mb(),
        **figures,
    }


@case("izhikevich_20x4000")
def izhikevich_fig1(args):
    import torch

    from simctl import kernels
    from simctl.neurons import izhikevich as iz

    neurons, steps = 20, 4000
    p = iz.IZHIKEVICH_PRESETS["tonic_spiking"].p._replace(tau_inv=1.0, update_order="sequential")
    current = torch.full((steps, neurons), 10.0)
    state0 = iz.izhikevich_initial_state((neurons,), p)
    start = time.perf_counter()
    out, _, _ = kernels.integrate(iz.MODEL, current, state0, p, 0.25, ("v",))
    first_call = time.perf_counter() - start  # trace + (cached) compile + run

    def fast():
        kernels.integrate(iz.MODEL, current, state0, p, 0.25, ("v",))

    def eager():
        with torch.no_grad():
            eager_izhikevich(current, p.a, p.b, p.c, p.d, 0.25)

    spikes_fast = int(out.sum())
    spikes_eager = int(eager_izhikevich(current, p.a, p.b, p.c, p.d, 0.25).sum())
    t_fast = min(_best(fast, 20) for _ in range(max(1, args.repeats)))
    t_eager = _best(eager, max(1, args.repeats))
    return _result(
        "izhikevich_20x4000",
        neurons,
        steps,
        t_fast,
        t_eager,
        steps,
        100.0,
        backend=kernels.last_backend()[0],
        us_per_step=1e6 * t_fast / steps,
        eager_us_per_step=1e6 * t_eager / steps,
        first_call_s=first_call,
        spikes=spikes_fast,
        eager_spikes=spikes_eager,
    )


def _recurrent_network(quick: bool) -> tuple:
    """The network of ``recurrent_lif_1e4_sparse`` and its Brian2 peer row: 10^4 LIF neurons
    (2000 with ``--quick``), 1 % sparse recurrent weights, 100 Poisson-like inputs over 1000
    steps (200), about 3 % of neurons spiking per step. Returns ``(neurons, steps, inputs,
    w_rec, w_in, x, layer)``, the layer's recurrent weights sparse (event-driven)."""
    import torch

    from simctl.kernels.sparse import sparsify
    from simctl.neurons import lif

    torch.manual_seed(0)
    neurons = 2000 if quick else 10**4
    steps = 200 if quick else 1000
    inputs = 100
    mask = torch.rand(neurons, neurons) < 0.01
    w_rec = mask.float() * torch.randn(neurons, neurons) * 0.2
    w_rec.fill_diagonal_(0.0)
    w_in = torch.rand(neurons, inputs) * 0.6
    x = (torch.rand(steps, inputs) < 0.05).float() * 0.12
    layer = lif.LIFRecurrent(
        inputs, neurons, input_weights=w_in, recurrent_weights=sparsify(w_rec), autapses=True
    )
    return neurons, steps, inputs, w_rec, w_in, x, layer


@case("recurrent_lif_1e4_sparse")
def recurrent_sparse(args):
    import torch

    from simctl.kernels.sparse import density

    neurons, steps, inputs, w_rec, w_in, x, layer = _recurrent_network(args.quick)
    eager_steps = min(steps, 100)

    def fast():
        with torch.no_grad():
            return layer(x)[0]

    def eager():  # a user's loop with a dense recurrent matmul
        with torch.no_grad():
            v = torch.zeros(neurons)
            i = torch.zeros(neurons)
            z = torch.zeros(neurons)
            for t in range(eager_steps):
                i = i + x[t] @ w_in.T + z @ w_rec.T
                v = v + 0.001 * 100.0 * ((0.0 - v) + i)
                i = i - 0.001 * 200.0 * i
                z = (v > 1.0).float()
                v = (1 - z) * v

    spikes = fast()
    t_fast, t_eager = _alternate(fast, eager, args.repeats)
    return _result(
        "recurrent_lif_1e4_sparse",
        neurons,
        steps,
        t_fast,
        t_eager,
        eager_steps,
        3.0,
        backend="event-driven",
        density=density(w_rec),
        spikes_per_step=float(spikes.sum() / steps),
    )


def _process(command: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(wall s, CPU s of the process and its children) of one process run to completion."""
    start = time.perf_counter()
    child = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(child.stderr.read().decode(errors="replace")[-3000:])
    return wall, usage.ru_utime + usage.ru_stime


@case("izhikevich2004_cli")
def izhikevich2004_cli(args):
    """The whole `simctl run experiment=izhikevich2004` process (imports, plots, checks)
    against `python -c "import torch"`, alternating, best of ``repeats`` (at least 3): warm
    (trace and kernel caches filled by an earlier run) and cold (both caches empty).
    Target: warm ≤ 1 s above importing torch."""
    env = dict(os.environ, MPLBACKEND="Agg")
    torch_only = [sys.executable, "-c", "import torch"]
    with tempfile.TemporaryDirectory() as tmp:

        def simctl(name: str, cache: str) -> list[str]:
            env["SIMCTL_CACHE_DIR"] = cache
            return [
                sys.executable,
                "-m",
                "simctl.cli",
                "run",
                "experiment=izhikevich2004",
                f"hydra.run.dir={tmp}/{name}",
            ]

        best = {"torch": (1e9, 1e9), "warm": (1e9, 1e9), "cold": (1e9, 1e9)}
        _process(simctl("warmup", f"{tmp}/cache"), env)  # fills the warm cache
        for r in range(max(3, args.repeats)):
            runs = {
                "torch": lambda: _process(torch_only, env),
                "warm": lambda: _process(simctl("warm", f"{tmp}/cache"), env),
                "cold": lambda r=r: _process(simctl("cold", f"{tmp}/cold{r}"), env),
            }
            for name, function in runs.items():
                wall, cpu = function()
                best[name] = (min(best[name][0], wall), min(best[name][1], cpu))
        env["SIMCTL_KERNELS"] = "reference"
        reference, _ = _process(simctl("reference", f"{tmp}/cache"), env)
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    above = best["warm"][0] - best["torch"][0]
    return {
        "case": "izhikevich2004_cli",
        "neurons": 20,
        "steps": None,
        "wall_s": best["warm"][0],
        "cpu_s": best["warm"][1],
        "cold_wall_s": best["cold"][0],
        "cold_cpu_s": best["cold"][1],
        "import_torch_wall_s": best["torch"][0],
        "import_torch_cpu_s": best["torch"][1],
        "above_import_torch_s": above,
        "cpu_above_import_torch_s": best["warm"][1] - best["torch"][1],
        "wall_s_reference_kernels": reference,
        "load_average": os.getloadavg()[0],
        "target": "<= 1 s above import torch",
        "met": above <= 1.0,
        "peak_rss_mb": usage.ru_maxrss / 1024,
    }


@case("cli_lif_end_to_end")
def cli_lif_end_to_end(args):
    """`simctl run` of LIF at 10^3 and 10^5 neurons, 4000 steps, spikes recorded, against
    Brian2's Cython runtime and C++ standalone (reused build) on the same protocol
    (benchmarks/cli_end_to_end.py; Brian2 from ``--peers-python``). Target: no slower."""
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import cli_end_to_end

    options = argparse.Namespace(
        peers_python=args.peers_python,
        sizes=[1000, 10000] if args.quick else [1000, 100000],
        steps=400 if args.quick else 4000,
        repeats=max(1, args.repeats),
    )
    rows = cli_end_to_end.run(options)
    sizes: dict[str, dict[str, Any]] = {}
    for row in rows:
        sizes.setdefault(str(row["neurons"]), {})[row["engine"]] = {
            k: row[k] for k in ("wall_s", "cpu_s", "peak_rss_mb", "spikes")
        }
    met: bool | None = None
    if args.peers_python:
        met = all(
            size["simctl"]["wall_s"]
            <= min(size["brian2_cython"]["wall_s"], size["brian2_standalone"]["wall_s"])
            for size in sizes.values()
        )
    large = sizes[str(options.sizes[-1])]
    peer = large.get("brian2_cython", {}).get("wall_s")
    return {
        "case": "cli_lif_end_to_end",
        "neurons": options.sizes[-1],
        "steps": options.steps,
        "wall_s": large["simctl"]["wall_s"],
        "ratio": (peer / large["simctl"]["wall_s"]) if peer else None,
        "baseline": "Brian2 cython runtime (wall, same run)",
        "sizes": sizes,
        "load_average": os.getloadavg()[0],
        "target": "<= Brian2 cython and standalone",
        "met": met,
        "peak_rss_mb": max(e["peak_rss_mb"] for s in sizes.values() for e in s.values()),
    }


@case("batch_launcher_32")
def batch_launcher_32(args):
    """A 32-job amplitude sweep of one Izhikevich neuron (1 s), the whole `simctl run -m`
    process: the basic launcher against hydra/launcher=batch (benchmarks/batch_launcher.py)."""
    import importlib.util

    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "batch_launcher.py")
    spec = importlib.util.spec_from_file_location("batch_launcher_bench", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    row = module.measure("izhikevich", plots=False, repeats=1 if args.quick else args.repeats)
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return {**row, "neurons": 32, "steps": 4000, "peak_rss_mb": usage.ru_maxrss / 1024}


@case("stream_1e5x1e5")
def stream_memory(args):
    """10^5 neurons × 10^5 steps through `simctl run`, spikes recorded: peak RSS of the run."""
    neurons = 10**5
    steps = 2000 if args.quick else 10**5
    dt = 0.1
    with tempfile.TemporaryDirectory() as tmp:
        command = [
            sys.executable,
            "-m",
            "simctl.cli",
            "run",
            "neuron=lif",
            "input=constant",
            f"population.size={neurons}",
            f"simulation.dt={dt}",
            f"simulation.duration={steps * dt}",
            "plot.enabled=false",
            f"hydra.run.dir={tmp}/run",
            *args.stream_overrides,
        ]
        start = time.perf_counter()
        result = subprocess.run(command, env=dict(os.environ), capture_output=True, text=True)
        wall = time.perf_counter() - start
        if result.returncode != 0:
            raise RuntimeError(result.stderr[-3000:])
        size = sum(
            os.path.getsize(os.path.join(root, f)) for root, _, files in os.walk(tmp) for f in files
        )
        import h5py  # here, after the run: its peak RSS is the child process's alone

        with h5py.File(os.path.join(tmp, "run", "sim.h5"), "r") as f:
            spikes = int(sum(group["spike_count"][:].sum() for group in f["summary"].values()))
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return {
        "case": "stream_1e5x1e5",
        "neurons": neurons,
        "steps": steps,
        "neuron_steps_per_s": neurons * steps / wall,
        "wall_s": wall,
        "file_mb": size / 2**20,
        "spikes": spikes,
        "target": "peak RSS < 2048 MB",
        "met": usage.ru_maxrss / 1024 < 2048,
        "peak_rss_mb": usage.ru_maxrss / 1024,
        "command": " ".join(command[2:]),
    }


# --------------------------------------------------------------------------------------------
# against peers in the same run (benchmarks/peers.py): a plain C step loop, torch.compile,
# Brian2's C++ standalone (in its own venv, --peers-python)


def _peers_module():
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import peers

    return peers


def _rotated(contenders: dict[str, Callable[[], Any]], rounds: int) -> dict[str, dict]:
    """Best wall and CPU time of each contender, called in turn (the order rotated every
    round), so every one sees the same load on a shared machine."""
    timed = _peers_module().timed
    best = {name: {"wall_s": float("inf"), "cpu_s": float("inf")} for name in contenders}
    names = list(contenders)
    for r in range(rounds):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            wall, cpu = timed(contenders[name])
            best[name]["wall_s"] = min(best[name]["wall_s"], wall)
            best[name]["cpu_s"] = min(best[name]["cpu_s"], cpu)
    return best


@case("lif_ff_peers")
def lif_ff_peers(args):
    """Feed-forward LIF, 10^3 … 10^6 neurons × 10^3 steps, 1 and 2 threads: simctl
    (``kernels.integrate`` per 100-step block as the runner calls it: with the population's
    :class:`simctl.kernels.Workspace`, each block from the state the last one returned, the
    last output still held) against ``torch.compile`` of the same step looped over steps and a
    plain C step loop (all neurons per step, its state and output arrays kept from call to call,
    benchmarks/peers.py; OpenMP threads when a call has at least ``PARALLEL_MIN_WORK``
    neuron-steps, simctl's own rule, because waking a second thread for a smaller call costs
    more than it saves on a loaded machine), alternating, best of ``repeats`` (at least 3; more
    rounds for the small sizes), wall and process CPU time, identical spike counts checked.
    ``simctl_plain`` is the same loop without a workspace (fresh state arrays every call), a
    row of its own, not the target's. ``wrapper_us`` is simctl's fixed cost per call (the same
    call on one neuron), and ``wrapper_share`` the part of simctl's time it accounts for.
    Targets: simctl ≥ torch.compile at every N and ≥ 0.6× the C step loop from 10^4 up, at
    both thread counts."""
    import torch

    from simctl import kernels
    from simctl.kernels import fused
    from simctl.neurons import lif

    peers = _peers_module()
    sizes = (10**3, 10**4, 10**5) if args.quick else (10**3, 10**4, 10**5, 10**6)
    block, steps = 100, 200 if args.quick else 1000
    blocks = steps // block
    p = lif.LIFParameters()
    a, b = 0.001 * p.tau_mem_inv, 0.001 * p.tau_syn_inv  # as torch computes dt·tau_inv
    rounds = max(3, args.repeats)
    rows: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        c_loop = peers.c_step_loop(tmp)
        tiny, tiny_state = torch.rand(block, 1), lif.lif_initial_state((1,), p)
        for threads in (1, 2):
            torch.set_num_threads(threads)
            torch._dynamo.reset()  # inductor's C++ takes the thread count when it compiles
            compiled = torch.compile(lif.MODEL.feed_forward_step, dynamic=False)
            tiny_work, tiny_current = kernels.Workspace(), [tiny_state]

            def tiny_call(tiny_work=tiny_work, tiny_current=tiny_current):  # the fixed cost
                result = kernels.integrate(
                    lif.MODEL, tiny, tiny_current[0], p, 0.001, workspace=tiny_work
                )
                tiny_current[0] = result[2]

            tiny_call()
            wrapper_us = 1e6 * min(peers.timed(tiny_call)[1] for _ in range(200))
            for neurons in sizes:
                torch.manual_seed(0)
                x = 3.0 * torch.rand(block, neurons)
                state0 = lif.lif_initial_state((neurons,), p)
                c_out = torch.empty(block, neurons)  # reused, as simctl recycles its output

                work = kernels.Workspace()  # one per population, as the runner keeps it

                def simctl_run(count=False, x=x, state0=state0, work=work):
                    state, total = state0, 0
                    for _ in range(blocks):
                        out, _, state = kernels.integrate(
                            lif.MODEL, x, state, p, 0.001, workspace=work
                        )
                        total += int(torch.count_nonzero(out)) if count else 0
                    return total

                def simctl_plain(count=False, x=x, state0=state0):
                    state, total = state0, 0
                    for _ in range(blocks):
                        out, _, state = kernels.integrate(lif.MODEL, x, state, p, 0.001)
                        total += int(torch.count_nonzero(out)) if count else 0
                    return total

                def compile_run(count=False, x=x, state0=state0, compiled=compiled):
                    state, total = state0, 0
                    with torch.no_grad():
                        for t in range(steps):
                            z, state = compiled(x[t % block], state, p, 0.001)
                            total += int(torch.count_nonzero(z)) if count else 0
                    return total

                c_threads = threads if neurons * block >= fused.PARALLEL_MIN_WORK else 1

                def c_run(count=False, x=x, out=c_out, neurons=neurons, threads=c_threads):
                    v, i, total = torch.zeros(neurons), torch.zeros(neurons), 0
                    for k in range(blocks):
                        c_loop(x, k * block, v, i, out, a, b, p.v_th, p.v_reset, threads)
                        total += int(torch.count_nonzero(out)) if count else 0
                    return total

                runs = {
                    "simctl": simctl_run,
                    "simctl_plain": simctl_plain,
                    "compile": compile_run,
                    "c_step_loop": c_run,
                }
                spikes = {name: run(count=True) for name, run in runs.items()}  # untimed
                best = _rotated(runs, max(rounds, min(20, 10**8 // (neurons * steps))))
                row: dict[str, Any] = {
                    name: {
                        "neuron_steps_per_s": neurons * steps / t["wall_s"],
                        "wall_s": t["wall_s"],
                        "cpu_s": t["cpu_s"],
                    }
                    for name, t in best.items()
                }
                mine = best["simctl"]
                row["over_compile"] = best["compile"]["wall_s"] / mine["wall_s"]
                row["over_c"] = best["c_step_loop"]["wall_s"] / mine["wall_s"]
                row["over_compile_cpu"] = best["compile"]["cpu_s"] / mine["cpu_s"]
                row["over_c_cpu"] = best["c_step_loop"]["cpu_s"] / mine["cpu_s"]
                row["plain_over_c"] = best["c_step_loop"]["wall_s"] / best["simctl_plain"]["wall_s"]
                row["wrapper_us"] = wrapper_us
                row["wrapper_share"] = blocks * wrapper_us * 1e-6 / mine["wall_s"]
                row["c_threads"] = c_threads
                row["spikes"] = spikes["simctl"]
                row["identical_spikes"] = len(set(spikes.values())) == 1
                row["met"] = (
                    row["over_compile"] >= 1.0
                    and (neurons < 10**4 or row["over_c"] >= 0.6)
                    and row["identical_spikes"]
                )
                rows[f"{neurons}x{threads}t"] = row
                print(json.dumps({"size": neurons, "threads": threads, **row}), file=sys.stderr)
    torch.set_num_threads(2)
    worst_compile = min(r["over_compile"] for r in rows.values())
    worst_c = min(r["over_c"] for k, r in rows.items() if int(k.split("x")[0]) >= 10**4)
    last = rows[f"{sizes[-1]}x1t"]
    return {
        "case": "lif_ff_peers",
        "neurons": sizes[-1],
        "steps": steps,
        "neuron_steps_per_s": last["simctl"]["neuron_steps_per_s"],
        "eager_neuron_steps_per_s": last["compile"]["neuron_steps_per_s"],
        "ratio": last["over_compile"],
        "worst_over_compile": worst_compile,
        "worst_over_c_from_1e4": worst_c,
        "baseline": "torch.compile of the step and a plain C step loop, same run",
        "target": ">= compile, >= 0.6x C",
        "met": all(r["met"] for r in rows.values()),
        "load_average": os.getloadavg()[0],
        "peak_rss_mb": _peak_rss_mb(),
        "sizes": rows,
    }


def _no_peer(name: str) -> dict[str, Any]:
    return {
        "case": name,
        "neurons": None,
        "steps": None,
        "target": "needs --peers-python",
        "met": None,
        "peak_rss_mb": _peak_rss_mb(),
    }


@case("izhikevich_20x4000_brian2")
def izhikevich_brian2(args):
    """Izhikevich 20 × 4000 steps (figure1.m's tonic-spiking form, dt 0.25 ms, I = 10, v
    recorded): simctl's ``kernels.integrate`` against Brian2's C++ standalone running the same
    explicit update (reused build; a run is the built binary executed again), alternating,
    best of ``repeats`` (at least 5). ``ratio``: Brian2's own timer of the network run
    (compile and process start excluded; without OpenMP it is ``std::clock()``, CPU time) over
    simctl's CPU time; ``ratio_wall`` over simctl's wall time; ``ratio_process_cpu``: the
    binary's whole CPU time (start, reading and writing its files) over simctl's. Target: ≥ 5×."""
    import torch

    from simctl import kernels
    from simctl.neurons import izhikevich as iz

    if not args.peers_python:
        return _no_peer("izhikevich_20x4000_brian2")
    peers = _peers_module()
    torch.set_num_threads(1)
    neurons, steps, amplitude = 20, 4000, 10.0
    p = iz.IZHIKEVICH_PRESETS["tonic_spiking"].p._replace(tau_inv=1.0, update_order="sequential")
    current = torch.full((steps, neurons), amplitude)
    state0 = iz.izhikevich_initial_state((neurons,), p)
    out, _, _ = kernels.integrate(iz.MODEL, current, state0, p, 0.25, ("v",))
    spikes = int(out.sum())
    directory = peers.build_directory("izhikevich_20x4000")
    args_ = (str(neurons), str(steps), str(amplitude), directory)
    best_simctl = {"wall_s": float("inf"), "cpu_s": float("inf")}
    best_peer = {"run_s": float("inf"), "process_s": float("inf"), "cpu_s": float("inf")}
    with peers.Peer(args.peers_python, peers.BRIAN2_IZHIKEVICH, *args_) as peer:
        peer_spikes = peer.run()["spikes"]  # warm-up: the binary and its files in the cache
        for _ in range(max(5, args.repeats)):
            for _ in range(20):
                wall, cpu = peers.timed(
                    lambda: kernels.integrate(iz.MODEL, current, state0, p, 0.25, ("v",))
                )
                best_simctl = {"wall_s": min(best_simctl["wall_s"], wall),
                               "cpu_s": min(best_simctl["cpu_s"], cpu)}  # fmt: skip
            result = peer.run()
            best_peer = {k: min(v, result[k]) for k, v in best_peer.items()}
        build_s = peer.ready["build_s"]
    # Brian2 without OpenMP times its run with std::clock(): CPU time, compared with simctl's
    ratio = best_peer["run_s"] / best_simctl["cpu_s"]
    return {
        "case": "izhikevich_20x4000_brian2",
        "neurons": neurons,
        "steps": steps,
        "neuron_steps_per_s": neurons * steps / best_simctl["cpu_s"],
        "eager_neuron_steps_per_s": neurons * steps / best_peer["run_s"],
        "ratio": ratio,
        "ratio_wall": best_peer["run_s"] / best_simctl["wall_s"],
        "ratio_process_cpu": best_peer["cpu_s"] / best_simctl["cpu_s"],
        "simctl_ms": 1e3 * best_simctl["wall_s"],
        "simctl_cpu_ms": 1e3 * best_simctl["cpu_s"],
        "brian2_run_ms": 1e3 * best_peer["run_s"],
        "brian2_process_ms": 1e3 * best_peer["process_s"],
        "brian2_cpu_ms": 1e3 * best_peer["cpu_s"],
        "brian2_build_s": build_s,
        "spikes": spikes,
        "brian2_spikes": peer_spikes,
        "backend": kernels.last_backend()[0],
        "baseline": "Brian2 C++ standalone (its own run timer: CPU), same run",
        "target": 5.0,
        "met": ratio >= 5.0,
        "load_average": os.getloadavg()[0],
        "peak_rss_mb": _peak_rss_mb(),
    }


@case("recurrent_lif_1e4_sparse_brian2")
def recurrent_sparse_brian2(args):
    """recurrent_lif_1e4_sparse's network (10^4 LIF neurons, 1 % sparse recurrent weights,
    100 Poisson-like inputs with dense input weights, 10^3 steps of 1 ms) in simctl and in
    Brian2's C++ standalone from the same arrays (the same connectivity, weights and input
    spikes; each input spike emitted one step earlier in Brian2, which delivers spikes after
    its state update), 1 and 2 threads (Brian2: OpenMP), alternating, best of ``repeats`` (at
    least 5; 3 at two threads). ``ratio``: Brian2's own timer of the run (``std::clock()``,
    CPU time, at one thread; ``omp_get_wtime()``, wall, with OpenMP) over simctl's time of
    the same kind; ``ratio_process_cpu``: the binary's whole CPU time over simctl's. Target:
    simctl ≥ Brian2 standalone."""
    import numpy as np
    import torch

    if not args.peers_python:
        return _no_peer("recurrent_lif_1e4_sparse_brian2")
    peers = _peers_module()
    neurons, steps, inputs, w_rec, w_in, x, layer = _recurrent_network(args.quick)
    rec_post, rec_pre = (a.numpy() for a in w_rec.nonzero(as_tuple=True))
    t_in, k_in = (a.numpy() for a in x.nonzero(as_tuple=True))
    w_in_scaled = (w_in * 0.12).numpy()  # x is 0/0.12: an input spike jumps i by 0.12·w_in
    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        arrays = os.path.join(tmp, "network.npz")
        np.savez(
            arrays,
            neurons=neurons,
            inputs=inputs,
            steps=steps,
            rec_pre=rec_pre,
            rec_post=rec_post,
            rec_w=w_rec.numpy()[rec_post, rec_pre],
            in_pre=np.tile(np.arange(inputs), neurons),
            in_post=np.repeat(np.arange(neurons), inputs),
            in_w=w_in_scaled.reshape(-1),
            input_steps=t_in,
            input_ids=k_in,
            i0=(x[0] @ w_in.T).numpy(),
        )
        for threads in (1,) if args.quick else (1, 2):
            torch.set_num_threads(threads)

            def simctl_run():
                with torch.no_grad():
                    return layer(x)[0]

            spikes = int(simctl_run().sum())
            directory = peers.build_directory(f"recurrent_{neurons}_{threads}t")
            best_simctl = {"wall_s": float("inf"), "cpu_s": float("inf")}
            best_peer = {"run_s": float("inf"), "process_s": float("inf"), "cpu_s": float("inf")}
            with peers.Peer(
                args.peers_python, peers.BRIAN2_RECURRENT, arrays, directory, threads=threads
            ) as peer:
                peer_spikes = peer.run()["spikes"]  # warm-up
                # OpenMP Brian2 can take ~30x longer on a loaded machine: fewer rounds there
                for r in range(max(5, args.repeats) if threads == 1 else 3):
                    for turn in (r % 2, 1 - r % 2):
                        if turn == 0:
                            wall, cpu = peers.timed(simctl_run)
                            best_simctl = {"wall_s": min(best_simctl["wall_s"], wall),
                                           "cpu_s": min(best_simctl["cpu_s"], cpu)}  # fmt: skip
                        else:
                            result = peer.run()
                            best_peer = {k: min(v, result[k]) for k, v in best_peer.items()}
                build_s = peer.ready["build_s"]
            rows[f"{threads}t"] = {
                "simctl_s": best_simctl["wall_s"],
                "simctl_cpu_s": best_simctl["cpu_s"],
                "brian2_run_s": best_peer["run_s"],
                "brian2_process_s": best_peer["process_s"],
                "brian2_cpu_s": best_peer["cpu_s"],
                "brian2_build_s": build_s,
                # Brian2's timer: std::clock() (CPU) without OpenMP, omp_get_wtime() (wall) with
                "brian2_timer": "cpu" if threads == 1 else "wall",
                "ratio": best_peer["run_s"]
                / (best_simctl["cpu_s"] if threads == 1 else best_simctl["wall_s"]),
                "ratio_wall": best_peer["run_s"] / best_simctl["wall_s"],
                "ratio_process_cpu": best_peer["cpu_s"] / best_simctl["cpu_s"],
                "spikes": spikes,
                "brian2_spikes": peer_spikes,
            }
            print(json.dumps({"threads": threads, **rows[f"{threads}t"]}), file=sys.stderr)
    torch.set_num_threads(2)
    one = rows["1t"]
    return {
        "case": "recurrent_lif_1e4_sparse_brian2",
        "neurons": neurons,
        "steps": steps,
        "neuron_steps_per_s": neurons * steps / one["simctl_cpu_s"],
        "eager_neuron_steps_per_s": neurons * steps / one["brian2_run_s"],
        "ratio": one["ratio"],
        "baseline": "Brian2 C++ standalone (its own run timer), same run, 1 thread: CPU",
        "density": float((w_rec != 0).float().mean()),
        "target": 1.0,
        "met": all(r["ratio"] >= 1.0 for r in rows.values()),
        "load_average": os.getloadavg()[0],
        "peak_rss_mb": _peak_rss_mb(),
        "threads": rows,
    }


# --------------------------------------------------------------------------------------------
# driver


def _machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    import torch

    return f"{cpu}, {os.cpu_count()} cores, torch {torch.__version__}, {platform.platform()}"


MET = {True: "yes", False: "NO", None: "-"}


def _table(rows: list[dict[str, Any]]) -> str:
    lines = [
        f"| {'case':26} | {'neurons':>8} | {'steps':>6} | {'neuron-steps/s':>14} | "
        f"{'eager':>10} | {'ratio':>8} | {'target':>14} | met | {'peak MB':>7} |",
        "|" + "|".join("-" * w for w in (28, 10, 8, 16, 12, 10, 16, 5, 9)) + "|",
    ]
    for row in rows:
        if "error" in row:
            lines.append(f"| {row['case']:26} | error: {row['error'][:80]} |")
            continue
        rate = row.get("neuron_steps_per_s")
        eager = row.get("eager_neuron_steps_per_s")
        ratio = row.get("ratio")
        target = row["target"]
        target = f">= {target:g}x" if isinstance(target, (int, float)) else str(target)
        if row["case"] == "izhikevich2004_cli":
            target = f"+{row['above_import_torch_s']:.2f} s (<=1 s)"
        if row["case"] == "cli_lif_end_to_end":
            target = f"{row['wall_s']:.2f} s"
        if row["case"] == "batch_launcher_32":
            target = f"{row['wall_ratio']:.1f}x (>=10x)"
            row = {**row, "met": row["met"] and row["identical"]}
        if row["case"] == "call_overhead":
            target = f"{row['layer_us']:.0f} us, {100 * row['runner_block_overhead']:.0f} %"
        lines.append(
            f"| {row['case']:26} | {row['neurons']:>8} | {row['steps'] or '':>6} | "
            f"{(f'{rate:.3g}' if rate else ''):>14} | {(f'{eager:.3g}' if eager else ''):>10} | "
            f"{(f'{ratio:.1f}x' if ratio else ''):>8} | {target:>14} | "
            f"{MET[row['met']]:>3} | {row['peak_rss_mb']:>7.0f} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, one repeat")
    parser.add_argument("--case", action="append", help="run only this case (repeatable)")
    parser.add_argument("--repeats", type=int, default=None, help="alternating rounds (3)")
    parser.add_argument("--list", action="store_true", help="list the cases")
    parser.add_argument("--in-process", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument(
        "--peers-python",
        default=os.environ.get("SIMCTL_PEERS_PYTHON", ""),
        help="python of a separate venv with brian2 (the peer of the *_brian2 and cli cases)",
    )
    parser.add_argument(
        "--stream-overrides",
        nargs="*",
        default=[],
        help="extra `simctl run` overrides for stream_1e5x1e5 (e.g. input.amplitude=...)",
    )
    args = parser.parse_args(argv)
    if args.repeats is None:
        args.repeats = 1 if args.quick else 3
    if args.list:
        print("\n".join(CASES))
        return 0
    names = args.case or list(CASES)
    unknown = [n for n in names if n not in CASES]
    if unknown:
        parser.error(f"unknown case(s) {unknown}; see --list")
    if args.in_process:
        for name in names:
            print(json.dumps(CASES[name](args)), flush=True)
        return 0
    rows = []
    print(f"# {_machine()}", file=sys.stderr)
    for name in names:
        command = [
            sys.executable,
            __file__,
            "--in-process",
            "--case",
            name,
            "--repeats",
            str(args.repeats),
        ]
        if args.quick:
            command.append("--quick")
        if args.stream_overrides:
            command += ["--stream-overrides", *args.stream_overrides]
        if args.peers_python:
            command += ["--peers-python", args.peers_python]
        result = subprocess.run(command, capture_output=True, text=True)
        lines = [line for line in result.stdout.splitlines() if line.startswith("{")]
        if result.returncode != 0 or not lines:
            row = {"case": name, "error": (result.stderr or result.stdout)[-500:]}
        else:
            row = json.loads(lines[-1])
        print(json.dumps(row), flush=True)
        rows.append(row)
    print(_table(rows), file=sys.stderr)
    return 0 if all("error" not in row for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
