"""Containers: Lift, lift, SequentialState, RecurrentSequential, regularisation (spec §6, §7)."""

from __future__ import annotations

import pytest
import torch

from simctl.neurons import (
    LIF,
    LIFCell,
    LIFFeedForwardState,
    LIFParameters,
    LIFRecurrent,
    lif_feed_forward_step,
)
from simctl.neurons.containers import (
    Lift,
    RecurrentSequential,
    RecurrentSequentialState,
    RegularizationCell,
    SequentialState,
    is_stateful,
    lift,
    regularize_step,
    spike_accumulator,
    voltage_accumulator,
)


def test_lift_conv2d_shape():
    data = torch.randn(20, 16, 64, 20, 30)
    module = Lift(torch.nn.Conv2d(64, 32, kernel_size=5))
    assert module(data).shape == (20, 16, 32, 16, 26)


def test_lift_stateless_returns_tensor():
    output = Lift(torch.nn.Linear(3, 2))(torch.ones(4, 5, 3))
    assert isinstance(output, torch.Tensor)
    assert output.shape == (4, 5, 2)


def test_lift_lif_cell_returns_state():
    output = Lift(LIFCell())(torch.ones(10, 4, 3))
    assert isinstance(output, tuple)
    z, state = output
    assert z.shape == (10, 4, 3)
    assert isinstance(state, LIFFeedForwardState)


def test_lift_equals_time_layer():
    data = torch.rand(12, 2, 3) * 3
    lifted, _ = Lift(LIFCell())(data)
    layer, _ = LIF()(data)
    assert torch.equal(lifted, layer)


def test_lift_tuple_input_seeds_state():
    """The state of an (x, state) tuple is used: a high initial v spikes at once."""
    data = torch.zeros(3, 2)
    z_fresh, _ = Lift(LIFCell())(data)
    seeded = LIFFeedForwardState(v=torch.full((2,), 5.0), i=torch.zeros(2))
    z_seeded, _ = Lift(LIFCell())((data, seeded))
    assert z_fresh.sum() == 0
    assert torch.equal(z_seeded[0], torch.ones(2))


def test_lift_sequential_state_returns_list():
    _, state = Lift(SequentialState(LIFCell()))(torch.ones(5, 2, 3))
    assert isinstance(state, list)
    assert isinstance(state[0], LIFFeedForwardState)


def test_lift_rnn_is_stateful():
    rnn = torch.nn.RNN(4, 3)
    assert is_stateful(rnn)
    output, hidden = Lift(rnn)(torch.ones(6, 2, 4))
    assert output.shape == (6, 2, 3)
    assert hidden.shape == (1, 3)


def test_is_stateful():
    assert is_stateful(LIFCell())
    assert is_stateful(SequentialState())
    assert not is_stateful(torch.nn.Linear(2, 2))
    assert not is_stateful(RegularizationCell())


def test_lift_functional_requires_state():
    with pytest.raises(TypeError):
        lift(lif_feed_forward_step)(torch.ones(3, 2))


def test_lift_functional_equals_layer():
    data = torch.rand(10, 4) * 4
    state = LIFFeedForwardState(v=torch.zeros(4), i=torch.zeros(4))
    z, final = lift(lif_feed_forward_step, p=LIFParameters())(data, state=state)
    z_ref, final_ref = LIF()(data)
    assert torch.equal(z, z_ref)
    assert torch.allclose(final.v, final_ref.v)


def test_lift_functional_call_p_overrides():
    data = torch.ones(10, 2) * 5
    state = LIFFeedForwardState(v=torch.zeros(2), i=torch.zeros(2))
    lifted = lift(lif_feed_forward_step, p=LIFParameters())
    z_default, _ = lifted(data, state=state)
    z_high, _ = lifted(data, state=state, p=LIFParameters(v_th=1e6))
    assert z_default.sum() > 0
    assert z_high.sum() == 0


