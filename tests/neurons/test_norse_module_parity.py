"""Module-level parity with Norse's own module tests (spec §7, ``norse/torch/module/test``).

Each test names the Norse test (file and function) whose assertion it mirrors. Assertions are
translated as literally as simctl's binding decisions allow; where a decision differs (parameters
move with ``.to()``, no shared state), the test asserts simctl's behaviour and says so.
"""

from __future__ import annotations

import sys

import pytest
import torch

from simctl.neurons import (
    IAF,
    LI,
    LIF,
    LSNN,
    SNN,
    CobaLIFCell,
    CobaLIFState,
    ConstantCurrentLIFEncoder,
    IAFCell,
    IAFFeedForwardState,
    Izhikevich,
    IzhikevichCell,
    IzhikevichRecurrent,
    IzhikevichRecurrentCell,
    IzhikevichRecurrentState,
    LConv2d,
    LIBoxCell,
    LIBoxState,
    LICell,
    LIFAdEx,
    LIFAdExCell,
    LIFAdExFeedForwardState,
    LIFAdExRecurrent,
    LIFAdExRecurrentCell,
    LIFAdExRefracCell,
    LIFAdExRefracFeedForwardState,
    LIFAdExRefracRecurrent,
    LIFAdExRefracRecurrentCell,
    LIFAdExRefracState,
    LIFAdExState,
    LIFBoxCell,
    LIFBoxFeedForwardState,
    LIFBoxParameters,
    LIFCell,
    LIFEx,
    LIFExCell,
    LIFExFeedForwardState,
    LIFExRecurrent,
    LIFExRecurrentCell,
    LIFExState,
    LIFFeedForwardState,
    LIFMCRecurrentCell,
    LIFMCRefracRecurrentCell,
    LIFParameters,
    LIFRecurrent,
    LIFRecurrentCell,
    LIFRefracCell,
    LIFRefracFeedForwardState,
    LIFRefracRecurrent,
    LIFRefracRecurrentCell,
    LIFRefracState,
    LIFState,
    Lift,
    LILinearCell,
    LIState,
    LSNNCell,
    LSNNFeedForwardState,
    LSNNRecurrent,
    LSNNRecurrentCell,
    LSNNState,
    PopulationEncoder,
    RecurrentSequential,
    RegularizationCell,
    SequentialState,
    SNNCell,
    SNNRecurrent,
    SNNRecurrentCell,
    SpikeLatencyEncoder,
    lif_step,
)
from simctl.neurons import izhikevich as izh

# ---------------------------------------------------------------- helpers


def _diagonal_sum(weights: torch.Tensor) -> torch.Tensor:
    return (weights * torch.eye(*weights.shape)).sum(0)


def _autapse_pair(cell, make_state):
    """Runs ``cell`` from a state where both neurons spiked and one where only neuron 1 did."""
    _, full = cell(torch.zeros(1, 2), make_state(torch.ones(1, 2)))
    _, part = cell(torch.zeros(1, 2), make_state(torch.tensor([[0.0, 1.0]])))
    return full, part


def _zeros():
    return torch.zeros(1, 2)


# ================================================================ LIF (module/test/test_lif.py)


def test_lif_cell_feedforward():
    """test_lif.py::test_lif_cell_feedforward: every state field (5, 2) after one step."""
    out, s = LIFCell()(torch.randn(5, 2))
    for x in s:
        assert x.shape == (5, 2)
    assert out.shape == (5, 2)


def test_lif_recurrent_cell():
    """test_lif.py::test_lif_recurrent_cell: RecurrentCell(2, 4) on (5, 2) -> (5, 4)."""
    out, s = LIFRecurrentCell(2, 4)(torch.randn(5, 2))
    for x in s:
        assert x.shape == (5, 4)
    assert out.shape == (5, 4)


@pytest.mark.parametrize("autapses", [True, False])
def test_lif_recurrent_cell_autapses(autapses):
    """test_lif.py::test_lif_recurrent_cell_(no_)autapses."""
    cell = LIFRecurrentCell(2, 2, autapses=autapses)
    if autapses:
        assert not torch.allclose(torch.zeros(2), _diagonal_sum(cell.recurrent_weights))
    else:
        assert _diagonal_sum(cell.recurrent_weights).sum() == 0
    full, part = _autapse_pair(cell, lambda z: LIFState(z=z, v=_zeros(), i=_zeros()))
    assert (full.i[0, 0] != part.i[0, 0]).item() == autapses


def test_lif_in_time_and_feedforward_layer():
    """test_lif.py::test_lif_in_time, test_lif_feedforward_layer: (10, 5, 4) in and out,
    state fields (5, 4)."""
    out, _ = LIF()(torch.randn(10, 5, 2))
    assert out.shape == (10, 5, 2)
    out, s = LIF()(torch.randn(10, 5, 4))
    assert out.shape == (10, 5, 4)
    for x in s:
        assert x.shape == (5, 4)


def test_lif_recurrent_sequence():
    """test_lif.py::test_lif_recurrent_sequence: chained 8 -> 6 -> 4 -> 1 on (10, 1, 8)."""
    z = torch.ones(10, 1, 8)
    z, s1 = LIFRecurrent(8, 6)(z)
    z, s2 = LIFRecurrent(6, 4)(z)
    z, s3 = LIFRecurrent(4, 1)(z)
    assert s1.v.shape == (1, 6) and s2.v.shape == (1, 4) and s3.v.shape == (1, 1)
    assert z.shape == (10, 1, 1)


class _TwoLayers(torch.nn.Module):
    """The ``SNNetwork`` of Norse's test_lif.py / test_izhikevich.py."""

    def __init__(self, make):
        super().__init__()
        self.l0 = make()
        self.l1 = make()
        self.s0 = self.s1 = None

    def forward(self, spikes):
        spikes, self.s0 = self.l0(spikes, self.s0)
        _, self.s1 = self.l1(spikes, self.s1)
        return self.s1.v.squeeze()


