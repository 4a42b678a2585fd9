"""Norse's keyword names as aliases of simctl's (``input_spikes=`` for ``input_tensor=``, ...).

Norse 1.1.0 names the first argument of most step functions ``input_spikes``, the state of the
Izhikevich steps ``s``, the argument of ``heaviside`` ``data`` and several surrogate widths
``k``; simctl uses ``input_tensor``, ``state``, ``x`` and ``alpha``. :func:`keyword_aliases` makes a
function accept both spellings without changing its identity for positional callers (the
wrapper only renames keyword arguments, then calls the original).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])

__all__ = ["keyword_aliases"]


def keyword_aliases(**aliases: str) -> Callable[[F], F]:
    """Decorator: accept each ``alias=...`` keyword as the parameter it names.

    ``@keyword_aliases(input_spikes="input_tensor")`` lets callers write either
    ``f(input_spikes=x, ...)`` (Norse) or ``f(input_tensor=x, ...)``; giving both is a
    ``TypeError`` naming the two. ``inspect.signature`` still shows the original parameters.

    Examples:
        >>> @keyword_aliases(data="x")
        ... def double(x):
        ...     return 2 * x
        >>> double(data=3), double(x=3), double(3)
        (6, 6, 6)
    """

    def decorate(function: F) -> F:
        @functools.wraps(function)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if kwargs:
                for alias, name in aliases.items():
                    if alias in kwargs:
                        if name in kwargs:
                            raise TypeError(
                                f"{function.__name__}() got both {alias!r} (Norse's name) "
                                f"and {name!r} for the same argument"
                            )
                        kwargs[name] = kwargs.pop(alias)
            return function(*args, **kwargs)

        wrapper.keyword_aliases = dict(aliases)  # type: ignore[attr-defined]
        return wrapper  # type: ignore[return-value]

    return decorate
