"""Bounding a provider call in time, without arming a timer for calls that never wait.

``asyncio.timeout`` arms and cancels a loop timer on every call, which is a
measurable share of a cheap HTTP request (docs/performance.md, "The call guard
and the turn path"; decisions 0001 and 0076). Many provider calls finish
without ever suspending (a lookup in a runtime's memory, any call of an
embedded runtime over a memory store), and a call that never suspends cannot
be interrupted by a timer anyway; others do suspend (a write that waits for
its commit, a database round trip, a remote runtime). So we start the
coroutine eagerly: if it finishes on its first step we return at once; only
if it suspends do we arm a timeout around the rest of it.
"""

from __future__ import annotations

import asyncio
import types
from collections.abc import Coroutine, Generator
from typing import Any, TypeVar, cast

__all__ = ["run_bounded"]

T = TypeVar("T")


async def run_bounded(coro: Coroutine[Any, Any, T], timeout: float) -> T:
    """Await ``coro``, raising ``TimeoutError`` if it is still waiting after ``timeout`` seconds."""
    try:
        first = coro.send(None)
    except StopIteration as done:
        return cast(T, done.value)  # StopIteration.value is untyped: the coroutine's result
    except BaseException:
        coro.close()
        raise
    async with asyncio.timeout(timeout):
        return await _resume(coro, first)


@types.coroutine
def _resume(coro: Coroutine[Any, Any, T], yielded: Any) -> Generator[Any, Any, T]:
    """Continue a coroutine that has already yielded ``yielded`` — what ``await`` would do.

    Whatever the task sends or throws in (results, cancellation) is passed on.
    """
    while True:
        try:
            sent = yield yielded
        except GeneratorExit:
            coro.close()
            raise
        except BaseException as exc:
            try:
                yielded = coro.throw(exc)
            except StopIteration as done:
                return cast(T, done.value)
        else:
            try:
                yielded = coro.send(sent)
            except StopIteration as done:
                return cast(T, done.value)
