"""``Batched``: one call for every caller waiting, and never an answer older than its question (decision 0231)."""

from __future__ import annotations

import asyncio

import pytest

from runtime_registry.runtimes.embedded.postgres_batch import Batched


async def settle() -> None:
    """Let every ready task run (tasks start and hand over in a few loop steps)."""
    for _ in range(10):
        await asyncio.sleep(0)


class Source:
    """A value that callers ask for; each call records the keys it was given and answers after a gate."""

    def __init__(self) -> None:
        self.value = 0
        self.calls: list[list[int]] = []
        self.gate = asyncio.Event()
        self.fail: Exception | None = None

    async def __call__(self, keys: list[int]) -> dict[int, int]:
        self.calls.append(keys)
        read = self.value  # read when the call is sent, as a database round trip would
        await self.gate.wait()
        if self.fail is not None:
            raise self.fail
        return dict.fromkeys(keys, read)


async def test_callers_waiting_together_share_one_call() -> None:
    source = Source()
    batched = Batched(source)
    asks = [asyncio.create_task(batched.ask([n])) for n in range(10)]
    await settle()
    source.gate.set()
    answers = await asyncio.gather(*asks)
    assert len(source.calls) == 1 and sorted(source.calls[0]) == list(range(10))
    assert [answer[n] for n, answer in enumerate(answers)] == [0] * 10


async def test_a_caller_arriving_during_a_call_gets_the_next_one() -> None:
    """The read-your-writes rule: a write acknowledged before the question must be in its answer."""
    source = Source()
    batched = Batched(source)
    first = asyncio.create_task(batched.ask([1]))
    await settle()
    assert source.calls == [[1]]
    source.value = 5  # committed after the first call was sent
    second = asyncio.create_task(batched.ask([2]))
    await settle()
    source.gate.set()
    assert (await first)[1] == 0
    assert (await second)[2] == 5
    assert source.calls == [[1], [2]]


async def test_a_failure_reaches_every_caller_of_that_call_and_the_next_call_is_made() -> None:
    source = Source()
    batched = Batched(source)
    source.fail = ConnectionError("down")
    asks = [asyncio.create_task(batched.ask([n])) for n in range(3)]
    await settle()
    source.gate.set()
    for ask in asks:
        with pytest.raises(ConnectionError):
            await ask
    source.fail = None
    assert (await batched.ask([7]))[7] == 0


async def test_a_caller_that_goes_away_does_not_cancel_the_call_for_the_others() -> None:
    source = Source()
    batched = Batched(source)
    leaving = asyncio.create_task(batched.ask([1]))
    staying = asyncio.create_task(batched.ask([2]))
    await settle()
    leaving.cancel()
    await settle()
    source.gate.set()
    assert (await staying)[2] == 0
    assert leaving.cancelled()
    await batched.close()
