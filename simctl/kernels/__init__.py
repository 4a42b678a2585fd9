"""Time integration backends.

:func:`integrate` advances a feed-forward population over a block of steps whose input is known
in advance; :func:`fused_layer_forward` is the same fast path for the library's time layers
(:class:`simctl.neurons.SNN`) when no gradient is needed. Backends:

``"c"`` (CPU, the default there)
    The model's own step function is traced once into an elementwise graph
    (:mod:`simctl.kernels.trace`: ``make_fx`` of the step, functionalised when it mutates a
    tensor, ATen overloads matched as objects; anything else is refused), turned into a C
    whole-loop kernel
    (:mod:`simctl.kernels.codegen`), compiled with the system C compiler and cached on disk
    (:mod:`simctl.kernels.cbuild`; the trace's result too, :mod:`simctl.kernels.plancache`).
    One source of truth: no model is restated by hand, and the tests prove every model's
    kernel equal to its step function.
``"triton"`` (CUDA, the default there when Triton can be imported)
    The same traced graph as a Triton kernel (:mod:`simctl.kernels.triton_backend`): one program
    per block of neurons, the time loop inside, the state in registers. Under
    ``TRITON_INTERPRET=1`` it also runs on CPU tensors (Triton's interpreter: how the tests
    check it without a GPU). Used by :func:`integrate` and :func:`spike_events`; the layer fast
    path stays on the CPU.
``"reference"``
    :func:`integrate_reference`, the Python loop over the step function: other devices, CUDA
    without Triton, models the tracer cannot express, a missing or failing compiler,
    single-step blocks, and ``SIMCTL_KERNELS=reference``.
``"compile"``
    ``torch.compile`` of the step function, looped in Python; opt-in with
    ``SIMCTL_KERNELS=compile``; falls back to the reference on any error.

Selection (:func:`select_backend`): ``$SIMCTL_KERNELS`` (``auto``, ``c``, ``triton``,
``reference``, ``compile``) forces a choice; ``auto`` picks ``c`` on the CPU and ``triton`` on
CUDA (when ``import triton`` works; otherwise the reference, the reason logged once) for
float32/float64 blocks of two or more steps, and ``reference`` otherwise. A fused backend that
cannot run a problem falls back to the reference (the reason is logged once at INFO level, on
logger ``simctl.kernels``, and kept by :func:`last_backend`).
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from simctl.neurons import base as _base
from simctl.neurons.base import SNN, NeuronModel

from . import triton_backend
from .fused import FusedUnavailable, broadcast_shapes, run_fused, run_fused_shaped
from .trace import flatten, unflatten

__all__ = [
    "integrate",
    "integrate_spikes",
    "spike_events",
    "integrate_reference",
    "get_path",
    "fused_layer_forward",
    "select_backend",
    "last_backend",
    "BACKENDS",
]

BACKENDS = ("auto", "c", "triton", "reference", "compile")

_log = logging.getLogger(__name__)
_last: dict[str, str] = {"backend": "reference", "reason": ""}


def get_path(state: Any, path: str) -> Any:
    """``get_path(state, "lif.v")`` follows a dotted path through nested NamedTuples."""
    for part in path.split("."):
        state = getattr(state, part)
    return state


def last_backend() -> tuple[str, str]:
    """``(backend, reason)`` of the most recent :func:`integrate` / layer fast-path call."""
    return _last["backend"], _last["reason"]


def _requested() -> str:
    value = os.environ.get("SIMCTL_KERNELS", "auto").strip().lower() or "auto"
    if value not in BACKENDS:
        raise ValueError(f"SIMCTL_KERNELS={value!r}: expected one of {', '.join(BACKENDS)}")
    return value


def select_backend(input_block: torch.Tensor) -> str:
    """The backend for a block by device, dtype and size (see the module docstring)."""
    requested = _requested()
    if requested != "auto":
        return requested
    if input_block.device.type not in ("cpu", "cuda"):
        return "reference"
    if input_block.dtype not in (torch.float32, torch.float64):
        return "reference"
    if input_block.dim() < 1 or input_block.shape[0] < 2:
        return "reference"  # one step: nothing to fuse, the loop costs one call
    if input_block.device.type == "cuda":
        ok, reason = triton_backend.available()
        if not ok:
            _no_triton(reason)
            return "reference"
        return "triton"
    return "c"


_warned_no_triton: list[str] = []


def _no_triton(reason: str) -> None:
    """Logs once why CUDA blocks run on the reference loop (``import triton`` failed)."""
    if not _warned_no_triton:
        _warned_no_triton.append(reason)
        _log.info("triton cannot be imported (%s): CUDA blocks use the reference loop", reason)


def integrate_reference(
    model: NeuronModel,
    input_block: torch.Tensor,
    state: Any,
    p: Any,
    dt: float,
    record: Sequence[str] = (),
    record_index: Any = None,
) -> tuple[torch.Tensor, dict[str, torch.Tensor], Any]:
    """Loops ``model.feed_forward_step`` over dim 0 of ``input_block``.

    Returns:
        ``(outputs (T, ...), {variable: (T, ...)} after each step, final state)``; with
        ``record_index`` the traces keep only those indices of the last dim (see
        :func:`integrate`).
    """
    index = None if record_index is None else _record_index(record_index, input_block, state)
    return _loop(model.feed_forward_step, input_block, state, p, dt, record, index)


def _loop(
    step: Any,
    input_block: torch.Tensor,
    state: Any,
    p: Any,
    dt: Any,
    record: Sequence[str],
    record_index: torch.Tensor | None = None,
) -> tuple[torch.Tensor, dict[str, torch.Tensor], Any]:
    outputs = []
    traces: dict[str, list[torch.Tensor]] = {name: [] for name in record}
    with torch.no_grad():
        for x in input_block:
            out, state = step(x, state, p, dt)
            outputs.append(out)
            for name in record:
                value = get_path(state, name)
                if record_index is not None:  # keep only the recorded neurons of this step
                    if record_index.device != value.device:  # once, not every step
                        record_index = record_index.to(value.device)
                    full = torch.broadcast_shapes(value.shape, out.shape)
                    value = value.expand(full).index_select(-1, record_index)
                traces[name].append(value)
    stacked = {
        name: torch.stack(torch.broadcast_tensors(*values)) for name, values in traces.items()
    }
    return torch.stack(outputs), stacked, state


_compiled: dict[Any, Any] = {}


def _compiled_loop(
    step: Any,
    input_block: torch.Tensor,
    state: Any,
    p: Any,
    dt: Any,
    record: Sequence[str],
    record_index: torch.Tensor | None = None,
) -> tuple[torch.Tensor, dict[str, torch.Tensor], Any]:
    compiled = _compiled.get(step)
    if compiled is None:
        compiled = _compiled[step] = torch.compile(step, dynamic=False)
    return _loop(compiled, input_block, state, p, dt, record, record_index)


def _population_shape(input_block: torch.Tensor, state: Any) -> tuple[int, ...]:
    """The population's shape: the broadcast of the input's per-step shape and the state's."""
    shapes = [tuple(input_block.shape[1:])]
    shapes += [tuple(leaf.shape) for _, leaf in flatten(state) if isinstance(leaf, torch.Tensor)]
    try:
        return broadcast_shapes(*shapes)
    except FusedUnavailable as error:
        raise RuntimeError(str(error)) from None


