"""The HDF5 file of a run (``sim.h5``, format_version 1; README.md "The HDF5 file") and loaders.

Layout::

    /                       attrs: format, format_version, simctl_version, created, seed, device,
                            dtype, torch_version, dt (only when all populations share it),
                            t_stop, complete, config_yaml, choices_json
    /populations/<pop>      attrs: model, size, preset, dt, t_stop, parameters_json, ...
    /spikes/<pop>/timestamps  float64 ms, sorted by time (attrs units="ms", sorting="by_time")
    /spikes/<pop>/node_ids    neuron index within the population
    /state/<pop>/<var>        float32 (n_samples, n_recorded), attr units
    /state/<pop>/time         float64 (n_samples,) ms;  /state/<pop>/node_ids
    /input/<pop>/current      float32 (n_samples, n_recorded), attr units; /input/<pop>/time
    /summary/<pop>/           spike_count, rate_hz, first_spike_ms (NaN where none)

A spike emitted in the step from t_k to t_(k+1) has timestamp t_(k+1) = (k+1)·dt; the state
sample of that step is stamped t_(k+1) too, and the input applied during it is stamped t_k
(``/input/<pop>/time``). The writer appends block by block to chunked, resizable datasets and
flushes after each block, so memory stays flat and an interrupted run leaves a readable file
with ``complete`` = false.

Reading (no simctl needed)::

    import h5py
    with h5py.File("sim.h5") as f:
        pop = next(iter(f["populations"]))
        t, ids = f[f"spikes/{pop}/timestamps"][:], f[f"spikes/{pop}/node_ids"][:]
        v, time = f[f"state/{pop}/v"][:], f[f"state/{pop}/time"][:]
"""

from __future__ import annotations

import datetime as _dt
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h5py
import numpy as np

FORMAT = "simctl"
FORMAT_VERSION = 1

__all__ = [
    "SimWriter",
    "PopulationData",
    "RunData",
    "load_run",
    "load_spikes",
    "load_state",
    "load_summary",
    "read_attrs",
]


def _attr(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, (dict, list, tuple)):
        return json.dumps(value)
    if isinstance(value, str):
        return str(value)  # plain str (e.g. torch's TorchVersion is a subclass)
    return value


def _growing(
    group: h5py.Group,
    name: str,
    dtype: str,
    chunks: tuple[int, ...],
    units: str,
    width: int | None = None,
    gzip: int | None = None,
) -> h5py.Dataset:
    """An empty dataset that grows along its first axis (``width`` columns, or 1-D)."""
    shape = (0,) if width is None else (0, width)
    compression = {} if gzip is None else {"compression": "gzip", "compression_opts": gzip}
    ds = group.create_dataset(
        name,
        shape=shape,
        maxshape=(None, *shape[1:]),
        dtype=dtype,
        chunks=chunks,
        shuffle=gzip is not None,
        **compression,
    )
    ds.attrs["units"] = units
    return ds


