"""What the ``template-kind`` kind does, through a RuntimeRegistry as the server calls it."""

import pytest
from registry_core import (
    CapacityExceeded,
    CreateWorkerRequest,
    InputRequest,
    WorkerStopped,
    data_problems,
    order_problems,
)
from runtime_registry.host import RuntimeRegistry

from template_kind_runtime import TemplateKindProvider, TemplateKindSettings


@pytest.fixture
async def registry():
    registry = RuntimeRegistry()
    registry.register(TemplateKindProvider("test", TemplateKindSettings(max_transcript_entries=4)))
    async with registry:
        yield registry


async def test_a_worker_answers_its_input(registry):
    worker = await registry.create_worker("test", CreateWorkerRequest())
    await registry.send_input("test", worker.worker_id, InputRequest("hello"))
    page = await registry.read_transcript("test", worker.worker_id)
    assert [(entry.role, entry.content) for entry in page.items] == [("user", "hello"), ("assistant", "hello")]


async def test_a_full_transcript_refuses_the_next_turn(registry):
    worker = await registry.create_worker("test", CreateWorkerRequest())
    for text in ("one", "two"):
        await registry.send_input("test", worker.worker_id, InputRequest(text))
    with pytest.raises(CapacityExceeded):
        await registry.send_input("test", worker.worker_id, InputRequest("three"))


async def test_a_stopped_worker_takes_no_input(registry):
    worker = await registry.create_worker("test", CreateWorkerRequest())
    await registry.stop_worker("test", worker.worker_id)
    with pytest.raises(WorkerStopped):
        await registry.send_input("test", worker.worker_id, InputRequest("late"))


async def test_the_events_hold_to_the_event_contract(registry):
    worker = await registry.create_worker("test", CreateWorkerRequest())
    await registry.send_input("test", worker.worker_id, InputRequest("hello"))
    await registry.delete_worker("test", worker.worker_id)
    events = (await registry.read_events("test", cursor=0)).events
    assert [problem for event in events for problem in data_problems(event, kind="template-kind")] == []
    assert order_problems(events) == []
