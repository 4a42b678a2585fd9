"""Spike-file choices measured for docs/file-format.md: one JSON line per case.

``python benchmarks/file_format.py`` writes 1e6 spikes (1000 neurons, 10 s at dt 0.1 ms,
100 blocks of 10 k spikes, as the runner streams them) through :class:`SimWriter` with each
spike compression, and reports file size, write time (best of 3), read time and whether
libsonata's SpikeReader reads the file. ``--layouts`` compares the crash-safety designs on
the same stream plus a state trace (HDF5 format bounds, file-space strategy, SWMR), and
whether plain h5py opens the file of a writer SIGKILLed after five flushes. ``--kills N``
SIGKILLs ``tests/fault_writer.py`` at N random moments and counts the files plain h5py cannot
read, the repairs and the files whose checks (``tests/test_faults.check_blocks``) fail;
``FAULT_LIBVER``, ``FAULT_FILE_SPACE`` and ``FAULT_HOLD_METADATA`` select another layout.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import h5py
import numpy as np

from simctl import recording
from simctl.recording import SimWriter

N, SIZE, DT, BLOCKS = 1_000_000, 1000, 0.1, 100


def _stream(seed: int = 0):
    rng = np.random.default_rng(seed)
    steps = np.sort(rng.integers(1, 100_000, N))
    return steps * DT, rng.integers(0, SIZE, N)


def _write(path: Path, t, ids, compression: str, state: bool = False):
    attrs = {"model": "lif", "size": SIZE, "preset": "", "dt": DT, "t_stop": 10_000.0}
    start = time.perf_counter()
    with SimWriter(path, {"t_stop": 10_000.0}, spike_compression=compression) as w:
        w.add_population(
            "p",
            {**attrs, "parameters_json": "{}"},
            {"v": "mV"} if state else {},
            np.arange(8),
            False,
            rows_per_flush=1000,
        )
        for b in range(BLOCKS):
            part = slice(b * N // BLOCKS, (b + 1) * N // BLOCKS)
            w.append_spikes("p", t[part], ids[part])
            if state:
                time_ = (b * 1000 + np.arange(1, 1001)) * DT
                w.append_state("p", time_, {"v": np.sin(time_[:, None] + np.arange(8))})
            w.flush()
        w.finish()
    return time.perf_counter() - start


def _libsonata(path: Path) -> tuple[bool, float]:
    try:
        import libsonata
    except ImportError:
        return False, float("nan")
    start = time.perf_counter()
    try:
        libsonata.SpikeReader(str(path))["p"].get()
    except Exception:  # noqa: BLE001 - "cannot read" is the measurement
        return False, float("nan")
    return True, time.perf_counter() - start


def compressions(tmp: Path) -> None:
    t, ids = _stream()
    for compression in recording.SPIKE_COMPRESSION:
        path = tmp / f"{compression}.h5"
        seconds = min(_write(path, t, ids, compression) for _ in range(3))
        start = time.perf_counter()
        with h5py.File(path) as f:
            assert (f["spikes/p/timestamps"][:] == t).all()
            assert (f["spikes/p/node_ids"][:] == ids).all()
        read = time.perf_counter() - start
        ok, lib_read = _libsonata(path)
        print(
            json.dumps(
                {
                    "spike_compression": compression,
                    "spikes": N,
                    "file_mb": round(path.stat().st_size / 1e6, 2),
                    "bytes_per_spike": round(path.stat().st_size / N, 2),
                    "write_s": round(seconds, 3),
                    "write_mspikes_per_s": round(N / seconds / 1e6, 1),
                    "h5py_read_s": round(read, 3),
                    "libsonata_reads": ok,
                    "libsonata_read_s": round(lib_read, 3),
                }
            )
        )


_KILLED = """
import os, signal, sys
import h5py, numpy as np
from simctl import recording
recording.LIBVER = tuple(sys.argv[2].split(","))
recording.FILE_SPACE, recording.HOLD_METADATA = sys.argv[3], sys.argv[4] == "1"
if sys.argv[5] == "1":  # SWMR: plain h5py (SimWriter keeps attributes open, which SWMR refuses)
    f = h5py.File(sys.argv[1], "w", libver="v110")
    ds = f.create_dataset("x", shape=(0,), maxshape=(None,), dtype="f8", chunks=(65536,))
    f.swmr_mode = True
    for b in range(5):
        ds.resize((b + 1) * 1000, axis=0)
        ds[b * 1000 :] = b
        ds.flush()
