"""Base classes: weights, autapses, repr, record_states, parameter buffers, shapes, freshness."""

from __future__ import annotations

from typing import Any, NamedTuple

import pytest
import torch

from simctl.neurons.base import (
    SNN,
    SNNCell,
    SNNRecurrent,
    SNNRecurrentCell,
    full_state,
    is_namedtuple,
    stack_states,
)
from simctl.neurons.iaf import IAF, IAFCell
from simctl.neurons.li import LI, LICell
from simctl.neurons.li_box import LIBox, LIBoxCell
from simctl.neurons.lif import LIF, LIFCell, LIFParameters, LIFRecurrentCell
from simctl.neurons.lif_box import LIFBox, LIFBoxCell
from simctl.neurons.lif_refrac import (
    LIFRefrac,
    LIFRefracCell,
    LIFRefracParameters,
    LIFRefracRecurrent,
    LIFRefracRecurrentCell,
)


class MockParams(NamedTuple):
    my_param: Any = -15.0
    method: str = "tanh"


class Inner(NamedTuple):
    a: torch.Tensor
    b: torch.Tensor


class Outer(NamedTuple):
    inner: Inner
    c: torch.Tensor


def mock_ff(input_tensor, state, p, dt):
    return input_tensor + state, input_tensor + state


def mock_recurrent(input_tensor, state, input_weights, recurrent_weights, p, dt):
    out = torch.nn.functional.linear(input_tensor, input_weights) + torch.nn.functional.linear(
        state, recurrent_weights
    )
    return out, out


def zeros_like_fallback(input_tensor):
    return torch.zeros_like(input_tensor)


# ---------------------------------------------------------------- weights and autapses


def test_given_weights_are_stored_unchanged():
    w_in = torch.randn(3, 2)
    w_rec = torch.randn(3, 3)
    w_in_copy, w_rec_copy = w_in.clone(), w_rec.clone()
    cell = SNNRecurrentCell(
        mock_recurrent,
        zeros_like_fallback,
        2,
        3,
        MockParams(),
        input_weights=w_in,
        recurrent_weights=w_rec,
        autapses=True,
    )
    assert cell.input_weights is w_in
    assert cell.recurrent_weights is w_rec
    torch.testing.assert_close(cell.input_weights, w_in_copy)
    torch.testing.assert_close(cell.recurrent_weights, w_rec_copy)


def test_given_parameters_are_registered():
    w_in = torch.nn.Parameter(torch.randn(3, 2))
    cell = SNNRecurrentCell(
        mock_recurrent, zeros_like_fallback, 2, 3, MockParams(), input_weights=w_in
    )
    assert cell.input_weights is w_in
    assert any(p is w_in for p in cell.parameters())


def test_default_weights_scale_with_hidden_size():
    torch.manual_seed(0)
    cell = SNNRecurrentCell(mock_recurrent, zeros_like_fallback, 400, 500, MockParams())
    assert cell.input_weights.shape == (500, 400)
    assert cell.recurrent_weights.shape == (500, 500)
    expected = (2.0 / 500) ** 0.5
    assert cell.input_weights.std().item() == pytest.approx(expected, rel=0.02)
    assert isinstance(cell.input_weights, torch.nn.Parameter)


@pytest.mark.parametrize("cls", [SNNRecurrentCell, SNNRecurrent])
def test_autapses_removed_and_kept_at_zero_after_adam(cls):
    torch.manual_seed(0)
    module = cls(mock_recurrent, zeros_like_fallback, 2, 2, MockParams())
    assert torch.all(torch.diagonal(module.recurrent_weights) == 0)
    before = module.recurrent_weights.detach().clone()
    optimizer = torch.optim.Adam(module.parameters(), lr=0.1)
    x = torch.ones(3, 2, 2) if cls is SNNRecurrent else torch.ones(2, 2)
    state = torch.ones(2, 2)
    out, _ = module(x, state)
    out.sum().backward()
    optimizer.step()
    after = module.recurrent_weights.detach()
    assert torch.all(torch.diagonal(after) == 0)
    off_diagonal = ~torch.eye(2, dtype=torch.bool)
    assert torch.all(after[off_diagonal] != before[off_diagonal])


