r"""Izhikevich (2003, 2004) neurons: a quadratic membrane with a recovery variable.

.. math::
    \dot v = \tau^{-1} (sq\, v^2 + mn\, v + bias - u + I), \qquad
    \dot u = \tau^{-1} a (b v - u), \qquad
    z = \Theta(v - v_{th}), \quad v \leftarrow c,\; u \leftarrow u + d \text{ on } z = 1

Forward Euler with ``k = tau_inv·dt`` (Izhikevich's own step "tau", in ms of model time; the
defaults ``tau_inv = 250``, ``dt = 0.001`` give ``k = 0.25``). One call is one step:

1. ``v1 = v + k·(sq·v² + mn·v + bias − u + I)`` (recurrent: ``I = W_in·x + W_rec·z_old``)
2. ``u1 = u + k·a·(b·v' − u)``, with ``v' = v`` (``update_order="simultaneous"``, Norse, the
   library default) or ``v' = v1`` (``"sequential"``, Izhikevich's published ``figure1.m``).
   With ``u_law="accommodation"`` (figure 1 panel R) the law is ``u1 = u + k·a·b·(v' + 65)``.
3. ``z = Θ(v1 − v_th)`` (strict ``>``; no peak clipping, ``v`` is not set to 30)
4. ``v2 = (1 − z)·v1 + z·c``
5. ``u2 = u1 + z·d``

The ``0.04v² + 4.1v + 108`` variant of panels G and L is ``mn=4.1, bias=108``.

Units: ``v`` in mV, the current ``I`` dimensionless (mV/ms), ``k`` in ms. simctl's configs use
``tau_inv = 1`` (per ms) and ``dt`` in ms, so ``k = dt``.

Paper: E. M. Izhikevich, "Simple model of spiking neurons", IEEE TNN 14 (2003) and "Which model
to use for cortical spiking neurons?", IEEE TNN 15 (2004), Fig. 1.

The 20 presets of the 2004 figure are module constants (``tonic_spiking``, …), each an
:class:`IzhikevichSpikingBehavior` ``(p, s)`` with Norse's values (including Norse's ``tau_inv``
where it differs from the published script and the ``accomodation`` spelling; ``accommodation`` is
an alias). Modules copy the preset's initial state into fresh tensors: the preset's tensors are
never handed out.

Examples:
    >>> import torch
    >>> cell = IzhikevichCell(tonic_spiking)
    >>> z, state = cell(torch.full((5, 2), 14.0))
    >>> z.shape, state.v.shape
    (torch.Size([5, 2]), torch.Size([5, 2]))
    >>> layer = Izhikevich(tonic_spiking)
    >>> z, state = layer(torch.full((200, 1), 14.0))
    >>> int(z.sum())
    4
    >>> recurrent = IzhikevichRecurrentCell(2, 4, tonic_spiking)
    >>> z, state = recurrent(torch.ones(5, 2))
    >>> z.shape
    torch.Size([5, 4])
"""

from __future__ import annotations

from typing import Any, NamedTuple

import torch

from ._keywords import keyword_aliases
from ._modules import model_modules
from .base import (
    SNN,
    NeuronModel,
    SNNCell,
    SNNRecurrent,
    SNNRecurrentCell,
    broadcast_shapes,
    full_state,
    mark_initial,
    state_dtype,
)
from .threshold import threshold

