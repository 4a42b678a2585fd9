"""Norse's adjoint step names: the same forward values as the ordinary steps, and autograd's
gradients through them (simctl does not implement Norse's adjoint backward pass)."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

import pytest
import torch

import simctl.neurons as sn

N_IN, N = 3, 4


def _w(*shape: int) -> torch.Tensor:
    return torch.randn(*shape)


def _cases() -> dict[str, tuple[Callable[..., Any], Callable[..., Any], Callable[[], tuple]]]:
    lif = lambda: sn.LIFState(torch.zeros(2, N), torch.zeros(2, N), torch.zeros(2, N))  # noqa: E731
    ff = lambda: sn.LIFFeedForwardState(torch.zeros(2, N), torch.zeros(2, N))  # noqa: E731
    refrac = lambda: sn.LIFRefracState(lif(), torch.zeros(2, N))  # noqa: E731
    ff_refrac = lambda: sn.LIFRefracFeedForwardState(ff(), torch.zeros(2, N))  # noqa: E731
    rec = lambda s: lambda: (s(), _w(N, N_IN).abs(), _w(N, N))  # noqa: E731
    return {
        "lif_adjoint_step": (sn.lif_adjoint_step, sn.lif_step, rec(lif)),
        "lif_adjoint_step_sparse": (sn.lif_adjoint_step_sparse, sn.lif_step_sparse, rec(lif)),
        "lif_feed_forward_adjoint_step": (
            sn.lif_feed_forward_adjoint_step, sn.lif_feed_forward_step, lambda: (ff(),)
        ),
        "lif_feed_forward_adjoint_step_sparse": (
            sn.lif_feed_forward_adjoint_step_sparse,
            sn.lif_feed_forward_step_sparse,
            lambda: (ff(),),
        ),
        "lif_refrac_adjoint_step": (sn.lif_refrac_adjoint_step, sn.lif_refrac_step, rec(refrac)),
        "lif_refrac_adjoint_step_sparse": (
            sn.lif_refrac_adjoint_step_sparse, sn.lif_refrac_step_sparse, rec(refrac)
        ),
        "lif_refrac_feed_forward_adjoint_step": (
            sn.lif_refrac_feed_forward_adjoint_step,
            sn.lif_refrac_feed_forward_step,
            lambda: (ff_refrac(),),
        ),
        "lsnn_adjoint_step": (
            sn.lsnn_adjoint_step,
            sn.lsnn_step,
            rec(lambda: sn.LSNNState(*(torch.zeros(2, N) for _ in range(4)))),
        ),
        "lsnn_feed_forward_adjoint_step": (
            sn.lsnn_feed_forward_adjoint_step,
            sn.lsnn_feed_forward_step,
            lambda: (sn.LSNNFeedForwardState(*(torch.zeros(2, N) for _ in range(3))),),
        ),
        "coba_lif_adjoint_step": (
            sn.coba_lif_adjoint_step,
            sn.coba_lif_step,
            rec(lambda: sn.CobaLIFState(*(torch.zeros(2, N) for _ in range(4)))),
        ),
        "lif_mc_adjoint_step": (
            sn.lif_mc_adjoint_step, sn.lif_mc_step, lambda: (*rec(lif)(), 0.1 * _w(N, N))
        ),
        "lif_mc_refrac_adjoint": (
            sn.lif_mc_refrac_adjoint,
            sn.lif_mc_refrac_step,
            lambda: (*rec(refrac)(), 0.1 * _w(N, N)),
        ),
    }  # fmt: skip


CASES = _cases()


def _flat(value: Any) -> list[torch.Tensor]:
    if isinstance(value, torch.Tensor):
        return [value.to_dense() if value.is_sparse else value]
    return [t for v in value for t in _flat(v)]


@pytest.mark.parametrize("name", sorted(CASES))
def test_adjoint_name_runs_the_step_with_autograd_gradients(name: str) -> None:
    adjoint, step, make = CASES[name]
    sparse = "sparse" in name
    torch.manual_seed(0)
    args = make()
    x = (30.0 * torch.rand(2, N if len(args) == 1 else N_IN)).requires_grad_(True)
    xs = x.detach().to_sparse().requires_grad_(True) if sparse else x

    spikes = []

    def run(function: Callable[..., Any]) -> list[torch.Tensor]:
        state = args[0]
        outs = []
        for _ in range(20):
            z, state = function(xs, state, *args[1:])
            outs += _flat((z, state))
            spikes.append(float(_flat(z)[0].detach().sum()))
        return outs

    ours, theirs = run(adjoint), run(step)
    assert all(torch.equal(a, b) for a, b in zip(ours, theirs, strict=True))
    assert sum(spikes) > 0
    if sparse:
        return  # the sparse steps' gradients go through to_dense/to_sparse
    (g_ours,) = torch.autograd.grad(sum(t.sum() for t in ours), x)
    (g_theirs,) = torch.autograd.grad(sum(t.sum() for t in theirs), x)
    assert torch.equal(g_ours, g_theirs) and g_ours.abs().sum() > 0


def test_method_adjoint_means_the_default_surrogate() -> None:
    s = sn.LIFFeedForwardState(torch.zeros(3), torch.zeros(3))
    x = torch.tensor([0.5, 2.0, 9.0])
    p = sn.LIFParameters(method="adjoint")
    with pytest.raises(ValueError, match="adjoint"):
        sn.lif_feed_forward_step(x, s, p)
    z, state = sn.lif_feed_forward_adjoint_step(x, s, p)
    z_ref, state_ref = sn.lif_feed_forward_step(x, s, sn.LIFParameters(method="super"))
    assert torch.equal(z, z_ref) and torch.equal(state.v, state_ref.v)
    p_refrac = sn.LIFRefracParameters(lif=p)
    ff = sn.LIFRefracFeedForwardState(s, torch.zeros(3))
    sn.lif_refrac_feed_forward_adjoint_step(x, ff, p_refrac)  # nested p.lif.method


@pytest.mark.parametrize(
    "path",
    [
        "lif_adjoint",
        "lif_refrac_adjoint",
        "lsnn_adjoint",
        "coba_lif_adjoint",
        "lif_mc_adjoint",
        "lif_mc_refrac_adjoint",
    ],
)
def test_norse_adjoint_paths(path: str) -> None:
    shim = importlib.import_module(f"simctl.neurons.functional.adjoint.{path}")
    for name in shim.__all__:
        assert getattr(shim, name) is getattr(sn, name), name
