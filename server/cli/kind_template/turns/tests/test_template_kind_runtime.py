"""What the ``template-kind`` kind does, through a RuntimeRegistry as the server calls it."""

import asyncio

import pytest
from registry_core import (
    CreateWorkerRequest,
    InputRequest,
    WorkerBusy,
    data_problems,
    order_problems,
)
from runtime_registry.host import RuntimeRegistry

from template_kind_runtime import TemplateKindProvider, TemplateKindSettings


@pytest.fixture
async def registry():
    registry = RuntimeRegistry()
    registry.register(TemplateKindProvider("test", TemplateKindSettings(turn_seconds=0.2)))
    async with registry:
        yield registry


async def idle(registry, worker_id):
    while (await registry.get_worker("test", worker_id)).status == "busy":
        await asyncio.sleep(0.01)


async def test_a_worker_answers_its_input_when_the_turn_ends(registry):
    worker = await registry.create_worker("test", CreateWorkerRequest())
    accepted = await registry.send_input("test", worker.worker_id, InputRequest("hello"))
    assert accepted.status == "busy"
    with pytest.raises(WorkerBusy):
        await registry.send_input("test", worker.worker_id, InputRequest("again"))
    await idle(registry, worker.worker_id)
    page = await registry.read_transcript("test", worker.worker_id)
    assert [(entry.role, entry.content) for entry in page.items] == [("user", "hello"), ("assistant", "hello")]


async def test_a_cancelled_turn_leaves_no_reply_and_the_events_hold_to_the_contract(registry):
    worker = await registry.create_worker("test", CreateWorkerRequest())
    await registry.send_input("test", worker.worker_id, InputRequest("hello"))
    assert (await registry.cancel_worker("test", worker.worker_id)).changed is True
    await asyncio.sleep(0.3)
    assert (await registry.read_transcript("test", worker.worker_id)).total == 1
    await registry.delete_worker("test", worker.worker_id)
    events = (await registry.read_events("test", cursor=0)).events
    assert [problem for event in events for problem in data_problems(event, kind="template-kind")] == []
    assert order_problems(events, finished=True) == []
    assert events[-1].type == "worker.deleted"