__all__ = [
    "UPDATE_ORDERS",
    "U_LAWS",
    "IzhikevichParameters",
    "IzhikevichState",
    "IzhikevichRecurrentState",
    "IzhikevichSpikingBehavior",
    "create_izhikevich_spiking_behavior",
    "izhikevich_feed_forward_step",
    "izhikevich_recurrent_step",
    "izhikevich_initial_state",
    "IzhikevichCell",
    "Izhikevich",
    "IzhikevichRecurrentCell",
    "IzhikevichRecurrent",
    "IZHIKEVICH_PRESETS",
    "tonic_spiking",
    "tonic_spiking_p",
    "phasic_spiking",
    "phasic_spiking_p",
    "tonic_bursting",
    "tonic_bursting_p",
    "phasic_bursting",
    "phasic_bursting_p",
    "mixed_mode",
    "mixed_mode_p",
    "spike_frequency_adaptation",
    "spike_frequency_adaptation_p",
    "class_1_exc",
    "class_1_exc_p",
    "class_2_exc",
    "class_2_exc_p",
    "spike_latency",
    "spike_latency_p",
    "subthreshold_oscillation",
    "subthreshold_oscillation_p",
    "resonator",
    "resonator_p",
    "integrator",
    "integrator_p",
    "rebound_spike",
    "rebound_spike_p",
    "rebound_burst",
    "rebound_burst_p",
    "threshold_variability",
    "threshold_variability_p",
    "bistability",
    "bistability_p",
    "dap",
    "dap_p",
    "accomodation",
    "accomodation_p",
    "accommodation",
    "accommodation_p",
    "inhibition_induced_spiking",
    "inhibition_induced_spiking_p",
    "inhibition_induced_bursting",
    "inhibition_induced_bursting_p",
]

#: allowed values of :attr:`IzhikevichParameters.update_order`
UPDATE_ORDERS = ("simultaneous", "sequential")
#: allowed values of :attr:`IzhikevichParameters.u_law`
U_LAWS = ("standard", "accommodation")


class IzhikevichParameters(NamedTuple):
    """Parameters of an Izhikevich neuron.

    Attributes:
        a: time scale of the recovery variable ``u``.
        b: sensitivity of ``u`` to ``v``.
        c: after-spike reset value of ``v`` (mV).
        d: after-spike increment of ``u``.
        sq: coefficient of ``v²``.
        mn: coefficient of ``v``.
        bias: constant term.
        v_th: spike threshold (mV); a spike needs ``v > v_th``.
        tau_inv: inverse time scale; the Euler step is ``k = tau_inv·dt`` (ms of model time).
        method: surrogate gradient method (see :mod:`simctl.neurons.threshold`).
        alpha: surrogate shape parameter.
        update_order: ``"simultaneous"`` (u from the old v; Norse, the default) or
            ``"sequential"`` (u from the new v; Izhikevich's ``figure1.m``). simctl addition.
        u_law: ``"standard"`` (``u + k·a·(b·v − u)``) or ``"accommodation"``
            (``u + k·a·b·(v + 65)``, figure 1 panel R). simctl addition.
    """

    a: Any
    b: Any
    c: Any
    d: Any
    sq: Any = 0.04
    mn: Any = 5
    bias: Any = 140
    v_th: Any = 30
    tau_inv: Any = 250
    method: str = "super"
    alpha: Any = 100.0
    update_order: str = "simultaneous"
    u_law: str = "standard"


class IzhikevichState(NamedTuple):
    """State of a feed-forward Izhikevich population: voltage ``v``, recovery ``u``."""

    v: torch.Tensor
    u: torch.Tensor


class IzhikevichRecurrentState(NamedTuple):
    """State of a recurrent Izhikevich population: spikes ``z``, voltage ``v``, recovery ``u``."""

    z: torch.Tensor
    v: torch.Tensor
    u: torch.Tensor


class IzhikevichSpikingBehavior(NamedTuple):
    """A preset: parameters ``p`` paired with an initial state ``s``."""

    p: IzhikevichParameters
    s: IzhikevichState


def _check_variant(p: IzhikevichParameters) -> None:
    """Raises :class:`ValueError` for an unknown ``update_order`` or ``u_law``."""
    if p.update_order not in UPDATE_ORDERS:
        raise ValueError(
            f"unknown Izhikevich update_order {p.update_order!r}; allowed: "
            + ", ".join(repr(o) for o in UPDATE_ORDERS)
        )
    if p.u_law not in U_LAWS:
        raise ValueError(
            f"unknown Izhikevich u_law {p.u_law!r}; allowed: " + ", ".join(repr(o) for o in U_LAWS)
        )


