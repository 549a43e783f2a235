"""Checks of events: ids that increase, cursors that mean "after", one worker's events, and waiting for events."""

from __future__ import annotations

import asyncio

from registry_core.errors import CursorExpired
from registry_core.identifiers import is_valid_identifier

from .contract import ContractViolation, raises, require, succeeds
from .harness import CheckRun, ConformanceHarness, conformance_check

__all__ = ["EventChecks"]


class EventChecks(ConformanceHarness):
    """Event ids and cursors, per-worker reading, expired cursors, and ``wait_for_events``."""

    @conformance_check(needs=("read_events",))
    async def test_event_ids_increase_and_cursors_are_honoured(self, run: CheckRun) -> None:
        """Ids increase strictly; `cursor` means "after"; paging by 1 and in large pages agree; nothing after the newest."""
        await run.make_some_events()
        one_by_one = await run.all_events(limit=1)
        ids = [event.id for event in one_by_one]
        require(
            all(isinstance(i, int) and not isinstance(i, bool) and i >= 1 for i in ids),
            f"event ids must be positive integers; got {ids[:20]}",
        )
        require(ids == sorted(set(ids)), f"event ids must increase strictly; read one at a time they are {ids[:50]}")
        for event in one_by_one:
            require(
                event.worker_id is None or is_valid_identifier(event.worker_id),
                f"event {event.id} names the invalid worker id {event.worker_id!r}",
            )
        page_max = (await run.describe()).limits.event_page_max
        in_pages = await run.all_events(limit=min(page_max, 1000))
        require(
            [e.id for e in in_pages] == ids, "reading events one at a time and in large pages gave different events"
        )
        for index, event in enumerate(one_by_one[:50]):
            after = await succeeds(
                f"read_events(cursor={event.id})", run.registry.read_events(run.runtime_id, cursor=event.id, limit=1)
            )
            expected = ids[index + 1 : index + 2]
            require(
                [e.id for e in after.events] == expected,
                f"read_events(cursor={event.id}, limit=1) must give the next event {expected}; "
                f"it gave {[e.id for e in after.events]}",
            )
        if ids:
            quiet = await succeeds(
                "read_events at the newest event", run.registry.read_events(run.runtime_id, cursor=ids[-1])
            )
            require(
                quiet.events == () and quiet.has_more is False and quiet.next_cursor == ids[-1],
                f"reading after the newest event ({ids[-1]}) must give no events, has_more false and "
                f"next_cursor {ids[-1]}; got {len(quiet.events)} events, has_more {quiet.has_more}, "
                f"next_cursor {quiet.next_cursor}",
            )

    @conformance_check(needs=("read_events", "create_worker"))
    async def test_a_workers_events_are_its_own(self, run: CheckRun) -> None:
        """`read_events(worker_id=...)` gives exactly that worker's events."""
        first = await run.create_worker()
        await run.make_some_events()
        everything = await run.all_events()
        own = await run.all_events(worker_id=first.worker_id, limit=1)
        strangers = sorted({e.worker_id for e in own if e.worker_id != first.worker_id}, key=str)
        require(not strangers, f"the events of worker {first.worker_id!r} include events of {strangers}")
        expected = [e.id for e in everything if e.worker_id == first.worker_id]
        require(
            [e.id for e in own] == expected,
            f"one worker's events, read one at a time, must be exactly its events in the runtime's log "
            f"{expected}; got {[e.id for e in own]}",
        )

    @conformance_check(needs=("read_events",))
    async def test_a_cursor_newer_than_any_event_is_expired(self, run: CheckRun) -> None:
        """A cursor from the future raises `CursorExpired`."""
        await run.make_some_events()
        future = await run.latest_cursor() + 1_000_000
        await raises(
            CursorExpired,
            f"read_events(cursor={future}), newer than any event (another runtime's cursor, or a clock set back)",
            run.registry.read_events(run.runtime_id, cursor=future),
        )

    @conformance_check(needs=("stream_events",))
    async def test_waiting_for_events_follows_the_cursor(self, run: CheckRun) -> None:
        """`wait_for_events` answers at once when an event exists, and wakes when one arrives."""
        registry, runtime_id = run.registry, run.runtime_id
        await run.make_some_events()
        latest = await run.latest_cursor()
        if latest > 0:
            ready = await succeeds(
                "wait_for_events with an event after the cursor",
                registry.wait_for_events(runtime_id, cursor=latest - 1, timeout=self.check_timeout / 4),
            )
            require(ready is True, "wait_for_events must answer True while an event after the cursor exists")
        quiet = await succeeds("wait_for_events", registry.wait_for_events(runtime_id, cursor=latest, timeout=0.05))
        if quiet:
            newer = await succeeds("read_events", registry.read_events(runtime_id, cursor=latest))
            require(newer.events, "wait_for_events answered True but there is no event after the cursor")
        if not run.capabilities.create_worker:
            return
        latest = await run.latest_cursor()
        waiter = asyncio.ensure_future(
            registry.wait_for_events(runtime_id, cursor=latest, timeout=self.check_timeout / 4)
        )
        await asyncio.sleep(0.05)
        await run.create_worker()
        arrived = (await succeeds("read_events", registry.read_events(runtime_id, cursor=latest))).events
        woke = await waiter
        if arrived:
            require(woke is True, "wait_for_events must wake with True when an event arrives after its cursor")

    @conformance_check(needs=("stream_events",))
    async def test_close_wakes_event_waiters(self, run: CheckRun) -> None:
        """`wait_for_events` returns promptly after `close()`."""
        latest = await run.latest_cursor()
        waiter = asyncio.ensure_future(
            run.registry.wait_for_events(run.runtime_id, cursor=latest, timeout=self.check_timeout)
        )
        await asyncio.sleep(0.05)
        await run.registry.close()
        done, _ = await asyncio.wait([waiter], timeout=self.close_grace_seconds)
        if not done:
            waiter.cancel()
            raise ContractViolation("wait_for_events must return promptly after close(); it kept waiting")
        await waiter
