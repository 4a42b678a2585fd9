"""The Triton backend: the traced step graph as a whole-loop GPU kernel.

The same :class:`~simctl.kernels.trace.Graph` the C backend compiles
(:mod:`simctl.kernels.codegen`) is written out as a Triton kernel: **one program per block of**
``BLOCK`` **neurons, the time loop inside the kernel**, the state carried in registers from step
to step, each step reading the input once and writing the output once per neuron, and the state
stored back once at the end. Recorded neurons' traces are written compactly (``T × U`` for the
``U`` distinct recorded neurons, never the full ``T × N`` trace), and with ``events`` the output
block is not stored at all: each step's nonzero outputs are appended as flat ``t·N + n``
indices (one atomic add per program and step that has spikes; the host sorts them).

Every graph operation becomes one Triton expression from the tables below (``_BINARY``,
``_UNARY``, ``_MATH``...), computed in the dtype torch computes it in, operands cast first, as in
the C tables. Division and square root use the IEEE round-to-nearest forms (``div_rn``,
``sqrt_rn``) and kernels are built with ``enable_fp_fusion=False`` (no FMA contraction), so
arithmetic rounds exactly as torch's eager kernels do. Transcendental functions on the GPU come
from CUDA's libdevice (within an ulp or two of torch's); under Triton's interpreter
(``TRITON_INTERPRET=1``, CPU tensors, numpy underneath) from ``triton.language``'s portable forms.
An operation without a Triton form for the current target raises :class:`Unsupported`, and the
caller runs the reference loop instead (the reason is logged): never a wrong result.

Generated kernels are written to ``$SIMCTL_CACHE_DIR/triton/`` (Triton's ``jit`` reads a
kernel's source from its file) and imported from there; Triton caches the compiled binaries.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import logging
import math
import os
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from .fused import FusedUnavailable, _key, _per_neuron, block_problem
from .trace import Graph, Unsupported, trace_step, unflatten

__all__ = [
    "available",
    "interpreting",
    "generate",
    "run_triton_shaped",
    "BLOCK",
    "NUM_WARPS",
    "TL_TYPES",
]

_log = logging.getLogger("simctl.kernels")

#: neurons per program (a power of two); each thread of the ``NUM_WARPS`` warps holds
#: ``BLOCK / (32 · NUM_WARPS)`` neurons' state in registers
BLOCK = 512
NUM_WARPS = 4
#: the fewest event slots a call starts with (it then keeps twice the most seen, and at least
#: one per 32 neuron-steps)
MIN_EVENT_CAPACITY = 1 << 12
#: steps per iteration of the kernel's time loop (their inputs loaded one iteration ahead).
#: Compiled for sm_90 with runtime-like specialisation: LIF 40/64 registers per thread at 1/4,
#: AdEx 64/142. The events variant's per-step count and prefix sum make each unrolled step
#: heavier (LIF 80 registers at 1, 254 at 4, which would leave one or two programs per SM),
#: so it unrolls by UNROLL_EVENTS.
UNROLL = 4
UNROLL_EVENTS = 1

TL_TYPES = {
    torch.float32: "tl.float32",
    torch.float64: "tl.float64",
    torch.bool: "tl.int1",
    torch.int64: "tl.int64",
    torch.int32: "tl.int32",
    torch.int16: "tl.int16",
    torch.int8: "tl.int8",
    torch.uint8: "tl.uint8",
}
_FLOATS = (torch.float32, torch.float64)


@functools.cache
def _import_error() -> str:
    """Why ``import triton`` fails ("" when it works)."""
    try:
        import triton  # noqa: F401
        import triton.language  # noqa: F401
    except Exception as error:  # noqa: BLE001 - any failure to import means: not available
        return f"{type(error).__name__}: {error}"
    return ""


def available() -> tuple[bool, str]:
    """``(True, "")`` when Triton can be imported, else ``(False, reason)``."""
    reason = _import_error()
    return not reason, reason


def interpreting() -> bool:
    """Whether Triton runs kernels in its interpreter (``TRITON_INTERPRET=1``): on CPU tensors."""
    return os.environ.get("TRITON_INTERPRET", "0").strip().lower() in ("1", "true", "on", "yes")


def _gpu_forms() -> bool:
    """Whether kernels are written with the GPU's math functions (libdevice) rather than the
    interpreter's portable ones."""
    return not interpreting()


