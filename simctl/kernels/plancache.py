"""An on-disk cache of traced plans: a warm process never imports torch's tracing stack.

Tracing a step (:func:`simctl.kernels.trace.trace_step`) costs about 25 ms per plan, and the first
trace of a process imports ``make_fx`` and with it ``torch.fx``'s symbolic shapes, sympy and
``torch._dynamo``: about 1 s, most of a short ``simctl run``. What a trace produces is small
and deterministic: the generated C source, the constants folded into it, the output dtype and
the recorded leaves (or the reason the step cannot be fused). This module keeps that result in
``<cache>/traces/t_<key>.json``, where ``<cache>`` is ``$SIMCTL_CACHE_DIR`` when set and
``$XDG_CACHE_HOME/simctl`` (default ``~/.cache/simctl``) otherwise; ``SIMCTL_TRACE_CACHE=0``
turns it off.

The key is the SHA-256 of everything the trace depends on: the in-memory plan key (step, input
and state dtypes, parameter structure and scalar values, ``dt``, recorded paths, kernel
variant), torch's default dtype, the versions of torch, simctl and Python, and a hash of the
source of ``simctl/neurons`` and ``simctl/kernels``. Only steps defined in simctl's own modules
are cached, found again by module and qualified name (a step from elsewhere could call helpers
whose source is not in the hash; it is traced every process, as before).

Entries are written to a temporary file and renamed, so concurrent writers never leave a torn
file; a reader that finds anything unexpected (malformed JSON, wrong fields, a file that is
not this user's or is writable by others, a directory that is not private) ignores the entry
and traces. The generated source is compiled and loaded, so the same ownership checks as the
kernel cache (:mod:`simctl.kernels.cbuild`) apply. At most :data:`MAX_ENTRIES` files are kept,
least recently written removed first.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import sys
import threading
from pathlib import Path
from typing import Any

import torch

from . import cbuild

__all__ = ["enabled", "directory", "disk_key", "load", "store", "FORMAT", "MAX_ENTRIES"]

#: bumped whenever the entry layout or the meaning of a key changes
FORMAT = 1
#: the most entries kept (one is 5–20 kB of C source)
MAX_ENTRIES = 2048

_log = logging.getLogger("simctl.kernels")
_lock = threading.Lock()
_fingerprint: str | None = None
_PACKAGE = Path(__file__).resolve().parents[1]  # simctl/


class _NotStable(Exception):
    """A part of the key has no stable text form across processes."""


def enabled() -> bool:
    """Whether the trace cache is used (``SIMCTL_TRACE_CACHE`` is not ``0``)."""
    return os.environ.get("SIMCTL_TRACE_CACHE", "1").strip() != "0"


def directory() -> Path:
    """``$SIMCTL_CACHE_DIR/traces``, else ``$XDG_CACHE_HOME/simctl/traces`` (absolute)."""
    configured = os.environ.get("SIMCTL_CACHE_DIR")
    if configured:
        return Path(configured).expanduser().absolute() / "traces"
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return (Path(base) / "simctl" / "traces").absolute()


def source_fingerprint() -> str:
    """SHA-256 of the source files of ``simctl/neurons`` and ``simctl/kernels`` (once a
    process: about 2 ms), so an edited model or code generator never meets an old entry."""
    global _fingerprint
    if _fingerprint is None:
        digest = hashlib.sha256()
        for folder in ("neurons", "kernels"):
            for path in sorted((_PACKAGE / folder).rglob("*.py")):
                digest.update(str(path.relative_to(_PACKAGE)).encode())
                digest.update(b"\0")
                digest.update(path.read_bytes())
                digest.update(b"\0")
        _fingerprint = digest.hexdigest()
    return _fingerprint


def _step_name(step: Any) -> str:
    """``module:qualname`` of a module-level function of simctl's own modules."""
    module = getattr(step, "__module__", None)
    qualname = getattr(step, "__qualname__", None)
    if not isinstance(module, str) or not isinstance(qualname, str):
        raise _NotStable("no module or qualified name")
    if module != "simctl" and not module.startswith("simctl."):
        raise _NotStable("defined outside simctl")
    if "<" in qualname:
        raise _NotStable("a local function or lambda")
    found: Any = sys.modules.get(module)
    for part in qualname.split("."):
        found = getattr(found, part, None)
    if found is not step:
        raise _NotStable("not found again by its module and name")
    return f"{module}:{qualname}"


