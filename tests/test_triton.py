"""The Triton backend equals the reference loop over each model's step function.

Without a GPU the kernels run in Triton's interpreter (``TRITON_INTERPRET=1``: the same
generated source, executed with numpy on CPU tensors); with CUDA the ``cuda`` cases run the
compiled kernels. Equality is exact (``torch.equal``) for steps made of arithmetic and
comparisons, in float32 and float64: every operation is computed in torch's dtype, divisions and
square roots round to nearest, and FMA contraction is off. A step that calls a transcendental
function (``exp`` in lif_ex / AdEx) gets numpy's ``exp`` in the interpreter and libdevice's on
the GPU, not torch's vectorised one; both are within an ulp or two of the true value, so those
models are compared at 1e-12 relative in float64 and 1e-5 in float32 (a few float32 ulps grown
over the steps), with identical spike trains.

Sizes are small (the interpreter runs each program in Python, with numpy per block): the
whole file takes about 25 s of CPU time. Without a GPU, the GPU form of a few kernels is also
compiled ahead of time for sm_90 (Triton's compiler and ptxas need no device) and its PTX
checked for exact arithmetic.
"""

from __future__ import annotations

import importlib
import logging
from typing import Any, NamedTuple

import numpy as np
import pytest
import torch

from simctl import kernels
from simctl.kernels import triton_backend
from simctl.neurons import MODEL_MODULES, izhikevich, lif
from simctl.neurons.base import NeuronModel

pytest.importorskip("triton")

pytestmark = pytest.mark.triton

_TRANSCENDENTAL = ("exp(", "log(", "sin(", "cos(", "erf(", "pow(", "tanh(")

has_cuda = torch.cuda.is_available()
_DEVICES = [
    pytest.param("interpret", id="interpret"),
    pytest.param(
        "cuda",
        id="cuda",
        marks=[pytest.mark.cuda, pytest.mark.skipif(not has_cuda, reason="needs CUDA")],
    ),
]


