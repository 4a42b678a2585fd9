"""The block loop: gather input → advance each population → check → hand blocks to the writer.

Each population advances on its own grid ``t_k = k·dt`` (its own dt and number of steps); all
of them move forward together by about ``block_ms`` of simulated time per round, which is
where a network's "gather synaptic input" stage will go. Time integration goes through
:func:`simctl.kernels.integrate` only.

The runner never opens files: it gives spikes, state samples and input samples to a
:class:`~simctl.recording.SimWriter`, one block at a time, so memory does not grow with the
simulated duration. A NaN or infinite state stops the run with a :class:`SimulationError`
naming the population and the time; SIGTERM and SIGHUP are turned into :class:`Interrupted` (a
``KeyboardInterrupt``) so Ctrl-C, ``kill`` and a closed terminal all leave a closed file with
``complete`` = false.
"""

from __future__ import annotations

import contextlib
import logging
import math
import signal
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from simctl.config.errors import SimulationError
from simctl.kernels import Workspace, integrate, last_backend, spike_events
from simctl.kernels.fused import trim_heap

log = logging.getLogger("simctl")

__all__ = ["Population", "Interrupted", "run", "handle_sigterm", "resolve_device"]


class Interrupted(KeyboardInterrupt):
    """SIGTERM received (SIGINT raises the plain ``KeyboardInterrupt``)."""


def _interrupt(signum: int) -> None:
    if signum == signal.SIGINT:
        raise KeyboardInterrupt
    raise Interrupted(f"signal {signum}")


class _Deferred:
    """Signals that arrived while a block was being handed to the writer."""

    depth = 0
    pending: int | None = None


_DEFERRED = _Deferred()


@contextlib.contextmanager
def _signals_deferred() -> Iterator[None]:
    """A block's spikes, traces and new step count reach the writer together: a signal in
    between would leave spikes after ``t_reached``; it is raised once the block is written."""
    _DEFERRED.depth += 1
    try:
        yield
    except BaseException:
        # the write failed (a full disk...): its error ends the run; a signal that arrived
        # meanwhile is not left pending to interrupt the clean-up that follows
        _DEFERRED.depth -= 1
        if not _DEFERRED.depth:
            _DEFERRED.pending = None
        raise
    _DEFERRED.depth -= 1
    if not _DEFERRED.depth and _DEFERRED.pending is not None:
        signum, _DEFERRED.pending = _DEFERRED.pending, None
        _interrupt(signum)