def test_lif_backward_variants():
    """test_lif.py backward tests: cells and layers, one or two applications, a two-layer
    model; none of the inputs requires a gradient (the initial v does)."""
    cell = LIFCell()
    out, s = cell(torch.randn(5, 4))
    out, _ = cell(out, s)
    out.sum().backward()

    cell = LIFRecurrentCell(4, 4)
    out, s = cell(torch.randn(5, 4))
    out, _ = cell(out, s)
    out.sum().backward()

    for model in (LIF(), LIFRecurrent(6, 6)):
        data = torch.ones(10, 6)
        out, s = model(data)
        out, _ = model(out, s)
        out.sum().backward()
        out, _ = type(model)(*((6, 6) if isinstance(model, LIFRecurrent) else ()))(data)
        out.sum().backward()

    _TwoLayers(LIF)(torch.ones(10, 12)).sum().backward()


@pytest.mark.parametrize("sparse", [True, False])
def test_lif_datatype(sparse):
    """test_lif.py::test_lif_datatype: a bool input (dense or sparse) gives float32 v and i,
    and a sparse input gives sparse z, for LIFCell and LIF, and for the recurrent modules with
    a float input."""
    x = torch.zeros(1, 2, dtype=torch.bool)
    if sparse:
        x = x.to_sparse()
    p = LIFParameters()
    for module in (LIFCell(p), LIF(p)):
        z, s = module(x)
        assert s.v.dtype == torch.float32 and s.i.dtype == torch.float32
        assert z.is_sparse is sparse
    x = x.float()
    z, s = LIFRecurrentCell(2, 1, p)(x)
    assert s.v.dtype == torch.float32 and s.i.dtype == torch.float32
    assert z.is_sparse is sparse
    z, s = LIFRecurrent(2, 1, p)(x.unsqueeze(1))
    assert s.v.dtype == torch.float32 and s.i.dtype == torch.float32
    assert z.is_sparse is sparse


def test_lif_params_non_tensor():
    """test_lif.py::test_lif_params_non_tensor."""
    p = LIFParameters(tau_mem_inv=2, tau_syn_inv=1, v_leak=0.3, v_th=0.5, v_reset=0, alpha=20)
    LIFCell(p=p)(torch.ones(2, 3))
    LIF(p=p)(torch.ones(2, 3))


# ================================================================ base (module/test/test_snn.py)


def test_snn_repr_matches_given_parameters():
    """test_snn.py::test_snn_cell_repr / test_snn_repr / test_snn_recurrent_(cell_)repr: the
    repr shows ``p`` as it was given (``f"LIFCell(p={LIFParameters()}, dt=0.001)"``)."""
    p = LIFParameters()
    assert str(LIFCell(p=p)) == f"LIFCell(p={p}, dt=0.001)"
    assert str(LIF(p=p)) == f"LIF(p={p}, dt=0.001)"
    assert str(LIFRecurrentCell(1, 2, p=p)) == (
        f"LIFRecurrentCell(input_size=1, hidden_size=2, p={p}, autapses=False, dt=0.001)"
    )
    assert str(LIFRecurrent(1, 2, p=p)) == (
        f"LIFRecurrent(input_size=1, hidden_size=2, p={p}, autapses=False, dt=0.001)"
    )


def test_snn_bases_accept_none_activation():
    """test_snn.py builds bare bases with ``activation=None, state_fallback=None``."""
    p = LIFParameters(v_th=torch.as_tensor(0.1))
    assert str(SNNCell(None, None, p=p)) == f"SNNCell(p={p}, dt=0.001)"
    assert str(SNN(None, None, p=p)) == f"SNN(p={p}, dt=0.001)"
    in_w, re_w = torch.randn(3, 2), torch.randn(3, 3) * (1 - torch.eye(3))
    for cls in (SNNRecurrentCell, SNNRecurrent):
        n = cls(None, None, 2, 3, p=p, input_weights=in_w, recurrent_weights=re_w)
        assert torch.equal(n.input_weights, in_w) and torch.equal(n.recurrent_weights, re_w)


def test_snn_recurrent_autapse_update_with_lambda_state():
    """test_snn.py::test_snn_recurrent_cell_weights_autapse_update: a lambda state fallback, a
    Parameter weight matrix, Adam; the diagonal stays 0 and the other weights change."""
    re_w = torch.nn.Parameter(torch.ones(3, 3))
    n = SNNRecurrentCell(
        lif_step,
        lambda x: LIFState(v=torch.zeros(3), i=torch.zeros(3), z=torch.ones(3)),
        2,
        3,
        p=LIFParameters(v_th=torch.as_tensor(0.1)),
        input_weights=torch.ones(3, 2),
        recurrent_weights=re_w,
    )
    assert torch.equal(n.recurrent_weights.diag(), torch.zeros(3))
    optim = torch.optim.Adam(n.parameters())
    spikes, s = [], None
    for _ in range(10):
        z, s = n(torch.ones(2), s)
        spikes.append(z)
    torch.stack(spikes).sum().backward()
    optim.step()
    w = n.recurrent_weights.clone().detach()
    assert z.sum() != 0
    assert torch.equal(w.diag(), torch.zeros(3))
    w.fill_diagonal_(1.0)
    assert not torch.equal(w, torch.ones(3, 3))


def test_snn_parameters_move_with_module_departure():
    """test_snn.py::test_snn_cell_to_device asserts ``p`` stays on the CPU after ``.cuda()``.
    simctl's binding decision is the opposite (parameters move with ``.to()``); checked with
    a dtype move so it runs without a GPU."""
    cell = LIFCell().to(torch.float64)
    assert cell.p.tau_mem_inv.dtype == torch.float64


# ================================================================ LI (test_leaky_integrator.py)


def test_li_layer_shapes():
    """test_leaky_integrator.py::test_li / test_li_state: ``LI()`` on (5, 2) -> out (5, 2),
    state fields (2,)."""
    out, s = LI()(torch.randn(5, 2))
    for x in s:
        assert x.shape == (2,)
    assert out.shape == (5, 2)
    out, s = LI()(torch.randn(5, 2), LIState(torch.ones(2), torch.ones(2)))
    for x in s:
        assert x.shape == (2,)
    assert out.shape == (5, 2)