def test_sequential_state_shapes():
    model = SequentialState(torch.nn.Linear(4, 6), LIFCell(), torch.nn.Linear(6, 2), LIFCell())
    out, state = model(torch.ones(5, 4))
    assert out.shape == (5, 2)
    assert len(state) == 4
    assert state[0] is None and state[2] is None
    assert state[1].v.shape == (5, 6)
    assert state[3].v.shape == (5, 2)
    out, state2 = model(torch.ones(5, 4), state)
    assert out.shape == (5, 2)


def test_sequential_state_returns_fresh_list():
    model = SequentialState(LIFCell())
    given = [None]
    _, state = model(torch.ones(2, 2), given)
    assert state is not given
    assert given == [None]
    _, state2 = model(torch.ones(2, 2), state)
    assert state2 is not state


def test_sequential_state_wrong_state_length():
    with pytest.raises(ValueError, match="2 layers"):
        SequentialState(LIFCell(), LIFCell())(torch.ones(2, 2), [None])


def test_sequential_state_return_hidden():
    model = SequentialState(torch.nn.Linear(3, 5), LIFCell(), return_hidden=True)
    hidden, state = model(torch.ones(2, 3))
    assert [h.shape for h in hidden] == [(2, 5), (2, 5)]
    assert len(state) == 2


def test_sequential_state_with_rnn():
    model = SequentialState(torch.nn.RNN(4, 4, num_layers=2), LIFCell())
    data = torch.ones(5, 3, 4)
    out, state = model(data)
    assert out.shape == (5, 3, 4)
    assert state[0].shape == (2, 3, 4)
    out, state = model(data, state)
    assert state[0].shape == (2, 3, 4)


def test_sequential_state_append():
    model = SequentialState(torch.nn.Linear(3, 4))
    model.append(LIFCell())
    assert len(model) == 2
    assert model.stateful_layers == [False, True]
    out, state = model(torch.ones(2, 3))
    assert out.shape == (2, 4)
    assert isinstance(state[1], LIFFeedForwardState)


def test_sequential_state_lifted_time_layers():
    """Time-looped layers chain; BPTT reaches the first layer's weights."""
    model = SequentialState(LIFRecurrent(8, 6), torch.nn.Linear(6, 4), LIF())
    data = torch.rand(10, 2, 8) * 5
    out, state = model(data)
    assert out.shape == (10, 2, 4)
    (out.sum() + state[2].v.sum()).backward()
    assert model[0].input_weights.grad is not None
    assert model[0].input_weights.grad.abs().sum() > 0


def test_sequential_forward_state_hooks():
    model = SequentialState(torch.nn.Linear(2, 3), LIFCell(), torch.nn.Linear(3, 2), LIFCell())
    seen: list[type] = []

    def hook(module, inputs, output):
        seen.append(type(output[1]))

    model.register_forward_state_hooks(hook)
    assert len(model.forward_state_hooks) == 2
    model(torch.ones(1, 2))
    assert seen == [LIFFeedForwardState, LIFFeedForwardState]
    with pytest.raises(ValueError):
        model.register_forward_state_hooks(hook)
    model.remove_forward_state_hooks()
    assert model.forward_state_hooks == []
    model(torch.ones(1, 2))
    assert len(seen) == 2


def test_recurrent_sequential_feeds_back():
    linear = torch.nn.Linear(2, 2, bias=False)
    with torch.no_grad():
        linear.weight.copy_(torch.eye(2))
    model = RecurrentSequential(linear)
    out, state = model(torch.ones(1, 2))
    assert isinstance(state, RecurrentSequentialState)
    assert torch.equal(out, torch.ones(1, 2))
    out, state = model(torch.ones(1, 2), state)
    assert torch.equal(out, torch.full((1, 2), 2.0))  # input + fed-back output
    assert torch.equal(state.cache, out)