@contextlib.contextmanager
def handle_sigterm() -> Iterator[None]:
    """Within the block, SIGTERM and SIGHUP (a closed terminal, or a batch system's stop)
    raise :class:`Interrupted` and SIGINT ``KeyboardInterrupt``."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def _raise(signum, frame):
        if _DEFERRED.depth:  # inside a block's write: raised when it ends (_signals_deferred)
            _DEFERRED.pending = signum
            return
        _interrupt(signum)

    old = signal.signal(signal.SIGTERM, _raise)
    # SIGHUP acts as SIGTERM, except under nohup (ignored, as its user asked)
    old_hup = signal.getsignal(signal.SIGHUP)
    if old_hup is not signal.SIG_IGN:
        signal.signal(signal.SIGHUP, _raise)
    # a process started in the background inherits SIGINT ignored; a run always obeys Ctrl-C
    old_int = signal.signal(signal.SIGINT, _raise)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, old)
        if old_hup is not None:  # None: a handler installed outside Python, left as it was
            signal.signal(signal.SIGHUP, old_hup)
        signal.signal(signal.SIGINT, old_int)


def resolve_device(name: str) -> torch.device:
    """``auto`` → CUDA when present, else CPU; ``cuda`` without a GPU is a ConfigError."""
    from simctl.config.errors import ConfigError

    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError(
            "simulation.device", name, "no CUDA device is available here", ("auto", "cpu")
        )
    return torch.device(name)


@dataclass
class Population:
    """A population being simulated: model, parameters, state, input and bookkeeping."""

    spec: Any
    model: Any
    p: Any
    state: Any
    stimulus: Any
    encoder: Any
    variables: list[str]
    record_ids: list[int]
    every: int
    record_input: bool
    device: Any
    dtype: torch.dtype
    k: int = 0  #: next step index

    def __post_init__(self) -> None:
        size = self.spec.size
        self.spike_count = torch.zeros(size, dtype=torch.int64, device=self.device)
        self.first_spike = torch.full((size,), math.nan, dtype=torch.float64, device=self.device)
        self.ids_t = torch.as_tensor(self.record_ids, dtype=torch.long, device=self.device)
        self.unseen = size  #: neurons without a spike yet
        self.backend = ""  #: the integration backend of the first block (sim.h5 attr)
        self.backend_reason = ""  #: why, where it is not the fused kernel
        self.work: dict[str, np.ndarray] = {}  #: reused per-block spike arrays (_spikes)
        #: the kernel's bound launch and arrays, reused block after block: the traces it
        #: returns live until the next block, the state until the one after (advance writes
        #: the traces out at once and keeps only the last state)
        self.kernel_work = Workspace()

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def done(self) -> bool:
        return self.k >= self.spec.n_steps

    @property
    def t(self) -> float:
        """ms simulated so far."""
        return self.k * self.spec.dt

    def input_block(self, k0: int, k1: int) -> torch.Tensor:
        """The current injected during steps k0 … k1−1 as given (in the protocol's units):
        ``(T, size)``, or ``(T, 1)`` when every neuron gets the same current."""
        if self.encoder is not None:
            current = self.encoder(self.stimulus, k0, k1)
        else:
            current = self.stimulus.block(k0, k1)
        current = current.to(self.dtype)
        return current[:, None] if current.dim() == 1 else current


def _nonfinite(state: Any) -> bool:
    for value in state:
        if isinstance(value, tuple):
            if _nonfinite(value):
                return True
        elif isinstance(value, torch.Tensor) and torch.is_floating_point(value):
            if value.device.type == "cpu" and value.dtype in (torch.float32, torch.float64):
                # numpy: one pass on this thread; torch's parallel reduction waits for its
                # worker threads, which costs milliseconds per call on a busy machine
                finite = bool(np.isfinite(value.detach().numpy()).all())
            else:
                finite = bool(torch.isfinite(value).all())
            if not finite:
                return True
    return False


def advance(pop: Population, n: int, writer: Any) -> None:
    """Integrates ``n`` steps of one population and writes what it records.

    Beyond the kernel, the cost per block is proportional to what is written, not to
    ``n × size``: the kernel keeps only the recorded neurons' traces (``record_index``), reads
    a per-step input without materialising the ``(n, size)`` block, and hands back the spikes
    as flat ``step·size + neuron`` indices in time order (:func:`simctl.kernels.spike_events`:
    the C kernel never stores the output block); counts and first spikes come from that list.
    Nothing proportional to the spikes is allocated per block (the kernel's event workspace and
    the population's ``work`` arrays are reused), which keeps the heap from fragmenting.
    """
    k0, k1 = pop.k, pop.k + n
    dt = pop.spec.dt
    compact = pop.input_block(k0, k1)  # recorded as given
    record = pop.variables if len(pop.record_ids) else []
    drive = compact
    if pop.spec.input_divisor is not None:
        # the protocol speaks the physical form's unit (e.g. pA); the model's input is
        # current / input_divisor (for AdEx g_L in nS: pA/nS = mV), set where the config is
        # resolved from the model's physical parameters
        drive = compact / pop.spec.input_divisor
    # a stride-0 view: the kernel reads one value per step, nothing (n, size) is allocated
    drive = drive.expand(n, pop.spec.size)
    index = pop.ids_t if record else None
    if pop.model.spiking:
        events, neurons, traces, state = spike_events(
            pop.model, drive, pop.state, pop.p, dt, record, index, pop.kernel_work
        )
    else:
        _, traces, state = integrate(
            pop.model, drive, pop.state, pop.p, dt, record, index, pop.kernel_work
        )
        events, neurons = None, 0
    if not pop.backend:
        pop.backend, pop.backend_reason = last_backend()
        if pop.backend != "c":
            log.info(
                "%s: integrated by the %s backend (%s)",
                pop.name,
                pop.backend,
                pop.backend_reason or "selected",
            )
    # a blow-up keeps what was recorded up to (and including) the step where the state became
    # NaN or infinite; nothing after it reaches the file
    failure, n_keep = _check_finite(pop, state, drive, k0, n)
    with _signals_deferred():
        _write_block(pop, writer, events, neurons, traces, state, compact, record, k0, n, n_keep)
    if failure is not None:
        raise failure


def _write_block(pop, writer, events, neurons, traces, state, compact, record, k0, n, n_keep):
    """The block's spikes, traces and input to the writer, then the population's new state
    and step count."""
    dt = pop.spec.dt
    if pop.model.spiking:
        if n_keep < n:  # sorted: the spikes of steps < n_keep come first
            events = events[: int(np.searchsorted(events, n_keep * neurons))]
        _spikes(pop, events, neurons, k0, writer)
    record_input = pop.record_input and len(pop.record_ids) > 0
    if record or record_input:
        steps = torch.arange(k0, k0 + n_keep, device=pop.device)
        rows = torch.nonzero((steps + 1) % pop.every == 0).flatten()
        if record and rows.numel():
            time = ((k0 + rows + 1).to(torch.float64) * dt).cpu().numpy()
            values = {var: traces[var].reshape(n, -1)[rows].cpu().numpy() for var in record}
            writer.append_state(pop.name, time, values)
        if record_input and rows.numel():
            itime = ((k0 + rows).to(torch.float64) * dt).cpu().numpy()
            # from the compact block, columns first: indexing an expanded (n, size) view would
            # copy it whole
            columns = pop.ids_t if compact.shape[-1] != 1 else torch.zeros_like(pop.ids_t)
            sampled = compact[:, columns][rows]
            writer.append_input(pop.name, itime, sampled.cpu().numpy())
    pop.state = state
    pop.k = k0 + n_keep


def _check_finite(
    pop: Population, state: Any, drive: torch.Tensor, k0: int, n: int
) -> tuple[SimulationError | None, int]:
    """``(error or None, steps of the block to keep)`` for the state after a block that started
    from ``pop.state``."""
    if not _nonfinite(state):
        return None, n
    dt = pop.spec.dt
    where = f"between t = {k0 * dt:g} and {(k0 + n) * dt:g} ms"
    n_keep = n
    first = _first_nonfinite_step(pop, drive)
    if first is not None:
        where = f"at t = {(k0 + first + 1) * dt:g} ms"
        n_keep = first + 1
    error = SimulationError(
        f"population {pop.name}: the state became NaN or infinite {where}; "
        f"hint: use a smaller simulation.dt (now {dt:g} ms) or a weaker input"
    )
    return error, n_keep


def _work(pop: Population, name: str, n: int, dtype: Any) -> np.ndarray:
    """The first ``n`` elements of the population's reused array ``name`` (grown as needed,
    with headroom, so a block's spike count varying by a few percent does not reallocate)."""
    array = pop.work.get(name)
    if array is None or array.size < n:
        array = pop.work[name] = np.empty(n + n // 4, dtype=dtype)
    return array[:n]


def _spikes(pop: Population, events: np.ndarray, neurons: int, k0: int, writer: Any) -> None:
    """Counts, first spikes and the spike list of one block, from its flat ``step·neurons +
    neuron`` indices in time order.

    O(spikes), in numpy on the CPU, into the population's reused arrays: nothing here touches
    the ``(n, size)`` block, no torch op that would wait for its worker threads runs per block,
    and nothing of the spikes' size is allocated (see :func:`advance`). The arrays handed to
    ``writer.append_spikes`` are overwritten by the next block: a writer copies what it keeps.
    """
    k = events.size
    if not k:
        return
    ids = np.remainder(events, neurons, out=_work(pop, "ids", k, np.int64))
    steps = np.floor_divide(events, neurons, out=_work(pop, "steps", k, np.int64))
    steps += k0 + 1
    times = np.multiply(steps, pop.spec.dt, out=_work(pop, "times", k, np.float64))
    on_cpu = pop.spike_count.device.type == "cpu"
    if on_cpu:
        counts = pop.spike_count.numpy()  # shares memory: updated in place
        counts += np.bincount(ids, minlength=counts.size)
    else:
        pop.spike_count += torch.bincount(
            torch.as_tensor(ids, device=pop.spike_count.device), minlength=pop.spec.size
        )
    if pop.unseen:  # only until every neuron has spiked once
        first = pop.first_spike.cpu().numpy()  # on the CPU: shares memory
        unseen = np.take(np.isnan(first), ids, out=_work(pop, "unseen", k, np.bool_))
        if unseen.any():
            # times ascend, so a neuron's first occurrence is its earliest spike
            new_ids, where = np.unique(ids[unseen], return_index=True)
            values = times[unseen][where]
            pop.unseen -= new_ids.size
            if on_cpu:
                first[new_ids] = values
            else:
                device = pop.first_spike.device
                pop.first_spike[torch.as_tensor(new_ids, device=device)] = torch.as_tensor(
                    values, device=device
                )
    writer.append_spikes(pop.name, times, ids)


def _first_nonfinite_step(pop: Population, drive: torch.Tensor) -> int | None:
    """The first step of the block from ``pop.state`` whose membrane voltage is NaN or infinite
    in any neuron (the block is integrated again with the full voltage trace: only when a run
    fails)."""
    voltage = pop.model.voltage
    try:
        _, traces, _ = integrate(pop.model, drive, pop.state, pop.p, pop.spec.dt, [voltage])
    except Exception:  # noqa: BLE001 - the message without the time is still useful
        return None
    n = drive.shape[0]
    bad = ~torch.isfinite(traces[voltage].reshape(n, -1)).all(1)
    hits = torch.nonzero(bad).flatten()
    return int(hits[0]) if hits.numel() else None


def _show_progress() -> bool:
    """The default for the bar: stderr is a terminal and this is not a job of a sweep (``-m``
    runs its jobs one after another, or in joblib workers, whose bars would garble the
    launcher's output)."""
    try:
        if not sys.stderr.isatty():
            return False
    except (AttributeError, ValueError):  # replaced or closed stderr
        return False
    try:
        from hydra.core.hydra_config import HydraConfig
        from hydra.types import RunMode

        if HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN:
            return False
    except Exception:  # noqa: BLE001 - no Hydra, or no config: decide by the terminal alone
        pass
    return True


def block_steps(pops: list[Population], block_ms: float | None) -> dict[str, int]:
    """Steps per round for each population (adaptive: ~2 M neuron-steps for the largest,
    64 to 20 000 steps)."""
    if block_ms is None:
        block_ms = min(
            max(64, min(20000, (1 << 21) // max(1, p.spec.size))) * p.spec.dt for p in pops
        )
    return {p.name: max(1, round(block_ms / p.spec.dt)) for p in pops}


#: seconds between the commits of a run's blocks to sim.h5 (and always after the last)
#: At 10^5 neurons a round of blocks is ~64 steps; committing each one (two HDF5 flushes that
#: rewrite the open chunks and the metadata) cost ~6 ms per round, ~15 % of the simulation.
#: A process killed outright keeps what was committed, at most this long before the kill;
#: SIGINT and SIGTERM still commit everything written (``SimWriter.close``).
FLUSH_INTERVAL = 0.5


def run(
    pops: list[Population], writer: Any, block_ms: float | None = None, progress: bool | None = None
) -> None:
    """Advances every population to its end, writing as it goes.

    Args:
        progress: True/False forces the tqdm bar on/off; None shows it when stderr is a
            terminal, the run takes longer than a second and it is not a sweep's job.
    """
    from tqdm.auto import tqdm
    from tqdm.contrib.logging import logging_redirect_tqdm

    steps = block_steps(pops, block_ms)
    total = max(p.spec.t_stop for p in pops)
    disable = not _show_progress() if progress is None else not progress
    bar = tqdm(
        total=round(total, 6),
        unit="ms",
        desc="simulating",
        disable=disable,
        delay=1.0 if progress is None else 0.0,
        file=sys.stderr,
        leave=False,
        bar_format="{desc}: {percentage:3.0f}%|{bar}| {n:.0f}/{total:.0f} ms "
        "[{elapsed}<{remaining}]",
    )
    flushed = time.monotonic()
    with logging_redirect_tqdm(), handle_sigterm(), bar:
        while not all(p.done for p in pops):
            for pop in pops:
                if not pop.done:
                    advance(pop, min(steps[pop.name], pop.spec.n_steps - pop.k), writer)
            now = time.monotonic()
            if now - flushed >= FLUSH_INTERVAL or all(p.done for p in pops):
                writer.flush()
                flushed = now
            trim_heap()  # what HDF5's compression left free goes back to the system
            # update(), not refresh(): it honours `delay`, so a run shorter than a second
            # never draws the bar, and `mininterval` (redraws at most 10 per second)
            bar.update(round(min(max(p.t for p in pops), total), 6) - bar.n)


def write_summaries(pops: list[Population], writer: Any) -> None:
    """Per-neuron spike counts, rates and first spikes over the time simulated so far."""
    for pop in pops:
        count = pop.spike_count.cpu().numpy()
        writer.write_summary(pop.name, count, pop.t, pop.first_spike.cpu().numpy())
        writer.set_population_attrs(
            pop.name,
            {
                "backend": pop.backend,
                "backend_reason": pop.backend_reason,
                "warning": runaway_warning(pop.k, count, pop.spec.dt),
            },
        )


def runaway_warning(steps: int, count: np.ndarray, dt: float) -> str:
    """A warning when the population fires in more than half of its steps (``""`` if not):
    such a rate (above ``1/(2·dt)``) is set by the step size, not by the model."""
    if steps <= 0 or count.size == 0:
        return ""
    busiest = float(count.max()) / steps
    if busiest <= 0.5:
        return ""
    return (
        f"a neuron fired in {100 * busiest:.0f} % of its steps ({busiest / dt * 1000:.0f} Hz at "
        f"dt = {dt:g} ms): the input is far too strong or simulation.dt too large"
    )


def summary_rows(pops: list[Population]) -> list[dict[str, Any]]:
    rows = []
    for pop in pops:
        count = pop.spike_count.cpu().numpy()
        seconds = pop.t / 1000.0
        row = {
            "population": pop.name,
            "model": pop.model.name,
            "size": pop.spec.size,
            "t_ms": pop.t,
            "spikes": int(count.sum()),
            "mean_rate_hz": float(count.mean() / seconds) if seconds > 0 else 0.0,
            "backend": pop.backend,
        }
        warning = runaway_warning(pop.k, count, pop.spec.dt)
        if warning:
            row["warning"] = warning
        rows.append(row)
    return rows
