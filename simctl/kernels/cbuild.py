"""Compiles generated C kernels with the system C compiler and loads them through ctypes.

No torch headers are involved: a kernel is a plain C function over raw pointers, built with
``$CC`` (default ``cc``) as ``-O3 -shared -fPIC -ffp-contract=off`` into a cache directory
(``$SIMCTL_CACHE_DIR``, default ``~/.cache/simctl/kernels``), named by a hash of the source, the
compiler, its flags and the CPU, so a build is done once per machine and model structure. The
file is written under a temporary name and renamed, so concurrent processes never load a
half-written library. Any failure raises :class:`CompileError`; the caller falls back to torch.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import platform
import shutil
import subprocess
import tempfile
import threading
from pathlib import Path
from typing import Any

__all__ = ["CompileError", "compiler", "cache_dir", "load_kernel", "FLAGS"]

FLAGS = ["-O3", "-shared", "-fPIC", "-ffp-contract=off", "-fno-math-errno"]
_NATIVE = ["-march=native"]

_lock = threading.Lock()
_loaded: dict[str, ctypes._CFuncPtr] = {}  # type: ignore[name-defined]
_native_ok: dict[str, bool] = {}


class CompileError(RuntimeError):
    """No usable C compiler, or the kernel failed to build or load."""


def compiler() -> str | None:
    """The C compiler's path (``$CC`` or ``cc``), or ``None`` when there is none."""
    name = os.environ.get("CC", "cc")
    return shutil.which(name) if name else None


def cache_dir() -> Path:
    """``$SIMCTL_CACHE_DIR`` or ``~/.cache/simctl/kernels`` (``$XDG_CACHE_HOME`` respected)."""
    configured = os.environ.get("SIMCTL_CACHE_DIR")
    if configured:
        return Path(configured)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "simctl" / "kernels"


def _cpu_id() -> str:
    model = platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith(("model name", "flags")):
                    model += line
    except OSError:
        pass
    return model


def _build(cc: str, source: Path, target: Path, flags: list[str]) -> None:
    command = [cc, *flags, "-o", str(target), str(source), "-lm"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    if result.returncode != 0:
        raise CompileError(f"{' '.join(command)} failed:\n{result.stderr[-2000:]}")


def load_kernel(
    source: str, symbol: str = "simctl_kernel", argtypes: list[Any] | None = None
) -> ctypes._CFuncPtr:  # type: ignore[name-defined]
    """Builds (or finds in the cache) the shared library of ``source`` and returns ``symbol``.

    ``argtypes`` defaults to the fused kernels' ``(T, N, lo, hi, consts, pointers)``.
    """
    cc = compiler()
    if cc is None:
        raise CompileError(f"no C compiler ({os.environ.get('CC', 'cc')!r} not found)")
    key = hashlib.sha256("\0".join([source, cc, *FLAGS, *_NATIVE, _cpu_id()]).encode()).hexdigest()
    with _lock:
        if key in _loaded:
            return _loaded[key]
        directory = cache_dir()
        target = directory / f"k_{key[:32]}.so"
        if not target.exists():
            try:
                directory.mkdir(parents=True, exist_ok=True)
                with tempfile.TemporaryDirectory(dir=directory) as tmp:
                    c_file = Path(tmp) / "kernel.c"
                    c_file.write_text(source, encoding="utf-8")
                    built = Path(tmp) / "kernel.so"
                    if _native_ok.get(cc, True):
                        try:
                            _build(cc, c_file, built, FLAGS + _NATIVE)
                        except CompileError:
                            _native_ok[cc] = False  # e.g. a cross compiler: build generic
                    if not built.exists():
                        _build(cc, c_file, built, FLAGS)
                    os.replace(built, target)
            except (OSError, subprocess.SubprocessError) as error:
                raise CompileError(str(error)) from error
        try:
            library = ctypes.CDLL(str(target))
            function = getattr(library, symbol)
        except (OSError, AttributeError) as error:
            raise CompileError(f"cannot load {target}: {error}") from error
        function.restype = None
        function.argtypes = argtypes or [
            ctypes.c_int64,
            ctypes.c_int64,
            ctypes.c_int64,
            ctypes.c_int64,
            ctypes.c_void_p,
            ctypes.c_void_p,
        ]
        _loaded[key] = function
        return function
