"""Thresholds: Heaviside forward for every method, surrogate backward values (spec §4)."""

from __future__ import annotations

import math

import pytest
import torch

from simctl.neurons.threshold import (
    THRESHOLD_METHODS,
    circ_dist_fn,
    heavi_circ_fn,
    heavi_erfc_fn,
    heavi_tanh_fn,
    heaviside,
    logistic_fn,
    sign,
    super_fn,
    threshold,
    triangle_fn,
)

SURROGATE_METHODS = [m for m in THRESHOLD_METHODS if m != "heaviside"]


def surrogate_grad(method: str, x: float, alpha: float) -> float:
    xt = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    threshold(xt, method, alpha).backward()
    return xt.grad.item()


@pytest.mark.parametrize("method", THRESHOLD_METHODS)
def test_forward_is_strict_heaviside(method):
    x = torch.tensor([1.0, 0.1, -0.1, 0.0, -1.0])
    out = threshold(x, method, 2.0)
    assert out.tolist() == [1.0, 1.0, 0.0, 0.0, 0.0]
    assert out.dtype == x.dtype


@pytest.mark.parametrize("dtype", [torch.float16, torch.float32, torch.float64])
def test_heaviside_keeps_dtype(dtype):
    assert heaviside(torch.tensor([0.5, 0.0], dtype=dtype)).dtype == dtype


# spec §4, "(run) with alpha = 2"
GOLDEN_ALPHA_2 = {
    "super": (1.0, 0.25),
    "triangle": (2.0, 1.0),
    "tanh": (1.0, 0.41997),
    "circ": (1.0, 0.913075),
    "heavi_erfc": (1.128379, 0.415107),
}


@pytest.mark.parametrize("method", sorted(GOLDEN_ALPHA_2))
def test_surrogate_values_alpha_2(method):
    at_zero, at_half = GOLDEN_ALPHA_2[method]
    assert surrogate_grad(method, 0.0, 2.0) == pytest.approx(at_zero, abs=1e-5)
    assert surrogate_grad(method, 0.5, 2.0) == pytest.approx(at_half, abs=1e-5)
    assert surrogate_grad(method, -0.5, 2.0) == pytest.approx(at_half, abs=1e-5)


@pytest.mark.parametrize(
    "method, formula",
    [
        ("super", lambda x, a: 1.0 / (a * abs(x) + 1.0) ** 2),
        ("triangle", lambda x, a: a * max(0.0, 1.0 - abs(x))),
        ("tanh", lambda x, a: 1.0 - math.tanh(a * x) ** 2),
        ("circ", lambda x, a: a**3 / (x * x + a * a) ** 1.5),
        ("heavi_erfc", lambda x, a: 2.0 / math.sqrt(math.pi) * math.exp(-((a * x) ** 2))),
    ],
)
@pytest.mark.parametrize("x", [-2.0, -0.7, -0.1, 0.0, 0.3, 0.9, 1.5])
@pytest.mark.parametrize("alpha", [0.5, 2.0, 10.0])
def test_surrogate_matches_formula(method, formula, x, alpha):
    assert surrogate_grad(method, x, alpha) == pytest.approx(formula(x, alpha), rel=1e-9)


@pytest.mark.parametrize("alpha", [0.1, 1000.0])
def test_superspike_grad_uses_alpha(alpha):
    """The HEAD SuperSpike backward ``1/(alpha·|x| + 1)^2`` (not v1.1.0's alpha-free one)."""
    x = torch.linspace(-1.0, 1.0, 21, dtype=torch.float64, requires_grad=True)
    super_fn(x, alpha).sum().backward()
    expected = 1.0 / (alpha * x.detach().abs() + 1.0) ** 2
    torch.testing.assert_close(x.grad, expected)


def test_superspike_default_alpha_is_100():
    x = torch.tensor(0.5, dtype=torch.float64, requires_grad=True)
    super_fn(x).backward()
    assert x.grad.item() == pytest.approx(1.0 / 51.0**2)


def test_triangle_default_alpha():
    x = torch.tensor(0.0, requires_grad=True)
    triangle_fn(x).backward()
    assert x.grad.item() == pytest.approx(0.3)


