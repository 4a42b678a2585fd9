"""Checkpoints: Norse-shaped state dicts load strictly into simctl modules and back, parameters
still move with ``.to()``, and Python-number parameters keep full precision in float64.

The expected keys are read off Norse 1.1.0's ``module/snn.py`` and model modules: ``p`` is a
plain attribute (never saved), the default weights are ``nn.Parameter`` attributes named
``input_weights``/``recurrent_weights`` (``g_coupling`` for the multicompartment cells), and
weights given by the user as plain tensors are plain attributes (not saved either).
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch

import simctl.neurons as sn
from simctl.neurons.lif import LIF, LIFCell, LIFParameters, LIFRecurrent, LIFRecurrentCell
from simctl.neurons.lif_refrac import LIFRefrac, LIFRefracParameters

RECURRENT = ("input_weights", "recurrent_weights")

#: (constructor, Norse 1.1.0 state-dict keys with shapes), for input_size 2, hidden_size 3
CASES: dict[str, tuple[Callable[[], torch.nn.Module], dict[str, tuple[int, ...]]]] = {
    "LIFCell": (lambda: sn.LIFCell(), {}),
    "LIF": (lambda: sn.LIF(), {}),
    "LIFRefracCell": (lambda: sn.LIFRefracCell(), {}),
    "LSNN": (lambda: sn.LSNN(), {}),
    "LIFAdExCell": (lambda: sn.LIFAdExCell(), {}),
    "LIFExCell": (lambda: sn.LIFExCell(), {}),
    "LICell": (lambda: sn.LICell(), {}),
    "LIBoxCell": (lambda: sn.LIBoxCell(), {}),
    "LIFBoxCell": (lambda: sn.LIFBoxCell(), {}),
    "IAF": (lambda: sn.IAF(), {}),
    "Izhikevich": (lambda: sn.Izhikevich(sn.tonic_spiking), {}),
    "LIFRecurrentCell": (
        lambda: sn.LIFRecurrentCell(2, 3),
        {RECURRENT[0]: (3, 2), RECURRENT[1]: (3, 3)},
    ),
    "LIFRecurrent": (lambda: sn.LIFRecurrent(2, 3), {RECURRENT[0]: (3, 2), RECURRENT[1]: (3, 3)}),
    "LSNNRecurrent": (lambda: sn.LSNNRecurrent(2, 3), {RECURRENT[0]: (3, 2), RECURRENT[1]: (3, 3)}),
    "LIFRefracRecurrentCell": (
        lambda: sn.LIFRefracRecurrentCell(2, 3),
        {RECURRENT[0]: (3, 2), RECURRENT[1]: (3, 3)},
    ),
    "IzhikevichRecurrent": (
        lambda: sn.IzhikevichRecurrent(2, 3, sn.tonic_spiking),
        {RECURRENT[0]: (3, 2), RECURRENT[1]: (3, 3)},
    ),
    "CobaLIFCell": (lambda: sn.CobaLIFCell(2, 3), {RECURRENT[0]: (3, 2), RECURRENT[1]: (3, 3)}),
    "LILinearCell": (lambda: sn.LILinearCell(2, 3), {"input_weights": (3, 2)}),
    "LIFMCRecurrentCell": (
        lambda: sn.LIFMCRecurrentCell(2, 3),
        {RECURRENT[0]: (3, 2), RECURRENT[1]: (3, 3), "g_coupling": (3, 3)},
    ),
    "SequentialState": (
        lambda: sn.SequentialState(sn.LIFCell(), torch.nn.Linear(2, 3)),
        {"1.weight": (3, 2), "1.bias": (3,)},
    ),
    "Lift": (
        lambda: sn.Lift(torch.nn.Linear(2, 3)),
        {"lifted_module.weight": (3, 2), "lifted_module.bias": (3,)},
    ),
}


def _norse_state_dict(keys: dict[str, tuple[int, ...]]) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    return {name: torch.randn(shape, generator=generator) for name, shape in keys.items()}


@pytest.mark.parametrize("name", sorted(CASES))
def test_state_dict_keys_are_norse_keys(name: str) -> None:
    build, keys = CASES[name]
    state = build().state_dict()
    assert {k: tuple(v.shape) for k, v in state.items()} == keys


@pytest.mark.parametrize("name", sorted(CASES))
def test_norse_state_dict_loads_strictly_and_back(name: str) -> None:
    """Norse → simctl (strict) sets exactly the saved tensors; simctl → a fresh module (strict,
    as Norse would load it) reproduces them."""
    build, keys = CASES[name]
    norse_state = _norse_state_dict(keys)
    module = build()
    module.load_state_dict(norse_state, strict=True)
    for key, value in module.state_dict().items():
        torch.testing.assert_close(value, norse_state[key], rtol=0, atol=0)
    again = build()
    again.load_state_dict(module.state_dict(), strict=True)
    assert again.state_dict().keys() == norse_state.keys()


def test_loaded_weights_drive_the_dynamics() -> None:
    """A loaded checkpoint is used: W_in = 1, W_rec = 0 make LIFRecurrent the golden feed-forward
    LIF of spec §2.5 (spikes at steps 6 and 9 under unit input)."""
    layer = LIFRecurrent(1, 1)
    layer.load_state_dict(
        {"input_weights": torch.ones(1, 1), "recurrent_weights": torch.zeros(1, 1)}, strict=True
    )
    z, _ = layer(torch.ones(9, 1, 1))
    assert z.flatten().tolist() == [0, 0, 0, 0, 0, 1, 0, 0, 1]


def test_user_weights_are_not_saved_but_move() -> None:
    """Plain-tensor weights are Norse's plain attributes: not saved, but moved by ``.to()``."""
    cell = LIFRecurrentCell(
        2, 3, input_weights=torch.ones(3, 2), recurrent_weights=torch.ones(3, 3)
    )
    assert list(cell.state_dict()) == []
    cell = cell.double()
    assert cell.input_weights.dtype == torch.float64
    assert cell.recurrent_weights.dtype == torch.float64