def _izhikevich_update(
    currents: tuple[torch.Tensor, ...],
    v: torch.Tensor,
    u: torch.Tensor,
    p: IzhikevichParameters,
    dt: float,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Steps 1–5 of the module docstring; returns ``(z, v2, u2)``.

    The arithmetic keeps Norse's operation order (``v**2``, currents added one after the
    other, ``u2 = (1 − z)·u1 + z·(u1 + d)``) so results agree with it to the last bit.
    """
    _check_variant(p)
    k = p.tau_inv * dt
    drive = p.sq * v**2 + p.mn * v + p.bias - u
    for current in currents:
        drive = drive + current
    v_new = v + k * drive
    v_u = v_new if p.update_order == "sequential" else v
    if p.u_law == "accommodation":
        u_new = u + k * p.a * p.b * (v_u + 65.0)
    else:
        u_new = u + k * p.a * (p.b * v_u - u)
    z = threshold(v_new - p.v_th, p.method, p.alpha)
    v_out = (1 - z) * v_new + z * p.c
    u_out = (1 - z) * u_new + z * (u_new + p.d)
    return z, v_out, u_out


@keyword_aliases(s="state")
def izhikevich_feed_forward_step(
    input_current: torch.Tensor,
    state: IzhikevichState,
    p: IzhikevichParameters,
    dt: float = 0.001,
) -> tuple[torch.Tensor, IzhikevichState]:
    """One Euler step of a feed-forward Izhikevich population driven by ``input_current``.

    Returns:
        ``(z, IzhikevichState(v, u))`` with ``z`` the 0/1 spikes of this step.

    Raises:
        ValueError: for an unknown ``p.update_order`` or ``p.u_law``.
    """
    z, v, u = _izhikevich_update((input_current,), state.v, state.u, p, dt)
    return z, IzhikevichState(v=v, u=u)


@keyword_aliases(s="state")
def izhikevich_recurrent_step(
    input_current: torch.Tensor,
    state: IzhikevichRecurrentState,
    input_weights: torch.Tensor,
    recurrent_weights: torch.Tensor,
    p: IzhikevichParameters,
    dt: float = 0.001,
) -> tuple[torch.Tensor, IzhikevichRecurrentState]:
    """One Euler step of a recurrent population: ``I = W_in·x + W_rec·z_old``.

    Returns:
        ``(z, IzhikevichRecurrentState(z, v, u))``.
    """
    currents = (
        torch.nn.functional.linear(input_current, input_weights),
        torch.nn.functional.linear(state.z, recurrent_weights),
    )
    z, v, u = _izhikevich_update(currents, state.v, state.u, p, dt)
    return z, IzhikevichRecurrentState(z=z, v=v, u=u)


def izhikevich_initial_state(
    shape: tuple[int, ...],
    p: IzhikevichParameters,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str | None = None,
) -> IzhikevichState:
    """A fresh feed-forward state of ``shape``: ``v = c`` (the reset value) and ``u = b·c``.

    ``v = c, u = b·v`` is the resting point the simulator starts every population at when no
    preset initial state is given (for ``c = −65`` this is Izhikevich's network initialisation
    ``v = −65, u = b·v``). Per-neuron ``b`` and ``c`` broadcast against ``shape``.
    """
    b = torch.as_tensor(p.b, dtype=dtype, device=device).detach()
    v = full_state(p.c, broadcast_shapes(tuple(shape), b.shape), dtype, device)
    return IzhikevichState(v=v, u=v * b)


def create_izhikevich_spiking_behavior(
    a: float,
    b: float,
    c: float,
    d: float,
    v_rest: float,
    u_rest: float,
    tau_inv: float = 250,
) -> IzhikevichSpikingBehavior:
    """Builds a preset: ``p = IzhikevichParameters(a, b, c, d, tau_inv=tau_inv)`` and the state
    ``v = v_rest`` (0-dim, ``requires_grad=True``), ``u = u_rest·b`` (as in Norse).

    Examples:
        >>> behavior = create_izhikevich_spiking_behavior(0.02, 0.2, -65, 6, -70, -70)
        >>> behavior.s.v.detach(), behavior.s.u
        (tensor(-70.), tensor(-14.))
    """
    p = IzhikevichParameters(a=a, b=b, c=c, d=d, tau_inv=tau_inv)
    v = torch.tensor(float(v_rest), requires_grad=True)
    u = torch.tensor(float(u_rest)) * b
    return IzhikevichSpikingBehavior(p=p, s=IzhikevichState(v=v, u=u))


def _preset(
    a: float,
    b: float,
    c: float,
    d: float,
    v0: float,
    tau_inv: float = 250,
    u0: float | None = None,
    **extra: Any,
) -> IzhikevichSpikingBehavior:
    p = IzhikevichParameters(a=a, b=b, c=c, d=d, tau_inv=tau_inv, **extra)
    v = torch.tensor(float(v0), requires_grad=True)
    u = torch.tensor(float(v0)) * b if u0 is None else torch.tensor(float(u0))
    return IzhikevichSpikingBehavior(p=p, s=IzhikevichState(v=v, u=u))


# Izhikevich (2004) Fig. 1 presets with Norse's values (spec §3). Norse's tau_inv for
# spike_latency and inhibition_induced_* differ from the published script on purpose.
tonic_spiking = _preset(0.02, 0.2, -65, 6, -70)
phasic_spiking = _preset(0.02, 0.25, -65, 6, -64)
tonic_bursting = _preset(0.02, 0.2, -50, 2, -70)
phasic_bursting = _preset(0.02, 0.25, -55, 0.05, -64, tau_inv=200)
mixed_mode = _preset(0.02, 0.2, -55, 4, -70)
spike_frequency_adaptation = _preset(0.01, 0.2, -65, 8, -70)
class_1_exc = _preset(0.02, -0.1, -55, 6, -60, mn=4.1, bias=108)
class_2_exc = _preset(0.2, 0.26, -65, 0, -64)
spike_latency = _preset(0.02, 0.2, -65, 6, -70)
subthreshold_oscillation = _preset(0.05, 0.26, -60, 0, -62)
resonator = _preset(0.1, 0.26, -60, -1, -62)
integrator = _preset(0.02, -0.1, -55, 6, -60, mn=4.1, bias=108)
rebound_spike = _preset(0.03, 0.25, -60, 4, -64, tau_inv=200)
rebound_burst = _preset(0.03, 0.25, -52, 0, -64, tau_inv=200)
threshold_variability = _preset(0.03, 0.25, -60, 4, -64)
bistability = _preset(0.1, 0.26, -60, 0, -61)
dap = _preset(1.0, 0.2, -60, -21, -70, tau_inv=100)
# Norse keeps the standard u law and an explicit u0 = -16 (an int tensor there; a float here)
accomodation = _preset(0.02, 1.0, -55, 4, -65, tau_inv=500, u0=-16.0)
accommodation = accomodation
inhibition_induced_spiking = _preset(-0.02, -1.0, -60, 8, -63.8)
inhibition_induced_bursting = _preset(-0.026, -1.0, -45, -2, -63.8)

tonic_spiking_p = tonic_spiking.p
phasic_spiking_p = phasic_spiking.p
tonic_bursting_p = tonic_bursting.p
phasic_bursting_p = phasic_bursting.p
mixed_mode_p = mixed_mode.p
spike_frequency_adaptation_p = spike_frequency_adaptation.p
class_1_exc_p = class_1_exc.p
class_2_exc_p = class_2_exc.p
spike_latency_p = spike_latency.p
subthreshold_oscillation_p = subthreshold_oscillation.p
resonator_p = resonator.p
integrator_p = integrator.p
rebound_spike_p = rebound_spike.p
rebound_burst_p = rebound_burst.p
threshold_variability_p = threshold_variability.p
bistability_p = bistability.p
dap_p = dap.p
accomodation_p = accomodation.p
accommodation_p = accomodation_p
inhibition_induced_spiking_p = inhibition_induced_spiking.p
inhibition_induced_bursting_p = inhibition_induced_bursting.p

#: the 20 presets by name (Norse spelling; ``accommodation`` is not repeated)
IZHIKEVICH_PRESETS: dict[str, IzhikevichSpikingBehavior] = {
    "tonic_spiking": tonic_spiking,
    "phasic_spiking": phasic_spiking,
    "tonic_bursting": tonic_bursting,
    "phasic_bursting": phasic_bursting,
    "mixed_mode": mixed_mode,
    "spike_frequency_adaptation": spike_frequency_adaptation,
    "class_1_exc": class_1_exc,
    "class_2_exc": class_2_exc,
    "spike_latency": spike_latency,
    "subthreshold_oscillation": subthreshold_oscillation,
    "resonator": resonator,
    "integrator": integrator,
    "rebound_spike": rebound_spike,
    "rebound_burst": rebound_burst,
    "threshold_variability": threshold_variability,
    "bistability": bistability,
    "dap": dap,
    "accomodation": accomodation,
    "inhibition_induced_spiking": inhibition_induced_spiking,
    "inhibition_induced_bursting": inhibition_induced_bursting,
}


class _PresetStateMixin:
    """Checks the preset's variant and keeps detached copies of its initial ``v`` and ``u`` as
    (non-persistent) buffers, so they move with ``.to()`` and the preset's tensors are never
    handed out. Its ``__init__`` takes the preset in place of ``p``."""

    def __init__(self, spiking_method: IzhikevichSpikingBehavior, **kwargs: Any):
        super().__init__(p=spiking_method.p, **kwargs)  # type: ignore[call-arg]
        _check_variant(spiking_method.p)
        module: torch.nn.Module = self  # type: ignore[assignment]
        module.spiking_method = spiking_method  # as Norse (read only: states are fresh copies)
        v0 = torch.as_tensor(spiking_method.s.v).detach().clone()
        u0 = torch.as_tensor(spiking_method.s.u).detach().clone()
        dtype = torch.get_default_dtype()
        module.register_buffer(
            "initial_v", v0 if torch.is_floating_point(v0) else v0.to(dtype), persistent=False
        )
        module.register_buffer(
            "initial_u", u0 if torch.is_floating_point(u0) else u0.to(dtype), persistent=False
        )


def _feed_forward_state(
    module: IzhikevichCell | Izhikevich | IzhikevichRecurrentCell | IzhikevichRecurrent,
    shape: tuple[int, ...],
    input_tensor: torch.Tensor,
) -> IzhikevichState:
    """Fresh copies of the preset's initial ``v`` (marked) and ``u`` of ``shape``."""
    dtype = state_dtype(input_tensor)
    device = input_tensor.device
    v = full_state(module.initial_v, shape, dtype, device)
    u = full_state(module.initial_u, v.shape, dtype, device)
    mark_initial(v)
    return IzhikevichState(v=v, u=u)