# --------------------------------------------------------------------------------------------
# the op tables: graph operation -> Triton expression. ``{a}``/``{b}`` the operands (already in
# the compute dtype), ``{x}`` the single operand, ``{one}``/``{zero}`` that dtype's 1 and 0.

#: binary operators; comparisons and logical operators give a ``tl.int1``
_BINARY = {
    "add": "({a} + {b})",
    "sub": "({a} - {b})",
    "rsub": "({b} - {a})",
    "mul": "({a} * {b})",
    "gt": "({a} > {b})",
    "ge": "({a} >= {b})",
    "lt": "({a} < {b})",
    "le": "({a} <= {b})",
    "eq": "({a} == {b})",
    "ne": "({a} != {b})",
    "logical_and": "(({a} != 0) & ({b} != 0))",
    "logical_or": "(({a} != 0) | ({b} != 0))",
    "logical_xor": "(({a} != 0) ^ ({b} != 0))",
}
#: division rounded to nearest (IEEE): float32 needs ``div_rn``, float64's ``/`` already is
_DIV = {torch.float32: "tl.math.div_rn({a}, {b})", torch.float64: "({a} / {b})"}
#: maximum and minimum propagate a NaN as torch does (the first operand's, then the second's)
_MINMAX = {"maximum": ">", "minimum": "<"}
_BITWISE = {"bitwise_and": "&", "bitwise_or": "|", "bitwise_xor": "^"}
#: operations whose result is a bool, whatever dtype they compute in
_BOOL_RESULT = frozenset(
    ["gt", "ge", "lt", "le", "eq", "ne", "logical_and", "logical_or", "logical_xor", "logical_not"]
)
#: unary operations written out; ``{div}`` is :data:`_DIV` for the dtype, ``{sqrt}`` and
#: ``{exp}`` the functions of :data:`_MATH`
_UNARY = {
    "logical_not": "({x} == 0)",
    "neg": "(-{x})",
    "square": "({x} * {x})",
    "reciprocal": "{div1}",
    "rsqrt": "{div1sqrt}",
    "sigmoid": "{sigmoid}",
    "relu": "tl.where(({x} != {x}) | ({x} > 0), {x}, {zero})",
    "sign": "(({x} > 0).to({t}) - ({x} < 0).to({t}))",
}
#: ``pow`` by these exponents, written out (any other exponent: ``libdevice.pow`` on the GPU)
_POW = {
    2: "({x} * {x})",
    3: "({x} * {x} * {x})",
    0.5: "{sqrt}",
    -0.5: "{div1sqrt}",
    -1: "{div1}",
    -2: "{div1square}",
}
#: math functions on floats: ``(portable form, GPU form)``. The portable forms are
#: ``triton.language``'s (the interpreter runs them with numpy); on the GPU the libdevice forms,
#: correctly rounded or within an ulp or two like the C library's. None: no such form, refused.
_MATH = {
    "exp": ("tl.exp({x})", "libdevice.exp({x})"),
    "log": ("tl.log({x})", "libdevice.log({x})"),
    "sin": ("tl.sin({x})", "libdevice.sin({x})"),
    "cos": ("tl.cos({x})", "libdevice.cos({x})"),
    "erf": ("tl.erf({x})", "libdevice.erf({x})"),
    "floor": ("tl.floor({x})", "libdevice.floor({x})"),
    "ceil": ("tl.ceil({x})", "libdevice.ceil({x})"),
    "abs": ("tl.abs({x})", "tl.abs({x})"),
    "tanh": (None, "libdevice.tanh({x})"),
    "expm1": (None, "libdevice.expm1({x})"),
    "log1p": (None, "libdevice.log1p({x})"),
    "atan": (None, "libdevice.atan({x})"),
    "erfc": (None, "libdevice.erfc({x})"),
    "round": (None, "libdevice.rint({x})"),  # half to even, as torch.round
    "trunc": (None, "libdevice.trunc({x})"),
}
#: the IEEE square root: float32's ``tl.sqrt`` is an approximation on the GPU
_SQRT = {torch.float32: "tl.sqrt_rn({x})", torch.float64: "tl.sqrt({x})"}


