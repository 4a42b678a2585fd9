"""Networks in config: ``projections:``, ``network:`` and the Poisson drive (no torch).

A network is populations (``populations:``) connected by projections::

    populations:
      E: {neuron: lif_refrac, size: 10000, input: poisson}
      I: {neuron: lif_refrac, size: 2500, input: poisson}
    projections:
      EE: {pre: E, post: E, connectivity: {rule: fixed_indegree, k: 1000},
           weight: 0.1, delay: 1.5, target: v}
    network:
      refractory_input: discard     # or keep
      instantaneous: false          # true: delays may be 0 steps (net.m's coupling)

``network.name`` names a shipped network (``configs/network/<name>.yaml``); its builder below
turns the network's own keys (``network.g``, ``network.eta``, …) into populations and
projections, because the sizes and weights are arithmetic on those keys (YAML cannot say it).

Every mistake is one :class:`ConfigError` line naming the key, the value and what is allowed.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

from .errors import ConfigError
from .validate import check_distribution, check_value

__all__ = [
    "PROJECTION_KEYS",
    "NETWORK_KEYS",
    "RULE_PARAMS",
    "ProjectionSpec",
    "PoissonSpec",
    "NetworkSpec",
    "jump_targets",
    "refractory_state",
    "resolve_target",
    "expand_network",
    "check_network",
    "BUILDERS",
]

#: keys of ``projections.<name>``
PROJECTION_KEYS = ("pre", "post", "connectivity", "weight", "delay", "target")
#: keys of ``projections.<name>.connectivity`` besides the rule's own parameter
CONNECTIVITY_KEYS = ("rule", "p", "k", "n", "autapses", "multapses")
#: rule → its parameter
RULE_PARAMS: dict[str, str | None] = {
    "all_to_all": None,
    "one_to_one": None,
    "fixed_probability": "p",
    "fixed_indegree": "k",
    "fixed_outdegree": "k",
    "fixed_total": "n",
}
#: keys of ``network`` every network accepts (a shipped network adds its own)
NETWORK_KEYS = ("name", "refractory_input", "instantaneous")
REFRACTORY_INPUT = ("discard", "keep")
#: the pseudo-target of a one-step pulse of the model's input current (net.m's coupling)
INPUT_TARGET = "input"


@dataclass
class ProjectionSpec:
    """One validated projection."""

    name: str
    pre: str
    post: str
    rule: str
    param: float | int | None
    autapses: bool
    multapses: bool
    weight: Any  #: a number or a distribution spec
    delay: Any  #: ms: a number or a distribution spec
    target: str  #: a state path of the post model, or ``input``
    key: str = ""

    def rule_json(self) -> str:
        params: dict[str, Any] = {"autapses": self.autapses, "multapses": self.multapses}
        name = RULE_PARAMS[self.rule]
        if name:
            params[name] = self.param
        return json.dumps({"rule": self.rule, **params}, sort_keys=True)


@dataclass
class PoissonSpec:
    """``input=poisson`` of one population: ``n`` sources at ``rate_hz``, jumps of ``weight``."""

    n: int
    rate_hz: float
    weight: float
    target: str


@dataclass
class NetworkSpec:
    """Projections and the network-wide options of a run."""

    projections: list[ProjectionSpec] = field(default_factory=list)
    poisson: dict[str, PoissonSpec] = field(default_factory=dict)
    refractory_input: str = "discard"
    instantaneous: bool = False
    name: str = ""
    options: dict[str, Any] = field(default_factory=dict)  #: the shipped network's keys
    #: population → name of a step scheme of simctl.network (e.g. net.m's ``netm``)
    schemes: dict[str, str] = field(default_factory=dict)
    #: population → name of a per-neuron parameter builder of simctl.network
    derived: dict[str, str] = field(default_factory=dict)


# ---------------------------------------------------------------------------------------------
# what a model accepts


def _description(model: str) -> dict:
    try:
        from simctl.models import describe

        return describe(model)
    except (ImportError, KeyError):
        return {}


def jump_targets(model: str) -> dict[str, str]:
    """``{state path: unit}`` a spike may jump in ``model`` (its DESCRIPTION's ``jumps``),
    plus ``input`` (a one-step pulse of the input current)."""
    desc = _description(model)
    jumps = dict(desc.get("jumps") or {"v": "mV"})
    current = (desc.get("current") or {}).get("unit", "")
    jumps[INPUT_TARGET] = f"{current} (one-step current pulse)".strip()
    return jumps


def refractory_state(model: str) -> str | None:
    """The state path of the model's refractory counter, or None."""
    ref = _description(model).get("refractory")
    if isinstance(ref, dict):
        return ref.get("state")
    return ref if isinstance(ref, str) else None


def resolve_target(model: str, target: Any, key: str) -> str:
    """The full state path of ``target`` (``v`` may name ``lif.v``: a unique last part)."""
    allowed = jump_targets(model)
    if isinstance(target, str):
        if target in allowed:
            return target
        leaf = [path for path in allowed if path.split(".")[-1] == target]
        if len(leaf) == 1:
            return leaf[0]
    raise ConfigError(key, target, f"not a variable neuron={model} accepts jumps into", allowed)


# ---------------------------------------------------------------------------------------------
# validation


def _number_or_dist(value: Any, key: str) -> Any:
    if isinstance(value, dict):
        return check_distribution(value, key)
    return check_value(value, float, key)


def _dist_low(spec: Any) -> float:
    """The smallest value a number or distribution can take (for the delay check)."""
    if not isinstance(spec, dict):
        return float(spec)
    d = spec["dist"]
    if d == "constant":
        return spec["value"]
    if d in ("uniform", "linspace"):
        return min(spec["low"], spec["high"])
    if d == "choice":
        return min(spec["values"])
    if d == "lognormal":
        return 0.0
    return -math.inf  # normal: unbounded below


def check_projection(
    name: str, node: Any, pops: dict[str, Any], dt: float, instantaneous: bool
) -> ProjectionSpec:
    key = f"projections.{name}"
    if not isinstance(node, dict):
        raise ConfigError(key, node, "expected a mapping", PROJECTION_KEYS)
    for k, v in node.items():
        if k not in PROJECTION_KEYS:
            raise ConfigError(f"{key}.{k}", v, "unknown key in a projection", PROJECTION_KEYS)
    ends = {}
    for end in ("pre", "post"):
        value = node.get(end)
        if value not in pops:
            raise ConfigError(f"{key}.{end}", value, "unknown population", sorted(pops))
        ends[end] = value
    conn = node.get("connectivity")
    if isinstance(conn, str):
        conn = {"rule": conn}
    if not isinstance(conn, dict):
        raise ConfigError(f"{key}.connectivity", conn, "expected {rule: ..., ...}", RULE_PARAMS)
    for k, v in conn.items():
        if k not in CONNECTIVITY_KEYS:
            raise ConfigError(f"{key}.connectivity.{k}", v, "unknown key", CONNECTIVITY_KEYS)
    rule = conn.get("rule")
    if rule not in RULE_PARAMS:
        raise ConfigError(f"{key}.connectivity.rule", rule, "unknown rule", RULE_PARAMS)
    pname = RULE_PARAMS[rule]
    for k in ("p", "k", "n"):
        if k in conn and k != pname:
            raise ConfigError(
                f"{key}.connectivity.{k}",
                conn[k],
                f"not a parameter of rule={rule}",
                [pname] if pname else "(none)",
            )
    pre, post = pops[ends["pre"]], pops[ends["post"]]
    same = ends["pre"] == ends["post"]
    autapses = check_value(conn.get("autapses", False), bool, f"{key}.connectivity.autapses")
    multapses = check_value(conn.get("multapses", False), bool, f"{key}.connectivity.multapses")
    param: Any = None
    candidates = pre.size - (1 if same and not autapses else 0)
    if pname == "p":
        param = check_value(conn.get("p"), float, f"{key}.connectivity.p")
        if not 0.0 <= param <= 1.0:
            raise ConfigError(f"{key}.connectivity.p", param, "must be a probability", "0 to 1")
    elif pname in ("k", "n"):
        param = check_value(conn.get(pname), int, f"{key}.connectivity.{pname}")
        if param < 0:
            raise ConfigError(f"{key}.connectivity.{pname}", param, "must be >= 0")
        limit = {
            "fixed_indegree": candidates,
            "fixed_outdegree": post.size - (1 if same and not autapses else 0),
            "fixed_total": candidates * post.size,
        }[rule]
        if not multapses and param > limit:
            raise ConfigError(
                f"{key}.connectivity.{pname}",
                param,
                f"more than the {limit} distinct partners available without multapses",
                f"at most {limit}, or multapses: true",
            )
    if rule == "one_to_one":
        if pre.size != post.size:
            raise ConfigError(
                f"{key}.connectivity.rule",
                rule,
                f"needs equal sizes (pre {ends['pre']} has {pre.size}, post {ends['post']} "
                f"{post.size})",
            )
        if same and not autapses:
            raise ConfigError(
                f"{key}.connectivity.autapses",
                autapses,
                "one_to_one within one population connects each neuron to itself",
                "autapses: true",
            )
    weight = _number_or_dist(node.get("weight", 1.0), f"{key}.weight")
    delay = _number_or_dist(node.get("delay", dt), f"{key}.delay")
    least = 0.0 if instantaneous else dt
    low = _dist_low(delay)
    # round(delay/dt) must be at least 1 step (0 only with instantaneous coupling)
    if low < 0 or (not instantaneous and math.floor(low / dt + 0.5 + 1e-9) < 1):
        raise ConfigError(
            f"{key}.delay",
            node.get("delay"),
            f"shorter than {'zero' if instantaneous else 'one step'} (dt = {dt:g} ms)",
            f">= {least:g} ms" + ("" if instantaneous else "; or network.instantaneous: true"),
        )
    target = resolve_target(post.model, node.get("target", "v"), f"{key}.target")
    return ProjectionSpec(
        name,
        ends["pre"],
        ends["post"],
        rule,
        param,
        autapses,
        multapses,
        weight,
        delay,
        target,
        key,
    )


def check_poisson(pop: Any) -> PoissonSpec:
    spec = pop.input
    key = f"{pop.key}.input" if pop.key != "population" else "input"
    if spec.n < 0:
        raise ConfigError(f"{key}.n", spec.n, "must be >= 0 sources")
    if spec.rate_hz < 0 or not math.isfinite(spec.rate_hz):
        raise ConfigError(f"{key}.rate_hz", spec.rate_hz, "must be >= 0 Hz")
    target = resolve_target(pop.model, spec.target, f"{key}.target")
    return PoissonSpec(int(spec.n), float(spec.rate_hz), float(spec.weight), target)


def check_network(cfg: dict, pops: list[Any]) -> NetworkSpec | None:
    """The :class:`NetworkSpec` of a resolved run (None when it has no projections and no
    Poisson drive: the plain runner handles it)."""
    node = cfg.get("network") or {}
    if not isinstance(node, dict):
        raise ConfigError("network", node, "expected a mapping", NETWORK_KEYS)
    proj_node = cfg.get("projections") or {}
    if not isinstance(proj_node, dict):
        raise ConfigError("projections", proj_node, "expected a mapping {name: projection}")
    by_name = {p.name: p for p in pops}
    poisson = {p.name: check_poisson(p) for p in pops if p.input.protocol == "poisson"}
    if not proj_node and not poisson and not node.get("name"):
        return None
    refr = node.get("refractory_input", "discard")
    if refr not in REFRACTORY_INPUT:
        raise ConfigError("network.refractory_input", refr, "not a valid choice", REFRACTORY_INPUT)
    inst = check_value(node.get("instantaneous", False), bool, "network.instantaneous")
    dts = {p.dt for p in pops}
    steps = {p.n_steps for p in pops}
    if len(dts) > 1 or len(steps) > 1:
        odd = next(p for p in pops if p.dt != pops[0].dt or p.n_steps != pops[0].n_steps)
        raise ConfigError(
            f"{odd.key}.dt",
            odd.dt,
            "populations of a network share one time grid (dt and duration)",
            f"dt {pops[0].dt:g} ms and {pops[0].n_steps} steps as {pops[0].name}",
        )
    dt = pops[0].dt
    projections = [
        check_projection(str(name), entry, by_name, dt, inst) for name, entry in proj_node.items()
    ]
    options = {k: v for k, v in node.items() if k not in NETWORK_KEYS}
    name = node.get("name") or ""
    schemes, derived = {}, {}
    if name in BUILDERS:
        schemes, derived = BUILDERS[name].extras(options)
    return NetworkSpec(projections, poisson, refr, inst, str(name), options, schemes, derived)


# ---------------------------------------------------------------------------------------------
# shipped networks: network.name → populations and projections


def _opt(
    options: dict, name: str, default: Any, tp: Any, low: float | None = None, strict: bool = False
) -> Any:
    value = check_value(options.get(name, default), tp, f"network.{name}")
    if low is not None and (value <= low if strict else value < low):
        raise ConfigError(f"network.{name}", value, f"must be {'>' if strict else '>='} {low:g}")
    return value


class _Brunel2000:
    """Brunel (2000) model A: a sparse network of excitatory and inhibitory LIF neurons.

    ``network.scale`` multiplies N_E, N_I, the in-degrees C_E = ε·N_E, C_I = ε·N_I and the
    external in-degree C_ext = C_E (ε = 0.1 and γ = N_I/N_E = 0.25 are kept), and J is
    multiplied by 1000/C_E, so that C_E·J (the mean input μ and ν_thr = 10 Hz) is the paper's;
    the fluctuations σ ∝ J·sqrt(C_E) grow by 1/sqrt(scale). ``network.epsilon`` changes the
    in-degrees the same way (J·C_E kept).
    """

    keys = (
        "g",
        "eta",
        "J",
        "scale",
        "N_E",
        "gamma",
        "epsilon",
        "D",
        "tau",
        "theta",
        "V_r",
        "tau_rp",
        "panels",
        "record_rate",
    )

    def populations(self, options: dict, dt: float) -> tuple[dict, dict]:
        for k in options:
            if k not in self.keys:
                raise ConfigError(
                    f"network.{k}",
                    options[k],
                    "unknown key of network=brunel2000",
                    (*NETWORK_KEYS, *self.keys),
                )
        panels = options.get("panels") or {"": {}}
        if not isinstance(panels, dict):
            raise ConfigError("network.panels", panels, "expected {panel: {g, eta}}")
        pops, projs = {}, {}
        for panel, over in panels.items():
            if not isinstance(over, dict) or any(k not in ("g", "eta", "J") for k in over):
                raise ConfigError(f"network.panels.{panel}", over, "expected {g, eta, J}")
            p, j = self._one({**options, **over}, dt, f"_{panel}" if panel else "")
            pops.update(p)
            projs.update(j)
        return pops, projs

    def _one(self, o: dict, dt: float, suffix: str) -> tuple[dict, dict]:
        g = _opt(o, "g", 5.0, float, 0.0)
        eta = _opt(o, "eta", 2.0, float, 0.0)
        J = _opt(o, "J", 0.1, float, 0.0, strict=True)
        scale = _opt(o, "scale", 1.0, float, 0.0, strict=True)
        n_e = round(_opt(o, "N_E", 10000, int, 1) * scale)
        gamma = _opt(o, "gamma", 0.25, float, 0.0, strict=True)
        eps = _opt(o, "epsilon", 0.1, float, 0.0, strict=True)
        tau = _opt(o, "tau", 20.0, float, 0.0, strict=True)
        theta = _opt(o, "theta", 20.0, float)
        v_r = _opt(o, "V_r", 10.0, float)
        delay = _opt(o, "D", 1.5, float, 0.0, strict=True)
        tau_rp = _opt(o, "tau_rp", 2.0, float, 0.0)
        n_i = max(1, round(gamma * n_e))
        c_e = max(1, round(eps * n_e))
        c_i = max(1, round(eps * n_i))
        if n_e < 2:
            raise ConfigError("network.scale", scale, "leaves fewer than 2 excitatory neurons")
        # C_E·J as in the paper's network (C_E = 0.1·N_E): the mean input and nu_thr are kept
        j_eff = J * (0.1 * _opt(o, "N_E", 10000, int, 1)) / c_e
        nu_thr = theta / (j_eff * c_e * tau) * 1000.0  # Hz
        neuron = {
            "model": "lif_refrac",
            "lif": {
                "tau_mem_inv": 1.0 / tau,
                "v_leak": 0.0,
                "v_th": theta,
                "v_reset": v_r,
                "tau_syn_inv": 1.0 / tau,
            },
            "t_ref": tau_rp,  # ms (the library holds t_ref/dt steps)
        }
        drive = {
            "protocol": "poisson",
            "n": c_e,
            "rate_hz": eta * nu_thr,
            "weight": j_eff,
            "target": "lif.v",
        }
        E, I = f"E{suffix}", f"I{suffix}"  # noqa: E741 - the paper's names
        init = {"lif.v": {"dist": "uniform", "low": 0.0, "high": theta}}
        pops = {
            E: {"neuron": neuron, "size": n_e, "input": drive, "initial_state": init},
            I: {"neuron": neuron, "size": n_i, "input": drive, "initial_state": init},
        }
        projs = {}
        for pre, k, w in ((E, c_e, j_eff), (I, c_i, -g * j_eff)):
            for post in (E, I):
                projs[f"{pre}{post}" if not suffix else f"{pre[0]}{post[0]}{suffix}"] = {
                    "pre": pre,
                    "post": post,
                    "connectivity": {"rule": "fixed_indegree", "k": k},
                    "weight": w,
                    "delay": delay,
                    "target": "lif.v",
                }
        return pops, projs

    def extras(self, options: dict) -> tuple[dict, dict]:
        return {}, {}


class _Izhikevich2003:
    """Izhikevich (2003) Fig. 3 (net.m): 800 E and 200 I neurons, all-to-all (self included),
    weights 0.5·U[0,1] from E and −U[0,1] from I, instantaneous coupling through the next
    millisecond's current, thalamic noise 5·N(0,1) (E) and 2·N(0,1) (I) redrawn every ms; the
    per-cell parameters from r ~ U[0,1] (see simctl.network.netm_parameters)."""

    keys = ("Ne", "Ni", "noise_e", "noise_i")

    def populations(self, options: dict, dt: float) -> tuple[dict, dict]:
        for k in options:
            if k not in self.keys:
                raise ConfigError(
                    f"network.{k}",
                    options[k],
                    "unknown key of network=izhikevich2003",
                    (*NETWORK_KEYS, *self.keys),
                )
        ne = _opt(options, "Ne", 800, int, 1)
        ni = _opt(options, "Ni", 200, int, 1)
        noise = {
            "E": _opt(options, "noise_e", 5.0, float, 0.0),
            "I": _opt(options, "noise_i", 2.0, float, 0.0),
        }
        pops = {}
        for name, size, b in (("E", ne, 0.2), ("I", ni, 0.25)):
            pops[name] = {
                "neuron": {
                    "model": "izhikevich",
                    "a": 0.02,
                    "b": b,
                    "c": -65.0,
                    "d": 8.0 if name == "E" else 2.0,
                    "v_th": 30.0,
                    "tau_inv": 1.0,
                    "method": "heaviside",
                },
                "size": size,
                "input": {
                    "protocol": "noise",
                    "kind": "white",
                    "mean": 0.0,
                    "std": noise[name],
                    "start": 0.0,
                    "shared": False,
                },
                "initial_state": {"v": -65.0, "u": -65.0 * b},
            }
        projs = {}
        for pre, w in (
            ("E", {"dist": "uniform", "low": 0.0, "high": 0.5}),
            ("I", {"dist": "uniform", "low": -1.0, "high": 0.0}),
        ):
            for post in ("E", "I"):
                projs[f"{pre}{post}"] = {
                    "pre": pre,
                    "post": post,
                    "connectivity": {"rule": "all_to_all", "autapses": True},
                    "weight": w,
                    "delay": 0.0,
                    "target": INPUT_TARGET,
                }
        return pops, projs

    def extras(self, options: dict) -> tuple[dict, dict]:
        return {"E": "netm", "I": "netm"}, {"E": "netm_excitatory", "I": "netm_inhibitory"}


BUILDERS: dict[str, Any] = {"brunel2000": _Brunel2000(), "izhikevich2003": _Izhikevich2003()}


def expand_network(cfg: dict) -> dict:
    """``cfg`` with a shipped network's populations and projections filled in (the user's own
    ``populations``/``projections`` entries are laid over them)."""
    node = cfg.get("network") or {}
    if not isinstance(node, dict) or not node.get("name"):
        return cfg
    name = node["name"]
    if name not in BUILDERS:
        raise ConfigError("network.name", name, "unknown network", sorted(BUILDERS))
    dt = check_value((cfg.get("simulation") or {}).get("dt", 0.1), float, "simulation.dt")
    options = {k: v for k, v in node.items() if k not in NETWORK_KEYS}
    pops, projs = BUILDERS[name].populations(options, dt)
    out = dict(cfg)
    for group, built in (("populations", pops), ("projections", projs)):
        mine = cfg.get(group) or {}
        merged = dict(built)
        for k, v in mine.items():
            merged[k] = {**built[k], **v} if isinstance(v, dict) and k in built else v
        out[group] = merged
    if name == "izhikevich2003":
        out["network"] = {**node, "instantaneous": True}
    return out
