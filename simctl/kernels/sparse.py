"""Sparse recurrent weights: ``z · Wᵀ`` for a sparse ``W`` (post × pre), chosen by density.

A recurrent population with 1 % connectivity and a few percent of its neurons spiking per step
needs only the weight columns of the neurons that spiked. :func:`sparse_linear` picks:

* **dense** ``linear`` when the weights are dense, or sparse but denser than
  :data:`DENSE_ABOVE` (a dense matmul streams memory at full speed and wins there; the dense copy
  is made once and cached);
* **event-driven** (no gradient needed): the transpose of ``W`` is kept once as CSR (one row
  per presynaptic neuron), and each step adds the rows of the neurons with ``z ≠ 0``, scaled by
  ``z``, in a small C kernel (a torch gather/index_add version when no compiler is available).
  The cost is (spikes × fan-out), not (neurons²);
* ``torch.sparse.mm`` (COO) when a gradient is needed, so autograd flows to the weights' values
  and to ``z``.

The sums run in another order than a dense matmul, so results equal the dense path within
rounding (spike trains identical in practice; ``tests/test_sparse.py``).
"""

from __future__ import annotations

import ctypes
import threading
import weakref
from typing import Any

import torch

from .cbuild import CompileError, load_kernel

__all__ = ["sparse_linear", "sparsify", "density", "DENSE_ABOVE"]

#: sparse weights denser than this are multiplied densely: the transposed CSR copy costs 16 bytes
#: per stored weight against 4 per dense entry, and at 1 % density the event-driven product is
#: 300x faster than the dense one (docs/performance.md), so only memory decides the crossover
DENSE_ABOVE = 0.25

_cache: dict[int, tuple[Any, int, Any]] = {}
_lock = threading.Lock()

_GATHER_SOURCE = """
#include <stdint.h>
void simctl_gather_{name}(int64_t batch, int64_t n_pre, int64_t n_post, const {t}* z,
                     const int64_t* crow, const int64_t* col, const {t}* val, {t}* out) {{
  for (int64_t b = 0; b < batch; ++b) {{
    const {t}* zb = z + b * n_pre;
    {t}* ob = out + b * n_post;
    for (int64_t j = 0; j < n_pre; ++j) {{
      const {t} zj = zb[j];
      if (zj == 0) continue;
      for (int64_t k = crow[j]; k < crow[j + 1]; ++k) ob[col[k]] += zj * val[k];
    }}
  }}
}}
"""
_gathers: dict[torch.dtype, Any] = {}


def density(weights: torch.Tensor) -> float:
    """Fraction of stored (sparse) or nonzero (dense) entries."""
    total = weights.shape[0] * weights.shape[1]
    if weights.layout == torch.strided:
        return float(torch.count_nonzero(weights)) / max(1, total)
    return float(weights._nnz()) / max(1, total)


def sparsify(weights: torch.Tensor, threshold: float = DENSE_ABOVE) -> torch.Tensor:
    """A sparse COO copy of dense ``weights`` when their density is below ``threshold``;
    otherwise ``weights`` unchanged."""
    if weights.layout != torch.strided or density(weights) >= threshold:
        return weights
    return weights.to_sparse_coo().coalesce()


def _derived(weights: torch.Tensor) -> dict[str, Any]:
    """Per-weights cache (keyed by identity and version) of the transposed CSR / dense copy."""
    key = id(weights)
    version = weights._version
    with _lock:
        entry = _cache.get(key)
        if entry is not None and entry[0]() is weights and entry[1] == version:
            return entry[2]
        data: dict[str, Any] = {}
        try:
            ref = weakref.ref(weights, lambda _r, key=key: _cache.pop(key, None))
        except TypeError:  # pragma: no cover - tensors support weak references
            return data
        _cache[key] = (ref, version, data)
        return data