else:
    w = recording.SimWriter(sys.argv[1], {})
    w.add_population("p", {"size": 10}, {}, np.arange(0), False)
    for b in range(5):
        w.append_spikes("p", np.full(1000, b + 1.0), np.zeros(1000, int))
        w.flush()
os.kill(os.getpid(), signal.SIGKILL)
"""


def _opens_after_sigkill(tmp: Path, libver, space, hold, swmr) -> bool:
    """Whether plain ``h5py.File(path)`` opens the file of a writer killed after 5 flushes."""
    import subprocess
    import sys

    path = tmp / "killed.h5"
    args = [",".join(libver), space, str(int(hold)), str(int(swmr))]
    subprocess.run([sys.executable, "-c", _KILLED, str(path), *args], check=False)
    try:
        with h5py.File(path, "r"):
            return True
    except OSError:
        return False


def layouts(tmp: Path) -> None:
    t, ids = _stream()
    cases = {
        "v108 + aggregate + held metadata (default)": (("v108", "v110"), "aggregate", True, 0),
        "v108 + aggregate": (("v108", "v110"), "aggregate", False, 0),
        "v108, default file space": (("v108", "v110"), "fsm", False, 0),
        "v110 (the old layout)": (("v110", "v110"), "fsm", False, 0),
        "v110 + SWMR": (("v110", "v110"), "fsm", False, 1),
    }
    saved = recording.LIBVER, recording.FILE_SPACE, recording.HOLD_METADATA
    try:
        for name, (libver, space, hold, swmr) in cases.items():
            recording.LIBVER, recording.FILE_SPACE, recording.HOLD_METADATA = libver, space, hold
            row = {"layout": name}
            if not swmr:  # SimWriter keeps attributes open for in-place writes: no SWMR
                path = tmp / "layout.h5"
                seconds = min(_write(path, t, ids, "scaleoffset", state=True) for _ in range(3))
                row |= {
                    "file_mb": round(path.stat().st_size / 1e6, 2),
                    "write_s": round(seconds, 3),
                }
            row["plain_h5py_opens_after_sigkill"] = _opens_after_sigkill(
                tmp, libver, space, hold, swmr
            )
            print(json.dumps(row))
    finally:
        recording.LIBVER, recording.FILE_SPACE, recording.HOLD_METADATA = saved


def kills(tmp: Path, n: int, seed: int = 1) -> None:
    import random
    import signal
    import subprocess
    import sys

    tests = Path(__file__).resolve().parents[1] / "tests"
    sys.path.insert(0, str(tests))
    from test_faults import check_blocks

    rng = random.Random(seed)
    unreadable, repaired, failed, flushed = 0, 0, 0, []
    for i in range(n):
        path = tmp / f"kill{i}.h5"
        writer = [sys.executable, str(tests / "fault_writer.py"), str(path), "scaleoffset", "9999"]
        proc = subprocess.Popen(writer, stdout=subprocess.PIPE, text=True)
        lines = [proc.stdout.readline()]
        time.sleep(rng.uniform(0, 0.4))
        proc.send_signal(signal.SIGKILL)
        lines += proc.stdout.read().split()
        proc.stdout.close()
        proc.wait()
        k = int(lines[-1]) if lines[-1].strip() else 0
        flushed.append(k)
        try:
            with h5py.File(path, "r") as f:
                f["spikes/p/timestamps"][:], f["state/p/v"][:], f["input/p/current"][:]
        except (OSError, KeyError):
            unreadable += 1
        repaired += recording.recover(path)
        try:
            check_blocks(path, k)
        except (AssertionError, OSError, KeyError):
            failed += 1
        path.unlink()
    print(
        json.dumps(
            {
                "kills": n,
                "plain_h5py_unreadable": unreadable,
                "end_address_moved": repaired,
                "checks_failed_after_recover": failed,
                "median_blocks_flushed": int(np.median(flushed)),
            }
        )
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--layouts", action="store_true")
    parser.add_argument("--kills", type=int, default=0)
    ns = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=os.environ.get("TMPDIR")) as tmp:
        if ns.kills:
            kills(Path(tmp), ns.kills)
        else:
            (layouts if ns.layouts else compressions)(Path(tmp))
