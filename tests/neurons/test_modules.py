"""The module classes that ``simctl.neurons._modules.model_modules`` completes: real classes of
their model file, with Norse 1.1.0's signatures (``norse/torch/module/lif.py`` and friends),
native argument errors, pickling, subclassing, and initial states of the right shape."""

from __future__ import annotations

import inspect
import io
import pickle
from typing import Any, NamedTuple

import pytest
import torch

import simctl.neurons as sn
from simctl.neurons._modules import model_modules, scalar_cell_state
from simctl.neurons.base import SNN, SNNCell, SNNRecurrent, SNNRecurrentCell

# the classes a model file completes with model_modules, and the parameters Norse 1.1.0 gives
# each ``__init__`` (after ``self``)
FEED_FORWARD = ["p", "kwargs"]
RECURRENT = ["input_size", "hidden_size", "p", "kwargs"]
SIGNATURES: dict[type, list[str]] = {
    sn.LIFCell: FEED_FORWARD,
    sn.LIF: FEED_FORWARD,
    sn.LIFRecurrentCell: RECURRENT,
    sn.LIFRecurrent: RECURRENT,
    sn.LIFExCell: FEED_FORWARD,
    sn.LIFExRecurrent: RECURRENT,
    sn.LIFAdExCell: FEED_FORWARD,
    sn.LIFAdExRecurrentCell: RECURRENT,
    sn.LIFRefracCell: FEED_FORWARD,
    sn.LIFRefracRecurrent: RECURRENT,
    sn.LIFAdExRefracCell: FEED_FORWARD,
    sn.LIFAdExRefracRecurrent: RECURRENT,
    sn.LSNNCell: ["p", "adjoint", "kwargs"],
    sn.LSNNRecurrent: ["input_size", "hidden_size", "p", "adjoint", "kwargs"],
    sn.IzhikevichCell: ["spiking_method", "kwargs"],
    sn.IzhikevichRecurrentCell: ["input_size", "hidden_size", "spiking_method", "kwargs"],
    sn.IAFCell: ["p", "dt", "kwargs"],
    sn.LIBox: ["p", "dt", "kwargs"],
    sn.LIFBoxCell: ["p", "dt", "kwargs"],
    sn.LICell: FEED_FORWARD,
    sn.CobaLIF: FEED_FORWARD,
}


def _build(cls: type) -> tuple[torch.nn.Module, torch.Tensor]:
    kwargs: dict[str, Any] = {}
    if "spiking_method" in inspect.signature(cls).parameters:
        kwargs["spiking_method"] = sn.tonic_spiking
    recurrent = issubclass(cls, (SNNRecurrentCell, SNNRecurrent))
    if recurrent:
        kwargs.update(input_size=2, hidden_size=3)
    step = (5, 2) if recurrent else (5, 3)
    timed = issubclass(cls, (SNN, SNNRecurrent))
    torch.manual_seed(0)
    x = 2.0 * torch.rand((4, *step) if timed else step)
    return cls(**kwargs), x


@pytest.mark.parametrize("cls", SIGNATURES, ids=lambda cls: cls.__name__)
def test_a_class_of_its_model_file_with_norse_signature(cls: type) -> None:
    parameters = inspect.signature(cls).parameters
    assert list(parameters) == SIGNATURES[cls]
    assert parameters["kwargs"].kind is inspect.Parameter.VAR_KEYWORD
    if "p" in parameters:  # Norse's default: the model's parameters with their defaults
        default = parameters["p"].default
        assert type(default).__name__ == parameters["p"].annotation
        assert default == type(default)()
    module = cls.__module__
    assert module.startswith("simctl.neurons.") and "_modules" not in module
    for method in (cls.__init__, cls.initial_state):
        assert method.__module__ == module
        assert method.__qualname__ == f"{cls.__qualname__}.{method.__name__}"
    assert getattr(sn, cls.__name__) is cls
    source = inspect.getsource(cls)  # a class statement of the model file, with its docstring
    assert f"class {cls.__name__}(" in source and cls.__doc__.splitlines()[0] in source


def test_norse_module_path_gives_the_same_class() -> None:
    from simctl.neurons.module.lif import LIFCell, LIFRecurrent

    assert LIFCell is sn.LIFCell and LIFRecurrent is sn.LIFRecurrent
    assert sn.LIFCell.__module__ == "simctl.neurons.lif"


def test_arguments_bind_natively() -> None:
    with pytest.raises(TypeError, match="hidden_size"):
        sn.LIFRecurrentCell(2)  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="spiking_method"):
        sn.IzhikevichCell()  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="activation"):  # the helper passes the step itself
        sn.LIFCell(activation=sn.lif_feed_forward_step)
    # positional, as in Norse: (input_size, hidden_size, p) and the box cells' (p, dt)
    p = sn.LIFParameters(v_th=0.5)
    cell = sn.LIFRecurrentCell(2, 3, p, autapses=True, dt=0.01)
    assert cell.p.v_th.item() == 0.5 and cell.dt == 0.01 and cell.autapses
    assert sn.IAFCell(sn.IAFParameters(), 0.25).dt == 0.25
    assert sn.LSNNCell(sn.LSNNParameters(), True).adjoint is True
    assert sn.LSNN().adjoint is False


