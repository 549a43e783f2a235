"""The runtime's event log: strictly increasing ids, bounded retention, cursors, waiting.

Ids start at 1 and have no gaps, so the retained events are always the ids
``dropped_through + 1 .. last_id``. That makes both cursor rules a comparison:
a cursor below ``dropped_through`` asks for events we no longer have, and one
above ``last_id`` comes from somewhere else (another run, another runtime).
Neither is ever answered by silently skipping: both raise ``CursorExpired``.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections import deque
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

from registry_core import CursorExpired, Event

__all__ = ["EventLog"]


class EventLog:
    """Keeps the newest ``retention`` events of one runtime."""

    def __init__(self, retention: int) -> None:
        self._events: deque[Event] = deque(maxlen=retention)
        self._last_id = 0
        self._arrived = asyncio.Event()
        self._closed = False

    @property
    def last_id(self) -> int:
        """The id of the newest event (0 before the first)."""
        return self._last_id

    @property
    def dropped_through(self) -> int:
        """Every event up to this id has been dropped (0 while none has)."""
        return self._events[0].id - 1 if self._events else self._last_id

    def append(self, type_: str, worker_id: str | None, data: Mapping[str, Any]) -> Event:
        """Record an event with the next id and wake everyone waiting."""
        self._last_id += 1
        event = Event(self._last_id, type_, worker_id, dict(data), datetime.now(timezone.utc))
        self._events.append(event)
        # Waiters hold the old asyncio.Event; replacing it after setting it
        # lets each of them wake exactly once and the next wait start fresh.
        self._arrived.set()
        self._arrived = asyncio.Event()
        return event

    def read(self, *, cursor: int | None, limit: int, worker_id: str | None = None) -> tuple[list[Event], int, bool]:
        """Events after ``cursor`` (``None``: the oldest retained), at most ``limit``.

        :return: the events, the cursor to read from next, and whether more
            (matching) events follow.
        :raises CursorExpired: events after ``cursor`` were dropped, or
            ``cursor`` is newer than the newest event.
        """
        after = self.dropped_through if cursor is None else cursor
        if after < self.dropped_through:
            raise CursorExpired("events after this cursor are no longer retained; read from the oldest (no cursor)")
        if after > self._last_id:
            raise CursorExpired("this cursor is newer than any event of this runtime; read from the oldest (no cursor)")
        selected: list[Event] = []
        next_cursor, has_more = after, False
        skip = after - self.dropped_through
        for event in itertools.islice(self._events, skip, None):
            if worker_id is not None and event.worker_id != worker_id:
                next_cursor = event.id
                continue
            if len(selected) == limit:
                has_more = True
                break
            selected.append(event)
            next_cursor = event.id
        return selected, next_cursor, has_more

    async def wait(self, *, cursor: int, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for an event after ``cursor``; ``False`` at once after :meth:`close`."""
        if self._last_id > cursor:
            return True
        if self._closed:
            return False
        arrived = self._arrived
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                await arrived.wait()
        return self._last_id > cursor

    def close(self) -> None:
        """Wake every waiter for good: streams must not hold up shutdown."""
        self._closed = True
        self._arrived.set()
