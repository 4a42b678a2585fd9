"""GPU benchmarks of the Triton backend (``benchmarks/gpu.sh`` runs them after the CUDA tests).

Cases, each printed as one JSON line and then together as a table:

``lif_ff``
    Feed-forward LIF, 10^7 neurons × 10^3 steps in blocks of 100 steps (``integrate`` with a
    full ``(T, N)`` float32 input, as the runner calls it per block). Figure: the kernel's
    necessary memory traffic (input read, output written, state read and written once per
    block) over the time of the whole ``integrate`` call, in GB/s, against the card's
    bandwidth (its specification where known, and a measured device-to-device copy). Target:
    at least 50 % of the specification.
``lif_ff_events``
    The same population through ``spike_events`` (the runner's form: no output block, spike
    indices appended, sorted, copied to the host), 10^7 × 100: ns per neuron-step.
``izhikevich``
    20 neurons × 4000 steps (tonic spiking, config units, dt = 0.25 ms): µs per step of one
    ``integrate`` call. Target: under 1 µs.
``simctl_run``
    ``simctl run ... simulation.device=cuda`` end to end in a subprocess (wall time, the
    backend recorded in sim.h5, spike count), and the same run on the CPU for comparison
    (equal spike trains expected: the models in it use no transcendental function).

``network``
    Brunel (2000) regime C networks (E/I LIF, Poisson drive, 1.5 ms delays, input discarded
    while refractory), float32, 200 ms: 12 500 neurons with in-degree C_E = 1000 (15.6 M
    synapses) and 100 000 neurons with C_E = 100 (12.5 M synapses), each on CUDA with the
    device engine (rings on the GPU, Triton blocks, scatters by torch) against the CPU's
    network loop (one thread per process as the CPU figures in docs/performance.md; here all
    the machine's threads). ``J`` is chosen so that every weight is dyadic in float32 (0.125
    and −0.625 mV): the sums of simultaneous arrivals are exact in any order, so the GPU's
    spike trains must equal the CPU's spike for spike. Figures: wall seconds per model second
    of each engine (after a warm-up of two blocks: Triton's compile), the speed-up, the rate,
    and whether the spikes are identical (else the first differing spike time).

``--cpu-check`` runs every case with tiny sizes on CPU tensors under Triton's interpreter
(``TRITON_INTERPRET=1``, ``SIMCTL_KERNELS=triton``), so that this script can be checked on a
machine without a GPU; its figures mean nothing.
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

#: the memory bandwidth of common cards by name fragment, GB/s (vendors' specifications)
SPEC_BANDWIDTH_GBS = {
    "H200": 4800.0,
    "H100 SXM": 3350.0,
    "H100 NVL": 3900.0,
    "H100 PCIe": 2000.0,
    "H100": 3350.0,
    "GH200": 4000.0,
    "A100-SXM4-80GB": 2039.0,
    "A100 80GB PCIe": 1935.0,
    "A100": 1555.0,
    "L40S": 864.0,
    "L4": 300.0,
    "A10": 600.0,
    "V100": 900.0,
    "T4": 320.0,
    "RTX 4090": 1008.0,
    "RTX 3090": 936.0,
}


def _sync(device: str) -> None:
    import torch

    if device == "cuda":
        torch.cuda.synchronize()


def _best(function: Any, repeats: int, device: str) -> float:
    best = float("inf")
    for _ in range(repeats):
        _sync(device)
        start = time.perf_counter()
        function()
        _sync(device)
        best = min(best, time.perf_counter() - start)
    return best


def spec_bandwidth(name: str) -> float | None:
    """The card's memory bandwidth in GB/s from its name (the longest matching fragment)."""
    matches = [key for key in SPEC_BANDWIDTH_GBS if key.lower() in name.lower()]
    return SPEC_BANDWIDTH_GBS[max(matches, key=len)] if matches else None


