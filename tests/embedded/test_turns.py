"""Turns: input, busy, cancel, stop, and the runtime's close."""

from __future__ import annotations

import asyncio

import pytest

from registry_core import CreateWorkerRequest, InputKind, InputRequest, WorkerBusy, WorkerStopped
from registry_core.models import InputContent, ProfileSelector
from runtime_registry.plugins.embedded import EmbeddedProvider

from .conftest import A, create, event_types, send, settings, until_idle


async def test_input_is_accepted_into_the_transcript_and_the_worker_is_busy(registry):
    worker_id = await create(registry)
    accepted = await send(registry, worker_id, "hello")
    assert (accepted.runtime_id, accepted.worker_id, accepted.transcript_sequence, accepted.status) == (
        A,
        worker_id,
        1,
        "busy",
    )
    assert (await registry.get_worker(A, worker_id)).status == "busy"


async def test_default_profile_turn_completes_without_a_reply(registry):
    worker_id = await create(registry)
    await send(registry, worker_id, "hello")
    await until_idle(registry, worker_id)
    page = await registry.read_transcript(A, worker_id)
    assert [(e.role, e.content) for e in page.items] == [("user", "hello")]
    assert await event_types(registry, worker_id) == [
        "worker.created",
        "worker.input_accepted",
        "worker.turn_started",
        "worker.turn_completed",
    ]


async def test_echo_profile_replies_with_an_assistant_entry_repeating_the_input(registry):
    worker_id = await create(registry, "builtin:echo")
    await send(registry, worker_id, "ping")
    await until_idle(registry, worker_id)
    page = await registry.read_transcript(A, worker_id)
    assert [(e.sequence, e.role, e.content) for e in page.items] == [(1, "user", "ping"), (2, "assistant", "ping")]
    assert await event_types(registry, worker_id) == [
        "worker.created",
        "worker.input_accepted",
        "worker.turn_started",
        "worker.output",
        "worker.turn_completed",
    ]


async def test_transcript_entries_point_at_their_events(registry):
    worker_id = await create(registry, "builtin:echo")
    accepted = await send(registry, worker_id, "ping")
    await until_idle(registry, worker_id)
    entries = (await registry.read_transcript(A, worker_id)).items
    events = {e.id: e for e in (await registry.read_events(A, worker_id=worker_id)).events}
    assert entries[0].event_id == accepted.event_id
    assert events[entries[0].event_id].type == "worker.input_accepted"
    assert events[entries[1].event_id].data == {"transcript_sequence": 2, "role": "assistant", "content": "ping"}


async def test_system_input_is_recorded_with_the_system_role(registry):
    worker_id = await create(registry)
    await registry.send_input(A, worker_id, InputRequest(InputContent("be brief"), InputKind.SYSTEM))
    assert (await registry.read_transcript(A, worker_id)).items[0].role == "system"


async def test_delayed_profile_stays_busy_until_its_delay_has_passed(registry):
    worker_id = await create(registry, "brief")
    await send(registry, worker_id)
    await asyncio.sleep(0.01)
    assert (await registry.get_worker(A, worker_id)).status == "busy"
    await until_idle(registry, worker_id)
    assert (await registry.get_worker(A, worker_id)).transcript_length == 2


async def test_input_while_busy_is_refused_and_not_queued(registry):
    worker_id = await create(registry, "hold")
    await send(registry, worker_id, "first")
    with pytest.raises(WorkerBusy) as caught:
        await send(registry, worker_id, "second")
    assert (caught.value.runtime_id, caught.value.worker_id) == (A, worker_id)
    assert [e.content for e in (await registry.read_transcript(A, worker_id)).items] == ["first"]


@pytest.mark.parametrize("profile", ["builtin:default", "hold"])
async def test_of_fifty_concurrent_inputs_to_an_idle_worker_exactly_one_is_accepted(registry, profile):
    worker_id = await create(registry, profile)
    results = await asyncio.gather(*(send(registry, worker_id, f"n{i}") for i in range(50)), return_exceptions=True)
    accepted = [r for r in results if not isinstance(r, BaseException)]
    refused = [r for r in results if isinstance(r, BaseException)]
    assert len(accepted) == 1 and len(refused) == 49
    assert all(isinstance(r, WorkerBusy) for r in refused)
    assert (await registry.get_worker(A, worker_id)).transcript_length == 1


