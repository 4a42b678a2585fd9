r"""Gradients against hand derivations: initial states are constants, ``ada_lif_step`` keeps
the surrogate gradient of its spike (Norse's behaviour).

**Initial v (state=None).** With ``a = dt·tau_mem_inv = 0.001·100 = 0.1``, the Heaviside method
(no surrogate gradient, so ``z`` is a constant for autograd) and a current ``i`` that never
depends on ``v_leak``, every step is

    v_{k+1} = (1 − z_k)·[(1 − a)·v_k + a·(v_leak + i1_k)] + z_k·v_reset,

hence, with ``d_k = ∂v_k/∂v_leak``:  ``d_{k+1} = (1 − z_k)·[(1 − a)·d_k + a]``.

* Below threshold and with a constant initial state (``d_0 = 0``, Norse's detached
  ``v_leak``): ``d_T = 1 − (1 − a)^T``; T = 5 gives ``1 − 0.9^5 = 0.40951``. An initial state
  attached to ``v_leak`` starts at ``d_0 = 1`` and gives ``d_T = 1`` for every T (the bug).
* With the unit input of spec §2.5 the neuron fires on step 6 (``z = 1``), so ``d_6 = 0``,
  ``d_7 = 0.1`` and ``d_8 = 0.9·0.1 + 0.1 = 0.19`` whatever the initial state did.
"""

from __future__ import annotations

import pytest
import torch

from simctl.neurons.lif import LIF, LIFCell, LIFParameters, LIFRecurrent, LIFRecurrentCell
from simctl.neurons.lif_refrac import LIFRefrac, LIFRefracCell, LIFRefracParameters
from simctl.neurons.lsnn import LSNNParameters, LSNNState, ada_lif_step


def _p(v_leak: torch.Tensor, refrac: bool) -> object:
    lif = LIFParameters(v_leak=v_leak, method="heaviside")
    return LIFRefracParameters(lif=lif) if refrac else lif


