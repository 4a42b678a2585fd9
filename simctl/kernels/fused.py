"""The compiled C backend: trace the step once, generate and build a whole-loop kernel, run it.

A *plan* (traced graph, loaded kernel, constants) is memoised per step function and parameter
structure; the C library is cached on disk per model structure, so a new parameter value costs
one trace (about 25 ms; the first trace of a process also imports torch's FX tracing stack,
about 1 s) and no compile. What a trace produced is cached on disk as well
(:mod:`simctl.kernels.plancache`), so a plan seen by an earlier process costs neither. Large
problems are split over neuron ranges run in parallel threads (ctypes releases the GIL while C
runs).

Per call, beyond the kernel: one pass over the state and parameters builds the plan key, shapes
are broadcast without ``torch.broadcast_shapes``, small state copies are one torch call, record
tables are memoised, and large outputs come from recycled memory (:class:`_Recycler`), so a
loop over blocks does not fault in fresh pages every call. The loop order is chosen by
working-set size (:func:`_wide`): lane tiles with time inside while the streamed arrays fit a
core's private cache, step-ordered wide tiles beyond it (``LOOP_ORDER`` forces one).

Repeated calls skip even that: a :class:`BoundLaunch` fixes what a call works out (the layer
cache of :func:`simctl.kernels.fused_layer_call` keeps one per layer and input shape), and a
:class:`Workspace` keeps one and its arrays for a caller that advances a population block after
block (:func:`run_fused_workspace`, the runner's).
"""

from __future__ import annotations

import ctypes
import logging
import math
import os
import sys
import threading
import time
from collections import OrderedDict
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
import torch

from . import codegen, plancache
from .cbuild import CompileError, load_kernel
from .codegen import LANES, generate
from .merge import merge_by_step
from .trace import Unsupported, flatten, trace_step, unflatten

__all__ = [
    "Plan",
    "get_plan",
    "run_fused",
    "FusedUnavailable",
    "PARALLEL_MIN_WORK",
    "trim_heap",
    "BoundLaunch",
    "Workspace",
    "run_fused_workspace",
]

_log = logging.getLogger("simctl.kernels")

#: neuron-steps from which a call is split over threads
PARALLEL_MIN_WORK = 1 << 20


class FusedUnavailable(Exception):
    """The fused backend cannot run this problem (reason in the message)."""


@dataclass
class Plan:
    function: Any
    consts: Any  # ctypes double array
    output_dtype: torch.dtype
    record_leaves: list[int]
    source: str
    event_hint: int = 0  #: the most events one thread emitted in a call so far


_plans: OrderedDict[Any, Plan | str] = OrderedDict()
_plans_lock = threading.Lock()
_MAX_PLANS = 512
_pool: ThreadPoolExecutor | None = None


def _leaf_key(leaf: Any) -> Any:
    if isinstance(leaf, torch.Tensor):
        if leaf.numel() == 1:
            return ("scalar", leaf.dtype, leaf.dim(), leaf.device.type, leaf.item())
        return ("neuron", leaf.dtype, leaf.device.type)
    if isinstance(leaf, (bool, int, float, str)) or leaf is None:
        return (type(leaf).__name__, leaf)
    try:
        hash(leaf)
    except TypeError as error:
        raise FusedUnavailable(f"unhashable parameter {leaf!r}") from error
    return ("other", leaf)


#: p_key by the identity and version counter of each parameter leaf (see :func:`_p_key`)
_p_keys: OrderedDict[tuple, tuple[Any, list[Any]]] = OrderedDict()


def _ident(leaf: Any) -> Any:
    """What :func:`_p_key`'s memo (and a :class:`Workspace`) compares for one leaf: its
    identity and, for a tensor, its dtype and device, a scalar's value (read back: writes
    through ``.data`` bump no version counter, and a scalar is folded into the kernel as a
    constant) and a per-neuron tensor's shape and strides (its values the kernel reads)."""
    if isinstance(leaf, torch.Tensor):
        if leaf.numel() == 1:
            return (id(leaf), leaf.dtype, leaf.dim(), leaf.device, leaf.item())
        return (id(leaf), leaf.dtype, leaf.device, leaf.shape, leaf.stride())
    return id(leaf)


def _p_key(p_flat: list[tuple[str, Any]]) -> Any:
    """``((path, _leaf_key(leaf)), ...)``, memoised: a layer's parameters are the same buffers
    call after call, and ``_leaf_key`` builds a tuple per leaf. A leaf is the same when it is
    the same object of the same dtype and device and, for a scalar, holds the same value
    (:func:`_ident`; a version counter would miss ``p.data += 1``); per-neuron tensors are
    read by the kernel as they are. The memo holds a reference to each leaf, so no identity is
    reused while its entry lives."""
    ident = tuple((path, _ident(leaf)) for path, leaf in p_flat)
    with _plans_lock:
        found = _p_keys.get(ident)
    if found is not None:
        return found[0]
    key = tuple((path, _leaf_key(leaf)) for path, leaf in p_flat)
    with _plans_lock:
        _p_keys[ident] = (key, [leaf for _, leaf in p_flat])
        while len(_p_keys) > 64:
            _p_keys.popitem(last=False)
    return key


def _key(
    step: Any,
    input_block: torch.Tensor,
    state: Any,
    p: Any,
    dt: Any,
    record: Sequence[str],
    variant: tuple[str, bool, bool, int],
    state_flat: list[tuple[str, Any]] | None = None,
    p_flat: list[tuple[str, Any]] | None = None,
) -> Any:
    state_flat = flatten(state) if state_flat is None else state_flat
    p_flat = flatten(p) if p_flat is None else p_flat
    state_key = tuple(
        (path, leaf.dtype, leaf.dim() == 0) if isinstance(leaf, torch.Tensor) else (path, leaf)
        for path, leaf in state_flat
    )
    p_key = _p_key(p_flat)
    dt_key = _leaf_key(dt)
    return (step, input_block.dtype, state_key, type(p), p_key, dt_key, tuple(record), variant)