def test_li_linear_cell_shapes():
    """test_leaky_integrator.py::test_li_linear_cell(_state): LILinearCell(2, 4) -> (5, 4)."""
    out, s = LILinearCell(2, 4)(torch.randn(5, 2))
    for x in s:
        assert x.shape == (5, 4)
    assert out.shape == (5, 4)
    out, s = LILinearCell(2, 4)(torch.randn(5, 2), LIState(torch.ones(5, 4), torch.ones(5, 4)))
    for x in s:
        assert x.shape == (5, 4)
    assert out.shape == (5, 4)


def test_li_cell_shapes():
    """test_leaky_integrator.py::test_li_cell(_state): LICell on (10, 2, 4) -> (10, 2, 4)."""
    out, _ = LICell()(torch.randn(10, 2, 4))
    assert out.shape == (10, 2, 4)
    out, s = LICell()(torch.randn(2, 4), LIState(torch.ones(2, 4), torch.ones(2, 4)))
    for x in s:
        assert x.shape == (2, 4)
    assert out.shape == (2, 4)


def test_li_backward():
    """test_leaky_integrator.py::test_li_backward, test_cell_backward, test_li_cell_backward."""
    LI()(torch.ones(100, 12))[0].sum().backward()
    LILinearCell(12, 1)(torch.ones(100, 12))[0].sum().backward()
    LICell()(torch.ones(10, 12, 1))[0].sum().backward()


def test_li_box_cell():
    """test_leaky_integrator_box.py: shapes, given state, backward."""
    out, _ = LIBoxCell()(torch.randn(10, 2, 4))
    assert out.shape == (10, 2, 4)
    out, s = LIBoxCell()(torch.randn(2, 4), LIBoxState(torch.ones(2, 4)))
    for x in s:
        assert x.shape == (2, 4)
    assert out.shape == (2, 4)
    LIBoxCell()(torch.ones(10, 12, 1))[0].sum().backward()


# ================================================================ IAF (test_iaf.py)


def test_iaf_cell_feed_forward_step_batch():
    """test_iaf.py::test_iaf_cell_feed_forward_step_batch: x = 1 from v = 0 gives v == 1."""
    x = torch.ones(2, 1)
    z, s = IAFCell()(x, IAFFeedForwardState(v=torch.zeros(2, 1)))
    assert z.shape == (2, 1)
    assert torch.equal(s.v, x)


def test_iaf_cell_backward():
    """test_iaf.py::test_iaf_cell_backward."""
    z, s = IAFCell()(torch.ones(2, 1))
    z.sum().backward()
    assert s.v.grad_fn is not None


def test_iaf_feed_forward():
    """test_iaf.py::test_iaf_feed_forward: ``IAF()`` on (10, 1) gives z (10, 1), v shape (1,)."""
    z, s = IAF()(torch.ones(10, 1))
    assert z.shape == (10, 1)
    assert s.v.shape == (1,)


# ================================================================ LIF box (test_lif_box.py)


def test_lif_box_cell():
    """test_lif_box.py: one step from v = 0 gives v = 0.1; backward; the compile-test values
    (tau_mem_inv = 1000: v = 1 after two steps of x = 1, no spike)."""
    z, s = LIFBoxCell()(torch.ones(2, 1), LIFBoxFeedForwardState(v=torch.zeros(2, 1)))
    assert z.shape == (2, 1)
    assert torch.allclose(s.v, torch.full((2, 1), 0.1))
    z, s = LIFBoxCell()(torch.ones(2, 1))
    z.sum().backward()
    assert s.v.grad_fn is not None
    p = LIFBoxParameters(
        tau_mem_inv=torch.ones(1) * 1000,
        v_th=torch.ones(1),
        v_leak=torch.zeros(1),
        v_reset=torch.zeros(1),
        alpha=torch.zeros(1),
    )
    m = LIFBoxCell(p)
    z, s = m(torch.ones(2, 1))
    _, s = m(torch.ones(2, 1), s)
    z.sum().backward()
    assert s.v.grad_fn is not None and z.shape == (2, 1)
    assert torch.equal(s.v, torch.ones(2, 1))


# ================================================================ LSNN (test_lsnn.py)


def test_lsnn_cell():
    """test_lsnn.py::test_lsnn_cell: ones(1, 2, 2): no spike, then i == 1.8."""
    cell = LSNNCell()
    data = torch.ones(1, 2, 2)
    z, state = cell(data)
    assert torch.equal(z, torch.zeros(1, 2, 2))
    z, state = cell(data, state)
    assert torch.equal(state.i, torch.ones(1, 2, 2) * 1.8)


@pytest.mark.parametrize("autapses", [True, False])
def test_lsnn_recurrent_cell_autapses(autapses):
    """test_lsnn.py::test_lsnn_recurrent_cell_(no_)autapses."""
    cell = LSNNRecurrentCell(2, 2, autapses=autapses)
    if autapses:
        assert not torch.allclose(torch.zeros(2), _diagonal_sum(cell.recurrent_weights))
    else:
        assert _diagonal_sum(cell.recurrent_weights).sum() == 0
    full, part = _autapse_pair(cell, lambda z: LSNNState(z=z, v=_zeros(), i=_zeros(), b=_zeros()))
    assert (full.i[0, 0] != part.i[0, 0]).item() == autapses


def test_lsnn_layers():
    """test_lsnn.py::test_lsnn, test_lsnn_recurrent: zeros(2, 5, 2) gives no spikes and the
    feed-forward / recurrent state types."""
    z, s = LSNN().forward(torch.zeros(2, 5, 2))
    assert torch.equal(z, torch.zeros(2, 5, 2))
    assert isinstance(s, LSNNFeedForwardState)
    z, s = LSNNRecurrent(2, 10).forward(torch.zeros(2, 5, 2))
    assert torch.equal(z, torch.zeros(2, 5, 10))
    assert isinstance(s, LSNNState)


def test_lsnn_backward():
    """test_lsnn.py backward tests (the inputs do not require a gradient)."""
    LSNNCell()(torch.ones(5, 2))[0].sum().backward()
    LSNNRecurrentCell(2, 2)(torch.ones(5, 2))[0].sum().backward()
    LSNN()(torch.ones(1, 2, 2))[0].sum().backward()
    LSNNRecurrent(2, 4)(torch.ones(1, 2, 2))[0].sum().backward()


