"""A cursor from before a restart must not resume silently in the new run (finding #9).

A client that saw events up to id N reconnects after the server restarted
(EventSource does this by itself, with ``Last-Event-ID: N``). The embedded
runtime keeps events in memory, so the new run cannot serve what the client
missed; it must say so with ``cursor_expired``, also once the new run has
issued more events than the old one had. When ids restarted at 1 in every run,
the cursor was taken as a point in the new run instead: the client silently
missed the new run's first N events. Each run's ids now start at the clock in
microseconds (decision 0055), so an earlier run's ids are below every id of a
later run. That is the memory store's rule; with the SQLite store (the
default) the events outlive the run, ids continue, and the same cursor
resumes with exactly the events issued since (decision 0086).
"""

from __future__ import annotations

import asyncio

import httpx
import pytest

from ..support.server_process import running_server
from .app_config import EMBEDDED, embedded_toml, write_config
from .load_client import LoadClient

RUNTIME = f"/api/runtimes/{EMBEDDED}"
MEMORY_STORE = '[runtimes.settings.store]\nbackend = "memory"\n'


async def create_workers(base_url: str, count: int) -> int:
    """Create ``count`` workers (one event each); the id of the newest event."""
    async with LoadClient(base_url, connections=1) as api:
        for _ in range(count):
            await api.post(f"{RUNTIME}/workers", {})
        return (await api.get(f"{RUNTIME}/events", {"limit": 1000})).json()["next_cursor"]


@pytest.fixture(scope="module")
def restarted(tmp_path_factory):
    """The newest event id of a first run, and a second run of the same config that has issued more events."""
    tmp_path = tmp_path_factory.mktemp("restart")
    config = write_config(tmp_path, embedded_toml(extra=MEMORY_STORE))
    with running_server(config, log=tmp_path / "first.log") as first:
        cursor = asyncio.run(create_workers(first.base_url, 3))
    with running_server(config, log=tmp_path / "second.log") as second:
        asyncio.run(create_workers(second.base_url, 6))
        yield cursor, second


def test_a_cursor_from_before_a_restart_is_expired_even_after_the_new_run_passed_it(restarted):
    cursor, second = restarted

    async def resume():
        async with LoadClient(second.base_url, connections=1) as api:
            return await api.get(f"{RUNTIME}/events", {"cursor": cursor})

    reply = asyncio.run(resume())
    assert (reply.status, reply.error_code) == (410, "cursor_expired"), reply.json()


def test_a_stream_resumed_with_a_last_event_id_from_before_a_restart_sends_cursor_expired_and_closes(restarted):
    cursor, second = restarted
    with httpx.Client(base_url=second.base_url, timeout=5) as client:
        with client.stream("GET", f"{RUNTIME}/events/stream", headers={"Last-Event-ID": str(cursor)}) as stream:
            lines = list(stream.iter_lines())  # ends by itself: the server closes after the one event
    assert [line for line in lines if line.startswith("event:")] == ["event: cursor_expired"]
    assert not [line for line in lines if line.startswith("id:")]


@pytest.fixture(scope="module")
def restarted_durable(tmp_path_factory):
    """As ``restarted``, over the default SQLite store: (the old cursor, the second run)."""
    tmp_path = tmp_path_factory.mktemp("restart-durable")
    config = write_config(tmp_path, embedded_toml())
    with running_server(config, log=tmp_path / "first.log") as first:
        cursor = asyncio.run(create_workers(first.base_url, 3))
    with running_server(config, log=tmp_path / "second.log") as second:
        asyncio.run(create_workers(second.base_url, 6))
        yield cursor, second


def test_with_a_durable_store_a_cursor_from_before_a_restart_resumes_without_a_gap(restarted_durable):
    cursor, second = restarted_durable

    async def resume():
        async with LoadClient(second.base_url, connections=1) as api:
            return await api.get(f"{RUNTIME}/events", {"cursor": cursor, "limit": 1000})

    reply = asyncio.run(resume())
    assert reply.status == 200, reply.json()
    events = reply.json()["events"]
    assert [event["id"] for event in events] == list(range(cursor + 1, cursor + 1 + len(events)))
    assert [event["type"] for event in events] == ["worker.created"] * 6


def test_with_a_durable_store_a_stream_resumes_after_a_last_event_id_from_before_a_restart(restarted_durable):
    cursor, second = restarted_durable
    ids = []
    with httpx.Client(base_url=second.base_url, timeout=httpx.Timeout(5, read=1.0)) as client:
        with client.stream("GET", f"{RUNTIME}/events/stream", headers={"Last-Event-ID": str(cursor)}) as stream:
            for line in stream.iter_lines():
                if line.startswith("id:"):
                    ids.append(int(line[3:]))
                if len(ids) == 6:
                    break
    assert ids == list(range(cursor + 1, cursor + 7))