_modules = model_modules(
    IzhikevichSpikingBehavior,
    name="spiking_method",
    feed_forward=izhikevich_feed_forward_step,
    recurrent=izhikevich_recurrent_step,
    state=_feed_forward_state,
    recurrent_state=IzhikevichRecurrentState,
)


@_modules
class IzhikevichCell(_PresetStateMixin, SNNCell):
    """One step of a feed-forward Izhikevich population (see the module docstring).

    The initial state is a fresh copy of the preset's ``s`` shaped like the input (``v`` with
    ``requires_grad=True``).

    Args:
        spiking_method: a preset such as :data:`tonic_spiking`; ``p = spiking_method.p``.
        dt: the integration step (default 0.001, so ``k = tau_inv·dt = 0.25`` ms).

    Examples:
        >>> import torch
        >>> cell = IzhikevichCell(tonic_spiking)
        >>> z, state = cell(torch.zeros(3))
        >>> state.v
        tensor([-70., -70., -70.], grad_fn=<AddBackward0>)
    """


@_modules
class Izhikevich(_PresetStateMixin, SNN):
    """A feed-forward Izhikevich population looped over time (dim 0).

    Args:
        spiking_method: a preset; ``p = spiking_method.p``.
        dt: the integration step.
        record_states: return every step's state (stacked along dim 0) instead of the last.

    Examples:
        >>> import torch
        >>> layer = Izhikevich(tonic_spiking)
        >>> z, state = layer(torch.zeros(10, 2))
        >>> z.shape, state.v.shape
        (torch.Size([10, 2]), torch.Size([2]))
    """


