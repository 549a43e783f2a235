"""``GET /api/runtimes/{runtime_id}/events/stream``: the live event subscription (Server-Sent Events).

Built on registry calls only, guarded like every route's: ``open_event_stream``
(the capability check and the first page), ``read_events`` (a page after a
cursor) and ``wait_for_events`` (sleep until there is more, or a timeout
passes). The stream:

- resumes after the ``Last-Event-ID`` header, else ``?cursor=``, else starts at
  the oldest retained event (the same as polling without a cursor); an empty
  ``Last-Event-ID`` is "no id", as if absent (decision 0056);
- sends each event as ``id:`` (the event id), ``event:`` (its type) and
  ``data:`` (the event JSON);
- sends a ``: heartbeat`` comment after ``server.stream_heartbeat_seconds``
  with nothing to say, so proxies and clients know it is alive;
- when the resume point is no longer retained, sends one ``cursor_expired``
  event (the error envelope as data) and closes: nothing is skipped silently;
- when the runtime stops or fails mid-stream, sends one ``error`` event with
  the error envelope and closes;
- sends the runtime's live-only events (``worker.output_delta``) that happen
  while it is connected, each right after the stored event it follows and
  without an ``id:`` line, so a reconnecting client resumes from stored ids
  only (decision 0091).

Errors known before the first byte (unknown runtime, bad id, bad cursor, a
runtime that cannot stream) are ordinary JSON error responses.
sse-starlette's ``EventSourceResponse`` does the framing, notices client
disconnects and closes streams when uvicorn begins to shut down (decision 0011).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from types import ModuleType
from typing import TYPE_CHECKING

import anyio
from starlette.responses import Response

from registry_core.errors import CursorExpired, RegistryError
from registry_core.models import EventPage
from runtime_registry.host.registry import RuntimeRegistry
from runtime_registry.server.errors import envelope
from runtime_registry.server.live_fanout import LiveFanouts, LiveReader
from runtime_registry.server.serialization import encode_json
from runtime_registry.server.sse_frames import SEPARATOR, stored_frame

if TYPE_CHECKING:
    from sse_starlette import ServerSentEvent

__all__ = ["event_stream_endpoint", "HEARTBEAT_COMMENT"]

#: The comment line an idle stream sends (``: heartbeat``) every ``server.stream_heartbeat_seconds``.
HEARTBEAT_COMMENT = "heartbeat"
#: How long a stream may take to end itself once shutdown begins before it is cancelled.
SHUTDOWN_GRACE_SECONDS = 2.0
#: The most one write to a stream's client holds (a larger frame goes alone):
#: what a client that does not read keeps in the server's memory, beside the
#: transport's own high-water mark.
WRITE_BYTES = 64 * 1024


def _sse() -> ModuleType:
    """sse-starlette, imported by the first stream rather than at startup, where it
    was a measurable part of the start (decision 0052, docs/performance.md).

    Imported after uvicorn installed its signal handlers, its import-time patch
    of uvicorn's ``handle_exit`` comes too late to matter; it then sees shutdown
    through the installed handler's server (``should_exit``), its documented
    fallback, and streams still end cleanly on SIGTERM
    (tests/reliability/test_shutdown.py).
    """
    import sse_starlette

    return sse_starlette


def event_stream_endpoint(registry: RuntimeRegistry, *, heartbeat_seconds: float) -> Callable[..., Awaitable[Response]]:
    """The handler of the live stream, bound to ``registry``: the contract table's ``stream_events`` row.

    The row's endpoint (:mod:`runtime_registry.server.endpoints`) has read
    ``?cursor=`` and ``Last-Event-ID`` (both, so a malformed one is a 400 even
    when the other wins); ``Last-Event-ID`` (what a reconnecting browser
    sends) wins. An empty one arrives as ``None``: in the SSE spec an empty
    last event id is the "no id" state (decision 0056).
    """

    # One fan-out per runtime with a stream open: live events are rendered
    # once and shared by every stream of this server (decision 0170).
    fanouts = LiveFanouts(registry.open_live_events)

    async def stream_events(runtime_id: str, cursor: int | None, last_event_id: int | None) -> Response:
        resume = last_event_id if last_event_id is not None else cursor
        # The first page is read before the response starts, so that every
        # error but an expired cursor is a plain JSON error with its status.
        # The registry refuses a runtime that cannot stream (405) and tells
        # how large a page may be; every read goes through its guarded calls.
        try:
            opened = await registry.open_event_stream(runtime_id, cursor=resume)
            first: EventPage | CursorExpired = opened.first
            page_max = opened.page_max
        except CursorExpired as exc:
            first, page_max = exc, 0
        # sse-starlette sets this when the server begins to shut down; the
        # generator then returns, so the response ends as a complete HTTP
        # body instead of being cancelled mid-stream.
        shutdown = anyio.Event()
        live = fanouts.open(runtime_id) if not isinstance(first, CursorExpired) else None
        response: Response = _sse().EventSourceResponse(
            _events(
                registry,
                runtime_id,
                first,
                page_max=page_max,
                heartbeat_seconds=heartbeat_seconds,
                shutdown=shutdown,
                live=live,
            ),
            ping=0,  # heartbeats are ours: sent only while idle
            sep=SEPARATOR,
            headers={"Cache-Control": "no-store"},
            shutdown_event=shutdown,
            shutdown_grace_period=SHUTDOWN_GRACE_SECONDS,
        )
        return response

    return stream_events


async def _events(
    registry: RuntimeRegistry,
    runtime_id: str,
    first: EventPage | CursorExpired,
    *,
    page_max: int,
    heartbeat_seconds: float,
    shutdown: anyio.Event,
    live: LiveReader | None = None,
) -> AsyncIterator[ServerSentEvent | bytes]:
    if isinstance(first, CursorExpired):
        yield _error_event("cursor_expired", first)
        return
    page = first
    shutting_down = asyncio.ensure_future(shutdown.wait())
    # The wait for stored events after ``cursor`` outlives the wakes by live
    # events: a live batch costs a stream no new task (decision 0170).
    stored: asyncio.Future[bool] | None = None
    try:
        while True:
            # Everything ready goes out as one write: a busy runtime costs one
            # send per batch, not one per event.
            frames: list[bytes] = []
            buffered = 0
            for event in page.events:
                if live is not None and live.pending():
                    # Live events that came before this stored one go first.
                    frames.append(live.take(up_to=event.id - 1))
                frame = stored_frame(event, runtime_id)
                frames.append(frame)
                buffered += len(frame)
                if buffered >= WRITE_BYTES:
                    # A write goes whole into the transport's buffer, read or
                    # not; the next waits until the client has taken it (flow
                    # control). So a client that does not read holds about
                    # WRITE_BYTES (or one large frame), not a page (issue 24, point 10).
                    yield _joined(frames)
                    frames, buffered = [], 0
                    await asyncio.sleep(0)
            if frames:
                yield _joined(frames)
                # Writing to a socket whose client is gone neither fails nor
                # suspends: the transport drops the bytes (asyncio logs a
                # warning for each), and the disconnect is only seen by a task
                # that gets to run. Yielding to the loop after each write lets
                # it run, so a dropped replay ends at once instead of pushing
                # the whole retained log into a closed socket.
                await asyncio.sleep(0)
            cursor = page.next_cursor
            if not page.has_more:
                sent_live = False
                while True:
                    if live is not None and live.pending():
                        chunk = live.take(up_to=cursor)
                        if chunk:
                            # At most WRITE_BYTES a write, as for stored events (the
                            # chunk is shared; a slice is this client's copy).
                            for start in range(0, len(chunk), WRITE_BYTES):
                                yield chunk if len(chunk) <= WRITE_BYTES else chunk[start : start + WRITE_BYTES]
                                await asyncio.sleep(0)  # as above: let a dropped client be noticed
                            sent_live = True
                            continue
                    if stored is None:
                        stored = asyncio.ensure_future(
                            registry.wait_for_events(runtime_id, cursor=cursor, timeout=heartbeat_seconds)
                        )
                    watched = (stored, shutting_down) if live is None else (stored, shutting_down, live.changed())
                    await asyncio.wait(watched, return_when=asyncio.FIRST_COMPLETED)
                    if shutting_down.done():
                        return  # the server is shutting down: end the body cleanly
                    if not stored.done():
                        continue  # woken by live frames
                    more = stored.result()
                    stored = None
                    if more:
                        break
                    if not sent_live:
                        # Idle for a whole heartbeat period: say we are alive.
                        yield _sse().ServerSentEvent(comment=HEARTBEAT_COMMENT, sep=SEPARATOR)
                    sent_live = False
            page = await registry.read_events(runtime_id, cursor=cursor, limit=page_max)
    except CursorExpired as exc:
        yield _error_event("cursor_expired", exc)
    except RegistryError as exc:
        yield _error_event("error", exc)
    finally:
        shutting_down.cancel()
        if stored is not None and not stored.done():
            stored.cancel()
            with contextlib.suppress(BaseException):
                await stored
        if live is not None:
            live.close()


def _joined(frames: list[bytes]) -> bytes:
    """One write of ``frames``; a single frame is sent as it is (the cached object, no copy)."""
    return frames[0] if len(frames) == 1 else b"".join(frames)


def _error_event(name: str, error: RegistryError) -> ServerSentEvent:
    event: ServerSentEvent = _sse().ServerSentEvent(encode_json(envelope(error)), event=name, sep=SEPARATOR)
    return event