# ================================================================ Izhikevich (test_izhikevich.py)

PRESETS = [
    "tonic_spiking",
    "phasic_spiking",
    "tonic_bursting",
    "phasic_bursting",
    "mixed_mode",
    "spike_frequency_adaptation",
    "class_1_exc",
    "class_2_exc",
    "spike_latency",
    "subthreshold_oscillation",
    "resonator",
    "integrator",
    "rebound_spike",
    "rebound_burst",
    "threshold_variability",
    "bistability",
    "dap",
    "accomodation",
    "inhibition_induced_spiking",
    "inhibition_induced_bursting",
]


@pytest.mark.parametrize("name", PRESETS)
def test_izhikevich_module_shapes(name):
    """test_izhikevich.py::test_izhikevich_cell, _recurrent_cell, _in_time, _feedforward_layer,
    _recurrent_sequence for every preset."""
    method = getattr(izh, name)
    out, s = IzhikevichCell(method)(torch.randn(5, 2))
    for x in s:
        assert x.shape == (5, 2)
    assert out.shape == (5, 2)
    out, s = IzhikevichRecurrentCell(2, 4, method)(torch.randn(5, 2))
    for x in s:
        assert x.shape == (5, 4)
    assert out.shape == (5, 4)
    out, _ = Izhikevich(method)(torch.randn(10, 5, 2))
    assert out.shape == (10, 5, 2)
    out, s = Izhikevich(method)(torch.randn(10, 5, 4))
    assert out.shape == (10, 5, 4)
    for x in s:
        assert x.shape == (5, 4)
    z = torch.ones(10, 1, 8)
    z, s1 = IzhikevichRecurrent(8, 6, method)(z)
    z, s2 = IzhikevichRecurrent(6, 4, method)(z)
    z, s3 = IzhikevichRecurrent(4, 1, method)(z)
    assert s1.v.shape == (1, 6) and s2.v.shape == (1, 4) and s3.v.shape == (1, 1)
    assert z.shape == (10, 1, 1)


@pytest.mark.parametrize("name", PRESETS)
def test_izhikevich_autapses(name):
    """test_izhikevich.py::test_izhikevich_recurrent_cell_(no_)autapses (dt = 1e-4,
    W_rec = 0.01 for the autapse case): v of neuron 0 depends on its own spike only with
    autapses."""
    method = getattr(izh, name)

    def state(z):
        return IzhikevichRecurrentState(z=z, v=_zeros(), u=_zeros())

    cell = IzhikevichRecurrentCell(
        2, 2, method, autapses=True, recurrent_weights=torch.ones(2, 2) * 0.01, dt=0.0001
    )
    assert not torch.allclose(torch.zeros(2), _diagonal_sum(cell.recurrent_weights))
    full, part = _autapse_pair(cell, state)
    assert full.v[0, 0] != part.v[0, 0]
    cell = IzhikevichRecurrentCell(2, 2, method, autapses=False)
    assert _diagonal_sum(cell.recurrent_weights).sum() == 0
    full, part = _autapse_pair(cell, state)
    assert full.v[0, 0] == part.v[0, 0]


@pytest.mark.parametrize("name", ["tonic_spiking", "accomodation", "dap"])
def test_izhikevich_backward(name):
    """test_izhikevich.py backward tests (cells, layers, two applications, two-layer model)."""
    method = getattr(izh, name)
    cell = IzhikevichCell(method)
    out, s = cell(torch.randn(5, 4))
    out, _ = cell(out, s)
    out.sum().backward()
    cell = IzhikevichRecurrentCell(4, 4, method)
    out, s = cell(torch.randn(5, 4))
    out, _ = cell(out, s)
    out.sum().backward()
    for model in (Izhikevich(method), IzhikevichRecurrent(6, 6, method)):
        out, s = model(torch.ones(10, 6))
        out, _ = model(out, s)
        out.sum().backward()
    Izhikevich(method)(torch.ones(10, 12))[0].sum().backward()
    _TwoLayers(lambda: Izhikevich(method))(torch.ones(10, 12)).sum().backward()


# ================================================================ other neurons


def test_lif_adex_modules():
    """test_lif_adex.py: shapes (incl. a 3-D cell input and a batch-free time input), a given
    state with the 0-dim ``cell.p.v_leak``, autapses, backward."""
    out, _ = LIFAdExCell()(torch.randn(5, 2))
    assert out.shape == (5, 2)
    cell = LIFAdExCell()
    x = torch.randn(5, 2, 4)
    out, _ = cell(
        x, LIFAdExFeedForwardState(v=cell.p.v_leak, i=torch.zeros(x.shape), a=torch.zeros(x.shape))
    )
    assert out.shape == (5, 2, 4)
    assert LIFAdEx()(torch.randn(10, 5, 4))[0].shape == (10, 5, 4)
    assert LIFAdExRecurrent(2, 4)(torch.randn(2, 2))[0].shape == (2, 4)
    LIFAdExCell()(torch.randn(5, 2))[0].sum().backward()
    LIFAdExRecurrentCell(2, 4)(torch.randn(5, 2))[0].sum().backward()
    LIFAdEx()(torch.randn(5, 2, 4))[0].sum().backward()
    out, _ = LIFAdExRecurrentCell(2, 4)(torch.randn(5, 2, 2))
    assert out.shape == (5, 2, 4)
    out.sum().backward()
    for autapses in (True, False):
        cell = LIFAdExRecurrentCell(2, 2, autapses=autapses)
        full, part = _autapse_pair(
            cell, lambda z: LIFAdExState(z=z, v=_zeros(), i=_zeros(), a=_zeros())
        )
        assert (full.i[0, 0] != part.i[0, 0]).item() == autapses


