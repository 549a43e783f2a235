"""The remote runtime's live-only events (``worker.output_delta``), relayed to the front's streams.

Live events are not stored (decision 0091): a poll never shows them, so the
front can only see them on the remote's event stream. While at least one
front stream has a live subscription open, one connection of the stream pool
follows the remote's stream and pushes each live event, unchanged, to every
subscription; stored events on it only move the relay's resume point. A live
event carries the id of the stored event it follows, so the front's streams
send it in order, after that event (:mod:`registry_core.live`).

The relay's stream and the front's reads of stored events are two
connections, so the relay can lag behind them (a loaded machine: deltas
arrived after the turn's last stored event). While the relay follows the
remote's stream, a read of stored events waits, for at most
:data:`CATCH_UP_SECONDS`, until the relay has seen the newest of them
(:meth:`LiveRelay.caught_up`): the remote's stream is in order, so every live
event that comes before those stored events is queued by then, and the
front's streams send it before them.

The connection resumes by itself after a drop or a restart of the remote
(``Last-Event-ID``); when the remote no longer has the resume point, the relay
starts again from the newest event the provider has seen. Live events that
happen while the remote is out of reach are lost, as they are for a client
that is not connected: the reply they previewed comes as a stored event.
The last subscription to close ends the connection.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from registry_core.errors import CursorExpired, RegistryError
from registry_core.live import LiveSubscription
from runtime_registry.client import RegistryClient

__all__ = ["CATCH_UP_SECONDS", "LIVE_EVENT_TYPES", "LiveRelay"]

log = logging.getLogger("runtime_registry.runtimes.remote")

#: The remote's live-only event types: relayed, never stored.
LIVE_EVENT_TYPES = frozenset({"worker.output_delta"})
#: The longest pause between two attempts to reach the remote's stream.
MAX_RETRY_SECONDS = 2.0
#: The longest a read of stored events waits for the relay to catch up with them
#: (a relay further behind than this costs order, never an error: see the module doc).
CATCH_UP_SECONDS = 1.0


class LiveRelay:
    """Follows one remote runtime's event stream while front streams want its live events.

    :param streams: the client of the stream pool (``None`` until the runtime started).
    :param remote_runtime_id: the runtime on the remote.
    :param resume_point: the newest event id the provider has seen (where a fresh start begins).
    :param spawn: runs the relay's task with the runtime's other background work.
    """

    def __init__(
        self,
        streams: Callable[[], RegistryClient | None],
        remote_runtime_id: str,
        *,
        resume_point: Callable[[], int | None],
        spawn: Callable[[asyncio.Future[None] | asyncio.Task[None]], None],
        idle_timeout: float,
    ) -> None:
        self._streams = streams
        self._remote_runtime_id = remote_runtime_id
        self._resume_point = resume_point
        self._spawn = spawn
        self._idle_timeout = idle_timeout
        self._subscriptions: set[LiveSubscription] = set()
        self._task: asyncio.Task[None] | None = None
        #: Live events relayed so far (for tests and diagnostics).
        self.relayed = 0
        #: The newest stored event id the relay's connection has seen (or started after).
        self.seen: int | None = None
        self._following = False
        self._progress = asyncio.Event()

    def subscribe(self) -> LiveSubscription:
        """A subscription to the remote's live events from now on; close it when the stream ends."""
        subscription = LiveSubscription(self._unsubscribe)
        self._subscriptions.add(subscription)
        if self._task is None or self._task.done():
            self._task = asyncio.ensure_future(self._follow())
            self._spawn(self._task)
        return subscription

    def _unsubscribe(self, subscription: LiveSubscription) -> None:
        self._subscriptions.discard(subscription)
        if not self._subscriptions and self._task is not None:
            self._task.cancel()
            self._task = None

    async def caught_up(self, event_id: int, *, timeout: float = CATCH_UP_SECONDS) -> bool:
        """Wait until the relay has seen the stored event ``event_id`` (or a later one) on the remote's stream.

        Returns at once when no front stream wants live events or the relay
        is not connected (nothing is coming that could go before the event);
        ``False`` if ``timeout`` seconds passed first.
        """
        if not self._subscriptions:
            return True
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self._following and (self.seen is None or self.seen < event_id):
            remaining = deadline - loop.time()
            if remaining <= 0:
                return False
            try:
                async with asyncio.timeout(remaining):
                    await self._progress.wait()
            except TimeoutError:
                return False
        return True

    def _moved(self) -> None:
        """Wake every :meth:`caught_up` waiting (the relay saw a stored event, or its connection ended)."""
        self._progress.set()
        self._progress = asyncio.Event()

    def close(self) -> None:
        """Close every subscription (the runtime is closing)."""
        for subscription in list(self._subscriptions):
            subscription.close()

    async def _follow(self) -> None:
        cursor = self._resume_point()
        delay = 0.1
        while self._subscriptions:
            client = self._streams()
            if client is None:
                return
            subscription = client.subscribe(
                self._remote_runtime_id, cursor=cursor, reconnect_attempts=0, idle_timeout=self._idle_timeout
            )
            # Everything up to the resume point is behind the relay already.
            self.seen = cursor
            self._following = True
            try:
                async with subscription:
                    async for event in subscription:
                        delay = 0.1
                        if event.type in LIVE_EVENT_TYPES:
                            self.relayed += 1
                            for live in list(self._subscriptions):
                                live.push(event)
                        else:
                            cursor = self.seen = event.id
                            self._moved()
            except CursorExpired:
                # The remote no longer has our resume point (it restarted
                # without its events): start again from the newest event seen.
                cursor = self._resume_point()
            except RegistryError as exc:
                log.debug("remote runtime %r: live relay interrupted (%s)", self._remote_runtime_id, exc.code)
            finally:
                self._following = False
                self._moved()
            await asyncio.sleep(delay)
            delay = min(delay * 2, MAX_RETRY_SECONDS)
