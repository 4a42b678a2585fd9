"""Records one call of a model's pure step function as an elementwise op graph.

The fused kernels never restate a model's equations: :func:`trace_step` traces the library's own
step function once, on small stand-in tensors, with torch's public graph capture:
``torch.fx.experimental.proxy_tensor.make_fx`` of ``torch.func.functionalize(step)``. The
functionalised ATen graph has no views and no in-place operations left (a view of a tensor that
is later mutated is re-derived from the mutated value, as eager torch sees it), so every graph
node is a pure function of its operands and values are followed by graph node, not by tensor
identity. Each node's ATen overload (``torch.ops.aten.add.Tensor`` ...) is matched against
tables of overload objects and becomes one :class:`Node` of the :class:`Graph` the C code
generator (:mod:`simctl.kernels.codegen`) turns into a whole-loop kernel, so the step function
stays the single source of truth for every model, including ones added later.

Only elementwise operations on values that are either per-neuron (the state, the input, a
per-neuron parameter) or scalar are accepted. Anything else raises :class:`Unsupported` with the
reason, and the caller runs the reference loop instead: an overload outside the tables (a
reduction, an indexing or layout op, a random number), a value read back into Python from
per-neuron data (data-dependent control flow), a result whose shape mixes neurons, a mutation of
the step's own arguments, or a constant tensor from outside the step that is not a scalar.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import torch

__all__ = ["Unsupported", "Graph", "Node", "trace_step", "flatten", "unflatten", "STANDIN"]

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

    def needed(self) -> set[int]:
        """Indices of the nodes the output and the new state depend on (the rest is dead)."""
        needed: set[int] = set()
        stack = [self.output, *self.state_out]
        while stack:
            kind, k = stack.pop()
            if kind == "n" and k not in needed:
                needed.add(k)
                stack.extend(arg for arg in self.nodes[k].args if isinstance(arg, tuple))
        return needed


#: NamedTuple type -> its field names; None for every other type (flatten runs on every call)
_FIELDS: dict[type, tuple[str, ...] | None] = {}


def _fields(cls: type) -> tuple[str, ...] | None:
    try:
        return _FIELDS[cls]
    except KeyError:
        fields = getattr(cls, "_fields", None) if issubclass(cls, tuple) else None
        _FIELDS[cls] = fields
        return fields


def flatten(value: Any, prefix: str = "") -> list[tuple[str, Any]]:
    """``[(dotted path, leaf)]`` of a (nested) NamedTuple; a bare tensor is the leaf ``""``."""
    fields = _fields(type(value))
    if fields is None:
        return [(prefix[:-1], value)]
    leaves: list[tuple[str, Any]] = []
    for name, leaf in zip(fields, value, strict=True):
        if _fields(type(leaf)) is None:
            leaves.append((prefix + name, leaf))
        else:
            leaves.extend(flatten(leaf, f"{prefix}{name}."))
    return leaves


def unflatten(template: Any, leaves: list[Any]) -> Any:
    """Rebuilds ``template``'s NamedTuple structure from leaves in :func:`flatten` order."""
    iterator = iter(leaves)

    def build(node: Any) -> Any:
        cls = type(node)
        if _fields(cls) is None:
            return next(iterator)
        return cls(*[build(field) for field in node])

    return build(template)


# --------------------------------------------------------------------------------------------
# the op tables: ATen overloads (objects, not names) -> the codegen's operation names

aten = torch.ops.aten


def _overloads(packet: Any, *names: str) -> list[Any]:
    """The named overloads of an op packet that this torch provides."""
    return [getattr(packet, name) for name in names if name in packet.overloads()]


def _table(entries: dict[str, list[Any]]) -> dict[Any, str]:
    return {overload: op for op, overloads in entries.items() for overload in overloads}


#: ops whose result holds its first operand's values unchanged, neuron for neuron
_IDENTITY = frozenset(
    [
        *_overloads(aten.view_copy, "default"),
        *_overloads(aten.view, "default"),
        *_overloads(aten._unsafe_view, "default"),
        *_overloads(aten.alias_copy, "default"),
        *_overloads(aten.alias, "default"),
        *_overloads(aten.detach_copy, "default"),
        *_overloads(aten.detach, "default"),
        *_overloads(aten.clone, "default"),
        *_overloads(aten.expand_copy, "default"),
        *_overloads(aten.expand, "default"),
        *_overloads(aten.unsqueeze_copy, "default"),
        *_overloads(aten.unsqueeze, "default"),
        *_overloads(aten.squeeze_copy, "default", "dim", "dims"),
        *_overloads(aten.squeeze, "default", "dim", "dims"),
        *_overloads(aten.lift_fresh_copy, "default"),
        *_overloads(aten.lift_fresh, "default"),
        *_overloads(aten.positive, "default"),
        *_overloads(aten.resolve_conj, "default"),
        *_overloads(aten.resolve_neg, "default"),
    ]
)

