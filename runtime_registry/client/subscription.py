"""``EventSubscription``: a runtime's live events over SSE, resumed by itself after a dropped connection.

The subscription remembers the id of the last event it handed out. When the
connection drops — a reset, the server's shutdown ending the body, no byte for
``idle_timeout`` seconds (the server sends heartbeats), uvicorn's plain ``503``
at its connection limit — it reconnects with ``Last-Event-ID`` set to that id,
so the next event it yields is the one after it: nothing twice, nothing
skipped. When the server answers that the resume point is gone (the
``cursor_expired`` event: retention passed it, or the server restarted), it
raises :class:`~registry_core.errors.CursorExpired` and ends; an ``error``
event (the runtime stopped or failed) raises that error. Any other refusal (a
``404``, a ``401``) is raised at once: reconnecting would not change it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncGenerator, AsyncIterator

import httpx

from registry_core.converter import structure
from registry_core.errors import CursorExpired, InvalidRequest, RegistryError, RuntimeUnavailable
from registry_core.models import Event
from runtime_registry.client.errors import (
    STATUS_OF_CODE,
    ConnectionFailed,
    MalformedResponse,
    ServerBusy,
    error_from_answer,
    error_from_envelope,
)
from runtime_registry.client.sse import read_messages

__all__ = ["MAX_RECONNECT_DELAY_SECONDS", "EventSubscription"]

#: The longest wait between two reconnection attempts.
MAX_RECONNECT_DELAY_SECONDS = 5.0


class _Dropped(Exception):
    """The connection ended or failed in a way a reconnection may cure."""


class EventSubscription:
    """An async iterator of :class:`~registry_core.models.Event`; made by ``RegistryClient.subscribe``.

    ``last_event_id`` is the id of the last event yielded (where a resume
    starts); ``reconnects`` counts the reconnections made so far.
    """

    def __init__(
        self,
        http: httpx.AsyncClient,
        path: str,
        *,
        cursor: int | None,
        reconnect_attempts: int,
        reconnect_delay: float,
        idle_timeout: float,
    ) -> None:
        if reconnect_attempts < 0 or reconnect_delay < 0 or idle_timeout <= 0:
            raise ValueError("reconnect_attempts and reconnect_delay must be >= 0, idle_timeout > 0")
        self._http = http
        self._path = path
        self._cursor = cursor
        self._reconnect_attempts = reconnect_attempts
        self._reconnect_delay = reconnect_delay
        self._idle_timeout = idle_timeout
        self._events: AsyncGenerator[Event, None] | None = None
        # The step of the iteration in flight: a task of its own, so that
        # aclose() from another task can end it (an async generator cannot be
        # closed while it runs).
        self._step: asyncio.Future[Event] | None = None
        self._closed = False
        self.last_event_id: int | None = None
        self.reconnects = 0

    def __aiter__(self) -> EventSubscription:
        return self

    async def __anext__(self) -> Event:
        if self._closed:
            raise StopAsyncIteration
        events = self._events
        if events is None:
            events = self._events = self._follow()
        step = self._step = asyncio.ensure_future(events.__anext__())
        try:
            return await step
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if self._closed and (current is None or not current.cancelling()):
                raise StopAsyncIteration from None  # aclose() ended the step: the iteration ends
            raise
        finally:
            self._step = None

    async def aclose(self) -> None:
        """Close the connection; the iteration ends (also when another task is waiting for the next event)."""
        self._closed = True
        step = self._step
        if step is not None and not step.done():
            step.cancel()
            with contextlib.suppress(BaseException):
                await asyncio.wait([step])
        if self._events is not None:
            await self._events.aclose()

    async def __aenter__(self) -> EventSubscription:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.aclose()

    async def _follow(self) -> AsyncGenerator[Event, None]:
        failures = 0
        while True:
            try:
                async for event in self._connection():
                    failures = 0
                    yield event
                # The body ended cleanly (the server shut down): resume like a drop.
            except _Dropped:
                pass
            else:
                failures = max(failures, 0)
            failures += 1
            if failures > self._reconnect_attempts:
                raise ConnectionFailed("the event stream dropped and could not be resumed")
            await asyncio.sleep(min(self._reconnect_delay * 2 ** (failures - 1), MAX_RECONNECT_DELAY_SECONDS))
            self.reconnects += 1

    async def _connection(self) -> AsyncIterator[Event]:
        """The events of one connection; ``_Dropped`` when it breaks."""
        headers = {"Accept": "text/event-stream"}
        params = {}
        if self.last_event_id is not None:
            headers["Last-Event-ID"] = str(self.last_event_id)
        elif self._cursor is not None:
            params["cursor"] = str(self._cursor)
        timeout = httpx.Timeout(self._http.timeout.connect, read=self._idle_timeout)
        try:
            async with self._http.stream(
                "GET", self._path, params=params, headers=headers, timeout=timeout
            ) as response:
                if response.status_code != 200:
                    content = await response.aread()
                    error = error_from_answer(response.status_code, content, response.headers.get("content-type", ""))
                    if isinstance(error, ServerBusy):
                        raise _Dropped
                    raise error
                async for message in read_messages(response.aiter_lines()):
                    if message.comment is not None:
                        continue
                    if message.event in ("cursor_expired", "error"):
                        raise _stream_error(message.event, message.data)
                    event = _event(message.data)
                    self.last_event_id = event.id
                    yield event
        except (httpx.TimeoutException, httpx.TransportError, httpx.StreamError):
            raise _Dropped from None
        except ValueError:
            raise MalformedResponse("the event stream sent a message larger than any the server sends") from None


def _event(data: str) -> Event:
    try:
        return structure(json.loads(data), Event)
    except (ValueError, InvalidRequest):
        raise MalformedResponse("the event stream sent an event that is not an event") from None


def _stream_error(name: str, data: str) -> RegistryError:
    try:
        error = error_from_envelope(None, json.loads(data))
    except ValueError:
        error = None
    if error is None:
        error = (
            CursorExpired("the events after the resume point are no longer retained")
            if name == "cursor_expired"
            else RuntimeUnavailable("the runtime stopped or failed while streaming")
        )
    # The status a poll would have answered with the same error (410 for cursor_expired).
    error.status = STATUS_OF_CODE.get(error.code)  # type: ignore[attr-defined]
    return error
