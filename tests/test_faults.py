"""Fault injection: a writer killed at random moments (SIGKILL, SIGTERM twice, SIGHUP) leaves a
file that opens in plain h5py and in ``simctl inspect``/``plot``, says complete=false and keeps
every block flushed before the fault; a second run into a busy directory changes nothing.

The writer of the SIGKILL cases is ``tests/fault_writer.py`` (SimWriter blocks whose content
is a function of the block index; it prints the number of blocks flushed after each flush), so
what the file must hold is known exactly; these take a few seconds. The signal cases and the
busy directory run ``simctl run`` itself and are marked ``slow`` (each pays its start-up).
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest
from conftest import REPO, cli_env, run_cli
from fault_writer import BLOCK_MS, N_REC, ROWS, block

from simctl.recording import load_run, recover

WRITER = Path(__file__).with_name("fault_writer.py")


def _start_writer(path: Path, compression: str = "scaleoffset") -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, str(WRITER), str(path), compression, "100000"],
        stdout=subprocess.PIPE,
        text=True,
        env=cli_env(PYTHONPATH=str(REPO)),
    )


def _kill_after(proc: subprocess.Popen, delay: float) -> int:
    """SIGKILL after ``delay`` s of writing; the blocks the writer said it had flushed."""
    assert proc.stdout.readline().strip() == "0"  # the file exists, populations added
    time.sleep(delay)
    proc.send_signal(signal.SIGKILL)
    lines = proc.stdout.read().split()
    proc.stdout.close()
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    return int(lines[-1]) if lines else 0


def _expected(n_blocks: int) -> tuple[np.ndarray, ...]:
    blocks = [block(b) for b in range(n_blocks)]
    if not blocks:
        return np.zeros(0), np.zeros(0, "i8"), np.zeros(0), np.zeros((0, N_REC), "f4")
    return tuple(np.concatenate([b[i] for b in blocks]) for i in range(4))


def check_blocks(path: Path, flushed: int) -> int:
    """Asserts that ``path`` opens in plain h5py, says complete=false and holds the first
    ``flushed`` blocks exactly, and that simctl's loader returns exactly the blocks the
    writer committed (at least ``flushed``, nothing torn after them); returns that number."""
    need_spikes = sum(len(block(b)[0]) for b in range(flushed))
    with h5py.File(path, "r") as f:
        assert not f.attrs["complete"]
        t, ids = f["spikes/p/timestamps"][:need_spikes], f["spikes/p/node_ids"][:need_spikes]
        v, cur = f["state/p/v"][: flushed * ROWS], f["input/p/current"][: flushed * ROWS]
        assert f["state/p/time"].shape[0] >= flushed * ROWS
    all_t, all_ids, all_time, all_v = _expected(flushed)
    np.testing.assert_array_equal(t, all_t)
    np.testing.assert_array_equal(ids, all_ids)
    np.testing.assert_array_equal(v, all_v)
    np.testing.assert_array_equal(cur, all_v)
    pop = load_run(path).populations["p"]
    held = len(pop.state_time) // ROWS
    assert held >= flushed and len(pop.state_time) == held * ROWS
    assert pop.t_reached == held * BLOCK_MS
    all_t, all_ids, all_time, all_v = _expected(held)
    np.testing.assert_array_equal(pop.spike_times, all_t)
    np.testing.assert_array_equal(pop.spike_ids, all_ids)
    np.testing.assert_array_equal(pop.state_time, all_time)
    np.testing.assert_array_equal(pop.state["v"], all_v)
    np.testing.assert_array_equal(pop.input_current, all_v)
    return held


def _check_killed(path: Path, flushed: int) -> int:
    """check_blocks as plain h5py finds the file; where it cannot read it (a kill inside a
    flush left the recorded end of the file behind its data), after simctl's repair."""
    try:
        return check_blocks(path, flushed)
    except (OSError, KeyError) as error:
        assert "addr overflow" in str(error) or "checksum" in str(error), error
        assert recover(path), "recover() must repair what plain h5py cannot read"
        return check_blocks(path, flushed)


