"""A writer killed by tests/test_faults.py: SimWriter blocks with known content, one line per
flush on stdout (``<blocks flushed>``), so the killer knows what the file must keep."""

from __future__ import annotations

import os
import sys

import numpy as np

from simctl import recording
from simctl.recording import SimWriter

# the layouts docs/file-format.md compares (the default unless set)
if os.environ.get("FAULT_LIBVER"):
    recording.LIBVER = tuple(os.environ["FAULT_LIBVER"].split(","))
if os.environ.get("FAULT_FILE_SPACE"):
    recording.FILE_SPACE = os.environ["FAULT_FILE_SPACE"]
if os.environ.get("FAULT_HOLD_METADATA"):
    recording.HOLD_METADATA = os.environ["FAULT_HOLD_METADATA"] == "1"

SIZE, N_REC, ROWS, BLOCK_MS = 1000, 8, 200, 10.0


def block(b: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Block ``b``'s spikes ``(t, ids)`` and state ``(time, v)``: a pure function of ``b``."""
    n = 4000 + (b * 7919) % 3000
    t = b * BLOCK_MS + np.sort((np.arange(n) * 2654435761) % 1000) * (BLOCK_MS / 1000)
    ids = (np.arange(n) * 31 + b) % SIZE
    time = b * BLOCK_MS + np.arange(1, ROWS + 1) * (BLOCK_MS / ROWS)
    v = (b + np.arange(ROWS * N_REC).reshape(ROWS, N_REC) / 7.0).astype("f4")
    return t, ids, time, v


def main(path: str, compression: str, n_blocks: int) -> None:
    done = [0]
    w = SimWriter(
        path,
        {"seed": 0, "device": "cpu", "dtype": "float32", "t_stop": n_blocks * BLOCK_MS},
        spike_compression=compression,
        clock=lambda: {"p": done[0] * BLOCK_MS},
    )
    attrs = {"model": "m", "size": SIZE, "preset": "", "dt": BLOCK_MS / ROWS}
    attrs |= {"t_stop": n_blocks * BLOCK_MS, "parameters_json": "{}"}
    w.add_population("p", attrs, {"v": "mV"}, np.arange(N_REC), True)
    if os.environ.get("FAULT_SWMR"):
        w.file.swmr_mode = True
    w.flush()
    print(0, flush=True)
    for b in range(n_blocks):
        t, ids, time, v = block(b)
        w.append_spikes("p", t, ids)
        w.append_state("p", time, {"v": v})
        w.append_input("p", time - BLOCK_MS / ROWS, v)
        done[0] = b + 1
        w.flush()
        print(b + 1, flush=True)
    w.finish()
    w.close()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]))