def _v_T(kind: str, current: float, steps: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Runs one neuron from ``state=None`` for ``steps`` steps; returns ``(v_T, v_leak)``."""
    v_leak = torch.nn.Parameter(torch.tensor(0.0))
    refrac = "Refrac" in kind
    p = _p(v_leak, refrac)
    x = torch.full((steps, 1, 1), current)
    if kind in ("LIF", "LIFRefrac"):
        module = LIF(p) if kind == "LIF" else LIFRefrac(p)
        _, state = module(x)
    elif kind in ("LIFCell", "LIFRefracCell"):
        module = LIFCell(p) if kind == "LIFCell" else LIFRefracCell(p)
        state = None
        for t in range(steps):
            _, state = module(x[t], state)
    else:  # recurrent: W_in = 1 passes the input straight into i, W_rec = 0
        weights = (torch.ones(1, 1), torch.zeros(1, 1))
        if kind == "LIFRecurrent":
            module = LIFRecurrent(1, 1, p, input_weights=weights[0], recurrent_weights=weights[1])
            _, state = module(x)
        else:
            module = LIFRecurrentCell(
                1, 1, p, input_weights=weights[0], recurrent_weights=weights[1]
            )
            state = None
            for t in range(steps):
                _, state = module(x[t], state)
    v = state.lif.v if refrac else state.v
    return v.sum(), v_leak


KINDS = ["LIFCell", "LIF", "LIFRecurrentCell", "LIFRecurrent", "LIFRefracCell", "LIFRefrac"]


@pytest.mark.parametrize("kind", KINDS)
def test_initial_v_is_a_constant_below_threshold(kind: str) -> None:
    """No input, five steps, no spike: ``∂v_5/∂v_leak = 1 − 0.9^5 = 0.40951`` (not 1)."""
    v_T, v_leak = _v_T(kind, current=0.0, steps=5)
    (grad,) = torch.autograd.grad(v_T, v_leak)
    assert grad.item() == pytest.approx(1 - 0.9**5, abs=1e-6)


@pytest.mark.parametrize("kind", KINDS)
def test_initial_v_gradient_after_a_spike(kind: str) -> None:
    """Unit input, eight steps, spike on step 6: ``∂v_8/∂v_leak = 0.19``; the value
    ``v_8 = 0.7717`` (spec §2.5) checks that the run is the golden one. The refractory models
    freeze v for five steps after the spike, so for them v_8 = 0 and the gradient is 0."""
    v_T, v_leak = _v_T(kind, current=1.0, steps=8)
    (grad,) = torch.autograd.grad(v_T, v_leak)
    if "Refrac" in kind:
        assert v_T.item() == 0.0 and grad.item() == 0.0
    else:
        assert v_T.item() == pytest.approx(0.7717, abs=1e-4)
        assert grad.item() == pytest.approx(0.19, abs=1e-6)


@pytest.mark.parametrize("kind", KINDS)
def test_initial_state_has_no_graph(kind: str) -> None:
    """The fallback state is a leaf (requires_grad as in Norse) with no path to ``p``."""
    v_leak = torch.nn.Parameter(torch.tensor(0.3))
    p = _p(v_leak, "Refrac" in kind)
    module = {
        "LIFCell": lambda: LIFCell(p),
        "LIF": lambda: LIF(p),
        "LIFRecurrentCell": lambda: LIFRecurrentCell(1, 2, p),
        "LIFRecurrent": lambda: LIFRecurrent(1, 2, p),
        "LIFRefracCell": lambda: LIFRefracCell(p),
        "LIFRefrac": lambda: LIFRefrac(p),
    }[kind]()
    state = module.state_fallback(torch.ones(3, 4, 1))
    v = state.lif.v if "Refrac" in kind else state.v
    assert v.grad_fn is None and v.requires_grad
    assert torch.all(v == 0.3)


def test_ada_lif_step_gradient_through_reset_and_adaptation() -> None:
    r"""One step from ``v = 0.5, i = 7, b = 0.2`` with ``alpha = 10`` (SuperSpike
    ``g(x) = 1/(alpha·|x| + 1)^2``), ``a = dt·tau_mem_inv = 0.1``:

    * ``v1 = 0.5 + 0.1·(0 − 0.5 + 7 − 0.2) = 1.13``, ``x = v1 − v_th = 0.13``,
      ``g = 1/(1.3 + 1)^2 = 1/5.29``.
    * ``v2 = v1 − z·(v_th − v_reset)`` so ``∂v2/∂v = (1 − a)·(1 − g) = 0.9·(1 − 1/5.29)``.
    * ``b2 = b·(1 − dt·tau_adapt_inv) + beta·z`` so ``∂b2/∂v = beta·g·(1 − a) = 1.8·0.9/5.29``
      and ``∂b2/∂b = (1 − 0.001/800) + beta·g·(−a)``.

    A detached ``z`` (the old behaviour) would give ``0.9``, ``0`` and ``1 − 0.001/800``.
    """
    p = LSNNParameters(alpha=10.0)
    v = torch.tensor([[0.5]], requires_grad=True)
    b = torch.tensor([[0.2]], requires_grad=True)
    state = LSNNState(z=torch.zeros(1, 1), v=v, i=torch.full((1, 1), 7.0), b=b)
    z, new = ada_lif_step(torch.zeros(1, 1), state, torch.ones(1, 1), torch.zeros(1, 1), p)
    assert z.item() == 1.0
    g = 1 / 5.29
    dv2_dv, dv2_db = torch.autograd.grad(new.v.sum(), (v, b), retain_graph=True)
    db2_dv, db2_db = torch.autograd.grad(new.b.sum(), (v, b))
    assert dv2_dv.item() == pytest.approx(0.9 * (1 - g), rel=1e-5)
    assert dv2_db.item() == pytest.approx(-0.1 * (1 - g), rel=1e-5)
    assert db2_dv.item() == pytest.approx(1.8 * g * 0.9, rel=1e-5)
    assert db2_db.item() == pytest.approx((1 - 0.001 / 800) - 1.8 * g * 0.1, rel=1e-5)
