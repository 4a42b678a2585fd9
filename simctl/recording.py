"""The HDF5 file of a run (``sim.h5``, format_version 1; README.md "The HDF5 file") and loaders.

Layout::

    /                       attrs: format, format_version, simctl_version, created, seed, device,
                            dtype, torch_version, dt (only when all populations share it),
                            t_stop, complete, config_yaml, choices_json
    /populations/<pop>      attrs: model, size, preset, dt, t_stop, parameters_json, ...,
                            t_reached (ms), flushed ([t_reached, spikes, state rows, input rows])
    /spikes/<pop>             attr sorting: SONATA's enum (uint8: none=0, by_id=1, by_time=2)
    /spikes/<pop>/timestamps  float64 ms, sorted by time (attrs units="ms", sorting="by_time")
    /spikes/<pop>/node_ids    uint64 neuron index within the population (SONATA)
    /state/<pop>/<var>        float32 (n_samples, n_recorded), attr units
    /state/<pop>/time         float64 (n_samples,) ms;  /state/<pop>/node_ids
    /input/<pop>/current      float32 (n_samples, n_recorded), attr units; /input/<pop>/time
    /summary/<pop>/           spike_count, rate_hz, first_spike_ms (NaN where none)

A spike emitted in the step from t_k to t_(k+1) has timestamp t_(k+1) = (k+1)·dt; the state
sample of that step is stamped t_(k+1) too, and the input applied during it is stamped t_k
(``/input/<pop>/time``). The writer appends block by block to chunked, resizable datasets and
flushes after each block, so memory stays flat and an interrupted run leaves a readable file
with ``complete`` = false. ``/populations/<pop>`` attr ``t_reached`` (ms) is the simulated
time of the last flushed block.

Crash safety (docs/file-format.md has the measurements): the file is written with HDF5 1.8's
superblock (``libver=("v108", "v110")``), which records no "open for writing" flag, so a file
whose writer was killed (SIGKILL, a second SIGTERM during clean-up) opens in any HDF5 reader
with every block flushed before the kill. Freed file space is never reused and metadata reach
the disk only at flushes; after each flush a commit record (``flushed``) is rewritten in
place, and simctl's readers read no further than it (a kill inside a flush may leave that
block half indexed). :func:`recover` repairs the rare file whose writer died inside HDF5's
flush of the superblock. The spike datasets are SONATA's (libsonata reads them); ``node_ids``
use HDF5's built-in lossless scale-offset filter, which every HDF5 build decodes (libsonata's
wheel has no deflate).

Reading (no simctl needed; the ``flushed`` counts matter only for a killed run)::

    import h5py
    with h5py.File("sim.h5") as f:
        pop = next(iter(f["populations"]))
        _, n_spikes, n_samples, _ = f[f"populations/{pop}"].attrs["flushed"].astype(int)
        t = f[f"spikes/{pop}/timestamps"][:n_spikes]
        ids = f[f"spikes/{pop}/node_ids"][:n_spikes]
        v, time = f[f"state/{pop}/v"][:n_samples], f[f"state/{pop}/time"][:n_samples]
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import logging
import signal
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h5py
import numpy as np

FORMAT = "simctl"
FORMAT_VERSION = 1
#: HDF5 format bounds: 1.8's superblock v2 keeps no status flags, so a killed writer leaves a
#: file every reader opens; 1.10 objects may be used where 1.8 has none
LIBVER = ("v108", "v110")
#: crash safety between flushes (docs/file-format.md): freed file space is never reused (a
#: rewritten compressed chunk moves, the flushed copy stays where the file's index points),
#: and metadata reach the disk only at a flush (no evictions from HDF5's metadata cache)
FILE_SPACE = "aggregate"
HOLD_METADATA = True
#: SONATA's ``sorting`` attribute of ``/spikes/<pop>``: an HDF5 enum on uint8
SORTING = h5py.enum_dtype({"none": 0, "by_id": 1, "by_time": 2}, basetype="u1")
SORTING_NAMES = {0: "none", 1: "by_id", 2: "by_time"}
#: compression of the spike datasets (docs/file-format.md): "scaleoffset" (node_ids through
#: HDF5's built-in lossless integer filter, timestamps raw; libsonata reads it), "none", or
#: "gzip" (smallest; libsonata's wheel cannot read it)
SPIKE_COMPRESSION = ("scaleoffset", "none", "gzip")
#: spikes read per chunk by the loaders that must not scale with the spike count
READ_CHUNK = 1 << 18

__all__ = [
    "SimWriter",
    "PopulationData",
    "RunData",
    "load_run",
    "load_spikes",
    "load_state",
    "load_summary",
    "read_attrs",
    "iter_spikes",
    "RunDirLock",
    "RunDirBusy",
    "recover",
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
    units: str | None,
    width: int | None = None,
    gzip: int | None = None,
    **filters: Any,
) -> h5py.Dataset:
    """An empty dataset that grows along its first axis (``width`` columns, or 1-D)."""
    shape = (0,) if width is None else (0, width)
    if gzip is not None:
        filters = {"compression": "gzip", "compression_opts": gzip, "shuffle": True, **filters}
    ds = group.create_dataset(
        name, shape=shape, maxshape=(None, *shape[1:]), dtype=dtype, chunks=chunks, **filters
    )
    if units is not None:
        ds.attrs["units"] = units
    return ds


@contextlib.contextmanager
def _signals_deferred() -> Iterator[None]:
    """SIGTERM, SIGHUP and SIGINT are held back within the block (main thread only) and
    delivered when it ends."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    held = {signal.SIGTERM, signal.SIGHUP, signal.SIGINT}
    old = signal.pthread_sigmask(signal.SIG_BLOCK, held)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


