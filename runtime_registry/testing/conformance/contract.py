"""How a check says a provider broke the contract: :class:`ContractViolation` and the three ways to raise it.

Every check is written with :func:`require`, :func:`succeeds` and
:func:`raises` rather than bare ``assert``: the suite must hold under
``python -O``, and the message must name the rule whether or not pytest
rewrites asserts.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any, TypeVar

from registry_core.errors import RegistryError

__all__ = ["ContractViolation", "describe_error", "is_count", "raises", "require", "succeeds"]

T = TypeVar("T")
E = TypeVar("E", bound=RegistryError)

#: What a provider author should look at when the registry, not the provider, raised the error.
REGISTRY_HINTS = {
    "runtime_unavailable": " (the provider raised an unexpected exception or returned malformed data: the log says which)",
    "runtime_timeout": " (the provider did not answer within the call timeout)",
}


class ContractViolation(AssertionError):
    """A provider broke the runtime contract. The message names the rule and what the provider did."""


def require(condition: object, message: str) -> None:
    """Raise :class:`ContractViolation` with ``message`` (the rule, and what happened) unless ``condition`` holds."""
    if not condition:
        raise ContractViolation(message)


def describe_error(exc: RegistryError) -> str:
    """A typed error as a violation message shows it: class, code, message and, for the registry's own, a hint."""
    return f"{type(exc).__name__} ({exc.code}: {exc.message}){REGISTRY_HINTS.get(exc.code, '')}"


async def succeeds(what: str, call: Awaitable[T]) -> T:
    """Await ``call``; a typed error becomes a violation saying ``what`` must have worked."""
    try:
        return await call
    except RegistryError as exc:
        raise ContractViolation(f"{what} must succeed; it raised {describe_error(exc)}") from exc


async def raises(error: type[E], what: str, call: Awaitable[Any]) -> E:
    """Await ``call`` and return the ``error`` it must raise; another error or a result is a violation."""
    try:
        result = await call
    except error as exc:
        return exc
    except RegistryError as exc:
        raise ContractViolation(
            f"{what} must raise {error.__name__} ({error.code}); it raised {describe_error(exc)}"
        ) from exc
    raise ContractViolation(f"{what} must raise {error.__name__} ({error.code}); it returned {result!r:.300}")


def is_count(value: object) -> bool:
    """Whether ``value`` is an integer of 1 or more (``True`` is not a count)."""
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1
