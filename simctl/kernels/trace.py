"""Records one call of a model's pure step function as an elementwise op graph.

The fused kernels never restate a model's equations: :func:`trace_step` runs the library's own
step function once, on small stand-in tensors, under a :class:`TorchDispatchMode` that writes
down every ATen operation with its operands, its result dtype and the dtype it computes in. The
C code generator (:mod:`simctl.kernels.codegen`) turns that graph into a whole-loop kernel, so
the step function stays the single source of truth for every model, including ones added later.

Only elementwise operations on tensors that are either per-neuron (the state, the input, a
per-neuron parameter) or scalar are accepted; anything else (a reduction, a reshape that mixes
neurons, a value read back into Python from per-neuron data) raises :class:`Unsupported` and the
caller falls back to the reference loop.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from torch.utils._python_dispatch import TorchDispatchMode

__all__ = ["Unsupported", "Graph", "Node", "trace_step", "flatten", "unflatten"]

# the stand-in length for per-neuron tensors: a prime, so that a mixing reshape shows up
STANDIN = 7

_SUPPORTED_DTYPES = (
    torch.float32,
    torch.float64,
    torch.bool,
    torch.int64,
    torch.int32,
    torch.uint8,
    torch.int8,
    torch.int16,
)


class Unsupported(Exception):
    """The step function uses something the fused kernels cannot express."""


@dataclass
class Node:
    """One elementwise operation.

    ``args`` holds value references: ``("in", k)`` the k-th graph input, ``("n", k)`` the result
    of node k, ``("c", k)`` constant slot k. ``compute`` is the dtype the operation computes in
    (operands are cast to it first), ``dtype`` the result's.
    """

    op: str
    args: tuple[Any, ...]
    dtype: torch.dtype
    compute: torch.dtype
    attrs: tuple[Any, ...] = ()


@dataclass
class Graph:
    """The traced step: inputs (input, state leaves, per-neuron parameters), nodes, outputs."""

    inputs: list[tuple[str, torch.dtype]]
    nodes: list[Node] = field(default_factory=list)
    consts: list[float] = field(default_factory=list)
    output: Any = None
    state_out: list[Any] = field(default_factory=list)


def flatten(value: Any, prefix: str = "") -> list[tuple[str, Any]]:
    """``[(dotted path, leaf)]`` of a (nested) NamedTuple; a bare tensor is the leaf ``""``."""
    if isinstance(value, tuple) and hasattr(value, "_fields"):
        leaves: list[tuple[str, Any]] = []
        for name in value._fields:
            leaves.extend(flatten(getattr(value, name), f"{prefix}{name}."))
        return leaves
    return [(prefix[:-1], value)]


def unflatten(template: Any, leaves: list[Any]) -> Any:
    """Rebuilds ``template``'s NamedTuple structure from leaves in :func:`flatten` order."""
    iterator = iter(leaves)

    def build(node: Any) -> Any:
        if isinstance(node, tuple) and hasattr(node, "_fields"):
            return type(node)(*[build(getattr(node, f)) for f in node._fields])
        return next(iterator)

    return build(template)


# op name -> (kind, arity): "arith" computes in the promoted dtype and returns it; "cmp" computes
# in the promoted dtype and returns bool; "unary_f" returns a float (int promoted to default).
_BINARY_ARITH = {"add", "sub", "rsub", "mul", "div", "maximum", "minimum", "pow", "remainder"}
_BINARY_CMP = {"gt", "ge", "lt", "le", "eq", "ne"}
_BINARY_LOGICAL = {"logical_and", "logical_or", "logical_xor"}
_BINARY_BITWISE = {"bitwise_and", "bitwise_or", "bitwise_xor"}
_UNARY_FLOAT = {
    "exp",
    "log",
    "sqrt",
    "rsqrt",
    "reciprocal",
    "sigmoid",
    "tanh",
    "expm1",
    "log1p",
    "sin",
    "cos",
    "atan",
    "erf",
    "erfc",
}
_UNARY_SAME = {"neg", "abs", "relu", "sign", "floor", "ceil", "round", "trunc", "square"}
_IDENTITY = {
    "alias",
    "detach",
    "expand",
    "view",
    "_unsafe_view",
    "reshape",
    "clone",
    "lift_fresh",
    "lift_fresh_copy",
    "contiguous",
    "unsqueeze",
    "squeeze",
    "_reshape_alias",
    "positive",
    "resolve_conj",
    "resolve_neg",
}
_CREATE_LIKE = {"zeros_like": 0.0, "ones_like": 1.0, "empty_like": 0.0}
_CREATE = {"zeros": 0.0, "ones": 1.0, "empty": 0.0}