@pytest.fixture(autouse=True)
def _env(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("SIMCTL_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "kernels"))
    monkeypatch.setenv("TRITON_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "triton"))
    monkeypatch.setenv("SIMCTL_KERNELS", "triton")


@pytest.fixture(params=_DEVICES)
def device(request, monkeypatch) -> str:
    """``"cpu"`` under Triton's interpreter, or ``"cuda"`` compiled (skipped without CUDA)."""
    if request.param == "interpret":
        monkeypatch.setenv("TRITON_INTERPRET", "1")
        return "cpu"
    monkeypatch.delenv("TRITON_INTERPRET", raising=False)
    return "cuda"


@pytest.fixture
def small_block(monkeypatch):
    """Programs of 16 neurons, so that a few dozen neurons span several programs and a
    partial last one."""
    monkeypatch.setattr(triton_backend, "BLOCK", 16)
    monkeypatch.setattr(triton_backend, "NUM_WARPS", 1)


def _to(value: Any, device: str) -> Any:
    if isinstance(value, torch.Tensor):
        return value.to(device)
    if isinstance(value, tuple) and hasattr(value, "_fields"):
        return type(value)(*[_to(v, device) for v in value])
    return value


def _cpu(value: Any) -> Any:
    return _to(value, "cpu")


def _compare_tensor(a: torch.Tensor, b: torch.Tensor, exact: bool) -> None:
    a = a.cpu()
    b = b.expand(a.shape) if b.shape != a.shape else b
    assert a.dtype == b.dtype and a.shape == b.shape
    if exact:
        assert torch.equal(a, b), (a - b).abs().max()
    else:
        tol = 1e-12 if a.dtype == torch.float64 else 1e-5
        torch.testing.assert_close(a, b, rtol=tol, atol=tol)


def _compare(fast, ref, exact: bool = True) -> None:
    out, traces, final = fast
    out_r, traces_r, final_r = ref
    assert torch.equal(out.cpu(), out_r)  # spike trains identical in every case
    assert traces.keys() == traces_r.keys()
    for name in traces:
        _compare_tensor(traces[name], traces_r[name], exact)
    for a, b in zip(kernels.trace.flatten(final), kernels.trace.flatten(final_r), strict=True):
        _compare_tensor(a[1], b[1], exact)


def _library_models() -> list[Any]:
    found = []
    for name in MODEL_MODULES:
        module = importlib.import_module(f"simctl.neurons.{name}")
        if not isinstance(getattr(module, "MODEL", None), NeuronModel):
            raise AssertionError(f"simctl.neurons.{name} defines no MODEL")
        found.append(pytest.param(module.MODEL, id=name))
    return found


def _parameters(model: NeuronModel) -> Any:
    try:
        return model.parameters()
    except TypeError:  # required fields: the model's first preset
        presets = model.extra.get("presets")
        if not presets:
            pytest.skip(f"{model.name}: no default parameters")
        return next(iter(presets.values())).p


def _dt(model: NeuronModel) -> float:
    return float(model.extra.get("dt", 0.001))


def _input_scale(model: NeuronModel, p: Any, dtype: torch.dtype) -> float:
    """The smallest amplitude of a ladder that makes the model spike (twice it)."""
    if not model.spiking:
        return 1.0
    for scale in (1.0, 3.0, 10.0, 30.0, 100.0, 300.0, 1000.0):
        x = scale * torch.ones(200, 2, dtype=dtype)
        out, _, _ = kernels.integrate_reference(
            model, x, model.initial_state((2,), p, dtype), p, _dt(model)
        )
        if out.sum() > 0:
            return 2 * scale
    return 1.0


def _last_source() -> str:
    plans = [v for v in triton_backend._plans.values() if not isinstance(v, str)]
    return plans[-1].source


# --------------------------------------------------------------------------------------------
# every model of the library


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("model", _library_models())
def test_every_library_model_equals_reference(device, small_block, model, dtype):
    torch.manual_seed(5)
    p = _parameters(model)
    n, steps = 40, 40
    state = model.initial_state((n,), p, dtype)
    scale = float(model.extra.get("benchmark_input", 0)) or _input_scale(model, p, dtype)
    x = scale * torch.rand(steps, n, dtype=dtype)
    record = tuple(model.variables)
    ref = kernels.integrate_reference(model, x, state, p, _dt(model), record)
    fast = kernels.integrate(
        model, x.to(device), _to(state, device), _to(p, device), _dt(model), record
    )
    backend, reason = kernels.last_backend()
    if backend != "triton":
        # only the compartment models (sums over neurons) are beyond the kernel; their fallback
        # still gives the reference result
        assert model.name in {"lif_mc", "lif_mc_refrac"}, (model.name, backend, reason)
        assert "sum" in reason, reason
        _compare(fast, ref)
        return
    if model.spiking:
        assert ref[0].sum() > 0, "the input makes it spike"
    exact = not any(token in _last_source() for token in _TRANSCENDENTAL)
    _compare(fast, ref, exact=exact)


# --------------------------------------------------------------------------------------------
# the output contract of integrate: input layouts, batches, record_index, events, chaining


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_lif_layouts_batch_and_per_neuron_parameters(device, small_block, dtype):
    torch.manual_seed(1)
    batch, n, steps = 2, 21, 30
    p = lif.LIFParameters(
        tau_mem_inv=100 + 50 * torch.rand(n, dtype=dtype),
        v_th=torch.linspace(0.5, 1.5, n, dtype=dtype),
        v_reset=torch.tensor(-0.1, dtype=dtype),  # a 0-dim tensor parameter
    )
    state = lif.lif_initial_state((batch, n), p, dtype)
    blocks = {
        "full": torch.rand(steps, batch, n, dtype=dtype) * 4,
        "step": (torch.rand(steps, 1, 1, dtype=dtype) * 4).expand(steps, batch, n),
        "neuron": (torch.rand(1, batch, n, dtype=dtype) * 4).expand(steps, batch, n),
    }
    for layout, x in blocks.items():
        ref = kernels.integrate_reference(lif.MODEL, x, state, p, 0.001, ("v", "i"))
        fast = kernels.integrate(
            lif.MODEL, x.to(device), _to(state, device), _to(p, device), 0.001, ("v", "i")
        )
        assert kernels.last_backend() == ("triton", ""), layout
        # the input: read once (neuron), or each chunk's UNROLL steps loaded one chunk ahead
        loads = 1 if layout == "neuron" else 2 * triton_backend.UNROLL
        assert _last_source().count("tl.load(x_ptr") == loads, layout
        _compare(fast, ref)
        assert ref[0].sum() > 0, layout


@pytest.mark.parametrize("steps", [2, 3, 4, 5, 9])
@pytest.mark.parametrize("layout", ["full", "step"])
def test_blocks_of_any_length_around_the_unrolled_chunks(
    device, small_block, monkeypatch, steps, layout
):
    """The time loop runs ``UNROLL`` steps per iteration: blocks shorter than one chunk, of
    exactly one, and with a partial last chunk store nothing past ``T`` and end in the right
    state (the events variant unrolled as much here)."""
    assert triton_backend.UNROLL == 4
    monkeypatch.setattr(triton_backend, "UNROLL_EVENTS", 4)
    torch.manual_seed(8)
    n = 20
    p = lif.LIFParameters()
    state = lif.lif_initial_state((n,), p)
    x = {
        "full": 30 * torch.rand(steps, n),
        "step": (30 * torch.rand(steps, 1)).expand(steps, n),
    }[layout]
    ref = kernels.integrate_reference(lif.MODEL, x, state, p, 0.01, ("v",), [3, 17])
    fast = kernels.integrate(lif.MODEL, x.to(device), _to(state, device), p, 0.01, ("v",), [3, 17])
    assert kernels.last_backend() == ("triton", "")
    _compare(fast, ref)
    flat, _, _, final = kernels.spike_events(lif.MODEL, x.to(device), _to(state, device), p, 0.01)
    np.testing.assert_array_equal(flat, torch.nonzero(ref[0].reshape(-1)).flatten().numpy())
    assert torch.equal(final.v.cpu(), ref[2].v)
    assert ref[0].sum() > 0


def test_state_is_not_modified_and_blocks_chain(device, small_block):
    torch.manual_seed(2)
    x = torch.rand(40, 20) * 4
    p = lif.LIFParameters()
    state = _to(lif.lif_initial_state((20,), p), device)
    before = [t.clone() for t in state]
    out_a, _, mid = kernels.integrate(lif.MODEL, x[:25].to(device), state, p, 0.001)
    out_b, _, end = kernels.integrate(lif.MODEL, x[25:].to(device), mid, p, 0.001)
    assert kernels.last_backend()[0] == "triton"
    assert all(torch.equal(a, b) for a, b in zip(state, before, strict=True))
    out_r, _, end_r = kernels.integrate_reference(lif.MODEL, x, _cpu(state), p, 0.001)
    assert torch.equal(torch.cat([out_a, out_b]).cpu(), out_r)
    assert torch.equal(end.v.cpu(), end_r.v) and torch.equal(end.i.cpu(), end_r.i)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("index", [[0], [3, 1, 3, 39], [39, 0, 17, 16, 15]])
def test_record_index_and_spike_events(device, small_block, dtype, index):
    """``spike_events`` and ``integrate_spikes`` give exactly ``nonzero`` of the reference
    output (the events of several programs, appended in any order, come back sorted), and the
    compact traces of the recorded neurons (repeats and any order) equal slicing the full
    trace."""
    torch.manual_seed(3)
    n, steps = 40, 50
    preset = izhikevich.IZHIKEVICH_PRESETS["tonic_spiking"]
    p = preset.p._replace(tau_inv=1.0)  # config units: 1/ms, dt = 0.25 ms
    state = izhikevich.MODEL.initial_state((n,), p, dtype)
    x = 10 + 10 * torch.rand(steps, n, dtype=dtype)
    out_r, traces_r, final_r = kernels.integrate_reference(
        izhikevich.MODEL, x, state, p, 0.25, ("v", "u")
    )
    flat, neurons, traces, final = kernels.spike_events(
        izhikevich.MODEL, x.to(device), _to(state, device), p, 0.25, ("v", "u"), index
    )
    assert kernels.last_backend() == ("triton", "")
    assert isinstance(flat, np.ndarray) and flat.dtype == np.int64 and neurons == n
    expected = torch.nonzero(out_r.reshape(-1)).flatten().numpy()
    assert expected.size > n  # several spikes per neuron
    np.testing.assert_array_equal(flat, expected)
    for name in ("v", "u"):
        assert traces[name].shape == (steps, len(index))
        assert torch.equal(traces[name].cpu(), traces_r[name][:, index])
    assert torch.equal(final.v.cpu(), final_r.v) and torch.equal(final.u.cpu(), final_r.u)
    steps_k, neuron_k, _, _ = kernels.integrate_spikes(
        izhikevich.MODEL, x.to(device), _to(state, device), p, 0.25, (), index
    )
    assert torch.equal(steps_k * n + neuron_k, torch.from_numpy(expected))


def test_event_capacity_overflow_runs_again(device, small_block, monkeypatch):
    """An event array too small for the block's spikes is detected and the block run again
    with room for all of them."""
    n, steps = 40, 30
    p = lif.LIFParameters()
    state = lif.lif_initial_state((n,), p)
    x = torch.full((steps, n), 50.0)  # spikes every few steps
    out_r, _, _ = kernels.integrate_reference(lif.MODEL, x, state, p, 0.001)
    expected = torch.nonzero(out_r.reshape(-1)).flatten().numpy()
    assert expected.size > steps * n // 32  # more than the first capacity below
    monkeypatch.setattr(triton_backend, "MIN_EVENT_CAPACITY", 1)
    launches: list[int] = []
    real = triton_backend._launch
    monkeypatch.setattr(
        triton_backend, "_launch", lambda *a, **k: launches.append(1) or real(*a, **k)
    )
    flat, _, _, _ = kernels.spike_events(lif.MODEL, x.to(device), _to(state, device), p, 0.001)
    assert kernels.last_backend() == ("triton", "")
    np.testing.assert_array_equal(flat, expected)
    assert len(launches) == 2  # overflowed once
    launches.clear()
    flat, _, _, _ = kernels.spike_events(lif.MODEL, x.to(device), _to(state, device), p, 0.001)
    np.testing.assert_array_equal(flat, expected)
    assert len(launches) == 1  # the plan remembers how many events a call gives


# --------------------------------------------------------------------------------------------
# the op table: every operation the tracer accepts, computed exactly


class _State(NamedTuple):
    v: torch.Tensor
    w: torch.Tensor
    flag: torch.Tensor  # bool state
    count: torch.Tensor  # int32 state


class _Params(NamedTuple):
    g: torch.Tensor = torch.as_tensor(0.5)


def _many_ops_step(x, s, p, dt):
    """A step touching most of the table: arithmetic, min/max with NaN, clamp, where,
    masked_fill, sign, relu, abs, floor/ceil, sqrt, rsqrt, reciprocal, pow, sigmoid, exp, log,
    sin/cos, erf, comparisons, logical and bitwise ops, casts between floats, bools and ints."""
    a = torch.maximum(s.v, x) - torch.minimum(s.w, x * 0.5)
    b = torch.clamp(a, -2.0, 3.0) + torch.clamp_min(s.w, -1.0) + torch.clamp_max(x, 2.0)
    c = torch.where(s.flag, b, -b) + torch.sign(a) + torch.relu(a - 1) + torch.abs(s.w)
    d = torch.floor(c) * 0.25 + torch.ceil(c * 0.5) + torch.sqrt(torch.abs(c) + 1)
    e = torch.rsqrt(torch.abs(d) + 1) + torch.reciprocal(d * d + 1) + d**2 + d**3
    f = torch.abs(e) ** 0.5 + (torch.abs(e) + 1) ** -1 + torch.sigmoid(e) + torch.exp(-e * e)
    g = torch.log(torch.abs(f) + 1) + torch.sin(f) * torch.cos(f) + torch.erf(f * 0.1)
    fire = (g > 2.0) & ~s.flag | torch.logical_xor(x > 0.5, s.flag)
    count = (s.count + fire.to(torch.int32)) & 7
    v = (g - p.g * fire.to(g.dtype)).masked_fill(count == 3, 0.25) / 2 + count.to(g.dtype) * dt
    w = s.w + dt * (v - s.w) / (1 + torch.abs(v))
    return fire.to(x.dtype), _State(v, w, torch.logical_not(fire) | (count > 4), count)


_MANY_OPS = NeuronModel(
    name="many_ops",
    parameters=_Params,
    feed_forward_state=_State,
    feed_forward_step=_many_ops_step,
    initial_state=lambda shape, p, dtype=torch.float32, device=None: _State(
        torch.zeros(shape, dtype=dtype, device=device),
        torch.ones(shape, dtype=dtype, device=device),
        torch.zeros(shape, dtype=torch.bool, device=device),
        torch.zeros(shape, dtype=torch.int32, device=device),
    ),
    variables=("v", "w", "flag", "count"),
)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_the_op_table_computes_every_operation(device, small_block, dtype):
    torch.manual_seed(6)
    n, steps = 33, 25
    p = _Params()
    state = _MANY_OPS.initial_state((n,), p, dtype)
    x = 4 * torch.rand(steps, n, dtype=dtype) - 2
    x[3, 5] = float("nan")  # min/max/clamp/where pass a NaN through as torch does
    record = _MANY_OPS.variables
    ref = kernels.integrate_reference(_MANY_OPS, x, state, p, 0.1, record)
    fast = kernels.integrate(_MANY_OPS, x.to(device), _to(state, device), p, 0.1, record)
    assert kernels.last_backend() == ("triton", "")
    source = _last_source()
    for form in ("tl.where", "div_rn" if dtype == torch.float32 else " / ", "tl.sqrt"):
        assert form in source, form
    out, traces, final = fast
    out_r, traces_r, final_r = ref
    assert torch.equal(out.cpu(), out_r)
    assert torch.equal(traces["flag"].cpu(), traces_r["flag"])
    assert torch.equal(traces["count"].cpu(), traces_r["count"])
    tol = 1e-12 if dtype == torch.float64 else 1e-5
    for name in ("v", "w"):
        torch.testing.assert_close(
            traces[name].cpu(), traces_r[name], rtol=tol, atol=tol, equal_nan=True
        )
    assert final.count.dtype == torch.int32 and final.flag.dtype == torch.bool


# --------------------------------------------------------------------------------------------
# refusals: never a wrong result


def _tanh_step(x, s, p, dt):
    v = s.v + dt * (torch.tanh(x) - s.v)
    return (v > 0.5).to(x.dtype), lif.LIFFeedForwardState(v, s.i)


def _aliasing_step(x, s, p, dt):
    """A view taken before an in-place op sees the mutated value (as eager torch)."""
    t = s.v * 1
    u = t.view(-1)
    t.add_(x)
    v = u * 0.5
    return (v > 10).to(x.dtype), lif.LIFFeedForwardState(v, s.i)


def _model(step: Any, name: str) -> NeuronModel:
    return NeuronModel(
        name=name,
        parameters=lif.LIFParameters,
        feed_forward_state=lif.LIFFeedForwardState,
        feed_forward_step=step,
        initial_state=lif.lif_initial_state,
        variables=("v",),
    )


def test_an_operation_without_a_triton_form_falls_back_with_its_reason(monkeypatch, caplog):
    monkeypatch.setenv("TRITON_INTERPRET", "1")
    model = _model(_tanh_step, "tanh")
    p = lif.LIFParameters()
    state = lif.lif_initial_state((8,), p)
    x = torch.rand(20, 8)
    with caplog.at_level(logging.INFO, logger="simctl.kernels"):
        fast = kernels.integrate(model, x, state, p, 0.1, ("v",))
    backend, reason = kernels.last_backend()
    assert backend == "reference" and "tanh has no form in Triton's interpreter" in reason
    assert any("no Triton kernel" in r.message and "tanh" in r.message for r in caplog.records)
    _compare(fast, kernels.integrate_reference(model, x, state, p, 0.1, ("v",)))
    assert triton_backend._MATH["tanh"][1] == "libdevice.tanh({x})"  # on the GPU it has one


def test_views_of_mutated_tensors_are_followed(device, small_block):
    model = _model(_aliasing_step, "aliasing")
    p = lif.LIFParameters()
    state = lif.lif_initial_state((8,), p)
    x = torch.rand(20, 8)
    fast = kernels.integrate(model, x.to(device), _to(state, device), p, 0.1, ("v",))
    assert kernels.last_backend() == ("triton", "")
    ref = kernels.integrate_reference(model, x, state, p, 0.1, ("v",))
    assert ref[1]["v"].abs().sum() > 0
    _compare(fast, ref)


def test_cpu_tensors_without_the_interpreter_fall_back(monkeypatch):
    monkeypatch.delenv("TRITON_INTERPRET", raising=False)
    p = lif.LIFParameters()
    state = lif.lif_initial_state((8,), p)
    x = torch.rand(20, 8) * 4
    fast = kernels.integrate(lif.MODEL, x, state, p, 0.001, ("v",))
    assert kernels.last_backend() == (
        "reference",
        "the Triton backend runs on CUDA tensors (or TRITON_INTERPRET=1)",
    )
    _compare(fast, kernels.integrate_reference(lif.MODEL, x, state, p, 0.001, ("v",)))


def test_selection(monkeypatch):
    monkeypatch.setenv("SIMCTL_KERNELS", "auto")
    assert kernels.select_backend(torch.zeros(5, 10)) == "c"
    monkeypatch.setenv("SIMCTL_KERNELS", "triton")
    assert kernels.select_backend(torch.zeros(5, 10)) == "triton"
    assert "triton" in kernels.BACKENDS


@pytest.mark.cuda
@pytest.mark.skipif(not has_cuda, reason="needs CUDA")
def test_auto_picks_triton_on_cuda(monkeypatch):
    monkeypatch.setenv("SIMCTL_KERNELS", "auto")
    monkeypatch.delenv("TRITON_INTERPRET", raising=False)
    assert kernels.select_backend(torch.zeros(5, 10, device="cuda")) == "triton"
    monkeypatch.setattr(triton_backend, "available", lambda: (False, "ImportError: no triton"))
    assert kernels.select_backend(torch.zeros(5, 10, device="cuda")) == "reference"


# --------------------------------------------------------------------------------------------
# end to end: simctl run on the Triton backend, the backend recorded in sim.h5


def test_simulation_on_the_triton_backend_equals_the_reference(sim, monkeypatch):
    """``simctl run`` integrates on the Triton backend (recorded in sim.h5) and writes the
    same spikes and traces as the reference loop."""
    import h5py

    from simctl.recording import load_spikes, load_state

    monkeypatch.setenv("TRITON_INTERPRET", "1")
    overrides = ("neuron=izhikevich", "input=constant", "simulation.duration=20")
    path_t = sim(*overrides)
    monkeypatch.setenv("SIMCTL_KERNELS", "reference")
    path_r = sim(*overrides)
    with h5py.File(path_t, "r") as f:
        attrs = dict(f["populations/izhikevich"].attrs)
    assert attrs["backend"] == "triton" and attrs["backend_reason"] == "", attrs
    t_t, n_t = load_spikes(path_t, "izhikevich")
    t_r, n_r = load_spikes(path_r, "izhikevich")
    assert t_r.size > 0
    np.testing.assert_array_equal(t_t, t_r)
    np.testing.assert_array_equal(n_t, n_r)
    _, state_t, ids_t = load_state(path_t, "izhikevich")
    _, state_r, ids_r = load_state(path_r, "izhikevich")
    np.testing.assert_array_equal(ids_t, ids_r)
    assert state_r.keys() == state_t.keys() and state_r
    for name in state_r:
        np.testing.assert_array_equal(state_t[name], state_r[name])


# --------------------------------------------------------------------------------------------
# the GPU form of the kernels, compiled for a Hopper GPU (sm_90) without one


def _signature(arguments: list[Any]) -> dict[int, str]:
    pointer = {
        torch.float32: "*fp32",
        torch.float64: "*fp64",
        torch.bool: "*i1",
        torch.int64: "*i64",
        torch.int32: "*i32",
        torch.int16: "*i16",
        torch.int8: "*i8",
        torch.uint8: "*u8",
    }
    kinds = []
    for value in arguments:
        if isinstance(value, torch.Tensor):
            kinds.append(pointer[value.dtype])
        else:
            kinds.append("i32" if -(2**31) <= value < 2**31 else "i64")
    return kinds


def _gpu_only_step(x, s, p, dt):
    """The operations whose only Triton form is libdevice's (refused by the interpreter)."""
    a = torch.tanh(x) + torch.abs(s.v) ** 1.5 + torch.expm1(x * 0.1) + torch.log1p(x * x)
    b = torch.atan(a) + torch.erfc(a) + torch.round(a * 4) + torch.trunc(a * 3)
    v = s.v + dt * (b - s.v)
    return (v > 0.5).to(x.dtype), lif.LIFFeedForwardState(v, s.i)


def _gpu_cases() -> list[Any]:
    from simctl.neurons import lif_adex

    tonic = izhikevich.IZHIKEVICH_PRESETS["tonic_spiking"].p._replace(tau_inv=1.0)
    return [
        pytest.param(lif.MODEL, lif.LIFParameters(), torch.float32, "full", False, id="lif"),
        pytest.param(izhikevich.MODEL, tonic, torch.float64, "step", True, id="izhikevich-events"),
        pytest.param(
            lif_adex.MODEL, lif_adex.MODEL.parameters(), torch.float32, "full", False, id="adex"
        ),
        pytest.param(_MANY_OPS, _Params(), torch.float32, "neuron", True, id="many-ops-events"),
        pytest.param(
            _model(_gpu_only_step, "gpu_only"),
            lif.LIFParameters(),
            torch.float64,
            "full",
            False,
            id="libdevice-only",
        ),
    ]


@pytest.mark.parametrize(("model", "p", "dtype", "layout", "events"), _gpu_cases())
def test_the_gpu_kernels_compile_for_sm90_with_exact_arithmetic(
    monkeypatch, model, p, dtype, layout, events
):
    """The kernels a GPU would run (libdevice math) are compiled ahead of time for sm_90 by
    Triton's own compiler and ptxas, no GPU needed: they build, and the step's own arithmetic
    has no fused multiply-add and no approximate division or square root in the PTX (only
    libdevice's functions use them, inside their own error bounds)."""
    import re

    from triton.backends.compiler import GPUTarget
    from triton.compiler import ASTSource, compile

    monkeypatch.setenv("TRITON_INTERPRET", "1")  # CPU tensors accepted; nothing is run
    monkeypatch.setattr(triton_backend, "_gpu_forms", lambda: True)
    monkeypatch.setattr(triton_backend, "_plans", type(triton_backend._plans)())
    launched: list[tuple[str, list[Any]]] = []
    monkeypatch.setattr(
        triton_backend, "_launch", lambda plan, grid, args: launched.append((plan.source, args))
    )
    n, steps = 24, 3
    state = model.initial_state((n,), p, dtype)
    x = {
        "full": torch.rand(steps, n, dtype=dtype),
        "step": torch.rand(steps, 1, dtype=dtype).expand(steps, n),
        "neuron": torch.rand(1, n, dtype=dtype).expand(steps, n),
    }[layout]
    record = tuple(model.variables)
    if events:
        kernels.spike_events(model, x, state, p, _dt(model), record, [0, 5, 5])
    else:
        kernels.integrate(model, x, state, p, _dt(model), record)
    assert kernels.last_backend() == ("triton", "")
    (source, arguments), *_ = launched
    assert ("libdevice." in source) == (model.name in ("lif_adex", "many_ops", "gpu_only"))
    monkeypatch.delenv("TRITON_INTERPRET")
    kernel = triton_backend.load(source)  # decorated for compilation, not the interpreter
    signature = dict(zip(kernel.arg_names, [*_signature(arguments), "constexpr"], strict=True))
    compiled = compile(
        ASTSource(fn=kernel, signature=signature, constexprs={"BLOCK": triton_backend.BLOCK}),
        target=GPUTarget("cuda", 90, 32),
        options={"num_warps": triton_backend.NUM_WARPS, "enable_fp_fusion": False},
    )
    ptx = compiled.asm["ptx"]
    assert compiled.asm["cubin"]
    if "libdevice." not in source:
        assert not re.search(r"\bfma\.", ptx)
        assert not re.search(r"\b(div|sqrt|rcp)\.(approx|full)", ptx)
    assert ("atom." in ptx) == events
