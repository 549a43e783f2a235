"""A turn that ends at once runs without a task (decision 0247), and is still a turn like any other.

``record`` and ``echo`` with no delay, on a store whose turn ends never
suspend (memory, SQLite), run in one step of the loop after the input:

- the worker is busy when the input is answered, and a cancel then sees the
  turn and ends it (decision 0006): the step never runs, nothing is written;
- the handle is awaitable (it returns when the turn has ended), cancellable,
  and says whether it was cancelled, like the task it replaces;
- closing the runtime cancels one that has not run, without a warning;
- a store that claims it but suspends after all still ends the turn (the rest
  runs as a task, which close waits for);
- a delay, another engine or another store keeps the task.
"""

from __future__ import annotations

import asyncio
import gc
import warnings

import pytest

from registry_core import TurnEngine, TurnResult
from registry_core.engines import EngineProfile
from runtime_registry.runtimes.embedded import EmbeddedRuntime, EmbeddedSettings, ProfileBase, ProfileSettings
from runtime_registry.runtimes.embedded.builtin_engines import ECHO, RECORD, ends_at_once, instant_result
from runtime_registry.runtimes.embedded.memory_store import MemoryStore
from runtime_registry.runtimes.embedded.turn_task import InstantTurn

PROFILES = {
    "echo": ProfileSettings(base=ProfileBase.ECHO),
    "slow": ProfileSettings(base=ProfileBase.ECHO, reply_delay_seconds=0.01),
}


def runtime(store=None) -> EmbeddedRuntime:
    return EmbeddedRuntime(EmbeddedSettings(profiles=PROFILES), store=store, event_start_id=1)


def types_of(rt: EmbeddedRuntime, worker_id: str) -> list[str]:
    return [e.type for e in rt.read_events(cursor=None, limit=100, worker_id=worker_id).events]


async def test_an_instant_turn_has_no_task_and_ends_in_the_next_step():
    rt = runtime()
    worker_id = (await rt.create_worker(profile="echo")).worker.worker_id
    tasks = len(asyncio.all_tasks())
    accepted = await rt.send_input(worker_id, "hello")
    turn = rt.get_worker(worker_id).turn
    assert isinstance(turn, InstantTurn) and not turn.done()
    assert accepted.status == "busy" and len(asyncio.all_tasks()) == tasks
    await asyncio.sleep(0)
    assert turn.done() and not turn.cancelled()
    assert rt.get_worker(worker_id).status == "idle" and rt.get_worker(worker_id).turn is None
    assert types_of(rt, worker_id)[-3:] == ["worker.turn_started", "worker.output", "worker.turn_completed"]
    await turn  # an ended turn's handle returns at once
    await rt.close()


async def test_a_cancel_after_the_answer_sees_the_busy_worker_and_the_step_never_runs():
    rt = runtime()
    worker_id = (await rt.create_worker(profile="echo")).worker.worker_id
    await rt.send_input(worker_id, "hello")
    turn = rt.get_worker(worker_id).turn
    outcome = await rt.cancel(worker_id)
    assert outcome.changed and outcome.status == "idle"
    assert turn.cancelled() and turn.done() and not turn.cancel()
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert types_of(rt, worker_id)[-1] == "worker.turn_cancelled"
    assert "worker.output" not in types_of(rt, worker_id)
    with pytest.raises(asyncio.CancelledError):
        await turn
    await rt.close()


async def test_awaiting_the_handle_waits_for_the_end_of_the_turn():
    rt = runtime()
    worker_id = (await rt.create_worker(profile="echo")).worker.worker_id
    await rt.send_input(worker_id, "hello")
    await _await(rt.get_worker(worker_id).turn)
    assert rt.get_worker(worker_id).status == "idle"
    assert types_of(rt, worker_id)[-1] == "worker.turn_completed"
    # Awaited, then cancelled before its step: the awaiting side sees the cancel.
    await rt.send_input(worker_id, "again")
    waiting = asyncio.ensure_future(_await(rt.get_worker(worker_id).turn))
    await rt.cancel(worker_id)
    with pytest.raises(asyncio.CancelledError):
        await waiting
    await rt.close()


async def _await(turn) -> None:
    await turn


async def test_close_cancels_a_turn_that_has_not_run_without_a_warning():
    rt = runtime()
    worker_id = (await rt.create_worker(profile="echo")).worker.worker_id
    await rt.send_input(worker_id, "hello")
    turn = rt.get_worker(worker_id).turn
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        await rt.close()
        del turn
        gc.collect()
    assert [str(w.message) for w in caught] == []  # no "coroutine ... was never awaited"
    assert types_of(rt, worker_id)[-1] == "worker.turn_cancelled"


class _SuspendingStore(MemoryStore):
    """Claims to end turns at once, then suspends in the middle of ending one."""

    async def complete_turn(self, worker, turn, reply, data):
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        return await super().complete_turn(worker, turn, reply, data)


