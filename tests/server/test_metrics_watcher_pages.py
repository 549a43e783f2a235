"""The metrics watcher reads a runtime's feed in its largest pages (decision 0256)."""

from __future__ import annotations

import asyncio

from registry_core.models import InputRequest
from runtime_registry.server.app import create_app
from runtime_registry.server.observe import watch

from ..support.asgi_client import serving
from .conftest import RUNTIME, create_worker, embedded_assembly
from .test_observe import scrape, until, value


async def test_the_watcher_reads_the_feed_in_the_runtimes_largest_pages_and_counts_every_turn(monkeypatch):
    assembly = embedded_assembly()
    registry = assembly.registry
    limits: list[int | None] = []
    read_events = registry.read_events

    async def counted(runtime_id, *, cursor=None, limit=None, worker_id=None):
        if runtime_id == RUNTIME:
            limits.append(limit)
        return await read_events(runtime_id, cursor=cursor, limit=limit, worker_id=worker_id)

    monkeypatch.setattr(registry, "read_events", counted)
    async with serving(create_app(assembly=assembly)) as client:
        page_max = (await client.get(f"/api/runtimes/{RUNTIME}")).json()["limits"]["event_page_max"]
        assert page_max > 50  # above the registry's default page, or this proves nothing
        workers = [await create_worker(client) for _ in range(40)]
        for _ in range(5):
            for worker_id in workers:
                await registry.send_input(RUNTIME, worker_id, InputRequest("hello"))
            await asyncio.sleep(0.01)  # the turns' steps

        async def counted_all() -> bool:
            text = await scrape(client)
            started = value(text, "runtime_registry_turns_started_total", runtime=RUNTIME)
            ended = value(text, "runtime_registry_turns_ended_total", runtime=RUNTIME)
            return started == ended == 200

        await until(counted_all)
    assert limits and set(limits) == {page_max}


async def test_a_follower_whose_page_is_too_large_reads_the_default_page_instead():
    assembly = embedded_assembly()
    registry = assembly.registry
    async with serving(create_app(assembly=assembly)) as client:
        worker_id = await create_worker(client)
        for _ in range(3):
            await registry.send_input(RUNTIME, worker_id, InputRequest("hello"))
            await asyncio.sleep(0.01)
        # The runtime's largest page was larger when it was listed (a kind may lower it).
        follower = watch._TurnFollower(registry, None, RUNTIME, 10**9)  # type: ignore[arg-type]
        cursor = await follower._catch_up(None, count=False)
        assert follower.page_size is None
        assert cursor == (await registry.read_events(RUNTIME, cursor=None, limit=1000)).next_cursor
        assert worker_id in follower.profiles  # the feed was read: the worker's creation was seen
