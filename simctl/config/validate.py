"""Checks plain config nodes against the dataclass schemas of :mod:`simctl.config.schema`."""

from __future__ import annotations

import dataclasses
import functools
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


@functools.cache
def _schema_fields(schema: type) -> tuple[dict[str, Any], list[str]]:
    """A schema's type hints and field names (evaluating string annotations compiles each one:
    ~0.2 ms a schema, 60 schemas for an experiment of 20 populations)."""
    return typing.get_type_hints(schema), [f.name for f in dataclasses.fields(schema)]


def check_node(node: Any, schema: type, path: str) -> Any:
    """Builds ``schema(**node)`` after checking every key and value; ``path`` prefixes keys."""
    if not isinstance(node, dict):
        raise ConfigError(path, node, "expected a mapping")
    hints, fields = _schema_fields(schema)
    kwargs = {}
    for key, value in node.items():
        full = f"{path}.{key}" if path else str(key)
        if key not in hints:
            raise ConfigError(full, value, f"unknown key in {path or 'the config'}", list(fields))
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
    # (linspace may run downwards: low > high lays the values out in descending order)
    if dist == "uniform" and out["high"] < out["low"]:
        raise ConfigError(
            f"{key}.high", out["high"], f"is below {key}.low = {out['low']:g}", "high >= low"
        )
    return out


# -- configs are data ---------------------------------------------------------------------------
# Hydra calls code named by a config in a few places: ``hydra.callbacks`` (instantiated before
# the task), ``hydra.job_logging``/``hydra.hydra_logging`` (``logging.config.dictConfig``, whose
# ``()``/``class`` keys build any callable) and ``hydra.job.env_set`` (exported into the
# process). simctl never instantiates its own config. So a config may name no callable at all,
# except the plain handlers and formatters of the standard library below; the environment
# (``CC``, ``SIMCTL_CACHE_DIR``, ``LD_PRELOAD``) comes from the real environment only.

#: handler classes a logging config may use (they write to a stream or a file, nothing else)
LOG_HANDLER_CLASSES = (
    "logging.StreamHandler",
    "logging.FileHandler",
    "logging.NullHandler",
    "logging.handlers.RotatingFileHandler",
    "logging.handlers.TimedRotatingFileHandler",
    "logging.handlers.WatchedFileHandler",
)
#: formatter factories a logging config may use
LOG_FORMATTER_CLASSES = ("logging.Formatter", "colorlog.ColoredFormatter")
#: the only ``ext://`` objects a logging config may reference
LOG_EXT = ("ext://sys.stdout", "ext://sys.stderr")
_LOG_SECTIONS = ("formatters", "filters", "handlers")
_REFUSED = "configs cannot run code or change the process"


def _refuse(key: str, value: Any, why: str, allowed: str) -> ConfigError:
    return ConfigError(key, value, f"{_REFUSED} ({why})", allowed)


def _find_targets(node: Any, path: str) -> None:
    if isinstance(node, dict):
        for k, v in node.items():
            full = f"{path}.{k}" if path else str(k)
            if k in ("_target_", "()"):
                raise _refuse(full, v, "Hydra would call it", "plain values (no _target_)")
            _find_targets(v, full)
    elif isinstance(node, list):
        for i, v in enumerate(node):
            _find_targets(v, f"{path}[{i}]")


