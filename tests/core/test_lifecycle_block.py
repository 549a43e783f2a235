"""registry_core.blocks.WorkerLifecycle: what the conformance suite cannot see from outside.

(The reference kind on it passes the whole suite: tests/mutants/.)
"""

from __future__ import annotations

import asyncio

import pytest

from registry_core import CapacityExceeded, CreateWorkerRequest, InputRequest, InvalidRequest, UnknownProfile
from registry_core.blocks import EventLog, TurnInput, WorkerLifecycle
from registry_core.event_contract import order_problems
from registry_core.models import InputContent


def lifecycle(turn, **options) -> WorkerLifecycle:
    return WorkerLifecycle("rt", "test-kind", EventLog(1000), turn=turn, **options)


def types(workers: WorkerLifecycle, worker_id: str) -> list[str]:
    return [event.type for event in workers.events.read(cursor=0, limit=1000, worker_id=worker_id).events]


async def test_a_turn_function_that_raises_fails_its_turn_with_a_code_and_no_text():
    async def broken(turn: TurnInput) -> str:
        raise OSError("cannot open /srv/secret/model.bin")

    workers = lifecycle(broken)
    worker = await workers.create_worker(CreateWorkerRequest())
    await workers.send_input(worker.worker_id, InputRequest(InputContent("hi")))
    await asyncio.sleep(0.01)
    events = workers.events.read(cursor=0, limit=100, worker_id=worker.worker_id).events
    assert events[-1].type == "worker.turn_failed" and events[-1].data == {"turn": 1, "code": "turn_error"}
    assert "/srv" not in repr(events)
    assert (await workers.get_worker(worker.worker_id)).status == "idle"


async def test_a_turn_function_that_ignores_cancellation_takes_no_effect():
    release = asyncio.Event()

    async def stubborn(turn: TurnInput) -> str:
        while True:
            try:
                await release.wait()
                return "too late"
            except asyncio.CancelledError:
                release.set()  # swallows the cancel and goes on to reply

    workers = lifecycle(stubborn)
    worker_id = (await workers.create_worker(CreateWorkerRequest())).worker_id
    await workers.send_input(worker_id, InputRequest(InputContent("hi")))
    await asyncio.sleep(0)
    assert (await workers.cancel_worker(worker_id)).changed is True
    await asyncio.sleep(0.01)
    events = workers.events.read(cursor=0, limit=100, worker_id=worker_id).events
    assert order_problems(events, finished=True) == []
    assert [e.type for e in events][-1] == "worker.turn_cancelled"
    assert len(workers._get(worker_id).transcript) == 1  # the input only: no reply


async def test_shutdown_ends_running_turns_with_reason_shutdown_and_wakes_waiters():
    async def slow(turn: TurnInput) -> str:
        await asyncio.sleep(10)
        return "never"

    workers = lifecycle(slow)
    worker_id = (await workers.create_worker(CreateWorkerRequest())).worker_id
    await workers.send_input(worker_id, InputRequest(InputContent("hi")))
    waiter = asyncio.ensure_future(workers.events.wait(cursor=workers.events.last_id, timeout=10))
    await workers.close()
    last = workers.events.read(cursor=0, limit=100, worker_id=worker_id).events[-1]
    assert (last.type, last.data) == ("worker.turn_cancelled", {"turn": 1, "reason": "shutdown"})
    assert await asyncio.wait_for(waiter, 1) is True


async def test_limits_profiles_and_the_turn_input():
    seen: list[TurnInput] = []

    async def record(turn: TurnInput) -> None:
        seen.append(turn)

    workers = lifecycle(record, profiles=("plain", "loud"), max_workers=1, max_input_chars=5)
    worker = await workers.create_worker(CreateWorkerRequest(profile="nope"))
    assert worker.profile == "plain" and [d.code for d in worker.diagnostics] == ["profile_fallback"]
    created = workers.events.read(cursor=0, limit=1).events[0]
    assert created.data == {"profile": "plain", "requested_profile": "nope"}
    workers.unknown_profile = "refuse"
    with pytest.raises(UnknownProfile, match="did you mean 'plain'"):
        await workers.create_worker(CreateWorkerRequest(profile="plan"))
    with pytest.raises(CapacityExceeded):
        await workers.create_worker(CreateWorkerRequest())
    with pytest.raises(InvalidRequest) as refused:
        await workers.send_input(worker.worker_id, InputRequest(InputContent("toolong")))
    assert refused.value.details[0]["path"] == "content"
    await workers.send_input(worker.worker_id, InputRequest(InputContent("one")))
    await asyncio.sleep(0)
    await workers.send_input(worker.worker_id, InputRequest(InputContent("two")))
    await asyncio.sleep(0)
    assert [(t.turn, t.content, t.profile, len(t.history)) for t in seen] == [
        (1, "one", "plain", 0),
        (2, "two", "plain", 1),
    ]
    assert types(workers, worker.worker_id)[-3:] == [
        "worker.input_accepted",
        "worker.turn_started",
        "worker.turn_completed",
    ]
    await workers.delete_worker(worker.worker_id)
    assert (await workers.create_worker(CreateWorkerRequest(profile="loud"))).profile == "loud"
