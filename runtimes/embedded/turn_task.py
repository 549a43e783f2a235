"""How one turn's task runs and how it always ends (decision 0120).

A turn ends exactly once, with ``worker.turn_completed``, ``worker.turn_failed``,
``worker.turn_cancelled`` or (after a restart) ``worker.turn_interrupted``,
whatever its engine does:

- **The limit is a deadline, not a request.** ``max_turn_seconds`` is a timer
  beside the task, not ``asyncio.timeout`` around the engine: at the deadline
  the turn fails with ``turn_timeout`` and the worker is idle at once, then the
  task is cancelled. An engine that swallows the cancel keeps running, but the
  turn is no longer the worker's (:attr:`EmbeddedTurn.current`), so nothing it
  emits, records or returns afterwards is written (the fence).
- **Only a cancel of ours is a cancel.** A ``CancelledError`` the engine
  raises itself, while nobody cancelled the task, is an engine bug
  (``engine_error``), not a cancelled turn: nobody else would end it.
- **Any other exception is the engine's**, ``TimeoutError`` included (a socket
  timeout inside the engine is not our limit): ``engine_error``.
- **A result is checked before anything of it is written**: a wrong type, a
  ``dict`` for ``usage`` or an unknown ``stop_reason`` is ``engine_error``,
  and no ``worker.output`` precedes it.
- **Every failure is one WARNING line** with runtime, worker, turn and code
  (and an exception's type, never its text: it may hold an upstream body, a
  URL or a key); the traceback goes to debug only.

:class:`TurnTasks` keeps every turn task until it ends, so that closing the
runtime can wait for them -- for a bounded time, since an engine that ignores
cancellation may never end.

**A turn that ends at once has no task** (decision 0247): the builtin ``record``
and ``echo`` engines with no delay never suspend, and a store that ends turns at
once (:attr:`~runtime_registry.runtimes.embedded.store.WorkerStore.ends_turns_at_once`)
writes their end without suspending either. Such a turn runs in one callback of
the loop, scheduled when its input is accepted, and its handle is an
:class:`InstantTurn`: it can be cancelled before that step (the step then never
runs, as a task cancelled before its first step never runs its body) and
awaited, like a task. It needs no deadline: nothing in it waits. Should it
suspend after all, the rest of it runs as a task, kept by :class:`TurnTasks`.
"""

from __future__ import annotations

import asyncio
import logging
import types
from collections.abc import Callable, Coroutine, Generator
from typing import TYPE_CHECKING, Any

import attrs

from registry_core.engines import EngineFailed, TurnEngine, TurnFailed, TurnResult

if TYPE_CHECKING:
    from runtime_registry.runtimes.embedded.turns import EmbeddedTurn
    from runtime_registry.runtimes.embedded.workers import WorkerRecord

__all__ = [
    "CLOSE_GRACE_SECONDS",
    "InstantTurn",
    "TurnTasks",
    "check_result",
    "end_instant_turn",
    "log_failure",
    "run_turn_task",
]

log = logging.getLogger("runtime_registry.runtimes.embedded.turns")

#: How long closing the runtime waits for cancelled turn tasks to end.
CLOSE_GRACE_SECONDS = 2.0
#: What clients read of a turn that failed by the engine's fault.
ENGINE_ERROR_MESSAGE = "the turn failed unexpectedly"


def log_failure(runtime: str, worker_id: str, turn: int, code: str, cause: str | None = None) -> None:
    """The one WARNING line of a failed turn: who, which turn, the code (and the exception's type)."""
    log.warning(
        "turn failed: runtime=%s worker=%s turn=%d code=%s%s",
        runtime,
        worker_id,
        turn,
        code,
        f" cause={cause}" if cause else "",
    )


def check_result(result: object) -> TurnResult:
    """``result`` if it is a valid :class:`TurnResult`; else ``TypeError``/``ValueError``.

    ``TurnResult`` checks its fields when built; this checks them again, for a
    result changed afterwards (``object.__setattr__``) or built without
    ``__init__``.
    """
    if not isinstance(result, TurnResult):
        raise TypeError(f"the engine returned {type(result).__name__}, not a TurnResult")
    attrs.validate(result)
    return result


