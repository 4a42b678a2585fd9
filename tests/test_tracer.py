"""The tracer either computes a step exactly as the torch loop does, or refuses it.

Each case is a small step function written to probe one way of fooling an elementwise tracer:
views taken before an in-place op, in-place ops through a view, mutation of the step's own
arguments, broadcasting and type promotion of scalars and per-neuron parameters, values read back
into Python, operations that mix neurons, random numbers, tensors captured from outside. A fused
case must run on the C backend and equal :func:`simctl.kernels.integrate_reference` bit for bit;
a refused case must run on the reference loop, say why (``last_backend`` and an INFO log line)
and still give the loop's result.
"""

from __future__ import annotations

import logging
from typing import NamedTuple

import pytest
import torch

from simctl import kernels
from simctl.kernels import trace
from simctl.kernels.cbuild import compiler
from simctl.neurons.base import NeuronModel

needs_cc = pytest.mark.skipif(compiler() is None, reason="no C compiler")


@pytest.fixture(autouse=True)
def _cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("SIMCTL_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "kernels"))
    monkeypatch.delenv("SIMCTL_KERNELS", raising=False)


class S(NamedTuple):
    v: torch.Tensor


class P(NamedTuple):
    a: torch.Tensor | float = 0.5
    b: torch.Tensor | float = 2.0


def _model(step, name: str = "probe") -> NeuronModel:
    def initial(shape, p, dtype=torch.float32, device="cpu"):
        return S(torch.zeros(shape, dtype=dtype, device=device))

    return NeuronModel(name, P, S, step, initial, ("v",))


def _fresh(value):
    """A copy of ``value``'s tensors, so a step that mutates its arguments harms no other run."""
    if isinstance(value, tuple):
        return type(value)(*[_fresh(v) for v in value])
    return value.clone() if isinstance(value, torch.Tensor) else value


def _both(step, x, v0=None, p=None, dt=0.001):
    """(fused result, backend, reason, reference result), each on fresh copies of the state
    and parameters."""
    p = P() if p is None else p
    v0 = torch.zeros(x.shape[-1], dtype=x.dtype) if v0 is None else v0
    model = _model(step)
    torch.manual_seed(99)  # a step that draws noise draws the same numbers in both runs
    fast = kernels.integrate(model, x, S(v0.clone()), _fresh(p), dt, ("v",))
    backend, reason = kernels.last_backend()
    torch.manual_seed(99)
    ref = kernels.integrate_reference(model, x, S(v0.clone()), _fresh(p), dt, ("v",))
    return fast, backend, reason, ref


def _equal(fast, ref) -> None:
    out, traces, final = fast
    out_r, traces_r, final_r = ref
    assert out.dtype == out_r.dtype and torch.equal(out, out_r), (out, out_r)
    assert torch.equal(traces["v"], traces_r["v"])
    assert final.v.dtype == final_r.v.dtype and torch.equal(final.v, final_r.v)


# --------------------------------------------------------------------------------------------
# aliasing and in-place operations: fused, and exact


def step_issue_example(x, s, p, dt):
    """The step from the architecture review: a view taken before an in-place add."""
    t = s.v * 1
    u = t.view(-1)
    t.add_(x)
    v = u * 0.5
    return v, S(v)


@needs_cc
def test_view_taken_before_an_in_place_op_sees_the_new_value():
    x = torch.ones(4, 3)
    fast, backend, reason, ref = _both(step_issue_example, x)
    assert backend == "c", reason
    # v_{k+1} = (v_k + 1) / 2 from v_0 = 0: 0.5, 0.75, 0.875, 0.9375
    expected = torch.tensor([0.5, 0.75, 0.875, 0.9375]).unsqueeze(1).expand(4, 3)
    assert torch.equal(fast[0], expected)
    _equal(fast, ref)


def step_in_place_through_a_view(x, s, p, dt):
    t = s.v + x
    u = t.view(-1, 1)
    u.mul_(p.b)  # writes through the view into t
    w = t.unsqueeze(0).squeeze(0)
    w.sub_(1.0)  # and through another one
    return (t > 1).to(x.dtype), S(t * p.a)


def step_fresh_buffers(x, s, p, dt):
    """Outputs built in place into fresh tensors: empty_like + copy_, zeros_like + add_."""
    out = torch.empty_like(s.v)
    out.copy_(s.v + x)
    acc = torch.zeros_like(s.v)
    acc.add_(out)
    acc.masked_fill_(acc > 1.5, -1.0)
    acc.clamp_(min=-0.5)
    return torch.where(acc < 0, 1.0, 0.0).to(x.dtype), S(acc * p.a)


def step_aliases_in_the_output(x, s, p, dt):
    """The output and the new state are one tensor; the old state is returned unchanged too."""
    v = s.v.clone()
    v += x
    alias = v.detach()
    alias *= p.a
    return v, S(alias)


@needs_cc
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize(
    "step", [step_in_place_through_a_view, step_fresh_buffers, step_aliases_in_the_output]
)
def test_in_place_and_aliasing_steps_are_fused_exactly(step, dtype):
    torch.manual_seed(0)
    x = torch.rand(50, 9, dtype=dtype) * 2
    fast, backend, reason, ref = _both(step, x, torch.rand(9, dtype=dtype))
    assert backend == "c", reason
    _equal(fast, ref)
    assert fast[0].abs().sum() > 0


# --------------------------------------------------------------------------------------------
# broadcasting and type promotion


def step_promotion(x, s, p, dt):
    """Scalars of other dtypes: a 0-dim float64 parameter, python ints, an int division, bools."""
    k = p.a * dt  # 0-dim parameter times a python float
    v = s.v + k * (x - s.v) + 3 // 2  # python int arithmetic stays python
    v = torch.where(v > 0.5, v - p.b, v)
    half = torch.tensor(7, dtype=torch.int64) / 2  # int / int in torch is a float division
    return (v * half).to(x.dtype), S(v)


@needs_cc
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize(
    "params",
    [
        P(a=torch.tensor(100.0, dtype=torch.float64), b=torch.tensor(0.25)),
        P(a=100.0, b=torch.tensor([0.25])),  # a (1,)-shaped parameter: a dimensioned scalar
        P(a=torch.linspace(50.0, 150.0, 11), b=torch.tensor(0.3, dtype=torch.float64)),
    ],
    ids=["0-dim f64", "(1,)", "per-neuron"],
)
def test_scalars_and_per_neuron_parameters_promote_as_in_torch(dtype, params):
    torch.manual_seed(1)
    x = torch.rand(60, 11, dtype=dtype)
    p = P(*[t.to(dtype) if isinstance(t, torch.Tensor) and t.dim() else t for t in params])
    fast, backend, reason, ref = _both(step_promotion, x, torch.rand(11, dtype=dtype), p)
    assert backend == "c", reason
    _equal(fast, ref)


@needs_cc
def test_batched_population_and_per_neuron_parameter_broadcast():
    torch.manual_seed(2)
    x = torch.rand(30, 4, 11)
    p = P(a=torch.linspace(0.1, 0.9, 11), b=2.0)
    fast, backend, reason, ref = _both(step_in_place_through_a_view, x, torch.rand(4, 11), p)
    assert backend == "c", reason
    _equal(fast, ref)


# --------------------------------------------------------------------------------------------
# refused: run on the loop, with the reason


def step_mutates_its_state(x, s, p, dt):
    s.v.add_(x)  # the caller's tensor: a step must not do this, the tracer must not fuse it
    return (s.v > 1).to(x.dtype), S(s.v * p.a)


def step_mutates_a_parameter(x, s, p, dt):
    p.a.mul_(0.9)  # compounds from step to step in the loop
    v = s.v + p.a * x
    return v, S(v)


def step_data_dependent_branch(x, s, p, dt):
    v = s.v + x
    if (v > 1).any():
        v = v * 0.5
    return v, S(v)


def step_reads_a_value(x, s, p, dt):
    v = s.v + x * float(s.v[0] + 1)
    return v, S(v)


def step_population_mean(x, s, p, dt):
    v = s.v + dt * (x - s.v.mean())
    return v, S(v)


def step_flip(x, s, p, dt):
    v = s.v.flip(-1) + x
    return v, S(v)


def step_roll(x, s, p, dt):
    v = torch.roll(s.v, 1, -1) + x
    return v, S(v)


def step_indexing(x, s, p, dt):
    v = s.v + x
    v[..., 0] = 0.0  # one neuron written differently from the others
    return v, S(v)


def step_noise(x, s, p, dt):
    v = s.v + x + 0.01 * torch.randn_like(s.v)
    return v, S(v)


def step_state_changes_dtype(x, s, p, dt):
    v = (s.v + x).double()
    return v, S(v)


# as many neurons as the tracer's stand-ins: the case where a size check alone cannot tell
def step_scalar_output(x, s, p, dt):
    v = s.v + x
    return torch.tensor(0.0), S(v)  # the loop's output is 0-dim, not one per neuron


_OUTSIDE = torch.linspace(0.0, 1.0, trace.STANDIN)


def step_outside_tensor(x, s, p, dt):
    v = s.v + x * _OUTSIDE  # a per-neuron tensor that is not a parameter
    return v, S(v)


@needs_cc
@pytest.mark.parametrize(
    "step, reason",
    [
        (step_mutates_its_state, "mutates"),
        (step_mutates_a_parameter, "mutates"),
        (step_data_dependent_branch, "per-neuron value back into Python"),
        (step_reads_a_value, "per-neuron value back into Python"),
        (step_population_mean, "aten.mean"),
        (step_flip, "aten.flip"),
        (step_roll, "aten.roll"),
        (step_indexing, "operation aten."),
        (step_noise, "aten.randn_like"),
        (step_state_changes_dtype, "changes dtype"),
        (step_scalar_output, "output is not a per-neuron tensor"),
        (step_outside_tensor, f"non-scalar tensor of shape ({trace.STANDIN},)"),
    ],
)
def test_steps_beyond_the_tracer_are_refused_with_a_reason(step, reason, caplog):
    torch.manual_seed(3)
    n = trace.STANDIN
    x = torch.rand(20, n) * 2
    p = P(a=torch.full((n,), 0.5), b=2.0)
    with caplog.at_level(logging.INFO, logger="simctl.kernels"):
        fast, backend, why, ref = _both(step, x, torch.rand(n), p)
    assert backend == "reference"
    assert reason in why, why
    logged = [r for r in caplog.records if r.levelno == logging.INFO and "not fused" in r.message]
    assert len(logged) == 1 and reason in logged[0].message
    assert step.__name__ in logged[0].message
    _equal(fast, ref)  # the loop's result, whatever the step does
