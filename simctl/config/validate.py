"""Checks plain config nodes against the dataclass schemas of :mod:`simctl.config.schema`."""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from typing import Any, Literal, Union

from .errors import ConfigError
from .schema import DISTRIBUTIONS

_NONE = type(None)


def _type_name(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if tp is float:
        return "a number"
    if tp is int:
        return "an integer"
    if tp is bool:
        return "true or false"
    if tp is str:
        return "a string"
    if origin is Literal:
        return "one of " + ", ".join(map(str, typing.get_args(tp)))
    if origin in (Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not _NONE]
        names = " or ".join(_type_name(a) for a in args)
        return names + (" or null" if _NONE in typing.get_args(tp) else "")
    if origin is list:
        return "a list"
    if origin is dict:
        return "a mapping"
    if dataclasses.is_dataclass(tp):
        return "a mapping"
    return str(tp)


def check_value(value: Any, tp: Any, key: str) -> Any:
    """Returns ``value`` converted to ``tp`` or raises :class:`ConfigError`."""
    origin = typing.get_origin(tp)
    if tp is Any:
        return value
    if origin in (Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and _NONE in args:
            return None
        for arg in args:
            if arg is _NONE:
                continue
            try:
                return check_value(value, arg, key)
            except ConfigError:
                continue
        raise ConfigError(key, value, f"expected {_type_name(tp)}")
    if origin is Literal:
        allowed = typing.get_args(tp)
        if value not in allowed:
            raise ConfigError(key, value, "not a valid choice", allowed)
        return value
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(key, value, "expected true or false")
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        raise ConfigError(key, value, "expected an integer")
    if tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            value = float(value)
            if not math.isfinite(value):
                raise ConfigError(key, value, "expected a finite number")
            return value
        raise ConfigError(key, value, "expected a number")
    if tp is str:
        if isinstance(value, str):
            return value
        raise ConfigError(key, value, "expected a string")
    if origin is list:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(key, value, "expected a list")
        (item,) = typing.get_args(tp) or (Any,)
        return [check_value(v, item, f"{key}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(key, value, "expected a mapping")
        return dict(value)
    if dataclasses.is_dataclass(tp):
        return check_node(value, tp, key)
    raise TypeError(f"unsupported schema type {tp!r} at {key}")


def check_node(node: Any, schema: type, path: str) -> Any:
    """Builds ``schema(**node)`` after checking every key and value; ``path`` prefixes keys."""
    if not isinstance(node, dict):
        raise ConfigError(path, node, "expected a mapping")
    hints = typing.get_type_hints(schema)
    fields = [f.name for f in dataclasses.fields(schema)]
    kwargs = {}
    for key, value in node.items():
        full = f"{path}.{key}" if path else str(key)
        if key not in hints:
            raise ConfigError(full, value, f"unknown key in {path or 'the config'}", fields)
        kwargs[key] = check_value(value, hints[key], full)
    return schema(**kwargs)


def number_or_list(value: Any, key: str, size: int | None = None) -> Any:
    """A number, or a list of numbers (one per neuron when ``size`` is given)."""
    if isinstance(value, (list, tuple)):
        values = [check_value(v, float, f"{key}[{i}]") for i, v in enumerate(value)]
        if size is not None and len(values) not in (1, size):
            raise ConfigError(
                key, value, f"a list needs one value per neuron ({size}), got {len(values)}"
            )
        return values
    return check_value(value, float, key)


def check_distribution(spec: Any, key: str) -> dict[str, Any]:
    """``{dist: uniform, low: .., high: ..}`` and the other :data:`DISTRIBUTIONS`."""
    if not isinstance(spec, dict):
        raise ConfigError(
            key, spec, "expected a distribution such as {dist: uniform, low: 0, high: 1}"
        )
    dist = spec.get("dist")
    if dist not in DISTRIBUTIONS:
        raise ConfigError(f"{key}.dist", dist, "unknown distribution", DISTRIBUTIONS)
    needed = DISTRIBUTIONS[dist]
    out: dict[str, Any] = {"dist": dist}
    for name, value in spec.items():
        if name == "dist":
            continue
        if name not in needed:
            raise ConfigError(f"{key}.{name}", value, f"unknown key for dist={dist}", needed)
        if name == "values":
            out[name] = number_or_list(value, f"{key}.{name}")
            if not isinstance(out[name], list):
                out[name] = [out[name]]
        else:
            out[name] = check_value(value, float, f"{key}.{name}")
    for name in needed:
        if name not in out:
            raise ConfigError(f"{key}.{name}", None, f"missing for dist={dist}", needed)
    if dist == "choice" and not out["values"]:
        raise ConfigError(f"{key}.values", [], "needs at least one value", "a non-empty list")
    if dist in ("normal", "lognormal") and out["std"] < 0:
        raise ConfigError(f"{key}.std", out["std"], "must be >= 0")
    return out
