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
:func:`neuronal_dynamics_to_physical` converts that form, and :func:`adex_physical_to_library`
accepts ``tau_m`` (ms) and ``R`` (MOhm) in place of C and g_L (g_L = 1000/R nS, C = tau_m·g_L).

simctl's config layer uses these functions for ``neuron=lif_adex`` with a ``physical:`` node
(:mod:`simctl.config.resolve`) and the runner divides the injected current (pA) by g_L with
:func:`adex_current_to_library`, so the conversion has one source of truth.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = [
    "ADEX_PHYSICAL_KEYS",
    "ADEX_ALTERNATIVE_KEYS",
    "AdExParameterError",
    "adex_leak_conductance",
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

#: Neuronal Dynamics' alternatives: ``tau_m`` in place of C, ``R`` in place of g_L.
ADEX_ALTERNATIVE_KEYS: dict[str, tuple[str, str]] = {"tau_m": ("ms", "C"), "R": ("MOhm", "g_L")}


class AdExParameterError(ValueError):
    """A missing, unknown, doubled or out-of-range physical AdEx parameter (``key``)."""

    def __init__(self, key: str, problem: str):
        self.key = key
        self.problem = problem
        super().__init__(f"AdEx {key}: {problem}")


def _check_keys(params: Mapping[str, Any]) -> None:
    allowed = [*ADEX_PHYSICAL_KEYS, *ADEX_ALTERNATIVE_KEYS]
    for k in params:
        if k not in allowed:
            raise AdExParameterError(k, f"unknown key; allowed: {', '.join(allowed)}")
    for alt, (_, key) in ADEX_ALTERNATIVE_KEYS.items():
        if params.get(alt) is not None and params.get(key) is not None:
            raise AdExParameterError(alt, f"give {key} or {alt}, not both")
    for k, unit in ADEX_PHYSICAL_KEYS.items():
        alts = [a for a, (_, m) in ADEX_ALTERNATIVE_KEYS.items() if m == k]
        if k != "V_peak" and params.get(k) is None and all(params.get(a) is None for a in alts):
            needs = f"{k} ({unit})" + "".join(f" or {a}" for a in alts)
            raise AdExParameterError(k, f"missing: the physical form needs {needs}")
    for k in ("C", "g_L", "tau_w", "tau_m", "R"):
        if params.get(k) is not None and not float(params[k]) > 0:
            unit = ADEX_PHYSICAL_KEYS.get(k) or ADEX_ALTERNATIVE_KEYS[k][0]
            raise AdExParameterError(k, f"must be > 0 {unit}")


def adex_leak_conductance(params: Mapping[str, Any]) -> float:
    """g_L in nS: ``params["g_L"]``, or ``1000/R`` for R in MOhm."""
    if params.get("g_L") is not None:
        return float(params["g_L"])
    return 1000.0 / float(params["R"])


def adex_physical_to_library(params: Mapping[str, Any]) -> dict[str, float]:
    """Physical AdEx parameters (:data:`ADEX_PHYSICAL_KEYS`) to ``LIFAdExParameters`` fields.

    ``tau_m`` (ms) may replace C and ``R`` (MOhm) may replace g_L (Neuronal Dynamics' form:
    g_L = 1000/R, C = tau_m·g_L). ``V_peak`` may be ``None`` (spike at ``v > v_th``, the library
    default). Raises :class:`AdExParameterError` (a ``ValueError``) naming the key for a missing
    key, an unknown key, a key given twice (C and tau_m) or a non-positive C, g_L, tau_w, tau_m
    or R.

    >>> p = adex_physical_to_library(dict(C=281, g_L=30, E_L=-70.6, V_T=-50.4, Delta_T=2,
    ...     V_peak=-40.4, V_r=-70.6, a=4, tau_w=144, b=80.5))
    >>> round(1 / p["tau_mem_inv"], 4), round(p["adaptation_spike"], 4)
    (9.3667, 2.6833)
    >>> adex_physical_to_library(dict(tau_m=20, R=500, E_L=-70, V_T=-50, Delta_T=2,
    ...     V_r=-55, a=0, tau_w=30, b=60))["tau_mem_inv"]
    0.05
    """
    _check_keys(params)
    g_l = adex_leak_conductance(params)
    c = float(params["C"]) if params.get("C") is not None else float(params["tau_m"]) * g_l
    v_peak = params.get("V_peak")
    return {
        "tau_mem_inv": g_l / c,
        "v_leak": float(params["E_L"]),
        "v_th": float(params["V_T"]),
        "delta_T": float(params["Delta_T"]),
        "v_reset": float(params["V_r"]),
        "v_peak": None if v_peak is None else float(v_peak),
        "tau_ada_inv": 1.0 / float(params["tau_w"]),
        "adaptation_current": float(params["a"]) / g_l,
        "adaptation_spike": float(params["b"]) / g_l,
    }


def adex_current_to_library(current_pA: Any, g_L: float) -> Any:
    """An injected current in pA to the library's input in mV (I/g_L); a number or a tensor."""
    return current_pA / float(g_L)


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
    g_l = adex_leak_conductance({"R": R})
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