def test_autapses_true_keeps_diagonal():
    w_rec = torch.ones(2, 2)
    cell = SNNRecurrentCell(
        mock_recurrent,
        zeros_like_fallback,
        2,
        2,
        MockParams(),
        recurrent_weights=w_rec,
        autapses=True,
    )
    assert torch.all(torch.diagonal(cell.recurrent_weights) == 1)
    out, _ = cell(torch.zeros(1, 2), torch.ones(1, 2))
    assert out.tolist() == [[2.0, 2.0]]


def test_autapse_removal_on_user_weights_zeroes_diagonal_in_place():
    """As in Norse: the given tensor itself loses its diagonal (it is stored, not copied)."""
    w_rec = torch.ones(2, 2)
    cell = SNNRecurrentCell(
        mock_recurrent, zeros_like_fallback, 2, 2, MockParams(), recurrent_weights=w_rec
    )
    assert cell.recurrent_weights is w_rec
    assert w_rec.tolist() == [[0.0, 1.0], [1.0, 0.0]]


# ---------------------------------------------------------------- repr


def test_repr_cell():
    cell = SNNCell(mock_ff, zeros_like_fallback, MockParams(), dt=0.001)
    # p is shown as given (Norse: ``f"SNNCell(p={MockParams()}, dt=0.001)"``)
    assert repr(cell) == f"SNNCell(p={MockParams()}, dt=0.001)"


def test_repr_layer():
    layer = SNN(mock_ff, zeros_like_fallback, MockParams(my_param=2.0), dt=0.01)
    assert repr(layer) == "SNN(p=MockParams(my_param=2.0, method='tanh'), dt=0.01)"


def test_repr_recurrent():
    cell = LIFRecurrentCell(1, 2)
    assert repr(cell) == (
        f"LIFRecurrentCell(input_size=1, hidden_size=2, p={LIFParameters()}, "
        "autapses=False, dt=0.001)"
    )
    layer = SNNRecurrent(
        mock_recurrent, zeros_like_fallback, 3, 4, MockParams(), autapses=True, dt=0.5
    )
    assert repr(layer) == (
        f"SNNRecurrent(input_size=3, hidden_size=4, p={MockParams()}, autapses=True, dt=0.5)"
    )


# ---------------------------------------------------------------- record_states


def test_stack_states_nested():
    states = [
        Outer(Inner(torch.full((2,), float(k)), torch.tensor(k + 0.5)), torch.zeros(2))
        for k in range(3)
    ]
    stacked = stack_states(states)
    assert isinstance(stacked, Outer) and isinstance(stacked.inner, Inner)
    assert stacked.inner.a.shape == (3, 2)
    assert stacked.inner.a[:, 0].tolist() == [0.0, 1.0, 2.0]
    assert stacked.inner.b.tolist() == [0.5, 1.5, 2.5]
    assert stacked.c.shape == (3, 2)


def test_stack_states_broadcasts_zero_dim_fields():
    stacked = stack_states([torch.tensor(1.0), torch.ones(2)])
    assert stacked.tolist() == [[1.0, 1.0], [1.0, 1.0]]


def test_record_states_nested_layer():
    torch.manual_seed(0)
    x = torch.rand(6, 3, 2) * 3
    layer = LIFRefrac(record_states=True)
    z, states = layer(x)
    assert states.lif.v.shape == (6, 3, 2)
    assert states.lif.i.shape == (6, 3, 2)
    assert states.rho.shape == (6, 3, 2)
    cell = LIFRefracCell()
    state = None
    for t in range(6):
        _, state = cell(x[t], state)
        torch.testing.assert_close(states.lif.v[t], state.lif.v)
        torch.testing.assert_close(states.rho[t], state.rho)


def test_record_states_recurrent():
    layer = LIFRefracRecurrent(2, 3, record_states=True)
    _, states = layer(torch.ones(4, 5, 2))
    assert states.lif.z.shape == (4, 5, 3)
    assert states.rho.shape == (4, 5, 3)


# ---------------------------------------------------------------- parameters as buffers


def test_to_float64_moves_parameters():
    cell = LIFCell().to(torch.float64)
    for field in ("tau_syn_inv", "tau_mem_inv", "v_leak", "v_th", "v_reset", "alpha"):
        assert getattr(cell.p, field).dtype == torch.float64
    z, state = cell(torch.ones(2, 3, dtype=torch.float64))
    assert z.dtype == torch.float64 and state.v.dtype == torch.float64