def _hold_metadata(f: h5py.File) -> None:
    """HDF5's metadata cache keeps every dirty entry until the next flush (no evictions, a
    fixed size): what is on disk between flushes is the last flush's metadata."""
    config = f.id.get_mdc_config()
    config.incr_mode = 0  # H5C_incr__off
    config.decr_mode = 0  # H5C_decr__off
    config.flash_incr_mode = 0  # H5C_flash_incr__off
    config.evictions_enabled = False
    f.id.set_mdc_config(config)


class RunDirBusy(Exception):
    """Another process holds the lock of a run directory."""

    def __init__(self, run_dir: Path):
        self.run_dir = run_dir
        super().__init__(
            f"hydra.run.dir={run_dir}: another simctl run is writing into this directory; "
            "allowed: a directory no other run is using (e.g. hydra.run.dir=outputs/other)"
        )


#: run directories this process holds: resolved path → [open lock file, holders]
_held: dict[Path, list[Any]] = {}


class RunDirLock:
    """Holds ``run_dir/.simctl.lock`` (``flock``, exclusive) until :meth:`release` (or the
    end of a ``with`` block, or garbage collection); raises :class:`RunDirBusy` at once when
    another process holds it. Re-entrant within a process; the kernel drops the lock when the
    holder dies, so a killed run leaves none behind. Take it before anything in the directory
    is created or truncated."""

    def __init__(self, run_dir: str | Path):
        import fcntl

        self.run_dir = Path(run_dir)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self._key: Path | None = None
        key = self.run_dir.resolve()
        if key not in _held:
            handle = open(key / ".simctl.lock", "a+b")  # noqa: SIM115 - held until release
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                handle.close()
                raise RunDirBusy(self.run_dir) from None
            except OSError:  # a file system without flock (some NFS): run unlocked
                pass
            _held[key] = [handle, 0]
        _held[key][1] += 1
        self._key = key

    def release(self) -> None:
        key, self._key = self._key, None
        if key is not None and key in _held:
            _held[key][1] -= 1
            if not _held[key][1]:
                _held.pop(key)[0].close()

    def __enter__(self) -> RunDirLock:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.release()

    def __del__(self) -> None:
        self.release()


