"""Bounding a provider call in time, without arming a timer for calls that never wait.

``asyncio.timeout`` arms and cancels a loop timer on every call, which is a
measurable share of a cheap HTTP request (docs/performance.md, "The call guard
and the turn path"; decisions 0001 and 0076). Many provider calls finish
without ever suspending (a lookup in a runtime's memory, any call of an
embedded runtime over a memory store), and a call that never suspends cannot
be interrupted by a timer anyway; others do suspend (a write that waits for
its commit, a database round trip, a remote runtime). So we start the
coroutine eagerly: if it finishes on its first step we return at once; only
if it suspends do we bound the rest of it.

A call that suspends is bounded by a deadline in a queue rather than by
``asyncio.timeout``, which schedules and cancels a timer handle and builds a
context manager for each call (decision 0266). Every call bounded by the
same timeout on the same loop gets a later deadline than the one before it,
so the deadlines of one timeout are a first-in first-out queue, watched by
one timer for the oldest: a call appends itself and marks itself finished;
the timer, when it fires, cancels the task of each call past its deadline
and is set again for the oldest one left. The task's cancellation becomes
``TimeoutError`` as ``asyncio.timeout`` makes it: only if the deadline
caused it, and with the task's cancel count given back.
"""

from __future__ import annotations

import asyncio
import types
import weakref
from collections import deque
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
    task = asyncio.current_task()
    if task is None:  # a coroutine driven by hand: no task to cancel when the time is up
        coro.close()
        raise RuntimeError("run_bounded() must be awaited in a task")
    loop = task.get_loop()
    call = _deadlines(loop, timeout).start(loop, task)
    try:
        result = await _resume(coro, first)
    except asyncio.CancelledError:
        # Ours only if the deadline cancelled the task and nobody else did too.
        if call.expired and task.uncancel() <= call.cancelling:
            raise TimeoutError from None
        raise
    except BaseException:
        if call.expired:  # the call turned our cancellation into an error of its own: give the cancel back
            task.uncancel()
        raise
    finally:
        call.finish()
    if call.expired:  # the call caught our cancellation and answered anyway: give the cancel back
        task.uncancel()
    return result


class _BoundedCall:
    """One call that suspended: its task, its deadline, and whether it has finished or run out of time."""

    __slots__ = ("cancelling", "deadline", "expired", "finished", "queue", "task")

    def __init__(self, task: asyncio.Task[Any], deadline: float, queue: _Deadlines) -> None:
        self.task = task
        self.deadline = deadline
        # How many cancellations were already requested when the call started (asyncio.timeout's rule).
        self.cancelling = task.cancelling()
        self.finished = False
        self.expired = False
        self.queue = queue

    def finish(self) -> None:
        """The call is over: its deadline no longer matters. The finished calls at the front of the queue
        are forgotten, so that it holds about the calls in flight."""
        self.finished = True
        calls = self.queue.calls
        while calls and calls[0].finished:
            calls.popleft()


class _Deadlines:
    """The calls bounded by one timeout on one loop, oldest deadline first, and the timer set for the oldest."""

    __slots__ = ("armed", "calls", "timeout")

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self.calls: deque[_BoundedCall] = deque()
        # Whether the loop holds a timer for the oldest call. Not the handle itself: it refers
        # to its loop, which would keep the loop (this queue's key) alive.
        self.armed = False

    def start(self, loop: asyncio.AbstractEventLoop, task: asyncio.Task[Any]) -> _BoundedCall:
        """Bound ``task``'s call from now: ``timeout`` seconds, then its task is cancelled."""
        call = _BoundedCall(task, loop.time() + self.timeout, self)
        self.calls.append(call)
        if not self.armed:
            self.armed = True
            loop.call_at(call.deadline, self._expire, loop)
        return call

    def _expire(self, loop: asyncio.AbstractEventLoop) -> None:
        self.armed = False
        calls = self.calls
        now = loop.time()
        while calls:
            call = calls[0]
            if call.finished:
                calls.popleft()
            elif call.deadline <= now:
                calls.popleft()
                call.expired = True
                call.task.cancel()
            else:
                self.armed = True
                loop.call_at(call.deadline, self._expire, loop)
                return


#: Each loop's deadline queues, by timeout (a registry bounds all its calls by one).
_QUEUES: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[float, _Deadlines]] = weakref.WeakKeyDictionary()


#: The queue found last, and its loop and timeout: a server has one loop and one timeout.
_last: tuple[weakref.ref[asyncio.AbstractEventLoop], float, _Deadlines] | None = None


def _deadlines(loop: asyncio.AbstractEventLoop, timeout: float) -> _Deadlines:
    global _last
    last = _last
    if last is not None and last[0]() is loop and last[1] == timeout:
        return last[2]
    queues = _QUEUES.get(loop)
    if queues is None:
        queues = _QUEUES[loop] = {}
    queue = queues.get(timeout)
    if queue is None:
        queue = queues[timeout] = _Deadlines(timeout)
    _last = (weakref.ref(loop), timeout, queue)
    return queue


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
