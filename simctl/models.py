"""What each neuron model's parameters, state and inputs mean, read without importing torch.

Every model file of :mod:`simctl.neurons` ends with one ``DESCRIPTION = {...}``: a plain dict
literal (no names, no calls) that says, once, in the units of simctl's configs (ms, mV, …):

* ``parameters``: ``{dotted path: {"unit", "bounds", "doc"}}`` (or ``"choices"`` for a string);
  ``bounds`` is an interval such as ``"(0, inf)"`` or ``"[0, inf)"``; ``include``:
  ``{prefix: model}`` takes another model's parameters under a prefix (``"lif."``);
* ``state``: ``{dotted path: unit}`` of the recordable state variables; ``voltage``: the path
  of the membrane potential;
* ``current``: how a current protocol enters the equations (``{"unit", "enters", "doc"}``):
  always as a continuous term of a differential equation, so that the charge delivered per
  millisecond does not depend on ``dt``;
* ``jumps``: ``{state path: unit}``, the variables a spike (encoder, Poisson drive,
  projection) may jump, and ``default_jump``, the one an encoder's spikes jump;
* ``refractory``: ``None``, or ``{"state", "parameter", "config_key"}``: the library counts the
  refractory period in steps (``parameter``), the config gives it in ms (``config_key``);
* ``cli_input``: the default drive of ``simctl run neuron=<model>`` (``amplitude`` for
  constant/step/pulses/sine, ``noise_mean``, ``noise_std`` in the current's unit·√ms, and
  ``jump``, an encoder spike's default jump of ``default_jump``).

This module reads those literals with :func:`ast.literal_eval` from the source files, so
``simctl --help``, ``simctl presets`` and config validation know every unit and bound without
paying for ``import torch``. Config schemas, validation messages, plot labels, HDF5 ``units``
attributes and input conversion derive from here; nothing else restates a unit or a bound.
"""

from __future__ import annotations

import ast
import functools
import math
import re
from pathlib import Path
from typing import Any

__all__ = [
    "SURROGATE_METHODS",
    "Interval",
    "describe",
    "model_names",
    "parameter",
    "unit_of",
    "current_unit",
    "cli_input",
]

#: the surrogate-gradient methods of :mod:`simctl.neurons.threshold` (``"choices": "surrogate"``)
SURROGATE_METHODS = ("heaviside", "super", "triangle", "tanh", "circ", "heavi_erfc")

_NEURONS = Path(__file__).resolve().parent / "neurons"
_REQUIRED = ("name", "summary", "voltage", "parameters", "state", "current", "jumps")


class Interval:
    """A parameter's bounds, parsed from ``"(0, inf)"``-style text."""

    def __init__(self, text: str):
        text = text.strip()
        if text[0] not in "([" or text[-1] not in ")]" or "," not in text:
            raise ValueError(f"not an interval: {text!r}")
        low, high = (part.strip() for part in text[1:-1].split(","))
        self.text = text
        self.low = float(low)
        self.high = float(high)
        self.low_closed = text[0] == "["
        self.high_closed = text[-1] == "]"

    def __contains__(self, value: float) -> bool:
        if not math.isfinite(value):
            return False
        above = value >= self.low if self.low_closed else value > self.low
        below = value <= self.high if self.high_closed else value < self.high
        return above and below

    def describe(self) -> str:
        """``"> 0"``, ``">= 0 and <= 1"``, ``"a finite number"``."""
        parts = []
        if math.isfinite(self.low):
            parts.append(f"{'>=' if self.low_closed else '>'} {self.low:g}")
        if math.isfinite(self.high):
            parts.append(f"{'<=' if self.high_closed else '<'} {self.high:g}")
        return " and ".join(parts) or "a finite number"


def _literal(path: Path) -> dict | None:
    text = path.read_text(encoding="utf-8")
    # parse from the top-level DESCRIPTION on (model files end with it): compiling the whole
    # file cost ~15 ms each, ~0.2 s of every `simctl run`; the whole file where that fails.
    # A file without one at the start of a line (the library's other modules) has none.
    start = re.search(r"^DESCRIPTION\b", text, flags=re.MULTILINE)
    if start is None:
        return None
    try:
        tree = ast.parse(text[start.start() :], filename=str(path))
    except SyntaxError:
        tree = ast.parse(text, filename=str(path))
    for node in tree.body:
        if (
            isinstance(node, ast.Assign)
            and len(node.targets) == 1
            and isinstance(node.targets[0], ast.Name)
            and node.targets[0].id == "DESCRIPTION"
        ):
            return ast.literal_eval(node.value)
    return None


@functools.cache
def _all() -> dict[str, dict]:
    found: dict[str, dict] = {}
    for path in sorted(_NEURONS.glob("*.py")):
        data = _literal(path)
        if data is None:
            continue
        missing = [k for k in _REQUIRED if k not in data]
        if missing:
            raise RuntimeError(f"{path.name}: DESCRIPTION lacks {', '.join(missing)}")
        data["file"] = path.stem
        found[data["name"]] = data
    for data in found.values():
        _include(data, found)
    for data in found.values():
        for spec in data["parameters"].values():
            if spec.get("choices") == "surrogate":
                spec["choices"] = list(SURROGATE_METHODS)
            if "bounds" in spec and "interval" not in spec:
                spec["interval"] = Interval(spec["bounds"])
    return found


def _include(data: dict, found: dict[str, dict]) -> None:
    """``"include": {prefix: model}`` takes ``model``'s parameters (those it lists, or all)
    under ``prefix`` (``"lif."`` for a nested Parameters field, ``""`` for the same level):
    the LIF family states LIF's units and bounds once."""
    for prefix, spec in (data.pop("include", None) or {}).items():
        name, only = (spec, None) if isinstance(spec, str) else (spec["model"], spec["only"])
        base = found[name]
        _include(base, found)  # an include of an include
        for key, value in base["parameters"].items():
            if only is None or key in only:
                data["parameters"].setdefault(f"{prefix}{key}", dict(value))


def model_names() -> list[str]:
    """Every described model, sorted."""
    return sorted(_all())


def describe(name: str) -> dict:
    """The description of model ``name`` (a KeyError names the known models)."""
    models = _all()
    if name not in models:
        raise KeyError(f"no neuron model {name!r}; known: {', '.join(sorted(models))}")
    return models[name]


def parameter(model: str, path: str) -> dict | None:
    """The description of one parameter (dotted path), or None."""
    return describe(model)["parameters"].get(path)


def unit_of(model: str, variable: str) -> str:
    """The unit of a state variable (dotted path), ``""`` where it has none."""
    return describe(model)["state"].get(variable, "")


def current_unit(model: str, physical: bool = False) -> str:
    """The unit of a current protocol's values for ``model`` (``physical``: the physical
    form's unit, e.g. AdEx's pA)."""
    current = describe(model)["current"]
    if physical and "physical_unit" in current:
        return current["physical_unit"]
    return current["unit"]


def cli_input(model: str) -> dict[str, Any]:
    """The default drive of ``simctl run neuron=<model>``."""
    return dict(describe(model).get("cli_input", {}))