class _Recorder(TorchDispatchMode):
    @classmethod
    def _should_skip_dynamo(cls) -> bool:
        # torch wraps a mode's __torch_dispatch__ in a dynamo guard whose first call imports
        # torch._dynamo (1.5 s); the recorder never runs under torch.compile, so skip it
        return False

    def __init__(self, graph: Graph, scalars: dict[int, float]):
        super().__init__()
        self.graph = graph
        self.refs: dict[int, tuple[str, int]] = {}
        self.keep: list[Any] = []  # keeps traced tensors alive so their ids stay unique
        self.scalars = scalars  # id of a scalar parameter tensor -> its value

    # -- operands ---------------------------------------------------------------------------
    def const(self, value: Any) -> tuple[str, int]:
        self.graph.consts.append(float(value))
        return ("c", len(self.graph.consts) - 1)

    def ref(self, value: Any) -> tuple[str, int]:
        if isinstance(value, torch.Tensor):
            known = self.refs.get(id(value))
            if known is not None:
                return known
            if value.numel() == 1 and value.dtype in _SUPPORTED_DTYPES:
                return self.const(value.item())  # a constant made inside the step
            raise Unsupported(f"a non-scalar tensor of shape {tuple(value.shape)} from outside")
        if isinstance(value, (bool, int, float)):
            return self.const(value)
        raise Unsupported(f"operand of type {type(value).__name__}")

    def bind(self, tensor: torch.Tensor, ref: tuple[str, int]) -> None:
        if tensor.numel() != 1 and (tensor.numel() != STANDIN or max(tensor.shape) != STANDIN):
            raise Unsupported(f"result of shape {tuple(tensor.shape)} mixes neurons")
        if tensor.dtype not in _SUPPORTED_DTYPES:
            raise Unsupported(f"dtype {tensor.dtype}")
        self.keep.append(tensor)
        self.refs[id(tensor)] = ref

    def emit(
        self,
        tensor: torch.Tensor,
        op: str,
        args: tuple[Any, ...],
        compute: torch.dtype,
        attrs: tuple[Any, ...] = (),
    ) -> None:
        self.graph.nodes.append(Node(op, args, tensor.dtype, compute, attrs))
        self.bind(tensor, ("n", len(self.graph.nodes) - 1))

    # -- dispatch ---------------------------------------------------------------------------
    def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # type: ignore[override]
        kwargs = kwargs or {}
        name = func.__name__.split(".")[0]
        if name == "_local_scalar_dense":
            tensor = args[0]
            if id(tensor) in self.scalars or id(tensor) not in self.refs:
                return func(*args, **kwargs)  # a scalar parameter: its value is in the memo key
            raise Unsupported("the step reads a per-neuron value back into Python")
        out = func(*args, **kwargs)
        self.record(name, func, args, kwargs, out)
        return out

    def record(self, name: str, func: Any, args: Any, kwargs: dict, out: Any) -> None:
        inplace = name.endswith("_") and not name.startswith("_")
        base = name[:-1] if inplace else name
        if base in _IDENTITY:
            if kwargs.get("memory_format") not in (
                None,
                torch.contiguous_format,
                torch.preserve_format,
            ):
                raise Unsupported("memory format")
            self.bind(out, self.ref(args[0]))
            return
        if base == "_to_copy" or base == "to":
            dtype = kwargs.get("dtype", out.dtype)
            self.emit(out, "cast", (self.ref(args[0]),), dtype)
            return
        if base == "copy":  # dst.copy_(src): dst takes src's values in dst's dtype
            self.emit(out, "cast", (self.ref(args[1]),), out.dtype)
            return
        if base == "fill":
            self.emit(out, "cast", (self.ref(args[1]),), out.dtype)
            return
        if base in _CREATE_LIKE or base in _CREATE:
            value = _CREATE_LIKE.get(base, _CREATE.get(base))
            self.emit(out, "cast", (self.const(value),), out.dtype)
            return
        if base in ("full_like", "full", "new_full", "scalar_tensor"):
            value = args[1] if base != "scalar_tensor" else args[0]
            self.emit(out, "cast", (self.ref(value),), out.dtype)
            return
        if base in ("new_zeros", "new_ones"):
            self.emit(out, "cast", (self.const(1.0 if base == "new_ones" else 0.0),), out.dtype)
            return
        if base in _BINARY_ARITH or base in _BINARY_CMP:
            if len(args) != 2 or set(kwargs) - {"alpha"}:
                raise Unsupported(f"{func} with {kwargs}")
            a, b = args
            if base == "pow" and not isinstance(b, (int, float)):
                raise Unsupported("pow with a tensor exponent")
            compute = torch.result_type(a, b) if base != "pow" else out.dtype
            if base == "div" and compute not in (torch.float32, torch.float64):
                compute = out.dtype
            alpha = kwargs.get("alpha", 1)
            if alpha != 1:
                raise Unsupported("alpha != 1")
            attrs: tuple[Any, ...] = (b,) if base == "pow" else ()
            refs = (self.ref(a),) if base == "pow" else (self.ref(a), self.ref(b))
            self.emit(out, base, refs, compute, attrs)
            return
        if base in _BINARY_LOGICAL or base in _BINARY_BITWISE:
            a, b = args
            compute = torch.bool if base in _BINARY_LOGICAL else torch.result_type(a, b)
            self.emit(out, base, (self.ref(a), self.ref(b)), compute)
            return
        if base in ("logical_not", "bitwise_not"):
            self.emit(out, base, (self.ref(args[0]),), args[0].dtype)
            return
        if base in _UNARY_FLOAT or base in _UNARY_SAME:
            if len(args) != 1 or kwargs:
                raise Unsupported(f"{func} with arguments")
            self.emit(out, base, (self.ref(args[0]),), out.dtype)
            return
        if base == "where":
            cond, a, b = args
            compute = torch.result_type(a, b)
            self.emit(out, "where", (self.ref(cond), self.ref(a), self.ref(b)), compute)
            return
        if base == "masked_fill":
            x, mask, value = args
            self.emit(out, "where", (self.ref(mask), self.ref(value), self.ref(x)), out.dtype)
            return
        if base in ("clamp", "clamp_min", "clamp_max"):
            x = args[0]
            lo = args[1] if base in ("clamp", "clamp_min") and len(args) > 1 else None
            hi = args[2] if base == "clamp" and len(args) > 2 else None
            if base == "clamp_max":
                lo, hi = None, args[1]
            lo = kwargs.get("min", lo)
            hi = kwargs.get("max", hi)
            refs = [self.ref(x)]
            flags = []
            for bound in (lo, hi):
                flags.append(bound is not None)
                if bound is not None:
                    refs.append(self.ref(bound))
            self.emit(out, "clamp", tuple(refs), out.dtype, tuple(flags))
            return
        raise Unsupported(f"operation {func}")