def test_lif_ex_modules():
    """test_lif_ex.py: shapes, given states with the 0-dim ``layer.p.v_leak``, autapses,
    backward (incl. ``LIFEx`` on a 2-D (time, neurons) input)."""
    assert LIFExCell()(torch.randn(5, 2))[0].shape == (5, 2)
    layer = LIFExRecurrent(2, 4)
    x = torch.randn(10, 5, 2)
    state = LIFExState(
        z=torch.zeros(x.shape[1], layer.hidden_size),
        v=layer.p.v_leak,
        i=torch.zeros(x.shape[1], layer.hidden_size),
    )
    assert layer(x, state)[0].shape == (10, 5, 4)
    assert LIFExRecurrent(2, 4)(torch.randn(5, 2, 2))[0].shape == (5, 2, 4)
    assert LIFEx()(torch.randn(10, 5, 2))[0].shape == (10, 5, 2)
    layer = LIFEx()
    x = torch.randn(5, 2, 4)
    state = LIFExFeedForwardState(v=layer.p.v_leak, i=torch.zeros(*x.shape[1:]))
    assert layer(x, state)[0].shape == (5, 2, 4)
    LIFExCell()(torch.randn(2, 4))[0].sum().backward()
    LIFExRecurrentCell(2, 4)(torch.randn(2, 2))[0].sum().backward()
    LIFEx()(torch.randn(2, 4))[0].sum().backward()
    LIFExRecurrent(2, 4)(torch.randn(5, 2, 2))[0].sum().backward()
    for autapses in (True, False):
        cell = LIFExRecurrentCell(2, 2, autapses=autapses)
        full, part = _autapse_pair(cell, lambda z: LIFExState(z=z, v=_zeros(), i=_zeros()))
        assert (full.i[0, 0] != part.i[0, 0]).item() == autapses


def _refrac_state(z):
    return LIFRefracState(lif=LIFState(z=z, v=_zeros(), i=_zeros()), rho=_zeros())


def test_lif_refrac_modules():
    """test_lif_refrac.py: shapes of the cells (given states included), the chained recurrent
    layers, autapses and backward."""
    cell = LIFRefracRecurrentCell(2, 4)
    out, s = cell(torch.randn(5, 2))
    for x in (s.rho, s.lif.v, s.lif.i, s.lif.z, out):
        assert x.shape == (5, 4)
    state = LIFRefracState(
        lif=LIFState(
            z=torch.zeros(5, cell.hidden_size),
            v=cell.p.lif.v_leak * torch.ones(5, cell.hidden_size),
            i=torch.zeros(5, cell.hidden_size),
        ),
        rho=torch.zeros(5, cell.hidden_size),
    )
    out, s = cell(torch.randn(5, 2), state)
    for x in (s.rho, s.lif.v, s.lif.i, s.lif.z, out):
        assert x.shape == (5, 4)
    LIFRefracRecurrentCell(2, 4)(torch.randn(5, 2))[0].sum().backward()

    cell = LIFRefracCell()
    x = torch.randn(16, 20, 30)
    out, s = cell(x)
    for t in (out, s.lif.v, s.lif.i, s.rho):
        assert t.shape == (16, 20, 30)
    state = LIFRefracFeedForwardState(
        LIFFeedForwardState(v=cell.p.lif.v_leak, i=torch.zeros(x.shape)), rho=torch.zeros(x.shape)
    )
    out, s = cell(x, state)
    for t in (out, s.lif.v, s.lif.i, s.rho):
        assert t.shape == (16, 20, 30)
    LIFRefracCell()(x)[0].sum().backward()

    for autapses in (True, False):
        full, part = _autapse_pair(LIFRefracRecurrentCell(2, 2, autapses=autapses), _refrac_state)
        assert (full.lif.i[0, 0] != part.lif.i[0, 0]).item() == autapses

    z = torch.ones(10, 1, 8)
    z, s1 = LIFRefracRecurrent(8, 6)(z)
    z, s2 = LIFRefracRecurrent(6, 4)(z)
    z, s3 = LIFRefracRecurrent(4, 1)(z)
    assert [s.lif.v.shape for s in (s1, s2, s3)] == [(1, 6), (1, 4), (1, 1)]
    assert [s.rho.shape for s in (s1, s2, s3)] == [(1, 6), (1, 4), (1, 1)]
    assert z.shape == (10, 1, 1)

    model = LIFRefracRecurrent(6, 6)
    data = torch.ones(10, 6)
    out, s = model(data)
    out, _ = model(out, s)
    out.sum().backward()
    out, s = model(data)
    out, _ = model(data, s)
    out.sum().backward()


def _adex_refrac_state(z):
    return LIFAdExRefracState(
        lif_adex=LIFAdExState(z=z, v=_zeros(), i=_zeros(), a=_zeros()), rho=_zeros()
    )


def test_lif_adex_refrac_modules():
    """test_lif_adex_refrac.py: the same set as for LIF-refrac, with the adaptation field."""
    cell = LIFAdExRefracRecurrentCell(2, 4)
    out, s = cell(torch.randn(5, 2))
    for x in (s.rho, s.lif_adex.v, s.lif_adex.i, s.lif_adex.z, s.lif_adex.a, out):
        assert x.shape == (5, 4)
    h = cell.hidden_size
    state = LIFAdExRefracState(
        lif_adex=LIFAdExState(
            z=torch.zeros(5, h),
            v=cell.p.lif_adex.v_leak * torch.ones(5, h),
            i=torch.zeros(5, h),
            a=torch.zeros(5, h),
        ),
        rho=torch.zeros(5, h),
    )
    out, s = cell(torch.randn(5, 2), state)
    for x in (s.rho, s.lif_adex.v, s.lif_adex.i, s.lif_adex.z, s.lif_adex.a, out):
        assert x.shape == (5, 4)
    cell(torch.randn(5, 2))[0].sum().backward()

    cell = LIFAdExRefracCell()
    x = torch.randn(16, 20, 30)
    out, s = cell(x)
    for t in (out, s.lif_adex.v, s.lif_adex.a, s.lif_adex.i, s.rho):
        assert t.shape == (16, 20, 30)
    state = LIFAdExRefracFeedForwardState(
        LIFAdExFeedForwardState(
            v=cell.p.lif_adex.v_leak, i=torch.zeros(x.shape), a=torch.zeros(x.shape)
        ),
        rho=torch.zeros(x.shape),
    )
    out, s = cell(x, state)
    for t in (out, s.lif_adex.v, s.lif_adex.a, s.lif_adex.i, s.rho):
        assert t.shape == (16, 20, 30)
    LIFAdExRefracCell()(x)[0].sum().backward()

    for autapses in (True, False):
        cell = LIFAdExRefracRecurrentCell(2, 2, autapses=autapses)
        full, part = _autapse_pair(cell, _adex_refrac_state)
        assert (full.lif_adex.i[0, 0] != part.lif_adex.i[0, 0]).item() == autapses

    z = torch.ones(10, 1, 8)
    z, s1 = LIFAdExRefracRecurrent(8, 6)(z)
    z, s2 = LIFAdExRefracRecurrent(6, 4)(z)
    z, s3 = LIFAdExRefracRecurrent(4, 1)(z)
    assert [s.lif_adex.v.shape for s in (s1, s2, s3)] == [(1, 6), (1, 4), (1, 1)]
    assert [s.rho.shape for s in (s1, s2, s3)] == [(1, 6), (1, 4), (1, 1)]
    assert z.shape == (10, 1, 1)

    model = LIFAdExRefracRecurrent(6, 6)
    data = torch.ones(10, 6)
    out, s = model(data)
    out, _ = model(out, s)
    out.sum().backward()


