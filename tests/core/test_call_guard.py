"""run_bounded: the eager-start timeout around provider calls."""

from __future__ import annotations

import asyncio
import gc
import weakref

import pytest

from runtime_registry.host import call_guard
from runtime_registry.host.call_guard import run_bounded


async def answer_now():
    return 42


async def answer_later(delay: float):
    await asyncio.sleep(delay)
    return "later"


async def fail_later():
    await asyncio.sleep(0)
    raise KeyError("k")


async def test_call_that_never_waits_returns_its_value():
    assert await run_bounded(answer_now(), 0.01) == 42


async def test_call_that_waits_returns_its_value():
    assert await run_bounded(answer_later(0.01), 1) == "later"


async def test_call_that_waits_too_long_times_out():
    with pytest.raises(TimeoutError):
        await run_bounded(answer_later(5), 0.02)


async def test_exception_after_waiting_propagates():
    with pytest.raises(KeyError):
        await run_bounded(fail_later(), 1)


async def test_outside_cancellation_reaches_the_call_and_is_not_a_timeout():
    reached = asyncio.Event()
    cleaned_up = []

    async def slow():
        try:
            reached.set()
            await asyncio.sleep(5)
        finally:
            cleaned_up.append(True)

    task = asyncio.create_task(run_bounded(slow(), 10))
    await reached.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert cleaned_up == [True]


async def test_timeout_cancels_the_call_so_its_cleanup_runs():
    cleaned_up = []

    async def slow():
        try:
            await asyncio.sleep(5)
        finally:
            cleaned_up.append(True)

    with pytest.raises(TimeoutError):
        await run_bounded(slow(), 0.01)
    assert cleaned_up == [True]


# -- the deadline queue (decision 0266) ------------------------------------------------


async def test_only_the_call_past_its_deadline_times_out_among_many():
    release = asyncio.Event()

    async def waits_for_release():
        await release.wait()
        return "released"

    stuck = asyncio.create_task(run_bounded(answer_later(5), 0.05))
    others = [asyncio.create_task(run_bounded(waits_for_release(), 0.05)) for _ in range(20)]
    await asyncio.sleep(0.01)
    release.set()
    assert await asyncio.gather(*others) == ["released"] * 20
    with pytest.raises(TimeoutError):
        await stuck


async def test_a_call_finished_behind_an_unfinished_one_is_never_cancelled():
    # The older call holds the front of the queue; the newer one finishes meanwhile. Its task goes
    # on to other work past the newer call's deadline, and must not be cancelled there.
    async def finishes_then_works_on():
        assert await run_bounded(answer_later(0.01), 0.05) == "later"
        await asyncio.sleep(0.1)
        return "still running"

    async def slow_to_give_up():
        try:
            await asyncio.sleep(5)
        except asyncio.CancelledError:
            await asyncio.sleep(0.05)  # still in the queue's past when the newer call's deadline comes
            raise

    older = asyncio.create_task(run_bounded(slow_to_give_up(), 0.05))
    await asyncio.sleep(0.01)
    newer = asyncio.create_task(finishes_then_works_on())
    with pytest.raises(TimeoutError):
        await older
    assert await newer == "still running"
    assert await run_bounded(answer_later(0.01), 0.05) == "later"  # the queue still works after an expiry


async def test_each_call_gets_its_whole_timeout_after_an_older_one_expired():
    first = asyncio.create_task(run_bounded(answer_later(5), 0.03))
    await asyncio.sleep(0.02)
    second = asyncio.create_task(run_bounded(answer_later(0.04), 0.06))  # its own timeout: another queue
    third = asyncio.create_task(run_bounded(answer_later(0.025), 0.03))  # started 0.02 s after the first
    with pytest.raises(TimeoutError):
        await first
    assert await third == "later"
    assert await second == "later"


async def test_finished_calls_are_not_kept():
    loop = asyncio.get_running_loop()
    for _ in range(200):
        assert await run_bounded(answer_later(0), 30) == "later"
    assert len(call_guard._deadlines(loop, 30).calls) == 0


async def test_a_call_that_swallows_the_timeout_answers_and_leaves_the_task_uncancelled():
    async def stubborn():
        try:
            await asyncio.sleep(5)
        except asyncio.CancelledError:
            return "answered anyway"

    assert await run_bounded(stubborn(), 0.01) == "answered anyway"
    task = asyncio.current_task()
    assert task is not None and task.cancelling() == 0
    await asyncio.sleep(0)  # a cancellation left pending would be raised here


async def test_a_call_that_turns_the_timeout_into_its_own_error_leaves_the_task_uncancelled():
    async def translating():
        try:
            await asyncio.sleep(5)
        except asyncio.CancelledError:
            raise LookupError("gave up") from None

    with pytest.raises(LookupError):
        await run_bounded(translating(), 0.01)
    task = asyncio.current_task()
    assert task is not None and task.cancelling() == 0


async def test_an_outside_cancel_during_the_timeouts_cleanup_stays_a_cancel():
    cleaning = asyncio.Event()

    async def slow_cleanup():
        try:
            await asyncio.sleep(5)
        except asyncio.CancelledError:
            cleaning.set()
            await asyncio.sleep(5)  # the outside cancel arrives here
            raise

    task = asyncio.create_task(run_bounded(slow_cleanup(), 0.01))
    await cleaning.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


def test_a_closed_loop_is_not_kept_by_its_deadlines():
    loop = asyncio.new_event_loop()
    try:
        assert loop.run_until_complete(run_bounded(answer_later(0), 30)) == "later"
    finally:
        loop.close()
    gone = weakref.ref(loop)
    del loop
    gc.collect()
    assert gone() is None


async def test_run_bounded_outside_a_task_is_refused_and_closes_the_call():
    loop = asyncio.get_running_loop()
    refused: asyncio.Future[str] = loop.create_future()
    closed = []

    async def call():
        try:
            await asyncio.sleep(5)
        finally:
            closed.append(True)

    def drive_by_hand() -> None:  # a loop callback: no task runs it
        coroutine = run_bounded(call(), 1)
        try:
            coroutine.send(None)
        except RuntimeError as exc:
            refused.set_result(str(exc))

    loop.call_soon(drive_by_hand)
    assert "in a task" in await refused
    assert closed == [True]


async def test_every_stuck_call_times_out_in_turn_and_later_ones_still_do():
    first = asyncio.create_task(run_bounded(answer_later(5), 0.02))
    await asyncio.sleep(0.01)
    second = asyncio.create_task(run_bounded(answer_later(5), 0.02))
    for stuck in (first, second):
        with pytest.raises(TimeoutError):
            await stuck
    with pytest.raises(TimeoutError):  # the queue's timer is set again for a call after the expiries
        await run_bounded(answer_later(5), 0.02)