async def run_turn_task(
    turn: EmbeddedTurn,
    engine: TurnEngine,
    *,
    complete: Callable[[TurnResult], Coroutine[Any, Any, None]],
    fail: Callable[[str, str, str | None, str | None], Coroutine[Any, Any, None]],
    loop: asyncio.AbstractEventLoop | None = None,
) -> None:
    """Run ``engine`` for ``turn`` and end the turn by what it did (see the module docstring).

    :param complete: has the store write the reply and ``worker.turn_completed`` (the turn is current).
    :param fail: ``fail(code, message, cause, engine_code)`` has the store write
        ``worker.turn_failed`` and logs it, if the turn is still current.
        Both are the store's decisions (decision 0110): they may suspend.
    :param loop: the loop the task runs on, if the caller has it (asking for it costs a system call).
    """
    if loop is None:
        loop = asyncio.get_running_loop()
    task = asyncio.current_task(loop)
    limit = turn.profile.max_turn_seconds

    def time_out() -> None:
        # The failure is the store's decision, so it runs as its own task,
        # scheduled before the cancel reaches the turn's task: by the time the
        # engine sees the cancel, the turn is no longer the worker's.
        ending = loop.create_task(fail("turn_timeout", f"the turn took longer than {limit:g} seconds", None, None))
        _ending.add(ending)
        ending.add_done_callback(_ending.discard)
        if task is not None:
            task.cancel()

    timer = loop.call_later(limit, time_out)
    try:
        if engine.reads_history:
            await turn.load_history()
        result = check_result(await engine.run(turn))
        if turn.current:
            turn.flush_deltas()
            await complete(result)  # a failure in here too ends the turn (as engine_error)
    except asyncio.CancelledError:
        turn.discard_deltas()
        if not turn.current or (task is not None and task.cancelling()):
            raise  # cancel, stop, delete, shutdown or the deadline: already ended
        # Nobody cancelled the task: the engine raised it itself.
        await fail("engine_error", ENGINE_ERROR_MESSAGE, "CancelledError", None)
    except EngineFailed as exc:
        # The engine's own failure: its name in front, so it cannot speak for another engine.
        await fail(exc.code, exc.message, None, f"{engine.name}.{exc.reason}")
    except TurnFailed as exc:
        await fail(exc.code, exc.message, None, None)
    except GeneratorExit:
        raise  # the task's coroutine is being closed (its loop ended with it pending): write nothing
    except BaseException as exc:  # any exception of an engine ends its turn, never the server
        log.debug("engine %r failed in turn %d of worker %s", engine.name, turn.number, turn.worker_id, exc_info=exc)
        await fail("engine_error", ENGINE_ERROR_MESSAGE, type(exc).__name__, None)
    finally:
        timer.cancel()


async def end_instant_turn(
    worker: WorkerRecord,
    number: int,
    result: TurnResult,
    complete: Callable[[WorkerRecord, int, TurnResult], Coroutine[Any, Any, None]],
    fail: Callable[[WorkerRecord, int, str, str, str | None, str | None], Coroutine[Any, Any, None]],
) -> None:
    """End turn ``number`` of a builtin engine that ends at once, whose ``result`` was known when its input
    was accepted (decision 0257): what is left of the turn is the store's end of it.

    :func:`run_turn_task`'s rules for that part: the store writes the end only while
    the turn is the worker's; a cancel of the task that runs the rest (a store that
    suspended after all) is a cancel; any other exception ends the turn as ``engine_error``.

    :param complete: ``complete(worker, number, result)`` has the store write the reply and ``worker.turn_completed``.
    :param fail: ``fail(worker, number, code, message, cause, engine_code)`` has the store write ``worker.turn_failed``.
    """
    try:
        await complete(worker, number, result)  # the store writes nothing for a turn that is no longer the worker's
    except asyncio.CancelledError:
        # No task runs this unless it suspended; then a cancel reaches the task that runs the rest.
        task = asyncio.current_task()
        if not worker.in_turn(number) or (task is not None and task.cancelling()):
            raise
        await fail(worker, number, "engine_error", ENGINE_ERROR_MESSAGE, "CancelledError", None)
    except GeneratorExit:
        raise  # the coroutine is being closed (never run, or its loop ended): write nothing
    except BaseException as exc:  # the store's end of the turn failed: the turn still ends
        log.debug("the end of turn %d of worker %s failed", number, worker.worker_id, exc_info=exc)
        await fail(worker, number, "engine_error", ENGINE_ERROR_MESSAGE, type(exc).__name__, None)


#: Deadline failures being written (kept referenced until they end).
_ending: set[asyncio.Task[None]] = set()


class TurnTasks:
    """Every turn task that has not ended yet, cancelled ones included."""

    __slots__ = ("_tasks",)

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[None]] = set()

    def start(
        self, coroutine: Coroutine[Any, Any, None], loop: asyncio.AbstractEventLoop | None = None
    ) -> asyncio.Task[None]:
        """Run ``coroutine`` as a task on ``loop`` (the running one if not given), kept until it ends."""
        task = (loop or asyncio.get_running_loop()).create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def start_instant(self, coroutine: Coroutine[Any, Any, None], loop: asyncio.AbstractEventLoop) -> InstantTurn:
        """Run ``coroutine``, a turn that ends at once, in one callback of ``loop`` (see the module docstring)."""
        return InstantTurn(coroutine, loop, self)

    def __len__(self) -> int:
        return len(self._tasks)

    async def drain(self, timeout: float | None = None) -> int:
        """Cancel every task still running and wait up to ``timeout`` seconds
        (:data:`CLOSE_GRACE_SECONDS` if ``None``); return how many never ended.

        A task that outlives the wait belongs to an engine that ignores
        cancellation: its turn has ended already and it can write nothing.
        """
        if not self._tasks:
            return 0
        for task in self._tasks:
            task.cancel()
        wait = CLOSE_GRACE_SECONDS if timeout is None else timeout
        _done, pending = await asyncio.wait(set(self._tasks), timeout=wait)
        if pending:
            log.warning("%d turn task(s) ignored cancellation and were still running at close", len(pending))
        return len(pending)