def _sum_combine() -> str:
    """The combine function of the events' ``tl.reduce`` and ``tl.associative_scan``.

    Not ``tl.sum``/``tl.cumsum``: those are jit functions decorated when Triton is imported, so
    a kernel loaded later under ``TRITON_INTERPRET=1`` cannot call them. Their combine function
    ``triton.language.standard._sum_combine`` is only named, never called, by the interpreter
    (which sums with numpy when it sees it) and compiles as ``tl.sum``'s own on the GPU; where
    a Triton lacks it, the kernel module's own ``_add`` (the interpreter then calls it element
    by element: correct, slower).
    """
    import triton.language as tl

    return "tl.standard._sum_combine" if hasattr(tl.standard, "_sum_combine") else "_add"


def _input_load(layout: str, j: int) -> str:
    """The load of the input of step ``t0 + j`` (``q{j}`` the flat index, ``ts`` = ``t0``)."""
    if layout == "full":
        return f"tl.load(x_ptr + q{j} + offs, mask=mask & (offs < TN - q{j}))"
    return f"tl.load(x_ptr + ts + {j}, mask=ts + {j} < T)"  # "step": one scalar per step


def _cast(expr: str, src: torch.dtype | None, dst: torch.dtype) -> str:
    if src == dst:
        return expr
    if dst == torch.bool:
        return f"({expr} != 0)"
    return f"({expr}).to({TL_TYPES[dst]})"


def _math(name: str, x: str, device: bool) -> str:
    portable, gpu = _MATH[name]
    form = gpu if device else portable
    if form is None:
        raise Unsupported(f"{name} has no form in Triton's interpreter")
    return form.format(x=x)


def _op_expr(op: str, a: list[str], t: torch.dtype, attrs: tuple[Any, ...], device: bool) -> str:
    """The Triton expression of one graph operation computed in dtype ``t``."""
    is_float = t in _FLOATS
    if op == "div":
        if not is_float:
            raise Unsupported("integer division")
        return _DIV[t].format(a=a[0], b=a[1])
    if op in _BINARY:
        return _BINARY[op].format(a=a[0], b=a[1])
    if op in _MINMAX:
        symbol = _MINMAX[op]
        if is_float:
            return (
                f"tl.where({a[0]} != {a[0]}, {a[0]}, tl.where({a[1]} != {a[1]}, {a[1]}, "
                f"tl.where({a[0]} {symbol} {a[1]}, {a[0]}, {a[1]})))"
            )
        return f"tl.where({a[0]} {symbol} {a[1]}, {a[0]}, {a[1]})"
    if op in _BITWISE:
        if is_float:
            raise Unsupported("bitwise op on floats")
        return f"({a[0]} {_BITWISE[op]} {a[1]})"
    if op == "bitwise_not":
        return f"({a[0]} == 0)" if t == torch.bool else f"(~{a[0]})"
    x = a[0]
    if op == "abs" and not is_float:
        return f"tl.where({x} < 0, -{x}, {x})"
    if op in ("floor", "ceil", "round", "trunc") and not is_float:
        return x
    if op in ("pow", "sqrt", "reciprocal", "rsqrt", "sigmoid", *_MATH) and not is_float:
        raise Unsupported(f"{op} on integers")
    if op == "pow" and attrs[0] not in _POW:
        if not device:
            raise Unsupported(f"pow by {attrs[0]!r} has no form in Triton's interpreter")
        return f"libdevice.pow({x}, tl.full([], {float(attrs[0])!r}, {TL_TYPES[t]}))"
    forms: dict[str, str] = {"x": x, "t": TL_TYPES[t]}
    if is_float:
        one = f"tl.full({x}.shape, 1, {TL_TYPES[t]})"
        sqrt = _SQRT[t].format(x=x)
        forms.update(
            zero=f"tl.full({x}.shape, 0, {TL_TYPES[t]})",
            sqrt=sqrt,
            div1=_DIV[t].format(a=one, b=x),
            div1sqrt=_DIV[t].format(a=one, b=sqrt),
            div1square=_DIV[t].format(a=one, b=f"({x} * {x})"),
            sigmoid=_DIV[t].format(a=one, b=f"({one} + {_math('exp', f'(-{x})', device)})"),
        )
    else:
        forms["zero"] = f"tl.full({x}.shape, 0, {TL_TYPES[t]})"
    if op == "pow":
        return _POW[attrs[0]].format(**forms)
    if op == "sqrt":
        return forms["sqrt"]
    if op in _UNARY:
        return _UNARY[op].format(**forms)
    if op in _MATH:
        return _math(op, x, device)
    raise Unsupported(f"no Triton form for {op}")