class SimWriter:
    """Streams one run into ``path`` (HDF5, libver v110).

    Use as a context manager; :meth:`finish` marks the run complete, and leaving the context
    without it (an exception, Ctrl-C, SIGTERM) closes a valid file with ``complete`` = false.
    """

    def __init__(self, path: str | Path, attrs: dict[str, Any]):
        self.path = Path(path)
        self.file = h5py.File(self.path, "w", libver=("v110", "v110"), track_order=True)
        root = self.file.attrs
        root["format"] = FORMAT
        root["format_version"] = FORMAT_VERSION
        root["created"] = _dt.datetime.now(_dt.UTC).astimezone().isoformat(timespec="seconds")
        for key, value in attrs.items():
            root[key] = _attr(value)
        root["complete"] = False
        for group in ("populations", "spikes", "state", "input", "summary"):
            self.file.create_group(group, track_order=True)
        self._pops: dict[str, dict[str, Any]] = {}
        self._scratch: dict[np.dtype, np.ndarray] = {}
        self.file.flush()

    # -- set-up ----------------------------------------------------------------------------
    def add_population(
        self,
        name: str,
        attrs: dict[str, Any],
        variables: dict[str, str],
        node_ids: np.ndarray,
        record_input: bool,
        input_units: str = "",
    ) -> None:
        """Creates the groups and empty datasets of one population.

        Args:
            variables: recorded state variables → units.
            node_ids: the recorded neurons.
        """
        f = self.file
        pop = f["populations"].create_group(name)
        for key, value in attrs.items():
            pop.attrs[key] = _attr(value)
        spikes = f["spikes"].create_group(name)
        spikes.attrs["sorting"] = "by_time"
        ts = _growing(spikes, "timestamps", "f8", (65536,), "ms", gzip=4)
        ts.attrs["sorting"] = "by_time"
        id_dtype = "u2" if int(attrs["size"]) <= 2**16 else "u4"
        ids = _growing(spikes, "node_ids", id_dtype, (65536,), "", gzip=4)
        n_rec = len(node_ids)
        entry = {"spikes": (ts, ids), "state": {}, "input": None, "n_rec": n_rec}
        # samples: ~256 k values per chunk, at most 64 neurons wide
        rows = max(1, min(4096, (1 << 18) // max(1, min(n_rec, 64))))
        chunk = (rows, min(n_rec, 64))
        if variables and n_rec:
            state = f["state"].create_group(name)
            state.create_dataset("node_ids", data=np.asarray(node_ids, dtype="i8"))
            entry["time"] = _growing(state, "time", "f8", (rows,), "ms")
            for var, units in variables.items():
                entry["state"][var] = _growing(state, var, "f4", chunk, units, n_rec, gzip=1)
        if record_input and n_rec:
            inp = f["input"].create_group(name)
            inp.create_dataset("node_ids", data=np.asarray(node_ids, dtype="i8"))
            cur = _growing(inp, "current", "f4", chunk, input_units, n_rec, gzip=1)
            entry["input"] = (cur, _growing(inp, "time", "f8", (rows,), "ms"))
        self._pops[name] = entry

    # -- streaming --------------------------------------------------------------------------
    @staticmethod
    def _append(ds: h5py.Dataset, data: np.ndarray) -> None:
        n = ds.shape[0]
        if len(data) == 0:
            return
        ds.resize(n + len(data), axis=0)
        ds[n:] = data

    def append_spikes(self, name: str, times_ms: np.ndarray, node_ids: np.ndarray) -> None:
        ts, ids = self._pops[name]["spikes"]
        self._append(ts, np.asarray(times_ms, dtype="f8"))
        node_ids = np.asarray(node_ids)
        if node_ids.dtype != ids.dtype and node_ids.ndim == 1:
            # cast into a reused array: a fresh one per block, sized by its spikes, would
            # fragment the heap between HDF5's compression buffers (see simctl.runner.advance)
            node_ids = self._cast(node_ids, ids.dtype)
        self._append(ids, np.asarray(node_ids, dtype=ids.dtype))

    def _cast(self, data: np.ndarray, dtype: np.dtype) -> np.ndarray:
        scratch = self._scratch.get(dtype)
        if scratch is None or scratch.size < data.size:
            scratch = self._scratch[dtype] = np.empty(data.size + data.size // 4, dtype=dtype)
        out = scratch[: data.size]
        np.copyto(out, data, casting="unsafe")
        return out

    def append_state(self, name: str, time_ms: np.ndarray, values: dict[str, np.ndarray]) -> None:
        entry = self._pops[name]
        if "time" not in entry:
            return
        self._append(entry["time"], np.asarray(time_ms, dtype="f8"))
        for var, ds in entry["state"].items():
            self._append(ds, np.asarray(values[var], dtype="f4"))

    def append_input(self, name: str, time_ms: np.ndarray, current: np.ndarray) -> None:
        entry = self._pops[name]
        if entry["input"] is None:
            return
        cur, itime = entry["input"]
        self._append(itime, np.asarray(time_ms, dtype="f8"))
        self._append(cur, np.asarray(current, dtype="f4"))

    def write_summary(
        self, name: str, spike_count: np.ndarray, t_ms: float, first_spike_ms: np.ndarray
    ) -> None:
        """Per-neuron counts and rates over the simulated ``t_ms`` (replaced on each call)."""
        group = self.file["summary"].require_group(name)
        count = np.asarray(spike_count, dtype="i8")
        rate = count / (t_ms / 1000.0) if t_ms > 0 else np.zeros(len(count))
        for key, data, units in (
            ("spike_count", count, ""),
            ("rate_hz", rate.astype("f8"), "Hz"),
            ("first_spike_ms", np.asarray(first_spike_ms, dtype="f8"), "ms"),
        ):
            if key in group:
                del group[key]
            ds = group.create_dataset(key, data=data)
            ds.attrs["units"] = units
        group.attrs["t_ms"] = float(t_ms)

    def set_population_attrs(self, name: str, attrs: dict[str, Any]) -> None:
        """Attributes of ``/populations/<name>`` known only after the run (the backend used,
        warnings)."""
        self.file["populations"][name].attrs.update(attrs)

    def flush(self) -> None:
        self.file.flush()

    def finish(self) -> None:
        """Marks the run complete (call once everything is written)."""
        self.file.attrs["complete"] = True
        self.file.flush()

    def close(self) -> None:
        if self.file.id.valid:
            self.file.close()

    def __enter__(self) -> SimWriter:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


# ---------------------------------------------------------------------------------------------
# loaders


def read_attrs(node: Any) -> dict[str, Any]:
    """A node's attributes as Python values (numpy scalars unwrapped, bytes decoded)."""
    out = {}
    for key, value in node.attrs.items():
        if isinstance(value, bytes):
            value = value.decode()
        elif isinstance(value, np.generic):
            value = value.item()
        out[key] = value
    return out


@dataclass
class PopulationData:
    """Everything recorded about one population (numpy arrays, times in ms)."""

    name: str
    attrs: dict[str, Any]
    spike_times: np.ndarray
    spike_ids: np.ndarray
    state_time: np.ndarray | None = None
    state: dict[str, np.ndarray] = field(default_factory=dict)  #: var → (n_samples, n_rec)
    state_units: dict[str, str] = field(default_factory=dict)
    state_ids: np.ndarray | None = None
    input_time: np.ndarray | None = None
    input_current: np.ndarray | None = None  #: (n_samples, n_rec)
    summary: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def size(self) -> int:
        return int(self.attrs.get("size", 0))

    @property
    def dt(self) -> float:
        return float(self.attrs.get("dt", 0.0))

    @property
    def t_stop(self) -> float:
        return float(self.attrs.get("t_stop", 0.0))

    @property
    def parameters(self) -> dict[str, Any]:
        return json.loads(self.attrs.get("parameters_json") or "{}")


@dataclass
class RunData:
    """A whole ``sim.h5``: root attributes and the populations in file order."""

    path: Path
    attrs: dict[str, Any]
    populations: dict[str, PopulationData]

    @property
    def complete(self) -> bool:
        return bool(self.attrs.get("complete", False))


def _load_population(f: h5py.File, name: str, state: bool, spikes: bool) -> PopulationData:
    pop = PopulationData(
        name=name,
        attrs=read_attrs(f["populations"][name]),
        spike_times=np.zeros(0),
        spike_ids=np.zeros(0, "i8"),
    )
    if spikes and f"spikes/{name}" in f:
        pop.spike_times = f[f"spikes/{name}/timestamps"][:]
        pop.spike_ids = f[f"spikes/{name}/node_ids"][:].astype("i8")
    if state and f"state/{name}" in f:
        group = f[f"state/{name}"]
        pop.state_time = group["time"][:]
        pop.state_ids = group["node_ids"][:]
        for var in group:
            if var not in ("time", "node_ids"):
                pop.state[var] = group[var][:]
                pop.state_units[var] = read_attrs(group[var]).get("units", "")
    if state and f"input/{name}" in f:
        pop.input_current = f[f"input/{name}/current"][:]
        pop.input_time = f[f"input/{name}/time"][:]
    if f"summary/{name}" in f:
        group = f[f"summary/{name}"]
        pop.summary = {key: group[key][:] for key in group}
    return pop


def load_run(path: str | Path, state: bool = True, spikes: bool = True) -> RunData:
    """Reads a ``sim.h5`` (``state=False`` skips state traces and input; ``spikes=False``
    skips the spike lists, leaving attributes and summaries)."""
    path = Path(path)
    with h5py.File(path, "r") as f:
        if read_attrs(f).get("format") != FORMAT:
            raise ValueError(f"{path} is not a simctl file (no format='simctl' attribute)")
        pops = {name: _load_population(f, name, state, spikes) for name in f["populations"]}
        return RunData(path=path, attrs=read_attrs(f), populations=pops)


def load_spikes(path: str | Path, population: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``(times_ms, node_ids)`` of one population (the first when ``population`` is None)."""
    with h5py.File(path, "r") as f:
        name = population or next(iter(f["populations"]))
        return f[f"spikes/{name}/timestamps"][:], f[f"spikes/{name}/node_ids"][:].astype("i8")


def load_state(
    path: str | Path, population: str | None = None
) -> tuple[np.ndarray, dict[str, np.ndarray], np.ndarray]:
    """``(time_ms, {var: (n_samples, n_rec)}, node_ids)`` of one population."""
    run = load_run(path)
    pop = run.populations[population] if population else next(iter(run.populations.values()))
    return pop.state_time, pop.state, pop.state_ids


def load_summary(path: str | Path) -> dict[str, dict[str, np.ndarray]]:
    """``{pop: {spike_count, rate_hz, first_spike_ms}}`` (reads only /summary)."""
    with h5py.File(path, "r") as f:
        return {name: {k: g[k][:] for k in g} for name, g in f["summary"].items()}
