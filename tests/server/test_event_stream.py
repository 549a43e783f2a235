"""The live event stream: framing, live delivery, resume, heartbeats, expiry and closing."""

from __future__ import annotations

import asyncio

import jsonschema_rs
import pytest

from runtime_registry.server.app import create_app
from runtime_registry.server.openapi import build_openapi

from .asgi_stream import streaming_get
from .conftest import OTHER, RUNTIME, create_worker, embedded_assembly, error_of, serving

STREAM = f"/api/runtimes/{RUNTIME}/events/stream"


def documented_last_event_id() -> jsonschema_rs.Validator:
    """A validator for the ``Last-Event-ID`` header as /openapi.json documents it on the stream."""
    operation = build_openapi(version="test", bearer_auth=False)["paths"]["/api/runtimes/{runtime_id}/events/stream"][
        "get"
    ]
    [header] = [p for p in operation["parameters"] if (p["in"], p["name"]) == ("header", "Last-Event-ID")]
    return jsonschema_rs.validator_for(header["schema"])


@pytest.fixture
async def app_and_client():
    app = create_app(assembly=embedded_assembly())
    async with serving(app) as client:
        yield app, client


async def polled_ids(client, runtime_id: str = RUNTIME) -> list[int]:
    """The ids of the runtime's retained events, from a poll (ids are opaque: never assume where they start)."""
    return [event["id"] for event in (await client.get(f"/api/runtimes/{runtime_id}/events")).json()["events"]]


async def test_the_stream_is_text_event_stream_and_not_cached(app_and_client):
    app, _ = app_and_client
    async with streaming_get(app, STREAM) as call:
        assert (call.status, call.headers["content-type"], call.headers["cache-control"]) == (
            200,
            "text/event-stream; charset=utf-8",
            "no-store",
        )


async def test_each_event_carries_its_id_type_and_json(app_and_client):
    app, client = app_and_client
    worker_id = await create_worker(client)
    async with streaming_get(app, STREAM) as call:
        await call.wait_until(lambda c: c.data_events())
    [created] = await polled_ids(client)
    event = call.data_events()[0]
    assert (event["id"], event["event"]) == (str(created), "worker.created")
    assert (event["data"]["id"], event["data"]["type"], event["data"]["worker_id"]) == (
        created,
        "worker.created",
        worker_id,
    )


async def test_events_after_subscribing_arrive_live(app_and_client):
    app, client = app_and_client
    async with streaming_get(app, STREAM) as call:
        worker_id = await create_worker(client)
        await call.wait_until(lambda c: c.data_events())
    assert call.data_events()[0]["data"]["worker_id"] == worker_id


async def test_a_cursor_resumes_after_that_event(app_and_client):
    app, client = app_and_client
    for _ in range(3):
        await create_worker(client)
    _, second, third = await polled_ids(client)
    async with streaming_get(app, STREAM, query=f"cursor={second}") as call:
        await call.wait_until(lambda c: c.data_events())
    assert [e["id"] for e in call.data_events()] == [str(third)]


async def test_last_event_id_resumes_and_wins_over_the_cursor(app_and_client):
    app, client = app_and_client
    for _ in range(3):
        await create_worker(client)
    _, second, third = await polled_ids(client)
    async with streaming_get(app, STREAM, query="cursor=0", headers={"Last-Event-ID": str(second)}) as call:
        await call.wait_until(lambda c: c.data_events())
    assert [e["id"] for e in call.data_events()] == [str(third)]


async def test_an_empty_last_event_id_is_no_id_and_the_cursor_decides(app_and_client):
    # An EventSource whose last event had no id sends none; an empty header means the same.
    app, client = app_and_client
    for _ in range(3):
        await create_worker(client)
    _, second, third = await polled_ids(client)
    async with streaming_get(app, STREAM, query=f"cursor={second}", headers={"Last-Event-ID": ""}) as call:
        await call.wait_until(lambda c: c.data_events())
    assert [e["id"] for e in call.data_events()] == [str(third)]