#: binary ops computed in the promoted dtype of their operands
_ARITH = _table(
    {
        "add": _overloads(aten.add, "Tensor", "Scalar"),
        "sub": _overloads(aten.sub, "Tensor", "Scalar"),
        "rsub": _overloads(aten.rsub, "Tensor", "Scalar"),
        "mul": _overloads(aten.mul, "Tensor", "Scalar"),
        "div": _overloads(aten.div, "Tensor", "Scalar", "Tensor_mode", "Scalar_mode"),
        "maximum": _overloads(aten.maximum, "default"),
        "minimum": _overloads(aten.minimum, "default"),
    }
)
_COMPARE = _table(
    {
        name: _overloads(getattr(aten, name), "Tensor", "Scalar")
        for name in ("gt", "ge", "lt", "le", "eq", "ne")
    }
)
_LOGICAL = _table(
    {
        name: _overloads(getattr(aten, name), "default")
        for name in ("logical_and", "logical_or", "logical_xor")
    }
)
_BITWISE = _table(
    {
        name: _overloads(getattr(aten, name), "Tensor", "Scalar")
        for name in ("bitwise_and", "bitwise_or", "bitwise_xor")
    }
)
_NOT = _table(
    {
        "logical_not": _overloads(aten.logical_not, "default"),
        "bitwise_not": _overloads(aten.bitwise_not, "default"),
    }
)
#: unary ops computed in the result's dtype (an integer operand is cast to it first)
_UNARY = _table(
    {
        name: _overloads(getattr(aten, name), "default")
        for name in (
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
            "neg",
            "abs",
            "relu",
            "sign",
            "floor",
            "ceil",
            "round",
            "trunc",
            "square",
        )
    }
)
_POW = frozenset(_overloads(aten.pow, "Tensor_Scalar"))
_WHERE = frozenset(_overloads(aten.where, "self", "ScalarOther", "ScalarSelf", "Scalar"))
_MASKED_FILL = frozenset(_overloads(aten.masked_fill, "Scalar", "Tensor"))
#: clamp overloads -> (index of the min operand, index of the max operand), None where absent
_CLAMP = {
    **{overload: (1, 2) for overload in _overloads(aten.clamp, "default", "Tensor")},
    **{overload: (1, None) for overload in _overloads(aten.clamp_min, "default", "Tensor")},
    **{overload: (None, 1) for overload in _overloads(aten.clamp_max, "default", "Tensor")},
}
#: ops whose result is ``cast(operand k)`` in the result's dtype (k = None: the constant below)
_CAST_OF = {
    **{overload: 0 for overload in _overloads(aten._to_copy, "default")},
    **{overload: 1 for overload in _overloads(aten.copy, "default")},
    **{overload: 1 for overload in _overloads(aten.fill, "Scalar", "Tensor")},
    **{overload: 1 for overload in _overloads(aten.full_like, "default")},
    **{overload: 1 for overload in _overloads(aten.full, "default")},
    **{overload: 2 for overload in _overloads(aten.new_full, "default")},
    **{overload: 0 for overload in _overloads(aten.scalar_tensor, "default")},
}
#: factories of a constant value
_CREATE = {
    **{overload: 0.0 for overload in _overloads(aten.zeros_like, "default")},
    **{overload: 1.0 for overload in _overloads(aten.ones_like, "default")},
    **{overload: 0.0 for overload in _overloads(aten.empty_like, "default")},
    **{overload: 0.0 for overload in _overloads(aten.zeros, "default")},
    **{overload: 1.0 for overload in _overloads(aten.ones, "default")},
    **{overload: 0.0 for overload in _overloads(aten.empty, "memory_format")},
    **{overload: 0.0 for overload in _overloads(aten.new_zeros, "default")},
    **{overload: 1.0 for overload in _overloads(aten.new_ones, "default")},
    **{overload: 0.0 for overload in _overloads(aten.new_empty, "default")},
}
_IN_PLACE_COPY = frozenset(_overloads(aten.copy_, "default"))
#: every overload the converter accepts
_KNOWN = frozenset(
    [
        *_IDENTITY,
        *_ARITH,
        *_COMPARE,
        *_LOGICAL,
        *_BITWISE,
        *_NOT,
        *_UNARY,
        *_POW,
        *_WHERE,
        *_MASKED_FILL,
        *_CLAMP,
        *_CAST_OF,
        *_CREATE,
    ]
)