_indices: dict[tuple, tuple[torch.Tensor, torch.Tensor]] = {}


def _record_index(record_index: Any, input_block: torch.Tensor, state: Any) -> torch.Tensor:
    """``record_index`` as a 1-D int64 CPU tensor of non-negative indices, checked against the
    last dim of the population (:func:`_population_shape`).

    Memoised for a tensor given again unchanged (same object, version counter and population
    shape: the runner's every block), which saves ~40 µs of small torch and numpy calls."""
    key = None
    if isinstance(record_index, torch.Tensor):
        shape = _population_shape(input_block, state)
        key = (id(record_index), record_index._version, shape)
        found = _indices.get(key)
        if found is not None and found[0] is record_index:
            return found[1]
    index = _checked_index(record_index, input_block, state)
    if key is not None:
        if len(_indices) >= 64:
            _indices.clear()
        _indices[key] = (record_index, index)  # the reference keeps the id from being reused
    return index


def _checked_index(record_index: Any, input_block: torch.Tensor, state: Any) -> torch.Tensor:
    index = torch.as_tensor(record_index, device="cpu")
    integer = (torch.int64, torch.int32, torch.int16, torch.int8, torch.uint8)
    if index.numel() and index.dtype not in integer:  # ([] becomes a float tensor)
        raise TypeError(f"record_index must hold integers, not {index.dtype}")
    index = index.to(torch.int64).reshape(-1)
    shape = _population_shape(input_block, state)
    if not shape:
        raise ValueError("record_index needs a population with at least one dimension")
    last = shape[-1]
    values = index.numpy()  # numpy: a few µs where torch's reductions take tens
    if values.size and (values.min() < -last or values.max() >= last):
        raise IndexError(f"record_index out of range for a last dimension of {last}")
    if values.size and values.min() < 0:
        return torch.where(index < 0, index + last, index)
    return index