def get_plan(
    step: Any,
    input_block: torch.Tensor,
    state: Any,
    p: Any,
    dt: Any,
    record: Sequence[str],
    input_layout: str = "full",
    indexed: bool = False,
    events: bool = False,
    state_flat: list[tuple[str, Any]] | None = None,
    p_flat: list[tuple[str, Any]] | None = None,
    wide: bool = False,
) -> Plan:
    """The memoised plan for this step, dtypes and parameter structure (raises
    :class:`FusedUnavailable` when the step cannot be fused or no compiler works).

    ``input_layout``, ``indexed``, ``events`` and ``wide`` pick the kernel variant (see
    :func:`simctl.kernels.codegen.generate`); the traced graph does not depend on them.
    """
    variant = (input_layout, indexed, events, codegen.WIDE if wide else 0)
    key = _key(step, input_block, state, p, dt, record, variant, state_flat, p_flat)
    with _plans_lock:
        plan = _plans.get(key)
        if plan is not None:
            _plans.move_to_end(key)
    if isinstance(plan, str):
        raise FusedUnavailable(plan)
    if plan is not None:
        return plan
    name = plancache.disk_key(key)
    entry = plancache.load(name) if name else None
    try:
        if entry is not None and "refused" in entry:
            raise Unsupported(entry["refused"])
        if entry is None:
            entry = _trace(step, input_block, state, p, dt, record, variant, p_flat)
            if name:
                plancache.store(name, entry)
        function = load_kernel(entry["source"])
    except (Unsupported, CompileError) as error:
        # once per plan (the refusal is memoised): which step, and why it runs on the loop
        _log.info(
            "not fused, using the reference loop for %s: %s",
            getattr(step, "__qualname__", repr(step)),
            error,
        )
        if name and isinstance(error, Unsupported) and entry is None:
            plancache.store(name, {"refused": str(error)})
        with _plans_lock:
            _plans[key] = f"{type(error).__name__}: {error}"
        raise FusedUnavailable(str(error)) from error
    source, output_dtype, record_leaves = (
        entry["source"],
        entry["output_dtype"],
        entry["record_leaves"],
    )
    consts = (ctypes.c_double * max(1, len(entry["consts"])))(*entry["consts"])
    plan = Plan(function, consts, output_dtype, record_leaves, source)
    with _plans_lock:
        _plans[key] = plan
        while len(_plans) > _MAX_PLANS:
            _plans.popitem(last=False)
    return plan


def _trace(
    step: Any,
    input_block: torch.Tensor,
    state: Any,
    p: Any,
    dt: Any,
    record: Sequence[str],
    variant: tuple[str, bool, bool, int],
    p_flat: list[tuple[str, Any]] | None,
) -> dict[str, Any]:
    """Traces ``step`` and generates its kernel's C source: the plan as
    :func:`simctl.kernels.plancache.load` returns it (raises :class:`Unsupported`)."""
    graph, output_dtype = trace_step(
        step,
        input_block[0],
        state,
        p,
        float(dt) if isinstance(dt, torch.Tensor) else dt,
        _per_neuron(p, p_flat),
    )
    paths = [path for path, _ in flatten(state)]
    missing = [name for name in record if name not in paths]
    if missing:
        raise Unsupported(f"cannot record {missing[0]!r}: not a state leaf")
    record_leaves = [paths.index(name) for name in record]
    layout, indexed, events, wide = variant
    source = generate(graph, output_dtype, record_leaves, layout, indexed, events, bool(wide))
    return {
        "source": source,
        "consts": [float(c) for c in graph.consts],
        "output_dtype": output_dtype,
        "record_leaves": record_leaves,
    }


def _per_neuron(p: Any, p_flat: list[tuple[str, Any]] | None = None) -> list[str]:
    """Paths of the per-neuron (non-scalar) parameter tensors: graph inputs, not constants."""
    return [
        path
        for path, leaf in (flatten(p) if p_flat is None else p_flat)
        if isinstance(leaf, torch.Tensor) and leaf.numel() != 1
    ]


def broadcast_shapes(*shapes: Sequence[int]) -> tuple[int, ...]:
    """``torch.broadcast_shapes`` for the few short shapes of a call, without its overhead
    (about 10 µs a call); raises :class:`FusedUnavailable` when they do not broadcast."""
    result: tuple[int, ...] = ()
    for shape in shapes:
        shape = tuple(shape)
        if shape == result or not shape:
            continue
        if not result:
            result = shape
            continue
        size = max(len(result), len(shape))
        a = (1,) * (size - len(result)) + result
        b = (1,) * (size - len(shape)) + shape
        merged = []
        for m, n in zip(a, b, strict=True):
            if m == n or n == 1:
                merged.append(m)
            elif m == 1:
                merged.append(n)
            else:
                raise FusedUnavailable(f"shapes {result} and {shape} do not broadcast")
        result = tuple(merged)
    return result


_HUGE = 1 << 21
_madvise: Any = None


def _advise_huge(address: int, nbytes: int) -> None:
    """Asks Linux for transparent huge pages on ``[address, address + nbytes)`` (a hint)."""
    global _madvise
    if nbytes < 4 * _HUGE or not sys.platform.startswith("linux"):
        return
    if _madvise is None:
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            _madvise = libc.madvise
            _madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
            _madvise.restype = ctypes.c_int
        except (OSError, AttributeError):
            _madvise = False
    if _madvise:
        start = (address + _HUGE - 1) & ~(_HUGE - 1)
        end = (address + nbytes) & ~(_HUGE - 1)
        if end > start:
            _madvise(start, end - start, 14)  # MADV_HUGEPAGE