async def test_an_empty_last_event_id_without_a_cursor_starts_at_the_oldest_event(app_and_client):
    app, client = app_and_client
    for _ in range(2):
        await create_worker(client)
    async with streaming_get(app, STREAM, headers={"Last-Event-ID": ""}) as call:
        await call.wait_until(lambda c: len(c.data_events()) >= 2)
    assert [int(e["id"]) for e in call.data_events()] == await polled_ids(client)


async def test_a_last_event_id_from_before_a_restart_sends_cursor_expired(app_and_client):
    # Ids of an earlier run are below this run's first id, whatever this run has issued since.
    app, client = app_and_client
    for _ in range(3):
        await create_worker(client)
    first = (await polled_ids(client))[0]
    async with streaming_get(app, STREAM, headers={"Last-Event-ID": str(first - 10)}) as call:
        await call.wait_until(lambda c: c.finished)
    assert [e["event"] for e in call.data_events()] == ["cursor_expired"]


async def test_an_idle_stream_sends_heartbeat_comments(app_and_client):
    app, _ = app_and_client
    async with streaming_get(app, STREAM) as call:
        await call.wait_until(lambda c: c.body.count(": heartbeat") >= 2)
    assert call.data_events() == []


async def test_an_expired_resume_point_sends_one_cursor_expired_event_and_closes(app_and_client):
    app, client = app_and_client
    worker_id = await create_worker(client, OTHER)
    await client.post(f"/api/runtimes/{OTHER}/workers/{worker_id}/input", json={"content": "three more events"})
    while (await client.get(f"/api/runtimes/{OTHER}/workers/{worker_id}")).json()["status"] != "idle":
        await asyncio.sleep(0.01)
    async with streaming_get(app, f"/api/runtimes/{OTHER}/events/stream", query="cursor=0") as call:
        await call.wait_until(lambda c: c.finished)
    events = call.data_events()
    assert [(e["event"], e["data"]["error"]["code"]) for e in events] == [("cursor_expired", "cursor_expired")]


async def test_a_malformed_last_event_id_is_400_naming_it(app_and_client):
    _, client = app_and_client
    response = await client.get(STREAM, headers={"Last-Event-ID": "soon"})
    assert error_of(response) == (400, "malformed_request")
    assert response.json()["error"]["details"][0]["path"] == "Last-Event-ID"


async def test_a_stream_of_an_unknown_runtime_is_404_before_streaming(app_and_client):
    _, client = app_and_client
    assert error_of(await client.get("/api/runtimes/nowhere/events/stream")) == (404, "unknown_runtime")


async def test_a_client_disconnect_ends_the_stream(app_and_client):
    app, _ = app_and_client
    async with streaming_get(app, STREAM) as call:
        pass
    assert call.task.done() and call.task.exception() is None


async def test_stopping_the_runtimes_closes_live_streams():
    app = create_app(assembly=embedded_assembly())
    async with serving(app):
        async with streaming_get(app, STREAM) as call:
            await call.wait_until(lambda c: ": heartbeat" in c.body)
            await app.state.assembly.registry.close()
            await call.wait_until(lambda c: c.finished)
    assert [(e["event"], e["data"]["error"]["code"]) for e in call.data_events()] == [("error", "runtime_unavailable")]


async def test_a_malformed_cursor_is_400_even_when_last_event_id_wins(app_and_client):
    _, client = app_and_client
    response = await client.get(STREAM, params={"cursor": "-1"}, headers={"Last-Event-ID": "0"})
    assert error_of(response) == (400, "malformed_request")


@pytest.mark.parametrize("value", ["", "0", "7", "0042", "9" * 18])
async def test_every_last_event_id_the_schema_documents_is_taken(app_and_client, value):
    app, _ = app_and_client
    assert documented_last_event_id().is_valid(value)
    async with streaming_get(app, STREAM, headers={"Last-Event-ID": value}) as call:
        await call.wait_until(lambda c: c.status is not None)
    assert call.status == 200


@pytest.mark.parametrize("value", ["x", "-1", "+1", "1.0", "1_0", "1e3", "9" * 19])
async def test_every_last_event_id_the_schema_refuses_is_400_malformed_request(app_and_client, value):
    _, client = app_and_client
    assert not documented_last_event_id().is_valid(value)
    response = await client.get(STREAM, headers={"Last-Event-ID": value})
    assert error_of(response) == (400, "malformed_request")
