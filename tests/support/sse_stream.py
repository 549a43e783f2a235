"""An event stream of a real server read in the background, as a client reads it (Server-Sent Events).

Used by the tests that watch streams across processes (a remote front, PostgreSQL replicas):
``async with streaming(client, path) as stream`` reads the stream's messages (``event``, ``id``,
``data`` fields) into ``stream.messages`` until the block ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Callable, Mapping

import httpx

__all__ = ["Stream", "streaming"]


class Stream:
    """An SSE stream read in the background: its messages as they come, and whether it ended."""

    def __init__(self) -> None:
        self.messages: list[dict[str, str]] = []
        self.ended = False

    async def read(self, lines: AsyncIterator[str]) -> None:
        current: dict[str, str] = {}
        try:
            async for line in lines:
                if not line:
                    if current:
                        self.messages.append(current)
                    current = {}
                    continue
                field, _, value = line.partition(":")
                current[field] = value.strip()
        finally:
            self.ended = True

    def events(self, kind: str | None = None) -> list[dict[str, str]]:
        """The messages that are events (of type ``kind`` only, if given)."""
        return [m for m in self.messages if "event" in m and (kind is None or m["event"] == kind)]

    def stored(self) -> list[tuple[int, str, dict]]:
        """The stored events seen (those with an id): ``(id, type, data)``."""
        return [
            (int(message["id"]), message["event"], json.loads(message["data"]))
            for message in self.events()
            if "id" in message
        ]

    async def until(self, predicate: Callable[[Stream], bool], timeout: float = 30.0) -> None:
        """Wait until ``predicate(self)`` holds; fail after ``timeout`` seconds naming the last events."""
        deadline = time.monotonic() + timeout
        while not predicate(self):
            assert time.monotonic() < deadline, f"not seen in time: {self.events()[-5:]}"
            await asyncio.sleep(0.05)


@contextlib.asynccontextmanager
async def streaming(
    client: httpx.AsyncClient,
    path: str,
    *,
    headers: Mapping[str, str] | None = None,
    params: Mapping[str, int] | None = None,
) -> AsyncIterator[Stream]:
    """Open ``GET path`` as an event stream (it must answer 200) and read it until the block ends."""
    stream = Stream()
    async with client.stream("GET", path, headers=dict(headers or {}), params=dict(params or {})) as response:
        assert response.status_code == 200, await response.aread()
        task = asyncio.create_task(stream.read(response.aiter_lines()))
        try:
            yield stream
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, httpx.HTTPError):
                await task
