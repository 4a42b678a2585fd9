"""LIFCorrelation: hand-derived sensor updates, equality with lif_step, shapes, gradients,
Norse's test_lif_correlation.py training loop."""

from __future__ import annotations

import pytest
import torch

from simctl.neurons import LIFState, LILinearCell, lif_step
from simctl.neurons.correlation_sensor import (
    CorrelationSensorParameters,
    CorrelationSensorState,
    correlation_based_update,
)
from simctl.neurons.lif import LIFParameters
from simctl.neurons.lif_correlation import (
    LIFCorrelation,
    LIFCorrelationParameters,
    LIFCorrelationState,
    lif_correlation_step,
)


def test_parameters_and_state_fields() -> None:
    p = LIFCorrelationParameters()
    assert p.lif_parameters == LIFParameters()
    assert p.input_correlation_parameters == CorrelationSensorParameters()
    assert p.recurrent_correlation_parameters == CorrelationSensorParameters()
    assert LIFCorrelationState._fields == (
        "lif_state",
        "input_correlation_state",
        "recurrent_correlation_state",
    )


def test_two_steps_hand_derived() -> None:
    """One input, one neuron, W_in = 40, W_rec = 0, dt = 1e-3 (tau_mem_inv·dt = 0.1,
    tau_syn_inv·dt = 0.2, sensor decay 0.99).

    step 1, x = 1: i1 = 40, v1 = 0.1·40 = 4 > 1 → z = 1, v = 0, i = 32.
      input sensor (pre x = 1, post z = 1): c = 1, a = 1, post_pre = Θ(0 + 1 − 1) = 0.
      recurrent sensor (pre z_old = 0, post 1): c = 0, a = 1, post_pre = 1.
    step 2, x = 0: v1 = 0.1·32 = 3.2 > 1 → z = 1, i = 25.6.
      input (pre 0, post 1, post_pre was 0): c = 0.99, a = 1 + 1 = 2, post_pre = 1.
      recurrent (pre z_old = 1, post 1, post_pre was 1): c = 0 + 1 = 1, a = 0.99 + 1 = 1.99,
      post_pre = Θ(1 + 1 − 1) = 1.
    """
    layer = LIFCorrelation(1, 1)
    w_in, w_rec = torch.full((1, 1), 40.0), torch.zeros(1, 1)
    z, s = layer(torch.ones(1, 1), w_in, w_rec)
    assert z.item() == 1.0
    assert (s.lif_state.v.item(), s.lif_state.i.item()) == pytest.approx((0.0, 32.0))
    assert [t.item() for t in s.input_correlation_state] == [0.0, 1.0, 1.0]
    assert [t.item() for t in s.recurrent_correlation_state] == [1.0, 0.0, 1.0]
    z, s = layer(torch.zeros(1, 1), w_in, w_rec, s)
    assert z.item() == 1.0
    assert s.lif_state.i.item() == pytest.approx(25.6)
    assert [t.item() for t in s.input_correlation_state] == pytest.approx([1.0, 0.99, 2.0])
    assert [t.item() for t in s.recurrent_correlation_state] == pytest.approx([1.0, 1.0, 1.99])


def test_spikes_and_lif_state_equal_lif_step() -> None:
    g = torch.Generator().manual_seed(3)
    x = (torch.rand(20, 4, 3, generator=g) < 0.3).float()
    w_in = torch.rand(5, 3, generator=g) * 60 - 10  # mostly excitatory, so neurons fire
    w_rec = torch.randn(5, 5, generator=g) * 5
    layer = LIFCorrelation(3, 5)
    s = None
    ref = LIFState(torch.zeros(4, 5), torch.zeros(4, 5), torch.zeros(4, 5))
    total = 0.0
    for xt in x:
        z, s = layer(xt, w_in, w_rec, s)
        z_ref, ref = lif_step(xt, ref, w_in, w_rec)
        assert torch.equal(z, z_ref)
        assert all(torch.equal(a, b) for a, b in zip(s.lif_state, ref, strict=True))
        total += z.sum().item()
    assert total > 0


def test_shapes() -> None:
    z, s = LIFCorrelation(3, 2)(torch.ones(5, 3), torch.ones(2, 3), torch.ones(2, 2))
    assert z.shape == (5, 2)
    assert all(t.shape == (5, 2) for t in s.lif_state)
    assert all(t.shape == (5, 3, 2) for t in s.input_correlation_state)
    assert all(t.shape == (5, 2, 2) for t in s.recurrent_correlation_state)
    z, s = LIFCorrelation(3, 2)(torch.ones(3), torch.ones(2, 3), torch.ones(2, 2))  # unbatched
    assert z.shape == (2,) and s.input_correlation_state.post_pre.shape == (3, 2)