def copy_bandwidth(device: str, nbytes: int, repeats: int) -> float:
    """GB/s of a device-to-device copy of ``nbytes`` (read + write counted)."""
    import torch

    a = torch.empty(nbytes // 4, dtype=torch.float32, device=device)
    b = torch.empty_like(a)
    seconds = _best(lambda: b.copy_(a), repeats, device)
    return 2 * nbytes / seconds / 1e9


def lif_ff(args: argparse.Namespace) -> dict[str, Any]:
    import torch

    from simctl import kernels
    from simctl.neurons import lif

    device, neurons, steps, block = args.device, args.lif_neurons, args.lif_steps, args.lif_block
    torch.manual_seed(0)
    p = lif.LIFParameters()
    x = torch.rand(block, neurons, device=device) * 4  # one block of input, reused
    state0 = lif.lif_initial_state((neurons,), p, device=device)

    def run() -> None:
        state = state0
        for _ in range(steps // block):
            _, _, state = kernels.integrate(lif.MODEL, x, state, p, 0.001)

    run()  # compile
    backend = kernels.last_backend()
    seconds = _best(run, args.repeats, device)
    element = 4
    # per block: input read, output written, 2 state leaves read and written once
    per_block = (2 * block * neurons + 2 * 2 * neurons) * element
    nbytes = per_block * (steps // block)
    rate = nbytes / seconds / 1e9
    name = torch.cuda.get_device_name() if device == "cuda" else "cpu (interpreter)"
    spec = spec_bandwidth(name) if device == "cuda" else None
    copy = copy_bandwidth(device, min(4 << 30, 2 * block * neurons * element), args.repeats)
    return {
        "case": "lif_ff",
        "neurons": neurons,
        "steps": steps,
        "block_steps": block,
        "seconds": seconds,
        "ns_per_neuron_step": seconds / (neurons * steps) * 1e9,
        "gb_per_s": rate,
        "card": name,
        "spec_gb_per_s": spec,
        "copy_gb_per_s": copy,
        "fraction_of_spec": rate / spec if spec else None,
        "fraction_of_copy": rate / copy,
        "target": ">= 50 % of the card's bandwidth",
        "met": (rate / spec >= 0.5) if spec else None,
        "backend": backend[0],
        "reason": backend[1],
    }


def lif_ff_events(args: argparse.Namespace) -> dict[str, Any]:
    import torch

    from simctl import kernels
    from simctl.neurons import lif

    device, neurons, block = args.device, args.lif_neurons, args.lif_block
    torch.manual_seed(0)
    p = lif.LIFParameters()
    x = torch.rand(block, neurons, device=device) * 4
    state0 = lif.lif_initial_state((neurons,), p, device=device)
    found: list[int] = []

    def run() -> None:
        flat, _, _, _ = kernels.spike_events(lif.MODEL, x, state0, p, 0.001)
        found.append(flat.size)

    run()
    backend = kernels.last_backend()
    seconds = _best(run, args.repeats, device)
    return {
        "case": "lif_ff_events",
        "neurons": neurons,
        "steps": block,
        "seconds": seconds,
        "ns_per_neuron_step": seconds / (neurons * block) * 1e9,
        "spikes": found[-1],
        "backend": backend[0],
        "reason": backend[1],
    }


def izhikevich(args: argparse.Namespace) -> dict[str, Any]:
    import torch

    from simctl import kernels
    from simctl.neurons import izhikevich as iz

    device, neurons, steps = args.device, 20, args.izh_steps
    p = iz.IZHIKEVICH_PRESETS["tonic_spiking"].p._replace(tau_inv=1.0, update_order="sequential")
    current = torch.full((steps, neurons), 10.0, device=device)
    state0 = iz.izhikevich_initial_state((neurons,), p, device=device)
    start = time.perf_counter()
    out, _, _ = kernels.integrate(iz.MODEL, current, state0, p, 0.25, ("v",))
    _sync(device)
    first_call = time.perf_counter() - start  # trace + compile + run
    backend = kernels.last_backend()
    seconds = _best(
        lambda: kernels.integrate(iz.MODEL, current, state0, p, 0.25, ("v",)), args.repeats, device
    )
    per_step = seconds / steps * 1e6
    return {
        "case": "izhikevich",
        "neurons": neurons,
        "steps": steps,
        "seconds": seconds,
        "us_per_step": per_step,
        "first_call_s": first_call,
        "spikes": int(out.sum().item()),
        "target": "< 1 us per step",
        "met": per_step < 1.0,
        "backend": backend[0],
        "reason": backend[1],
    }


def _simctl_run(device: str, duration: float, size: int, out: Path, env: dict[str, str]) -> dict:
    import h5py
    import numpy as np

    command = [
        sys.executable,
        "-m",
        "simctl.cli",
        "run",
        "neuron=izhikevich",
        "input=constant",
        f"population.size={size}",
        f"simulation.duration={duration}",
        f"simulation.device={device}",
        "plot.enabled=false",
        f"hydra.run.dir={out}",
    ]
    start = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=600)
    seconds = time.perf_counter() - start
    if result.returncode != 0:
        raise RuntimeError(f"simctl run failed ({result.returncode}): {result.stderr[-2000:]}")
    with h5py.File(out / "sim.h5", "r") as f:
        pop = f["populations/izhikevich"]
        attrs = dict(pop.attrs)
    from simctl.recording import load_spikes

    times, ids = load_spikes(out / "sim.h5", "izhikevich")
    return {
        "seconds": seconds,
        "backend": str(attrs.get("backend", "")),
        "reason": str(attrs.get("backend_reason", "")),
        "spikes": int(np.asarray(times).size),
        "times": np.asarray(times),
        "ids": np.asarray(ids),
    }


def simctl_run(args: argparse.Namespace) -> dict[str, Any]:
    import numpy as np

    env = dict(os.environ, MPLBACKEND="Agg")
    with tempfile.TemporaryDirectory() as tmp:
        gpu_device = "cpu" if args.cpu_check else "cuda"
        gpu = _simctl_run(gpu_device, args.run_ms, args.run_size, Path(tmp) / "gpu", env)
        cpu_env = {k: v for k, v in env.items() if k not in ("SIMCTL_KERNELS", "TRITON_INTERPRET")}
        cpu = _simctl_run("cpu", args.run_ms, args.run_size, Path(tmp) / "cpu", cpu_env)
    same = np.array_equal(gpu["times"], cpu["times"]) and np.array_equal(gpu["ids"], cpu["ids"])
    return {
        "case": "simctl_run",
        "neurons": args.run_size,
        "duration_ms": args.run_ms,
        "seconds": gpu["seconds"],
        "cpu_seconds": cpu["seconds"],
        "spikes": gpu["spikes"],
        "cpu_spikes": cpu["spikes"],
        "spikes_equal_cpu": bool(same),
        "backend": gpu["backend"],
        "reason": gpu["reason"],
        "cpu_backend": cpu["backend"],
    }


class _Sink:
    """A writer that keeps the spikes (the network engines' ``writer``)."""

    def __init__(self) -> None:
        self.spikes: dict[str, list] = {}

    def append_spikes(self, name: str, times: Any, ids: Any) -> None:
        self.spikes.setdefault(name, []).append((times.copy(), ids.copy()))

    def append_state(self, *args: Any) -> None:
        pass

    def flush(self) -> None:
        pass

    def arrays(self, name: str) -> tuple[Any, Any]:
        import numpy as np

        parts = self.spikes.get(name, [])
        if not parts:
            return np.empty(0), np.empty(0, dtype=np.int64)
        return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


def _brunel(scale: float, epsilon: float, duration: float, device: str, engine: str) -> dict:
    """One Brunel network run with ``engine`` on ``device``: wall seconds after a warm-up of
    two blocks, the spikes, the backends."""
    import numpy as np
    import torch

    from simctl.config.resolve import resolve
    from simctl.network import build_network

    # J·1000/C_E = 0.125 mV: dyadic weights (0.125, −0.625), exact sums in any order
    c_e = max(1, round(epsilon * round(10000 * scale)))
    cfg = {
        "network": {
            "name": "brunel2000",
            "g": 5.0,
            "eta": 2.0,
            "J": 0.125 * c_e / 1000.0,
            "scale": scale,
            "epsilon": epsilon,
        },
        "simulation": {"dt": 0.1, "duration": duration, "device": device, "seed": 3},
        "record": {"neurons": 0},
    }
    spec = resolve(cfg)
    start = time.perf_counter()
    net = build_network(spec, spec.simulation, torch.device(device), torch.float32)
    build = time.perf_counter() - start
    weights = {float(np.float32(p.conn.weights()[0])) for p in net.projections}
    sink = _Sink()
    warm = 2 * net.block
    {"device": net.run_device, "loop": net.run_loop}[engine](sink, warm)
    _sync(device)
    start = time.perf_counter()
    net.run(sink, engine=engine)
    _sync(device)
    seconds = time.perf_counter() - start
    model_s = (net.n_steps - warm) * net.dt / 1000.0
    size = sum(p.pop.spec.size for p in net.pops)
    spikes = {p.pop.name: sink.arrays(p.pop.name) for p in net.pops}
    count = sum(t.size for t, _ in spikes.values())
    return {
        "neurons": size,
        "synapses": sum(p.conn.n_synapses for p in net.projections),
        "build_s": build,
        "seconds": seconds,
        "s_per_model_s": seconds / model_s,
        "rate_hz": count / size / (net.n_steps * net.dt / 1000.0),
        "weights": sorted(weights),
        "spikes": spikes,
        "engine": net.engine,
        "backend": ",".join(sorted({p.pop.backend for p in net.pops})),
    }


def _first_difference(a: dict, b: dict) -> float | None:
    """The earliest spike time (ms) where two runs' spike lists differ (None: identical)."""
    import numpy as np

    first = None
    for name, (ta, ia) in a.items():
        tb, ib = b[name]
        n = min(ta.size, tb.size)
        bad = np.nonzero((ta[:n] != tb[:n]) | (ia[:n] != ib[:n]))[0]
        at = float(min(ta[bad[0]], tb[bad[0]])) if bad.size else None
        if at is None and ta.size != tb.size:
            at = float((ta if ta.size > n else tb)[n])
        if at is not None:
            first = at if first is None else min(first, at)
    return first


def network(args: argparse.Namespace) -> dict[str, Any]:
    rows = []
    for scale, epsilon in args.net_sizes:
        gpu = _brunel(scale, epsilon, args.net_ms, args.device, "device")
        cpu = _brunel(scale, epsilon, args.net_ms, "cpu", "loop")
        differs = _first_difference(gpu["spikes"], cpu["spikes"])
        rows.append(
            {
                "neurons": gpu["neurons"],
                "synapses": gpu["synapses"],
                "device_s_per_model_s": gpu["s_per_model_s"],
                "cpu_loop_s_per_model_s": cpu["s_per_model_s"],
                "speedup": cpu["seconds"] / gpu["seconds"],
                "build_s": gpu["build_s"],
                "cpu_build_s": cpu["build_s"],
                "rate_hz": gpu["rate_hz"],
                "cpu_rate_hz": cpu["rate_hz"],
                "weights": gpu["weights"],
                "spikes_equal_cpu": differs is None,
                "first_difference_ms": differs,
                "engine": gpu["engine"],
                "backend": gpu["backend"],
                "cpu_engine": cpu["engine"],
            }
        )
    return {
        "case": "network",
        "neurons": rows[-1]["neurons"],
        "duration_ms": args.net_ms,
        "sizes": rows,
        "met": all(r["spikes_equal_cpu"] for r in rows),
        "target": "spikes identical to the CPU loop",
        "backend": rows[-1]["backend"],
    }


CASES = {
    "lif_ff": lif_ff,
    "lif_ff_events": lif_ff_events,
    "izhikevich": izhikevich,
    "simctl_run": simctl_run,
    "network": network,
}


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3g}"
    return "" if value is None else str(value)


def table(results: list[dict[str, Any]]) -> str:
    """The summary table (markdown) of the cases' JSON results."""
    rows = ["| case | size | figure | target | met | backend |", "|---|---|---|---|---|---|"]
    for r in results:
        if "error" in r:
            rows.append(f"| {r['case']} | | error: {r['error']} | | no | |")
            continue
        size = f"{r.get('neurons', '')} × {r.get('steps', r.get('duration_ms', ''))}"
        if r["case"] == "lif_ff":
            spec = r["fraction_of_spec"]
            figure = (
                f"{r['gb_per_s']:.0f} GB/s = "
                + (f"{100 * spec:.0f} % of {r['spec_gb_per_s']:.0f} (spec), " if spec else "")
                + f"{100 * r['fraction_of_copy']:.0f} % of a copy ({r['copy_gb_per_s']:.0f});"
                + f" {r['ns_per_neuron_step']:.3g} ns/neuron-step"
            )
        elif r["case"] == "lif_ff_events":
            figure = f"{r['ns_per_neuron_step']:.3g} ns/neuron-step, {r['spikes']} spikes"
        elif r["case"] == "izhikevich":
            figure = f"{r['us_per_step']:.3g} µs/step (first call {r['first_call_s']:.2g} s)"
        elif r["case"] == "network":
            size = " / ".join(f"{s['neurons']}" for s in r["sizes"]) + f" × {r['duration_ms']} ms"
            figure = "; ".join(
                f"{s['neurons']}: {s['device_s_per_model_s']:.3g} s per model s on the device "
                f"engine, CPU loop {s['cpu_loop_s_per_model_s']:.3g} ({s['speedup']:.3g}×), "
                f"{s['rate_hz']:.3g} Hz, equal to CPU: {s['spikes_equal_cpu']}"
                for s in r["sizes"]
            )
        else:
            size = f"{r['neurons']} × {r['duration_ms']} ms"
            figure = (
                f"{r['seconds']:.3g} s wall (CPU run {r['cpu_seconds']:.3g} s), "
                f"{r['spikes']} spikes, equal to CPU: {r['spikes_equal_cpu']}"
            )
        rows.append(
            f"| {r['case']} | {size} | {figure} | {_cell(r.get('target'))} | "
            f"{_cell(r.get('met'))} | {r.get('backend', '')} |"
        )
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cpu-check", action="store_true", help="tiny sizes, CPU interpreter")
    parser.add_argument("--case", action="append", choices=sorted(CASES), help="(repeatable)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)
    if args.cpu_check:
        os.environ["TRITON_INTERPRET"] = "1"
        os.environ["SIMCTL_KERNELS"] = "triton"
        args.device = "cpu"
        args.lif_neurons, args.lif_steps, args.lif_block = 64, 20, 10
        args.izh_steps = 50
        args.run_ms, args.run_size = 5.0, 4
        args.net_sizes, args.net_ms = [(0.02, 0.1)], 10.0
        args.repeats = 1
    else:
        import torch

        if not torch.cuda.is_available():
            print("no CUDA device: use --cpu-check to check this script", file=sys.stderr)
            return 2
        args.device = "cuda"
        args.lif_neurons, args.lif_steps, args.lif_block = 10**7, 10**3, 100
        args.izh_steps = 4000
        args.run_ms, args.run_size = 1000.0, 1000
        # (network.scale, network.epsilon): 12 500 neurons at C_E = 1000, 10^5 at C_E = 100
        args.net_sizes, args.net_ms = [(1.0, 0.1), (8.0, 0.00125)], 200.0
    results = []
    for name in args.case or list(CASES):
        try:
            result = CASES[name](args)
        except Exception as error:  # noqa: BLE001 - report the case, run the others
            result = {"case": name, "error": f"{type(error).__name__}: {error}"[:300]}
        print(json.dumps(result), flush=True)
        results.append(result)
    print()
    print(table(results))
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    return 1 if any("error" in r for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
