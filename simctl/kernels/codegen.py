"""C source for a whole-loop kernel from a traced step graph (:mod:`simctl.kernels.trace`).

The kernel advances a tile of ``LANES`` neurons through all ``T`` steps with the state held in
small lane arrays (L1-resident), reading the input and writing the outputs of each step, so the
memory traffic per neuron-step is the input, the output and the recorded variables, and no
interpreter runs between steps. Each traced ATen operation becomes one C expression computed in
the dtype torch computes it in (operands cast first, scalars rounded to that dtype as torch
does). The compiler runs with ``-ffp-contract=off`` and without ``-ffast-math``, so additions and
multiplications round exactly as torch's eager kernels do and float64 results are identical;
transcendental functions (``exp``, ``tanh``...) come from the C library instead of torch's
vectorised SLEEF code and may differ in the last bit.
"""

from __future__ import annotations

from typing import Any

import torch

from .trace import Graph, Unsupported

__all__ = ["CTYPES", "generate", "LANES", "WIDE", "INPUT_LAYOUTS"]

LANES = 256
#: the tile of the step-ordered (``wide``) variant: its state (tens of KB) stays in L2 while
#: every step reads and writes one contiguous run of ``WIDE`` neurons of the input and output
WIDE = 8192

#: how the kernel reads its input: ``full`` one value per neuron and step (T·N), ``step`` one
#: value per step shared by every neuron (T), ``neuron`` one value per neuron for every step (N)
INPUT_LAYOUTS = ("full", "step", "neuron")

CTYPES = {
    torch.float32: "float",
    torch.float64: "double",
    torch.bool: "int",  # in registers: an int vectorises with float lanes, uint8_t does not
    torch.int64: "int64_t",
    torch.int32: "int32_t",
    torch.int16: "int16_t",
    torch.int8: "int8_t",
    torch.uint8: "uint8_t",
}
#: element types of the arrays in memory (torch stores bools as bytes)
STORAGE = {**CTYPES, torch.bool: "uint8_t"}
_FLOATS = (torch.float32, torch.float64)
_MATH = {
    "exp": "exp",
    "log": "log",
    "sqrt": "sqrt",
    "tanh": "tanh",
    "expm1": "expm1",
    "log1p": "log1p",
    "sin": "sin",
    "cos": "cos",
    "atan": "atan",
    "erf": "erf",
    "erfc": "erfc",
    "floor": "floor",
    "ceil": "ceil",
    "round": "nearbyint",
    "trunc": "trunc",
    "abs": "fabs",
}


def _fn(name: str, dtype: torch.dtype) -> str:
    return name + ("f" if dtype == torch.float32 else "")


def _cast(expr: str, src: torch.dtype, dst: torch.dtype) -> str:
    if src == dst:
        return expr
    if dst == torch.bool:
        return f"((int)(({expr}) != 0))"
    return f"(({CTYPES[dst]})({expr}))"


#: binary operators written infix; comparisons and logical operators give a C ``int`` (0/1)
_ARITH = {"add": "+", "sub": "-", "mul": "*", "div": "/"}
_COMPARE = {"gt": ">", "ge": ">=", "lt": "<", "le": "<=", "eq": "==", "ne": "!="}
_LOGICAL = {"logical_and": "&&", "logical_or": "||", "logical_xor": "!="}
_BITWISE = {"bitwise_and": "&", "bitwise_or": "|", "bitwise_xor": "^"}
#: operations whose result is a bool, whatever dtype they compute in
_BOOL_RESULT = frozenset([*_COMPARE, *_LOGICAL, "logical_not"])
#: unary operations on any dtype: ``{x}`` the operand, ``{t}`` its C type, ``{sqrt}``/``{exp}``
#: the C functions for that type
_UNARY = {
    "logical_not": "((int)({x} == 0))",
    "neg": "(-{x})",
    "square": "({x} * {x})",
    "reciprocal": "(({t})1 / {x})",
    "rsqrt": "(({t})1 / {sqrt}({x}))",
    "sigmoid": "(({t})1 / (({t})1 + {exp}(-{x})))",
    "relu": "((({x} != {x}) || {x} > 0) ? {x} : ({t})0)",
    "sign": "(({t})(({x} > 0) - ({x} < 0)))",
}
#: ``pow`` by these exponents, written out
_POW = {
    2: "({x} * {x})",
    3: "({x} * {x} * {x})",
    0.5: "{sqrt}({x})",
    -0.5: "(({t})1 / {sqrt}({x}))",
    -1: "(({t})1 / {x})",
    -2: "(({t})1 / ({x} * {x}))",
}


