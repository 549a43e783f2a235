"""Drive a streaming GET straight through ASGI: read the body as it comes, disconnect when done.

httpx's ASGITransport waits for the whole body, which a live stream never ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

from starlette.types import ASGIApp, Message


class StreamingCall:
    """One request in flight: its status, headers and the body received so far."""

    def __init__(self) -> None:
        self.status: int | None = None
        self.headers: dict[str, str] = {}
        self.body = ""
        self.finished = False
        self._changed = asyncio.Condition()

    async def _on_send(self, message: Message) -> None:
        async with self._changed:
            if message["type"] == "http.response.start":
                self.status = message["status"]
                self.headers = {k.decode().lower(): v.decode() for k, v in message.get("headers", [])}
            elif message["type"] == "http.response.body":
                self.body += message.get("body", b"").decode()
                if not message.get("more_body", False):
                    self.finished = True
            self._changed.notify_all()

    async def wait_until(self, predicate, timeout: float = 5.0) -> None:
        """Wait until ``predicate(self)`` holds."""
        async with asyncio.timeout(timeout):
            async with self._changed:
                await self._changed.wait_for(lambda: predicate(self))

    def events(self) -> list[dict[str, Any]]:
        """The complete SSE blocks received: ``{"id", "event", "data", "comment"}`` each."""
        blocks = self.body.split("\n\n")[:-1]
        parsed = []
        for block in blocks:
            fields: dict[str, Any] = {}
            for line in block.splitlines():
                name, _, value = line.partition(":")
                fields[name or "comment"] = value[1:] if value.startswith(" ") else value
            if "data" in fields:
                fields["data"] = json.loads(fields["data"])
            parsed.append(fields)
        return parsed

    def data_events(self) -> list[dict[str, Any]]:
        """The blocks that are events (not heartbeat comments)."""
        return [e for e in self.events() if "event" in e]


@contextlib.asynccontextmanager
async def streaming_get(
    app: ASGIApp, path: str, *, query: str = "", headers: dict[str, str] | None = None
) -> AsyncIterator[StreamingCall]:
    """Start a GET; on exit the client disconnects and the app call must end within two seconds."""
    call = StreamingCall()
    disconnected = asyncio.Event()
    requested = False

    async def receive() -> Message:
        nonlocal requested
        if not requested:
            requested = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await disconnected.wait()
        return {"type": "http.disconnect"}

    scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query.encode(),
        "root_path": "",
        "headers": [(b"host", b"localhost")] + [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()],
        "client": ("127.0.0.1", 50000),
        "server": ("localhost", 80),
        "state": {},
    }
    task = asyncio.create_task(app(scope, receive, call._on_send))
    call.task = task  # type: ignore[attr-defined]
    try:
        await call.wait_until(lambda c: c.status is not None or task.done())
        yield call
    finally:
        disconnected.set()
        async with asyncio.timeout(2):
            await task