def _transposed_csr(weights: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    data = _derived(weights)
    if "csr_t" not in data:
        with torch.no_grad():
            coo = weights.detach()
            coo = coo.to_sparse_coo() if coo.layout != torch.sparse_coo else coo
            transposed = coo.t().coalesce()  # sorted by (pre, post)
            pre, post = transposed.indices()
            counts = torch.bincount(pre, minlength=weights.shape[1])
            crow = torch.zeros(weights.shape[1] + 1, dtype=torch.int64, device=pre.device)
            torch.cumsum(counts, 0, out=crow[1:])
            data["csr_t"] = (
                crow,
                post.to(torch.int64).contiguous(),
                transposed.values().contiguous(),
            )
    return data["csr_t"]


def _gather_kernel(dtype: torch.dtype) -> Any:
    if dtype not in _gathers:
        name = {torch.float32: "f32", torch.float64: "f64"}.get(dtype)
        function = None
        if name is not None:
            ctype = "float" if dtype == torch.float32 else "double"
            try:
                function = load_kernel(
                    _GATHER_SOURCE.format(name=name, t=ctype),
                    symbol=f"simctl_gather_{name}",
                    argtypes=[
                        ctypes.c_int64,
                        ctypes.c_int64,
                        ctypes.c_int64,
                        *([ctypes.c_void_p] * 5),
                    ],
                )
            except CompileError:
                function = None
        _gathers[dtype] = function
    return _gathers[dtype]


def _event_driven(z: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    n_post, n_pre = weights.shape
    crow, col, val = _transposed_csr(weights)
    dtype = torch.result_type(z, val)
    flat = z.detach().reshape(-1, n_pre).to(dtype).contiguous()
    val = val.to(dtype)
    out = torch.zeros(flat.shape[0], n_post, dtype=dtype, device=z.device)
    kernel = _gather_kernel(dtype) if z.device.type == "cpu" else None
    if kernel is not None:
        kernel(
            flat.shape[0],
            n_pre,
            n_post,
            flat.data_ptr(),
            crow.data_ptr(),
            col.data_ptr(),
            val.contiguous().data_ptr(),
            out.data_ptr(),
        )
    else:  # torch: gather the rows of the active presynaptic neurons
        batch_idx, pre_idx = torch.nonzero(flat, as_tuple=True)
        if batch_idx.numel():
            crow_d, col_d, val_d = (t.to(z.device) for t in (crow, col, val))
            starts = crow_d[pre_idx]
            counts = crow_d[pre_idx + 1] - starts
            segment = torch.repeat_interleave(torch.arange(counts.numel(), device=z.device), counts)
            offsets = torch.arange(segment.numel(), device=z.device) - torch.repeat_interleave(
                torch.cumsum(counts, 0) - counts, counts
            )
            entries = starts[segment] + offsets
            weights_scaled = val_d[entries] * flat[batch_idx, pre_idx][segment]
            out.view(-1).index_add_(0, batch_idx[segment] * n_post + col_d[entries], weights_scaled)
    return out.reshape(*z.shape[:-1], n_post)


def sparse_linear(z: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """``torch.nn.functional.linear(z, weights)`` for dense or sparse (COO/CSR) ``weights``."""
    if weights.layout == torch.strided:
        return torch.nn.functional.linear(z, weights)
    if z.layout != torch.strided:
        z = z.to_dense()
    if density(weights) > DENSE_ABOVE:
        data = _derived(weights)
        if weights.requires_grad and torch.is_grad_enabled():
            return torch.nn.functional.linear(z, weights.to_dense())
        if "dense" not in data:
            data["dense"] = weights.detach().to_dense()
        return torch.nn.functional.linear(z, data["dense"])
    if torch.is_grad_enabled() and (z.requires_grad or weights.requires_grad):
        coo = weights if weights.layout == torch.sparse_coo else weights.to_sparse_coo()
        flat = z.reshape(-1, z.shape[-1])
        return torch.sparse.mm(coo, flat.t()).t().reshape(*z.shape[:-1], weights.shape[0])
    return _event_driven(z, weights)