def _op_expr(op: str, a: list[str], t: torch.dtype, attrs: tuple[Any, ...]) -> str:
    is_float = t in _FLOATS
    if op in _ARITH:
        return f"({a[0]} {_ARITH[op]} {a[1]})"
    if op == "rsub":
        return f"({a[1]} - {a[0]})"
    if op in _COMPARE:
        return f"((int)({a[0]} {_COMPARE[op]} {a[1]}))"
    if op in ("maximum", "minimum"):
        symbol = ">" if op == "maximum" else "<"
        if is_float:  # NaN propagates, as in torch
            return (
                f"(({a[0]} != {a[0]}) ? {a[0]} : (({a[1]} != {a[1]}) ? {a[1]} : "
                f"(({a[0]} {symbol} {a[1]}) ? {a[0]} : {a[1]})))"
            )
        return f"(({a[0]} {symbol} {a[1]}) ? {a[0]} : {a[1]})"
    if op in _LOGICAL:
        return f"((int)(({a[0]} != 0) {_LOGICAL[op]} ({a[1]} != 0)))"
    if op in _BITWISE:
        if is_float:
            raise Unsupported("bitwise op on floats")
        return f"(({CTYPES[t]})({a[0]} {_BITWISE[op]} {a[1]}))"
    if op == "bitwise_not" and t != torch.bool:
        return f"(({CTYPES[t]})(~{a[0]}))"
    if op == "bitwise_not":  # on bools: logical not
        op = "logical_not"
    if op == "pow" and not is_float:
        raise Unsupported("integer pow")
    functions = {"t": CTYPES[t], "sqrt": _fn("sqrt", t), "exp": _fn("exp", t), "x": a[0]}
    if op == "pow":
        e = attrs[0]
        if e in _POW:
            return _POW[e].format(**functions)
        return f"{_fn('pow', t)}({a[0]}, ({CTYPES[t]}){float(e)!r})"
    if op in _UNARY:
        return _UNARY[op].format(**functions)
    if op in _MATH:
        if not is_float:
            if op == "abs":
                return f"(({a[0]} < 0) ? -{a[0]} : {a[0]})"
            if op in ("floor", "ceil", "round", "trunc"):
                return a[0]
            raise Unsupported(f"{op} on integers")
        return f"{_fn(_MATH[op], t)}({a[0]})"
    raise Unsupported(f"no C form for {op}")


#: C: ``SIMCTL_CTZ(m)``, the index of the lowest set bit of a nonzero 64-bit mask
CTZ_MACRO = """\
#if defined(__GNUC__) || defined(__clang__)
#define SIMCTL_CTZ(m) __builtin_ctzll(m)
#else
static int SIMCTL_CTZ(uint64_t m) { int k = 0; while (!(m & 1)) { m >>= 1; ++k; } return k; }
#endif"""


def _event_scan(width: str, offset: str) -> list[str]:
    """C lines appending the flat indices ``offset + j`` of the nonzero ``zo[j]``, ``j <
    width``, in ascending order: per 64 lanes, a bit mask of the nonzero ones (a loop the
    compiler vectorises), then one iteration per set bit. A branch per lane instead took
    2.5 times as long as this for a 10^4 × 100 LIF block at 6 % of neuron-steps spiking, and
    as long with no spike at all: the lane loop did not vectorise."""
    return [
        f"      for (int64_t jb = 0; jb < {width}; jb += 64) {{",
        f"        const int64_t wb = ({width} - jb) < 64 ? ({width} - jb) : 64;",
        "        uint64_t m = 0;",
        "        for (int64_t j = 0; j < wb; ++j) m |= (uint64_t)(zo[jb + j] != 0) << j;",
        "        while (m) {",
        "          const int64_t j = jb + SIMCTL_CTZ(m);",
        "          m &= m - 1;",
        f"          if (ne < cap) ev[ne] = {offset} + j;",
        "          ++ne;",
        "        }",
        "      }",
    ]