# --------------------------------------------------------------------------------------------
# the kernel source


def generate(
    graph: Graph,
    output_dtype: torch.dtype,
    record: Sequence[int],
    input_layout: str = "full",
    indexed: bool = False,
    events: bool = False,
    device: bool = True,
) -> str:
    """The Python source of the Triton kernel ``simctl_kernel`` for ``graph``.

    Arguments, in order: the input (``T·N``, ``T`` or ``N`` values by ``input_layout``), each
    state leaf (``N``, read once, stored back once: the caller passes fresh copies), each
    per-neuron parameter (``N``), the output (``T·N``; absent with ``events``), each recorded
    leaf (``T·N``; ``T·U`` when ``indexed``), then when ``indexed`` an ``int32`` column table
    (``N``: the neuron's column of the compact trace, ``-1`` when it is not recorded), when
    ``events`` the ``int64`` event array and its ``{count}`` cell, then the ``float64``
    constants, ``T``, ``N``, ``T·N``, ``U``, the event capacity and ``BLOCK`` (a compile-time
    constant).
    ``device`` selects the GPU forms of the math functions (else the interpreter's).
    """
    inputs = graph.inputs
    n_state = sum(1 for name, _ in inputs if name.startswith("s:"))
    state_ids = list(range(1, 1 + n_state))
    input_dtypes = [dtype for _, dtype in inputs]

    def dtype_of(ref: tuple[str, int]) -> torch.dtype | None:
        kind, k = ref
        if kind == "in":
            return input_dtypes[k]
        if kind == "n":
            return graph.nodes[k].dtype
        return None

    needed = graph.needed()

    const_uses: dict[tuple[int, torch.dtype], str] = {}

    def operand(ref: tuple[str, int], dtype: torch.dtype) -> str:
        kind, k = ref
        if kind == "c":
            name = f"c{k}_{TL_TYPES[dtype][3:]}"
            const_uses[(k, dtype)] = name
            return name
        name = f"in{k}" if kind == "in" else f"n{k}"
        return _cast(name, dtype_of(ref), dtype)

    body: list[str] = []
    for k, node in enumerate(graph.nodes):
        if k not in needed:
            continue
        if node.op == "cast":
            expr = operand(node.args[0], node.dtype)
        elif node.op == "where":
            cond = operand(node.args[0], torch.bool)
            a = operand(node.args[1], node.compute)
            b = operand(node.args[2], node.compute)
            expr = _cast(f"tl.where({cond}, {a}, {b})", node.compute, node.dtype)
        elif node.op == "clamp":
            expr = operand(node.args[0], node.compute)
            refs = list(node.args[1:])
            has_lo, has_hi = node.attrs
            if has_lo:  # as the C kernel: a NaN passes through
                lo = operand(refs.pop(0), node.compute)
                body.append(f"        n{k}_lo = tl.where({expr} < {lo}, {lo}, {expr})")
                expr = f"n{k}_lo"
            if has_hi:
                hi = operand(refs.pop(0), node.compute)
                expr = f"tl.where({expr} > {hi}, {hi}, {expr})"
            expr = _cast(expr, node.compute, node.dtype)
        else:
            args = [operand(ref, node.compute) for ref in node.args]
            result = torch.bool if node.op in _BOOL_RESULT else node.compute
            expr = _op_expr(node.op, args, node.compute, node.attrs, device)
            expr = _cast(expr, result, node.dtype)
        body.append(f"        n{k} = {expr}")

    def full(ref: tuple[str, int], dtype: torch.dtype) -> str:
        """A per-neuron value of ``dtype``: a scalar (a constant) broadcast to the block."""
        return f"tl.broadcast_to({operand(ref, dtype)}, (BLOCK,))"

    names = ["x_ptr"]
    names += [f"s{k}_ptr" for k in state_ids]
    names += [f"p{k}_ptr" for k in range(1 + n_state, len(inputs))]
    if not events:
        names.append("out_ptr")
    names += [f"r{r}_ptr" for r in range(len(record))]
    if indexed:
        names.append("col_ptr")
    if events:
        names += ["ev_ptr", "evn_ptr"]
    names += ["c_ptr", "T", "N", "TN", "U", "CAP", "BLOCK: tl.constexpr"]

    lines = [
        '"""Generated by simctl.kernels.triton_backend from a traced step; do not edit."""',
        "import triton",
        "import triton.language as tl",
        *(["from triton.language.extra import libdevice"] if device else []),
        "",
        "",
        # a combine function for the events' count and prefix sum where triton.language has
        # none to name (see _sum_combine)
        "@triton.jit",
        "def _add(a, b):",
        "    return a + b",
        "",
        "",
        "@triton.jit",
        f"def simctl_kernel({', '.join(names)}):",
        "    pid = tl.program_id(0)",
        "    offs = pid.to(tl.int64) * BLOCK + tl.arange(0, BLOCK)",
        "    mask = offs < N",
    ]
    head_at = len(lines)  # the constants' loads go here, once their uses are known
    for k in state_ids:
        lines.append(f"    l{k} = tl.load(s{k}_ptr + offs, mask=mask)")
    for k in range(1 + n_state, len(inputs)):
        lines.append(f"    in{k} = tl.load(p{k}_ptr + offs, mask=mask)")
    if indexed:
        lines.append("    col = tl.load(col_ptr + offs, mask=mask, other=-1).to(tl.int64)")
        lines.append("    rmask = mask & (col >= 0)")
        lines.append("    ru = tl.where(rmask, col, 0)")
        lines.append("    cu = tl.full([], 0, tl.int64)  # t·U")
    # UNROLL steps per loop iteration, their inputs loaded one iteration ahead: the loads of
    # a chunk are issued together while the previous chunk computes, so the memory latency is
    # hidden behind UNROLL steps of arithmetic rather than one. q{j} = (t0 + j)·N is a scalar
    # (one register for the whole program, not one per neuron): step j's row starts there.
    # Steps at or beyond T (the last chunk's tail) store nothing and leave the state alone.
    u = UNROLL_EVENTS if events else UNROLL
    lines.append("    o = tl.full([], 0, tl.int64)")
    if input_layout == "step":
        lines.append("    ts = tl.full([], 0, tl.int64)")
    if input_layout == "neuron":  # one value per neuron for every step
        lines.append("    in0 = tl.load(x_ptr + offs, mask=mask)")
    else:
        lines.append("    q0 = o")
        for j in range(1, u):
            lines.append(f"    q{j} = q{j - 1} + N")
        for j in range(u):
            lines.append(f"    xn{j} = {_input_load(input_layout, j)}")
    lines.append(f"    for t0 in range(0, T, {u}):")
    lines.append("        q0 = o")
    chain = 2 * u if input_layout == "full" else u
    for j in range(1, chain):
        lines.append(f"        q{j} = q{j - 1} + N")
    if input_layout != "neuron":
        for j in range(u):
            lines.append(f"        x{j} = xn{j}")
        for j in range(u):
            lines.append(f"        xn{j} = {_input_load(input_layout, u + j)}")
    out_value = full(graph.output, output_dtype)
    add = _sum_combine()
    for j in range(u):
        lines.append(f"        # step t0 + {j}")
        # (a per-neuron comparison: Triton's interpreter mishandles a block & a scalar mask)
        live = "mask" if j == 0 else f"mask & (offs < TN - q{j})"
        here = f"q{j} + offs"
        if j:
            lines.append(f"        live = {live}")
            live = "live"
        if input_layout != "neuron":
            lines.append(f"        in0 = x{j}")
        for k in state_ids:
            lines.append(f"        in{k} = l{k}")
        lines.extend(body)
        if events:
            lines.append(f"        z = ({out_value} != 0) & {live}")
            lines.append("        zi = z.to(tl.int32)")
            lines.append(f"        nz = tl.reduce(zi, 0, {add})")
            lines.append("        if nz > 0:")
            lines.append("            base = tl.atomic_add(evn_ptr, nz.to(tl.int64))")
            lines.append(f"            before = tl.associative_scan(zi, 0, {add}) - zi")
            lines.append("            pos = base + before.to(tl.int64)")
            lines.append(f"            tl.store(ev_ptr + pos, {here}, mask=z & (pos < CAP))")
        else:
            lines.append(f"        tl.store(out_ptr + {here}, {out_value}, mask={live})")
        for r, leaf in enumerate(record):
            value = full(graph.state_out[leaf], inputs[1 + leaf][1])
            if indexed:
                rlive = "rmask" if j == 0 else f"rmask & (offs < TN - q{j})"
                lines.append(f"        tl.store(r{r}_ptr + cu + ru, {value}, mask={rlive})")
            else:
                lines.append(f"        tl.store(r{r}_ptr + {here}, {value}, mask={live})")
        for leaf, k in enumerate(state_ids):
            value = full(graph.state_out[leaf], inputs[k][1])
            if j:
                value = f"tl.where({live}, {value}, l{k})"
            lines.append(f"        l{k} = {value}")
        if indexed:
            lines.append("        cu = cu + U")
    lines.append(f"        o = q{u - 1} + N")
    if input_layout == "step":
        lines.append(f"        ts = ts + {u}")
    for k in state_ids:
        lines.append(f"    tl.store(s{k}_ptr + offs, l{k}, mask=mask)")
    consts = []
    for (k, dtype), name in sorted(const_uses.items(), key=lambda item: item[1]):
        if dtype == torch.bool:  # torch: any nonzero value is True
            consts.append(f"    {name} = tl.load(c_ptr + {k}) != 0")
        else:
            consts.append(f"    {name} = tl.load(c_ptr + {k}).to({TL_TYPES[dtype]})")
    lines[head_at:head_at] = consts
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------------------------
# loading and running