@pytest.mark.parametrize("cls", SIGNATURES, ids=lambda cls: cls.__name__)
def test_pickle_round_trip_runs_the_same(cls: type) -> None:
    module, x = _build(cls)
    with torch.no_grad():
        expected, _ = module(x)
        for clone in (
            pickle.loads(pickle.dumps(module)),
            torch.load(_saved(module), weights_only=False),
        ):
            assert type(clone) is cls
            assert clone.state_fallback.__self__ is clone  # the bound initial_state, rebound
            output, _ = clone(x)
            assert torch.equal(output, expected)


def _saved(module: torch.nn.Module) -> io.BytesIO:
    buffer = io.BytesIO()
    torch.save(module, buffer)
    buffer.seek(0)
    return buffer


def test_subclass_with_its_own_init() -> None:
    """Norse-style user code: subclass a model's cell and call its ``__init__``."""

    class HalfThreshold(sn.LIFCell):
        def __init__(self, v_th: float, **kwargs: Any):
            super().__init__(p=sn.LIFParameters(v_th=v_th / 2), **kwargs)

    cell = HalfThreshold(2.0, dt=0.01)
    assert isinstance(cell, sn.LIFCell) and isinstance(cell, SNNCell)
    assert cell.p.v_th.item() == 1.0 and cell.dt == 0.01
    z, state = cell(torch.ones(3))
    assert z.shape == (3,) and state.v.requires_grad


# a toy model for the helper itself: v <- v + x, spike when v > 1 (no reset)
class ToyParameters(NamedTuple):
    v0: Any = 0.25


class ToyState(NamedTuple):
    v: torch.Tensor


class ToyRecurrentState(NamedTuple):
    z: torch.Tensor
    v: torch.Tensor


def toy_step(x: torch.Tensor, state: ToyState, p: ToyParameters, dt: float) -> Any:
    v = state.v + x
    return (v > 1).to(v.dtype), ToyState(v)


def toy_recurrent_step(
    x: torch.Tensor, state: ToyRecurrentState, w_in: torch.Tensor, w_rec: torch.Tensor, p, dt
) -> Any:
    v = state.v + torch.nn.functional.linear(x, w_in) + torch.nn.functional.linear(state.z, w_rec)
    z = (v > 1).to(v.dtype)
    return z, ToyRecurrentState(z, v)


def toy_initial_state(shape: tuple[int, ...], p: ToyParameters, dtype, device) -> ToyState:
    return ToyState(torch.full(shape, float(p.v0), dtype=dtype, device=device))


_toy = model_modules(
    ToyParameters(),
    feed_forward=toy_step,
    recurrent=toy_recurrent_step,
    initial_state=toy_initial_state,
    cell_state=scalar_cell_state(ToyState, "v0"),
    recurrent_state=ToyRecurrentState,
)


@_toy
class ToyCell(SNNCell):
    """A toy cell."""


@_toy
class Toy(SNN):
    """A toy layer."""


@_toy
class ToyRecurrentCell(SNNRecurrentCell):
    """A toy recurrent cell."""


@_toy
class ToyRecurrent(SNNRecurrent):
    """A toy recurrent layer."""


def test_helper_builds_the_four_kinds() -> None:
    x = torch.full((6, 2, 3), 0.5, dtype=torch.float64)
    cell_v = ToyCell().initial_state(x[0]).v
    assert cell_v.shape == () and cell_v.dtype == torch.float64 and cell_v.requires_grad
    with torch.no_grad():  # v_k = 0.25 + 0.5 k crosses 1 at k = 2 (v = 1.25)
        z, state = Toy()(x)
        assert state.v.shape == (2, 3) and torch.all(state.v == 0.25 + 0.5 * 6)
        assert z[:, 0, 0].tolist() == [0, 1, 1, 1, 1, 1]
        w_in = torch.ones(4, 3, dtype=torch.float64) / 3
        recurrent = ToyRecurrent(
            3, 4, input_weights=w_in, recurrent_weights=torch.zeros(4, 4, dtype=torch.float64)
        )
        z, state = recurrent(x)
        assert type(state) is ToyRecurrentState and state.v.shape == (2, 4)
        assert z[:, 1, 3].tolist() == [0, 1, 1, 1, 1, 1]
    fresh = ToyRecurrentCell(3, 4).initial_state(x[0])
    assert fresh.z.shape == fresh.v.shape == (2, 4) and torch.all(fresh.z == 0)
    assert torch.all(fresh.v == 0.25) and fresh.v.requires_grad and not fresh.z.requires_grad
    assert str(inspect.signature(ToyRecurrentCell)).startswith("(input_size: 'int', hidden_size")
    assert ToyCell.__doc__ == "A toy cell." and ToyCell.__module__ == __name__


def test_helper_rejects_what_it_cannot_complete() -> None:
    with pytest.raises(TypeError, match="not an SNNCell"):
        _toy(type("Plain", (torch.nn.Module,), {}))
    with pytest.raises(TypeError, match="no step"):
        model_modules(ToyParameters(), initial_state=toy_initial_state)(type("NoStep", (SNN,), {}))
    with pytest.raises(TypeError, match="led by v"):
        scalar_cell_state(ToyRecurrentState, "v0")
    with pytest.raises(TypeError, match="led by z"):
        model_modules(ToyParameters(), initial_state=toy_initial_state, recurrent_state=ToyState)