def test_recurrent_sequential_with_neurons():
    model = RecurrentSequential(torch.nn.Linear(3, 3), LIFCell(), output_modules=[1])
    state = None
    for _ in range(4):
        out, state = model(torch.ones(2, 3), state)
    # a list of selected layers returns the list of their outputs (Norse semantics)
    assert isinstance(out, list) and len(out) == 1 and out[0].shape == (2, 3)
    assert isinstance(state.state[1], LIFFeedForwardState)
    single = RecurrentSequential(
        torch.nn.Linear(3, 3), LIFCell(), torch.nn.Identity(), output_modules=1
    )
    out, state = single(torch.ones(2, 3))
    assert torch.equal(out, state.cache)  # the integer-selected layer's output, not the last
    with pytest.raises(ValueError):
        RecurrentSequential(LIFCell(), output_modules=3)


def _spiking_state() -> LIFFeedForwardState:
    return LIFFeedForwardState(v=torch.ones(5, 10), i=torch.ones(5, 10))


def test_regularize_step_spike_count():
    p = LIFParameters()
    state = _spiking_state()
    z, state = lif_feed_forward_step(torch.ones(5, 10), state, p)
    z, count = regularize_step(z, state)
    assert count == 50
    z, state = lif_feed_forward_step(torch.ones(5, 10), state, p)
    z, count = regularize_step(z, state)
    assert count == 0


def test_spike_accumulator_accumulates():
    z = torch.ones(2, 3)
    assert spike_accumulator(z, None) == 6
    assert spike_accumulator(z, None, torch.tensor(4.0)) == 10


def test_voltage_accumulator():
    state = _spiking_state()
    z, state = lif_feed_forward_step(torch.zeros(5, 10), state, LIFParameters())
    z, accumulated = regularize_step(z, state, accumulator=voltage_accumulator)
    assert torch.equal(accumulated, state.v)
    assert accumulated is not state.v
    _, accumulated = regularize_step(z, state, voltage_accumulator, accumulated)
    assert torch.equal(accumulated, 2 * state.v)


def test_regularization_cell():
    cell = LIFCell()
    regularization = RegularizationCell()
    z, s = cell(torch.ones(5, 2) * 1000)
    z_out, term = regularization(z, s)
    assert z_out is z
    assert term == 10
    _, term = regularization(z, s)
    assert term == 20
    assert regularization.state == 20


def test_regularization_cell_voltage():
    regularization = RegularizationCell(accumulator=voltage_accumulator)
    z, s = LIFCell()(torch.ones(5, 2))
    _, term = regularization(z, s)
    assert torch.equal(term, s.v)


def test_regularization_gradient():
    cell = LIFCell()
    regularization = RegularizationCell()
    data = (torch.ones(5, 2) * 1000).requires_grad_()
    z, s = cell(data)
    _, term = regularization(z, s)
    term.backward()
    assert data.grad is not None


def test_sequential_state_bptt_through_lsnn():
    """Norse's BPTT test: stacked LSNNRecurrent layers train end to end (issue #164)."""
    from simctl.neurons import LSNNRecurrent

    torch.manual_seed(0)
    model = SequentialState(LSNNRecurrent(4, 6), LSNNRecurrent(6, 3), torch.nn.Linear(3, 2))
    data = torch.rand(20, 2, 4) * 20
    out, state = model(data)
    assert out.shape == (20, 2, 2)
    assert len(state) == 3 and state[2] is None
    out.sum().backward()
    for layer in model[:2]:
        assert layer.input_weights.grad is not None
        assert torch.isfinite(layer.input_weights.grad).all()
    out, _ = model(data, state)  # the returned states feed the next call
    assert out.shape == (20, 2, 2)


def test_lift_izhikevich_cell_with_preset():
    from simctl.neurons import IzhikevichCell, tonic_spiking

    z, state = Lift(IzhikevichCell(tonic_spiking))(torch.full((50, 1), 10.0))
    assert z.shape == (50, 1)
    assert z.sum() > 0
    assert state.v.shape == (1,)