async def test_a_turn_that_suspends_after_all_still_ends_and_close_waits_for_it():
    rt = runtime(_SuspendingStore())
    worker_id = (await rt.create_worker(profile="echo")).worker.worker_id
    await rt.send_input(worker_id, "hello")
    turn = rt.get_worker(worker_id).turn
    assert isinstance(turn, InstantTurn)
    await asyncio.sleep(0)
    assert not turn.done() and len(rt._turn_tasks) == 1  # its rest runs as a task
    await turn
    assert rt.get_worker(worker_id).status == "idle"
    assert types_of(rt, worker_id)[-2:] == ["worker.output", "worker.turn_completed"]
    # Cancelled while its rest runs: the rest's task is cancelled and nothing more is written.
    await rt.send_input(worker_id, "again")
    turn = rt.get_worker(worker_id).turn
    await asyncio.sleep(0)
    await rt.cancel(worker_id)
    with pytest.raises(asyncio.CancelledError):
        await turn
    assert turn.cancelled() and types_of(rt, worker_id)[-1] == "worker.turn_cancelled"
    await rt.close()
    assert len(rt._turn_tasks) == 0


async def test_a_cancel_of_the_rest_of_a_turn_is_a_cancel_not_an_engine_error():
    rt = runtime(_SuspendingStore())
    worker_id = (await rt.create_worker(profile="echo")).worker.worker_id
    await rt.send_input(worker_id, "hello")
    turn = rt.get_worker(worker_id).turn
    await asyncio.sleep(0)  # the step: it suspends, its rest becomes a task
    await asyncio.sleep(0)  # the rest's first step: it suspends again, inside the store
    assert turn.cancel()  # the rest, while the turn is still the worker's: as a cancel of a turn's task
    with pytest.raises(asyncio.CancelledError):
        await turn
    assert "worker.turn_failed" not in types_of(rt, worker_id)
    await rt.close()


class _SlowEndingStore(MemoryStore):
    ends_turns_at_once = False


async def test_a_delay_or_a_store_that_may_suspend_keeps_the_task():
    rt = runtime()
    slow = (await rt.create_worker(profile="slow")).worker.worker_id
    await rt.send_input(slow, "hello")
    assert isinstance(rt.get_worker(slow).turn, asyncio.Task)
    await rt.close()
    rt = runtime(_SlowEndingStore())
    worker_id = (await rt.create_worker(profile="echo")).worker.worker_id
    await rt.send_input(worker_id, "hello")
    assert isinstance(rt.get_worker(worker_id).turn, asyncio.Task)
    await rt.get_worker(worker_id).turn
    assert rt.get_worker(worker_id).status == "idle"
    await rt.close()


def _profile(delay: float) -> EngineProfile:
    return EngineProfile(name="p", engine="echo", reply_delay_seconds=delay)


async def _other(turn) -> TurnResult:
    return TurnResult(None)


def test_only_the_builtin_engines_without_a_delay_end_at_once():
    assert ends_at_once(RECORD, _profile(0)) and ends_at_once(ECHO, _profile(0.0))
    assert not ends_at_once(ECHO, _profile(0.5))
    # An engine that does the same is still a plugin's: it may suspend, use the current task, or a deadline.
    assert not ends_at_once(TurnEngine("record", _other), _profile(0))


class _Turn:
    """What the builtin engines read of a turn: its input and its profile."""

    def __init__(self, text: str) -> None:
        self.input = text
        self.profile = _profile(0)


@pytest.mark.parametrize("text", ["hello", "", "ü 🎉 \n", "x" * 5000])
async def test_an_instant_turns_result_is_what_its_engine_returns(text):
    """Decision 0257: the runtime ends such a turn with ``instant_result``, not the engine's coroutine."""
    for engine in (RECORD, ECHO):
        assert instant_result(engine, text) == await engine.run(_Turn(text))  # type: ignore[arg-type]
    assert instant_result(ECHO, text).text is text
    with pytest.raises(ValueError):
        instant_result(TurnEngine("echo", _other), text)


class _FailingEndStore(MemoryStore):
    """Ends turns at once, but its end of the next turn raises ``error`` (once)."""

    error: BaseException | None = None

    async def complete_turn(self, worker, turn, reply, data):
        error, self.error = self.error, None
        if error is not None:
            raise error
        return await super().complete_turn(worker, turn, reply, data)


@pytest.mark.parametrize("error", [RuntimeError("the store broke"), asyncio.CancelledError()])
async def test_an_instant_turn_whose_end_fails_still_ends_as_an_engine_error(error, caplog):
    """A failure of the store's end of the turn (or a cancel nobody asked for) ends it with
    ``worker.turn_failed`` (``engine_error``) and one warning line, as a turn's task does; the worker takes input."""
    store = _FailingEndStore()
    rt = runtime(store)
    worker_id = (await rt.create_worker(profile="echo")).worker.worker_id
    store.error = error
    with caplog.at_level("WARNING", logger="runtime_registry.runtimes.embedded.turns"):
        await rt.send_input(worker_id, "hello")
        await asyncio.sleep(0)
    assert rt.get_worker(worker_id).status == "idle" and rt.get_worker(worker_id).turn is None
    failed = rt.read_events(cursor=None, limit=100, worker_id=worker_id).events[-1]
    assert failed.type == "worker.turn_failed" and failed.data["code"] == "engine_error"
    warnings_ = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings_) == 1 and f"cause={type(error).__name__}" in warnings_[0]
    await rt.send_input(worker_id, "again")
    await asyncio.sleep(0)
    assert types_of(rt, worker_id)[-1] == "worker.turn_completed"
    await rt.close()