def generate(
    graph: Graph,
    output_dtype: torch.dtype,
    record: list[int],
    input_layout: str = "full",
    indexed: bool = False,
    events: bool = False,
    wide: bool = False,
) -> str:
    """The C source of ``simctl_kernel`` for ``graph``, recording the state leaves ``record``.

    Loop order: by default a tile of ``LANES`` neurons goes through all ``T`` steps with its
    state in L1 lane arrays; each step touches ``LANES`` neurons of the input and output rows.
    With ``wide`` the tile is ``WIDE`` neurons and the state is updated in place in its arrays
    (L2-resident): each step streams a long contiguous run of the input and output, which the
    hardware prefetchers follow, for blocks too large for the cache (``simctl.kernels.fused``
    chooses by size). The arithmetic is the same, so the results are identical.

    Pointer table (``void** ptrs``): the input (T·N, or T or N by ``input_layout``), each state
    leaf (N: the final state, written at the end of a tile), each per-neuron parameter
    (N), the output (T·N), each recorded leaf (T·N; T·R when ``indexed``), and when ``indexed``
    an ``int64`` table ``{R, Q, neuron[Q] (ascending), column[Q]}``: after each step the state of
    ``neuron[q]`` is copied to column ``column[q]`` of an ``R``-column trace, from the lane arrays
    while they are in L1, so the vectorised lane loop is unchanged and no full trace is written.
    With ``events`` the output is not stored: each step's outputs stay in a lane array and the
    flat indices ``t·N + n`` of the nonzero ones are appended to this thread's ``int64`` buffer
    (the last two pointers: the buffer and ``{count, capacity}``; a count above the capacity
    means it overflowed and the caller runs again with more room).
    Last, each state leaf's initial values (N, read at the start of a tile): a separate array,
    which the kernel never writes, or the final state's own array for an update in place (these
    pointers are not ``restrict``). So a caller needs no copy of the state before a call and can
    run a call again from the same initial state.
    Constants come in ``const double* c`` at run time, so one compiled kernel serves every
    parameter value of the same model structure.
    """
    if input_layout not in INPUT_LAYOUTS:
        raise ValueError(f"input_layout {input_layout!r}: expected one of {INPUT_LAYOUTS}")
    inputs = graph.inputs
    n_state = sum(1 for name, _ in inputs if name.startswith("s:"))
    dtypes_of_input = [dtype for _, dtype in inputs]

    def dtype_of(ref: tuple[str, int]) -> torch.dtype | None:
        kind, k = ref
        if kind == "in":
            return dtypes_of_input[k]
        if kind == "n":
            return graph.nodes[k].dtype
        return None  # a constant: a double, cast where it is used

    needed = graph.needed()  # keep only the nodes the outputs need

    const_uses: dict[tuple[int, torch.dtype], str] = {}

    def operand(ref: tuple[str, int], dtype: torch.dtype) -> str:
        kind, k = ref
        if kind == "c":
            name = f"c{k}_{CTYPES[dtype].replace('_t', '')}"
            const_uses[(k, dtype)] = name
            return name
        name = f"in{k}" if kind == "in" else f"n{k}"
        src = dtype_of(ref)
        assert src is not None
        return _cast(name, src, dtype)

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
            expr = _cast(f"({cond} ? {a} : {b})", node.compute, node.dtype)
        elif node.op == "clamp":
            x = operand(node.args[0], node.compute)
            refs = list(node.args[1:])
            expr = x
            has_lo, has_hi = node.attrs
            if has_lo:
                lo = operand(refs.pop(0), node.compute)
                expr = f"(({expr} < {lo}) ? {lo} : {expr})"
                body.append(f"        const {CTYPES[node.compute]} n{k}_lo = {expr};")
                expr = f"n{k}_lo"
            if has_hi:
                hi = operand(refs.pop(0), node.compute)
                expr = f"(({expr} > {hi}) ? {hi} : {expr})"
        else:
            args = [operand(ref, node.compute) for ref in node.args]
            result = torch.bool if node.op in _BOOL_RESULT else node.compute
            expr = _cast(_op_expr(node.op, args, node.compute, node.attrs), result, node.dtype)
        body.append(f"        const {CTYPES[node.dtype]} n{k} = {expr};")

    state_ids = list(range(1, 1 + n_state))

    tail: list[str] = []
    if events:
        lane = "j - j0" if wide else "j"
        tail.append(f"        zo[{lane}] = {operand(graph.output, output_dtype)};")
    else:
        tail.append(f"        out[o + j] = {operand(graph.output, output_dtype)};")
    if not indexed:
        for r, leaf in enumerate(record):
            tail.append(
                f"        r{r}[o + j] = {operand(graph.state_out[leaf], inputs[1 + leaf][1])};"
            )
    for leaf, k in enumerate(state_ids):
        tail.append(f"        l{k}[j] = {operand(graph.state_out[leaf], inputs[k][1])};")

    lines = [
        "#include <stdint.h>",
        "#include <math.h>",
        *([CTZ_MACRO] if events else []),
        f"#define W {LANES}",
        *([f"#define WT {WIDE}"] if wide else []),
        "void simctl_kernel(int64_t T, int64_t N, int64_t lo, int64_t hi,",
        "                   const double* restrict c, void** ptrs) {",
    ]
    pointer = 0
    decl: list[str] = []
    for k, (name, dtype) in enumerate(inputs):
        ctype = STORAGE[dtype]
        const = "" if name.startswith("s:") else "const "
        # the final state's arrays may be the initial state's too (below): not restrict; the
        # hot loops reach them only through the lane arrays or the tile's restrict pointers
        restrict = "" if name.startswith("s:") else "restrict "
        decl.append(f"  {const}{ctype}* {restrict}a{k} = ({const}{ctype}*)ptrs[{pointer}];")
        pointer += 1
    if not events:
        decl.append(
            f"  {STORAGE[output_dtype]}* restrict out = ({STORAGE[output_dtype]}*)ptrs[{pointer}];"
        )
        pointer += 1
    for r, leaf in enumerate(record):
        ctype = STORAGE[inputs[1 + leaf][1]]
        decl.append(f"  {ctype}* restrict r{r} = ({ctype}*)ptrs[{pointer}];")
        pointer += 1
    if indexed:
        decl.append(f"  const int64_t* restrict rx = (const int64_t*)ptrs[{pointer}];")
        decl.append("  const int64_t R = rx[0], Q = rx[1];")
        decl.append("  const int64_t* restrict rn = rx + 2;")
        decl.append("  const int64_t* restrict rc = rx + 2 + Q;")
        # the first recorded neuron of this thread's range (rn is ascending)
        decl.append("  int64_t q0 = 0;")
        decl.append("  while (q0 < Q && rn[q0] < lo) ++q0;")
        pointer += 1
    if events:
        decl.append(f"  int64_t* restrict ev = (int64_t*)ptrs[{pointer}];")
        decl.append(f"  int64_t* restrict evn = (int64_t*)ptrs[{pointer + 1}];")
        decl.append("  const int64_t cap = evn[1];")
        decl.append("  int64_t ne = 0;")
        pointer += 2
    for k in state_ids:  # the initial state: may be the final state's array (no restrict)
        storage = STORAGE[inputs[k][1]]
        decl.append(f"  const {storage}* s{k} = (const {storage}*)ptrs[{pointer}];")
        pointer += 1
    lines.extend(decl)
    for (k, dtype), name in sorted(const_uses.items(), key=lambda item: item[1]):
        if dtype == torch.bool:  # torch: any nonzero value is True
            lines.append(f"  const int {name} = (int)(c[{k}] != 0);")
        else:
            lines.append(f"  const {CTYPES[dtype]} {name} = ({CTYPES[dtype]})c[{k}];")
    tile = "WT" if wide else "W"
    lines.append(f"  for (int64_t b0 = lo; b0 < hi; b0 += {tile}) {{")
    lines.append(f"    const int64_t w = (hi - b0) < {tile} ? (hi - b0) : {tile};")
    if indexed:
        lines.append("    int64_t q1 = q0;")
        lines.append("    while (q1 < Q && rn[q1] < b0 + w) ++q1;")
    if wide:  # the state is updated in place in the final state's array a{k}[b0 + j]
        for k in state_ids:
            lines.append(f"    if (s{k} != a{k})")
            lines.append(f"      for (int64_t j = 0; j < w; ++j) a{k}[b0 + j] = s{k}[b0 + j];")
        for k in state_ids:
            ctype = CTYPES[inputs[k][1]]
            storage = STORAGE[inputs[k][1]]
            if ctype == storage:
                lines.append(f"    {ctype}* restrict l{k} = a{k} + b0;")
            else:  # bools: int lanes in registers, bytes in memory; cast on access
                lines.append(f"    {storage}* restrict l{k} = a{k} + b0;")
    else:
        for k in state_ids:
            lines.append(f"    {CTYPES[inputs[k][1]]} l{k}[W];")
        lines.append("    for (int64_t j = 0; j < w; ++j) {")
        for k in state_ids:
            lines.append(f"      l{k}[j] = s{k}[b0 + j];")
        lines.append("    }")
    if events:
        lines.append(f"    {CTYPES[output_dtype]} zo[W];")
    lines.append("    for (int64_t t = 0; t < T; ++t) {")
    lines.append("      const int64_t o = t * N + b0;")
    if input_layout == "step":  # loop-invariant: one load per step and tile
        lines.append(f"      const {CTYPES[inputs[0][1]]} x_t = a0[t];")
    if events and wide:  # events: chunks of W lanes, each scanned while in L1
        lines.append("      for (int64_t j0 = 0; j0 < w; j0 += W) {")
        lines.append("      const int64_t w1 = (w - j0) < W ? (w - j0) : W;")
        lines.append("      for (int64_t j = j0; j < j0 + w1; ++j) {")
    else:
        lines.append("      for (int64_t j = 0; j < w; ++j) {")
    for k, (name, dtype) in enumerate(inputs):
        ctype = CTYPES[dtype]
        if k == 0:
            source = {"full": "a0[o + j]", "step": "x_t", "neuron": "a0[b0 + j]"}[input_layout]
            lines.append(f"        const {ctype} in0 = {source};")
        elif name.startswith("s:"):
            lines.append(f"        const {ctype} in{k} = l{k}[j];")
        else:
            lines.append(f"        const {ctype} in{k} = a{k}[b0 + j];")
    lines.extend(body)

    lines.extend(tail)
    lines.append("      }")
    if events and wide:
        lines.extend(_event_scan("w1", "o + j0"))
        lines.append("      }")
    elif events:  # the step's outputs are in L1
        lines.extend(_event_scan("w", "o"))
    if indexed and record:
        # the lane arrays now hold the state after step t
        lines.append("      for (int64_t q = q0; q < q1; ++q) {")
        lines.append("        const int64_t j = rn[q] - b0, d = t * R + rc[q];")
        for r, leaf in enumerate(record):
            ctype = STORAGE[inputs[1 + leaf][1]]
            lines.append(f"        r{r}[d] = ({ctype})l{1 + leaf}[j];")
        lines.append("      }")
    lines.append("    }")
    if indexed:
        lines.append("    q0 = q1;")
    if not wide:
        lines.append("    for (int64_t j = 0; j < w; ++j) {")
        for k in state_ids:
            lines.append(f"      a{k}[b0 + j] = l{k}[j];")
        lines.append("    }")
    lines.append("  }")
    if events:
        lines.append("  evn[0] = ne;")
    lines.append("}")
    return "\n".join(lines) + "\n"