def _source_dir() -> str:
    from .cbuild import cache_dir

    directory = cache_dir() / "triton"
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    return str(directory)


_modules: dict[str, Any] = {}
_modules_lock = threading.Lock()


def load(source: str) -> Any:
    """The ``simctl_kernel`` of ``source``, from a file named by its hash (Triton's ``jit``
    reads the function's source from its file)."""
    digest = hashlib.sha256(source.encode()).hexdigest()[:24]
    name = f"simctl_triton_{digest}_{'i' if interpreting() else 'd'}"
    with _modules_lock:
        found = _modules.get(name)
        if found is not None:
            return found
        path = os.path.join(_source_dir(), f"{name}.py")
        try:
            with open(path, encoding="utf-8") as handle:
                current = handle.read()
        except OSError:
            current = None
        if current != source:
            temporary = f"{path}.{os.getpid()}.{threading.get_ident()}.tmp"
            with open(temporary, "w", encoding="utf-8") as handle:
                handle.write(source)
            os.replace(temporary, path)
        spec = importlib.util.spec_from_file_location(name, path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        _modules[name] = module.simctl_kernel
        return module.simctl_kernel


@dataclass
class Plan:
    kernel: Any
    consts: list[float]
    output_dtype: torch.dtype
    record_leaves: list[int]
    source: str
    event_hint: int = 0  #: the most events one call emitted so far
    consts_on: dict[Any, torch.Tensor] = field(default_factory=dict)
    launched: bool = False  #: compiled and run once (a failure before that is a refusal)


_plans: OrderedDict[Any, Plan | str] = OrderedDict()
_plans_lock = threading.Lock()
_MAX_PLANS = 256


def _refuse(key: Any, step: Any, error: Exception) -> FusedUnavailable:
    _log.info(
        "no Triton kernel, using the reference loop for %s: %s",
        getattr(step, "__qualname__", repr(step)),
        error,
    )
    with _plans_lock:
        _plans[key] = f"{type(error).__name__}: {error}"
    return FusedUnavailable(str(error))


def get_plan(
    step: Any,
    input_block: torch.Tensor,
    state: Any,
    p: Any,
    dt: Any,
    record: Sequence[str],
    input_layout: str,
    indexed: bool,
    events: bool,
    state_flat: list[tuple[str, Any]],
    p_flat: list[tuple[str, Any]],
) -> tuple[Any, Plan]:
    """``(key, plan)``: the memoised Triton plan (raises :class:`FusedUnavailable`)."""
    device = _gpu_forms()
    forms = "gpu" if device else "interpret"
    unroll = UNROLL_EVENTS if events else UNROLL
    kind = f"triton:{input_layout}:{forms}:{input_block.device.type}:{unroll}"
    variant = (kind, indexed, events, 0)
    key = _key(step, input_block, state, p, dt, record, variant, state_flat, p_flat)
    with _plans_lock:
        plan = _plans.get(key)
        if plan is not None:
            _plans.move_to_end(key)
    if isinstance(plan, str):
        raise FusedUnavailable(plan)
    if plan is not None:
        return key, plan
    try:
        graph, output_dtype = trace_step(
            step,
            input_block[0],
            state,
            p,
            float(dt) if isinstance(dt, torch.Tensor) else dt,
            _per_neuron(p, p_flat),
        )
        paths = [path for path, _ in state_flat]
        missing = [name for name in record if name not in paths]
        if missing:
            raise Unsupported(f"cannot record {missing[0]!r}: not a state leaf")
        leaves = [paths.index(name) for name in record]
        for dtype in [output_dtype, *[dtype for _, dtype in graph.inputs]]:
            if dtype not in TL_TYPES:
                raise Unsupported(f"dtype {dtype}")
        source = generate(graph, output_dtype, leaves, input_layout, indexed, events, device)
        kernel = load(source)
    except (Unsupported, SyntaxError, OSError) as error:
        raise _refuse(key, step, error) from error
    plan = Plan(kernel, list(graph.consts) or [0.0], output_dtype, leaves, source)
    with _plans_lock:
        _plans[key] = plan
        while len(_plans) > _MAX_PLANS:
            _plans.popitem(last=False)
    return key, plan


_columns: OrderedDict[Any, tuple[torch.Tensor, torch.Tensor, int]] = OrderedDict()
_columns_lock = threading.Lock()


def _column_table(
    index: torch.Tensor, shape: tuple[int, ...], device: torch.device
) -> tuple[torch.Tensor, torch.Tensor, int]:
    """``(col (N,) int32 on device, gather (R,) int64 on device, U)``: ``col[n]`` is neuron
    ``n``'s column in the compact ``(T, U)`` trace of the distinct recorded neurons (-1 when it
    is not recorded), and ``compact[:, gather]`` is the ``(T, lead·len(index))`` trace asked for
    (repeats in ``index`` are gathered, not written twice)."""
    key = (index.numpy().tobytes(), tuple(shape), str(device))
    with _columns_lock:
        found = _columns.get(key)
    if found is not None:
        return found
    last = shape[-1]
    lead = math.prod(shape[:-1])
    neuron = (torch.arange(lead).unsqueeze(1) * last + index).reshape(-1)
    unique, inverse = torch.unique(neuron, return_inverse=True)
    col = torch.full((math.prod(shape),), -1, dtype=torch.int32)
    col[unique] = torch.arange(unique.numel(), dtype=torch.int32)
    result = (col.to(device), inverse.to(device), int(unique.numel()))
    with _columns_lock:
        _columns[key] = result
        while len(_columns) > 64:
            _columns.popitem(last=False)
    return result


def _dense(tensor: torch.Tensor, shape: tuple[int, ...], device: torch.device) -> torch.Tensor:
    """A fresh contiguous copy of ``tensor`` broadcast to ``shape`` on ``device``."""
    return tensor.detach().to(device).expand(shape).contiguous().clone()


def _launch(plan: Plan, grid: tuple[int], arguments: list[Any]) -> None:
    """One launch: ``BLOCK`` neurons per program, FMA contraction off (exact rounding), on the
    arguments' CUDA device (Triton launches on the current one)."""
    device = arguments[0].device
    if device.type == "cuda":
        with torch.cuda.device(device):
            plan.kernel[grid](*arguments, BLOCK=BLOCK, num_warps=NUM_WARPS, enable_fp_fusion=False)
    else:
        plan.kernel[grid](*arguments, BLOCK=BLOCK, num_warps=NUM_WARPS, enable_fp_fusion=False)


def run_triton_shaped(
    step: Any,
    input_block: torch.Tensor,
    state: Any,
    p: Any,
    dt: Any,
    record: Sequence[str] = (),
    record_index: torch.Tensor | None = None,
    events: bool = False,
) -> tuple[Any, dict[str, torch.Tensor], Any, tuple[int, ...]]:
    """:func:`simctl.kernels.fused.run_fused_shaped`'s contract on the Triton backend.

    Runs on CUDA tensors, or on CPU tensors under ``TRITON_INTERPRET=1``. With ``events`` the
    first result is a fresh CPU numpy array of the sorted flat indices ``t·N + n`` of the
    nonzero outputs (the output block is never stored). Raises :class:`FusedUnavailable` when
    Triton is missing, the tensors are elsewhere, or the step has no Triton form.
    """
    ok, reason = available()
    if not ok:
        raise FusedUnavailable(f"triton cannot be imported ({reason})")
    device = input_block.device
    if device.type == "cpu" and not interpreting():
        raise FusedUnavailable("the Triton backend runs on CUDA tensors (or TRITON_INTERPRET=1)")
    if device.type not in ("cpu", "cuda"):
        raise FusedUnavailable(f"the Triton backend does not run on {device.type}")
    state_flat, p_flat, state_leaves, params, shape, layout, x = block_problem(
        input_block, state, p
    )
    if any(t.device.type not in ("cpu", device.type) for t in [*state_leaves, *params]):
        raise FusedUnavailable(f"state or parameters neither on {device} nor on the CPU")
    steps = input_block.shape[0]
    neurons = math.prod(shape)
    indexed = record_index is not None
    key, plan = get_plan(
        step, input_block, state, p, dt, record, layout, indexed, events, state_flat, p_flat
    )
    consts = plan.consts_on.get(device)
    if consts is None:
        consts = plan.consts_on[device] = torch.tensor(
            plan.consts, dtype=torch.float64, device=device
        )
    param_arrays = [_dense(t, shape, device) for t in params]
    extra: list[torch.Tensor] = []
    columns, gather = 0, None
    if indexed:
        assert record_index is not None
        col, gather, columns = _column_table(record_index, shape, device)
        extra = [col]
    leaf_dtypes = [state_leaves[k].dtype for k in plan.record_leaves]
    if indexed:
        traces = [torch.empty((steps, columns), dtype=d, device=device) for d in leaf_dtypes]
    else:
        traces = [torch.empty((steps, *shape), dtype=d, device=device) for d in leaf_dtypes]
    grid = (max(1, -(-neurons // BLOCK)),)
    capacity = 0
    while True:
        new_state = [_dense(leaf, shape, device) for leaf in state_leaves]
        if events:
            first = max(MIN_EVENT_CAPACITY, 2 * plan.event_hint, steps * neurons // 32)
            capacity = capacity or first
            event_array = torch.empty(capacity, dtype=torch.int64, device=device)
            count = torch.zeros(1, dtype=torch.int64, device=device)
            output_args = [event_array, count]
        else:
            output = torch.empty((steps, *shape), dtype=plan.output_dtype, device=device)
            output_args = [output]
        arguments = [x, *new_state, *param_arrays]
        arguments += [] if events else output_args
        arguments += [*traces, *extra]
        arguments += output_args if events else []
        arguments += [consts, steps, neurons, steps * neurons, columns, capacity]
        if neurons:
            try:
                _launch(plan, grid, arguments)
            except Exception as error:  # noqa: BLE001 - a kernel Triton cannot build: refused
                if plan.launched:
                    raise
                raise _refuse(key, step, error) from error
            plan.launched = True
        if not events:
            break
        found = int(count.item())
        plan.event_hint = max(plan.event_hint, found)
        if found <= capacity:
            flat = torch.sort(event_array[:found]).values
            output = flat.cpu().numpy()
            break
        capacity = -(-found * 5 // 4)  # overflowed: once more, with room for every event
    if indexed and gather is not None:
        lead = shape[:-1]
        traces = [trace[:, gather].reshape(steps, *lead, -1) for trace in traces]
    final = unflatten(state, new_state)
    recorded = {name: trace for name, trace in zip(record, traces, strict=True)}
    return output, recorded, final, shape
