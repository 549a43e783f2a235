"""The client's list filters (decision 0200) and a worker's totals (decision 0201), against a real server."""

from __future__ import annotations

import asyncio

import pytest

from registry_core import CreateWorkerRequest, MalformedRequest, WorkerTotals
from registry_core.models import ProfileSelector
from runtime_registry.client import RegistryClient

from .conftest import TOKEN

RUNTIME = "back-b"


@pytest.fixture
async def client(server):
    async with RegistryClient(server.base_url, token=TOKEN) as client:
        yield client


async def test_filters_take_one_value_or_several_and_the_iterators_read_every_page(client):
    echo = ProfileSelector("builtin:echo")
    made = [
        await client.create_worker(RUNTIME, CreateWorkerRequest(label=f"client-{n % 3}", profile=echo))
        for n in range(7)
    ]
    await client.stop_worker(RUNTIME, made[0].worker_id)
    one = await client.list_workers(RUNTIME, label="client-1")
    assert [w.worker_id for w in one.items] == [w.worker_id for w in made if w.label == "client-1"]
    several = [w.worker_id async for w in client.iter_workers(RUNTIME, page_size=1, label=("client-0", "client-2"))]
    assert several == [w.worker_id for w in made if w.label in ("client-0", "client-2")]
    idle = [w.worker_id async for w in client.iter_all_workers(page_size=2, label="client-0", status="idle")]
    assert idle == [w.worker_id for w in made if w.label == "client-0"][1:]
    overview = await client.list_all_workers(profile="builtin:echo", status=["stopped"], label="client-0")
    assert [(w.runtime_id, w.worker_id) for w in overview.items] == [(RUNTIME, made[0].worker_id)]
    with pytest.raises(MalformedRequest) as refused:
        await client.list_workers(RUNTIME, status="idle busy")
    assert refused.value.details[0]["path"] == "status"


async def test_a_workers_totals_count_its_turns(client):
    worker = await client.create_worker(RUNTIME, CreateWorkerRequest(profile=ProfileSelector("builtin:echo")))
    assert worker.totals == WorkerTotals(0, 0, 0)
    for text in ("one", "two"):
        await client.send_input(RUNTIME, worker.worker_id, text)
        async with asyncio.timeout(10):
            while (await client.get_worker(RUNTIME, worker.worker_id)).status != "idle":
                await asyncio.sleep(0.01)
    # echo reports no usage: turns count, tokens do not.
    assert (await client.get_worker(RUNTIME, worker.worker_id)).totals == WorkerTotals(2, 0, 0)
    listed = {w.worker_id: w.totals async for w in client.iter_workers(RUNTIME)}
    assert listed[worker.worker_id] == WorkerTotals(2, 0, 0)
