"""Norse's import paths, keyword names and ``StateTuple`` methods.

Norse 1.1.0 user code imports ``norse.torch.functional.<file>`` and ``norse.torch.module.<file>``
(its package ``__init__`` files are empty) and calls step functions with Norse's keyword names;
with ``norse.torch`` renamed to ``simctl.neurons`` the same lines must run and reach the same
objects.
"""

from __future__ import annotations

import importlib
import pkgutil
from typing import Any, NamedTuple

import pytest
import torch

import simctl.neurons as sn
import simctl.neurons.functional as functional
import simctl.neurons.module as module
from simctl.neurons.lif import LIFFeedForwardState, LIFParameters, LIFState


def _submodules(package: Any) -> list[str]:
    return sorted(info.name for info in pkgutil.iter_modules(package.__path__))


#: names the paths define themselves (Norse's module constants), not aliases
OWN = {"default_bio_parameters", "default_bio_initial_state", "default_bio_state"}
HOMES = [
    importlib.import_module(f"simctl.neurons.{name}")
    for name in _submodules(sn)
    if name not in ("functional", "module")
]


@pytest.mark.parametrize(
    "path",
    [f"functional.{n}" for n in _submodules(functional)]
    + [f"module.{n}" for n in _submodules(module)],
)
def test_norse_path_holds_simctl_objects(path: str) -> None:
    """Every name a path exports is the very object a simctl model file defines under that
    name (no copies, no wrappers)."""
    shim = importlib.import_module(f"simctl.neurons.{path}")
    assert shim.__all__, path
    for name in shim.__all__:
        if name in OWN:
            continue
        value = getattr(shim, name)
        assert any(getattr(home, name, None) is value for home in HOMES), f"{path}.{name}"


def test_norse_style_imports() -> None:
    """Lines copied from Norse 1.1.0 code, with only the top package renamed."""
    from simctl.neurons.functional.leaky_integrator import li_feed_forward_step
    from simctl.neurons.functional.lif import LIFParameters as P
    from simctl.neurons.functional.lif import lif_feed_forward_step
    from simctl.neurons.functional.lsnn import ada_lif_step
    from simctl.neurons.functional.threshold import superspike_fn, threshold
    from simctl.neurons.module.leaky_integrator import LICell
    from simctl.neurons.module.lif import LIFCell
    from simctl.neurons.module.snn import SNNCell

    assert P is LIFParameters and LIFCell is sn.LIFCell and SNNCell is sn.SNNCell
    assert lif_feed_forward_step is sn.lif_feed_forward_step
    assert li_feed_forward_step is sn.li_feed_forward_step and LICell is sn.LICell
    assert superspike_fn is sn.super_fn and threshold is sn.threshold
    assert ada_lif_step is importlib.import_module("simctl.neurons.lsnn").ada_lif_step


def test_norse_style_subclass_of_snn_cell() -> None:
    """A user cell written against ``norse.torch.module.snn.SNNCell``: a leaky integrator
    ``v1 = v + 0.5·(x − v)`` from v = 0, so two unit inputs give 0.5 then 0.75."""
    from simctl.neurons.module.snn import SNNCell

    class HalfParameters(NamedTuple):
        rate: float = 0.5

    def step(x: torch.Tensor, v: torch.Tensor, p: Any, dt: float) -> tuple[Any, Any]:
        v = v + p.rate * (x - v)
        return v, v

    class HalfCell(SNNCell):
        def __init__(self, p: HalfParameters = HalfParameters(), **kwargs: Any):
            super().__init__(step, lambda x: torch.zeros_like(x), p, **kwargs)

    cell = HalfCell()
    out, state = cell(torch.ones(2))
    out, state = cell(torch.ones(2), state)
    assert out.tolist() == [0.75, 0.75]


def test_default_bio_constants() -> None:
    """Norse 1.1.0's constants, as floats: lif (τ_syn⁻¹ = 2, τ_mem⁻¹ = 0.05, −65/−50/−65)."""
    from simctl.neurons.functional.coba_lif import default_bio_parameters as coba
    from simctl.neurons.functional.lif import default_bio_initial_state, default_bio_parameters

    assert default_bio_parameters.tau_mem_inv == pytest.approx(0.05)
    assert default_bio_parameters.v_th == -50.0 and default_bio_initial_state.v == -65.0
    assert coba.e_rev_I == -70.0 and coba.v_rest == -65.0


# ---------------------------------------------------------------- keyword names


def test_input_spikes_keyword() -> None:
    x, state = torch.tensor([2.0, 0.5]), LIFFeedForwardState(v=torch.zeros(2), i=torch.zeros(2))
    positional = sn.lif_feed_forward_step(x, state, LIFParameters(), 0.001)
    norse = sn.lif_feed_forward_step(input_spikes=x, state=state, p=LIFParameters(), dt=0.001)
    simctl = sn.lif_feed_forward_step(input_tensor=x, state=state)
    for a, b in ((positional, norse), (positional, simctl)):
        assert torch.equal(a[0], b[0]) and torch.equal(a[1].v, b[1].v)
    # v1 = 0.1·2 = 0.2 and 0.05 (spec §2.4 with v = i = 0)
    assert positional[1].v.tolist() == pytest.approx([0.2, 0.05])


