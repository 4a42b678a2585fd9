"""The fused integration backends equal the reference loop over each model's step function.

Equality is exact (``torch.equal``) in float64 and float32 for models made of arithmetic and
comparisons (LIF, Izhikevich, ...): the C kernels compute every operation in the dtype torch
computes it in, without FMA contraction. Models whose step calls a transcendental function
(``exp`` in lif_ex / AdEx) may differ in the last bit (libm against torch's SLEEF); for those the
test asks for 1e-12 relative in float64, float32 rounding otherwise, and identical spikes.
"""

from __future__ import annotations

import importlib
from typing import Any

import numpy as np
import pytest
import torch

from simctl import kernels
from simctl.kernels import codegen, fused
from simctl.kernels.cbuild import compiler
from simctl.neurons import MODEL_MODULES, lif
from simctl.neurons.base import NeuronModel

needs_cc = pytest.mark.skipif(compiler() is None, reason="no C compiler")


@pytest.fixture(autouse=True)
def _cache(tmp_path_factory, monkeypatch):
    # one kernel cache per test session, away from the user's
    monkeypatch.setenv("SIMCTL_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "kernels"))
    monkeypatch.delenv("SIMCTL_KERNELS", raising=False)


@pytest.fixture(params=["tile", "wide"])
def loop_order(request, monkeypatch):
    """Both loop orders of the C kernel; the wide tile made small (520 neurons: two lane chunks
    and a remainder), so that tests of a few hundred neurons cross its edges."""
    monkeypatch.setattr(fused, "LOOP_ORDER", request.param)
    monkeypatch.setattr(codegen, "WIDE", 520)
    return request.param


def _compare(fast, ref, exact: bool = True) -> None:
    out, traces, final = fast
    out_r, traces_r, final_r = ref
    assert out.shape == out_r.shape and out.dtype == out_r.dtype
    assert traces.keys() == traces_r.keys()
    pairs = [(out, out_r)] + [(traces[k], traces_r[k]) for k in traces]
    pairs += list(zip(final, final_r, strict=True)) if isinstance(final, tuple) else []
    for a, b in pairs:
        if isinstance(a, tuple):
            for x, y in zip(a, b, strict=True):
                _compare_tensor(x, y, exact)
        else:
            _compare_tensor(a, b, exact)
    assert torch.equal(out, out_r)  # spike trains are identical in every case


def _compare_tensor(a: torch.Tensor, b: torch.Tensor, exact: bool) -> None:
    b = b.expand(a.shape) if b.shape != a.shape else b
    assert a.dtype == b.dtype
    if exact:
        assert torch.equal(a, b), (a - b).abs().max()
    else:
        rtol = 1e-12 if a.dtype == torch.float64 else 1e-5
        torch.testing.assert_close(a, b, rtol=rtol, atol=rtol)


def _run_both(model: NeuronModel, x, state, p, dt, record=()):
    fast = kernels.integrate(model, x, state, p, dt, record)
    backend = kernels.last_backend()
    ref = kernels.integrate_reference(model, x, state, p, dt, record)
    return fast, ref, backend


# --------------------------------------------------------------------------------------------
# LIF


@needs_cc
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_lif_fused_equals_reference(dtype):
    torch.manual_seed(0)
    n, steps = 300, 200
    x = torch.rand(steps, n, dtype=dtype) * 4
    p = lif.LIFParameters()
    state = lif.lif_initial_state((n,), p, dtype)
    fast, ref, backend = _run_both(lif.MODEL, x, state, p, 0.001, ("v", "i"))
    assert backend[0] == "c", backend
    _compare(fast, ref)
    assert fast[0].sum() > 0  # it spiked


@needs_cc
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_lif_per_neuron_parameters_broadcast(dtype):
    torch.manual_seed(1)
    batch, n, steps = 3, 50, 100
    p = lif.LIFParameters(
        tau_mem_inv=100 + 50 * torch.rand(n, dtype=dtype),
        v_th=torch.linspace(0.5, 1.5, n, dtype=dtype),
        v_reset=torch.tensor(-0.1, dtype=dtype),  # a 0-dim tensor parameter
    )
    x = torch.rand(steps, batch, n, dtype=dtype) * 4
    state = lif.lif_initial_state((batch, n), p, dtype)
    fast, ref, backend = _run_both(lif.MODEL, x, state, p, 0.001, ("v",))
    assert backend[0] == "c", backend
    _compare(fast, ref)


@needs_cc
def test_state_is_not_modified_and_blocks_chain():
    torch.manual_seed(2)
    x = torch.rand(40, 20) * 4
    p = lif.LIFParameters()
    state = lif.lif_initial_state((20,), p)
    before = [t.clone() for t in state]
    out_a, _, mid = kernels.integrate(lif.MODEL, x[:25], state, p, 0.001)
    out_b, _, end = kernels.integrate(lif.MODEL, x[25:], mid, p, 0.001)
    assert kernels.last_backend()[0] == "c"
    assert all(torch.equal(a, b) for a, b in zip(state, before, strict=True))
    out_r, _, end_r = kernels.integrate_reference(lif.MODEL, x, state, p, 0.001)
    assert torch.equal(torch.cat([out_a, out_b]), out_r)
    assert torch.equal(end.v, end_r.v) and torch.equal(end.i, end_r.i)


@needs_cc
def test_parallel_split_equals_single(loop_order, monkeypatch):
    monkeypatch.setattr(fused, "PARALLEL_MIN_WORK", 0)
    monkeypatch.setattr(torch, "get_num_threads", lambda: 3)
    torch.manual_seed(3)
    n = 3 * 256 + 17
    x = torch.rand(30, n) * 4
    p = lif.LIFParameters()
    state = lif.lif_initial_state((n,), p)
    fast, ref, backend = _run_both(lif.MODEL, x, state, p, 0.001, ("v",))
    assert backend[0] == "c"
    _compare(fast, ref)


# --------------------------------------------------------------------------------------------
# Izhikevich: both update orders, both u laws, the class-1 variant (mn = 4.1, bias = 108)


@needs_cc
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("order", ["simultaneous", "sequential"])
@pytest.mark.parametrize("law", ["standard", "accommodation"])
@pytest.mark.parametrize("variant", ["tonic_spiking", "class_1_exc"])
def test_izhikevich_fused_equals_reference(dtype, order, law, variant):
    from simctl.neurons import izhikevich as iz

    torch.manual_seed(4)
    n = 20
    p = iz.IZHIKEVICH_PRESETS[variant].p._replace(update_order=order, u_law=law)
    if variant == "tonic_spiking":  # a per-neuron parameter, broadcast in the kernel
        p = p._replace(a=torch.linspace(0.01, 0.03, n, dtype=dtype))
    x = 15 * torch.rand(1000, n, dtype=dtype)
    state = iz.izhikevich_initial_state((n,), p, dtype)
    fast, ref, backend = _run_both(iz.MODEL, x, state, p, 0.001, ("v", "u"))
    assert backend[0] == "c", backend
    _compare(fast, ref)
    assert fast[0].sum() > 0


@needs_cc
def test_izhikevich_every_preset_in_config_units():
    """All presets with the configs' units (tau_inv = 1/ms, dt = 0.25 ms) and their own state."""
    from simctl.neurons import izhikevich as iz

    for name, behaviour in iz.IZHIKEVICH_PRESETS.items():
        p = behaviour.p._replace(tau_inv=1.0, update_order="sequential")
        state = iz.IzhikevichState(*[t.detach().reshape(1).double() for t in behaviour.s])
        x = torch.full((800, 1), 10.0, dtype=torch.float64)
        fast, ref, backend = _run_both(iz.MODEL, x, state, p, 0.25, ("v",))
        assert backend[0] == "c", (name, backend)
        _compare(fast, ref)


# --------------------------------------------------------------------------------------------
# every model of the library


def _library_models() -> list[Any]:
    found = []
    for name in MODEL_MODULES:
        module = importlib.import_module(f"simctl.neurons.{name}")
        if isinstance(getattr(module, "MODEL", None), NeuronModel):
            found.append(pytest.param(module.MODEL, id=name))
        else:
            raise AssertionError(f"simctl.neurons.{name} defines no MODEL")
    return found


_TRANSCENDENTAL = ("exp(", "expf(", "log", "tanh", "sqrt", "pow", "erf", "sin(", "cos(")


@needs_cc
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("model", _library_models())
def test_every_library_model_fused_equals_reference(loop_order, model, dtype):
    torch.manual_seed(5)
    p = _default_parameters(model)
    n, steps = 40, 300
    state = model.initial_state((n,), p, dtype)
    scale = float(model.extra.get("benchmark_input", 0)) or _input_scale(model, p, state, dtype)
    x = scale * torch.rand(steps, n, dtype=dtype)
    record = tuple(model.variables)
    fast, ref, backend = _run_both(model, x, state, p, _dt(model), record)
    if backend[0] != "c":
        # only the compartment models (sums over neurons) are beyond the C kernel; their
        # fallback must still give the reference result exactly
        assert model.name in {"lif_mc", "lif_mc_refrac"}, (model.name, backend)
        _compare(fast, ref, exact=True)
        return
    source = _last_source()
    exact = not any(token in source for token in _TRANSCENDENTAL)
    _compare(fast, ref, exact=exact)


def _default_parameters(model: NeuronModel) -> Any:
    try:
        return model.parameters()
    except TypeError:  # required fields: take the model's first preset
        presets = model.extra.get("presets")
        if not presets:
            pytest.skip(f"{model.name}: no default parameters")
        return next(iter(presets.values())).p


def _last_source() -> str:
    plans = [v for v in fused._plans.values() if not isinstance(v, str)]
    return plans[-1].source


def _dt(model: NeuronModel) -> float:
    return float(model.extra.get("dt", 0.001))


def _input_scale(model, p, state, dtype) -> float:
    """An input amplitude that makes the model active: the smallest of a ladder that spikes."""
    if not model.spiking:
        return 1.0
    for scale in (1.0, 3.0, 10.0, 30.0, 100.0, 300.0, 1000.0):
        x = scale * torch.ones(200, 4, dtype=dtype)
        out, _, _ = kernels.integrate_reference(
            model, x, model.initial_state((4,), p, dtype), p, _dt(model)
        )
        if out.sum() > 0:
            return 2 * scale
    return 1.0


# --------------------------------------------------------------------------------------------
# the layer fast path


@needs_cc
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_layer_outputs_identical_with_and_without_fast_path(monkeypatch, dtype):
    torch.manual_seed(6)
    layer = lif.LIF(lif.LIFParameters(v_th=torch.linspace(0.2, 1.0, 16))).to(dtype)
    x = torch.rand(50, 4, 16, dtype=dtype) * 4
    with torch.no_grad():
        z_fast, s_fast = layer(x)
        assert kernels.last_backend()[0] == "c"
        monkeypatch.setenv("SIMCTL_KERNELS", "reference")
        z_loop, s_loop = layer(x)
    assert torch.equal(z_fast, z_loop)
    assert torch.equal(s_fast.v, s_loop.v) and torch.equal(s_fast.i, s_loop.i)


@needs_cc
def test_layer_record_states_identical(monkeypatch):
    from simctl.neurons import izhikevich as iz

    layer = iz.Izhikevich(iz.IZHIKEVICH_PRESETS["tonic_spiking"], record_states=True)
    layer = layer.to(torch.float64)
    x = 10 * torch.rand(300, 3, 5, dtype=torch.float64)
    with torch.no_grad():
        z_fast, states_fast = layer(x)
        assert kernels.last_backend()[0] == "c"
        monkeypatch.setenv("SIMCTL_KERNELS", "reference")
        z_loop, states_loop = layer(x)
    assert torch.equal(z_fast, z_loop)
    for a, b in zip(states_fast, states_loop, strict=True):
        assert a.shape == b.shape and torch.equal(a, b)


@needs_cc
def test_layer_fast_path_without_no_grad_when_nothing_requires_grad():
    layer = lif.LIF()
    x = torch.rand(20, 8) * 4
    state = lif.lif_initial_state((8,), layer.p)  # no requires_grad
    z, s = layer(x, state)
    assert kernels.last_backend()[0] == "c"
    with torch.no_grad():
        z_ref, s_ref = lif.lif_feed_forward_integral(x, state, layer.p, layer.dt)
    assert torch.equal(z, z_ref) and torch.equal(s.v, s_ref.v)


def test_layer_keeps_the_loop_when_a_gradient_is_needed():
    layer = lif.LIF()
    x = (torch.rand(20, 8) * 4).requires_grad_(True)
    z, _ = layer(x)
    assert z.requires_grad
    z.sum().backward()
    assert x.grad is not None


# --------------------------------------------------------------------------------------------
# the layer's cached call (kernels.fused_layer_call)


def _counting_binds(monkeypatch) -> list[int]:
    """Counts the layer calls that missed the cache (each runs ``run_fused_shaped`` once)."""
    misses: list[int] = []
    original = kernels.run_fused_shaped

    def counted(*args, **kwargs):
        misses.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(kernels, "run_fused_shaped", counted)
    return misses


def _reference_layer(monkeypatch, layer, x, state=None):
    """``layer(x, state)`` on the Python loop (the cache and the fused path step aside)."""
    with monkeypatch.context() as m:
        m.setenv("SIMCTL_KERNELS", "reference")
        with torch.no_grad():
            return layer(x, state)


def _same(a, b) -> None:
    z_a, s_a = a
    z_b, s_b = b
    assert torch.equal(z_a, z_b)
    assert type(s_a) is type(s_b)
    for u, v in zip(s_a, s_b, strict=True):
        assert u.dtype == v.dtype and torch.equal(u, v)


@needs_cc
def test_layer_cache_hits_for_the_same_shape_and_misses_on_a_new_one(monkeypatch):
    misses = _counting_binds(monkeypatch)
    layer = lif.LIF()
    x = torch.rand(30, 5) * 4
    with torch.no_grad():
        first = layer(x)
        second = layer(x.clone())
        assert len(misses) == 1 and kernels.last_backend()[0] == "c"
        _same(first, second)
        wider = torch.rand(30, 7) * 4
        third = layer(wider)  # another shape: bound anew
        assert len(misses) == 2
        layer(torch.rand(30, 7) * 4)
        assert len(misses) == 2
        layer(wider.t().contiguous().t())  # same shape, other strides
        assert len(misses) == 3
    _same(first, _reference_layer(monkeypatch, layer, x))
    with torch.no_grad():
        assert kernels.fused_layer_call(layer, x, None) is not None  # a hit
        monkeypatch.setenv("SIMCTL_KERNELS", "reference")  # read on every call
        assert kernels.fused_layer_call(layer, x, None) is None
        monkeypatch.setenv("SIMCTL_KERNELS", "c")
        assert kernels.fused_layer_call(layer, x, None) is not None
        monkeypatch.delenv("SIMCTL_KERNELS")
    _same(third, _reference_layer(monkeypatch, layer, wider))


@needs_cc
def test_layer_cache_misses_on_a_new_dtype(monkeypatch):
    misses = _counting_binds(monkeypatch)
    layer = lif.LIF()
    x = torch.rand(40, 3, dtype=torch.float64) * 4
    with torch.no_grad():
        layer(x.float())
        z64, s64 = layer(x)
        assert len(misses) == 2
        assert z64.dtype == torch.float64 and s64.v.dtype == torch.float64
        _same(layer(x), (z64, s64))
        assert len(misses) == 2
    _same((z64, s64), _reference_layer(monkeypatch, layer, x))


@needs_cc
@pytest.mark.parametrize(
    "edit",
    [
        lambda layer: layer.p__v_th.data.__iadd__(-0.3),  # bumps no version counter
        lambda layer: layer.p__v_th.add_(-0.3),
        lambda layer: layer.p__tau_mem_inv.data.fill_(250.0),
        lambda layer: setattr(layer, "p", lif.LIFParameters(v_th=0.4)),
        lambda layer: setattr(layer, "dt", 0.002),
    ],
    ids=["data+=", "add_", "data.fill_", "new p", "dt"],
)
def test_layer_cache_sees_parameter_changes(monkeypatch, edit):
    misses = _counting_binds(monkeypatch)
    layer = lif.LIF()
    x = torch.full((60, 4), 0.6)
    with torch.no_grad():
        before = layer(x)
        layer(x)
        edit(layer)
        after = layer(x)
    assert len(misses) == 2
    assert not torch.equal(before[0], after[0])  # the edit changes the spike train
    _same(after, _reference_layer(monkeypatch, layer, x))


@needs_cc
def test_layer_cache_reads_per_neuron_parameters_as_they_are_now(monkeypatch):
    layer = lif.LIF(lif.LIFParameters(v_th=torch.linspace(0.2, 1.0, 6)))
    x = torch.full((50, 2, 6), 0.5)  # the parameters broadcast over the batch dim
    state = lif.lif_initial_state((2, 6), layer.p)
    with torch.no_grad():
        layer(x, state)
        layer.p__v_th.data.mul_(0.5)  # in place, through .data
        cached = layer(x, state)
    _same(cached, _reference_layer(monkeypatch, layer, x, state))


@needs_cc
def test_per_neuron_parameter_swapped_through_data(monkeypatch):
    """``.data = other`` keeps the tensor's identity and version: the cached layer call and the
    workspace compare its shape and strides, and read its values at launch."""
    layer = lif.LIF(lif.LIFParameters(v_th=torch.linspace(0.2, 1.0, 6)))
    x = torch.full((50, 6), 0.5)
    with torch.no_grad():
        layer(x)
        layer.p__v_th.data = torch.linspace(0.1, 0.6, 12).reshape(2, 6).t().contiguous().t()[0]
        _same(layer(x), _reference_layer(monkeypatch, layer, x))
    work = kernels.Workspace()
    p = lif.LIFParameters(v_th=torch.linspace(0.2, 1.0, 6))
    state = lif.lif_initial_state((6,), p)
    for _ in range(3):
        state = kernels.integrate(lif.MODEL, x, state, p, 0.001, (), None, work)[2]
    p.v_th.data = torch.linspace(0.1, 0.6, 12).reshape(2, 6).t().contiguous().t()[0]
    expected = kernels.integrate(lif.MODEL, x, state, p, 0.001)
    got = kernels.integrate(lif.MODEL, x, state, p, 0.001, (), None, work)
    assert torch.equal(got[0], expected[0])
    assert all(torch.equal(a, b) for a, b in zip(got[2], expected[2], strict=True))


@needs_cc
@pytest.mark.parametrize(
    "swap",
    [
        lambda v: v.double(),  # per-neuron, another dtype: bound float32 would misread it
        lambda v: torch.linspace(0.2, 1.0, 6),  # a scalar becomes per-neuron
    ],
    ids=["per-neuron dtype", "scalar to per-neuron"],
)
def test_layer_cache_misses_when_a_swap_through_data_changes_the_kind_of_tensor(monkeypatch, swap):
    """``.data = other`` of another dtype, or a scalar replaced by a per-neuron tensor: the
    cached launch is not reused (it would read the new memory with the old layout)."""
    per_neuron = swap(torch.zeros(1)).numel() == 1
    v_th = torch.linspace(0.2, 1.0, 6) if per_neuron else 1.0
    layer = lif.LIF(lif.LIFParameters(v_th=v_th))
    x = torch.full((50, 6), 0.5)
    with torch.no_grad():
        layer(x)
        layer.p__v_th.data = swap(layer.p__v_th.data)
        cached = layer(x)
    _same(cached, _reference_layer(monkeypatch, layer, x))


@needs_cc
def test_layer_cache_returns_fresh_tensors(monkeypatch):
    layer = lif.LIF()
    x = torch.rand(30, 4) * 4
    state = lif.lif_initial_state((4,), layer.p)
    with torch.no_grad():
        for given in (None, state):
            z1, s1 = layer(x, given)
            expected = (z1.clone(), type(s1)(*[t.clone() for t in s1]))
            z1.fill_(7.0)  # the caller owns them: writing them changes nothing later
            for t in s1:
                t.fill_(-3.0)
            z2, s2 = layer(x, given)
            _same((z2, s2), expected)
            pointers = {z1.data_ptr(), z2.data_ptr(), *[t.data_ptr() for t in (*s1, *s2)]}
            assert len(pointers) == 2 + 2 * len(s1)
            assert s2.v.data_ptr() != state.v.data_ptr()
            assert not s2.v.requires_grad and s2.v.grad_fn is None
        assert torch.equal(state.v, lif.lif_initial_state((4,), layer.p).v)  # untouched


@needs_cc
def test_layer_cache_state_given_and_none_are_separate_entries(monkeypatch):
    misses = _counting_binds(monkeypatch)
    layer = lif.LIF()
    torch.manual_seed(1)  # seeded before x too: the last step's v must differ between them
    x = torch.rand(30, 4) * 4
    state = lif.LIFFeedForwardState(v=torch.rand(4), i=torch.rand(4))
    with torch.no_grad():
        none_1, given_1 = layer(x), layer(x, state)
        none_2, given_2 = layer(x), layer(x, state)
        assert len(misses) == 2
        # a state of another layout (a 0-dim v broadcast over the population) is its own key
        scalar_v = lif.LIFFeedForwardState(v=torch.tensor(0.1), i=torch.zeros(4))
        layer(x, scalar_v)
        broadcast = layer(x, scalar_v)
        assert len(misses) == 3
    _same(none_1, none_2)
    _same(given_1, given_2)
    assert not torch.equal(none_1[1].v, given_1[1].v)
    _same(none_2, _reference_layer(monkeypatch, layer, x))
    _same(given_2, _reference_layer(monkeypatch, layer, x, state))
    _same(broadcast, _reference_layer(monkeypatch, layer, x, scalar_v))


@needs_cc
def test_layer_cache_leaves_gradients_to_autograd():
    layer = lif.LIF()
    x = torch.rand(30, 4) * 4
    state = lif.lif_initial_state((4,), layer.p)
    with torch.no_grad():
        layer(x)
        layer(x, state)
    # the cached keys exist; a call that needs a gradient still records the loop
    xg = x.clone().requires_grad_(True)
    z, _ = layer(xg, state)
    assert z.requires_grad
    z.sum().backward()
    assert xg.grad is not None
    z, s = layer(x)  # the initial v requires grad (Norse's convention)
    assert z.requires_grad or s.v.requires_grad
    layer.p__tau_mem_inv.requires_grad_(True)  # a parameter that now wants its gradient
    z, s = layer(x, state)
    assert s.v.requires_grad
    s.v.sum().backward()
    assert layer.p__tau_mem_inv.grad is not None
    layer.p__tau_mem_inv.requires_grad_(False)
    z_hit, _ = layer(x, state)  # nothing requires grad: the cached fused call again
    assert kernels.last_backend()[0] == "c" and not z_hit.requires_grad


@needs_cc
def test_layer_cache_does_not_keep_layers_alive():
    import gc
    import weakref

    layer = lif.LIF()
    with torch.no_grad():
        layer(torch.rand(10, 3))
    assert layer in kernels._layer_calls
    alive = weakref.ref(layer)
    del layer
    gc.collect()
    assert alive() is None


@needs_cc
def test_layer_cache_not_kept_on_the_module():
    import copy
    import pickle

    layer = lif.LIF()
    with torch.no_grad():
        layer(torch.rand(10, 3))
    assert layer in kernels._layer_calls
    clone = copy.deepcopy(layer)
    assert clone not in kernels._layer_calls
    assert isinstance(pickle.loads(pickle.dumps(layer)), lif.LIF)


# --------------------------------------------------------------------------------------------
# a caller's workspace (the runner's): bound launch and reused arrays across blocks


def _blocks(work, p, blocks, events=True, index=(0, 3, 7)):
    """Chained blocks of LIF (10 neurons, a per-step current), with or without a workspace:
    ``[(spikes or events, v trace, final state)]``, copied as they come."""
    torch.manual_seed(3)
    state = lif.LIFFeedForwardState(v=torch.rand(10), i=torch.rand(10))
    out = []
    for k in range(blocks):
        drive = torch.full((40, 1), 0.2 + 0.05 * k).expand(40, 10)
        if events:
            flat, _, traces, state = kernels.spike_events(
                lif.MODEL, drive, state, p, 0.001, ("v",), torch.tensor(index), work
            )
            first = flat.copy()
        else:
            first, traces, state = kernels.integrate(
                lif.MODEL, drive, state, p, 0.001, ("v",), None, work
            )
        out.append((first, traces["v"].clone(), [t.clone() for t in state]))
    return out


@needs_cc
@pytest.mark.parametrize("events", [True, False])
def test_workspace_blocks_equal_fresh_calls(monkeypatch, events):
    p = lif.LIFParameters()
    fresh = _blocks(None, p, 6, events)
    assert kernels.last_backend()[0] == "c"
    reused = _blocks(kernels.Workspace(), p, 6, events)
    monkeypatch.setenv("SIMCTL_KERNELS", "reference")
    reference = _blocks(None, p, 6, events)
    for a, b, c in zip(fresh, reused, reference, strict=True):
        for x, y, z in zip(a[2], b[2], c[2], strict=True):
            assert torch.equal(x, y) and torch.equal(x, z)
        assert torch.equal(a[1], b[1]) and torch.equal(a[1], c[1])
        if events:
            assert np.array_equal(a[0], b[0]) and np.array_equal(a[0], c[0])
        else:
            assert torch.equal(a[0], b[0]) and torch.equal(a[0], c[0])
    assert sum(len(a[0]) for a in fresh) > 0  # the blocks spike


@needs_cc
def test_workspace_never_writes_the_state_it_is_given():
    work = kernels.Workspace()
    p = lif.LIFParameters()
    drive = torch.full((40, 10), 0.3)
    state = lif.LIFFeedForwardState(v=torch.linspace(0, 0.9, 10), i=torch.full((10,), 0.5))
    states = [state]
    for _ in range(5):  # each block from the previous block's state
        _, _, final = kernels.integrate(lif.MODEL, drive, states[-1], p, 0.001, (), None, work)
        before = [t.clone() for t in states[-1]]
        states.append(final)
        assert all(torch.equal(a, b) for a, b in zip(before, states[-2], strict=True))
        with torch.no_grad():
            _, _, expected = kernels.integrate_reference(lif.MODEL, drive, states[-2], p, 0.001)
        assert all(torch.equal(a, b) for a, b in zip(final, expected, strict=True))
    assert torch.equal(states[0].v, torch.linspace(0, 0.9, 10))


@needs_cc
@pytest.mark.parametrize(
    "edit",
    [
        lambda p, index: p.v_th.data.__iadd__(-0.4),  # no version bump
        lambda p, index: p.v_th.add_(-0.4),
        lambda p, index: index.fill_(1),  # the recorded neurons change
    ],
    ids=["v_th.data+=", "v_th.add_", "index.fill_"],
)
def test_workspace_sees_changed_parameters_and_index(edit):
    work = kernels.Workspace()
    p = lif.LIFParameters(v_th=torch.tensor(1.0))
    index = torch.tensor([0, 5])
    drive = torch.full((60, 8), 0.15)
    state = lif.lif_initial_state((8,), p)
    for _ in range(3):  # chained, as the runner calls: the workspace's own state comes back
        state = kernels.spike_events(lif.MODEL, drive, state, p, 0.001, ("v",), index, work)[3]
    edit(p, index)
    args = (lif.MODEL, drive, state, p, 0.001, ("v",), index)
    expected, _, ref_traces, ref_final = kernels.spike_events(*args)  # fresh: no workspace
    flat, _, traces, final = kernels.spike_events(*args, work)
    assert np.array_equal(flat, expected)
    assert torch.equal(traces["v"], ref_traces["v"])
    assert all(torch.equal(a, b) for a, b in zip(final, ref_final, strict=True))


@needs_cc
def test_workspace_rebinds_on_a_new_shape():
    work = kernels.Workspace()
    p = lif.LIFParameters()
    for n in (8, 8, 12, 8):
        drive = torch.full((30, n), 0.3)
        state = lif.lif_initial_state((n,), p)
        out, _, final = kernels.integrate(lif.MODEL, drive, state, p, 0.001, (), None, work)
        ref, _, ref_final = kernels.integrate(lif.MODEL, drive, state, p, 0.001)
        assert out.shape == (30, n) and torch.equal(out, ref)
        assert all(torch.equal(a, b) for a, b in zip(final, ref_final, strict=True))


# --------------------------------------------------------------------------------------------
# fallbacks


def _fresh(monkeypatch):
    monkeypatch.setattr(fused, "_plans", type(fused._plans)())
    from simctl.kernels import cbuild

    monkeypatch.setattr(cbuild, "_loaded", {})


def test_fallback_without_compiler(monkeypatch, tmp_path):
    _fresh(monkeypatch)
    monkeypatch.setenv("CC", "/nonexistent/cc")
    monkeypatch.setenv("SIMCTL_CACHE_DIR", str(tmp_path / "empty"))
    x = torch.rand(30, 10) * 4
    p = lif.LIFParameters()
    state = lif.lif_initial_state((10,), p)
    fast, ref, backend = _run_both(lif.MODEL, x, state, p, 0.001, ("v",))
    assert backend[0] == "reference" and "compiler" in backend[1]
    _compare(fast, ref)
    with torch.no_grad():
        z, _ = lif.LIF()(x)
    assert torch.equal(z, ref[0])


def test_fallback_when_the_compiler_fails(monkeypatch, tmp_path):
    _fresh(monkeypatch)
    monkeypatch.setenv("CC", "false")  # exists, always fails
    monkeypatch.setenv("SIMCTL_CACHE_DIR", str(tmp_path / "empty"))
    x = torch.rand(30, 10) * 4
    p = lif.LIFParameters()
    fast, ref, backend = _run_both(lif.MODEL, x, lif.lif_initial_state((10,), p), p, 0.001)
    assert backend[0] == "reference"
    _compare(fast, ref)


def test_forced_reference(monkeypatch):
    monkeypatch.setenv("SIMCTL_KERNELS", "reference")
    x = torch.rand(30, 10) * 4
    p = lif.LIFParameters()
    fast, ref, backend = _run_both(lif.MODEL, x, lif.lif_initial_state((10,), p), p, 0.001)
    assert backend == ("reference", "selected")
    _compare(fast, ref)


def test_bad_backend_name(monkeypatch):
    monkeypatch.setenv("SIMCTL_KERNELS", "fastest")
    with pytest.raises(ValueError, match="SIMCTL_KERNELS"):
        kernels.select_backend(torch.zeros(3, 2))


@needs_cc
def test_untraceable_step_falls_back():
    def step(x, s, p, dt):  # a population-wide mean: not elementwise
        v = s.v + dt * (x - s.v.mean())
        return (v > 1).float(), lif.LIFFeedForwardState(v=v, i=s.i)

    model = NeuronModel(
        "mean", lif.LIFParameters, lif.LIFFeedForwardState, step, lif.lif_initial_state, ("v",)
    )
    x = torch.rand(20, 10) * 4
    p = lif.LIFParameters()
    fast, ref, backend = _run_both(model, x, lif.lif_initial_state((10,), p), p, 0.5)
    assert backend[0] == "reference" and "mean" in backend[1]
    _compare(fast, ref)


@needs_cc
def test_kernel_is_cached_on_disk(monkeypatch, tmp_path):
    _fresh(monkeypatch)
    monkeypatch.setenv("SIMCTL_CACHE_DIR", str(tmp_path / "cache"))
    p = lif.LIFParameters()
    kernels.integrate(lif.MODEL, torch.rand(5, 3), lif.lif_initial_state((3,), p), p, 0.001)
    assert kernels.last_backend()[0] == "c"
    assert len(list((tmp_path / "cache").glob("k_*.so"))) == 1


def test_selection_by_size_and_device():
    assert kernels.select_backend(torch.zeros(1, 10)) == "reference"
    assert kernels.select_backend(torch.zeros(5, 10, dtype=torch.float16)) == "reference"
    assert kernels.select_backend(torch.zeros(5, 10)) == "c"
    assert kernels.select_backend(torch.zeros(5, 10, device="meta")) == "reference"


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_integrate_equals_cpu_reference():
    torch.manual_seed(7)
    x = torch.rand(100, 64, dtype=torch.float64) * 4
    p = lif.LIFParameters()
    state = lif.lif_initial_state((64,), p, torch.float64)
    gpu_state = lif.LIFFeedForwardState(*[t.cuda() for t in state])
    out, traces, final = kernels.integrate(lif.MODEL, x.cuda(), gpu_state, p, 0.001, ("v",))
    ref = kernels.integrate_reference(lif.MODEL, x, state, p, 0.001, ("v",))
    assert torch.equal(out.cpu(), ref[0])
    torch.testing.assert_close(traces["v"].cpu(), ref[1]["v"])


def test_compile_backend_falls_back_when_torch_compile_fails(monkeypatch):
    from simctl import kernels as k

    def broken(*args, **kwargs):
        raise RuntimeError("no inductor here")

    monkeypatch.setenv("SIMCTL_KERNELS", "compile")
    monkeypatch.setattr(k, "_compiled", {})
    monkeypatch.setattr(torch, "compile", broken)
    x = torch.rand(10, 6) * 4
    p = lif.LIFParameters()
    fast, ref, backend = _run_both(lif.MODEL, x, lif.lif_initial_state((6,), p), p, 0.001)
    assert backend[0] == "reference" and "inductor" in backend[1]
    _compare(fast, ref)


# --------------------------------------------------------------------------------------------
# recorded subsets (record_index) and broadcast inputs


def _integrate_on(backend: str, monkeypatch, *args, **kwargs):
    monkeypatch.setenv("SIMCTL_KERNELS", backend)
    result = kernels.integrate(*args, **kwargs)
    assert kernels.last_backend()[0] == backend, kernels.last_backend()
    return result


@pytest.mark.parametrize("backend", [pytest.param("c", marks=needs_cc), "reference"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize(
    "index",
    [[3, 0, 299], [-1, 5, 5, 17], list(range(300)), [], torch.tensor([256, 255, 257])],
    ids=["unsorted", "negative-repeat", "all", "empty", "tensor-tile-edges"],
)
def test_record_index_equals_slicing_the_full_trace(loop_order, monkeypatch, backend, dtype, index):
    from simctl.neurons import izhikevich as iz

    torch.manual_seed(8)
    n, steps = 300, 120
    p = iz.IZHIKEVICH_PRESETS["tonic_spiking"].p._replace(a=torch.linspace(0.01, 0.03, n))
    state = iz.izhikevich_initial_state((n,), p, dtype)
    x = 15 * torch.rand(steps, n, dtype=dtype)
    full = _integrate_on(backend, monkeypatch, iz.MODEL, x, state, p, 0.001, ("v", "u"))
    sub = _integrate_on(
        backend, monkeypatch, iz.MODEL, x, state, p, 0.001, ("v", "u"), record_index=index
    )
    idx = torch.as_tensor(index, dtype=torch.int64)
    assert torch.equal(sub[0], full[0])
    for name in ("v", "u"):
        assert sub[1][name].shape == (steps, len(idx)) and sub[1][name].dtype == dtype
        assert torch.equal(sub[1][name], full[1][name][:, idx]), name
    assert all(torch.equal(a, b) for a, b in zip(sub[2], full[2], strict=True))


@needs_cc
def test_record_index_with_a_batch_dim_and_threads(monkeypatch):
    """(T, B, N) populations record ``[..., index]``; the split over threads keeps it exact."""
    monkeypatch.setattr(fused, "PARALLEL_MIN_WORK", 0)
    monkeypatch.setattr(torch, "get_num_threads", lambda: 3)
    torch.manual_seed(9)
    batch, n, steps = 3, 2 * 256 + 9, 40
    p = lif.LIFParameters(v_th=torch.linspace(0.3, 1.0, n))
    state = lif.lif_initial_state((batch, n), p)
    x = torch.rand(steps, batch, n) * 4
    index = [n - 1, 0, 256, 300, 0]
    for backend in ("c", "reference"):
        full = _integrate_on(backend, monkeypatch, lif.MODEL, x, state, p, 0.001, ("v", "i"))
        sub = _integrate_on(
            backend, monkeypatch, lif.MODEL, x, state, p, 0.001, ("v", "i"), record_index=index
        )
        for name in ("v", "i"):
            assert sub[1][name].shape == (steps, batch, len(index))
            assert torch.equal(sub[1][name], full[1][name][..., index]), (backend, name)
        assert torch.equal(sub[0], full[0])


@pytest.mark.parametrize("backend", [pytest.param("c", marks=needs_cc), "reference"])
def test_record_index_out_of_range(monkeypatch, backend):
    monkeypatch.setenv("SIMCTL_KERNELS", backend)
    p = lif.LIFParameters()
    state = lif.lif_initial_state((4,), p)
    with pytest.raises(IndexError, match="record_index"):
        kernels.integrate(lif.MODEL, torch.rand(5, 4), state, p, 0.001, ("v",), record_index=[4])
    with pytest.raises(TypeError, match="integers"):
        kernels.integrate(lif.MODEL, torch.rand(5, 4), state, p, 0.001, ("v",), record_index=[0.5])


def _broadcast_inputs(steps: int, n: int, dtype: torch.dtype) -> dict[str, Any]:
    per_step = 4 * torch.rand(steps, 1, dtype=dtype)
    per_neuron = 4 * torch.rand(n, dtype=dtype)
    return {
        "(T,1)": (per_step, per_step.expand(steps, n)),
        "(T,1) expanded": (per_step.expand(steps, n), per_step.expand(steps, n)),
        "(T,) over (T,1,1)": (per_step.reshape(steps, 1, 1)[:, :, 0], per_step.expand(steps, n)),
        "(1,N) expanded": (per_neuron.expand(steps, n), per_neuron.expand(steps, n)),
        "scalar expanded": (torch.tensor(2.5, dtype=dtype).expand(steps, n), None),
        "transposed": (per_step.expand(steps, n).t().contiguous().t(), per_step.expand(steps, n)),
    }


@needs_cc
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize(
    "case",
    [
        "(T,1)",
        "(T,1) expanded",
        "(T,) over (T,1,1)",
        "(1,N) expanded",
        "scalar expanded",
        "transposed",
    ],
)
def test_broadcast_input_equals_the_expanded_block(loop_order, monkeypatch, dtype, case):
    torch.manual_seed(10)
    n, steps = 2 * 256 + 3, 150
    p = lif.LIFParameters(v_th=torch.linspace(0.3, 1.0, n, dtype=dtype))
    state = lif.lif_initial_state((n,), p, dtype)
    x, dense = _broadcast_inputs(steps, n, dtype)[case]
    dense = (x.expand(steps, n) if dense is None else dense).contiguous()
    expected = {
        "c": _integrate_on("c", monkeypatch, lif.MODEL, dense, state, p, 0.001, ("v", "i")),
        "reference": kernels.integrate_reference(lif.MODEL, dense, state, p, 0.001, ("v", "i")),
    }
    for backend in ("c", "reference"):
        got = _integrate_on(backend, monkeypatch, lif.MODEL, x, state, p, 0.001, ("v", "i"))
        _compare(got, expected[backend])
    _compare(expected["c"], expected["reference"])
    assert expected["c"][0].sum() > 0


def test_broadcast_input_is_not_materialised():
    """The compact arrays the kernel reads: T values per step, N per neuron, T·N otherwise."""
    steps, n = 64, 1000
    layout, x = fused._input_layout(torch.rand(steps, 1).expand(steps, n), (n,))
    assert layout == "step" and x.shape == (steps,)
    layout, x = fused._input_layout(torch.rand(steps, 1), (n,))
    assert layout == "step" and x.shape == (steps,)
    layout, x = fused._input_layout(torch.rand(n).expand(steps, n), (n,))
    assert layout == "neuron" and x.shape == (n,)
    layout, x = fused._input_layout(torch.rand(steps, 3, 1).expand(steps, 3, n), (3, n))
    assert layout == "full" and x.shape == (steps, 3, n) and x.is_contiguous()
    dense = torch.rand(steps, n)
    layout, x = fused._input_layout(dense, (n,))
    assert layout == "full" and x.data_ptr() == dense.data_ptr()  # no copy


@needs_cc
def test_izhikevich_step_input_and_record_index_in_config_units(loop_order, monkeypatch):
    """The runner's case: one current per step (T, 1), a few recorded neurons, float32."""
    from simctl.neurons import izhikevich as iz

    n, steps = 700, 400
    p = iz.IZHIKEVICH_PRESETS["tonic_spiking"].p._replace(tau_inv=1.0, update_order="sequential")
    state = iz.izhikevich_initial_state((n,), p, torch.float32)
    x = torch.linspace(0, 14, steps).reshape(steps, 1)
    index = list(range(0, n, 97))
    fast = _integrate_on(
        "c", monkeypatch, iz.MODEL, x, state, p, 0.25, ("v", "u"), record_index=index
    )
    ref = kernels.integrate_reference(iz.MODEL, x.expand(steps, n), state, p, 0.25, ("v", "u"))
    assert torch.equal(fast[0], ref[0]) and fast[0].sum() > 0
    for name in ("v", "u"):
        assert torch.equal(fast[1][name], ref[1][name][:, index])


# --------------------------------------------------------------------------------------------
# spike events straight from the kernel (integrate_spikes)


def _nonzero(out: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    found = torch.nonzero(out.reshape(out.shape[0], -1))
    return found[:, 0], found[:, 1]


@pytest.mark.parametrize("backend", [pytest.param("c", marks=needs_cc), "reference"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_integrate_spikes_equals_nonzero_of_the_output(loop_order, monkeypatch, backend, dtype):
    from simctl.neurons import izhikevich as iz

    torch.manual_seed(11)
    n, steps = 600, 300
    p = iz.IZHIKEVICH_PRESETS["tonic_spiking"].p._replace(a=torch.linspace(0.01, 0.03, n))
    state = iz.izhikevich_initial_state((n,), p, dtype)
    x = 15 * torch.rand(steps, n, dtype=dtype)
    out, traces, final = kernels.integrate_reference(iz.MODEL, x, state, p, 0.001, ("v",))
    monkeypatch.setenv("SIMCTL_KERNELS", backend)
    step, neuron, got_traces, got_final = kernels.integrate_spikes(
        iz.MODEL, x, state, p, 0.001, ("v",), record_index=[7, 0]
    )
    assert kernels.last_backend()[0] == backend
    ref_step, ref_neuron = _nonzero(out)
    assert ref_step.numel() > 100
    assert torch.equal(step, ref_step) and torch.equal(neuron, ref_neuron)
    assert torch.equal(got_traces["v"], traces["v"][:, [7, 0]])
    assert all(torch.equal(a, b) for a, b in zip(got_final, final, strict=True))


@needs_cc
def test_integrate_spikes_threads_batch_and_overflow(loop_order, monkeypatch):
    """Events from several threads come out in (step, neuron) order; a buffer that overflows
    is retried with room for every event; flat neuron indices over a (B, N) population."""
    monkeypatch.setattr(fused, "PARALLEL_MIN_WORK", 0)
    monkeypatch.setattr(torch, "get_num_threads", lambda: 3)
    monkeypatch.setattr(fused, "_event_capacity", lambda plan, work: 5)
    torch.manual_seed(12)
    batch, n, steps = 2, 2 * 256 + 40, 60
    p = lif.LIFParameters(v_th=torch.linspace(0.2, 1.0, n))
    state = lif.lif_initial_state((batch, n), p)
    x = torch.rand(steps, 1, 1).expand(steps, batch, n) * 4  # one value per step
    out, _, final = kernels.integrate_reference(lif.MODEL, x, state, p, 0.001)
    step, neuron, traces, got_final = kernels.integrate_spikes(lif.MODEL, x, state, p, 0.001)
    assert kernels.last_backend()[0] == "c" and traces == {}
    ref_step, ref_neuron = _nonzero(out)
    assert ref_step.numel() > 1000
    assert torch.equal(step, ref_step) and torch.equal(neuron, ref_neuron)
    assert all(torch.equal(a, b) for a, b in zip(got_final, final, strict=True))


@needs_cc
def test_integrate_spikes_falls_back_for_models_beyond_the_kernel(monkeypatch):
    """A step the tracer cannot express takes the reference loop and still returns events."""
    model = importlib.import_module("simctl.neurons.lif_mc").MODEL
    p = _default_parameters(model)
    state = model.initial_state((6,), p, torch.float64)
    x = 50 * torch.rand(80, 6, dtype=torch.float64)
    out, _, _ = kernels.integrate_reference(model, x, state, p, _dt(model))
    step, neuron, _, _ = kernels.integrate_spikes(model, x, state, p, _dt(model))
    backend, reason = kernels.last_backend()
    assert backend == "reference" and reason != "selected"  # the C kernel was tried
    ref_step, ref_neuron = _nonzero(out)
    assert ref_step.numel() > 0
    assert torch.equal(step, ref_step) and torch.equal(neuron, ref_neuron)


# --------------------------------------------------------------------------------------------
# recycled output memory


@needs_cc
def test_output_memory_is_reused_only_once_nothing_refers_to_it(monkeypatch):
    """A released output's buffer is handed out again; one still referenced (by the tensor, a
    view of it or a numpy array of it) never is, and every result stays the loop's."""
    monkeypatch.setattr(fused, "RECYCLE_MIN_BYTES", 0)
    monkeypatch.setattr(fused, "_recycler", fused._Recycler())
    torch.manual_seed(13)
    x = torch.rand(30, 50) * 4
    p = lif.LIFParameters()
    state = lif.lif_initial_state((50,), p)
    expected = kernels.integrate_reference(lif.MODEL, x, state, p, 0.001)[0]

    def run():
        out, _, _ = kernels.integrate(lif.MODEL, x, state, p, 0.001)
        assert kernels.last_backend()[0] == "c"
        assert torch.equal(out, expected)
        return out

    first = run()
    second = run()  # `first` is alive: fresh memory
    held = {first.data_ptr(), second.data_ptr()}
    assert len(held) == 2
    row = first[3]  # a view keeps the buffer in use
    array = second.numpy()  # so does a numpy array of it
    del first, second
    third = run()
    assert third.data_ptr() not in held
    before = row.clone()
    fourth = run()
    assert fourth.data_ptr() not in held
    assert torch.equal(row, before) and torch.equal(torch.from_numpy(array), expected)
    del row, array  # now both buffers are idle
    fifth = run()
    assert fifth.data_ptr() in held
    del fifth
    assert len({run().data_ptr() for _ in range(3)}) == 1  # each result dropped at once
    del third, fourth


def test_loop_order_by_working_set(monkeypatch):
    """Step-ordered wide tiles once the streamed arrays exceed a core's private cache, and
    only when a thread has more than one lane tile to run."""
    monkeypatch.setattr(fused, "LOOP_ORDER", "auto")
    monkeypatch.setattr(fused, "_private_bytes", 1 << 20)
    assert not fused._wide(streamed=512 << 10, per_thread=10**4)
    assert fused._wide(streamed=8 << 20, per_thread=10**4)
    assert fused._wide(streamed=64 << 20, per_thread=10**4)
    assert not fused._wide(streamed=64 << 20, per_thread=fused.LANES)
    monkeypatch.setattr(fused, "LOOP_ORDER", "tile")
    assert not fused._wide(streamed=64 << 20, per_thread=10**4)
    assert fused._private_cache() > 0
