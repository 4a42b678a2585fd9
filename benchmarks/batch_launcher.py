"""A 32-job amplitude sweep of one neuron (1 s of model time): the whole ``simctl run -m``
process with Hydra's basic launcher against ``hydra/launcher=batch``.

Both launchers run in alternation (same load on the machine for both); each process's wall time
and CPU time (user + system, from ``getrusage`` of the children: less disturbed by other load
on a shared machine) are kept, best of ``--repeats``. After the timing, every job's spike
times are compared between the two sweeps (they must be identical). Prints one JSON line::

    {"case", "jobs", "neuron", "plots", "basic_wall_s", "batch_wall_s", "wall_ratio",
     "basic_cpu_s", "batch_cpu_s", "cpu_ratio", "target", "met", "identical"}

Usage::

    python benchmarks/batch_launcher.py                 # Izhikevich, figures off
    python benchmarks/batch_launcher.py --neuron lif --plots --repeats 3
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

#: the swept amplitudes of each model (in its input's unit), 32 values that all make it fire
AMPLITUDES = {
    "izhikevich": "range(5,37)",  # dimensionless current, 5 … 36
    "lif": "range(16,48)",  # R·I in mV, 16 … 47 (v_th − v_leak = 15 mV is the rheobase)
}


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def sweep(launcher: str, out: Path, neuron: str, plots: bool) -> tuple[float, float]:
    """Runs the sweep with ``launcher`` into ``out``; returns (wall s, CPU s)."""
    command = [
        sys.executable,
        "-m",
        "simctl.cli",
        "run",
        "-m",
        f"hydra/launcher={launcher}",
        f"neuron={neuron}",
        "input=constant",
        f"input.amplitude={AMPLITUDES[neuron]}",
        "simulation.duration=1000",
        f"plot.enabled={'true' if plots else 'false'}",
        f"hydra.sweep.dir={out}",
    ]
    cpu = _children_cpu()
    start = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True)
    return time.perf_counter() - start, _children_cpu() - cpu


def identical(a: Path, b: Path) -> bool:
    """Every job's spike times and ids are the same in both sweeps."""
    import h5py

    jobs = sorted(p.name for p in a.iterdir() if p.name.isdigit())
    if jobs != sorted(p.name for p in b.iterdir() if p.name.isdigit()) or not jobs:
        return False
    for job in jobs:
        with h5py.File(a / job / "sim.h5", "r") as fa, h5py.File(b / job / "sim.h5", "r") as fb:
            for name in fa["spikes"]:
                for key in ("timestamps", "node_ids"):
                    x, y = fa["spikes"][name][key][()], fb["spikes"][name][key][()]
                    if x.tobytes() != y.tobytes():
                        return False
    return True


def measure(neuron: str = "izhikevich", plots: bool = False, repeats: int = 2) -> dict[str, Any]:
    best: dict[str, list[float]] = {"basic": [1e9, 1e9], "batch": [1e9, 1e9]}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(repeats):
            for launcher in ("basic", "batch"):
                wall, cpu = sweep(launcher, Path(tmp) / f"{launcher}{r}", neuron, plots)
                best[launcher] = [min(best[launcher][0], wall), min(best[launcher][1], cpu)]
        same = identical(Path(tmp) / "basic0", Path(tmp) / "batch0")
    (bw, bc), (sw, sc) = best["basic"], best["batch"]
    return {
        "case": "batch_launcher_32",
        "jobs": 32,
        "neuron": neuron,
        "plots": plots,
        "basic_wall_s": round(bw, 2),
        "batch_wall_s": round(sw, 2),
        "wall_ratio": round(bw / sw, 2),
        "basic_cpu_s": round(bc, 2),
        "batch_cpu_s": round(sc, 2),
        "cpu_ratio": round(bc / sc, 2),
        "target": 10.0,
        "met": bw / sw >= 10.0,
        "identical": same,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--neuron", choices=sorted(AMPLITUDES), default="izhikevich")
    parser.add_argument("--plots", action="store_true", help="draw each job's figures")
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args(argv)
    print(json.dumps(measure(args.neuron, args.plots, args.repeats)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