@_modules
class IzhikevichRecurrentCell(_PresetStateMixin, SNNRecurrentCell):
    """One step of a recurrent Izhikevich population.

    Args:
        input_size: number of inputs.
        hidden_size: number of neurons.
        spiking_method: a preset; ``p = spiking_method.p`` and the initial ``v``, ``u``.
        input_weights, recurrent_weights, autapses, dt: see :class:`SNNRecurrentCell`.

    Examples:
        >>> import torch
        >>> cell = IzhikevichRecurrentCell(2, 4, tonic_spiking)
        >>> z, state = cell(torch.ones(5, 2))
        >>> z.shape, state.u.shape
        (torch.Size([5, 4]), torch.Size([5, 4]))
    """


@_modules
class IzhikevichRecurrent(_PresetStateMixin, SNNRecurrent):
    """A recurrent Izhikevich population looped over time (dim 0).

    Examples:
        >>> import torch
        >>> layer = IzhikevichRecurrent(2, 4, tonic_spiking)
        >>> z, state = layer(torch.ones(10, 5, 2))
        >>> z.shape, state.v.shape
        (torch.Size([10, 5, 4]), torch.Size([5, 4]))
    """


MODEL = NeuronModel(
    name="izhikevich",
    parameters=IzhikevichParameters,
    feed_forward_state=IzhikevichState,
    feed_forward_step=izhikevich_feed_forward_step,
    initial_state=izhikevich_initial_state,
    variables=("v", "u"),
    extra={"presets": IZHIKEVICH_PRESETS, "update_orders": UPDATE_ORDERS, "u_laws": U_LAWS},
)

