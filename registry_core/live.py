"""Live-only events: what a stream subscriber sees while connected, and nobody else.

Streamed output (``worker.output_delta``) is a view of a reply in progress,
not part of the record: the transcript and the ``worker.output`` event are.
A runtime therefore publishes deltas to its current stream subscribers only;
they are not in the event log, never in a poll, and cannot push stored events
out of retention (docs/decisions/0091). A live event carries the id of the
stored event it follows, so a stream sends it after that event and a client
that reconnects resumes from stored ids only.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable

from registry_core.models import Event

__all__ = ["DEFAULT_LIVE_BACKLOG", "LiveSubscription"]

#: Live events one subscriber may have unread before the oldest are dropped.
DEFAULT_LIVE_BACKLOG = 1024


class LiveSubscription:
    """One stream's queue of live events, filled by the runtime, drained by the stream.

    A subscriber that falls ``backlog`` events behind loses the oldest (they
    were previews of a reply whose full text comes as a stored event); a slow
    client can never make the runtime hold more than ``backlog`` per stream.

    :param on_close: called once by :meth:`close` (the runtime forgets the subscription).
    """

    __slots__ = ("_on_close", "_queue", "_ready", "closed", "dropped")

    def __init__(
        self, on_close: Callable[[LiveSubscription], None] | None = None, *, backlog: int = DEFAULT_LIVE_BACKLOG
    ) -> None:
        self._queue: deque[Event] = deque(maxlen=backlog)
        self._ready = asyncio.Event()
        self._on_close = on_close
        #: How many events were dropped because the subscriber fell behind.
        self.dropped = 0
        self.closed = False

    def push(self, event: Event) -> None:
        """Queue ``event`` (the runtime calls this; never suspends)."""
        if len(self._queue) == self._queue.maxlen:
            self.dropped += 1
        self._queue.append(event)
        self._ready.set()

    def take(self, *, up_to: int) -> list[Event]:
        """Remove and return the queued events whose ``id`` is at most ``up_to`` (the stored id sent last)."""
        queue = self._queue
        taken = []
        while queue and queue[0].id <= up_to:
            taken.append(queue.popleft())
        if not queue:
            self._ready.clear()
        return taken

    def pending(self) -> bool:
        """Whether any event is queued."""
        return bool(self._queue)

    async def wait(self) -> None:
        """Return once an event is queued."""
        await self._ready.wait()

    def close(self) -> None:
        """Stop receiving events; idempotent."""
        if not self.closed:
            self.closed = True
            self._queue.clear()
            if self._on_close is not None:
                self._on_close(self)
