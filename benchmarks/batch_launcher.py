"""An amplitude sweep of one neuron (1 s of model time, 32 jobs by default): the whole
``simctl run -m`` process with Hydra's basic launcher against ``hydra/launcher=batch``.

Both launchers run in alternation (same load on the machine for both); each process's wall time
and CPU time (user + system, from ``getrusage`` of the children: less disturbed by other load
on a shared machine) are kept, best of ``--repeats``. After the timing, every job's spike
times are compared between the two sweeps (they must be identical). Prints one JSON line per
sweep size::

    {"case", "jobs", "neuron", "plots", "basic_wall_s", "batch_wall_s", "wall_ratio",
     "basic_cpu_s", "batch_cpu_s", "cpu_ratio", "target", "met", "identical"}

and, with two sizes (``--jobs 32 128``), one more line with each launcher's cost per added
job (``marginal``: the difference of the two sweeps' times over the difference of their
sizes) and the fixed cost it implies (the time of a sweep of no job)::

    {"case": "batch_launcher_marginal", "basic_per_job_cpu_s", "batch_per_job_cpu_s",
     "basic_per_job_wall_s", "batch_per_job_wall_s", "basic_fixed_cpu_s", "batch_fixed_cpu_s"}

Usage::

    python benchmarks/batch_launcher.py                 # Izhikevich, 32 jobs, figures off
    python benchmarks/batch_launcher.py --jobs 32 128   # and the cost per job
    python benchmarks/batch_launcher.py --neuron lif --plots --repeats 3
    python benchmarks/batch_launcher.py --processes     # and 32 separate simctl run processes
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

#: the first swept amplitude of each model (in its input's unit; every job fires): jobs
#: sweep ``range(start, start + jobs)``
START = {
    "izhikevich": 5,  # dimensionless current, 5 … 36 for 32 jobs
    "lif": 16,  # R·I in mV, 16 … 47 for 32 jobs (v_th − v_leak = 15 mV is the rheobase)
}


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def sweep(
    launcher: str,
    out: Path,
    neuron: str,
    plots: bool,
    jobs: int = 32,
    python: str = sys.executable,
) -> tuple[float, float]:
    """Runs the sweep with ``launcher`` into ``out`` (with ``python``, from ``out``'s parent,
    so that the interpreter's own simctl is the one that runs); returns (wall s, CPU s)."""
    start = START[neuron]
    command = [
        python,
        "-m",
        "simctl.cli",
        "run",
        "-m",
        f"hydra/launcher={launcher}",
        f"neuron={neuron}",
        "input=constant",
        f"input.amplitude=range({start},{start + jobs})",
        "simulation.duration=1000",
        f"plot.enabled={'true' if plots else 'false'}",
        f"hydra.sweep.dir={out}",
    ]
    cpu = _children_cpu()
    begin = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True, cwd=out.parent)
    return time.perf_counter() - begin, _children_cpu() - cpu


def processes(out: Path, neuron: str, plots: bool, jobs: int = 32) -> tuple[float, float]:
    """The same jobs as ``jobs`` separate ``simctl run`` processes, one after the other (a
    shell loop over the amplitudes, the way the sweep is run without a launcher); returns
    (wall s, CPU s) of them all. Job ``k`` is written to ``out/k`` as in a sweep."""
    start = START[neuron]
    out.mkdir(parents=True, exist_ok=True)
    cpu = _children_cpu()
    begin = time.perf_counter()
    for k in range(jobs):
        command = [
            sys.executable,
            "-m",
            "simctl.cli",
            "run",
            f"neuron={neuron}",
            "input=constant",
            f"input.amplitude={start + k}",
            "simulation.duration=1000",
            f"plot.enabled={'true' if plots else 'false'}",
            f"hydra.run.dir={out / str(k)}",
        ]
        subprocess.run(command, check=True, capture_output=True, cwd=out.parent)
    return time.perf_counter() - begin, _children_cpu() - cpu


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


def measure(
    neuron: str = "izhikevich",
    plots: bool = False,
    repeats: int = 2,
    jobs: int = 32,
    separate: bool = False,
) -> dict[str, Any]:
    best: dict[str, list[float]] = {"basic": [1e9, 1e9], "batch": [1e9, 1e9]}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(repeats):
            for launcher in ("basic", "batch"):
                wall, cpu = sweep(launcher, Path(tmp) / f"{launcher}{r}", neuron, plots, jobs)
                best[launcher] = [min(best[launcher][0], wall), min(best[launcher][1], cpu)]
        same = identical(Path(tmp) / "basic0", Path(tmp) / "batch0")
        if separate:  # once: it takes about a minute
            own = processes(Path(tmp) / "processes", neuron, plots, jobs)
            same = same and identical(Path(tmp) / "processes", Path(tmp) / "batch0")
    (bw, bc), (sw, sc) = best["basic"], best["batch"]
    return {
        "case": f"batch_launcher_{jobs}",
        "jobs": jobs,
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
        **(
            {
                "processes_wall_s": round(own[0], 2),
                "processes_cpu_s": round(own[1], 2),
                "processes_over_batch_wall": round(own[0] / sw, 2),
                "processes_over_batch_cpu": round(own[1] / sc, 2),
            }
            if separate
            else {}
        ),
    }


def marginal(small: dict[str, Any], large: dict[str, Any]) -> dict[str, Any]:
    """Each launcher's cost per added job and its fixed cost, from two sweep sizes."""
    n = large["jobs"] - small["jobs"]
    row: dict[str, Any] = {"case": "batch_launcher_marginal"}
    row["jobs"] = [small["jobs"], large["jobs"]]
    for launcher in ("basic", "batch"):
        for kind in ("cpu", "wall"):
            per_job = (large[f"{launcher}_{kind}_s"] - small[f"{launcher}_{kind}_s"]) / n
            row[f"{launcher}_per_job_{kind}_s"] = round(per_job, 4)
            fixed = small[f"{launcher}_{kind}_s"] - per_job * small["jobs"]
            row[f"{launcher}_fixed_{kind}_s"] = round(fixed, 2)
    return row


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--neuron", choices=sorted(START), default="izhikevich")
    parser.add_argument("--plots", action="store_true", help="draw each job's figures")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--jobs", type=int, nargs="+", default=[32], help="sweep sizes")
    parser.add_argument(
        "--processes",
        action="store_true",
        help="also time the jobs as separate simctl run processes, one after the other",
    )
    args = parser.parse_args(argv)
    rows = []
    for jobs in args.jobs:
        rows.append(measure(args.neuron, args.plots, args.repeats, jobs, args.processes))
        print(json.dumps(rows[-1]), flush=True)
    if len(rows) == 2:
        print(json.dumps(marginal(*sorted(rows, key=lambda r: r["jobs"]))), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
