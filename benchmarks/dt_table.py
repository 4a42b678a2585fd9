"""Firing rates of every spiking model at dt = 0.1, 0.05 and 0.025 ms (docs/dt-invariance.md).

Each model runs with its default drive (``simctl run neuron=<model>``'s current, from the model
description) for 1 s in float64: once with ``input=constant`` (one neuron) and once with
``input=noise`` (white noise, mean rate of 200 neurons). A current protocol is a continuous
current, so the rates agree to first order in dt.

    python benchmarks/dt_table.py > docs/dt-invariance.md
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

from hydra import compose, initialize_config_module

from simctl.app import simulate

MODELS = [
    "izhikevich",
    "lif",
    "lif_refrac",
    "iaf",
    "lif_box",
    "coba_lif",
    "lif_ex",
    "lif_adex",
    "lif_adex_refrac",
    "lif_mc",
    "lif_mc_refrac",
    "lsnn",
]
STEPS = (0.1, 0.05, 0.025)


def rate(neuron: str, protocol: str, dt: float) -> float:
    overrides = [
        f"neuron={neuron}",
        f"input={protocol}",
        f"simulation.dt={dt}",
        "simulation.duration=1000",
        "simulation.dtype=float64",
        "plot.enabled=false",
        "record.neurons=0",
        f"population.size={200 if protocol == 'noise' else 1}",
    ]
    with initialize_config_module("simctl.configs", version_base="1.3"):
        cfg = compose("config", overrides=overrides)
    with tempfile.TemporaryDirectory() as tmp:
        simulate(cfg, Path(tmp), {"neuron": neuron, "input": protocol}, config_dirs=[])
        summary = json.loads((Path(tmp) / "summary.json").read_text())
    return summary["populations"][0]["mean_rate_hz"]


def main() -> None:
    print("# Firing rates against the step size\n")
    print(__doc__.split("\n\n")[1].replace("\n", " ").strip() + "\n")
    print("Measured with `python benchmarks/dt_table.py` (rates in Hz).\n")
    head = " | ".join(f"{p} dt={dt:g}" for p in ("constant", "noise") for dt in STEPS)
    print(f"| model | {head} |")
    print("|---|" + "---:|" * (2 * len(STEPS)))
    for neuron in MODELS:
        cells = [f"{rate(neuron, p, dt):.2f}" for p in ("constant", "noise") for dt in STEPS]
        print(f"| `{neuron}` | " + " | ".join(cells) + " |", flush=True)
    sys.stdout.flush()


if __name__ == "__main__":
    main()