def test_surrogate_with_tensor_alpha():
    """alpha registered as a buffer arrives as a 0-dim tensor; it gets no gradient."""
    alpha = torch.tensor(2.0, requires_grad=True)
    x = torch.tensor([0.5], requires_grad=True)
    threshold(x, "super", alpha).sum().backward()
    assert x.grad.item() == pytest.approx(0.25)
    assert alpha.grad is None


def test_heaviside_method_has_no_gradient():
    x = torch.tensor([0.5, -0.5], requires_grad=True)
    out = threshold(x, "heaviside", 2.0)
    assert not out.requires_grad


@pytest.mark.parametrize("method", SURROGATE_METHODS)
def test_backward_scales_with_upstream_gradient(method):
    x = torch.tensor([0.2, -0.3], dtype=torch.float64, requires_grad=True)
    (3.0 * threshold(x, method, 2.0)).sum().backward()
    expected = [3.0 * surrogate_grad(method, v, 2.0) for v in (0.2, -0.3)]
    assert x.grad.tolist() == pytest.approx(expected)


def test_unknown_method_lists_known_ones():
    with pytest.raises(ValueError) as excinfo:
        threshold(torch.zeros(1), "adjoint", 1.0)
    message = str(excinfo.value)
    assert "'adjoint'" in message
    for method in THRESHOLD_METHODS:
        assert method in message


@pytest.mark.parametrize("method", THRESHOLD_METHODS)
def test_sign(method):
    x = torch.tensor([1.0, 0.1, -0.1, 0.0])
    assert sign(x, method, 2.0).tolist() == [1.0, 1.0, -1.0, -1.0]


def test_sign_gradient_is_twice_the_surrogate():
    x = torch.tensor(0.5, dtype=torch.float64, requires_grad=True)
    sign(x, "super", 2.0).backward()
    assert x.grad.item() == pytest.approx(0.5)


@pytest.mark.parametrize("fn", [heavi_erfc_fn, heavi_tanh_fn, heavi_circ_fn])
def test_direct_functions_forward(fn):
    assert fn(torch.tensor([1.0, 0.1, -0.1]), 2.0).tolist() == [1.0, 1.0, 0.0]


@pytest.mark.parametrize("fn", [heavi_erfc_fn, logistic_fn, circ_dist_fn])
def test_gradient_sign_through_chain(fn):
    """Positive at x > 0; negative through ``−0.001·x`` (the surrogates are positive)."""
    torch.manual_seed(0)
    x = torch.tensor([0.5, 1.0], requires_grad=True)
    fn(x, 2.0).sum().backward()
    assert (x.grad > 0).all()
    x2 = torch.tensor([0.5, 1.0], requires_grad=True)
    fn(-0.001 * x2, 2.0).sum().backward()
    assert (x2.grad < 0).all()


@pytest.mark.parametrize("fn", [logistic_fn, circ_dist_fn])
def test_stochastic_forward_is_binary_and_biased(fn):
    torch.manual_seed(0)
    high = fn(torch.full((2000,), 50.0), 1.0)
    low = fn(torch.full((2000,), -50.0), 1.0)
    assert set(high.unique().tolist()) <= {0.0, 1.0}
    assert high.mean() > 0.9
    assert low.mean() < 0.1


def test_superspike_doubles_keep_dtype():
    x = torch.tensor([0.1], dtype=torch.float64, requires_grad=True)
    out = super_fn(x, 100.0)
    out.sum().backward()
    assert out.dtype == torch.float64 and x.grad.dtype == torch.float64


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("method", THRESHOLD_METHODS)
def test_threshold_cuda_matches_cpu(method):
    x_cpu = torch.linspace(-1, 1, 11, requires_grad=True)
    x_gpu = x_cpu.detach().cuda().requires_grad_(True)
    out_cpu = threshold(x_cpu, method, 2.0)
    out_gpu = threshold(x_gpu, method, 2.0)
    torch.testing.assert_close(out_gpu.cpu(), out_cpu)
    if method != "heaviside":
        out_cpu.sum().backward()
        out_gpu.sum().backward()
        torch.testing.assert_close(x_gpu.grad.cpu(), x_cpu.grad)
