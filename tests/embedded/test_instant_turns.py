"""Instant turns (no reply delay) end a few steps of the event loop later and can be cancelled until then."""

from __future__ import annotations

import asyncio

from registry_core import CreateWorkerRequest, InputRequest
from registry_core.models import InputContent, ProfileSelector
from runtime_registry.plugins.embedded import EmbeddedProvider

from .conftest import A, create, event_types, send, settings, until_idle


async def test_an_instant_turn_ends_within_a_few_steps_of_the_loop(registry):
    worker_id = await create(registry, "echo-now")
    await send(registry, worker_id, "ping")
    for _ in range(3):  # the turn's task starts, the engine yields once, the turn ends
        await asyncio.sleep(0)
    assert (await registry.get_worker(A, worker_id)).status == "idle"


async def test_a_cancelled_instant_turn_never_replies_or_completes(registry):
    worker_id = await create(registry, "echo-now")
    await send(registry, worker_id, "ping")
    await registry.cancel_worker(A, worker_id)
    await asyncio.sleep(0.01)
    assert [e.role for e in (await registry.read_transcript(A, worker_id)).items] == ["user"]
    assert (await event_types(registry, worker_id))[-1] == "worker.turn_cancelled"


async def test_a_stopped_instant_turn_never_completes(registry):
    worker_id = await create(registry, "echo-now")
    await send(registry, worker_id, "ping")
    await registry.stop_worker(A, worker_id)
    await asyncio.sleep(0.01)
    assert (await event_types(registry, worker_id))[-2:] == ["worker.turn_cancelled", "worker.stopped"]


async def test_input_after_cancelling_an_instant_turn_is_answered_once(registry):
    worker_id = await create(registry, "echo-now")
    await send(registry, worker_id, "first")
    await registry.cancel_worker(A, worker_id)
    await send(registry, worker_id, "second")
    await until_idle(registry, worker_id)
    page = await registry.read_transcript(A, worker_id)
    assert [(e.role, e.content) for e in page.items] == [("user", "first"), ("user", "second"), ("assistant", "second")]


async def test_close_cancels_an_instant_turn_that_has_not_ended():
    provider = EmbeddedProvider(A, settings())
    created = await provider.create_worker(CreateWorkerRequest(profile=ProfileSelector("echo-now")))
    await provider.send_input(created.worker_id, InputRequest(InputContent("x")))
    async with asyncio.timeout(1):
        await provider.close()
    await asyncio.sleep(0.01)
    page = await provider.read_events(cursor=None, limit=10, worker_id=created.worker_id)
    assert [(e.type, e.data.get("reason")) for e in page.events[-1:]] == [("worker.turn_cancelled", "shutdown")]
