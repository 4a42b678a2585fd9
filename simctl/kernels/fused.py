"""The compiled C backend: trace the step once, generate and build a whole-loop kernel, run it.

A *plan* (traced graph, loaded kernel, constants) is memoised per step function and parameter
structure; the C library is cached on disk per model structure, so a new parameter value costs
one trace (about a millisecond) and no compile. Large problems are split over neuron ranges run
in parallel threads (ctypes releases the GIL while C runs).
"""

from __future__ import annotations

import ctypes
import math
import os
import sys
import threading
from collections import OrderedDict
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import torch

from .cbuild import CompileError, load_kernel
from .codegen import LANES, generate
from .trace import Unsupported, flatten, trace_step, unflatten

__all__ = ["Plan", "get_plan", "run_fused", "FusedUnavailable", "PARALLEL_MIN_WORK"]

#: neuron-steps from which a call is split over threads
PARALLEL_MIN_WORK = 1 << 20


class FusedUnavailable(Exception):
    """The fused backend cannot run this problem (reason in the message)."""


@dataclass
class Plan:
    function: Any
    consts: Any  # ctypes double array
    per_neuron: list[str]
    output_dtype: torch.dtype
    record_leaves: list[int]
    source: str


_plans: OrderedDict[Any, Plan | str] = OrderedDict()
_plans_lock = threading.Lock()
_MAX_PLANS = 512
_pool: ThreadPoolExecutor | None = None


def _leaf_key(leaf: Any) -> Any:
    if isinstance(leaf, torch.Tensor):
        if leaf.numel() == 1:
            return ("scalar", leaf.dtype, leaf.dim(), leaf.device.type, float(leaf.reshape(-1)[0]))
        return ("neuron", leaf.dtype, leaf.device.type)
    if isinstance(leaf, (bool, int, float, str)) or leaf is None:
        return (type(leaf).__name__, leaf)
    try:
        hash(leaf)
    except TypeError as error:
        raise FusedUnavailable(f"unhashable parameter {leaf!r}") from error
    return ("other", leaf)


def _key(
    step: Any, input_block: torch.Tensor, state: Any, p: Any, dt: Any, record: Sequence[str]
) -> Any:
    state_key = tuple(
        (path, leaf.dtype, leaf.dim() == 0) if isinstance(leaf, torch.Tensor) else (path, leaf)
        for path, leaf in flatten(state)
    )
    p_key = tuple((path, _leaf_key(leaf)) for path, leaf in flatten(p))
    dt_key = _leaf_key(dt)
    return (step, input_block.dtype, state_key, type(p), p_key, dt_key, tuple(record))


def get_plan(
    step: Any, input_block: torch.Tensor, state: Any, p: Any, dt: Any, record: Sequence[str]
) -> Plan:
    """The memoised plan for this step, dtypes and parameter structure (raises
    :class:`FusedUnavailable` when the step cannot be fused or no compiler works)."""
    key = _key(step, input_block, state, p, dt, record)
    with _plans_lock:
        plan = _plans.get(key)
        if plan is not None:
            _plans.move_to_end(key)
    if isinstance(plan, str):
        raise FusedUnavailable(plan)
    if plan is not None:
        return plan
    try:
        plan = _make_plan(step, input_block, state, p, dt, record)
    except (Unsupported, CompileError) as error:
        with _plans_lock:
            _plans[key] = f"{type(error).__name__}: {error}"
        raise FusedUnavailable(str(error)) from error
    with _plans_lock:
        _plans[key] = plan
        while len(_plans) > _MAX_PLANS:
            _plans.popitem(last=False)
    return plan


def _make_plan(
    step: Any, input_block: torch.Tensor, state: Any, p: Any, dt: Any, record: Sequence[str]
) -> Plan:
    per_neuron = [
        path for path, leaf in flatten(p) if isinstance(leaf, torch.Tensor) and leaf.numel() != 1
    ]
    if isinstance(dt, torch.Tensor):
        dt = float(dt)
    graph, output_dtype = trace_step(step, input_block[0], state, p, dt, per_neuron)
    paths = [path for path, _ in flatten(state)]
    record_leaves = []
    for name in record:
        if name not in paths:
            raise Unsupported(f"cannot record {name!r}: not a state leaf")
        record_leaves.append(paths.index(name))
    source = generate(graph, output_dtype, record_leaves)
    function = load_kernel(source)
    consts = (ctypes.c_double * max(1, len(graph.consts)))(*graph.consts)
    return Plan(function, consts, per_neuron, output_dtype, record_leaves, source)


