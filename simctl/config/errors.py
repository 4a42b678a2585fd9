"""The one error type of configuration problems, printed as one line with exit code 2."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


def _show(value: Any) -> str:
    if isinstance(value, str):
        return value if value else "''"
    return repr(value) if not isinstance(value, (int, float, bool)) else str(value)


class ConfigError(Exception):
    """A configuration value that cannot be used.

    ``str(error)`` is one line: ``<key>=<value>: <problem>; allowed: <allowed>``.
    """

    def __init__(
        self,
        key: str,
        value: Any,
        problem: str,
        allowed: Iterable[Any] | str | None = None,
    ):
        self.key = key
        self.value = value
        self.problem = problem
        if allowed is not None and not isinstance(allowed, str):
            allowed = ", ".join(str(a) for a in allowed) or "(none)"
        self.allowed = allowed
        super().__init__(self.line())

    def line(self) -> str:
        head = f"{self.key}={_show(self.value)}" if self.key else _show(self.value)
        text = f"{head}: {self.problem}"
        if self.allowed:
            text += f"; allowed: {self.allowed}"
        return " ".join(text.split())  # always one line


class SimulationError(RuntimeError):
    """The run itself failed (e.g. a NaN state); carries a one-line message and a hint."""


class Terminated(KeyboardInterrupt):
    """SIGTERM outside the simulation loop (start-up, between the jobs of a sweep): unwinds
    like Ctrl-C, exit code 143."""