# --------------------------------------------------------------------------------------------
# graph conversion


class _Converter:
    """Turns the functionalised FX graph into a :class:`Graph`, node by node, evaluating each
    node on the stand-ins to know its dtype, shape and (for constants) value."""

    def __init__(self, graph: Graph, module: torch.fx.GraphModule):
        self.graph = graph
        self.module = module
        self.refs: dict[torch.fx.Node, tuple[str, int]] = {}
        self.values: dict[torch.fx.Node, Any] = {}

    # -- operands ---------------------------------------------------------------------------
    def const(self, value: Any) -> tuple[str, int]:
        self.graph.consts.append(float(value))
        return ("c", len(self.graph.consts) - 1)

    def ref(self, arg: Any) -> tuple[str, int]:
        if isinstance(arg, torch.fx.Node):
            return self.refs[arg]
        if isinstance(arg, (bool, int, float)):
            return self.const(arg)
        raise Unsupported(f"operand of type {type(arg).__name__}")

    def value(self, arg: Any) -> Any:
        return self.values[arg] if isinstance(arg, torch.fx.Node) else arg

    def bind(self, node: torch.fx.Node, value: Any, ref: tuple[str, int]) -> None:
        if not isinstance(value, torch.Tensor):
            raise Unsupported(f"{node.target} gives a {type(value).__name__}, not a tensor")
        if value.numel() != 1 and (value.numel() != STANDIN or max(value.shape) != STANDIN):
            raise Unsupported(f"{node.target} gives shape {tuple(value.shape)}: mixes neurons")
        if value.dtype not in _SUPPORTED_DTYPES:
            raise Unsupported(f"{node.target} gives dtype {value.dtype}")
        self.values[node] = value
        self.refs[node] = ref

    def emit(
        self,
        node: torch.fx.Node,
        value: torch.Tensor,
        op: str,
        args: tuple[Any, ...],
        compute: torch.dtype,
        attrs: tuple[Any, ...] = (),
    ) -> None:
        if not isinstance(value, torch.Tensor):
            raise Unsupported(f"{node.target} gives a {type(value).__name__}, not a tensor")
        self.graph.nodes.append(Node(op, args, value.dtype, compute, attrs))
        self.bind(node, value, ("n", len(self.graph.nodes) - 1))

    # -- nodes ------------------------------------------------------------------------------
    def constant(self, node: torch.fx.Node) -> None:
        value = self.module
        for part in str(node.target).split("."):
            value = getattr(value, part)
        if not isinstance(value, torch.Tensor) or value.numel() != 1:
            shape = tuple(value.shape) if isinstance(value, torch.Tensor) else type(value).__name__
            raise Unsupported(f"a non-scalar tensor of shape {shape} from outside the step")
        if value.dtype not in _SUPPORTED_DTYPES:
            raise Unsupported(f"a constant of dtype {value.dtype}")
        self.bind(node, value, self.const(value.reshape(-1)[0].item()))

    def call(self, node: torch.fx.Node) -> None:
        target = node.target
        args = tuple(self.value(a) for a in node.args)
        kwargs = {k: self.value(v) for k, v in node.kwargs.items()}
        if target in _IN_PLACE_COPY:
            raise Unsupported("the step mutates one of its arguments in place")
        if target not in _KNOWN:
            raise Unsupported(f"operation {target}")
        out = target(*args, **kwargs)
        a = node.args
        if target in _IDENTITY:
            if kwargs.get("memory_format") not in (
                None,
                torch.contiguous_format,
                torch.preserve_format,
            ):
                raise Unsupported(f"{target} with memory format {kwargs['memory_format']}")
            source = args[0]
            if source.numel() != 1 and source.numel() != out.numel():
                raise Unsupported(f"{target} changes the number of elements")
            self.bind(node, out, self.ref(a[0]))
        elif target in _CAST_OF:
            source = self.operand(node, _CAST_OF[target])
            self.emit(node, out, "cast", (self.ref(source),), out.dtype)
        elif target in _CREATE:
            fill = _CREATE[target]
            self.emit(node, out, "cast", (self.const(fill),), out.dtype)
        elif target in _ARITH or target in _COMPARE:
            op = _ARITH.get(target) or _COMPARE[target]
            if kwargs.get("alpha", 1) != 1:
                raise Unsupported(f"{target} with alpha={kwargs['alpha']}")
            if kwargs.get("rounding_mode") is not None:
                raise Unsupported(f"{target} with rounding_mode={kwargs['rounding_mode']!r}")
            if set(kwargs) - {"alpha", "rounding_mode"} or len(args) != 2:
                raise Unsupported(f"{target} with arguments {tuple(kwargs)}")
            compute = torch.result_type(*args)
            if op == "div" and compute not in (torch.float32, torch.float64):
                compute = out.dtype  # true division of integers
            self.emit(node, out, op, (self.ref(a[0]), self.ref(a[1])), compute)
        elif target in _LOGICAL or target in _BITWISE:
            op = _LOGICAL.get(target) or _BITWISE[target]
            compute = torch.bool if target in _LOGICAL else torch.result_type(*args)
            self.emit(node, out, op, (self.ref(a[0]), self.ref(a[1])), compute)
        elif target in _NOT:
            self.emit(node, out, _NOT[target], (self.ref(a[0]),), args[0].dtype)
        elif target in _UNARY:
            if len(args) != 1 or kwargs:
                raise Unsupported(f"{target} with arguments")
            self.emit(node, out, _UNARY[target], (self.ref(a[0]),), out.dtype)
        elif target in _POW:
            exponent = args[1]
            if not isinstance(exponent, (int, float)) or isinstance(exponent, bool):
                raise Unsupported(f"{target} with exponent {exponent!r}")
            self.emit(node, out, "pow", (self.ref(a[0]),), out.dtype, (exponent,))
        elif target in _WHERE:
            refs = (self.ref(a[0]), self.ref(a[1]), self.ref(a[2]))
            self.emit(node, out, "where", refs, out.dtype)
        elif target in _MASKED_FILL:
            refs = (self.ref(a[1]), self.ref(a[2]), self.ref(a[0]))
            self.emit(node, out, "where", refs, out.dtype)
        elif target in _CLAMP:
            lo_at, hi_at = _CLAMP[target]
            refs = [self.ref(a[0])]
            flags = []
            for at, name in ((lo_at, "min"), (hi_at, "max")):
                bound = None if at is None else self.operand(node, at, name)
                flags.append(bound is not None)
                if bound is not None:
                    refs.append(self.ref(bound))
            self.emit(node, out, "clamp", tuple(refs), out.dtype, tuple(flags))
        else:
            raise Unsupported(f"operation {target}")

    @staticmethod
    def operand(node: torch.fx.Node, index: int, name: str | None = None) -> Any:
        """Positional operand ``index`` of ``node``, else its keyword ``name``, else None."""
        if index < len(node.args):
            return node.args[index]
        if name is not None:
            return node.kwargs.get(name)
        raise Unsupported(f"{node.target} without operand {index}")