def test_sigkill_at_random_moments_keeps_every_flushed_block(tmp_path):
    """Six kills at random moments of a writer flushing every few ms (the worst case: flushes
    are most of its time). A kill inside HDF5's flush can leave the superblock's end address
    behind the data (docs/file-format.md: 1 kill in 200); simctl's readers repair that
    (``recover``), which the check then needs."""
    rng = random.Random(int(os.environ.get("FAULT_SEED", "14")))
    for trial in range(6):
        path = tmp_path / f"k{trial}.h5"
        flushed = _kill_after(_start_writer(path), rng.uniform(0.05, 0.4))
        assert flushed > 0
        _check_killed(path, flushed)


def test_killed_file_reads_in_simctl_inspect_and_plot(tmp_path):
    path = tmp_path / "sim.h5"
    flushed = _kill_after(_start_writer(path), 0.3)
    _check_killed(path, flushed)
    out = run_cli("inspect", str(path))
    assert out.returncode == 0, out.stderr
    assert "INCOMPLETE (complete=false): stopped at t = " in out.stdout
    # the time reached (>= the flushed blocks), not the planned end
    reached = float(out.stdout.split("stopped at t = ")[1].split(" ms")[0])
    assert flushed * BLOCK_MS <= reached < 100000 * BLOCK_MS
    out = run_cli("plot", str(path), "-o", str(tmp_path / "fig"))
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "fig" / "raster.png").stat().st_size > 5000


@pytest.mark.parametrize("compression", ["none", "gzip"])
def test_sigkill_with_other_spike_compressions(tmp_path, compression):
    path = tmp_path / "sim.h5"
    flushed = _kill_after(_start_writer(path, compression), 0.2)
    _check_killed(path, flushed)


# -- simctl run itself --------------------------------------------------------------------------

LONG_RUN = (
    "neuron=lif",
    "population.size=2000",
    "input=noise",
    "simulation.duration=1000000",
    "simulation.block_ms=20",
    "record.neurons=[0,1,2]",
    "plot.enabled=false",
)


def _start_run(run_dir: Path, *extra: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "simctl.cli", "run", *LONG_RUN, *extra, f"hydra.run.dir={run_dir}"],
        cwd=run_dir.parent,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=cli_env(),
        start_new_session=True,  # a SIGHUP of ours reaches this run only
    )


def _t_reached(path: Path) -> float:
    """The writer's last flushed time, read while it writes (no file lock: the writer's)."""
    try:
        with h5py.File(path, "r", locking=False) as f:
            return float(f["populations/lif"].attrs.get("t_reached", 0.0))
    except (OSError, KeyError):
        return 0.0


def _wait_flushed(proc: subprocess.Popen, path: Path, t_ms: float, timeout: float = 60) -> float:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        reached = _t_reached(path)
        if reached >= t_ms:
            return reached
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.05)
    raise AssertionError(f"{path} never reached {t_ms} ms")


