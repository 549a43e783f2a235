"""run_bounded: the eager-start timeout around provider calls."""

from __future__ import annotations

import asyncio

import pytest

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