_trace_lock = threading.Lock()
_tracer_thread: ThreadPoolExecutor | None = None


def _shallow(function: Any) -> Any:
    """``function()`` on a worker thread with a short stack. make_fx's fake-tensor modes each
    record the creating thread's whole stack; under Hydra's deep call chain that was a large
    part of every trace."""
    global _tracer_thread
    if _tracer_thread is None:
        _tracer_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="simctl-trace")
    return _tracer_thread.submit(function).result()


def _standin(tensor: torch.Tensor) -> torch.Tensor:
    """A small tensor with the same dtype and promotion category (0-dim stays 0-dim)."""
    if tensor.dim() == 0:
        return tensor.detach().to("cpu").clone()
    flat = tensor.detach().reshape(-1)
    if flat.numel() == 0:
        return torch.zeros(STANDIN, dtype=tensor.dtype)
    values = flat[:STANDIN] if flat.numel() >= STANDIN else flat[:1].expand(STANDIN)
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
        ``(graph, output dtype)`` where the graph's inputs are, in order: the input, every
        state leaf (in :func:`flatten` order), every per-neuron parameter.

    Raises:
        Unsupported: the step is not a pure elementwise function of per-neuron and scalar values
            (the message says why).
    """
    from torch.fx.experimental.proxy_tensor import make_fx  # the first call imports ~1 s

    graph = Graph(inputs=[])
    x = _standin(input_standin)
    if x.dim() == 0:
        x = x.expand(STANDIN).clone()
    graph.inputs.append(("x", x.dtype))
    standins = [x]

    state_paths = flatten(state)
    for path, leaf in state_paths:
        if not isinstance(leaf, torch.Tensor):
            raise Unsupported(f"state leaf {path!r} is not a tensor")
        standin = _standin(leaf)
        if standin.dim() == 0:
            if leaf.dtype != x.dtype:
                raise Unsupported(f"0-dim state leaf {path!r} of another dtype than the input")
            standin = standin.expand(STANDIN).clone()
        graph.inputs.append((f"s:{path}", standin.dtype))
        standins.append(standin)
    n_state = len(state_paths)

    # per-neuron parameters are graph inputs; scalar ones stay real tensors the trace folds in
    p_leaves: list[Any] = []
    p_slots: list[int] = []
    for path, leaf in flatten(p):
        if isinstance(leaf, torch.Tensor):
            if path in per_neuron_params:
                standin = _standin(leaf)
                graph.inputs.append((f"p:{path}", standin.dtype))
                p_slots.append(len(p_leaves))
                standins.append(standin)
            else:  # its own shape ((), (1,) ...): a dimensioned scalar promotes as one
                standin = leaf.detach().to("cpu").clone()
                if standin.dtype not in _SUPPORTED_DTYPES:
                    raise Unsupported(f"parameter {path!r} of dtype {standin.dtype}")
            p_leaves.append(standin)
        else:
            p_leaves.append(leaf)

    captured: dict[str, Any] = {}

    def traced(*inputs: torch.Tensor) -> tuple[torch.Tensor, ...]:
        leaves = list(p_leaves)
        for slot, tensor in zip(p_slots, inputs[1 + n_state :], strict=True):
            leaves[slot] = tensor
        traced_p = unflatten(p, leaves) if hasattr(p, "_fields") else leaves[0]
        traced_state = unflatten(state, list(inputs[1 : 1 + n_state]))
        output, new_state = step(inputs[0], traced_state, traced_p, dt)
        new_leaves = flatten(new_state)
        if [path for path, _ in new_leaves] != [path for path, _ in state_paths]:
            raise Unsupported("the step changes the state's structure")
        if not isinstance(output, torch.Tensor):
            raise Unsupported("the step's output is not a tensor")
        for (path, new), (_, old) in zip(new_leaves, state_paths, strict=True):
            if not isinstance(new, torch.Tensor) or new.dtype != old.dtype:
                raise Unsupported(f"state leaf {path!r} changes dtype")
        captured["output_dtype"] = output.dtype
        return (output, *[leaf for _, leaf in new_leaves])

    def capture() -> torch.fx.GraphModule:
        # fork_rng: a step that draws random numbers is refused, and its trace must not have
        # moved the global generator the reference loop then draws from
        with torch.no_grad(), torch.random.fork_rng(devices=[]):
            # first the step as it runs (views, in-place ops and autograd.Functions resolved
            # to ATen calls); then, if anything in it mutates a tensor, that graph
            # functionalised (torch.func cannot functionalise an autograd.Function directly,
            # a recorded graph it can). Without a mutation a view holds its base's values, so
            # the recorded graph is already exact.
            recorded = make_fx(traced, tracing_mode="real")(*standins)
            if not any(
                node.op == "call_function" and node.is_impure(impure_random=False)
                for node in recorded.graph.nodes
            ):
                return recorded
            functional = torch.func.functionalize(recorded, remove="mutations_and_views")
            return make_fx(functional, tracing_mode="real")(*standins)

    with _trace_lock:
        try:
            module = _shallow(capture)
        except Unsupported:
            raise
        except Exception as error:  # noqa: BLE001 - whatever stops the trace: not fusable
            message = str(error).strip().splitlines()[0] if str(error).strip() else ""
            if "_local_scalar_dense" in message:
                raise Unsupported(
                    "the step reads a per-neuron value back into Python (data-dependent control "
                    "flow or a Python number made from the state)"
                ) from None
            raise Unsupported(f"cannot trace the step: {type(error).__name__}: {message}") from None

    converter = _Converter(graph, module)
    placeholders = iter(zip(standins, range(len(standins)), strict=True))
    outputs: Any = None
    for node in module.graph.nodes:
        if node.op == "placeholder":
            value, k = next(placeholders)
            converter.bind(node, value, ("in", k))
        elif node.op == "get_attr":
            converter.constant(node)
        elif node.op == "call_function":
            converter.call(node)
        elif node.op == "output":
            outputs = node.args[0]
        else:
            raise Unsupported(f"graph node {node.op} {node.target}")
    if outputs is None:
        raise Unsupported("the trace has no output")
    for k, out in enumerate(outputs):
        value = converter.value(out)
        if not isinstance(value, torch.Tensor) or value.numel() != STANDIN:
            # the loop would return a value of its own (scalar) shape, the kernel one per neuron
            what = "output" if k == 0 else f"state leaf {state_paths[k - 1][0]!r}"
            raise Unsupported(f"the step's {what} is not a per-neuron tensor")
    refs = [converter.ref(out) for out in outputs]
    graph.output = refs[0]
    graph.state_out = refs[1:]
    return graph, captured["output_dtype"]
