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
import operator
import os
import weakref
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

from simctl.neurons import base as _base
from simctl.neurons.base import SNN, NeuronModel

from . import fused, triton_backend
from .fused import (
    BoundLaunch,
    FusedUnavailable,
    Workspace,
    broadcast_shapes,
    run_fused,
    run_fused_shaped,
)
from .trace import _fields, flatten, unflatten

__all__ = [
    "integrate",
    "integrate_spikes",
    "spike_events",
    "integrate_reference",
    "get_path",
    "fused_layer_forward",
    "fused_layer_call",
    "select_backend",
    "last_backend",
    "BACKENDS",
    "Workspace",
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


def _index_with(
    workspace: Workspace | None, record_index: Any, input_block: torch.Tensor, state: Any
) -> torch.Tensor | None:
    """:func:`_record_index`, remembered by ``workspace`` for the runner's blocks: the same
    index tensor (object and version) and input shape, and the state the workspace returned
    last (its arrays have the bound population's shape), give the same checked index."""
    if record_index is None:
        return None
    bound = workspace.bound if workspace is not None else None
    if bound is None or not isinstance(record_index, torch.Tensor):
        return _record_index(record_index, input_block, state)
    memo = workspace.index
    if (
        memo is not None
        and state is workspace.final
        and memo[0] is record_index
        and memo[1] == record_index._version
        and memo[2] == input_block.shape
        and memo[3] == bound.shape
    ):
        return memo[4]
    index = _record_index(record_index, input_block, state)
    if state is workspace.final:
        workspace.index = (record_index, record_index._version, input_block.shape, bound.shape)
        workspace.index += (index,)
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
    workspace: Workspace | None = None,
) -> tuple:
    """``(outputs, traces, final state)`` from the selected backend, the reference loop when
    it cannot run; with ``events``, ``(flat, N, traces, final state)`` (see
    :func:`spike_events`)."""
    backend = select_backend(input_block)
    if backend == "c":
        try:
            if workspace is not None:
                output, traces, final, shape = fused.run_fused_workspace(
                    step, input_block, state, p, dt, record, record_index, events, workspace
                )
            else:
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
    workspace: Workspace | None = None,
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
        workspace: a :class:`Workspace` for a caller that advances one population block
            after block (the runner): the C backend then binds the launch once and reuses
            its arrays, so **the traces are valid until the next call with this workspace
            and the final state until the call after it** (two state sets alternate; the
            state given is never written). Copy what must live longer.

    Returns:
        ``(outputs (T, *shape), {variable: (T, *shape)}, final state)``, equal to
        :func:`integrate_reference` (proven in ``tests/test_kernels.py``).
    """
    index = _index_with(workspace, record_index, input_block, state)
    return _run(model.feed_forward_step, input_block, state, p, dt, record, index, False, workspace)


def spike_events(
    model: NeuronModel,
    input_block: torch.Tensor,
    state: Any,
    p: Any,
    dt: float,
    record: Sequence[str] = (),
    record_index: Any = None,
    workspace: Workspace | None = None,
) -> tuple[np.ndarray, int, dict[str, torch.Tensor], Any]:
    """:func:`integrate` for a spiking population whose output is only needed as spike events.

    The streaming form (the runner's): the C backend never stores the ``(T, N)`` output block
    (each step's outputs are scanned while in L1 and only the indices of the nonzero ones are
    written), and the array is a view of this thread's reused event workspace, **valid only
    until the thread's next call**, so a block allocates nothing in proportion to its spikes;
    on other backends it is a fresh CPU array. ``workspace``: as for :func:`integrate`.

    Returns:
        ``(flat (K,) int64, N, {variable: trace}, final state)``: the sorted flat indices
        ``step·N + neuron`` of every nonzero output (``N`` the number of neurons, neurons flat
        over the population's shape), exactly ``torch.nonzero`` of :func:`integrate`'s output
        flattened.
    """
    index = _index_with(workspace, record_index, input_block, state)
    return _run(model.feed_forward_step, input_block, state, p, dt, record, index, True, workspace)


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


class _LayerCall:
    """A layer's cached, pre-bound fused call for one key (see :func:`fused_layer_call`).

    Valid while the layer still has the same step, ``dt``, state fallback (when it builds the
    initial state) and parameter tensors, each compared as the plan-key memo compares a leaf
    (:func:`simctl.kernels.fused._ident`: the same object, dtype and device, a scalar still a
    scalar holding the same value, since scalars are constants of the kernel and a write
    through ``.data`` bumps no version counter; a per-neuron tensor of the same shape and
    strides, since the kernel reads its values as they are). ``bound`` is None where the
    fused call declined this key (the layer's own path runs).
    """

    __slots__ = ("bound", "step", "dt", "fallback", "spec", "names", "tensors", "idents")
    __slots__ += ("params", "state_type", "initial")

    def __init__(self, layer: SNN, bound: BoundLaunch | None, initial: Any, p_flat: list) -> None:
        self.bound = bound
        self.step = layer.activation
        self.dt = layer.dt
        # weakly: a bound method holds its layer, and the cache must not keep layers alive
        self.fallback = _weak(layer.state_fallback)
        self.spec = layer._p_spec
        self.names = layer._p_names
        self.tensors = _p_tensors(layer) or []
        self.idents = [fused._ident(t) for t in self.tensors]
        leaves = dict(p_flat)
        #: the per-neuron parameters in the plan's order, as indices into ``tensors``
        by_id = {id(t): k for k, t in enumerate(self.tensors)}
        self.params = [by_id.get(id(leaves[path]), -1) for path in fused._per_neuron(None, p_flat)]
        if -1 in self.params:  # a per-neuron leaf that is not one of the layer's tensors
            self.bound = None
        self.state_type: Any = None
        #: dense copies of the initial state (None: built by the layer on every call)
        self.initial: list[torch.Tensor] | None = initial

    def current(self, layer: SNN) -> list[torch.Tensor] | None:
        """The layer's parameter tensors when the entry is still valid for it, else None."""
        if (
            layer.activation is not self.step
            or layer.dt != self.dt
            or layer._p_spec is not self.spec
            or layer._p_names is not self.names
            or layer.state_fallback is not self.fallback()
        ):
            return None
        tensors = _p_tensors(layer)
        if tensors is None or not all(map(operator.is_, tensors, self.tensors)):
            return None
        if [fused._ident(t) for t in tensors] != self.idents:  # a .data write or swap
            return None
        return tensors


def _weak(value: Any) -> Callable[[], Any]:
    """A weak reference to ``value`` (a strong one where it takes none)."""
    try:
        return weakref.ref(value)
    except TypeError:
        return lambda: value


def _p_tensors(layer: SNN) -> list[torch.Tensor] | None:
    """The layer's registered parameter tensors (``p``'s numeric leaves), in ``_p_names``
    order, as ``_rebuild_p`` finds them (parameters before buffers)."""
    names = layer._p_names
    parameters, buffers = layer._parameters, layer._buffers
    if not parameters:  # the usual layer: every field a buffer
        try:
            return [buffers[name] for name in names]
        except KeyError:
            return None
    out = []
    for name in names:
        tensor = parameters.get(name)
        if tensor is None:
            tensor = buffers.get(name)
            if tensor is None:
                return None
        out.append(tensor)
    return out


#: per layer, its :class:`_LayerCall` entries by key (weak: a dropped layer drops its cache;
#: nothing is stored on the module, so pickling and ``deepcopy`` see no cache)
_layer_calls: weakref.WeakKeyDictionary[SNN, OrderedDict[Any, _LayerCall]] = (
    weakref.WeakKeyDictionary()
)
#: entries kept per layer (keys: input shape, strides, dtype, device and the state's layout)
MAX_LAYER_CALLS = 8


def _state_key(state: Any) -> Any:
    """The layout of a flat state NamedTuple of tensors, False for any other state."""
    if _fields(type(state)) is None:
        return False
    key = [type(state)]
    for leaf in state:
        if type(leaf) is not torch.Tensor or leaf.layout is not torch.strided:
            return False
        key.append((leaf.shape, leaf.stride(), leaf.dtype, leaf.device))
    return tuple(key)


#: the mapping behind ``os.environ`` and the encoded ``SIMCTL_KERNELS`` key: the layer call
#: checks the variable is unset with one dict look-up (``os.environ.get`` decodes, ~1 µs);
#: ``os.environ`` writes go through that mapping, so a change is seen at once
_ENVIRON_DATA: Any = getattr(os.environ, "_data", None)
try:
    _ENV_KEY: Any = os.environ.encodekey("SIMCTL_KERNELS")  # type: ignore[attr-defined]
except AttributeError:  # another os.environ: always os.environ.get
    _ENVIRON_DATA = None
if not isinstance(_ENVIRON_DATA, dict):
    _ENVIRON_DATA = None


def fused_layer_call(layer: SNN, input_tensor: torch.Tensor, state: Any) -> Any | None:
    """The cached fast path of ``layer(input, state)`` (:class:`simctl.neurons.SNN`), tried
    before anything else in ``forward``; ``None`` means: run the layer's own ``forward``.

    A call with no gradient to record, on the C backend (a CPU input), is keyed by the
    input's shape, strides and dtype and the state's layout (or ``state is None``). The first
    call of a key runs as :func:`fused_layer_forward` does and binds the launch
    (:class:`~simctl.kernels.fused.BoundLaunch`) and, where the layer's initial state is the
    model's (a function of shape, dtype, device and scalar parameters), a copy of that state;
    later calls only check that the parameters are unchanged (:class:`_LayerCall`), copy the
    state, allocate the output and launch: about 15 µs instead of 100 for a tiny block.
    Outputs and final state are fresh tensors, equal to the layer's own path's.
    """
    if (
        type(input_tensor) is not torch.Tensor
        or input_tensor.layout is not torch.strided
        or not input_tensor.is_cpu  # the C backend: every key is a CPU input's
        or input_tensor.dim() < 1
        or layer.record_states
        or _base.is_tracing()
    ):
        return None
    grad = torch.is_grad_enabled()
    if grad and (state is None or input_tensor.requires_grad):
        return None  # the initial v requires grad (Norse's convention): the loop records it
    if state is None:
        key: Any = (input_tensor.shape, input_tensor.stride(), input_tensor.dtype, None)
    else:
        state_key = _state_key(state)
        if state_key is False:
            return None
        key = (input_tensor.shape, input_tensor.stride(), input_tensor.dtype, state_key)
    if _ENVIRON_DATA is None or _ENVIRON_DATA.get(_ENV_KEY) is not None:
        if _requested() not in ("auto", "c"):  # SIMCTL_KERNELS is set: parse it
            return None
    calls = _layer_calls.get(layer)
    entry = calls.get(key) if calls is not None else None
    tensors = entry.current(layer) if entry is not None else None
    if tensors is None:
        return _bind_layer_call(layer, input_tensor, state, key, grad)
    bound = entry.bound
    if bound is None:
        return None
    if grad and _needs_grad(input_tensor, state, layer.p, layer):
        return None
    if state is None:
        if entry.initial is not None:
            new_state = [leaf.clone() for leaf in entry.initial]  # detached, dense
            state_type = entry.state_type
        else:
            initial = layer.state_fallback(input_tensor)
            new_state = bound.new_state([leaf for _, leaf in flatten(initial)])
            state_type = type(initial)
    else:
        new_state = bound.new_state(state)
        state_type = type(state)
    params = [tensors[k] for k in entry.params] if entry.params else ()
    output = bound.run(input_tensor, new_state, params)
    _last["backend"], _last["reason"] = "c", ""
    return output, state_type(*new_state)


def _bind_layer_call(
    layer: SNN, input_tensor: torch.Tensor, state: Any, key: Any, grad: bool
) -> Any | None:
    """A cache miss of :func:`fused_layer_call`: the layer's own checks, initial state and
    fused call, and the entry for the next calls; None where the layer's own path must run."""
    layer._check_per_neuron(tuple(input_tensor.shape), time_dim=True)
    given = state
    state = layer.state_fallback(input_tensor) if given is None else given
    p = layer.p
    if grad and _needs_grad(input_tensor, state, p, layer):
        return None
    if select_backend(input_tensor) != "c":
        return None
    bind: list[fused.BoundLaunch] = []
    try:
        output, _, final, _ = run_fused_shaped(
            layer.activation, input_tensor, state, p, layer.dt, (), None, False, bind
        )
    except FusedUnavailable as error:
        _log.debug("fused layer forward unavailable: %s", error)
        _last.update(backend="reference", reason=str(error))
        bound = None
        output = final = None
    else:
        _last.update(backend="c", reason="")
        bound = bind[0] if bind else None
    cacheable = (
        _state_key(state) is not False
        and all(type(leaf) is torch.Tensor for leaf in state)
        and isinstance(layer.dt, (int, float))
    )
    if cacheable:
        p_flat = flatten(p)
        initial = None
        if given is None and bound is not None and _pure_initial(layer, p_flat):
            initial = bound.new_state(list(state))
        entry = _LayerCall(layer, bound, initial, p_flat)
        entry.state_type = type(state)
        if _p_tensors(layer) is not None:
            calls = _layer_calls.get(layer)
            if calls is None:
                calls = _layer_calls[layer] = OrderedDict()
            calls[key] = entry
            while len(calls) > MAX_LAYER_CALLS:
                calls.popitem(last=False)
    if output is None:
        return None  # declined: the layer's own path (the loop) runs
    return output, final


def _pure_initial(layer: SNN, p_flat: list[tuple[str, Any]]) -> bool:
    """Whether the layer's initial state may be built once per key: the state fallback is a
    model's own (:func:`simctl.neurons._modules.model_modules` marks those: a function of the
    shape, dtype, device and parameters) and every parameter is a scalar (whose values the
    cache compares)."""
    function = getattr(layer.state_fallback, "__func__", None)
    if not getattr(function, "_simctl_pure_state", False):
        return False
    return all(not isinstance(leaf, torch.Tensor) or leaf.numel() == 1 for _, leaf in p_flat)


# the neuron library's layers use the fused loop once this package is imported
_base.install_fast_path(fused_layer_forward, fused_layer_call)
