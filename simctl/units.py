"""Physical units for the AdEx (adaptive exponential integrate-and-fire) neuron.

Brette and Gerstner (2005) write the model in physical units:

    C dV/dt   = -g_L (V - E_L) + g_L Delta_T exp((V - V_T)/Delta_T) + I - w
    tau_w dw/dt = a (V - E_L) - w,        V > V_peak:  V <- V_r,  w <- w + b

with C in pF, g_L and a in nS, b, I and w in pA, voltages in mV and tau_w in ms. The library's
``LIFAdExParameters`` use the voltage form obtained by dividing both equations by g_L:

    (1/tau_mem_inv) dv/dt = v_leak - v + delta_T exp((v - v_th)/delta_T) + i - a_lib
    (1/tau_ada_inv) da_lib/dt = adaptation_current (v - v_leak) - a_lib
    on a spike: a_lib += adaptation_spike

so, exactly (pA/nS = mV, pF/nS = ms):

| library field        | physical expression |
|----------------------|---------------------|
| ``tau_mem_inv``      | g_L / C (1/ms)      |
| ``v_leak``           | E_L                 |
| ``v_th``             | V_T (the exponential's threshold) |
| ``delta_T``          | Delta_T             |
| ``v_reset``          | V_r                 |
| ``v_peak``           | V_peak (spike cut-off) |
| ``tau_ada_inv``      | 1 / tau_w           |
| ``adaptation_current`` | a / g_L (dimensionless) |
| ``adaptation_spike`` | b / g_L (mV)        |
| input (mV)           | I / g_L             |
| state ``a``          | w / g_L             |

Neuronal Dynamics (Gerstner et al. 2014) writes the same model with tau_m and R = 1/g_L;
:func:`neuronal_dynamics_to_physical` converts that form.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = [
    "ADEX_PHYSICAL_KEYS",
    "adex_physical_to_library",
    "adex_current_to_library",
    "neuronal_dynamics_to_physical",
]

#: The keys of the physical AdEx config and their units.
ADEX_PHYSICAL_KEYS: dict[str, str] = {
    "C": "pF",
    "g_L": "nS",
    "E_L": "mV",
    "V_T": "mV",
    "Delta_T": "mV",
    "V_peak": "mV",
    "V_r": "mV",
    "a": "nS",
    "tau_w": "ms",
    "b": "pA",
}


def adex_physical_to_library(params: Mapping[str, Any]) -> dict[str, float]:
    """Physical AdEx parameters (:data:`ADEX_PHYSICAL_KEYS`) to ``LIFAdExParameters`` fields.

    ``V_peak`` may be ``None`` (spike at ``v > v_th``, the library default). Raises
    ``ValueError`` naming the key for a missing key, an unknown key or a non-positive C, g_L or
    tau_w.

    >>> p = adex_physical_to_library(dict(C=281, g_L=30, E_L=-70.6, V_T=-50.4, Delta_T=2,
    ...     V_peak=-40.4, V_r=-70.6, a=4, tau_w=144, b=80.5))
    >>> round(1 / p["tau_mem_inv"], 4), round(p["adaptation_spike"], 4)
    (9.3667, 2.6833)
    """
    unknown = sorted(set(params) - set(ADEX_PHYSICAL_KEYS))
    if unknown:
        raise ValueError(f"unknown AdEx key(s) {unknown}; allowed: {', '.join(ADEX_PHYSICAL_KEYS)}")
    missing = [k for k in ADEX_PHYSICAL_KEYS if k not in params and k != "V_peak"]
    if missing:
        raise ValueError(f"missing AdEx key(s) {missing} ({', '.join(ADEX_PHYSICAL_KEYS)})")
    for k in ("C", "g_L", "tau_w"):
        if not float(params[k]) > 0:
            raise ValueError(f"AdEx {k}={params[k]} {ADEX_PHYSICAL_KEYS[k]}: must be > 0")
    g_l = float(params["g_L"])
    v_peak = params.get("V_peak")
    return {
        "tau_mem_inv": g_l / float(params["C"]),
        "v_leak": float(params["E_L"]),
        "v_th": float(params["V_T"]),
        "delta_T": float(params["Delta_T"]),
        "v_reset": float(params["V_r"]),
        "v_peak": None if v_peak is None else float(v_peak),
        "tau_ada_inv": 1.0 / float(params["tau_w"]),
        "adaptation_current": float(params["a"]) / g_l,
        "adaptation_spike": float(params["b"]) / g_l,
    }


def adex_current_to_library(current_pA: float, g_L: float) -> float:
    """An injected current in pA to the library's input in mV (I/g_L)."""
    return float(current_pA) / float(g_L)


def neuronal_dynamics_to_physical(
    tau_m: float,
    R: float,
    u_rest: float,
    theta_rh: float,
    Delta_T: float,
    a: float,
    tau_w: float,
    b: float,
    u_reset: float,
    V_peak: float | None = None,
) -> dict[str, float | None]:
    """Neuronal Dynamics' form (tau_m ms, R MOhm, a nS, tau_w ms, b pA, mV) to the physical keys.

    g_L = 1/R (1000/R nS for R in MOhm), C = tau_m * g_L.
    """  # noqa: D417
    g_l = 1000.0 / float(R)
    return {
        "C": float(tau_m) * g_l,
        "g_L": g_l,
        "E_L": float(u_rest),
        "V_T": float(theta_rh),
        "Delta_T": float(Delta_T),
        "V_peak": None if V_peak is None else float(V_peak),
        "V_r": float(u_reset),
        "a": float(a),
        "tau_w": float(tau_w),
        "b": float(b),
    }