def _text(value: Any) -> str:
    """A canonical text of a key part, the same in every process."""
    if isinstance(value, tuple):
        return "(" + ",".join(_text(item) for item in value) + ")"
    if value is None or isinstance(value, (bool, int, float, str)):
        return f"{type(value).__name__}:{value!r}"
    if isinstance(value, torch.dtype):
        return str(value)
    if isinstance(value, type):
        return f"type:{value.__module__}.{value.__qualname__}"
    raise _NotStable(f"a {type(value).__name__} in the key")


def disk_key(plan_key: tuple) -> str | None:
    """The entry name for the in-memory plan key ``(step, ...)``, or None when it cannot be
    cached (the cache is off, the step is not simctl's, a part has no stable form)."""
    if not enabled():
        return None
    step, *rest = plan_key
    try:
        text = "\n".join(
            [
                f"format {FORMAT}",
                f"python {sys.version_info[:3]}",
                f"torch {torch.__version__}",
                f"simctl {_simctl_version()}",
                f"default {torch.get_default_dtype()}",
                f"source {source_fingerprint()}",
                f"step {_step_name(step)}",
                _text(tuple(rest)),
            ]
        )
    except (_NotStable, OSError) as error:
        _log.debug("trace cache not used: %s", error)
        return None
    return hashlib.sha256(text.encode()).hexdigest()[:40]


def _simctl_version() -> str:
    import simctl

    return str(getattr(simctl, "__version__", "0"))


def _usable() -> Path | None:
    """The cache directory, created private; None when it is not (only) this user's."""
    folder = directory()
    try:
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        info = folder.lstat()
        if info.st_uid != os.getuid() or not os.path.isdir(folder):
            return None
        if info.st_mode & 0o077:
            os.chmod(folder, 0o700)
    except OSError:
        return None
    return folder


def load(key: str) -> dict[str, Any] | None:
    """The entry ``key`` as ``{"source", "consts", "output_dtype", "record_leaves"}`` or
    ``{"refused": reason}``; None when absent or not trustworthy (then: trace)."""
    folder = _usable()
    if folder is None:
        return None
    data = cbuild._trusted_bytes(folder / f"t_{key}.json")
    if data is None:
        return None
    try:
        entry = json.loads(data)
        if not isinstance(entry, dict) or entry.get("format") != FORMAT:
            return None
        if "refused" in entry:
            return {"refused": str(entry["refused"])}
        source, consts = entry["source"], entry["consts"]
        leaves, dtype = entry["record_leaves"], getattr(torch, entry["output_dtype"])
        valid = (
            isinstance(source, str)
            and isinstance(consts, list)
            and all(isinstance(c, (int, float)) and not isinstance(c, bool) for c in consts)
            and isinstance(leaves, list)
            and all(isinstance(k, int) and not isinstance(k, bool) for k in leaves)
            and isinstance(dtype, torch.dtype)
        )
    except (ValueError, KeyError, TypeError, AttributeError):
        valid = False
    if not valid:
        _log.debug("trace cache: ignoring malformed entry %s", key)
        return None
    return {
        "source": source,
        "consts": [float(c) for c in consts],
        "output_dtype": dtype,
        "record_leaves": leaves,
    }


def store(key: str, entry: dict[str, Any]) -> None:
    """Writes ``entry`` (as :func:`load` returns it) atomically; failures are ignored."""
    folder = _usable()
    if folder is None:
        return
    record = {"format": FORMAT}
    if "refused" in entry:
        record["refused"] = entry["refused"]
    else:
        record.update(
            source=entry["source"],
            consts=entry["consts"],
            output_dtype=str(entry["output_dtype"]).removeprefix("torch."),
            record_leaves=entry["record_leaves"],
        )
    try:
        cbuild._write_private(folder / f"t_{key}.json", json.dumps(record).encode(), 0o600)
        _prune(folder)
    except (OSError, TypeError, ValueError) as error:
        _log.debug("trace cache: cannot write %s: %s", key, error)


def _prune(folder: Path) -> None:
    """Removes the oldest entries beyond :data:`MAX_ENTRIES`."""
    with _lock:
        entries = []
        for path in folder.glob("t_*.json"):
            try:
                entries.append((path.stat().st_mtime, path))
            except OSError:
                continue
        for _, path in sorted(entries)[: max(0, len(entries) - MAX_ENTRIES)]:
            try:
                path.unlink()
            except OSError:
                pass