#: arrays from this size on are recycled from call to call (:class:`_Recycler`)
RECYCLE_MIN_BYTES = 1 << 18
#: the recycler keeps at most this many bytes of arrays (idle or in use) ...
RECYCLE_MAX_BYTES = 1 << 30
#: ... and never an array larger than this (a one-off giant block is not worth keeping)
RECYCLE_MAX_ARRAY = 1 << 29


_sizes: dict[torch.dtype, int] = {}


def _element_size(dtype: torch.dtype) -> int:
    size = _sizes.get(dtype)
    if size is None:
        size = _sizes[dtype] = torch.empty((), dtype=dtype).element_size()
    return size


class _Recycler:
    """Output memory reused across calls once nothing refers to it any more.

    A fresh multi-MB output is faulted in page by page on first touch: measured on a 4 MB
    float32 output (10^4 neurons × 100 steps), 2.1 ms per call against 0.6 ms into warm memory.
    Every large array a call returns is a view of a numpy buffer this class keeps; a torch
    tensor made by ``torch.from_numpy`` holds a reference to that buffer for as long as any
    tensor or view of its storage lives, so a buffer whose only references are the recycler's
    own is provably unused and is handed out again. A caller that keeps every output keeps
    getting fresh memory; the usual loop (``out, _, state = integrate(...)`` over blocks)
    alternates between two buffers and faults nothing after its first two calls.
    """

    def __init__(self) -> None:
        self.arrays: list[np.ndarray] = []
        self.lock = threading.Lock()
        self.idle_refs = 0
        probe = [np.empty(1, dtype=np.uint8)]
        self.idle_refs = max(self._refs(array) for array in probe)

    @staticmethod
    def _refs(array: np.ndarray) -> int:
        return sys.getrefcount(array)

    def take(self, shape: tuple[int, ...], dtype: torch.dtype) -> torch.Tensor:
        """An uninitialised contiguous CPU tensor of ``shape`` and ``dtype``."""
        nbytes = math.prod(shape) * _element_size(dtype)
        if nbytes < RECYCLE_MIN_BYTES or nbytes > RECYCLE_MAX_ARRAY:
            tensor = torch.empty(shape, dtype=dtype)
            _advise_huge(tensor.data_ptr(), nbytes)
            return tensor
        with self.lock:
            found = None
            for array in self.arrays:
                if array.nbytes == nbytes and self._refs(array) <= self.idle_refs:
                    found = array
                    break
            if found is None:
                raw = np.empty(nbytes + 64, dtype=np.uint8)
                skip = -raw.ctypes.data % 64  # cache-line aligned, as torch's own allocations
                found = raw[skip : skip + nbytes]
                _advise_huge(found.ctypes.data, nbytes)
                self.arrays.append(found)
                self._shrink()
            return torch.from_numpy(found).view(dtype).view(shape)

    def _shrink(self) -> None:
        """Drops idle arrays, oldest first, while the kept bytes exceed the bound."""
        total = sum(array.nbytes for array in self.arrays)
        index = 0
        while total > RECYCLE_MAX_BYTES and index < len(self.arrays):
            array = self.arrays[index]
            if self._refs(array) <= self.idle_refs:
                total -= array.nbytes
                del self.arrays[index]
            else:
                index += 1
        # arrays still in use beyond the bound are forgotten: freed when their user drops them
        while total > RECYCLE_MAX_BYTES and self.arrays:
            total -= self.arrays.pop(0).nbytes


_recycler = _Recycler()


def _empty(shape: tuple[int, ...], dtype: torch.dtype) -> torch.Tensor:
    """An uninitialised CPU tensor for a kernel to fill: recycled memory when it is large
    (:class:`_Recycler`), with transparent huge pages asked for on large blocks.

    A fresh 400 MB output block costs 100 000 page faults on first touch, more than the kernel
    itself (measured 0.95 against 0.15 ns per element with ``MADV_HUGEPAGE``). The advice is
    only a hint: where it is unavailable nothing changes.
    """
    return _recycler.take(tuple(shape), dtype)


_malloc_tuned = False
#: blocks from this size on get their own mapping (glibc's M_MMAP_THRESHOLD)
MMAP_THRESHOLD = 16 << 20


def _tune_malloc() -> None:
    """Fixes glibc's mmap threshold at 16 MB, once per process (``SIMCTL_MALLOC_TUNING=0``
    leaves it alone).

    glibc raises its threshold to the size of the last freed mapping (up to 32 MB), after which
    the 8–30 MB blocks of a streamed run come from the heap, whose freed interior is never
    returned to the system: a 10^5-neuron × 10^5-step run reached 19 GB of RSS for under 200 MB
    of live data. With the threshold fixed, each block is its own mapping, returned when freed
    (RSS flat at 0.4 GB in the same loop). Smaller allocations, such as the per-step tensors of
    an eager loop over 10^6 neurons, are unaffected.
    """
    global _malloc_tuned
    if _malloc_tuned:
        return
    _malloc_tuned = True
    if os.environ.get("SIMCTL_MALLOC_TUNING", "1") == "0" or not sys.platform.startswith("linux"):
        return
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):  # not glibc
        return
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt(-3, MMAP_THRESHOLD)  # M_MMAP_THRESHOLD


_malloc_trim: Any = None
_last_trim = 0.0
#: seconds between two :func:`trim_heap` calls that really trim
TRIM_INTERVAL = 0.25