def test_lif_mc_modules():
    """test_lif_mc.py and test_lif_mc_refrac.py: shapes (given states included), autapses,
    backward."""
    cell = LIFMCRecurrentCell(2, 4)
    out, s = cell(torch.randn(5, 2))
    for x in (s.v, s.i, s.z, out):
        assert x.shape == (5, 4)
    state = LIFState(
        z=torch.zeros(5, cell.hidden_size),
        v=cell.p.v_leak * torch.ones(5, cell.hidden_size),
        i=torch.zeros(5, cell.hidden_size),
    )
    out, s = cell(torch.randn(5, 2), state)
    for x in (s.v, s.i, s.z, out):
        assert x.shape == (5, 4)
    LIFMCRecurrentCell(2, 4)(torch.randn(5, 2))[0].sum().backward()
    for autapses in (True, False):
        cell = LIFMCRecurrentCell(2, 2, autapses=autapses)
        full, part = _autapse_pair(cell, lambda z: LIFState(z=z, v=_zeros(), i=_zeros()))
        assert (full.i[0, 0] != part.i[0, 0]).item() == autapses

    cell = LIFMCRefracRecurrentCell(2, 4)
    out, s = cell(torch.randn(5, 2))
    for x in (s.lif.v, s.lif.i, s.lif.z, out):
        assert x.shape == (5, 4)
    h = cell.hidden_size
    state = LIFRefracState(
        lif=LIFState(
            z=torch.zeros(5, h), v=cell.p.lif.v_leak * torch.ones(5, h), i=torch.zeros(5, h)
        ),
        rho=torch.zeros(5, h),
    )
    out, s = cell(torch.randn(5, 2), state)
    for x in (s.lif.v, s.lif.i, s.lif.z, out):
        assert x.shape == (5, 4)
    LIFMCRefracRecurrentCell(2, 4)(torch.randn(5, 2))[0].sum().backward()
    for autapses in (True, False):
        cell = LIFMCRefracRecurrentCell(2, 2, autapses=autapses)
        full, part = _autapse_pair(cell, _refrac_state)
        assert (full.lif.i[0, 0] != part.lif.i[0, 0]).item() == autapses


def test_coba_modules():
    """test_coba.py: CobaLIFCell(4, 3) shapes with and without a given state; backward."""
    cell = CobaLIFCell(4, 3)
    spikes, state = cell(torch.ones(5, 4))
    assert spikes.shape == (5, 3) and state.v.shape == (5, 3)
    zeros = torch.zeros(5, cell.hidden_size)
    spikes, state = cell(torch.ones(5, 4), CobaLIFState(z=zeros, v=zeros, g_e=zeros, g_i=zeros))
    assert spikes.shape == (5, 3) and state.v.shape == (5, 3)
    CobaLIFCell(4, 3)(torch.ones(5, 4))[0].sum().backward()


# ================================================================ encoders (test_encode.py)


def test_encode_population():
    """test_encode.py::test_encode_population."""
    actual = PopulationEncoder(3).forward(torch.as_tensor([0, 0.5, 1]))
    expected = torch.as_tensor(
        [[1.0, 0.8824969, 0.6065307], [0.8824969, 1.0, 0.8824969], [0.6065307, 0.8824969, 1.0]]
    )
    assert torch.allclose(actual, expected)


def test_constant_current_lif_encode_integer_input():
    """test_encode.py::test_constant_current_lif_encode: an int64 input works."""
    z = ConstantCurrentLIFEncoder(2).forward(torch.as_tensor([0, 0, 0, 0]))
    assert torch.equal(z, torch.zeros(2, 4))


def test_spike_latency_encode_sequential():
    """test_encode.py::test_spike_latency_encode(_max_spikes, _chain): the encoders chain in a
    plain ``torch.nn.Sequential`` with integer input."""
    encoder = torch.nn.Sequential(ConstantCurrentLIFEncoder(2), SpikeLatencyEncoder())
    actual = encoder(torch.as_tensor([[0, 100, 100], [100, 100, 100]]))
    expected = torch.zeros(2, 2, 3)
    expected[0] = torch.as_tensor([[0, 1, 1], [1, 1, 1]])
    assert torch.equal(actual, expected)
    encoder = torch.nn.Sequential(ConstantCurrentLIFEncoder(seq_length=128), SpikeLatencyEncoder())
    assert torch.sum(encoder(1.1 * torch.ones(10))).item() == 10
    torch.nn.Sequential(ConstantCurrentLIFEncoder(2), SpikeLatencyEncoder())(torch.randn(7, 5) + 10)


# ================================================================ containers


def test_lift_norse_cases():
    """test_lift.py: Lift(Conv2d) in a plain Sequential with LIF, Lift(LIFCell) returns a
    tuple with an LIFFeedForwardState, Lift(SequentialState(LIFCell)) a list state."""
    data = torch.randn(4, 2, 6, 20, 30)
    module = torch.nn.Sequential(Lift(torch.nn.Conv2d(6, 3, 5, 1)), LIF())
    output, _ = module(data)
    assert output.shape == (4, 2, 3, 16, 26)
    out = Lift(LIFCell())(torch.randn(5, 2))
    assert type(out) is tuple and out[0].shape == (5, 2)
    assert type(out[1]) is LIFFeedForwardState
    out = Lift(SequentialState(LIFCell()))(torch.randn(5, 2))
    assert type(out) is tuple and out[0].shape == (5, 2)
    assert type(out[1]) is list and type(out[1][0]) is LIFFeedForwardState


