"""The event subscription resumes by itself after a dropped connection and never skips silently."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from registry_core import CursorExpired, Event
from runtime_registry.client import ConnectionFailed, RegistryClient

from ..support.remote_servers import back_config
from ..support.server_process import ServerProcess, running_server
from ..support.tcp_proxy import TcpRelay

RUNTIME = "back-a"
RETENTION = 20


@pytest.fixture(scope="module")
def small_retention_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    folder = tmp_path_factory.mktemp("subscription-server")
    with running_server(back_config(folder, retention=RETENTION), log=folder / "server.log") as process:
        yield process


@pytest.fixture
async def relay(small_retention_server):
    port = int(small_retention_server.base_url.rsplit(":", 1)[1])
    async with TcpRelay(port) as relay:
        yield relay


async def _next(events, timeout: float = 5.0) -> Event:
    return await asyncio.wait_for(events.__anext__(), timeout)


async def test_a_dropped_stream_resumes_after_the_last_event_without_gaps_or_repeats(relay, small_retention_server):
    # Only the stream goes through the relay: it is the connection that drops.
    async with RegistryClient(small_retention_server.base_url) as client, RegistryClient(relay.base_url) as streaming:
        start = (await client.read_events(RUNTIME, limit=1000)).next_cursor
        worker = await client.create_worker(RUNTIME)
        seen: list[int] = []
        async with streaming.subscribe(RUNTIME, cursor=start, reconnect_delay=0.05) as events:
            seen.append((await _next(events)).id)
            relay.drop()
            for text in ("one", "two"):
                await client.send_input(RUNTIME, worker.worker_id, text)
                await asyncio.sleep(0.05)
            expected = [event.id for event in (await client.read_events(RUNTIME, cursor=start, limit=1000)).events]
            while len(seen) < len(expected):
                seen.append((await _next(events)).id)
            assert events.reconnects >= 1
            assert events.last_event_id == seen[-1]
    assert seen == expected


async def test_a_resume_point_no_longer_retained_raises_cursor_expired(relay, small_retention_server):
    async with RegistryClient(small_retention_server.base_url) as client, RegistryClient(relay.base_url) as streaming:
        start = (await client.read_events(RUNTIME, limit=1000)).next_cursor
        await client.create_worker(RUNTIME)
        async with streaming.subscribe(RUNTIME, cursor=start, reconnect_delay=1.0) as events:
            await _next(events)
            relay.drop()
            # While the subscription waits to reconnect, retention passes its resume point.
            for _ in range(RETENTION + 5):
                await client.create_worker(RUNTIME)
            with pytest.raises(CursorExpired):
                while True:
                    await _next(events)


async def test_a_cursor_that_is_already_gone_raises_cursor_expired_at_once(small_retention_server):
    async with RegistryClient(small_retention_server.base_url) as client:
        for _ in range(RETENTION + 1):
            await client.create_worker(RUNTIME)
        async with client.subscribe(RUNTIME, cursor=0) as events:
            with pytest.raises(CursorExpired):
                await _next(events)


async def test_a_server_that_stays_away_ends_the_subscription_with_connection_failed(small_retention_server):
    async with RegistryClient(small_retention_server.base_url) as client:
        cursor = (await client.read_events(RUNTIME, limit=1000)).next_cursor
    relay = await TcpRelay(int(small_retention_server.base_url.rsplit(":", 1)[1])).start()
    async with RegistryClient(relay.base_url) as client:
        events = client.subscribe(RUNTIME, cursor=cursor, reconnect_attempts=2, reconnect_delay=0.01)
        waiting = asyncio.ensure_future(_next(events))
        await asyncio.sleep(0.3)
        await relay.aclose()  # the listening socket is gone: every reconnection is refused
        with pytest.raises(ConnectionFailed):
            await waiting
        await events.aclose()


async def test_a_silent_stream_counts_as_dropped_and_is_resumed(relay, small_retention_server):
    async with RegistryClient(small_retention_server.base_url) as client, RegistryClient(relay.base_url) as streaming:
        start = (await client.read_events(RUNTIME, limit=1000)).next_cursor
        worker = await client.create_worker(RUNTIME)
        async with streaming.subscribe(RUNTIME, cursor=start, reconnect_delay=0.05, idle_timeout=0.8) as events:
            await _next(events)
            waiting = asyncio.ensure_future(_next(events))
            relay.hold()  # the connection stays open but nothing arrives, not even heartbeats
            await asyncio.sleep(1.2)
            relay.release()
            await client.send_input(RUNTIME, worker.worker_id, "after the silence")
            event = await waiting
            assert event.type == "worker.input_accepted"
            assert events.reconnects >= 1


async def test_connection_limits_bound_the_connections_to_the_server(relay):
    async with RegistryClient(relay.base_url, max_connections=2) as client:
        await asyncio.gather(*(client.list_runtimes() for _ in range(20)))
    assert relay.accepted <= 2


async def test_aclose_from_another_task_ends_the_iteration_of_a_waiting_subscriber(small_retention_server):
    async with RegistryClient(small_retention_server.base_url) as client:
        cursor = (await client.read_events(RUNTIME, limit=1000)).next_cursor
        events = client.subscribe(RUNTIME, cursor=cursor)
        received: list[Event] = []

        async def consume() -> None:
            async for event in events:  # waits: nothing happens on the runtime
                received.append(event)

        consumer = asyncio.ensure_future(consume())
        await asyncio.sleep(0.3)
        assert not consumer.done()
        await asyncio.wait_for(events.aclose(), 2)  # from this task, while the consumer waits in __anext__
        await asyncio.wait_for(consumer, 2)  # the iteration ended: no RuntimeError, no CancelledError
        assert received == []
        with pytest.raises(StopAsyncIteration):
            await events.__anext__()


async def test_cancelling_the_subscriber_itself_still_cancels_it(small_retention_server):
    async with RegistryClient(small_retention_server.base_url) as client:
        cursor = (await client.read_events(RUNTIME, limit=1000)).next_cursor
        async with client.subscribe(RUNTIME, cursor=cursor) as events:
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(events.__anext__(), 0.3)


async def test_cursor_expired_from_the_stream_carries_the_status_a_poll_has(small_retention_server):
    async with RegistryClient(small_retention_server.base_url) as client:
        for _ in range(RETENTION + 1):
            await client.create_worker(RUNTIME)
        with pytest.raises(CursorExpired) as polled:
            await client.read_events(RUNTIME, cursor=1)
        async with client.subscribe(RUNTIME, cursor=0) as events:
            with pytest.raises(CursorExpired) as streamed:
                await _next(events)
    assert streamed.value.status == polled.value.status == 410  # type: ignore[attr-defined]


async def test_a_runtime_summarys_status_compares_equal_to_its_string_as_a_workers_does(small_retention_server):
    async with RegistryClient(small_retention_server.base_url) as client:
        summary = await client.get_runtime(RUNTIME)
        worker = await client.create_worker(RUNTIME)
    assert summary.status == "running" and worker.status == "idle"
    assert f"{summary.status}" == "running"