def trim_heap() -> None:
    """Gives the free pages inside glibc's heap back to the system (``malloc_trim(0)``), at
    most every ``TRIM_INTERVAL`` seconds; ``SIMCTL_MALLOC_TUNING=0`` or no glibc: nothing.

    Called by the runner after each round of blocks. HDF5's gzip pipeline allocates and frees
    chunk-sized buffers and zlib state for every chunk it writes, between the run's longer-lived
    arrays, and the heap keeps the holes: measured with every spike array reused, RSS still
    crept up ~0.07 MB per block (10^5 neurons × 10^5 steps: 400 → 550 MB). Trimmed, it stays
    flat; a call costs about 0.5 ms, and the interval keeps even millisecond blocks from paying
    it more than a fraction of a percent of their time.
    """
    global _malloc_trim, _last_trim
    if _malloc_trim is None:
        _malloc_trim = False
        if os.environ.get("SIMCTL_MALLOC_TUNING", "1") != "0" and sys.platform.startswith("linux"):
            try:
                _malloc_trim = ctypes.CDLL(None).malloc_trim
                _malloc_trim.argtypes = [ctypes.c_size_t]
                _malloc_trim.restype = ctypes.c_int
            except (OSError, AttributeError):  # not glibc
                _malloc_trim = False
    if not _malloc_trim:
        return
    now = time.monotonic()
    if now - _last_trim < TRIM_INTERVAL:
        return
    _malloc_trim(0)
    _last_trim = time.monotonic()


#: the loop order of the kernels: ``"auto"`` (by working-set size, :func:`_wide`), ``"tile"``
#: (always ``LANES``-neuron tiles, time inside) or ``"wide"`` (always step-ordered wide tiles)
LOOP_ORDER = "auto"
_private_bytes: int | None = None


def _private_cache() -> int:
    """The size in bytes of the largest data cache that belongs to one core alone (Linux
    sysfs: the cpu0 cache whose ``shared_cpu_list`` is cpu0 only; the L2 on most machines),
    1 MB where it cannot be read."""
    global _private_bytes
    if _private_bytes is None:
        _private_bytes = 1 << 20
        base = "/sys/devices/system/cpu/cpu0/cache"
        try:
            sizes = []
            for entry in sorted(os.listdir(base)):
                if not entry.startswith("index"):
                    continue

                def read(name: str, entry: str = entry) -> str:
                    with open(os.path.join(base, entry, name), encoding="ascii") as handle:
                        return handle.read().strip()

                if read("type") == "Instruction" or read("shared_cpu_list") != "0":
                    continue
                text = read("size")
                scale = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}.get(text[-1:], 1)
                sizes.append(int(text.rstrip("KMG")) * scale)
            if sizes:
                _private_bytes = max(sizes)
        except (OSError, ValueError):
            pass
    return _private_bytes


def _wide(streamed: int, per_thread: int) -> bool:
    """Whether a call takes the step-ordered wide-tile loop: when the arrays it streams
    (input, output, full traces: ``streamed`` bytes) exceed a core's private cache, so they
    come from the shared cache or memory and long contiguous runs per step are what keeps the
    prefetchers ahead, and a thread has more than one tile of ``LANES`` neurons to run.

    (The threshold was the last-level cache until measured otherwise: on a 2-core EPYC VM
    with 1 MB L2 per core and a 32 MB L3 shared with other tenants, LIF blocks of 100 steps
    ran 1.1-1.4x faster step-ordered from 3·10^3 neurons up, dense outputs and spike events
    alike, and equally fast at 10^3.)"""
    if LOOP_ORDER != "auto":
        return LOOP_ORDER == "wide"
    return per_thread > LANES and streamed > _private_cache()