def test_to_float64_moves_nested_parameters():
    cell = LIFRefracCell(LIFRefracParameters(lif=LIFParameters(v_th=torch.ones(3))))
    cell = cell.to(torch.float64)
    assert cell.p.lif.v_th.dtype == torch.float64
    assert cell.p.lif.tau_mem_inv.dtype == torch.float64
    assert cell.p.rho_reset.dtype == torch.float64
    assert cell.p.lif.method == "super"
    names = dict(cell.named_buffers())
    assert "p__lif__v_th" in names and "p__rho_reset" in names


def test_parameters_are_buffers_outside_state_dict():
    """Norse keeps ``p`` as a plain attribute, so its state dicts have no parameter entries;
    simctl's buffers are non-persistent (they move with ``.to()`` but are not saved)."""
    cell = LIFRefracCell()
    assert {"p__lif__tau_mem_inv", "p__rho_reset"} <= dict(cell.named_buffers()).keys()
    assert list(cell.state_dict()) == []


def test_plain_floats_work():
    cell = LIFCell(LIFParameters(tau_syn_inv=200.0, tau_mem_inv=100.0, v_leak=0.0, v_th=1.0))
    z, state = cell(torch.ones(2))
    assert isinstance(cell.p.tau_mem_inv, torch.Tensor)
    assert state.v.tolist() == pytest.approx([0.1, 0.1])


def test_integer_parameters_become_float():
    cell = LIFCell(LIFParameters(tau_mem_inv=100, v_th=torch.tensor(1)))
    assert cell.p.tau_mem_inv.dtype == torch.float32
    assert cell.p.v_th.dtype == torch.float32


def test_per_neuron_parameters_broadcast():
    """v_th of shape (3,), input 2, v = i = 0: the first step gives i1 = 2 and
    v1 = 0 + 1e-3·100·(0 − 0 + 2) = 0.2 for every neuron; only v_th = 0.1 lies below 0.2, so
    neuron 0 spikes and resets to 0 while the others keep 0.2."""
    v_th = torch.tensor([0.1, 0.3, 10.0])
    cell = LIFCell(LIFParameters(v_th=v_th))
    z, state = cell(torch.full((4, 3), 2.0))
    assert z.shape == (4, 3)
    assert z[0].tolist() == [1.0, 0.0, 0.0]
    assert state.v[0].tolist() == pytest.approx([0.0, 0.2, 0.2])


def test_per_neuron_parameter_with_single_input_column():
    """One current (..., 1) may drive a heterogeneous population (broadcast, no error)."""
    layer = LIF(LIFParameters(v_th=torch.tensor([0.1, 10.0])))
    z, _ = layer(torch.full((3, 4, 1), 2.0))
    assert z.shape == (3, 4, 2)
    assert z[0, 0].tolist() == [1.0, 0.0]


def test_parameter_setter_replaces_buffers():
    cell = LIFCell()
    cell.p = LIFParameters(v_th=2.0)
    assert cell.p.v_th.item() == 2.0
    cell.p = MockParams()
    assert sorted(name for name, _ in cell.named_buffers()) == ["p__my_param"]


def test_nn_parameter_in_p_is_trainable():
    v_th = torch.nn.Parameter(torch.ones(2))
    cell = LIFCell(LIFParameters(v_th=v_th))
    assert any(p is v_th for p in cell.parameters())
    assert cell.p.v_th is v_th


# ---------------------------------------------------------------- input shape errors


def test_recurrent_cell_wrong_input_size():
    cell = LIFRecurrentCell(3, 4)
    with pytest.raises(ValueError, match=r"\(\.\.\., 3\)"):
        cell(torch.ones(5, 2))


def test_recurrent_layer_wrong_input():
    layer = LIFRefracRecurrent(3, 4)
    with pytest.raises(ValueError, match=r"\(time, \.\.\., 3\)"):
        layer(torch.ones(3))
    with pytest.raises(ValueError, match=r"\(time, \.\.\., 3\)"):
        layer(torch.ones(10, 2))


def test_layer_needs_time_dimension():
    with pytest.raises(ValueError, match=r"\(time, \.\.\.\)"):
        LIF()(torch.tensor(1.0))


