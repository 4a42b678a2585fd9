"""``simctl export FILE.h5 --to nwb``: a run as NWB 2 (pynwb; ``pip install "simctl[nwb]"``).

What goes where (NWB core schema, https://nwb-schema.readthedocs.io):

* ``units``: one row per neuron of every population, with ``spike_times`` in seconds, an
  ``obs_intervals`` row ``[0, t_reached]`` (Neo's NWBIO needs one) and the columns
  ``population`` and ``node_id`` (the neuron's index within its population, as in
  ``/spikes/<pop>/node_ids``).
* ``acquisition``: ``<pop>_<var>`` for each recorded state variable and ``<pop>_input`` for
  the injected current, as ``TimeSeries`` (time-first ``(samples, neurons)``; a starting time
  and rate in seconds for a regular grid, else timestamps) with SI unit words ("volts",
  conversion 1e-3 for mV; "amperes" for pA/nA); the recorded neurons' node ids are in the
  description.
* the resolved config (``config_yaml``) in ``notes``, the chosen options in
  ``data_collection``, and the provenance (simctl and torch versions, seed, device, dtype) in
  ``source_script`` and ``was_generated_by``.

Spikes go to memory whole here (NWB's Units table is ragged per neuron).
"""

from __future__ import annotations

import datetime as _dt
import hashlib
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["to_nwb", "SI_UNITS"]

#: simctl units → (NWB unit word, conversion to it)
SI_UNITS = {
    "mV": ("volts", 1e-3),
    "V": ("volts", 1.0),
    "pA": ("amperes", 1e-12),
    "nA": ("amperes", 1e-9),
    "uA": ("amperes", 1e-6),
    "ms": ("seconds", 1e-3),
    "s": ("seconds", 1.0),
    "uS": ("siemens", 1e-6),
    "nS": ("siemens", 1e-9),
    "1": ("dimensionless", 1.0),  # the model descriptions' word for a dimensionless quantity
}


def _unit(units: str) -> tuple[str, float]:
    return SI_UNITS.get(units.strip(), (units.strip() or "dimensionless", 1.0))


def _start_time(attrs: dict[str, Any]) -> _dt.datetime:
    try:
        start = _dt.datetime.fromisoformat(str(attrs.get("created", "")))
    except ValueError:
        start = _dt.datetime.now(_dt.UTC)
    return start if start.tzinfo else start.replace(tzinfo=_dt.UTC)


def _time(time_ms: np.ndarray) -> dict[str, Any]:
    """``starting_time`` and ``rate`` for a regular grid (NWB's preference), else timestamps."""
    t = np.asarray(time_ms, dtype=np.float64) / 1000.0
    if len(t) > 1:
        step = (t[-1] - t[0]) / (len(t) - 1)
        if step > 0 and np.allclose(np.diff(t), step, rtol=1e-9, atol=1e-12):
            return {"starting_time": float(t[0]), "rate": 1.0 / step}
    return {"timestamps": t}


def _input_units(path: Path, population: str) -> str:
    import h5py

    with h5py.File(path, "r") as f:
        units = f[f"input/{population}/current"].attrs.get("units", "")
    return units.decode() if isinstance(units, bytes) else str(units)


def to_nwb(h5_path: str | Path, out_path: str | Path | None = None) -> Path:
    """Writes the run in ``h5_path`` as NWB 2 to ``out_path`` (default: ``sim.nwb`` beside
    it); returns the path. Raises ImportError without pynwb."""
    from pynwb import NWBHDF5IO, NWBFile, TimeSeries
    from pynwb.file import Subject
    from pynwb.misc import Units

    from simctl import __version__
    from simctl.recording import load_run

    h5_path = Path(h5_path)
    out = Path(out_path) if out_path else h5_path.with_name("sim.nwb")
    run = load_run(h5_path)
    a = run.attrs
    provenance = (
        f"simctl {a.get('simctl_version', __version__)}; torch {a.get('torch_version', '?')}; "
        f"seed {a.get('seed', '?')}; device {a.get('device', '?')}; dtype {a.get('dtype', '?')}"
    )
    digest = hashlib.sha256(f"{h5_path.resolve()}|{a.get('created', '')}".encode()).hexdigest()
    nwb = NWBFile(
        session_description=(
            f"simctl simulation of {', '.join(run.populations)}"
            + ("" if run.complete else " (interrupted: complete=false)")
        ),
        identifier=f"simctl-{digest[:32]}",
        session_start_time=_start_time(a),
        notes=str(a.get("config_yaml", "")),
        data_collection=str(a.get("choices_json", "")),
        source_script=provenance,
        source_script_file_name="simctl",
        was_generated_by=[("simctl", str(a.get("simctl_version", __version__)))],
        experiment_description="numerical simulation of spiking neuron models with simctl",
        # DANDI's checks want a subject with sex and age: a simulation's neurons are "other"
        # and came into being when the run started
        subject=Subject(
            subject_id="simulation",
            description="simulated neuron models: no animal was recorded",
            sex="O",
            date_of_birth=_start_time(a),
        ),
    )
    dts = {pop.dt for pop in run.populations.values() if pop.dt > 0}
    nwb.units = Units(
        name="units",
        description="simulated neurons: spike times in seconds, one row per neuron",
        # spikes lie on the grid t_k = k*dt: the smallest difference is one step
        resolution=min(dts) / 1000.0 if dts else -1.0,
    )
    nwb.add_unit_column("population", "the simctl population of the neuron")
    nwb.add_unit_column("node_id", "the neuron's index within its population (SONATA node_id)")
    for name, pop in run.populations.items():
        t_end_s = (pop.t_reached if pop.t_reached is not None else pop.t_stop) / 1000.0
        order = np.lexsort((pop.spike_times, pop.spike_ids))  # by neuron, then time
        times_s = pop.spike_times[order] / 1000.0
        bounds = np.searchsorted(pop.spike_ids[order], np.arange(pop.size + 1))
        for node in range(pop.size):
            nwb.add_unit(
                spike_times=times_s[bounds[node] : bounds[node + 1]],
                obs_intervals=[[0.0, t_end_s]],
                population=name,
                node_id=node,
            )
        ids = [] if pop.state_ids is None else [int(i) for i in pop.state_ids]
        for var, values in pop.state.items():
            unit, conversion = _unit(pop.state_units.get(var, ""))
            nwb.add_acquisition(
                TimeSeries(
                    name=f"{name}_{var}",
                    data=np.asarray(values),
                    unit=unit,
                    conversion=conversion,
                    **_time(pop.state_time),
                    description=f"{var} of population {name}, neurons (node ids) {ids}",
                    continuity="continuous",
                )
            )
        if pop.input_current is not None and len(pop.input_current):
            unit, conversion = _unit(_input_units(h5_path, name))
            nwb.add_acquisition(
                TimeSeries(
                    name=f"{name}_input",
                    data=np.asarray(pop.input_current),
                    unit=unit,
                    conversion=conversion,
                    **_time(pop.input_time),
                    description=(
                        f"current injected into population {name} during each step (stamped at "
                        f"its start), neurons (node ids) {ids}"
                    ),
                    continuity="step",
                )
            )
    with NWBHDF5IO(str(out), "w") as io:
        io.write(nwb)
    return out