def _threads(work: int, neurons: int) -> int:
    if work < PARALLEL_MIN_WORK:
        return 1
    return max(1, min(torch.get_num_threads(), neurons // LANES))


def _input_layout(x: torch.Tensor, shape: tuple[int, ...]) -> tuple[str, torch.Tensor]:
    """How the kernel reads ``x`` (``(T, ...)``, broadcastable to ``(T, *shape)``), and the
    compact array it reads: a block constant across neurons (``(T, 1)``, or a stride-0
    ``expand`` of one) passes T values, one constant across steps (``(1, N)`` expanded along
    time) N values, so the broadcast block is never materialised."""
    steps = x.shape[0]
    sizes, strides = list(x.shape[1:]), list(x.stride()[1:])
    pad = len(shape) - len(sizes)
    if pad < 0:
        return "full", x.expand(steps, *shape).contiguous()
    sizes, strides = [1] * pad + sizes, [0] * pad + strides
    if math.prod(shape) > 0 and all(
        n == 1 or st == 0 for n, st in zip(sizes, strides, strict=True)
    ):
        return "step", x[(slice(None),) + (0,) * (x.dim() - 1)].contiguous()
    if tuple(sizes) == tuple(shape) and (steps == 1 or x.stride(0) == 0) and x.dim() > 1:
        return "neuron", x[0].expand(shape).contiguous()
    if tuple(x.shape[1:]) != tuple(shape):
        x = x.expand(steps, *shape)
    return "full", x.contiguous()


_tables: OrderedDict[Any, tuple[torch.Tensor, int]] = OrderedDict()


def _record_table(index: torch.Tensor, shape: tuple[int, ...]) -> tuple[torch.Tensor, int]:
    """The kernel's ``{R, Q, neuron[Q], column[Q]}`` table for ``index`` (non-negative, along
    the last dim of ``shape``; every leading index is recorded) and the number of columns.

    Memoised by value (the runner passes the same few indices every block): building one costs
    ~20 µs of small torch calls."""
    key = (index.numpy().tobytes(), tuple(shape)) if index.numel() <= 4096 else None
    if key is not None:
        with _plans_lock:
            found = _tables.get(key)
        if found is not None:
            return found
    last = shape[-1]
    lead = math.prod(shape[:-1])
    per = index.numel()
    neuron = (torch.arange(lead).unsqueeze(1) * last + index).reshape(-1)
    column = torch.arange(lead * per)
    order = torch.argsort(neuron, stable=True)
    table = torch.cat([torch.tensor([lead * per, neuron.numel()]), neuron[order], column[order]])
    result = (table.contiguous(), per)
    if key is not None:
        with _plans_lock:
            _tables[key] = result
            while len(_tables) > 64:
                _tables.popitem(last=False)
    return result


def run_fused(
    step: Any,
    input_block: torch.Tensor,
    state: Any,
    p: Any,
    dt: Any,
    record: Sequence[str] = (),
    record_index: torch.Tensor | None = None,
    events: bool = False,
) -> tuple[Any, dict[str, torch.Tensor], Any]:
    """Runs ``step`` over dim 0 of ``input_block`` in one compiled call.

    Same contract as :func:`simctl.kernels.integrate_reference`, ``record_index`` already
    checked and made non-negative (``simctl.kernels._record_index``); never touches ``state``'s
    tensors (the final state is fresh). With ``events`` the output block is never stored: the
    first result is instead the sorted flat indices ``t·N + n`` (int64) of its nonzero
    elements, ``N`` the number of neurons, as a numpy view of this thread's event workspace
    (no per-call allocation), valid until the thread's next ``events`` call.
    """
    output, recorded, final, _ = run_fused_shaped(
        step, input_block, state, p, dt, record, record_index, events
    )
    return output, recorded, final


class BlockProblem(NamedTuple):
    """A block's flattened state and parameters, the population's shape and the input layout:
    what every fused backend reads before choosing its plan."""

    state_flat: list[tuple[str, Any]]
    p_flat: list[tuple[str, Any]]
    state_leaves: list[torch.Tensor]
    params: list[torch.Tensor]  # the per-neuron parameters, in the graph's order
    shape: tuple[int, ...]
    layout: str
    x: torch.Tensor


def block_problem(input_block: torch.Tensor, state: Any, p: Any) -> BlockProblem:
    """The :class:`BlockProblem` of one call (raises :class:`FusedUnavailable` for an empty
    block or a state leaf that is not a tensor)."""
    if input_block.dim() < 1 or input_block.shape[0] < 1:
        raise FusedUnavailable("empty block")
    state_flat = flatten(state)
    p_flat = flatten(p)
    state_leaves = [leaf for _, leaf in state_flat]
    for leaf in state_leaves:
        if not isinstance(leaf, torch.Tensor):
            raise FusedUnavailable("a state leaf is not a tensor")
    p_leaves = dict(p_flat)
    params = [p_leaves[path] for path in _per_neuron(p, p_flat)]
    shape = broadcast_shapes(
        input_block.shape[1:], *[t.shape for t in state_leaves], *[t.shape for t in params]
    )
    layout, x = _input_layout(input_block.detach(), shape)
    return BlockProblem(state_flat, p_flat, state_leaves, params, shape, layout, x)


def run_fused_shaped(
    step: Any,
    input_block: torch.Tensor,
    state: Any,
    p: Any,
    dt: Any,
    record: Sequence[str] = (),
    record_index: torch.Tensor | None = None,
    events: bool = False,
    bind: list[BoundLaunch] | None = None,
) -> tuple[Any, dict[str, torch.Tensor], Any, tuple[int, ...]]:
    """:func:`run_fused`, and the population's shape (the broadcast of input and state).

    With ``bind`` (a list) and a plain call (no events, records or index), a
    :class:`BoundLaunch` of this problem is appended to it, for repeating the call cheaply.
    """
    if input_block.device.type != "cpu":
        raise FusedUnavailable("the C backend runs on the CPU")
    state_flat, p_flat, state_leaves, params, shape, layout, x = block_problem(
        input_block, state, p
    )
    if any(t.device.type != "cpu" for t in [*state_leaves, *params]):
        raise FusedUnavailable("state or parameters not on the CPU")
    steps = input_block.shape[0]
    neurons = math.prod(shape)
    indexed = record_index is not None
    threads = _threads(steps * neurons, neurons) if neurons > 0 else 1
    per = -(-neurons // threads)
    per = -(-per // LANES) * LANES
    size = input_block.element_size()
    streamed = x.numel() * size + (0 if events else steps * neurons * size)
    if not indexed:
        streamed += steps * neurons * size * len(record)
    wide = _wide(streamed, per)
    plan = get_plan(
        step, input_block, state, p, dt, record, layout, indexed, events, state_flat, p_flat, wide
    )
    _tune_malloc()
    param_arrays = [_dense(t, shape, copy=False) for t in params]
    extra: list[torch.Tensor] = []
    columns = 0
    if indexed:
        table, columns = _record_table(record_index, shape)
        extra = [table]
    bounds = [(lo, min(neurons, lo + per)) for lo in range(0, neurons, per)] if neurons else []
    # every element of a trace is written by the kernel (indexed: small (T, ..., R))
    trace_shape = (steps, *shape[:-1], columns) if indexed else (steps, *shape)
    traces = [_empty(trace_shape, state_leaves[k].dtype) for k in plan.record_leaves]
    # the kernel reads the given state where it is dense already and writes fresh arrays
    state_in = [_dense(leaf, shape, copy=False) for leaf in state_leaves]
    new_state = [_empty(shape, leaf.dtype) for leaf in state_leaves]
    output = _execute(
        plan,
        steps,
        neurons,
        bounds,
        per,
        wide,
        x,
        state_in,
        new_state,
        param_arrays,
        traces,
        extra,
        events,
        (steps, *shape),
    )
    final = unflatten(state, new_state)
    recorded = {name: trace for name, trace in zip(record, traces, strict=True)}
    if bind is not None and neurons:
        bound = BoundLaunch(
            plan,
            steps,
            shape,
            bounds,
            layout,
            x.data_ptr() == input_block.data_ptr(),
            state_leaves,
            [t is a for t, a in zip(params, param_arrays, strict=True)],
            input_block,
        )
        bound.per, bound.wide, bound.events, bound.extra = per, wide, events, extra
        bound.traces = [(tuple(t.shape), t.dtype) for t in traces]
        bind.append(bound)
    return output, recorded, final, shape


class Workspace:
    """A caller's reused launch and arrays for repeated blocks of one population (the
    runner's: the same shapes, parameters and record every block); see
    :func:`run_fused_workspace`. Opaque: hold one per population and pass it every block."""

    def __init__(self) -> None:
        self.key: Any = None
        self.ident: Any = None
        self.kept: list[Any] = []  # what the key's identities refer to (never reused while kept)
        self.bound: BoundLaunch | None = None
        self.states: list[list[torch.Tensor]] = []  # two sets of state arrays, alternating
        self.traces: list[torch.Tensor] = []
        #: the last call's final state, parameters and the tensor leaves of ``p`` with their
        #: identities (:func:`_ident`): a block given back the state it returned, with the same
        #: ``p`` object, skips flattening and the state's part of the key
        self.final: Any = None
        self.p: Any = None
        self.p_tensors: list[torch.Tensor] = []
        self.p_idents: list[Any] = []
        #: the caller's record index, its version and the checked index (simctl.kernels)
        self.index: Any = None
        self.final_leaves: list[torch.Tensor] = []
        self.sets_match = False  #: the state arrays' layout is the bound key's
        self.p_params: list[torch.Tensor] = []  # p's per-neuron tensors, in the plan's order


def _layout_key(tensor: torch.Tensor) -> tuple:
    return (tensor.shape, tensor.stride(), tensor.dtype, tensor.device)


def run_fused_workspace(
    step: Any,
    input_block: torch.Tensor,
    state: Any,
    p: Any,
    dt: Any,
    record: Sequence[str],
    record_index: torch.Tensor | None,
    events: bool,
    workspace: Workspace,
) -> tuple[Any, dict[str, torch.Tensor], Any, tuple[int, ...]]:
    """:func:`run_fused_shaped` for a caller that repeats blocks of one population.

    The first block (or one whose input layout, state layout, parameters, ``dt``, record or
    index changed: compared by the same rules as the plan key, scalars by value) runs as usual
    and binds its launch; the next ones skip flattening, shapes, plan look-up and the record
    table, and write into ``workspace``'s arrays instead of fresh ones: the final state into
    one of two sets of state arrays (never the set the given state lives in, so the state
    before the block stays intact), the traces into one set. So the returned **traces are
    valid until the next call and the state until the call after it**; the caller copies what
    it keeps longer (the runner writes the traces out at once and keeps only the last state).
    Results equal :func:`run_fused_shaped`'s.
    """
    bound = workspace.bound
    # the last call's own state, in the workspace's arrays, whose layout is the key's
    returned = bound is not None and state is workspace.final and workspace.sets_match
    if returned:
        state_part: Any = workspace.key[2]  # its layout: the workspace's arrays
    else:
        state_flat = flatten(state)
        state_part = (
            tuple(
                (path, _layout_key(leaf)) if isinstance(leaf, torch.Tensor) else (path, leaf)
                for path, leaf in state_flat
            ),
            type(state),
        )
    try:
        key = (
            step,
            _layout_key(input_block),
            state_part,
            type(p),
            tuple(record),
            None if record_index is None else (id(record_index), record_index._version),
            events,
            _leaf_key(dt),
            torch.get_num_threads(),
            LOOP_ORDER,
            codegen.WIDE,
        )
    except FusedUnavailable:
        return run_fused_shaped(step, input_block, state, p, dt, record, record_index, events)
    if p is workspace.p:  # a NamedTuple: the same leaves; compare what can change in them
        same_p = list(map(_ident, workspace.p_tensors)) == workspace.p_idents
    else:
        same_p = False
    if bound is None or workspace.key != key or not same_p:
        p_flat = flatten(p)
        ident = tuple((path, _ident(leaf)) for path, leaf in p_flat)
        if bound is None or workspace.key != key or workspace.ident != ident:
            bind: list[BoundLaunch] = []
            result = run_fused_shaped(
                step, input_block, state, p, dt, record, record_index, events, bind
            )
            workspace.bound = bind[0] if bind else None
            workspace.key, workspace.ident = key, ident
            workspace.kept = [step, record_index, [leaf for _, leaf in p_flat]]
            workspace.states, workspace.traces = [], []
            workspace.final = None
            return result
        tensors = [leaf for _, leaf in p_flat if isinstance(leaf, torch.Tensor)]
        workspace.p, workspace.p_tensors = p, tensors
        workspace.p_idents = list(map(_ident, tensors))
        workspace.p_params = [dict(p_flat)[path] for path in _per_neuron(p, p_flat)]
    bound = workspace.bound
    assert bound is not None
    shape = bound.shape
    leaves = list(workspace.final_leaves) if returned else [leaf for _, leaf in state_flat]
    if not workspace.states:  # (never on a returned state: final is None after a bind)
        workspace.states = [
            [_empty(shape, leaf.dtype) for leaf in leaves],
            [_empty(shape, leaf.dtype) for leaf in leaves],
        ]
        workspace.traces = [_empty(trace_shape, dtype) for trace_shape, dtype in bound.traces]
        paths = [path for path, _ in state_flat]
        layout = tuple(
            (path, _layout_key(t)) for path, t in zip(paths, workspace.states[0], strict=True)
        )
        workspace.sets_match = (
            all(isinstance(leaf, torch.Tensor) for _, leaf in state_flat)
            and (layout, type(state)) == workspace.key[2]
        )
    given = {leaf.data_ptr() for leaf in leaves}
    target: list[torch.Tensor] | None = None
    for candidate in workspace.states:  # the set the given state does not live in
        if not any(t.data_ptr() in given for t in candidate):
            target = candidate
            break

    # the kernel reads the given state (its own arrays when dense) and writes the other set
    state_in = leaves if returned else [_dense(leaf, shape, copy=False) for leaf in leaves]
    if target is None:  # a state mixing both sets: fresh arrays
        target = [_empty(shape, leaf.dtype) for leaf in leaves]
    x = input_block if bound.direct else _input_layout(input_block.detach(), shape)[1]
    arrays = [
        t if direct else _dense(t, shape, copy=False)
        for t, direct in zip(workspace.p_params, bound.direct_params, strict=True)
    ]
    output = _execute(
        bound.plan,
        bound.steps,
        bound.neurons,
        bound.bounds,
        bound.per,
        bound.wide,
        x,
        state_in,
        target,
        arrays,
        workspace.traces,
        bound.extra,
        events,
        bound.output_shape,
    )
    final = unflatten(state, target)
    workspace.final, workspace.final_leaves = final, target
    recorded = {name: trace for name, trace in zip(record, workspace.traces, strict=True)}
    return output, recorded, final, shape


class BoundLaunch:
    """One plain fused call (no events, records or index), bound for repeating it on inputs
    of the same shape, strides and dtype, states of the same layout and the same parameters.

    What :func:`run_fused_shaped` works out per call (flattening, shapes, layout, plan key,
    per-neuron arrays, thread split) is fixed here; a repeat costs the input's address, fresh
    state copies, a fresh output and the launch. The caller proves that the problem is the
    same (:mod:`simctl.kernels` keys layer calls by input shape, strides, dtype and device, and
    checks the parameters' identities and scalar values); the results equal a call of
    :func:`run_fused` on the same arguments, and they are fresh tensors every time.
    """

    __slots__ = ("plan", "steps", "shape", "neurons", "bounds", "layout", "direct", "copies")
    __slots__ += ("direct_params", "output_shape", "small_output", "array_type", "like_input")
    __slots__ += ("per", "wide", "events", "extra", "traces")

    def __init__(
        self,
        plan: Plan,
        steps: int,
        shape: tuple[int, ...],
        bounds: list[tuple[int, int]],
        layout: str,
        direct: bool,
        state_leaves: list[torch.Tensor],
        direct_params: list[bool],
        input_block: torch.Tensor,
    ) -> None:
        self.plan = plan
        self.steps = steps
        self.shape = shape
        self.neurons = math.prod(shape)
        self.bounds = bounds
        self.layout = layout
        #: the input is its own compact array (:func:`_input_layout` returns a view of it)
        self.direct = direct
        #: per state leaf: a plain ``clone`` gives its dense copy (else :func:`_dense`)
        self.copies = [
            tuple(t.shape) == shape and t.is_contiguous() and t.numel() < _SMALL_COPY
            for t in state_leaves
        ]
        #: per per-neuron parameter: the kernel reads the tensor itself (else a dense copy)
        self.direct_params = direct_params
        self.output_shape = (steps, *shape)
        output_bytes = steps * self.neurons * _element_size(plan.output_dtype)
        #: an output too small to recycle or advise (:meth:`_Recycler.take`): a plain empty
        self.small_output = output_bytes < RECYCLE_MIN_BYTES and output_bytes < 4 * _HUGE
        #: the output is shaped as the (contiguous) input and of its dtype
        self.like_input = (
            direct
            and tuple(input_block.shape) == self.output_shape
            and input_block.is_contiguous()
            and input_block.dtype == plan.output_dtype
        )
        #: the kernel's table of array addresses
        #: (the state's arrays twice: the kernel advances them in place)
        self.array_type = ctypes.c_void_p * (
            1 + len(state_leaves) + len(direct_params) + 1 + len(state_leaves)
        )

    def new_state(self, leaves: Sequence[torch.Tensor]) -> list[torch.Tensor]:
        """Fresh dense copies of ``leaves`` (the kernel updates them in place)."""
        return [
            leaf.detach().clone() if copy else _dense(leaf, self.shape)
            for leaf, copy in zip(leaves, self.copies, strict=True)
        ]

    def run(
        self,
        input_block: torch.Tensor,
        new_state: list[torch.Tensor],
        params: Sequence[torch.Tensor],
    ) -> torch.Tensor:
        """The call's output; ``new_state`` (dense copies, see :meth:`new_state`) is advanced
        in place to the final state. ``params``: the per-neuron parameters, in plan order."""
        plan = self.plan
        if self.direct:
            x = input_block
        else:
            x = _input_layout(input_block.detach(), self.shape)[1]
        if self.small_output:
            if self.like_input:  # empty_like parses no shape and dtype: the cheapest
                output = torch.empty_like(input_block)
            else:
                output = torch.empty(self.output_shape, dtype=plan.output_dtype)
        else:
            output = _empty(self.output_shape, plan.output_dtype)
        pointers = [x.data_ptr()]
        for t in new_state:
            pointers.append(t.data_ptr())
        # the dense copies must outlive the launch: kept in a list, not read off temporaries
        arrays = [
            t if direct else _dense(t, self.shape, copy=False)
            for t, direct in zip(params, self.direct_params, strict=True)
        ]
        for t in arrays:
            pointers.append(t.data_ptr())
        pointers.append(output.data_ptr())
        for t in new_state:  # the initial state: the same arrays
            pointers.append(t.data_ptr())
        bounds = self.bounds
        if len(bounds) == 1:  # _launch without its generality: the common small call
            table = self.array_type(*pointers)
            plan.function(self.steps, self.neurons, bounds[0][0], bounds[0][1], plan.consts, table)
        else:
            _launch(plan, self.steps, self.neurons, bounds, [pointers] * len(bounds))
        return output


def _execute(
    plan: Plan,
    steps: int,
    neurons: int,
    bounds: list[tuple[int, int]],
    per: int,
    wide: bool,
    x: torch.Tensor,
    state_in: list[torch.Tensor],
    state_out: list[torch.Tensor],
    param_arrays: list[torch.Tensor],
    traces: list[torch.Tensor],
    extra: list[torch.Tensor],
    events: bool,
    output_shape: tuple[int, ...],
) -> Any:
    """Launches ``plan`` on its arrays: the output, or the events' flat indices. The kernel
    reads the initial state from ``state_in`` and writes the final state to ``state_out``
    (dense arrays; the same ones for an update in place), so a block whose event space
    overflowed simply runs once more."""
    capacity = 0
    state_pointers = [t.data_ptr() for t in state_in]
    while True:
        if events:
            output = None
            capacity = capacity or _event_capacity(plan, steps * per)
            # one reused array, thread i's slots at [i·capacity, (i+1)·capacity), and the
            # threads' {count, capacity} pairs after them
            space, counts = _event_space(len(bounds) * capacity, len(bounds))
            counts[:, 0] = 0
            counts[:, 1] = capacity
            base, count_base = space.ctypes.data, counts.ctypes.data
            tail = [[base + 8 * i * capacity, count_base + 16 * i] for i in range(len(bounds))]
            output_args: list[Any] = []
        else:
            output = _empty(output_shape, plan.output_dtype)
            output_args = [output]
            tail = [[] for _ in bounds]
        shared = [x, *state_out, *param_arrays, *output_args, *traces, *extra]
        shared_pointers = [t.data_ptr() for t in shared]
        tables = [shared_pointers + own + state_pointers for own in tail]
        _launch(plan, steps, neurons, bounds, tables)
        if not events:
            return output
        found = counts[:, 0].tolist()
        most = max(found, default=0)
        plan.event_hint = max(plan.event_hint, most)
        if most <= capacity:
            # gather the threads' runs at the front, in place (each moves left, numpy copes
            # with an overlap), then sort there: t·N + n orders by step, then neuron
            total = 0
            for i, count in enumerate(found):
                if i and count:
                    space[total : total + count] = space[i * capacity : i * capacity + count]
                total += count
            flat = space[:total]
            tile = codegen.WIDE if wide else LANES
            if len(bounds) > 1 or bounds and bounds[0][1] - bounds[0][0] > tile:
                # one ascending run per tile: merged by step in C, else sorted (timsort)
                runs = sum(-(-(hi - lo) // tile) for lo, hi in bounds)
                merged = merge_by_step(flat, neurons, steps, runs)
                if merged is None:
                    flat.sort(kind="stable")
                else:
                    flat = merged
            return flat
        capacity = -(-most * 5 // 4)  # overflowed: once more, with room for every event


#: arrays below this many elements are copied by torch (one call), larger ones by numpy
_SMALL_COPY = 1 << 15


def _dense(tensor: torch.Tensor, shape: tuple[int, ...], copy: bool = True) -> torch.Tensor:
    """``tensor`` broadcast to ``shape`` as a contiguous CPU array (a fresh one with ``copy``).

    Large arrays are copied by numpy, on this thread, into recycled memory: torch splits a copy
    of 10^5 elements over its worker threads, and waiting for them cost ~7 ms per call on a busy
    2-core machine, more than a 64-step block of the kernel itself.
    """
    tensor = tensor.detach()
    same = tuple(tensor.shape) == tuple(shape) and tensor.is_contiguous()
    if same and not copy:
        return tensor
    if same and tensor.numel() < _SMALL_COPY:
        return tensor.clone()
    out = _empty(tuple(shape), tensor.dtype)
    try:
        np.copyto(out.numpy(), np.broadcast_to(tensor.numpy(), shape))
    except (TypeError, RuntimeError):  # a dtype numpy lacks
        out.copy_(tensor.expand(shape))
    return out


_workspace = threading.local()
#: a larger event workspace is freed after its call rather than kept for the next one
MAX_KEPT_EVENT_SPACE = 1 << 28


def _event_space(slots: int, threads: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """This thread's int64 event workspace, at least ``slots`` long, and a ``(threads, 2)``
    int64 array for the kernels' ``{count, capacity}`` pairs: reused from call to call.

    Memory of a streamed run must not grow with its duration. A fresh multi-MB event buffer and
    its sorted copy per block, freed between blocks of HDF5's gzip work (whose chunk and zlib
    buffers land in the holes they leave), fragment glibc's heap without bound: a 10^5-neuron
    run at ~125 M spikes/s held ~150 MB of live data in a heap growing by ~2 MB per block
    (4.1 GB peak RSS at 10^5 steps). Reused, the buffer is allocated once and only grows (with a
    quarter's headroom, so a rate that drifts up does not reallocate it every block).
    """
    space = getattr(_workspace, "events", None)
    if space is None or space.size < slots:
        space = np.empty(slots + slots // 4, dtype=np.int64)
        _workspace.events = space if space.nbytes <= MAX_KEPT_EVENT_SPACE else None
    counts = getattr(_workspace, "counts", None)
    if counts is None or counts.shape[0] < threads:
        counts = _workspace.counts = np.zeros((threads, 2), dtype=np.int64)
    return space, counts[:threads]


def _event_capacity(plan: Plan, work: int) -> int:
    """Event slots per thread: twice the most seen so far, at least 1/32 of the neuron-steps
    (plenty for spike trains; untouched slots cost no memory)."""
    return max(1 << 12, min(work, max(2 * plan.event_hint, work // 32)))


def _launch(
    plan: Plan, steps: int, neurons: int, bounds: list[tuple[int, int]], tables: list[list[int]]
) -> None:
    """Runs the kernel on each neuron range (one table of addresses per range), in parallel."""
    pointers = [(ctypes.c_void_p * len(t))(*t) for t in tables]
    if len(bounds) == 1:
        plan.function(steps, neurons, bounds[0][0], bounds[0][1], plan.consts, pointers[0])
    elif bounds:
        global _pool
        if _pool is None or _pool._max_workers < len(bounds):  # type: ignore[attr-defined]
            _pool = ThreadPoolExecutor(max_workers=len(bounds), thread_name_prefix="simctl")
        futures = [
            _pool.submit(plan.function, steps, neurons, lo, hi, plan.consts, table)
            for (lo, hi), table in zip(bounds, pointers, strict=True)
        ]
        for future in futures:
            future.result()
