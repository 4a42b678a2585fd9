"""The one error type of configuration problems, printed as one line with exit code 2."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


def _show(value: Any) -> str:
    if isinstance(value, str):
        return value if value else "''"
    return repr(value) if not isinstance(value, (int, float, bool)) else str(value)


def did_you_mean(value: Any, allowed: Iterable[Any]) -> str:
    """`` (did you mean X?)`` when one of ``allowed`` is a close spelling of ``value`` (a
    typo such as ``tonic_spikin``; :func:`difflib.get_close_matches`, case-insensitive), else
    ''."""
    import difflib

    if not isinstance(value, str) or not value:
        return ""
    names = {str(a).lower(): str(a) for a in allowed}
    if value.lower() in names and names[value.lower()] != value:
        return f" (did you mean {names[value.lower()]}?)"
    close = difflib.get_close_matches(value.lower(), list(names), n=1, cutoff=0.75)
    return f" (did you mean {names[close[0]]}?)" if close else ""


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
        if allowed is not None and not isinstance(allowed, str):
            allowed = [str(a) for a in allowed]
            if problem.startswith(("unknown", "not a valid choice")):
                # a misspelt key (``unknown key``/``unknown parameter``) or value
                typed = (
                    key.rpartition(".")[2] if " key" in problem or "parameter" in problem else value
                )
                problem += did_you_mean(typed, allowed)
            allowed = ", ".join(allowed) or "(none)"
        self.problem = problem
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