class SimWriter:
    """Streams one run into ``path`` (HDF5, :data:`LIBVER`).

    Use as a context manager; :meth:`finish` marks the run complete, and leaving the context
    without it (an exception, Ctrl-C, SIGTERM) closes a valid file with ``complete`` = false.
    A writer killed outright leaves a file that opens with every block of the last
    :meth:`flush`.

    Args:
        spike_compression: one of :data:`SPIKE_COMPRESSION`.
        clock: returns ``{population: ms simulated}``; read at every :meth:`flush`.
    """

    def __init__(
        self,
        path: str | Path,
        attrs: dict[str, Any],
        spike_compression: str = "scaleoffset",
        clock: Callable[[], Mapping[str, float]] | None = None,
    ):
        self.clock = clock
        if spike_compression not in SPIKE_COMPRESSION:
            raise ValueError(
                f"spike_compression={spike_compression!r}; allowed: {', '.join(SPIKE_COMPRESSION)}"
            )
        self.spike_compression = spike_compression
        self.path = Path(path)
        self.file = h5py.File(
            self.path, "w", libver=LIBVER, track_order=True, fs_strategy=FILE_SPACE
        )
        if HOLD_METADATA:
            _hold_metadata(self.file)
        root = self.file.attrs
        root["format"] = FORMAT
        root["format_version"] = FORMAT_VERSION
        root["created"] = _dt.datetime.now(_dt.UTC).astimezone().isoformat(timespec="seconds")
        for key, value in attrs.items():
            root[key] = _attr(value)
        root.create("complete", False)
        self._complete = h5py.h5a.open(self.file.id, b"complete")  # rewritten in place
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
        rows_per_flush: int | None = None,
    ) -> None:
        """Creates the groups and empty datasets of one population.

        Args:
            variables: recorded state variables → units.
            rows_per_flush: state samples written between flushes (the runner's block): the
                compressed chunks hold about that many rows. Freed space is never reused
                (:data:`FILE_SPACE`), so a compressed chunk rewritten at every flush while it
                fills would leave its old copies behind; chunks a block long are written once.
            node_ids: the recorded neurons.
        """
        f = self.file
        pop = f["populations"].create_group(name)
        for key, value in attrs.items():
            pop.attrs[key] = _attr(value)
        pop.attrs.create("t_reached", 0.0, dtype="f8")
        pop.attrs.create("flushed", np.zeros(4), dtype="f8")
        spikes = f["spikes"].create_group(name)
        spikes.attrs.create("sorting", 2, dtype=SORTING)  # SONATA: by_time
        gzip = 4 if self.spike_compression == "gzip" else None
        # gzip chunks are rewritten (and moved) at each flush until full: smaller ones waste
        # less of the file (freed space is never reused, see FILE_SPACE)
        rows = (8192,) if gzip else (65536,)
        ts = _growing(spikes, "timestamps", "f8", rows, "ms", gzip=gzip)
        ts.attrs["sorting"] = "by_time"  # the string form older readers use, beside SONATA's enum
        id_filters = {"scaleoffset": 0} if self.spike_compression == "scaleoffset" else {}
        ids = _growing(spikes, "node_ids", "u8", rows, None, gzip=gzip, **id_filters)
        n_rec = len(node_ids)
        entry = {"spikes": (ts, ids), "state": {}, "input": None, "n_rec": n_rec}
        entry["t_reached_id"] = h5py.h5a.open(pop.id, b"t_reached")
        entry["flushed_id"] = h5py.h5a.open(pop.id, b"flushed")
        entry["flushed"] = np.zeros(4)
        # samples: ~256 k values per chunk, at most 64 neurons wide, about a block long
        rows = max(1, min(4096, (1 << 18) // max(1, min(n_rec, 64))))
        if rows_per_flush:
            rows = max(16, min(rows, int(rows_per_flush)))
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
        """Writes everything so far to disk, then commits it: each population's ``flushed``
        attribute (``[t_reached ms, spikes, state samples, input samples]``, with
        ``t_reached`` beside it) is rewritten in place and flushed again. A kill inside the
        first flush can leave the block being flushed half-indexed (read as fill values); the
        commit record still names the previous block, and simctl's readers stop there."""
        try:
            self.file.flush()
        except RuntimeError as error:  # h5py reports a failed write (a full disk) this way
            raise _write_error(error) from None
        times = self.clock() if self.clock is not None else {}
        for name, entry in self._pops.items():
            # in place: same type and size, so the object header never grows or moves (a
            # re-created attribute did, and a kill in a flush tore the header)
            t_ms = float(times.get(name, entry["flushed"][0]))
            spikes = entry["spikes"][0].shape[0]
            state = entry["time"].shape[0] if "time" in entry else 0
            inputs = entry["input"][1].shape[0] if entry["input"] is not None else 0
            entry["flushed"] = np.array([t_ms, spikes, state, inputs], dtype="f8")
            entry["flushed_id"].write(entry["flushed"])
            entry["t_reached_id"].write(np.array(t_ms, dtype="f8"))
        self.file.flush()

    def finish(self) -> None:
        """Marks the run complete (call once everything is written)."""
        self.flush()
        self._complete.write(np.array(True))
        self.file.flush()

    def close(self) -> None:
        """Closes the file; SIGTERM, SIGHUP and SIGINT wait until it is closed (delivered
        after), so a second signal during clean-up cannot cut the close short."""
        if not self.file.id.valid:
            return
        with _signals_deferred():
            self.flush()  # a clean close commits everything written
            self.file.close()

    def __enter__(self) -> SimWriter:
        return self

    def __exit__(self, exc_type: Any, *exc: Any) -> None:
        if exc_type is None:
            self.close()
            return
        if exc_type is not None and issubclass(exc_type, OSError):
            # the file cannot be written (a full disk): closing would try again and fail in
            # h5py's deallocators; what was committed before stays as the readers find it
            _UNWRITABLE.append(self)
            return
        try:  # the run's own error is what the caller must see, not a second one here
            self.close()
        except Exception:  # noqa: BLE001 - e.g. a full disk refusing the last commit
            try:
                if self.file.id.valid:
                    self.file.close()
            except Exception:  # noqa: BLE001 - HDF5 cannot write what it holds: let it go
                pass


#: writers whose file could not be written: kept alive so that h5py never deallocates (and
#: tries to flush) their objects, which printed "Exception ignored" tracebacks; the process
#: reports its one-line error and exits
_UNWRITABLE: list[Any] = []


def _write_error(error: RuntimeError) -> Exception:
    """An ``OSError`` with the errno of h5py's failed-write ``RuntimeError`` (e.g. ENOSPC), so
    callers report a full disk as such; other errors pass through unchanged."""
    import errno as errnos
    import os
    import re

    found = re.search(r"errno = (\d+)", str(error))
    if not found:
        return error
    code = int(found.group(1))
    return OSError(code, os.strerror(code) if code in errnos.errorcode else str(error))


# ---------------------------------------------------------------------------------------------
# recovery of a file whose writer was killed inside a flush


def _rot(x: int, k: int) -> int:
    return ((x << k) | (x >> (32 - k))) & 0xFFFFFFFF


def _lookup3(data: bytes, initval: int = 0) -> int:
    """Bob Jenkins' lookup3 ``hashlittle`` (public domain, 2006): HDF5's metadata checksum."""
    mask = 0xFFFFFFFF
    n = len(data)
    a = b = c = (0xDEADBEEF + n + initval) & mask
    i = 0
    while n - i > 12:
        a = (a + int.from_bytes(data[i : i + 4], "little")) & mask
        b = (b + int.from_bytes(data[i + 4 : i + 8], "little")) & mask
        c = (c + int.from_bytes(data[i + 8 : i + 12], "little")) & mask
        a = (a - c) & mask
        a ^= _rot(c, 4)
        c = (c + b) & mask
        b = (b - a) & mask
        b ^= _rot(a, 6)
        a = (a + c) & mask
        c = (c - b) & mask
        c ^= _rot(b, 8)
        b = (b + a) & mask
        a = (a - c) & mask
        a ^= _rot(c, 16)
        c = (c + b) & mask
        b = (b - a) & mask
        b ^= _rot(a, 19)
        a = (a + c) & mask
        c = (c - b) & mask
        c ^= _rot(b, 4)
        b = (b + a) & mask
        i += 12
    if n == i:
        return c
    tail = data[i:] + bytes(12 - (n - i))
    a = (a + int.from_bytes(tail[0:4], "little")) & mask
    b = (b + int.from_bytes(tail[4:8], "little")) & mask
    c = (c + int.from_bytes(tail[8:12], "little")) & mask
    c ^= b
    c = (c - _rot(b, 14)) & mask
    a ^= c
    a = (a - _rot(c, 11)) & mask
    b ^= a
    b = (b - _rot(a, 25)) & mask
    c ^= b
    c = (c - _rot(b, 16)) & mask
    a ^= c
    a = (a - _rot(c, 4)) & mask
    b ^= a
    b = (b - _rot(a, 14)) & mask
    c ^= b
    c = (c - _rot(b, 24)) & mask
    return c


_SIGNATURE = b"\x89HDF\r\n\x1a\n"


def recover(path: str | Path) -> bool:
    """Repairs a file whose writer was killed inside a flush; True when it changed the file.

    HDF5 writes the superblock (with the end-of-allocation address, EOA) last in a flush, so a
    kill in between leaves index entries that point past the recorded EOA at data already on
    disk ("addr overflow"). This moves the EOA to the end of the file and updates the
    superblock's checksum, as ``h5clear --increment`` does. Only for a version 2 or 3
    superblock at offset 0 (simctl's) whose EOA lies before the end of the file, which a
    cleanly closed file never has (HDF5 truncates the file to its EOA on close).
    """
    import os
    import struct

    path = Path(path)
    try:
        size = path.stat().st_size
        with open(path, "rb") as fh:
            head = fh.read(48)
    except OSError:
        return False
    if len(head) < 48 or head[:8] != _SIGNATURE or head[8] not in (2, 3):
        return False
    if head[9] != 8 or head[10] != 8:  # 8-byte offsets and lengths: what h5py writes
        return False
    base, _, eoa, _ = struct.unpack("<4Q", head[12:44])
    if base != 0 or eoa >= size or _lookup3(head[:44]) != struct.unpack("<I", head[44:48])[0]:
        return False
    import fcntl

    fixed = head[:28] + struct.pack("<Q", size) + head[36:44]
    try:
        fd = os.open(path, os.O_WRONLY)
    except OSError:  # read-only: the plain open may still work
        return False
    try:
        try:  # HDF5's own lock: a live writer holds it, and its superblock is the truth
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        except OSError:  # no flock here (some NFS): go on, as HDF5 itself would fail to lock
            pass
        os.pwrite(fd, fixed + struct.pack("<I", _lookup3(fixed)), 0)
    finally:
        os.close(fd)
    return True


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
    n_spikes: int = 0  #: spikes in the file (also when the spike lists were not loaded)
    t_reached: float | None = None  #: ms simulated (summary, else last flush); None: unknown

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
    """A whole ``sim.h5`` (or a SONATA spike file of another tool, ``foreign``): root
    attributes and the populations in file order."""

    path: Path
    attrs: dict[str, Any]
    populations: dict[str, PopulationData]
    foreign: bool = False  #: SONATA spikes without simctl's attributes

    @property
    def complete(self) -> bool:
        return bool(self.attrs.get("complete", False))


def _time_scale(ts: h5py.Dataset) -> float:
    """Milliseconds per unit of a SONATA ``timestamps`` dataset (SONATA's default is ms)."""
    units = read_attrs(ts).get("units", "ms") or "ms"
    scale = {"ms": 1.0, "s": 1000.0, "us": 1e-3}.get(str(units).strip())
    if scale is None:
        raise ValueError(f"{ts.name}: units={units!r}; allowed: ms, s, us")
    return scale


def _committed(f: h5py.File, name: str) -> tuple[int | None, int | None, int | None]:
    """The lengths the writer committed for a population (spikes, state samples, input
    samples): what simctl reads. None where the file has no commit record (foreign, older)."""
    pop = f.get(f"populations/{name}")
    flushed = pop.attrs.get("flushed") if pop is not None else None
    if flushed is None or np.shape(flushed) != (4,):
        return None, None, None
    return int(flushed[1]), int(flushed[2]), int(flushed[3])


def iter_spikes(
    source: h5py.File | str | Path, population: str, chunk: int = READ_CHUNK
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """``(times_ms float64, node_ids int64)`` of one population, ``chunk`` spikes at a time
    (memory bounded by ``chunk``, not by the spike count)."""
    if not isinstance(source, h5py.File):
        with h5py.File(source, "r") as f:
            yield from iter_spikes(f, population, chunk)
        return
    group = source[f"spikes/{population}"]
    ts, ids = group["timestamps"], group["node_ids"]
    scale = _time_scale(ts)
    n = _committed(source, population)[0]
    n = ts.shape[0] if n is None else min(n, ts.shape[0])
    for start in range(0, n, chunk):
        stop = min(n, start + chunk)
        t = ts[start:stop].astype("f8", copy=False)
        yield (t * scale if scale != 1.0 else t), ids[start:stop].astype("i8")


def _is_simctl(f: h5py.File) -> bool:
    return read_attrs(f).get("format") == FORMAT


def _sonata_populations(f: h5py.File) -> list[str]:
    spikes = f.get("spikes")
    if not isinstance(spikes, h5py.Group):
        return []
    return [
        name
        for name, group in spikes.items()
        if isinstance(group, h5py.Group) and {"timestamps", "node_ids"} <= set(group)
    ]


def _foreign_attrs(f: h5py.File, name: str) -> dict[str, Any]:
    """What simctl's population attrs would say, for SONATA spikes of another tool: size from
    the largest node id, t_stop from the latest spike (read in chunks)."""
    t_max, id_max = 0.0, -1
    for t, ids in iter_spikes(f, name):
        if len(t):
            t_max, id_max = max(t_max, float(t.max())), max(id_max, int(ids.max()))
    sorting = read_attrs(f[f"spikes/{name}"]).get("sorting", "none")
    sorting = SORTING_NAMES.get(sorting, sorting) if isinstance(sorting, int) else sorting
    return {
        "model": "",
        "size": id_max + 1,
        "preset": "",
        "dt": 0.0,
        "t_stop": t_max,
        "source": f"SONATA spikes (sorting {sorting})",
    }


def _load_population(
    f: h5py.File,
    name: str,
    state: bool,
    spikes: bool,
    foreign: bool = False,
    columns: int | None = None,
) -> PopulationData:
    attrs = _foreign_attrs(f, name) if foreign else read_attrs(f["populations"][name])
    pop = PopulationData(
        name=name, attrs=attrs, spike_times=np.zeros(0), spike_ids=np.zeros(0, "i8")
    )
    n_spikes, n_state, n_input = (None, None, None) if foreign else _committed(f, name)
    if f"spikes/{name}" in f:
        ts, ids = f[f"spikes/{name}/timestamps"], f[f"spikes/{name}/node_ids"]
        pop.n_spikes = ts.shape[0] if n_spikes is None else min(n_spikes, ts.shape[0])
        if spikes:
            scale = _time_scale(ts)
            t = ts[: pop.n_spikes]
            pop.spike_times = t * scale if scale != 1.0 else t
            pop.spike_ids = ids[: pop.n_spikes].astype("i8")
    if state and f"state/{name}" in f:
        group = f[f"state/{name}"]
        cols, rows = slice(None, columns), slice(None, n_state)
        pop.state_time = group["time"][rows]
        pop.state_ids = group["node_ids"][cols]
        for var in group:
            if var not in ("time", "node_ids"):
                pop.state[var] = group[var][rows, cols]
                pop.state_units[var] = read_attrs(group[var]).get("units", "")
    if state and f"input/{name}" in f:
        rows = slice(None, n_input)
        pop.input_current = f[f"input/{name}/current"][rows, slice(None, columns)]
        pop.input_time = f[f"input/{name}/time"][rows]
    if "t_reached" in attrs:
        pop.t_reached = float(attrs["t_reached"])
    try:
        if f"summary/{name}" in f:
            group = f[f"summary/{name}"]
            summary = {key: group[key][:] for key in group}
            if {"spike_count", "rate_hz", "first_spike_ms"} <= set(summary):
                pop.summary = summary
                pop.t_reached = float(group.attrs.get("t_ms", pop.t_reached or 0.0))
    except (OSError, KeyError, ValueError):  # a kill while the summary was written: none
        pop.summary = {}
    return pop


def _open_run(f: h5py.File, path: Path) -> tuple[list[str], bool]:
    """The population names of an open file and whether it is foreign SONATA."""
    if _is_simctl(f):
        if "populations" not in f:
            raise ValueError(f"{path} says format='simctl' but has no /populations")
        for name in f["populations"]:
            if "size" not in read_attrs(f["populations"][name]):
                raise ValueError(f"{path}: /populations/{name} has no size attribute")
        return list(f["populations"]), False
    names = _sonata_populations(f)
    if names:
        return names, True
    raise ValueError(
        f"{path} is not a simctl file (no format='simctl' attribute) and has no SONATA spikes "
        "(/spikes/<population>/timestamps and node_ids)"
    )


def load_run(
    path: str | Path, state: bool = True, spikes: bool = True, columns: int | None = None
) -> RunData:
    """Reads a ``sim.h5``, or the spikes of a SONATA file written by another tool.

    Args:
        state: False skips state traces and input.
        spikes: False skips the spike lists, leaving attributes, summaries and ``n_spikes``
            (memory then does not grow with the spike count; :func:`iter_spikes` reads them in
            chunks).
        columns: read only the first ``columns`` recorded neurons of state and input.
    """
    path = Path(path)
    if recover(path):
        logging.getLogger("simctl").warning(
            "%s: repaired the end-of-file address (its writer was killed during a flush)", path
        )
    with h5py.File(path, "r") as f:
        names, foreign = _open_run(f, path)
        pops = {name: _load_population(f, name, state, spikes, foreign, columns) for name in names}
        attrs = read_attrs(f)
        if foreign:
            attrs.setdefault("format", "sonata")
            attrs.setdefault("t_stop", max((p.t_stop for p in pops.values()), default=0.0))
        return RunData(path=path, attrs=attrs, populations=pops, foreign=foreign)


def count_spikes(path: str | Path, population: str, size: int) -> np.ndarray:
    """Spikes per neuron (``size`` of them; larger ids widen it), read in chunks."""
    counts = np.zeros(max(0, size), dtype=np.int64)
    for _, ids in iter_spikes(path, population):
        if len(ids):
            more = np.bincount(ids, minlength=len(counts))
            if len(more) > len(counts):
                counts = np.concatenate([counts, np.zeros(len(more) - len(counts), np.int64)])
            counts += more
    return counts


def load_spikes(path: str | Path, population: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``(times_ms, node_ids)`` of one population (the first when ``population`` is None)."""
    path = Path(path)
    with h5py.File(path, "r") as f:
        names, _ = _open_run(f, path)
        name = population or names[0]
        chunks = list(iter_spikes(f, name, chunk=max(1, f[f"spikes/{name}/timestamps"].shape[0])))
        if not chunks:
            return np.zeros(0), np.zeros(0, "i8")
        return chunks[0]


def load_state(
    path: str | Path, population: str | None = None
) -> tuple[np.ndarray, dict[str, np.ndarray], np.ndarray]:
    """``(time_ms, {var: (n_samples, n_rec)}, node_ids)`` of one population."""
    run = load_run(path, spikes=False)
    pop = run.populations[population] if population else next(iter(run.populations.values()))
    return pop.state_time, pop.state, pop.state_ids


def load_summary(path: str | Path) -> dict[str, dict[str, np.ndarray]]:
    """``{pop: {spike_count, rate_hz, first_spike_ms}}`` (reads only /summary)."""
    with h5py.File(path, "r") as f:
        return {name: {k: g[k][:] for k in g} for name, g in f["summary"].items()}