_HUGE = 1 << 21
_madvise: Any = None


def _empty(shape: tuple[int, ...], dtype: torch.dtype) -> torch.Tensor:
    """``torch.empty`` that asks Linux for transparent huge pages on large blocks.

    A fresh 400 MB output block costs 100 000 page faults on first touch, more than the kernel
    itself (measured 0.95 against 0.15 ns per element with ``MADV_HUGEPAGE``). The advice is
    only a hint: where it is unavailable nothing changes.
    """
    global _madvise
    tensor = torch.empty(shape, dtype=dtype)
    nbytes = tensor.numel() * tensor.element_size()
    if nbytes < 4 * _HUGE or not sys.platform.startswith("linux"):
        return tensor
    if _madvise is None:
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            _madvise = libc.madvise
            _madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
            _madvise.restype = ctypes.c_int
        except (OSError, AttributeError):
            _madvise = False
    if _madvise:
        start = (tensor.data_ptr() + _HUGE - 1) & ~(_HUGE - 1)
        end = (tensor.data_ptr() + nbytes) & ~(_HUGE - 1)
        if end > start:
            _madvise(start, end - start, 14)  # MADV_HUGEPAGE
    return tensor


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


def _threads(work: int, neurons: int) -> int:
    if work < PARALLEL_MIN_WORK:
        return 1
    return max(1, min(torch.get_num_threads(), neurons // LANES))


def run_fused(
    step: Any,
    input_block: torch.Tensor,
    state: Any,
    p: Any,
    dt: Any,
    record: Sequence[str] = (),
) -> tuple[torch.Tensor, dict[str, torch.Tensor], Any]:
    """Runs ``step`` over dim 0 of ``input_block`` in one compiled call.

    Same contract as :func:`simctl.kernels.integrate_reference`; never touches ``state``'s
    tensors (the final state is fresh).
    """
    if input_block.device.type != "cpu":
        raise FusedUnavailable("the C backend runs on the CPU")
    if input_block.dim() < 1 or input_block.shape[0] < 1:
        raise FusedUnavailable("empty block")
    plan = get_plan(step, input_block, state, p, dt, record)
    _tune_malloc()
    state_leaves = [leaf for _, leaf in flatten(state)]
    p_leaves = dict(flatten(p))
    params = [p_leaves[path] for path in plan.per_neuron]
    try:
        shape = torch.broadcast_shapes(
            tuple(input_block.shape[1:]),
            *[tuple(t.shape) for t in state_leaves],
            *[tuple(t.shape) for t in params],
        )
    except RuntimeError as error:
        raise FusedUnavailable(str(error)) from error
    if any(t.device.type != "cpu" for t in [*state_leaves, *params]):
        raise FusedUnavailable("state or parameters not on the CPU")
    steps = input_block.shape[0]
    neurons = math.prod(shape)
    x = input_block.detach()
    if tuple(x.shape[1:]) != shape:
        x = x.expand(steps, *shape)
    x = x.contiguous()
    new_state = [
        torch.empty(shape, dtype=leaf.dtype).copy_(leaf.detach().expand(shape))
        for leaf in state_leaves
    ]
    param_arrays = [t.detach().expand(shape).contiguous() for t in params]
    output = _empty((steps, *shape), plan.output_dtype)
    traces = [_empty((steps, *shape), new_state[k].dtype) for k in plan.record_leaves]
    tensors = [x, *new_state, *param_arrays, output, *traces]
    pointers = (ctypes.c_void_p * len(tensors))(*[t.data_ptr() for t in tensors])
    if neurons > 0:
        threads = _threads(steps * neurons, neurons)
        if threads == 1:
            plan.function(steps, neurons, 0, neurons, plan.consts, pointers)
        else:
            global _pool
            if _pool is None or _pool._max_workers < threads:  # type: ignore[attr-defined]
                _pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="simctl")
            per = -(-neurons // threads)
            per = -(-per // LANES) * LANES
            bounds = [(lo, min(neurons, lo + per)) for lo in range(0, neurons, per)]
            futures = [
                _pool.submit(plan.function, steps, neurons, lo, hi, plan.consts, pointers)
                for lo, hi in bounds
            ]
            for future in futures:
                future.result()
    final = unflatten(state, new_state)
    recorded = {name: trace for name, trace in zip(record, traces, strict=True)}
    return output, recorded, final
