"""The client calls every route of a real server and returns exactly the models the server rendered."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from registry_core import (
    CreateWorkerRequest,
    EventPage,
    InputKind,
    Intent,
    IntentKind,
    PluginState,
    RuntimeStatus,
    Worker,
    unstructure,
)
from registry_core.models import Label, LongText, ProfileSelector
from runtime_registry.client import RegistryClient

from .conftest import TOKEN

RUNTIME = "back-a"


@pytest.fixture
async def client(server):
    async with RegistryClient(server.base_url, token=TOKEN) as client:
        yield client


@pytest.fixture
async def raw(server):
    async with httpx.AsyncClient(base_url=server.base_url, headers={"Authorization": f"Bearer {TOKEN}"}) as raw:
        yield raw


async def test_health_openapi_and_plugins(client):
    assert await client.health() is True
    document = await client.openapi()
    assert document["openapi"].startswith("3.1") and "/api/runtimes/{runtime_id}/workers" in document["paths"]
    plugins = {plugin.name: plugin for plugin in await client.list_plugins()}
    assert plugins["embedded"].state is PluginState.LOADED
    assert "remote" in plugins


async def test_runtimes_are_the_servers_summaries(client, raw):
    runtimes = await client.list_runtimes()
    assert unstructure(runtimes) == (await raw.get("/api/runtimes")).json()
    summary = await client.get_runtime(RUNTIME)
    assert unstructure(summary) == (await raw.get(f"/api/runtimes/{RUNTIME}")).json()
    assert summary.status is RuntimeStatus.RUNNING
    assert (await client.get_runtime("ghost")).status is RuntimeStatus.UNAVAILABLE


async def test_profiles_are_the_servers_list(client, raw):
    profiles = await client.list_profiles(RUNTIME)
    assert unstructure(profiles) == (await raw.get(f"/api/runtimes/{RUNTIME}/profiles")).json()
    assert profiles.runtime_id == RUNTIME
    assert [p.name for p in profiles.items if p.default] == ["builtin:default"]


async def test_a_worker_through_its_whole_life(client, raw):
    request = CreateWorkerRequest(
        intent=Intent(IntentKind.TASK, objective=LongText("check the client")),
        profile=ProfileSelector("builtin:echo"),
        label=Label("client"),
    )
    worker = await client.create_worker(RUNTIME, request)
    assert isinstance(worker, Worker) and worker.label == "client" and worker.intent.kind is IntentKind.TASK
    path = f"/api/runtimes/{RUNTIME}/workers/{worker.worker_id}"
    assert unstructure(await client.get_worker(RUNTIME, worker.worker_id)) == (await raw.get(path)).json()

    accepted = await client.send_input(RUNTIME, worker.worker_id, "hello", kind=InputKind.USER)
    assert accepted.transcript_sequence == 1 and accepted.runtime_id == RUNTIME
    await _until_idle(client, worker.worker_id)
    transcript = await client.read_transcript(RUNTIME, worker.worker_id, start=1, limit=10)
    assert unstructure(transcript) == (await raw.get(path + "/transcript", params={"start": 1, "limit": 10})).json()
    assert [entry.content for entry in transcript.items] == ["hello", "hello"]

    events = await client.read_events(RUNTIME, worker_id=worker.worker_id)
    assert isinstance(events, EventPage) and events.events[0].type == "worker.created"
    assert accepted.event_id in [event.id for event in events.events]
    runtime_events = await client.read_events(RUNTIME, cursor=events.events[0].id - 1, limit=1)
    assert runtime_events.events[0].id == events.events[0].id

    assert (await client.cancel_worker(RUNTIME, worker.worker_id)).action == "cancel"
    stopped = await client.stop_worker(RUNTIME, worker.worker_id)
    assert (stopped.action, stopped.status) == ("stop", "stopped")
    deleted = await client.delete_worker(RUNTIME, worker.worker_id)
    assert (deleted.action, deleted.changed) == ("delete", True)


async def test_an_empty_create_is_the_runtimes_default(client):
    worker = await client.create_worker("back-b")
    assert worker.profile == "builtin:default" and worker.runtime_id == "back-b"


async def test_pages_iterate_over_every_worker_transcript_entry_and_event(client):
    created = [await client.create_worker("back-b") for _ in range(5)]
    listed = [worker.worker_id async for worker in client.iter_workers("back-b", page_size=2)]
    assert [worker.worker_id for worker in created] == [w for w in listed if w in {c.worker_id for c in created}]
    overview = [(worker.runtime_id, worker.worker_id) async for worker in client.iter_all_workers(page_size=3)]
    assert {("back-b", worker.worker_id) for worker in created} <= set(overview)
    assert len(overview) == len(set(overview))

    worker = created[0]
    for text in ("one", "two", "three"):
        await client.send_input("back-b", worker.worker_id, text)
    entries = [entry.sequence async for entry in client.iter_transcript("back-b", worker.worker_id, page_size=2)]
    assert entries == [1, 2, 3]
    every = [event.id async for event in client.iter_events("back-b", page_size=2)]
    assert every == sorted(set(every))
    assert every == [event.id for event in (await client.read_events("back-b", limit=1000)).events]


async def _until_idle(client: RegistryClient, worker_id: str) -> None:
    for _ in range(200):
        if (await client.get_worker(RUNTIME, worker_id)).status == "idle":
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the worker stayed busy")


#: Every route of the contract and the client method that calls it.
CLIENT_METHOD_OF_ROUTE = {
    ("get", "/healthz"): "health",
    ("get", "/openapi.json"): "openapi",
    ("get", "/api/plugins"): "list_plugins",
    ("get", "/api/runtimes"): "list_runtimes",
    ("get", "/api/runtimes/{runtime_id}"): "get_runtime",
    ("get", "/api/runtimes/{runtime_id}/profiles"): "list_profiles",
    ("get", "/api/runtimes/{runtime_id}/workers"): "list_workers",
    ("post", "/api/runtimes/{runtime_id}/workers"): "create_worker",
    ("get", "/api/runtimes/{runtime_id}/workers/{worker_id}"): "get_worker",
    ("delete", "/api/runtimes/{runtime_id}/workers/{worker_id}"): "delete_worker",
    ("post", "/api/runtimes/{runtime_id}/workers/{worker_id}/input"): "send_input",
    ("post", "/api/runtimes/{runtime_id}/workers/{worker_id}/cancel"): "cancel_worker",
    ("post", "/api/runtimes/{runtime_id}/workers/{worker_id}/stop"): "stop_worker",
    ("get", "/api/runtimes/{runtime_id}/workers/{worker_id}/transcript"): "read_transcript",
    ("get", "/api/runtimes/{runtime_id}/events"): "read_events",
    ("get", "/api/runtimes/{runtime_id}/workers/{worker_id}/events"): "read_events",
    ("get", "/api/runtimes/{runtime_id}/events/stream"): "subscribe",
    ("get", "/api/workers"): "list_all_workers",
}
#: Routes for load balancers and Prometheus, not for a client of the API.
NOT_FOR_THE_CLIENT = {("get", "/readyz"), ("get", "/metrics")}


async def test_the_client_has_a_method_for_every_route_the_server_documents(client):
    document = await client.openapi()
    routes = {
        (method, path)
        for path, operations in document["paths"].items()
        for method in operations
        if method in ("get", "post", "delete", "put", "patch")
    }
    assert routes - NOT_FOR_THE_CLIENT == set(CLIENT_METHOD_OF_ROUTE)
    assert all(callable(getattr(client, name)) for name in CLIENT_METHOD_OF_ROUTE.values())