def test_sequential_state_norse_cases():
    """test_sequential.py: state sequences, integer 0-dim states, mixing with torch.nn.RNN
    (state (2, 3, 4)), a conv stack, Lift/Flatten in between."""
    z, s = SequentialState(LIFRecurrent(20, 6))(torch.ones(10, 1, 20))
    assert z.shape == (10, 1, 6) and s[0].v.shape == (1, 6)

    m = SequentialState(torch.nn.Linear(1, 1), LIFCell())
    d = torch.ones(10, 1, 1)
    m(d)
    m(d, None)
    s = [None, LIFFeedForwardState(torch.tensor(0), torch.tensor(0))]
    m(d, s)
    m.forward(d, s)

    z, s = SequentialState(LIFRecurrent(20, 6), LIFRecurrent(6, 2))(
        torch.ones(10, 1, 20), [None, None]
    )
    assert z.shape == (10, 1, 2) and s[1].v.shape == (1, 2)

    z, (s1, s2) = SequentialState(LIFRecurrent(10, 5), LSNNRecurrent(5, 1))(torch.ones(10, 2, 10))
    assert z.shape == (10, 2, 1) and s1.v.shape == (2, 5) and s2.v.shape == (2, 1)

    state = [None, torch.randn(2, 3, 4), None]
    z, (s1, s2, s3) = SequentialState(
        LIFRecurrent(20, 10), torch.nn.RNN(10, 4, 2), LSNNRecurrent(4, 1)
    )(torch.ones(10, 3, 20), state)
    assert z.shape == (10, 3, 1)
    assert s1.v.shape == (3, 10) and s2.shape == (2, 3, 4) and s3.v.shape == (3, 1)

    model = SequentialState(
        Lift(torch.nn.Conv2d(1, 8, 3)),
        torch.nn.Flatten(2),
        LSNNRecurrent(32, 6),
        torch.nn.RNN(6, 4, 2),
        LIFRecurrent(4, 1),
    )
    model(torch.ones(1, 2, 1, 4, 4))


def test_backprop_through_time_works():
    """test_sequential.py::test_backprop_through_time_works: LSNNRecurrent stacks, Flatten,
    lifted Linear layers, Adam; a step-by-step loop with the returned state list."""
    model = SequentialState(
        LSNNRecurrent(1, 2),
        LSNNRecurrent(2, 3),
        LSNNRecurrent(3, 3),
        LSNNRecurrent(3, 2),
        torch.nn.Flatten(),
        Lift(torch.nn.Linear(4, 2)),
        Lift(torch.nn.Linear(2, 1)),
    )
    optimizer = torch.optim.Adam(model.parameters(), lr=0.0001)
    state = None
    optimizer.zero_grad()
    for x in torch.ones(3, 1, 2, 1):
        out, state = model(x, state)
    torch.nn.MSELoss()(out, torch.ones(1, 1)).backward()
    optimizer.step()


def test_sequential_forward_state_hook():
    """test_sequential.py::test_sequential_forward_state_hook: hooks see ``(input, state)``
    positionally, only on the four stateful children; removal clears them."""
    data = torch.ones(10, 2, 8, 1)
    model = SequentialState(
        torch.nn.Linear(1, 10, bias=False), LIFRecurrent(10, 10), LIF(), LIF(), LIF()
    )
    spikes, states = [], []

    def hook(mod, inp, output):
        spikes.append(inp[0])
        states.append(inp[1])

    model.register_forward_state_hooks(hook)
    _, s = model(data)
    stacked = torch.stack(spikes).detach()
    assert stacked.shape == (4, 10, 2, 8, 10)
    assert stacked.max() > 0
    assert len(states) == 4 and states[0] is None
    spikes.clear()
    states.clear()
    model(data, s)
    assert hasattr(states[0], "v")
    model.remove_forward_state_hooks()
    assert len(model.forward_state_hooks) == 0
    model(data, s)
    assert len(spikes) == 4

    model = SequentialState(torch.nn.Linear(1, 10, bias=False), LIFRecurrent(10, 10))
    model.register_forward_state_hooks(hook)
    with pytest.raises(ValueError):
        model.register_forward_state_hooks(hook)


def test_recurrent_sequential_norse_cases():
    """test_sequential.py::test_recurrent_sequential_stateful / _stateless / _output_index."""
    v = SequentialState(torch.nn.Linear(1, 1, bias=False))
    m = RecurrentSequential(v)
    data = torch.ones(10, 1, 1)
    actual, _ = v(v(data)[0] + v(data)[0])
    pred, _ = m(*m(data))
    assert torch.allclose(actual, pred)

    lin = torch.nn.Linear(1, 1, bias=False)
    m = RecurrentSequential(lin)
    actual = lin(lin(data) + lin(data))
    pred, _ = m(*m(data))
    assert actual.shape == pred.shape and torch.allclose(actual, pred)

    l1, l2 = torch.nn.Linear(1, 1, bias=False), torch.nn.Linear(1, 1, bias=False)
    m = RecurrentSequential(l1, l2, output_modules=0)
    pred, _ = m(data)
    assert torch.allclose(l1(data), pred)
    pred, _ = m(pred)
    assert torch.allclose(l1(l1(data)), pred)


def test_sequential_with_lif_box_cell():
    """test_sequential.py::test_sequential_compile (without compile): Linear + LIFBoxCell."""
    m = SequentialState(torch.nn.Linear(2, 1), LIFBoxCell())
    z, s = m(torch.ones(2, 2))
    _, s = m(torch.ones(2, 2), s)
    z.sum().backward()
    assert s[1].v.grad_fn is not None
    assert z.shape == (2, 1)
    assert not torch.all(torch.eq(s[1].v, 0))