def _check_run_file(path: Path, flushed_ms: float) -> None:
    """Plain h5py opens it (after simctl's repair only where a kill hit a flush); it says
    complete=false; the committed spikes are time-sorted and the committed state reaches at
    least the time flushed before the fault; simctl's loader and inspect read it."""

    def plain() -> None:
        with h5py.File(path, "r") as f:
            assert not f.attrs["complete"]
            pop = f["populations/lif"].attrs
            n_spikes, n_state = (int(x) for x in pop["flushed"][1:3])
            t = f["spikes/lif/timestamps"][:n_spikes]
            assert len(t) == n_spikes > 0 and f["spikes/lif/node_ids"].shape[0] >= n_spikes
            assert np.all(np.diff(t) >= 0) and t[-1] <= pop["t_reached"]
            assert pop["t_reached"] == pop["flushed"][0] >= flushed_ms
            time_ = f["state/lif/time"][:n_state]
            step = pop["dt"] * pop["record_every"]  # every sample, none torn or missing
            np.testing.assert_allclose(time_, np.arange(1, n_state + 1) * step)
            assert time_[-1] >= flushed_ms

    try:
        plain()
    except (OSError, KeyError) as error:
        assert "addr overflow" in str(error) or "checksum" in str(error), error
        assert recover(path)
        plain()
    run = load_run(path, state=False)
    assert run.populations["lif"].t_reached >= flushed_ms
    out = run_cli("inspect", str(path))
    assert out.returncode == 0 and "INCOMPLETE" in out.stdout, out.stderr
    assert "of 1e+06" in out.stdout  # "<reached> of <planned>"


@pytest.mark.slow  # simctl run start-up, several seconds each
def test_sighup_acts_as_sigterm(tmp_path):
    run_dir = tmp_path / "hup"
    run_dir.mkdir()
    proc = _start_run(run_dir)
    flushed = _wait_flushed(proc, run_dir / "sim.h5", 40)
    proc.send_signal(signal.SIGHUP)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, err
    _check_run_file(run_dir / "sim.h5", flushed)
    assert json.loads((run_dir / "summary.json").read_text())["status"] == "interrupted"
    with h5py.File(run_dir / "sim.h5") as f:  # the clean path wrote the summary
        assert f["summary/lif"].attrs["t_ms"] >= flushed


@pytest.mark.slow  # simctl run start-up, several seconds each
def test_second_sigterm_during_cleanup_and_sigkill(tmp_path):
    """SIGTERM, and another at once (during the clean-up); then SIGKILL of a second run."""
    run_dir = tmp_path / "term"
    run_dir.mkdir()
    proc = _start_run(run_dir)
    flushed = _wait_flushed(proc, run_dir / "sim.h5", 40)
    proc.send_signal(signal.SIGTERM)
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=60)
    assert proc.returncode in (143, -signal.SIGTERM)
    _check_run_file(run_dir / "sim.h5", flushed)

    kill_dir = tmp_path / "kill"
    kill_dir.mkdir()
    proc = _start_run(kill_dir)
    flushed = _wait_flushed(proc, kill_dir / "sim.h5", 40)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=60)
    _check_run_file(kill_dir / "sim.h5", flushed)


@pytest.mark.slow  # simctl run start-up, several seconds each
def test_second_run_into_a_busy_directory_changes_nothing(tmp_path):
    run_dir = tmp_path / "busy"
    run_dir.mkdir()
    first = _start_run(run_dir)
    _wait_flushed(first, run_dir / "sim.h5", 20)
    before = (run_dir / "sim.h5").stat().st_ino
    second = run_cli("run", "neuron=lif", f"hydra.run.dir={run_dir}", cwd=tmp_path)
    assert second.returncode == 2
    lines = second.stderr.strip().splitlines()
    assert len(lines) == 1 and str(run_dir) in lines[0] and "another simctl run" in lines[0]
    assert not (run_dir / "summary.json").exists()  # the second run wrote nothing
    # the first run goes on writing into the same, intact file
    reached = _wait_flushed(first, run_dir / "sim.h5", _t_reached(run_dir / "sim.h5") + 20)
    assert (run_dir / "sim.h5").stat().st_ino == before
    first.send_signal(signal.SIGTERM)
    first.communicate(timeout=60)
    assert first.returncode == 143
    _check_run_file(run_dir / "sim.h5", reached)
    # the lock dies with its holder: the directory is free again
    again = run_cli(
        "run",
        "neuron=lif",
        "simulation.duration=10",
        "plot.enabled=false",
        f"hydra.run.dir={run_dir}",
        cwd=tmp_path,
    )
    assert again.returncode == 0, again.stderr
