"""Compiles generated C kernels with the system C compiler and loads them through ctypes.

No torch headers are involved: a kernel is a plain C function over raw pointers, built with
``$CC`` (default ``cc``) as ``-O3 -shared -fPIC -ffp-contract=off`` into a cache directory
(``$SIMCTL_CACHE_DIR``, default ``~/.cache/simctl/kernels``), named by a hash of the source, the
compiler, its flags and the CPU, so a build is done once per machine and model structure. The
file is written under a temporary name and renamed, so concurrent processes never load a
half-written library. Any failure raises :class:`CompileError`; the caller falls back to torch.

The cache is verified, never trusted: the directory is this user's and mode 0700; beside each
library ``k_<key>.so`` its builder records the SHA-256 of its bytes (``k_<key>.sha256``). A
cached library is loaded only when both files are regular files owned by this user, writable
by nobody else, and the bytes hash to the record; anything else (tampered, truncated,
foreign-owned, group/world-writable) is rebuilt with one warning. A directory that belongs to
someone else is not used (the kernels are built into a private temporary directory). The
cache is capped at :data:`CACHE_LIMIT_BYTES`, least recently used libraries removed first.
"""

from __future__ import annotations

import ctypes
import hashlib
import logging
import os
import platform
import shutil
import stat
import subprocess
import tempfile
import threading
from pathlib import Path
from typing import Any

__all__ = ["CompileError", "compiler", "cache_dir", "load_kernel", "FLAGS"]

FLAGS = ["-O3", "-shared", "-fPIC", "-ffp-contract=off", "-fno-math-errno"]
_NATIVE = ["-march=native"]

#: the most bytes of libraries the cache keeps (a fused kernel is ~20 kB)
CACHE_LIMIT_BYTES = 64 * 2**20

log = logging.getLogger("simctl.kernels")
_lock = threading.Lock()
_private: list[Path] = []  # a fallback directory of this process (the cache is not ours)
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
        # absolute: dlopen of a name without a slash searches the library path, not the cwd
        return Path(configured).expanduser().absolute()
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return (Path(base) / "simctl" / "kernels").absolute()


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


def _private_dir(problem: str) -> Path:
    if not _private:
        import atexit

        _private.append(Path(tempfile.mkdtemp(prefix="simctl-kernels-")))
        atexit.register(shutil.rmtree, _private[0], ignore_errors=True)
        log.warning("kernel cache %s; building into %s for this process", problem, _private[0])
    return _private[0]


def _usable_dir(directory: Path) -> Path:
    """``directory`` created 0700, or made 0700 when it is ours; a private temporary
    directory when it belongs to someone else or cannot be made private."""
    try:
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        info = directory.lstat()
    except OSError as error:
        return _private_dir(f"{directory} is unusable ({error.strerror or error})")
    if not stat.S_ISDIR(info.st_mode):
        return _private_dir(f"{directory} is not a directory")
    if info.st_uid != os.getuid():
        return _private_dir(f"{directory} belongs to uid {info.st_uid}, not to this user")
    if stat.S_IMODE(info.st_mode) != 0o700:
        try:
            os.chmod(directory, 0o700)
        except OSError as error:
            return _private_dir(f"{directory} cannot be made private ({error.strerror})")
        if info.st_mode & 0o022:
            log.warning("kernel cache %s was writable by others; now mode 0700", directory)
    return directory


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _trusted_bytes(path: Path) -> bytes | None:
    """The bytes of ``path`` when it is a regular file of this user that nobody else can
    write, else ``None``."""
    try:
        info = path.lstat()
        if not stat.S_ISREG(info.st_mode) or info.st_uid != os.getuid() or info.st_mode & 0o022:
            return None
        return path.read_bytes()
    except OSError:
        return None


def _verify(target: Path, record: Path) -> str:
    """'' when ``target`` may be loaded, else why not."""
    if not target.exists() and not target.is_symlink():
        return "missing"
    data, recorded = _trusted_bytes(target), _trusted_bytes(record)
    if data is None:
        return "not a private file of this user"
    if recorded is None:
        return "no hash recorded by this user"
    if _digest(data) != recorded.decode("ascii", "replace").strip():
        return "its bytes do not match the hash recorded when it was built"
    return ""


def _write_private(path: Path, data: bytes, mode: int) -> None:
    """``data`` into ``path`` atomically (a temporary file renamed), with ``mode``."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _prune(directory: Path, keep: Path) -> None:
    """Removes the least recently used libraries beyond :data:`CACHE_LIMIT_BYTES`."""
    entries = []
    for path in directory.glob("k_*.so"):
        try:
            info = path.lstat()
        except OSError:
            continue
        entries.append((max(info.st_atime, info.st_mtime), info.st_size, path))
    total = sum(size for _, size, _ in entries)
    for _, size, path in sorted(entries):
        if total <= CACHE_LIMIT_BYTES:
            break
        if path == keep:
            continue
        for stale in (path, path.with_suffix(".sha256")):
            try:
                stale.unlink()
            except OSError:
                pass
        total -= size


def load_kernel(
    source: str, symbol: str = "simctl_kernel", argtypes: list[Any] | None = None
) -> ctypes._CFuncPtr:  # type: ignore[name-defined]
    """Builds (or finds, verified, in the cache) the shared library of ``source`` and returns
    ``symbol``.

    ``argtypes`` defaults to the fused kernels' ``(T, N, lo, hi, consts, pointers)``.
    """
    cc = compiler()
    if cc is None:
        raise CompileError(f"no C compiler ({os.environ.get('CC', 'cc')!r} not found)")
    key = hashlib.sha256("\0".join([source, cc, *FLAGS, *_NATIVE, _cpu_id()]).encode()).hexdigest()
    with _lock:
        if key in _loaded:
            return _loaded[key]
        directory = _usable_dir(cache_dir())
        target = directory / f"k_{key[:32]}.so"
        record = target.with_suffix(".sha256")
        problem = _verify(target, record)
        try:
            if problem:
                if problem != "missing":
                    log.warning("kernel cache: rebuilding %s (%s)", target, problem)
                library = _build_into(cc, source, target, record)
            else:
                library = ctypes.CDLL(str(target))
                try:
                    os.utime(target)  # recently used: kept when the cache is pruned
                except OSError:
                    pass
        except (OSError, subprocess.SubprocessError) as error:
            raise CompileError(f"cannot build or load {target}: {error}") from error
        try:
            function = getattr(library, symbol)
        except AttributeError as error:
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


def _build_into(cc: str, source: str, target: Path, record: Path) -> ctypes.CDLL:
    """Compiles ``source``, loads the fresh library (not the cached path, which another
    process may replace) and installs it with its hash: the record first, then the library."""
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
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
        os.chmod(built, 0o700)
        data = built.read_bytes()
        library = ctypes.CDLL(str(built))
        _write_private(record, _digest(data).encode("ascii"), 0o600)
        os.replace(built, target)
    _prune(target.parent, keep=target)
    return library