async def test_worker_takes_input_again_after_its_turn(registry):
    worker_id = await create(registry, "builtin:echo")
    for content in ("one", "two", "three"):
        await send(registry, worker_id, content)
        await until_idle(registry, worker_id)
    page = await registry.read_transcript(A, worker_id)
    assert [e.sequence for e in page.items] == [1, 2, 3, 4, 5, 6] and page.total == 6


async def test_cancel_ends_the_turn_and_leaves_the_worker_usable(registry):
    worker_id = await create(registry, "hold")
    await send(registry, worker_id, "first")
    result = await registry.cancel_worker(A, worker_id)
    assert (result.action, result.changed, result.status) == ("cancel", True, "idle")
    accepted = await send(registry, worker_id, "second")
    assert accepted.transcript_sequence == 2
    types = await event_types(registry, worker_id)
    assert types == [
        "worker.created",
        "worker.input_accepted",
        "worker.turn_started",
        "worker.turn_cancelled",
        "worker.input_accepted",
        "worker.turn_started",
    ]


async def test_a_cancelled_turn_never_replies(registry):
    worker_id = await create(registry, "brief")
    await send(registry, worker_id, "ping")
    await registry.cancel_worker(A, worker_id)
    await asyncio.sleep(0.1)
    assert [e.role for e in (await registry.read_transcript(A, worker_id)).items] == ["user"]
    assert "worker.output" not in await event_types(registry, worker_id)


async def test_cancel_of_an_idle_worker_is_a_no_op(registry):
    worker_id = await create(registry)
    result = await registry.cancel_worker(A, worker_id)
    assert (result.changed, result.status) == (False, "idle")
    assert await event_types(registry, worker_id) == ["worker.created"]


async def test_turn_cancelled_event_says_which_turn_and_why(registry):
    worker_id = await create(registry, "hold")
    await send(registry, worker_id)
    await registry.cancel_worker(A, worker_id)
    page = await registry.read_events(A, worker_id=worker_id)
    assert page.events[-1].data == {"turn": 1, "reason": "cancel"}


async def test_stop_cancels_the_turn_and_stops_the_worker_for_good(registry):
    worker_id = await create(registry, "hold")
    await send(registry, worker_id)
    result = await registry.stop_worker(A, worker_id)
    assert (result.action, result.changed, result.status) == ("stop", True, "stopped")
    assert (await registry.get_worker(A, worker_id)).status == "stopped"
    assert (await event_types(registry, worker_id))[-2:] == ["worker.turn_cancelled", "worker.stopped"]


async def test_stop_is_idempotent(registry):
    worker_id = await create(registry)
    await registry.stop_worker(A, worker_id)
    again = await registry.stop_worker(A, worker_id)
    assert (again.changed, again.status) == (False, "stopped")
    assert (await event_types(registry, worker_id)).count("worker.stopped") == 1


async def test_input_to_a_stopped_worker_is_worker_stopped(registry):
    worker_id = await create(registry)
    await registry.stop_worker(A, worker_id)
    with pytest.raises(WorkerStopped):
        await send(registry, worker_id)


async def test_cancel_of_a_stopped_worker_is_worker_stopped(registry):
    worker_id = await create(registry)
    await registry.stop_worker(A, worker_id)
    with pytest.raises(WorkerStopped):
        await registry.cancel_worker(A, worker_id)


async def test_a_stopped_worker_stays_readable(registry):
    worker_id = await create(registry, "builtin:echo")
    await send(registry, worker_id, "kept")
    await until_idle(registry, worker_id)
    await registry.stop_worker(A, worker_id)
    assert [e.content for e in (await registry.read_transcript(A, worker_id)).items] == ["kept", "kept"]
    assert worker_id in [w.worker_id for w in (await registry.list_workers(A)).items]


async def test_close_cancels_in_flight_turns_promptly():
    provider = EmbeddedProvider(A, settings())
    created = await provider.create_worker(CreateWorkerRequest(profile=ProfileSelector("hold")))
    await provider.send_input(created.worker_id, InputRequest(InputContent("x")))
    turn = provider.runtime.get_worker(created.worker_id).turn
    async with asyncio.timeout(1):
        await provider.close()
    assert turn.cancelled()
    assert (await provider.describe()).status.value == "stopped"
    page = await provider.read_events(cursor=None, limit=10, worker_id=created.worker_id)
    assert page.events[-1].data == {"turn": 1, "reason": "shutdown"}
