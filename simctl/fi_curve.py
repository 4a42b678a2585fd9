"""f-I curve of the leaky integrate-and-fire neuron with refractory period (Gerstner, Kistler,
Naud, Paninski 2014, Neuronal Dynamics, Sec. 1.3; exercise neurodynex3/leaky_integrate_and_fire).

Model: tau_m dV/dt = -(V - E_L) + R*I; a spike when V crosses theta; V <- V_r and clamped for
t_ref. With V_inf = E_L + R*I (written ``drive`` below, in mV) the closed form is

    nu(I) = 1 / (t_ref + tau_m * ln((V_inf - V_r) / (V_inf - theta)))   if V_inf > theta, else 0,

and the rheobase is I_rh = (theta - E_L) / R.

simctl's ``lif_refrac`` integrates with forward Euler on a grid of step dt: each free step does
V <- V + (dt/tau_m)(V_inf - V); a spike is emitted when the new V is strictly above theta
(``v > v_th``); V is reset to V_r and frozen for ``n_ref`` steps (``rho_reset``). From V_r the
distance to V_inf shrinks by (1 - dt/tau_m) per step, so the number of free steps up to and
including the spike step is the least n with (V_inf - V_r)(1 - x)^n < V_inf - theta,
x = dt/tau_m:

    n_int = floor(ln((V_inf - theta)/(V_inf - V_r)) / ln(1 - x)) + 1,
    nu_Euler = 1 / ((n_int + n_ref) * dt).

(With a non-strict threshold ``v >= theta`` it is ``ceil`` of the same ratio; the two differ only
where the ratio is an integer.)

Refractory conventions (the ``convention`` argument of :func:`rate_euler`):

* ``"simctl"``: ``lif_refrac`` holds V at V_r for the spike step and then for
  ``n_ref = t_ref/dt`` more steps, so the period is ``(n_int + n_ref)`` steps.
* ``"brian2"``: Brian2's ``refractory=t_ref`` clamps while ``t - lastspike < t_ref``: the steps
  after the spike step up to ``n_ref - 1``, one step fewer, so the period is
  ``(n_int + n_ref - 1)`` steps. simctl's ``rho_reset = n`` is Brian2's ``refractory=(n+1)*dt``.

The continuous closed form has no such choice; the two conventions differ by one step, an
O(dt) effect like the Euler error.

Forward Euler keeps the rheobase exact and reaches threshold about (L/2)*dt early,
L = ln((V_inf - V_r)/(V_inf - theta)); grid detection delays by up to one step; so
|nu_Euler - nu| = O(dt): first order.

Units: times in ms, voltages in mV, rates returned in Hz.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = [
    "CONVENTIONS",
    "rheobase",
    "rate_closed_form",
    "rate_euler",
    "steps_to_threshold",
    "isi_closed_form",
    "euler_error_bound",
]


#: Refractory conventions of :func:`rate_euler` (see the module docstring).
CONVENTIONS = ("simctl", "brian2")


def rheobase(e_l: float, theta: float, r: float = 1.0) -> float:
    """The least current that makes the LIF fire: (theta - E_L)/R (in the units of I)."""
    return (theta - e_l) / r


def isi_closed_form(
    drive: np.ndarray | float, tau_m: float, theta: float, v_reset: float, t_ref: float
) -> np.ndarray:
    """Exact inter-spike interval (ms) for a steady potential ``drive`` = E_L + R*I (mV); inf
    where ``drive <= theta``."""
    v_inf = np.asarray(drive, dtype=np.float64)
    out = np.full(v_inf.shape, np.inf)
    m = v_inf > theta
    out[m] = t_ref + tau_m * _log_ratio(v_inf[m], theta, v_reset)
    return out


def _log_ratio(v_inf: np.ndarray, theta: float, v_reset: float) -> np.ndarray:
    """L = ln((V_inf - V_r)/(V_inf - theta)): the free-flight time from V_r to theta in tau_m."""
    return np.log((v_inf - v_reset) / (v_inf - theta))


def _drive(current: np.ndarray | float, e_l: float, r: float) -> np.ndarray:
    """The steady potential V_inf = E_L + R*I (mV)."""
    return e_l + r * np.asarray(current, dtype=np.float64)


def rate_closed_form(
    current: np.ndarray | float,
    tau_m: float,
    theta: float,
    v_reset: float,
    t_ref: float,
    e_l: float = 0.0,
    r: float = 1.0,
) -> np.ndarray:
    """Closed-form rate (Hz) of the LIF with refractory period for a constant ``current``."""
    return 1000.0 / isi_closed_form(_drive(current, e_l, r), tau_m, theta, v_reset, t_ref)


def steps_to_threshold(
    drive: np.ndarray | float,
    tau_m: float,
    theta: float,
    v_reset: float,
    dt: float,
    strict: bool = True,
) -> np.ndarray:
    """Free forward-Euler steps from ``v_reset`` to the spike step (inclusive); inf below
    rheobase. ``strict`` is the library's ``v > v_th``.

    Requires ``dt < tau_m`` (otherwise forward Euler overshoots V_inf).
    """
    if not 0.0 < dt < tau_m:
        raise ValueError(f"need 0 < dt < tau_m, got dt={dt} ms, tau_m={tau_m} ms")
    v_inf = np.asarray(drive, dtype=np.float64)
    out = np.full(v_inf.shape, np.inf)
    m = v_inf > theta
    if v_reset >= theta:
        out[m] = 1.0
        return out
    ratio = np.log((v_inf[m] - theta) / (v_inf[m] - v_reset)) / math.log1p(-dt / tau_m)
    out[m] = np.floor(ratio) + 1.0 if strict else np.maximum(np.ceil(ratio), 1.0)
    return out


def rate_euler(
    current: np.ndarray | float,
    tau_m: float,
    theta: float,
    v_reset: float,
    t_ref: float,
    dt: float,
    e_l: float = 0.0,
    r: float = 1.0,
    strict: bool = True,
    convention: str = "simctl",
) -> np.ndarray:
    """Exact steady rate (Hz) of the forward-Euler LIF with refractory period ``t_ref``
    (``n_ref = round(t_ref/dt)`` steps): ``convention="simctl"`` holds the spike step plus
    ``n_ref`` steps (simctl's ``lif_refrac`` driven directly by ``current``), ``"brian2"`` one
    step fewer (Brian2's ``refractory=t_ref``)."""
    if convention not in CONVENTIONS:
        raise ValueError(f"convention={convention!r}; allowed: {', '.join(CONVENTIONS)}")
    n_ref = round(t_ref / dt)
    if abs(n_ref * dt - t_ref) > 1e-9 * max(1.0, t_ref):
        raise ValueError(f"t_ref={t_ref} ms is not a whole number of steps of dt={dt} ms")
    held = n_ref if convention == "simctl" else max(n_ref - 1, 0)
    n_int = steps_to_threshold(_drive(current, e_l, r), tau_m, theta, v_reset, dt, strict)
    return 1000.0 / ((n_int + held) * dt)


def euler_error_bound(
    current: np.ndarray | float,
    tau_m: float,
    theta: float,
    v_reset: float,
    t_ref: float,
    dt: float,
    e_l: float = 0.0,
    r: float = 1.0,
) -> np.ndarray:
    """The first-order bound |nu_Euler - nu| <~ nu^2 dt (1 + L/2) (Hz; see the module
    docstring), 0 at and below rheobase. The O(dt^2) terms are not included: allow a margin."""
    v_inf = _drive(current, e_l, r)
    nu_per_ms = rate_closed_form(current, tau_m, theta, v_reset, t_ref, e_l, r) / 1000.0
    out = np.zeros(v_inf.shape)
    m = v_inf > theta
    out[m] = nu_per_ms[m] ** 2 * dt * (1.0 + 0.5 * _log_ratio(v_inf[m], theta, v_reset)) * 1000.0
    return out