def _check_logging(node: Any, path: str) -> None:
    if node is None:
        return
    if not isinstance(node, dict):
        raise _refuse(path, node, "a logging config must be a plain mapping", "a mapping")
    for section in _LOG_SECTIONS:
        entries = node.get(section) or {}
        if not isinstance(entries, dict):
            raise _refuse(f"{path}.{section}", entries, "expected a mapping", "a mapping")
        for name, entry in entries.items():
            key = f"{path}.{section}.{name}"
            if not isinstance(entry, dict):
                raise _refuse(key, entry, "expected a mapping", "a mapping")
            for field, value in entry.items():
                if field in ("()", "_target_", "."):
                    raise _refuse(
                        f"{key}.{field}", value, "logging would call it", "class: <a std handler>"
                    )
                if isinstance(value, str) and value.startswith(("ext://", "cfg://")):
                    if value not in LOG_EXT:
                        raise _refuse(f"{key}.{field}", value, "an object reference", LOG_EXT)
            cls = entry.get("class")
            if section == "handlers" and cls not in LOG_HANDLER_CLASSES:
                raise _refuse(f"{key}.class", cls, "not a standard handler", LOG_HANDLER_CLASSES)
            if section == "formatters" and cls is not None and cls not in LOG_FORMATTER_CLASSES:
                raise _refuse(f"{key}.class", cls, "not a formatter", LOG_FORMATTER_CLASSES)
    for name, entry in node.items():
        if name not in (*_LOG_SECTIONS, "version", "root", "loggers", "disable_existing_loggers"):
            if name != "incremental":
                raise _refuse(f"{path}.{name}", entry, "unknown logging key", "root, loggers")


def check_trusted(cfg: dict, environ: Any = None) -> None:
    """Raises :class:`ConfigError` when a composed config (a plain, unresolved container with
    its ``hydra`` node) would make Hydra run code or change the process's environment.

    Refused: any ``_target_``/``()`` in the task's config; ``hydra.callbacks``; a
    ``hydra.job.env_set`` entry that is not a copy of the real environment
    (``hydra.job.env_copy``); logging handlers, formatters or filters built from a callable;
    an ``hydra.output_subdir`` outside the run directory.
    """
    import os

    environ = os.environ if environ is None else environ
    task = {k: v for k, v in cfg.items() if k != "hydra"}
    _find_targets(task, "")
    hydra_node = cfg.get("hydra") or {}
    if not isinstance(hydra_node, dict):
        return
    callbacks = hydra_node.get("callbacks")
    if callbacks:
        if isinstance(callbacks, dict):
            name, value = next(iter(callbacks.items()))
            target = value.get("_target_", value) if isinstance(value, dict) else value
            raise _refuse(f"hydra.callbacks.{name}", target, "Hydra would call it", "none")
        raise _refuse("hydra.callbacks", callbacks, "Hydra would call it", "none")
    job = hydra_node.get("job") or {}
    if isinstance(job, dict):
        copied = set(job.get("env_copy") or [])
        env_set = job.get("env_set") or {}
        if not isinstance(env_set, dict):
            raise _refuse("hydra.job.env_set", env_set, "it sets environment variables", "none")
        for name, value in env_set.items():
            if not (name in copied and environ.get(name) == value):
                raise _refuse(
                    f"hydra.job.env_set.{name}",
                    value,
                    "it sets environment variables; set them in the shell",
                    "none",
                )
    for section in ("job_logging", "hydra_logging"):
        _check_logging(hydra_node.get(section), f"hydra.{section}")
    sub = hydra_node.get("output_subdir")
    if sub is not None and (
        not isinstance(sub, str) or os.path.isabs(sub) or ".." in sub.split("/")
    ):
        raise _refuse(
            "hydra.output_subdir",
            sub,
            "it would write outside the run directory",
            "a relative path",
        )


def check_like(value: Any, default: Any, key: str, where: str = "") -> None:
    """Raises :class:`ConfigError` when ``value`` is not of the kind of ``default`` (an
    experiment option against the value its file gives): true/false, a number, a string, a
    list or a mapping (checked key by key; a key the default lacks is an error, since the
    file lists every option its reader takes and a misspelt one would be ignored). ``where``
    ends the message of an unknown key (`` of experiment=NAME``)."""
    if default is None or value is None:
        return
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise ConfigError(key, value, "expected true or false", ("true", "false"))
    elif isinstance(default, (int, float)):
        check_value(value, float, key)
    elif isinstance(default, str):
        check_value(value, str, key)
    elif isinstance(default, list):
        check_value(value, list, key)
    elif isinstance(default, dict):
        if not isinstance(value, dict):
            raise ConfigError(key, value, "expected a mapping")
        for name, item in value.items():
            if name not in default:
                raise ConfigError(f"{key}.{name}", item, f"unknown key in {key}{where}", default)
            check_like(item, default[name], f"{key}.{name}", where)
