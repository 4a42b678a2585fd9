"""Sparse recurrent weights equal the dense path (within rounding; spikes identical)."""

from __future__ import annotations

import pytest
import torch

from simctl.kernels import sparse
from simctl.neurons import lif


@pytest.fixture(autouse=True)
def _cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("SIMCTL_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "kernels"))


def _weights(n_post: int, n_pre: int, p: float, dtype=torch.float64, seed: int = 0):
    generator = torch.Generator().manual_seed(seed)
    mask = torch.rand(n_post, n_pre, generator=generator) < p
    return mask.to(dtype) * torch.randn(n_post, n_pre, generator=generator, dtype=dtype)


@pytest.mark.filterwarnings("ignore:Sparse CSR tensor support is in beta")  # torch's own notice
@pytest.mark.parametrize("layout", ["coo", "csr"])
@pytest.mark.parametrize("compiled", [True, False])
def test_sparse_linear_equals_dense(layout, compiled, monkeypatch):
    if not compiled:
        monkeypatch.setattr(sparse, "_gather_kernel", lambda dtype: None)
    elif sparse._gather_kernel(torch.float64) is None:
        pytest.skip("no C compiler: the event-driven product runs in torch")
    dense = _weights(300, 200, 0.02)
    weights = dense.to_sparse_coo() if layout == "coo" else dense.to_sparse_csr()
    z = (torch.rand(4, 5, 200, dtype=torch.float64) < 0.1).to(torch.float64)
    z[0, 0, :10] = 0.5  # non-binary values are scaled, not just selected
    expected = torch.nn.functional.linear(z, dense)
    with torch.no_grad():
        got = sparse.sparse_linear(z, weights)
    assert got.shape == expected.shape
    torch.testing.assert_close(got, expected, rtol=1e-12, atol=1e-12)


def test_float32_and_empty_spikes():
    dense = _weights(50, 40, 0.05, torch.float32)
    weights = sparse.sparsify(dense)
    assert weights.layout == torch.sparse_coo
    z = torch.zeros(40)
    assert torch.equal(sparse.sparse_linear(z, weights), torch.zeros(50))
    z[3] = 1.0
    torch.testing.assert_close(sparse.sparse_linear(z, weights), dense[:, 3])


def test_density_choice_and_cache_invalidation():
    dense = _weights(30, 30, 0.6)
    assert sparse.sparsify(dense) is dense  # too dense to be worth it
    weights = dense.to_sparse_coo()
    z = (torch.rand(30, dtype=torch.float64) < 0.5).to(torch.float64)
    torch.testing.assert_close(
        sparse.sparse_linear(z, weights), torch.nn.functional.linear(z, dense)
    )
    low = _weights(40, 40, 0.05).to_sparse_coo().coalesce()
    z = torch.ones(40, dtype=torch.float64)
    first = sparse.sparse_linear(z, low)
    with torch.no_grad():
        low.values().mul_(2.0)  # in place: the cached transpose must be rebuilt
    second = sparse.sparse_linear(z, low)
    torch.testing.assert_close(second, 2 * first)


def test_gradient_through_sparse_weights():
    dense = _weights(20, 20, 0.1)
    weights = dense.to_sparse_coo().coalesce().requires_grad_(True)
    z = torch.rand(3, 20, dtype=torch.float64, requires_grad=True)
    sparse.sparse_linear(z, weights).sum().backward()
    dense_w = dense.clone().requires_grad_(True)
    z2 = z.detach().clone().requires_grad_(True)
    torch.nn.functional.linear(z2, dense_w).sum().backward()
    torch.testing.assert_close(z.grad, z2.grad)
    grad_w = weights.grad.to_dense()
    torch.testing.assert_close(grad_w, dense_w.grad * (dense != 0))


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_recurrent_lif_sparse_equals_dense(dtype):
    torch.manual_seed(3)
    n_in, n = 20, 400
    w_rec = _weights(n, n, 0.02, dtype, seed=1) * 0.5
    w_rec.fill_diagonal_(0.0)
    w_in = torch.rand(n, n_in, dtype=dtype) * 2
    x = (torch.rand(200, 2, n_in) < 0.3).to(dtype)
    dense_layer = lif.LIFRecurrent(n_in, n, input_weights=w_in, recurrent_weights=w_rec)
    sparse_layer = lif.LIFRecurrent(
        n_in, n, input_weights=w_in, recurrent_weights=w_rec.to_sparse_coo()
    )
    with torch.no_grad():
        z_dense, s_dense = dense_layer(x)
        z_sparse, s_sparse = sparse_layer(x)
    assert z_dense.sum() > 0
    assert torch.equal(z_dense, z_sparse)
    tol = 1e-12 if dtype == torch.float64 else 1e-5
    torch.testing.assert_close(s_sparse.v, s_dense.v, rtol=tol, atol=tol)
    torch.testing.assert_close(s_sparse.i, s_dense.i, rtol=tol, atol=tol)


def test_recurrent_step_with_sparse_weights_and_gradients():
    torch.manual_seed(4)
    n = 30
    w_rec = _weights(n, n, 0.1, torch.float32, seed=2)
    w_in = torch.rand(n, 5)
    state = lif.LIFState(z=(torch.rand(n) < 0.5).float(), v=torch.zeros(n), i=torch.zeros(n))
    x = torch.rand(5, requires_grad=True)
    z_s, s_s = lif.lif_step(x, state, w_in, w_rec.to_sparse_coo(), dt=0.001)
    z_d, s_d = lif.lif_step(x, state, w_in, w_rec, dt=0.001)
    torch.testing.assert_close(s_s.i, s_d.i)
    s_s.v.sum().backward()
    assert x.grad is not None