def _run(
    step: Any,
    input_block: torch.Tensor,
    state: Any,
    p: Any,
    dt: Any,
    record: Sequence[str],
    record_index: torch.Tensor | None = None,
    events: bool = False,
) -> tuple:
    """``(outputs, traces, final state)`` from the selected backend, the reference loop when
    it cannot run; with ``events``, ``(flat, N, traces, final state)`` (see
    :func:`spike_events`)."""
    backend = select_backend(input_block)
    if backend == "c":
        try:
            output, traces, final, shape = run_fused_shaped(
                step, input_block, state, p, dt, record, record_index, events
            )
        except FusedUnavailable as error:
            _log.debug("fused kernel unavailable, using the reference loop: %s", error)
            _last.update(backend="reference", reason=str(error))
        else:
            _last["backend"], _last["reason"] = "c", ""
            if events:
                return output, _count(shape), traces, final
            return output, traces, final
    elif backend == "triton":
        try:
            output, traces, final, shape = triton_backend.run_triton_shaped(
                step, input_block, state, p, dt, record, record_index, events
            )
        except FusedUnavailable as error:
            _log.debug("Triton kernel unavailable, using the reference loop: %s", error)
            _last.update(backend="reference", reason=str(error))
        else:
            _last["backend"], _last["reason"] = "triton", ""
            if events:
                return output, _count(shape), traces, final
            return output, traces, final
    elif backend == "compile":
        try:
            result = _compiled_loop(step, input_block, state, p, dt, record, record_index)
        except Exception as error:  # noqa: BLE001 - any compile failure means: use the loop
            _log.debug("torch.compile failed, using the reference loop: %s", error)
            _compiled[step] = step
            _last.update(backend="reference", reason=str(error))
        else:
            _last.update(backend="compile", reason="")
            return _as_events(*result) if events else result
    else:
        reason = "selected"
        if input_block.device.type == "cuda" and _requested() == "auto":
            ok, why = triton_backend.available()
            reason = reason if ok else f"triton cannot be imported ({why})"
        _last.update(backend="reference", reason=reason)
    result = _loop(step, input_block, state, p, dt, record, record_index)
    return _as_events(*result) if events else result


def _count(shape: Sequence[int]) -> int:
    """Neurons in ``shape``, at least 1 (the divisor of the flat event indices)."""
    return max(1, math.prod(shape))


def _as_events(out: torch.Tensor, traces: dict[str, torch.Tensor], final: Any) -> tuple:
    """An output block as :func:`spike_events` returns it: fresh sorted flat indices."""
    flat = torch.nonzero(out.reshape(-1)).flatten()  # row-major: t·N + n, ascending
    return flat.cpu().numpy(), _count(out.shape[1:]), traces, final


def integrate(
    model: NeuronModel,
    input_block: torch.Tensor,
    state: Any,
    p: Any,
    dt: float,
    record: Sequence[str] = (),
    record_index: Any = None,
) -> tuple[torch.Tensor, dict[str, torch.Tensor], Any]:
    """Advances a feed-forward population over ``input_block`` (time is dim 0), no gradients.

    Args:
        model: the model description (its ``feed_forward_step`` is the source of truth).
        input_block: ``(T, *shape)`` input, broadcastable against the state: ``(T, 1)`` (one
            value per step), a stride-0 ``expand`` of it, or ``(1, N)`` expanded along time are
            read without materialising the ``(T, N)`` block on the C backend.
        state: the state before the block (not modified).
        p: the parameters; numeric fields may be per-neuron tensors.
        dt: the integration step.
        record: dotted state paths to return after every step.
        record_index: indices along the last dim of the population (a sequence or 1-D integer
            tensor; negative counts from the end, repeats allowed): only these neurons'
            ``record`` traces are kept, ``(T, *shape[:-1], len(record_index))``, equal to
            ``full_trace[..., record_index]`` (the C kernel never writes the full trace).
            None keeps every neuron.

    Returns:
        ``(outputs (T, *shape), {variable: (T, *shape)}, final state)``, equal to
        :func:`integrate_reference` (proven in ``tests/test_kernels.py``).
    """
    index = None if record_index is None else _record_index(record_index, input_block, state)
    return _run(model.feed_forward_step, input_block, state, p, dt, record, index)


