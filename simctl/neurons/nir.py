r"""NIR export and import: :func:`to_nir` and :func:`from_nir`.

The Neuromorphic Intermediate Representation (NIR; Pedersen et al., "Neuromorphic
intermediate representation: a unified instruction set for interoperable brain-inspired
computing", Nat. Commun. 15, 8122, 2024; https://neuroir.org) describes a spiking network as a
graph of continuous-time nodes. Each simulator picks its own time step and discretises the
ODEs. simctl's cells are the forward-Euler discretisation of these ODEs, with a step of ``dt``:

======================  =========================================================================
simctl cell             NIR node (ODE)
======================  =========================================================================
``LIFBoxCell``          ``LIF``: ``tau·v' = (v_leak − v) + r·I``, spike when ``v > v_threshold``,
                        then ``v = v_reset``. ``tau = 1/tau_mem_inv``, ``r = 1``
``LIFCell``             ``CubaLIF``: ``tau_syn·I' = −I + w_in·S`` and the LIF membrane with
                        ``r·I``. ``tau_syn = 1/tau_syn_inv``, ``tau_mem = 1/tau_mem_inv``,
                        ``r = 1``, ``w_in = tau_syn/dt``
``LIBoxCell``           ``LI``: ``tau·v' = (v_leak − v) + r·I`` (no spikes; the output is ``v``)
``LICell``              ``CubaLI``: as ``CubaLIF`` without the spikes
``IAFCell``             ``IF``: ``v' = r·I``, ``r = 1/dt``
``torch.nn.Linear``     ``Affine`` (a zero bias when the layer has none, as Norse writes it)
``torch.nn.Conv2d``     ``Conv2d``;  ``torch.nn.Flatten``: ``Flatten``
``AvgPool2d``           ``AvgPool2d``;  ``LPPool2d(1, ...)``: ``SumPool2d``
``LIFRecurrentCell``    a sub-graph ``input → w_in (Linear) → neuron (CubaLIF) → output`` with
                        the recurrent edge ``neuron → w_rec (Linear) → neuron``
======================  =========================================================================

**The time step.** simctl's cells add one input sample per step as a jump (``i += x`` for the
current-based cells, ``v += dt·tau_mem_inv·x`` for the box cells, ``v += x`` for IAF). Forward
Euler of NIR's ODEs with step ``dt`` gives a jump ``dt/tau_syn·w_in·x`` of the current and
``dt·r·x`` of an IF potential, so ``w_in = tau_syn/dt`` and ``r = 1/dt`` make the two the same
discrete system: importing the graph with the same ``dt`` reproduces the exported module
step for step. A graph written by another simulator imports with *its* ``dt`` (snnTorch writes
its ``Leaky`` and ``Synaptic`` layers with ``dt = 1e-4``, ``tau = dt/(1 − beta)`` and
``r = tau/dt``): a node whose ``r`` (or ``r·w_in·dt/tau_syn``) is not 1 is imported as a simctl
cell behind an elementwise input scale (:class:`ScaledInput`), which is exact because the
dynamics are linear in the input until the threshold.

**Deviations from Norse 1.1.0's** ``to_nir``/``from_nir`` (``norse.torch.utils``): Norse writes
``tau = dt/tau_mem_inv`` (a time constant multiplied by ``dt²``; its own import reads
``tau_mem_inv = 1/tau``, so a Norse graph does not round-trip), ``r = 1`` for IF and
``w_in = 1`` for ``LIFCell``; it imports ``CubaLIF`` as a box synapse followed by a
``LIFBoxCell`` and ignores ``r``. simctl writes and reads NIR's ODE parameters as stated above,
imports ``CubaLIF`` as one ``LIFCell`` (the same equations: the jump of the current comes
first, then the membrane step uses it) and executes graphs itself rather than through
``nirtorch``. Requires the optional ``nir`` package (``pip install simctl[nir]``).

Examples:
    >>> import torch
    >>> from simctl.neurons import LIFBoxCell, SequentialState
    >>> model = SequentialState(torch.nn.Linear(3, 2), LIFBoxCell())
    >>> graph = to_nir(model, torch.zeros(1, 3))
    >>> sorted(graph.nodes), type(graph.nodes["1"]).__name__, float(graph.nodes["1"].tau[0])
    (['0', '1', 'input', 'output'], 'LIF', 0.01)
    >>> again = from_nir(graph)
    >>> x = torch.randn(1, 3)
    >>> bool(torch.equal(again(x)[0], model(x)[0]))
    True
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np
import torch

from .containers import SequentialState, is_stateful
from .iaf import IAFCell, IAFParameters
from .li import LICell, LIParameters
from .li_box import LIBoxCell, LIBoxParameters
from .lif import LIFCell, LIFParameters, LIFRecurrentCell
from .lif_box import LIFBoxCell, LIFBoxParameters, ResetMethod, reset_subtract, reset_value

if TYPE_CHECKING:  # the nir package is an optional extra
    import nir

__all__ = ["to_nir", "from_nir", "NIRGraphModule", "NIRGraphState", "ScaledInput"]


def _nir() -> Any:
    try:
        import nir
    except ImportError as error:  # pragma: no cover - exercised only without the extra
        raise ImportError(
            "to_nir/from_nir need the 'nir' package: pip install 'simctl[nir]' (or pip install nir)"
        ) from error
    return nir


def _identity_class() -> type:
    from nir.ir.graph import Identity  # not exported at nir's top level (1.0)

    return Identity


# ----------------------------------------------------------------------------------------------
# export


def _array(value: Any, shape: tuple[int, ...]) -> np.ndarray:
    """A parameter (number or tensor) as a float64 array of the population ``shape``."""
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu().double().numpy()
    return np.broadcast_to(np.asarray(value, dtype=np.float64), shape).copy()


def _check_dt(module: torch.nn.Module, dt: float | None) -> float:
    own = float(module.dt)  # type: ignore[arg-type]
    if dt is not None and not math.isclose(dt, own, rel_tol=1e-12, abs_tol=0.0):
        raise ValueError(
            f"to_nir: dt={dt} differs from the dt={own} that {type(module).__name__} runs with; "
            "pass the module's dt (or dt=None)"
        )
    return own


def _neuron_node(cell: torch.nn.Module, shape: tuple[int, ...], dt: float | None) -> Any:
    """The NIR node of a feed-forward simctl cell (see the table in the module docstring)."""
    nir = _nir()
    step = _check_dt(cell, dt)
    p = cell.p  # type: ignore[attr-defined]
    a = lambda value: _array(value, shape)  # noqa: E731
    ones = np.ones(shape)
    if isinstance(cell, LIFBoxCell):
        if p.reset_method is not reset_value:
            raise ValueError(
                f"to_nir: LIFBoxCell reset_method={getattr(p.reset_method, '__name__', '?')} has "
                "no NIR equivalent; NIR's LIF resets to v_reset (reset_value)"
            )
        return nir.LIF(
            tau=1.0 / a(p.tau_mem_inv),
            r=ones,
            v_leak=a(p.v_leak),
            v_threshold=a(p.v_th),
            v_reset=a(p.v_reset),
        )
    if isinstance(cell, LIFCell):
        tau_syn = 1.0 / a(p.tau_syn_inv)
        return nir.CubaLIF(
            tau_syn=tau_syn,
            tau_mem=1.0 / a(p.tau_mem_inv),
            r=ones,
            v_leak=a(p.v_leak),
            v_threshold=a(p.v_th),
            v_reset=a(p.v_reset),
            w_in=tau_syn / step,
        )
    if isinstance(cell, LIBoxCell):
        return nir.LI(tau=1.0 / a(p.tau_mem_inv), r=ones, v_leak=a(p.v_leak))
    if isinstance(cell, LICell):
        tau_syn = 1.0 / a(p.tau_syn_inv)
        return nir.CubaLI(
            tau_syn=tau_syn,
            tau_mem=1.0 / a(p.tau_mem_inv),
            r=ones,
            v_leak=a(p.v_leak),
            w_in=tau_syn / step,
        )
    if isinstance(cell, IAFCell):
        return nir.IF(r=ones / step, v_threshold=a(p.v_th), v_reset=a(p.v_reset))
    raise TypeError(type(cell).__name__)


#: recurrent cell -> the feed-forward cell with the same parameters
_RECURRENT: dict[type, type] = {LIFRecurrentCell: LIFCell}


def _scale_node(node: Any, scale: np.ndarray) -> Any:
    """``node`` fed through an elementwise input scale: ``r`` (and an IF's ``r``) times it."""
    node.r = node.r * scale
    return node


def _export(module: torch.nn.Module, x: torch.Tensor, dt: float | None) -> Any:
    nir = _nir()
    shape = tuple(x.shape[1:])  # NIR's types leave out the batch dimension
    if isinstance(module, NIRGraphModule):
        return _export_graph(module, x, dt)
    if isinstance(module, _Flatten):
        start, end = module.nir_dims
        has_batch = module.ndim is None or x.dim() == module.ndim + 1
        return nir.Flatten(
            input_type={"input": np.array(tuple(x.shape[1:] if has_batch else x.shape))},
            start_dim=start,
            end_dim=end,
        )
    if isinstance(module, _Scale):
        return nir.Scale(scale=_array(module.scale, shape))
    if isinstance(module, _Threshold):
        return nir.Threshold(threshold=_array(module.threshold, shape))
    if isinstance(module, torch.nn.AvgPool2d) and module.divisor_override == 1:
        pair = torch.nn.modules.utils._pair
        return nir.SumPool2d(
            kernel_size=np.array(pair(module.kernel_size)),
            stride=np.array(pair(module.stride or module.kernel_size)),
            padding=np.array(pair(module.padding)),
        )
    if isinstance(module, ScaledInput):
        node = _export(module.module, x, dt)
        if not hasattr(node, "r"):
            raise ValueError(f"to_nir: ScaledInput around {type(module.module).__name__}")
        return _scale_node(node, _array(module.scale, shape))
    if isinstance(module, (LIFBoxCell, LIFCell, LIBoxCell, LICell, IAFCell)):
        return _neuron_node(module, shape, dt)
    feed_forward = next((ff for rc, ff in _RECURRENT.items() if isinstance(module, rc)), None)
    if feed_forward is not None:
        n = int(module.hidden_size)  # type: ignore[arg-type]
        cell = feed_forward(module.p, dt=module.dt)
        neuron = _neuron_node(cell, (n,), dt)
        w_in = module.input_weights.detach().cpu().double().numpy()  # type: ignore[union-attr]
        w_rec = module.recurrent_weights.detach().cpu().double().numpy()  # type: ignore[union-attr]
        return nir.NIRGraph(
            nodes={
                "input": nir.Input(input_type={"input": np.array([w_in.shape[1]])}),
                "w_in": nir.Linear(weight=w_in),
                "neuron": neuron,
                "w_rec": nir.Linear(weight=w_rec),
                "output": nir.Output(output_type={"output": np.array([n])}),
            },
            edges=[
                ("input", "w_in"),
                ("w_in", "neuron"),
                ("neuron", "w_rec"),
                ("w_rec", "neuron"),
                ("neuron", "output"),
            ],
        )
    if isinstance(module, torch.nn.Linear):
        weight = module.weight.detach().cpu().numpy()
        bias = (
            np.zeros(weight.shape[0], dtype=weight.dtype)
            if module.bias is None
            else module.bias.detach().cpu().numpy()
        )
        return nir.Affine(weight=weight, bias=bias)
    if isinstance(module, torch.nn.Conv2d):
        weight = module.weight.detach().cpu().numpy()
        bias = (
            np.zeros(weight.shape[0], dtype=weight.dtype)
            if module.bias is None
            else module.bias.detach().cpu().numpy()
        )
        if module.padding_mode != "zeros":
            raise ValueError(f"to_nir: Conv2d padding_mode={module.padding_mode!r}; NIR pads zeros")
        return nir.Conv2d(
            input_shape=tuple(int(s) for s in x.shape[-2:]),
            weight=weight,
            stride=module.stride,
            padding=module.padding,
            dilation=module.dilation,
            groups=module.groups,
            bias=bias,
        )
    if isinstance(module, torch.nn.Flatten):
        start, end = module.start_dim, module.end_dim
        return nir.Flatten(
            input_type={"input": np.array(shape)},
            start_dim=start - 1 if start > 0 else start,
            end_dim=end - 1 if end > 0 else end,
        )
    if isinstance(module, torch.nn.AvgPool2d):
        pair = torch.nn.modules.utils._pair
        return nir.AvgPool2d(
            kernel_size=np.array(pair(module.kernel_size)),
            stride=np.array(pair(module.stride or module.kernel_size)),
            padding=np.array(pair(module.padding)),
        )
    if isinstance(module, torch.nn.LPPool2d) and float(module.norm_type) == 1.0:
        pair = torch.nn.modules.utils._pair
        return nir.SumPool2d(
            kernel_size=np.array(pair(module.kernel_size)),
            stride=np.array(pair(module.stride or module.kernel_size)),
            padding=np.array([0, 0]),
        )
    if isinstance(module, torch.nn.Identity):
        return _identity_class()(input_type={"input": np.array(shape)})
    raise ValueError(
        f"to_nir: {type(module).__name__} has no NIR node; supported: LIFBoxCell, LIFCell, "
        "LIBoxCell, LICell, IAFCell, LIFRecurrentCell, ScaledInput, Linear, "
        "Conv2d, Flatten, AvgPool2d, LPPool2d(1), Identity (in a SequentialState or "
        "torch.nn.Sequential), and graphs imported with from_nir"
    )


def _export_graph(module: NIRGraphModule, x: torch.Tensor, dt: float | None) -> Any:
    """An imported graph written back: its nodes and edges, each node's shape from a run."""
    nir = _nir()
    module._trace = {}
    try:
        with torch.no_grad():
            _, state = module(x)
            module(x, state)  # a second step reaches the nodes fed only by back edges
        inputs = module._trace
    finally:
        module._trace = None
    nodes: dict[str, Any] = {}
    for name in module.node_names:
        if name in module.inputs:
            nodes[name] = nir.Input(input_type={"input": np.array(tuple(x.shape[1:]))})
        elif name not in inputs:
            raise ValueError(f"to_nir: node {name!r} of the graph received no input")
        elif name in module.outputs:
            shape = np.array(tuple(inputs[name].shape[1:]))
            nodes[name] = nir.Output(output_type={"output": shape})
        elif name in module.attributes:
            nodes[name] = _export(getattr(module, module.attributes[name]), inputs[name], dt)
        else:
            shape = np.array(tuple(inputs[name].shape[1:]))
            nodes[name] = _identity_class()(input_type={"input": shape})
    return nir.NIRGraph(nodes=nodes, edges=list(module.edges), type_check=False)


def _first(output: Any) -> torch.Tensor:
    return output[0] if isinstance(output, tuple) else output


def to_nir(
    module: torch.nn.Module,
    sample_data: torch.Tensor,
    model_name: str = "norse",
    dt: float | None = None,
) -> nir.NIRGraph:
    """Exports a simctl module (one cell or layer, or a :class:`SequentialState` /
    ``torch.nn.Sequential`` of them, or a graph imported with :func:`from_nir`) as a NIR graph
    (Norse's ``norse.torch.utils.export_nir.to_nir``).

    Args:
        module: the network; each layer maps to one node (see the module docstring).
        sample_data: one input sample *with* a batch dimension first, e.g. ``(1, n)``; it is
            run through the layers once (without gradients) to find every node's shape.
        model_name: the node name of a single module that is not a container (as in Norse).
        dt: the integration step; ``None`` (default) takes each cell's own ``dt``. Given, it
            must equal the cells' ``dt`` (the NIR parameters ``w_in`` and an IF's ``r`` depend
            on it).

    Returns:
        a ``nir.NIRGraph`` ``input → layer 0 → ... → output`` whose layer nodes are named as
        the container names its children (``"0"``, ``"1"``, ...).

    Raises:
        ValueError: for a layer NIR cannot describe (the message lists the supported ones).
    """
    nir = _nir()
    if isinstance(module, NIRGraphModule):  # a graph imported with from_nir
        return _export_graph(module, sample_data, dt)
    if isinstance(module, (SequentialState, torch.nn.Sequential)):
        layers = list(module.named_children())
    else:
        layers = [(model_name, module)]
    nodes: dict[str, Any] = {
        "input": nir.Input(input_type={"input": np.array(tuple(sample_data.shape[1:]))})
    }
    edges: list[tuple[str, str]] = []
    previous = "input"
    x = sample_data
    with torch.no_grad():
        for name, layer in layers:
            nodes[name] = _export(layer, x, dt)
            edges.append((previous, name))
            previous = name
            x = _first(layer(x))
    nodes["output"] = nir.Output(output_type={"output": np.array(tuple(x.shape[1:]))})
    edges.append((previous, "output"))
    return nir.NIRGraph(nodes=nodes, edges=edges, type_check=False)


# ----------------------------------------------------------------------------------------------
# import


class ScaledInput(torch.nn.Module):
    """``module(scale · x, state)``: an elementwise input scale in front of a cell (how NIR's
    resistance ``r`` and input weight ``w_in`` enter simctl's cells)."""

    def __init__(self, module: torch.nn.Module, scale: torch.Tensor):
        super().__init__()
        self.module = module
        self.register_buffer("scale", torch.as_tensor(scale))

    def forward(self, input_tensor: torch.Tensor, state: Any | None = None) -> tuple[Any, Any]:
        return self.module(self.scale * input_tensor, state)


class _Flatten(torch.nn.Flatten):
    """NIR's ``Flatten`` counts dimensions without the batch; this one adds the batch
    dimension when the input has one more dimension than the node's input type."""

    def __init__(self, start_dim: int, end_dim: int, ndim: int | None):
        super().__init__(start_dim, end_dim)
        self.nir_dims = (start_dim, end_dim)
        self.ndim = ndim

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        start, end = self.nir_dims
        if self.ndim is None or input.dim() == self.ndim + 1:
            start = start + 1 if start >= 0 else start
            end = end + 1 if end >= 0 else end
        return input.flatten(start, end)


class _Scale(torch.nn.Module):
    def __init__(self, scale: torch.Tensor):
        super().__init__()
        self.register_buffer("scale", scale)

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        return self.scale * input


class _Threshold(torch.nn.Module):
    def __init__(self, threshold: torch.Tensor):
        super().__init__()
        self.register_buffer("threshold", threshold)

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        return torch.gt(input, self.threshold).to(input.dtype)


def _tensor(value: Any) -> torch.Tensor:
    """A NIR array (numpy, number or tensor) as a tensor of torch's default dtype."""
    if isinstance(value, torch.Tensor):
        return value.detach().to(torch.get_default_dtype())
    return torch.as_tensor(np.asarray(value, dtype=np.float64)).to(torch.get_default_dtype())


def _f64(value: Any) -> np.ndarray:
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu().double().numpy()
    return np.asarray(value, dtype=np.float64)


def _ints(value: Any) -> Any:
    if isinstance(value, str):
        return value
    array = np.atleast_1d(np.asarray(value)).astype(int)
    return tuple(int(v) for v in array) if array.size > 1 else int(array[0])


def _pair(value: Any) -> tuple[int, int]:
    ints = _ints(value)
    return (ints, ints) if isinstance(ints, int) else (int(ints[0]), int(ints[1]))


def _wrap(cell: torch.nn.Module, scale: np.ndarray) -> torch.nn.Module:
    """The cell, behind an input scale unless the scale is 1 (to float64 rounding)."""
    if np.allclose(scale, 1.0, rtol=0.0, atol=1e-9):
        return cell
    return ScaledInput(cell, _tensor(scale))


def _import_node(
    name: str, node: Any, ignore_warnings: bool, reset_method: ResetMethod, dt: float
) -> torch.nn.Module | None:
    """One NIR node as a simctl or torch module (``None`` for Input/Output/Identity)."""
    nir = _nir()
    if isinstance(node, nir.NIRGraph):
        return NIRGraphModule(node, ignore_warnings, reset_method, dt)
    if isinstance(node, (nir.Input, nir.Output, _identity_class())):
        return None
    if isinstance(node, nir.Affine):
        weight = _tensor(node.weight)
        module = torch.nn.Linear(weight.shape[1], weight.shape[0], bias=node.bias is not None)
        with torch.no_grad():
            module.weight.copy_(weight)
            if node.bias is not None:
                module.bias.copy_(_tensor(node.bias))
        return module
    if isinstance(node, nir.Linear):
        weight = _tensor(node.weight)
        module = torch.nn.Linear(weight.shape[1], weight.shape[0], bias=False)
        with torch.no_grad():
            module.weight.copy_(weight)
        return module
    if isinstance(node, nir.Conv2d):
        weight = _tensor(node.weight)
        groups = int(node.groups)
        bias = node.bias
        padding = _ints(node.padding)
        module = torch.nn.Conv2d(
            in_channels=weight.shape[1] * groups,
            out_channels=weight.shape[0],
            kernel_size=tuple(weight.shape[-2:]),
            stride=_ints(node.stride),
            padding=padding,
            dilation=_ints(node.dilation),
            groups=groups,
            bias=bias is not None,
        )
        with torch.no_grad():
            module.weight.copy_(weight)
            if bias is not None:
                module.bias.copy_(_tensor(bias).reshape(-1).expand(weight.shape[0]))
        return module
    if isinstance(node, nir.Flatten):
        input_type = (node.input_type or {}).get("input")
        ndim = None if input_type is None else int(np.asarray(input_type).size)
        return _Flatten(int(node.start_dim), int(node.end_dim), ndim)
    if isinstance(node, nir.SumPool2d):
        padding = _pair(node.padding)
        if padding == (0, 0):
            return torch.nn.LPPool2d(1, _pair(node.kernel_size), _pair(node.stride))
        return torch.nn.AvgPool2d(
            _pair(node.kernel_size), _pair(node.stride), padding, divisor_override=1
        )
    if isinstance(node, nir.AvgPool2d):
        return torch.nn.AvgPool2d(
            _pair(node.kernel_size), _pair(node.stride), _pair(node.padding), count_include_pad=True
        )
    if isinstance(node, nir.Scale):
        return _Scale(_tensor(node.scale))
    if isinstance(node, nir.Threshold):
        return _Threshold(_tensor(node.threshold))
    if isinstance(node, nir.LIF):
        p = LIFBoxParameters(
            tau_mem_inv=_tensor(1.0 / _f64(node.tau)),
            v_leak=_tensor(node.v_leak),
            v_th=_tensor(node.v_threshold),
            v_reset=_tensor(node.v_reset),
            reset_method=reset_method,
        )
        return _wrap(LIFBoxCell(p, dt=dt), _f64(node.r))
    if reset_method is not reset_value and isinstance(node, (nir.CubaLIF, nir.IF)):
        raise ValueError(
            f"from_nir: reset_method={getattr(reset_method, '__name__', reset_method)} applies "
            f"to LIF nodes only; node {name!r} ({type(node).__name__}) resets to v_reset"
        )
    if isinstance(node, nir.CubaLIF):
        tau_syn = _f64(node.tau_syn)
        p = LIFParameters(
            tau_syn_inv=_tensor(1.0 / tau_syn),
            tau_mem_inv=_tensor(1.0 / _f64(node.tau_mem)),
            v_leak=_tensor(node.v_leak),
            v_th=_tensor(node.v_threshold),
            v_reset=_tensor(node.v_reset),
        )
        scale = _f64(node.r) * _f64(node.w_in) * dt / tau_syn
        return _wrap(LIFCell(p, dt=dt), scale)
    if isinstance(node, nir.LI):
        p = LIBoxParameters(tau_mem_inv=_tensor(1.0 / _f64(node.tau)), v_leak=_tensor(node.v_leak))
        return _wrap(LIBoxCell(p, dt=dt), _f64(node.r))
    if isinstance(node, nir.CubaLI):
        tau_syn = _f64(node.tau_syn)
        p = LIParameters(
            tau_syn_inv=_tensor(1.0 / tau_syn),
            tau_mem_inv=_tensor(1.0 / _f64(node.tau_mem)),
            v_leak=_tensor(node.v_leak),
        )
        return _wrap(LICell(p, dt=dt), _f64(node.r) * _f64(node.w_in) * dt / tau_syn)
    if isinstance(node, nir.IF):
        p = IAFParameters(v_th=_tensor(node.v_threshold), v_reset=_tensor(node.v_reset))
        return _wrap(IAFCell(p, dt=dt), _f64(node.r) * dt)
    raise ValueError(
        f"from_nir: node {name!r} of type {type(node).__name__} is not supported; supported: "
        "Affine, Linear, Conv2d, Flatten, SumPool2d, AvgPool2d, Scale, Threshold, LIF, CubaLIF, "
        "LI, CubaLI, IF, Input, Output, Identity and sub-graphs"
    )


class NIRGraphState(NamedTuple):
    """State of a :class:`NIRGraphModule`: each stateful node's state, and the last output of
    every node that feeds a recurrent edge (read on the next step)."""

    nodes: dict[str, Any]
    recurrent: dict[str, torch.Tensor]


def _attribute(name: str) -> str:
    return name.replace(".", "_") or "_"


class NIRGraphModule(torch.nn.Module):
    """A NIR graph as one simctl cell: ``forward(x, state=None) -> (output, state)`` advances
    every node by one time step.

    A node's input is the sum of the outputs on its incoming edges (NIR's convention). Nodes
    run in a topological order of the graph without its back edges; a back edge (a cycle: a
    recurrent weight) carries the source node's output of the *previous* step, and nothing on
    the first step. Sub-graphs run as nested ``NIRGraphModule`` s. The node modules are
    attributes named after their nodes (``.`` becomes ``_``), so ``module.affine`` is the
    ``torch.nn.Linear`` of a node called ``affine``.
    """

    def __init__(
        self,
        graph: nir.NIRGraph,
        ignore_warnings: bool = False,
        reset_method: ResetMethod = reset_value,
        dt: float = 0.001,
    ):
        super().__init__()
        nir = _nir()
        self.dt = dt
        self.node_names = list(graph.nodes)
        self.inputs = [n for n, v in graph.nodes.items() if isinstance(v, nir.Input)]
        self.outputs = [n for n, v in graph.nodes.items() if isinstance(v, nir.Output)]
        if len(self.inputs) != 1 or not self.outputs:
            raise ValueError(
                f"from_nir: a graph needs one Input node and at least one Output node, got "
                f"inputs {self.inputs} and outputs {self.outputs}"
            )
        self.attributes: dict[str, str] = {}
        for name, node in graph.nodes.items():
            module = _import_node(name, node, ignore_warnings, reset_method, dt)
            if module is not None:
                self.attributes[name] = _attribute(name)
                self.add_module(self.attributes[name], module)
        unknown = {n for edge in graph.edges for n in edge} - set(graph.nodes)
        if unknown:
            raise ValueError(f"from_nir: edges name nodes that do not exist: {sorted(unknown)}")
        self.edges = [(str(a), str(b)) for a, b in graph.edges]
        self.order, self.back_edges = self._schedule()
        self.stateful = {
            name: is_stateful(getattr(self, attribute))
            for name, attribute in self.attributes.items()
        }
        self._trace: dict[str, torch.Tensor] | None = None  # node inputs, while to_nir runs

    def _schedule(self) -> tuple[list[str], set[tuple[str, str]]]:
        """Depth-first from the input: edges into a node on the current path are back edges."""
        successors: dict[str, list[str]] = {n: [] for n in self.node_names}
        for a, b in self.edges:
            successors[a].append(b)
        done: set[str] = set()
        on_path: set[str] = set()
        back: set[tuple[str, str]] = set()
        post: list[str] = []

        def visit(node: str) -> None:
            on_path.add(node)
            for nxt in successors[node]:
                if nxt in on_path:
                    back.add((node, nxt))
                elif nxt not in done:
                    visit(nxt)
            on_path.discard(node)
            done.add(node)
            post.append(node)

        for start in self.inputs + self.node_names:
            if start not in done:
                visit(start)
        return post[::-1], back

    def forward(
        self, input_tensor: torch.Tensor, state: NIRGraphState | None = None
    ) -> tuple[Any, NIRGraphState]:
        previous = state.recurrent if state is not None else {}
        node_states = dict(state.nodes) if state is not None else {}
        values: dict[str, torch.Tensor] = {}
        incoming: dict[str, list[tuple[str, bool]]] = {n: [] for n in self.node_names}
        for a, b in self.edges:
            incoming[b].append((a, (a, b) in self.back_edges))
        for name in self.order:
            if name in self.inputs:
                values[name] = input_tensor
                continue
            terms = [previous.get(a) if is_back else values.get(a) for a, is_back in incoming[name]]
            terms = [t for t in terms if t is not None]
            if not terms:
                continue  # fed only by a recurrent edge on the first step: nothing yet
            x = terms[0]
            for t in terms[1:]:
                x = x + t
            if self._trace is not None:
                self._trace[name] = x
            attribute = self.attributes.get(name)
            if attribute is None:  # Output, Identity
                values[name] = x
            elif self.stateful[name]:
                out, node_states[name] = getattr(self, attribute)(x, node_states.get(name))
                values[name] = out
            else:
                values[name] = getattr(self, attribute)(x)
        recurrent = {a: values[a] for a, _ in self.back_edges if a in values}
        outputs = [values.get(name) for name in self.outputs]
        output: Any = outputs[0] if len(outputs) == 1 else tuple(outputs)
        return output, NIRGraphState(nodes=node_states, recurrent=recurrent)


def from_nir(
    node: nir.NIRNode | str,
    ignore_warnings: bool = False,
    reset_method: ResetMethod = reset_value,
    dt: float = 0.001,
) -> NIRGraphModule:
    """Imports a NIR graph as a simctl module (Norse's ``norse.torch.utils.import_nir.from_nir``).

    Args:
        node: a ``nir.NIRGraph``, a single NIR node (wrapped as ``input → node → output``), or
            the path of a ``.nir`` file.
        ignore_warnings: accepted for Norse's signature; simctl represents ``r`` and ``w_in``
            exactly (through :class:`ScaledInput`) and has nothing to warn about.
        reset_method: the reset of ``LIF`` nodes (:func:`reset_value`, NIR's convention, or
            :func:`reset_subtract`); other spiking nodes reset to ``v_reset``.
        dt: the step the graph is discretised with (see the module docstring); use the ``dt``
            the exporting simulator ran with (snnTorch: ``1e-4``).

    Returns:
        a :class:`NIRGraphModule`: one call advances one time step, ``(output, state)``.
    """
    nir = _nir()
    if isinstance(node, str):
        node = nir.read(node)
    if not isinstance(node, nir.NIRGraph):
        node = nir.NIRGraph.from_list(node, type_check=False)  # type: ignore[call-arg]
    if reset_method not in (reset_value, reset_subtract) and not callable(reset_method):
        raise ValueError(f"from_nir: reset_method must be callable, got {reset_method!r}")
    return NIRGraphModule(node, ignore_warnings, reset_method, dt)