def _standin(tensor: torch.Tensor) -> torch.Tensor:
    """A small tensor with the same dtype and promotion category (0-dim stays 0-dim)."""
    if tensor.dim() == 0:
        return tensor.detach().clone()
    flat = tensor.detach().reshape(-1)
    values = flat[:STANDIN] if flat.numel() >= STANDIN else flat[:1].expand(STANDIN)
    if flat.numel() == 0:
        return torch.zeros(STANDIN, dtype=tensor.dtype)
    return values.to("cpu").clone()


def trace_step(
    step: Any,
    input_standin: torch.Tensor,
    state: Any,
    p: Any,
    dt: Any,
    per_neuron_params: list[str],
) -> tuple[Graph, Any]:
    """Traces ``step(input, state, p, dt)`` once.

    Args:
        step: the pure step function.
        input_standin: a per-neuron stand-in of the input (dtype matters, values do not).
        state: the state (only the structure, dtypes and dims of its leaves matter).
        p: the parameters; fields named in ``per_neuron_params`` become graph inputs, every other
            numeric value is folded in as a constant of the trace.
        dt: the step.
        per_neuron_params: dotted paths of the per-neuron parameter tensors.

    Returns:
        ``(graph, output template)`` where the graph's inputs are, in order: the input, every
        state leaf (in :func:`flatten` order), every per-neuron parameter.
    """
    graph = Graph(inputs=[])
    scalars: dict[int, float] = {}
    recorder = _Recorder(graph, scalars)

    x = _standin(input_standin)
    if x.dim() == 0:
        x = x.expand(STANDIN).clone()
    graph.inputs.append(("x", x.dtype))
    recorder.bind(x, ("in", 0))

    state_leaves = []
    for path, leaf in flatten(state):
        if not isinstance(leaf, torch.Tensor):
            raise Unsupported(f"state leaf {path!r} is not a tensor")
        standin = _standin(leaf)
        if standin.dim() == 0:
            if leaf.dtype != x.dtype:
                raise Unsupported("0-dim state leaf of another dtype")
            standin = standin.expand(STANDIN).clone()
        graph.inputs.append((f"s:{path}", standin.dtype))
        recorder.bind(standin, ("in", len(graph.inputs) - 1))
        state_leaves.append(standin)
    traced_state = unflatten(state, state_leaves)

    p_leaves = []
    for path, leaf in flatten(p):
        if isinstance(leaf, torch.Tensor):
            if leaf.requires_grad:
                leaf = leaf.detach()
            standin = _standin(leaf)
            if path in per_neuron_params:
                graph.inputs.append((f"p:{path}", standin.dtype))
                recorder.bind(standin, ("in", len(graph.inputs) - 1))
            else:
                if standin.dtype not in _SUPPORTED_DTYPES:
                    raise Unsupported(f"parameter {path!r} of dtype {standin.dtype}")
                scalars[id(standin)] = float(standin.reshape(-1)[0])
                recorder.bind(standin, recorder.const(standin.reshape(-1)[0].item()))
            p_leaves.append(standin)
        else:
            p_leaves.append(leaf)
    traced_p = unflatten(p, p_leaves) if hasattr(p, "_fields") else p_leaves[0]

    with torch.no_grad(), recorder:
        output, new_state = step(x, traced_state, traced_p, dt)

    graph.output = recorder.ref(output)
    new_leaves = flatten(new_state)
    old_leaves = flatten(state)
    if [path for path, _ in new_leaves] != [path for path, _ in old_leaves]:
        raise Unsupported("the step changes the state's structure")
    for (path, new), (_, old) in zip(new_leaves, old_leaves, strict=True):
        if not isinstance(new, torch.Tensor) or new.dtype != old.dtype:
            raise Unsupported(f"state leaf {path!r} changes dtype")
        graph.state_out.append(recorder.ref(new))
    if not isinstance(output, torch.Tensor):
        raise Unsupported("the step's output is not a tensor")
    return graph, output.dtype
