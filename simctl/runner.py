"""The block loop: gather input → advance each population → check → hand blocks to the writer.

Each population advances on its own grid ``t_k = k·dt`` (its own dt and number of steps); all
of them move forward together by about ``block_ms`` of simulated time per round, which is
where a network's "gather synaptic input" stage will go. Time integration goes through
:func:`simctl.kernels.integrate` only.

The runner never opens files: it gives spikes, state samples and input samples to a
:class:`~simctl.recording.SimWriter`, one block at a time, so memory does not grow with the
simulated duration. A NaN or infinite state stops the run with a :class:`SimulationError`
naming the population and the time; SIGTERM is turned into :class:`Interrupted` (a
``KeyboardInterrupt``) so Ctrl-C and ``kill`` both leave a closed file with ``complete`` = false.
"""

from __future__ import annotations

import contextlib
import math
import signal
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import torch

from simctl.config.errors import SimulationError
from simctl.kernels import integrate

__all__ = ["Population", "Interrupted", "run", "handle_sigterm", "resolve_device"]


class Interrupted(KeyboardInterrupt):
    """SIGTERM received (SIGINT raises the plain ``KeyboardInterrupt``)."""


@contextlib.contextmanager
def handle_sigterm() -> Iterator[None]:
    """Within the block, SIGTERM raises :class:`Interrupted` and SIGINT ``KeyboardInterrupt``."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def _raise(signum, frame):
        raise Interrupted(f"signal {signum}")

    old = signal.signal(signal.SIGTERM, _raise)
    # a process started in the background inherits SIGINT ignored; a run always obeys Ctrl-C
    old_int = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, old)
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
    attrs_extra: dict = field(default_factory=dict)
    k: int = 0  #: next step index

    def __post_init__(self) -> None:
        size = self.spec.size
        self.spike_count = torch.zeros(size, dtype=torch.int64, device=self.device)
        self.first_spike = torch.full((size,), math.nan, dtype=torch.float64, device=self.device)
        self.ids_t = torch.as_tensor(self.record_ids, dtype=torch.long, device=self.device)

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
        """The current injected during steps k0 … k1−1, ``(T, size)``."""
        if self.encoder is not None:
            current = self.encoder(self.stimulus, k0, k1)
        else:
            current = self.stimulus.block(k0, k1)
        return current.to(self.dtype).expand(k1 - k0, self.spec.size)


def _nonfinite(state: Any) -> bool:
    for value in state:
        if isinstance(value, tuple):
            if _nonfinite(value):
                return True
        elif isinstance(value, torch.Tensor) and torch.is_floating_point(value):
            if not bool(torch.isfinite(value).all()):
                return True
    return False


def advance(pop: Population, n: int, writer: Any) -> None:
    """Integrates ``n`` steps of one population and writes what it records."""
    k0, k1 = pop.k, pop.k + n
    dt = pop.spec.dt
    current = pop.input_block(k0, k1)
    record = pop.variables if len(pop.record_ids) else []
    drive = current
    if getattr(pop.spec, "input_divisor", None) is not None:
        # the protocol speaks physical units (pA); the model's input is I/g_L (mV)
        from simctl.units import adex_current_to_library

        drive = adex_current_to_library(current, pop.spec.input_divisor)
    out, traces, state = integrate(pop.model, drive, pop.state, pop.p, dt, record)
    pop.state = state
    steps = torch.arange(k0, k1, device=pop.device)
    rows = torch.nonzero((steps + 1) % pop.every == 0).flatten()
    if pop.model.spiking:
        z = out.reshape(n, -1) != 0
        pop.spike_count += z.sum(0)
        step_idx, neuron = torch.nonzero(z, as_tuple=True)
        if step_idx.numel():
            times = (k0 + step_idx + 1).to(torch.float64) * dt
            first = torch.full_like(pop.first_spike, math.inf).scatter_reduce(
                0, neuron, times, "amin"
            )
            pop.first_spike = torch.where(
                torch.isnan(pop.first_spike) & torch.isfinite(first), first, pop.first_spike
            )
            writer.append_spikes(pop.name, times.cpu().numpy(), neuron.cpu().numpy())
    if record and rows.numel():
        time = ((k0 + rows + 1).to(torch.float64) * dt).cpu().numpy()
        values = {
            var: traces[var].reshape(n, -1)[rows][:, pop.ids_t].cpu().numpy() for var in record
        }
        writer.append_state(pop.name, time, values)
    if pop.record_input and len(pop.record_ids) and rows.numel():
        itime = ((k0 + rows).to(torch.float64) * dt).cpu().numpy()
        writer.append_input(pop.name, itime, current[rows][:, pop.ids_t].cpu().numpy())
    pop.k = k1
    if _nonfinite(state):
        where = f"between t = {k0 * dt:g} and {k1 * dt:g} ms"
        voltage = pop.model.voltage
        if voltage in traces:
            bad = ~torch.isfinite(traces[voltage].reshape(n, -1)).all(1)
            first = int(torch.nonzero(bad).flatten()[0])
            where = f"at t = {(k0 + first + 1) * dt:g} ms"
        raise SimulationError(
            f"population {pop.name}: the state became NaN or infinite {where}; "
            f"hint: use a smaller simulation.dt (now {dt:g} ms) or a weaker input"
        )


def block_steps(pops: list[Population], block_ms: float | None) -> dict[str, int]:
    """Steps per round for each population (adaptive: ~2 M neuron-steps for the largest)."""
    if block_ms is None:
        block_ms = min(
            max(64, min(20000, (1 << 21) // max(1, p.spec.size))) * p.spec.dt for p in pops
        )
    return {p.name: max(1, round(block_ms / p.spec.dt)) for p in pops}


def run(
    pops: list[Population], writer: Any, block_ms: float | None = None, progress: bool | None = None
) -> None:
    """Advances every population to its end, writing as it goes.

    Args:
        progress: True/False forces the tqdm bar on/off; None shows it on a terminal when the
            run takes longer than a second.
    """
    from tqdm.auto import tqdm
    from tqdm.contrib.logging import logging_redirect_tqdm

    steps = block_steps(pops, block_ms)
    total = max(p.spec.t_stop for p in pops)
    disable = (not sys.stderr.isatty()) if progress is None else not progress
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
    with logging_redirect_tqdm(), handle_sigterm(), bar:
        while not all(p.done for p in pops):
            for pop in pops:
                if not pop.done:
                    advance(pop, min(steps[pop.name], pop.spec.n_steps - pop.k), writer)
            writer.flush()
            bar.n = round(min(max(p.t for p in pops), total), 6)
            bar.refresh() if not disable else None


def write_summaries(pops: list[Population], writer: Any) -> None:
    """Per-neuron spike counts, rates and first spikes over the time simulated so far."""
    for pop in pops:
        writer.write_summary(
            pop.name, pop.spike_count.cpu().numpy(), pop.t, pop.first_spike.cpu().numpy()
        )


def summary_rows(pops: list[Population]) -> list[dict[str, Any]]:
    rows = []
    for pop in pops:
        count = pop.spike_count.cpu().numpy()
        seconds = pop.t / 1000.0
        rows.append(
            {
                "population": pop.name,
                "model": pop.model.name,
                "size": pop.spec.size,
                "t_ms": pop.t,
                "spikes": int(count.sum()),
                "mean_rate_hz": float(count.mean() / seconds) if seconds > 0 else 0.0,
            }
        )
    return rows
