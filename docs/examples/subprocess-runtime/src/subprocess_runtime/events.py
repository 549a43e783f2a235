"""The runtime's event log: strictly increasing ids, bounded retention, cursors, waiting.

Ids are never reused, not even across restarts: each log (one per run of the
runtime) starts at the wall clock in microseconds, above every id an earlier
run issued. Clients keep their last id across a server restart; had the new
run started at 1 again, that cursor would soon fall inside the new run and the
client would silently miss the new run's first events. Starting at the clock,
an earlier run's cursor is below everything this run holds, so it is expired.

Ids have no gaps within a run, so the retained events are always the ids
``dropped_through + 1 .. last_id``. That makes both cursor rules a comparison:
a cursor below ``dropped_through`` asks for events we no longer have (or comes
from an earlier run), and one above ``last_id`` comes from somewhere else
(another runtime, a clock set back). Neither is ever answered by silently
skipping: both raise ``CursorExpired``. ``0`` is no run's id and means "before
this run's first event".
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections import deque
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

from registry_core import CursorExpired, Event

__all__ = ["EventLog", "clock_start_id"]


def clock_start_id() -> int:
    """A new run's first event id: the wall clock in microseconds (about 1.8e15, exact in JavaScript until 2255).

    The next run starts higher as long as this one averages fewer than one
    event per microsecond (an append alone takes longer) and the clock is not
    set back between the runs.
    """
    return time.time_ns() // 1000


class EventLog:
    """Keeps the newest ``retention`` events of one runtime.

    :param start_id: the first event's id (at least 1); ``None``, the default,
        for :func:`clock_start_id`. Tests that reason about small ids pass 1.
    """

    def __init__(self, retention: int, *, start_id: int | None = None) -> None:
        if start_id is None:
            start_id = clock_start_id()
        if isinstance(start_id, bool) or not isinstance(start_id, int) or start_id < 1:
            raise ValueError("start_id must be an integer of at least 1")
        self.start_id = start_id
        self._events: deque[Event] = deque(maxlen=retention)
        self._last_id = start_id - 1
        self._arrived = asyncio.Event()
        self._closed = False

    @property
    def last_id(self) -> int:
        """The id of the newest event (``start_id - 1`` before the first)."""
        return self._last_id

    @property
    def dropped_through(self) -> int:
        """Every event up to this id has been dropped, or was an earlier run's (``start_id - 1`` while none was dropped)."""
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
        """Events after ``cursor`` (``None``: the oldest retained; ``0``: this run's first), at most ``limit``.

        :return: the events, the cursor to read from next, and whether more
            (matching) events follow.
        :raises CursorExpired: events after ``cursor`` were dropped, or
            ``cursor`` is newer than the newest event. A cursor of an earlier
            run is below this run's ids: dropped, as far as a client can tell.
        """
        if cursor is None:
            after = self.dropped_through
        elif cursor == 0:
            after = self.start_id - 1
        else:
            after = cursor
        if after < self.dropped_through:
            raise CursorExpired(
                "events after this cursor are no longer retained (or it is from before a restart); "
                "read from the oldest (no cursor)"
            )
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
        if cursor == 0:
            cursor = self.start_id - 1
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