@pytest.mark.parametrize(
    "name",
    [
        "lif_step",
        "iaf_step",
        "lif_adex_step",
        "coba_lif_step",
    ],
)
def test_recurrent_steps_accept_input_spikes(name: str) -> None:
    step = getattr(sn, name)
    state_type = {
        "lif_step": LIFState,
        "iaf_step": sn.IAFState,
        "lif_adex_step": sn.LIFAdExState,
        "coba_lif_step": sn.CobaLIFState,
    }[name]
    state = state_type(*[torch.zeros(1, 2)] * len(state_type._fields))
    weights = (torch.ones(2, 3), torch.zeros(2, 2))
    x = torch.ones(1, 3)
    z1, s1 = step(x, state, *weights)
    z2, s2 = step(
        input_spikes=x, state=state, input_weights=weights[0], recurrent_weights=weights[1]
    )
    assert torch.equal(z1, z2) and all(torch.equal(a, b) for a, b in zip(s1, s2, strict=True))


def test_izhikevich_s_keyword() -> None:
    p = sn.tonic_spiking.p
    state = sn.IzhikevichState(v=torch.full((2,), -70.0), u=torch.full((2,), -14.0))
    a = sn.izhikevich_feed_forward_step(torch.full((2,), 10.0), state, p)
    b = sn.izhikevich_feed_forward_step(input_current=torch.full((2,), 10.0), s=state, p=p)
    assert torch.equal(a[1].v, b[1].v) and torch.equal(a[1].u, b[1].u)


def test_heaviside_data_and_circ_dist_k_keywords() -> None:
    x = torch.tensor([-1.0, 0.0, 2.0])
    assert sn.heaviside(data=x).tolist() == [0.0, 0.0, 1.0]
    torch.manual_seed(3)
    a = sn.circ_dist_fn(x, k=0.5)
    torch.manual_seed(3)
    b = sn.circ_dist_fn(x, alpha=0.5)
    assert torch.equal(a, b)


def test_both_spellings_is_an_error() -> None:
    state = LIFFeedForwardState(v=torch.zeros(1), i=torch.zeros(1))
    with pytest.raises(TypeError, match="'input_spikes'.*'input_tensor'"):
        sn.lif_feed_forward_step(torch.ones(1), state, input_spikes=1, input_tensor=2)


def test_module_forward_x_keyword() -> None:
    """Norse names some forward arguments ``x`` (encoders, Lift, RecurrentSequential)."""
    torch.manual_seed(0)
    a = sn.PoissonEncoder(5)(x=torch.ones(3))
    torch.manual_seed(0)
    b = sn.PoissonEncoder(5)(torch.ones(3))
    assert torch.equal(a, b)
    lifted = sn.Lift(torch.nn.Identity())
    assert torch.equal(lifted(x=torch.ones(4, 2)), torch.ones(4, 2))


def test_aliases_keep_the_signature() -> None:
    """``inspect.signature`` (used by ``Lift`` to detect a ``state`` argument) sees through."""
    import inspect

    assert list(inspect.signature(sn.lif_feed_forward_step).parameters)[:2] == [
        "input_tensor",
        "state",
    ]
    assert sn.Lift(sn.LIFCell()).is_stateful


# ---------------------------------------------------------------- StateTuple methods


def test_lif_parameters_to_moves_tensors_and_keeps_requires_grad() -> None:
    v_th = torch.tensor(1.0, requires_grad=True)
    p = LIFParameters(v_th=v_th, alpha=torch.tensor(100.0)).to(torch.float64)
    assert isinstance(p, LIFParameters)
    assert p.v_th.dtype == torch.float64 and p.v_th.requires_grad
    assert p.alpha.dtype == torch.float64
    assert p.tau_mem_inv == 100.0 and p.method == "super"  # numbers and strings kept
    assert p.cpu().v_th.device.type == "cpu"
    assert LIFParameters(v_th=torch.tensor(1.5)).int().v_th.dtype == torch.int32
    assert LIFParameters(v_th=torch.tensor(1.5, dtype=torch.float64)).float().v_th.dtype == (
        torch.float32
    )


def test_state_broadcast() -> None:
    """Scalars (numbers and one-element tensors) fill the template, same-shaped tensors are
    kept, other shapes raise."""
    template = torch.zeros(2, 3)
    same = torch.ones(2, 3)
    state = LIFState(z=0.0, v=torch.tensor([-65.0]), i=same).broadcast(template)
    assert state.z.shape == (2, 3) and torch.all(state.v == -65.0) and state.i is same
    with pytest.raises(ValueError, match=r"shape \(3,\).*\(2, 3\)"):
        LIFFeedForwardState(v=torch.zeros(3), i=0.0).broadcast(template)


@pytest.mark.parametrize(
    "cls",
    [
        sn.LIFParameters,
        sn.LIFState,
        sn.LIFFeedForwardState,
        sn.LIFBoxParameters,
        sn.LIFBoxState,
        sn.LIFBoxFeedForwardState,
    ],
)
def test_state_tuples_have_norse_methods(cls: type) -> None:
    for name in ("to", "cuda", "cpu", "int", "float", "broadcast"):
        assert callable(getattr(cls, name))