def spike_events(
    model: NeuronModel,
    input_block: torch.Tensor,
    state: Any,
    p: Any,
    dt: float,
    record: Sequence[str] = (),
    record_index: Any = None,
) -> tuple[np.ndarray, int, dict[str, torch.Tensor], Any]:
    """:func:`integrate` for a spiking population whose output is only needed as spike events.

    The streaming form (the runner's): the C backend never stores the ``(T, N)`` output block
    (each step's outputs are scanned while in L1 and only the indices of the nonzero ones are
    written), and the array is a view of this thread's reused event workspace, **valid only
    until the thread's next call**, so a block allocates nothing in proportion to its spikes;
    on other backends it is a fresh CPU array.

    Returns:
        ``(flat (K,) int64, N, {variable: trace}, final state)``: the sorted flat indices
        ``step·N + neuron`` of every nonzero output (``N`` the number of neurons, neurons flat
        over the population's shape), exactly ``torch.nonzero`` of :func:`integrate`'s output
        flattened.
    """
    index = None if record_index is None else _record_index(record_index, input_block, state)
    return _run(model.feed_forward_step, input_block, state, p, dt, record, index, events=True)


def integrate_spikes(
    model: NeuronModel,
    input_block: torch.Tensor,
    state: Any,
    p: Any,
    dt: float,
    record: Sequence[str] = (),
    record_index: Any = None,
) -> tuple[torch.Tensor, torch.Tensor, dict[str, torch.Tensor], Any]:
    """:func:`spike_events` as fresh CPU tensors ``(step (K,), neuron (K,), traces, final)``,
    ordered by step, then neuron: ``torch.nonzero`` of :func:`integrate`'s output reshaped to
    ``(T, N)``."""
    flat, neurons, traces, final = spike_events(
        model, input_block, state, p, dt, record, record_index
    )
    flat_t = torch.from_numpy(flat)  # maybe this thread's workspace: fresh results below
    return flat_t // neurons, flat_t % neurons, traces, final


def _needs_grad(input_tensor: torch.Tensor, state: Any, p: Any, layer: torch.nn.Module) -> bool:
    if not torch.is_grad_enabled():
        return False
    if input_tensor.requires_grad:
        return True
    for _, leaf in [*flatten(state), *flatten(p)]:
        if isinstance(leaf, torch.Tensor) and leaf.requires_grad:
            return True
    return any(param.requires_grad for param in layer.parameters())


def fused_layer_forward(layer: SNN, input_tensor: torch.Tensor, state: Any, p: Any) -> Any | None:
    """Fast path for :class:`simctl.neurons.SNN` layers; ``None`` means use the Python loop.

    Used only when no gradient is needed (``torch.no_grad()``, or nothing requires grad), so the
    result equals the loop's ``(stacked outputs, final state)``; the tests prove it.
    """
    if _needs_grad(input_tensor, state, p, layer):
        return None
    if select_backend(input_tensor) != "c":
        return None
    record_states = bool(getattr(layer, "record_states", False))
    record = tuple(path for path, _ in flatten(state)) if record_states else ()
    try:
        outputs, traces, final = run_fused(
            layer.activation, input_tensor, state, p, layer.dt, record
        )
    except FusedUnavailable as error:
        _log.debug("fused layer forward unavailable: %s", error)
        _last.update(backend="reference", reason=str(error))
        return None
    _last.update(backend="c", reason="")
    if record_states:  # every step's state, each field stacked along dim 0 (as the loop does)
        return outputs, unflatten(state, [traces[path] for path in record])
    return outputs, final


# the neuron library's layers use the fused loop once this package is imported
_base.install_fast_path(fused_layer_forward)
