"""``torch.compile`` (``fullgraph=True``), ``torch.jit.trace`` and ``torch.export`` give the
eager results, with and without autograd.

Without autograd the time layers normally run simctl's fused C kernel, which writes outside
torch's view of the computation; while torch records a program the layer must step aside and
run its step-function loop instead (else ``jit.trace`` returns uninitialised memory and
``compile``/``export`` fail). The surrogate thresholds must trace forward and backward without
graph breaks. ``backend="aot_eager"`` runs dynamo and AOTAutograd (where graph breaks and
functionalisation problems show up) without a C compiler.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import torch

import simctl.neurons as sn
from simctl.neurons.base import is_tracing
from simctl.neurons.threshold import THRESHOLD_METHODS, threshold

# torch 2.13's dynamo instantiates every autograd.Function it traces and then warns about it
# (torch's own DeprecationWarning, raised inside torch), and torch.jit.trace is deprecated in
# favour of compile/export; neither is a warning about this code, and trace is still tested
# because users still call it. jit.trace's TracerWarnings say that the initial state (built from
# the input's shape) is recorded as a constant: true, and the traced program is shape-specific.
pytestmark = [
    pytest.mark.filterwarnings("ignore::torch.jit.TracerWarning"),
    pytest.mark.filterwarnings("ignore:.*should not be instantiated:DeprecationWarning"),
    pytest.mark.filterwarnings("ignore:`torch.jit.trace.*` is deprecated:DeprecationWarning"),
]


class _Outputs(torch.nn.Module):
    """``module(x)[0]``: the spikes (or outputs) of a layer, as one tensor."""

    def __init__(self, module: torch.nn.Module):
        super().__init__()
        self.module = module

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.module(x)[0]


LAYERS: dict[str, Callable[[], torch.nn.Module]] = {
    "LIF": lambda: sn.LIF(),
    "LI": lambda: sn.LI(),
    "LSNN": lambda: sn.LSNN(),
    "IAF": lambda: sn.IAF(),
    "LIFEx": lambda: sn.LIFEx(),
    "LIFAdEx": lambda: sn.LIFAdEx(),
    "LIFBox": lambda: sn.LIFBox(),
    "Izhikevich": lambda: sn.Izhikevich(sn.tonic_spiking),
    "LIFRecurrent": lambda: _seeded(lambda: sn.LIFRecurrent(3, 3)),
}


def _seeded(build: Callable[[], torch.nn.Module]) -> torch.nn.Module:
    """Random initial weights drawn from a fixed seed (some draws never spike)."""
    with torch.random.fork_rng():
        torch.manual_seed(0)
        return build()


def _input(name: str) -> torch.Tensor:
    if name == "Izhikevich":  # tonic spiking at 0.25 ms per step fires after ~50 steps
        return 20.0 + torch.rand(80, 4, 3, generator=torch.Generator().manual_seed(2))
    return torch.rand(12, 4, 3, generator=torch.Generator().manual_seed(2)) * 3.0


def _run(kind: str, module: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    wrapped = _Outputs(module)
    if kind == "compile":
        torch._dynamo.reset()
        return torch.compile(wrapped, fullgraph=True, backend="aot_eager")(x)
    if kind == "trace":
        return torch.jit.trace(wrapped, (x,), check_trace=False)(x)
    return torch.export.export(wrapped, (x,)).module()(x)


@pytest.mark.parametrize("kind", ["compile", "trace", "export"])
@pytest.mark.parametrize("name", sorted(LAYERS))
def test_no_grad_programs_equal_eager(name: str, kind: str) -> None:
    """Under ``no_grad`` (the fused-kernel case) every recorded program equals eager."""
    module, x = LAYERS[name](), _input(name)
    with torch.no_grad():
        eager = module(x)[0]
        assert torch.equal(_run(kind, module, x), eager)
        assert eager.sum() > 0  # the case has spikes (or output), so equality means something


@pytest.mark.parametrize("kind", ["compile", "trace", "export"])
@pytest.mark.parametrize("name", ["LIF", "LIFRecurrent"])
def test_grad_programs_equal_eager(name: str, kind: str) -> None:
    module, x = LAYERS[name](), _input(name)
    assert torch.equal(_run(kind, module, x), module(x)[0])


def test_compiled_gradients_equal_eager() -> None:
    """Backward through a compiled LIF layer (fullgraph) equals eager autograd."""
    x = _input("LIF").requires_grad_(True)
    layer = sn.LIF(sn.LIFParameters(v_th=torch.nn.Parameter(torch.full((3,), 0.8))))
    (eager,) = torch.autograd.grad(layer(x)[0].sum(), x)
    torch._dynamo.reset()
    compiled = torch.compile(_Outputs(layer), fullgraph=True, backend="aot_eager")
    (traced,) = torch.autograd.grad(compiled(x).sum(), x)
    torch.testing.assert_close(traced, eager)
    assert eager.abs().sum() > 0


@pytest.mark.parametrize("method", THRESHOLD_METHODS)
@pytest.mark.parametrize("alpha", [2.0, "tensor"])
def test_surrogates_compile_without_graph_breaks(method: str, alpha: Any) -> None:
    """Forward and backward of every surrogate in one graph; the gradient is eager's."""
    alpha = torch.tensor(2.0) if alpha == "tensor" else alpha
    x = torch.linspace(-1.0, 1.0, 9, requires_grad=True)

    def f(t: torch.Tensor) -> torch.Tensor:
        return threshold(t, method, alpha)

    torch._dynamo.reset()
    compiled = torch.compile(f, fullgraph=True, backend="aot_eager")
    out = compiled(x)
    assert torch.equal(out, f(x))
    if method == "heaviside":
        assert not out.requires_grad
        return
    (g_compiled,) = torch.autograd.grad(out.sum(), x)
    (g_eager,) = torch.autograd.grad(f(x).sum(), x)
    torch.testing.assert_close(g_compiled, g_eager)


def test_is_tracing_outside_and_inside() -> None:
    assert not is_tracing()
    seen: list[bool] = []

    def probe(t: torch.Tensor) -> torch.Tensor:
        seen.append(is_tracing())
        return t + 1

    torch.jit.trace(probe, (torch.ones(1),), check_trace=False)
    assert seen == [True]


def test_compiled_outputs_are_differentiable_like_eager() -> None:
    """Eagerly the initial v requires grad, so the spikes of a parameter-free layer on a plain
    input are differentiable; the fullgraph-compiled layer keeps that (Norse's compile tests
    call backward on such outputs)."""
    x = _input("LIF")
    eager = sn.LIF()(x)[0]
    torch._dynamo.reset()
    compiled = torch.compile(_Outputs(sn.LIF()), fullgraph=True, backend="aot_eager")(x)
    assert eager.requires_grad and compiled.requires_grad
    assert torch.equal(compiled, eager)
    compiled.sum().backward()  # runs (the gradient reaches only the constant initial state)