def test_parameters_still_move_with_to() -> None:
    cell = LIFRefrac(LIFRefracParameters(lif=LIFParameters(v_th=torch.ones(3))))
    moved = cell.to(torch.float64)
    assert moved.p.lif.v_th.dtype == torch.float64
    assert moved.p.rho_reset.dtype == torch.float64
    assert "p__lif__v_th" in dict(moved.named_buffers())


def test_trainable_parameter_is_saved_and_norse_dict_still_loads() -> None:
    """An ``nn.Parameter`` field of ``p`` is saved (``p__v_th``) and trains; a Norse state
    dict, which never holds ``p``, still loads strictly and leaves the value as it was."""
    v_th = torch.nn.Parameter(torch.full((3,), 0.5))
    layer = LIFRecurrent(2, 3, LIFParameters(v_th=v_th))
    assert "p__v_th" in layer.state_dict()
    norse_state = _norse_state_dict({"input_weights": (3, 2), "recurrent_weights": (3, 3)})
    result = layer.load_state_dict(norse_state, strict=True)
    assert result.missing_keys == [] and result.unexpected_keys == []
    assert layer.p.v_th is v_th and torch.all(v_th == 0.5)
    other = LIFRecurrent(2, 3, LIFParameters(v_th=torch.nn.Parameter(torch.zeros(3))))
    other.load_state_dict(layer.state_dict(), strict=True)
    assert torch.all(other.p.v_th == 0.5)


def test_unexpected_key_still_fails_strict_load() -> None:
    """Strictness is kept: a key the module does not have is an error."""
    with pytest.raises(RuntimeError, match="p__v_th"):
        LIFCell().load_state_dict({"p__v_th": torch.tensor(1.0)}, strict=True)


# ---------------------------------------------------------------- precision

#: numbers that float32 cannot hold exactly
INEXACT = LIFParameters(tau_syn_inv=1 / 3e-3, tau_mem_inv=1 / 7e-3, v_leak=0.1, v_th=0.7)


def _float64_tensors(p: LIFParameters) -> LIFParameters:
    return LIFParameters(
        **{
            f: torch.tensor(float(v), dtype=torch.float64) if f != "method" else v
            for f, v in p._asdict().items()
        }
    )


@pytest.mark.parametrize("grad", [True, False])
def test_double_is_bit_identical_to_a_float64_build(grad: bool) -> None:
    """``LIF(p).double()`` with Python-number ``p`` equals ``LIF(p as float64 tensors)`` and a
    module built under the float64 default dtype, to the bit (with and without autograd, i.e.
    the loop and the fused path)."""
    x = torch.rand(30, 4, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(1)) * 3
    converted = LIF(INEXACT).double()
    assert converted.p.tau_syn_inv.item() == 1 / 3e-3  # the Python float, not float32's
    reference = LIF(_float64_tensors(INEXACT))
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        built64 = LIF(INEXACT)
    finally:
        torch.set_default_dtype(previous)
    with torch.set_grad_enabled(grad):
        z1, s1 = converted(x)
        z2, s2 = reference(x)
        z3, s3 = built64(x)
    for a, b in ((z1, z2), (s1.v, s2.v), (s1.i, s2.i), (z1, z3), (s1.v, s3.v)):
        assert torch.equal(a, b)


def test_float32_module_rounds_like_before() -> None:
    """The float32 module is unchanged (buffers are float32 roundings of the numbers), and going
    to float64 and back gives the same float32 buffers."""
    cell = LIFCell(INEXACT)
    assert cell.p.v_th.dtype == torch.float32
    assert cell.p.v_th.item() == torch.tensor(0.7, dtype=torch.float32).item()
    back = LIFCell(INEXACT).double().float()
    for field in ("tau_syn_inv", "tau_mem_inv", "v_leak", "v_th"):
        assert torch.equal(getattr(back.p, field), getattr(cell.p, field))


def test_nested_and_other_models_keep_precision() -> None:
    refrac = LIFRefrac(LIFRefracParameters(lif=INEXACT, rho_reset=5.0)).double()
    assert refrac.p.lif.v_leak.item() == 0.1
    adex = sn.LIFAdExCell(sn.LIFAdExParameters(adaptation_spike=0.03)).double()
    assert adex.p.adaptation_spike.item() == 0.03


def test_edited_buffer_is_converted_not_reset() -> None:
    """A buffer changed in place no longer holds its number: ``.double()`` converts the edited
    value instead of restoring the number given at construction."""
    cell = LIFCell(INEXACT)
    cell.p.v_th.fill_(0.25)
    assert cell.double().p.v_th.item() == 0.25


def test_same_dtype_apply_keeps_the_buffer_object() -> None:
    """Only a dtype change rebuilds a buffer (``.to(device)``, ``share_memory()`` keep it)."""
    cell = LIFCell(INEXACT)
    before = cell.p.v_th
    cell.to("cpu")
    assert cell.p.v_th is before