def test_per_neuron_parameter_shape_mismatch():
    cell = LIFCell(LIFParameters(v_th=torch.ones(4)))
    with pytest.raises(ValueError, match=r"expects input of shape \(\.\.\., 4\).*p\.v_th"):
        cell(torch.ones(5, 3))
    layer = LIFRefrac(LIFRefracParameters(lif=LIFParameters(tau_mem_inv=torch.ones(4))))
    with pytest.raises(ValueError, match=r"\(time, \.\.\., 4\).*p\.lif\.tau_mem_inv"):
        layer(torch.ones(10, 5, 3))


def test_recurrent_per_neuron_parameter_must_fit_hidden():
    with pytest.raises(ValueError, match=r"p\.v_th of shape \(3,\).*\(4,\)"):
        LIFRecurrentCell(2, 4, LIFParameters(v_th=torch.ones(3)))
    LIFRecurrentCell(2, 3, LIFParameters(v_th=torch.ones(3)))  # fits


def test_cell_rejects_non_tensor():
    with pytest.raises(TypeError):
        LIFCell()([1.0, 2.0])


# ---------------------------------------------------------------- fresh state


FEED_FORWARD_MODULES = [
    LIFCell,
    LIF,
    LICell,
    LI,
    LIBoxCell,
    LIBox,
    LIFBoxCell,
    LIFBox,
    IAFCell,
    IAF,
    LIFRefracCell,
    LIFRefrac,
]


def _leaves(state: Any) -> list[torch.Tensor]:
    if is_namedtuple(state):
        return [t for field in state for t in _leaves(field)]
    return [state]


@pytest.mark.parametrize("cls", FEED_FORWARD_MODULES)
def test_no_two_modules_share_state_tensors(cls):
    a, b = cls(), cls()
    x = torch.ones(3, 2)
    first, second, third = a.initial_state(x), b.initial_state(x), a.initial_state(x)
    buffers = [t for t in a.buffers()] + [t for t in b.buffers()]
    pointers = set()
    for state in (first, second, third):
        for leaf in _leaves(state):
            assert all(leaf is not buf for buf in buffers)
            assert leaf.data_ptr() not in pointers
            pointers.add(leaf.data_ptr())


@pytest.mark.parametrize("cls", [LIFRecurrentCell, LIFRefracRecurrentCell, LIFRefracRecurrent])
def test_recurrent_states_are_fresh(cls):
    a, b = cls(2, 3), cls(2, 3)
    x = torch.ones(4, 2)
    pointers = set()
    for state in (a.initial_state(x), b.initial_state(x), a.initial_state(x)):
        for leaf in _leaves(state):
            assert leaf.data_ptr() not in pointers
            pointers.add(leaf.data_ptr())


def test_full_state_copies_and_detaches():
    value = torch.tensor([1.0, 2.0], requires_grad=True)
    out = full_state(value, (3, 2))
    assert out.shape == (3, 2)
    assert not out.requires_grad
    out.add_(1.0)
    assert value.tolist() == [1.0, 2.0]
    assert full_state(0.5, (2,), torch.float64).dtype == torch.float64
    assert full_state(value, (4, 1)).shape == (4, 2)


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_moves_parameters():
    """Unlike Norse, ``.cuda()`` moves p (including nested fields) and the weights."""
    cell = LIFRefracRecurrentCell(2, 3).cuda()
    assert cell.p.lif.v_th.is_cuda and cell.p.rho_reset.is_cuda
    assert cell.recurrent_weights.is_cuda
    z, state = cell(torch.ones(5, 2, device="cuda"))
    assert z.is_cuda and state.rho.is_cuda


@pytest.mark.parametrize(
    "shapes",
    [(), ((3,),), ((3,), ()), ((1,), (4,)), ((2, 1), (5,)), ((0,), (1,)), ((1, 3), (2, 1), (3,))],
)
def test_broadcast_shapes_equals_torch(shapes):
    from simctl.neurons.base import broadcast_shapes

    assert broadcast_shapes(*shapes) == tuple(torch.broadcast_shapes(*shapes))


def test_broadcast_shapes_refuses_what_torch_refuses():
    from simctl.neurons.base import broadcast_shapes

    with pytest.raises(RuntimeError):
        torch.broadcast_shapes((3,), (4,))
    with pytest.raises(RuntimeError, match="cannot be broadcast"):
        broadcast_shapes((3,), (4,))