def test_initial_state_is_fresh_and_uses_v_leak() -> None:
    p = LIFCorrelationParameters(lif_parameters=LIFParameters(v_leak=torch.tensor([0.1, 0.2])))
    layer = LIFCorrelation(3, 2, p)
    a, b = layer.initial_state(torch.ones(4, 3)), layer.initial_state(torch.ones(4, 3))
    assert torch.equal(a.lif_state.v, torch.tensor([[0.1, 0.2]] * 4))
    assert a.lif_state.v.data_ptr() != b.lif_state.v.data_ptr()
    assert not a.lif_state.v.requires_grad


def test_to_moves_parameters() -> None:
    layer = LIFCorrelation(3, 2).to(torch.float64)
    assert layer.p.lif_parameters.tau_mem_inv.dtype == torch.float64
    assert layer.p.input_correlation_parameters.tau_c_inv.dtype == torch.float64
    x = torch.ones(1, 3, dtype=torch.float64)
    z, s = layer(x, torch.ones(2, 3, dtype=torch.float64), torch.zeros(2, 2, dtype=torch.float64))
    assert z.dtype == s.input_correlation_state.correlation_trace.dtype == torch.float64
    assert "LIFCorrelation(input_size=3, hidden_size=2, p=LIFCorrelationParameters(" in repr(layer)


def test_rejects_wrong_input_size() -> None:
    with pytest.raises(ValueError, match=r"\(\.\.\., 3\)"):
        LIFCorrelation(3, 2)(torch.ones(5, 4), torch.ones(2, 4), torch.ones(2, 2))


def test_functional_is_pure_and_differentiable() -> None:
    w_in = torch.full((2, 3), 20.0, requires_grad=True)
    s0 = LIFCorrelation(3, 2).initial_state(torch.ones(1, 3))
    before = [t.clone() for t in s0.input_correlation_state]
    z1, s1 = lif_correlation_step(torch.ones(1, 3), s0, w_in, torch.zeros(2, 2))
    z2, s2 = lif_correlation_step(torch.ones(1, 3), s1, w_in, torch.zeros(2, 2))
    assert all(torch.equal(a, b) for a, b in zip(s0.input_correlation_state, before, strict=True))
    (z1.sum() + z2.sum() + s2.input_correlation_state.anti_correlation_trace.sum()).backward()
    assert w_in.grad is not None and w_in.grad.abs().sum() > 0


def test_norse_training_loop() -> None:
    """Norse test_lif_correlation_training, shortened: it runs and backpropagates."""
    torch.manual_seed(0)
    seq_length, batch, n_in, n_hid, n_out = 30, 1, 10, 8, 2
    x = (torch.rand(seq_length, batch, n_in) < 0.2).float()
    y = torch.tensor([1])
    input_weights = torch.randn(n_in, n_hid).t()
    recurrent_weights = torch.randn(n_hid, n_hid)
    layer = LIFCorrelation(n_in, n_hid)
    out = LILinearCell(n_hid, n_out)
    linear_update = torch.nn.Linear(2 * n_in * n_hid, n_in * n_hid)
    rec_linear_update = torch.nn.Linear(2 * n_hid * n_hid, n_hid * n_hid)
    optimizer = torch.optim.Adam(out.parameters(), lr=1e-1)
    for _ in range(2):
        s1, so = None, None
        voltages = []
        optimizer.zero_grad()
        for ts in range(seq_length):
            z1, s1 = layer(
                x[ts], input_weights=input_weights, recurrent_weights=recurrent_weights, state=s1
            )
            input_weights = correlation_based_update(
                ts, linear_update, input_weights.detach(), s1.input_correlation_state, 0.01, 10
            )
            recurrent_weights = correlation_based_update(
                ts,
                rec_linear_update,
                recurrent_weights.detach(),
                s1.recurrent_correlation_state,
                0.01,
                10,
            )
            vo, so = out(z1, so)
            voltages.append(vo)
            if ts % 10 == 0:
                assert isinstance(s1.input_correlation_state, CorrelationSensorState)
                assert not s1.input_correlation_state.correlation_trace.any()
        m, _ = torch.max(torch.stack(voltages), dim=0)
        loss = torch.nn.NLLLoss()(torch.nn.LogSoftmax(dim=1)(m), y)
        loss.backward()
        optimizer.step()
        assert torch.isfinite(loss)
