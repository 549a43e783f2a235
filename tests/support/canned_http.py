"""A loopback HTTP server that answers every request with one canned answer (or never answers).

For the client's and the remote kind's handling of answers a correct server
never gives: garbage, unknown statuses, uvicorn's plain 503, a hang. It is a
real socket server in the test's event loop (``asyncio.start_server``), reads
each request head (and body, by ``Content-Length``) and answers on the same
connection until the client closes it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

__all__ = ["CannedServer", "envelope_answer"]


def envelope_answer(status: int, code: str, message: str = "canned", **fields: Any) -> bytes:
    """An error envelope answer."""
    body = json.dumps({"error": {"code": code, "message": message, **fields}}).encode()
    return answer(status, body, "application/json")


def answer(status: int, body: bytes, content_type: str = "application/json") -> bytes:
    """A raw HTTP/1.1 answer."""
    head = f"HTTP/1.1 {status} Canned\r\nContent-Type: {content_type}\r\nContent-Length: {len(body)}\r\n\r\n"
    return head.encode() + body


class CannedServer:
    """Answers ``self.response`` (raw bytes) to every request; ``None`` means never answer.

    ``close_after``: close the connection after each answer. ``connections``
    counts the connections accepted.
    """

    def __init__(self, response: bytes | None, *, close_after: bool = False) -> None:
        self.response = response
        self.close_after = close_after
        self.connections = 0
        self.requests: list[bytes] = []
        self.port = 0
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.Task[None]] = set()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def __aenter__(self) -> CannedServer:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *_exc: object) -> None:
        assert self._server is not None
        self._server.close()
        for task in list(self._connections):
            task.cancel()
        for task in list(self._connections):
            with contextlib.suppress(BaseException):
                await task

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        self.connections += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                self.requests.append(head)
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":", 1)[1])
                if length:
                    await reader.readexactly(length)
                if self.response is None:
                    await asyncio.Event().wait()  # hang: never answer
                writer.write(self.response)
                await writer.drain()
                if self.close_after:
                    writer.close()
                    return
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError, asyncio.CancelledError):
            pass  # the client left, or the server is closing (asyncio would log a cancelled handler)
        finally:
            writer.transport.abort()
            self._connections.discard(task)