#: units, bounds and inputs in simctl's config units (read without torch: simctl.models)
DESCRIPTION = {
    "name": "izhikevich",
    "summary": "Izhikevich (2003) simple model",
    "equations": "dv/dt = tau_inv (sq v^2 + mn v + bias - u + I); du/dt = tau_inv a (b v - u); "
    "v > v_th: spike, v <- c, u <- u + d",
    "voltage": "v",
    "parameters": {
        "a": {"unit": "1/ms", "bounds": "(-inf, inf)", "doc": "recovery time scale"},
        "b": {"unit": "1", "bounds": "(-inf, inf)", "doc": "sensitivity of u to v"},
        "c": {"unit": "mV", "bounds": "(-inf, inf)", "doc": "reset potential"},
        "d": {"unit": "1", "bounds": "(-inf, inf)", "doc": "after-spike jump of u"},
        "sq": {"unit": "1/(mV ms)", "bounds": "(-inf, inf)", "doc": "quadratic coefficient"},
        "mn": {"unit": "1/ms", "bounds": "(-inf, inf)", "doc": "linear coefficient"},
        "bias": {"unit": "mV/ms", "bounds": "(-inf, inf)", "doc": "constant term"},
        "v_th": {"unit": "mV", "bounds": "(-inf, inf)", "doc": "spike cut-off (strict >)"},
        "tau_inv": {
            "unit": "1/ms",
            "bounds": "(0, inf)",
            "doc": "time scale (the Euler step is tau_inv dt)",
        },
        "method": {"choices": "surrogate", "doc": "surrogate gradient (unused when simulating)"},
        "alpha": {"unit": "1", "bounds": "(0, inf)", "doc": "surrogate sharpness"},
        "update_order": {
            "choices": ["simultaneous", "sequential"],
            "doc": "u from the old v (Norse) or the new v (figure1.m)",
        },
        "u_law": {
            "choices": ["standard", "accommodation"],
            "doc": "u' law (accommodation: Fig. 1R)",
        },
    },
    "state": {"v": "mV", "u": "1"},
    "current": {"unit": "1", "enters": "v", "doc": "dimensionless, as in Izhikevich (2003)"},
    "jumps": {"v": "mV", "u": "1"},
    "default_jump": "v",
    "refractory": None,
    "cli_input": {"amplitude": 10.0, "noise_mean": 5.0, "noise_std": 2.0, "jump": 2.0},
}