_PENDING, _DONE, _CANCELLED = 0, 1, 2


class InstantTurn:
    """The handle of a turn that ends at once (decision 0247): what ``WorkerRecord.turn`` holds
    instead of a task, with the part of a task's interface the runtime and tests use.

    ``cancel()`` before its step means the step never runs; ``await`` waits until the turn's
    step has run (or was cancelled: then ``CancelledError``, as awaiting a cancelled task).
    """

    __slots__ = ("_call", "_coroutine", "_loop", "_rest", "_state", "_tasks", "_waiter")

    def __init__(self, coroutine: Coroutine[Any, Any, None], loop: asyncio.AbstractEventLoop, tasks: TurnTasks) -> None:
        self._loop = loop
        self._tasks = tasks
        self._state = _PENDING
        self._waiter: asyncio.Future[None] | None = None  # made only when someone awaits
        self._rest: asyncio.Task[None] | None = None  # the task of a turn that suspended after all
        self._coroutine: Coroutine[Any, Any, None] | None = coroutine
        # The handle refers to this object through its callback: cleared when it runs or is
        # cancelled, so no reference cycle outlives the step (decision 0243).
        self._call: asyncio.Handle | None = loop.call_soon(self._step)

    def _step(self) -> None:
        coroutine = self._coroutine
        self._call = self._coroutine = None
        if coroutine is None:
            return
        try:
            yielded = coroutine.send(None)
        except StopIteration:
            self._end(_DONE)
            return
        except BaseException as exc:  # a task would hold it as its exception: report it as the loop does
            self._end(_DONE)
            self._loop.call_exception_handler({"message": "a turn failed to end", "exception": exc})
            return
        # It suspended: the rest runs as a task, which close waits for like any other.
        self._rest = rest = self._tasks.start(_resumed(coroutine, yielded), self._loop)
        rest.add_done_callback(self._rest_ended)

    def _rest_ended(self, rest: asyncio.Task[None]) -> None:
        self._rest = None
        self._end(_CANCELLED if rest.cancelled() else _DONE)

    def _end(self, state: int) -> None:
        self._state = state
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            if state == _CANCELLED:
                waiter.cancel()
            else:
                waiter.set_result(None)

    def cancel(self, msg: Any = None) -> bool:
        """Cancel the turn: its step will not run (or its remaining task is cancelled); ``False`` if it ended."""
        if self._rest is not None:
            # Cancelled before its first step, the rest never resumes the turn's coroutine, which
            # is then closed with the task (GeneratorExit: it writes nothing). Every cancel comes
            # after the store ended the turn, so nothing is owed to it.
            return self._rest.cancel(msg)
        call = self._call
        if call is None:
            return False
        self._call = None
        call.cancel()
        if self._coroutine is not None:
            self._coroutine.close()  # never started: it runs nothing (and is not reported as never awaited)
            self._coroutine = None
        self._end(_CANCELLED)
        return True

    def cancelled(self) -> bool:
        """Whether the turn was cancelled before it ended."""
        return self._state == _CANCELLED

    def done(self) -> bool:
        """Whether the turn's step ran (or will never run)."""
        return self._state != _PENDING

    def __await__(self) -> Generator[Any, None, None]:
        if self._state == _PENDING:
            if self._waiter is None:
                self._waiter = self._loop.create_future()
            yield from self._waiter
        elif self._state == _CANCELLED:
            raise asyncio.CancelledError


@types.coroutine
def _resumed(coroutine: Coroutine[Any, Any, None], yielded: Any) -> Generator[Any, Any, None]:
    """The rest of ``coroutine``, which yielded ``yielded`` outside a task: a task drives this as
    it would have driven ``coroutine`` from there (what ``await`` does, from its second step)."""
    while True:
        try:
            sent = yield yielded
        except BaseException as exc:  # thrown in by the task: a cancel, or the close of the coroutine
            try:
                yielded = coroutine.throw(exc)
            except StopIteration:
                return
        else:
            try:
                yielded = coroutine.send(sent)
            except StopIteration:
                return