def test_regularization_module():
    """test_regularization.py::test_regularization_module: counts of 10 then 20 (ones + 10
    input; v is reset after the first spike so only the integrated current spikes again)."""
    cell = LIFCell()
    r = RegularizationCell()
    data = torch.ones(5, 2) + 10
    z, s = cell(data)
    z, rs = r(z, s)
    assert z.shape == (5, 2)
    assert rs == 10
    z, s = cell(data, s)
    z, rs = r(z, s)
    assert rs == 20
    assert r.state == 20


# ================================================================ conv (test_conv.py)


def test_lconv():
    """test_conv.py::test_lconv: (100, 20, 16, 10, 50) with a (3, 5) kernel."""
    m = LConv2d(16, 33, (3, 5))
    assert m(torch.randn(10, 20, 16, 10, 50)).shape == (10, 20, 33, 8, 46)
    assert m.bias is None


# ================================================================ receptive fields


def test_spatial_receptive_field_norse_cases():
    """test_receptive_field.py::test_spatial_receptive_field, _update_kernels (HEAD rows are
    ``(scale, angle, ratio, x, y, dx, dy)``): weights (1, 1, 9, 9); a backward gives nonzero
    gradients on the field parameters; after an optimiser step the weights differ.

    Departure: simctl recomputes the weights from a parameter version key instead of Norse's
    ``has_updated`` flag / ``_update_weights()``, and ``rf_parameters`` is a derived (n, 7)
    view of the trainable columns rather than one ``nn.Parameter``."""
    from simctl.neurons import SpatialReceptiveField2d

    m = SpatialReceptiveField2d(1, 9, torch.tensor([[1.0, 1.0, 1.0, 0.0, 0.0, 0.0, 0.0]]))
    assert m.weights.shape == (1, 1, 9, 9)
    assert m(torch.ones(1, 1, 9, 9)).shape == (1, 1, 1, 1)

    m = SpatialReceptiveField2d(1, 9, torch.tensor([[1.0, 0.0, 1.0, 0.0, 0.0, 1.0, 0.0]]))
    old = m.weights.detach().clone()
    optim = torch.optim.SGD(list(m.parameters()), lr=1)
    m(torch.eye(9).view(1, 1, 9, 9)).sum().backward()
    grads = {name: p.grad for name, p in m.named_parameters()}
    assert grads and any(g is not None and bool((g != 0).any()) for g in grads.values())
    optim.step()
    m(torch.eye(9).view(1, 1, 9, 9))
    assert not torch.equal(old, m.weights)


# ================================================================ attributes Norse code reads


def test_norse_attribute_names():
    """Attributes Norse's modules expose and user code reads: ``Lift.lifted_module`` /
    ``is_stateful``, ``RecurrentSequential.module`` (so state_dict keys are ``module.0.*``),
    ``SequentialState.stateful_layers``, ``Izhikevich*.spiking_method``."""
    lift_module = Lift(LIFCell())
    assert isinstance(lift_module.lifted_module, LIFCell) and lift_module.is_stateful
    assert not Lift(torch.nn.Linear(1, 1)).is_stateful
    m = RecurrentSequential(torch.nn.Linear(1, 1, bias=False))
    assert isinstance(m.module, SequentialState)
    assert list(m.state_dict()) == ["module.0.weight"]
    assert SequentialState(torch.nn.Linear(1, 1), LIFCell()).stateful_layers == [False, True]
    for module in (
        IzhikevichCell(izh.tonic_spiking),
        Izhikevich(izh.tonic_spiking),
        IzhikevichRecurrentCell(2, 3, izh.tonic_spiking),
        IzhikevichRecurrent(2, 3, izh.tonic_spiking),
    ):
        assert module.spiking_method is izh.tonic_spiking


def test_sparse_time_layers_keep_sparse_spikes():
    """test_lif.py::test_lif_datatype for the time layers: the stacked spikes stay sparse (Norse
    stacks the sparse steps), and equal the dense run."""
    torch.manual_seed(0)
    x = (torch.rand(6, 4, 3) > 0.3).float() * 20
    dense_z, _ = LIF()(x)
    sparse_z, _ = LIF()(x.to_sparse())
    assert sparse_z.is_sparse
    torch.testing.assert_close(sparse_z.to_dense(), dense_z)


# ================================================================ torch.compile variants


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Norse runs these on Linux")
@pytest.mark.filterwarnings("ignore")  # torch's own deprecation/graph-break warnings
def test_compile_variants():
    """test_lif.py::test_lif_cell_feedforward_compile, _recurrent_cell_compile,
    _feedforward_layer_compile; test_lift.py::test_compile_lift; test_lif_box.py::
    test_lif_box_compile_cpu; test_sequential.py::test_sequential_compile."""
    out, s = torch.compile(LIFCell())(torch.randn(5, 4))
    assert out.shape == (5, 4) and all(x.shape == (5, 4) for x in s)
    out, s = torch.compile(LIFRecurrentCell(2, 4))(torch.randn(5, 2))
    assert out.shape == (5, 4) and all(x.shape == (5, 4) for x in s)
    out, s = torch.compile(LIF())(torch.randn(10, 5, 4))
    assert out.shape == (10, 5, 4) and all(x.shape == (5, 4) for x in s)
    assert type(torch.compile(Lift(LIFCell()))(torch.randn(5, 2))) is tuple

    p = LIFBoxParameters(
        tau_mem_inv=torch.ones(1) * 1000,
        v_th=torch.ones(1),
        v_leak=torch.zeros(1),
        v_reset=torch.zeros(1),
        alpha=torch.zeros(1),
    )
    m = torch.compile(LIFBoxCell(p))
    z, s = m(torch.ones(2, 1))
    _, s = m(torch.ones(2, 1), s)
    z.sum().backward()
    assert s.v.grad_fn is not None and z.shape == (2, 1) and torch.equal(s.v, torch.ones(2, 1))

    m = torch.compile(SequentialState(torch.nn.Linear(2, 1), LIFBoxCell()))
    z, s = m(torch.ones(2, 2))
    _, s = m(torch.ones(2, 2), s)
    z.sum().backward()
    assert s[1].v.grad_fn is not None and z.shape == (2, 1)
    assert not torch.all(torch.eq(s[1].v, 0))
