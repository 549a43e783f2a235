"""A lean HTTP/1.1 load client: a pool of keep-alive connections on asyncio streams.

The load and concurrency tests fire thousands of requests from the test
process while the server runs in another. httpx costs about 2 ms of client
CPU per request, which on a 2-core machine made the *client* the bottleneck
(measured: 2.2 s of client CPU against 0.4 s of server CPU for 1,000 GETs).
This client costs a few tens of microseconds per request, so what the tests
load is the server.

It speaks just what the JSON API answers: HTTP/1.1 over keep-alive
connections, responses with ``Content-Length`` (chunked bodies — the event
stream — are read with httpx instead). A connection the server closes is
replaced; a request is never retried (a retried POST could double an input).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode, urlsplit

import attrs

__all__ = ["LoadClient", "Reply"]


@attrs.frozen
class Reply:
    """One response: status, headers (lower-case names) and body."""

    status: int
    headers: Mapping[str, str]
    body: bytes

    def json(self) -> Any:
        """The body as JSON."""
        return json.loads(self.body)

    @property
    def error_code(self) -> str | None:
        """The ``error.code`` of an error response; ``None`` for a success."""
        return self.json()["error"]["code"] if self.status >= 400 else None


class _Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    def close(self) -> None:
        self.writer.close()


class LoadClient:
    """Up to ``connections`` concurrent requests to ``base_url`` (``http://host:port``).

    Use as an async context manager; :meth:`close` closes every connection.
    """

    def __init__(self, base_url: str, *, connections: int = 100, headers: Mapping[str, str] | None = None) -> None:
        parts = urlsplit(base_url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self._slots = asyncio.Semaphore(connections)
        self._idle: list[_Connection] = []
        self._headers = "".join(f"{name}: {value}\r\n" for name, value in (headers or {}).items())
        self.requests_sent = 0

    async def __aenter__(self) -> LoadClient:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        """Close every idle connection (busy ones close when their request ends)."""
        idle, self._idle = self._idle, []
        for connection in idle:
            connection.close()
        for connection in idle:
            await connection.writer.wait_closed()

    async def get(
        self, path: str, params: Mapping[str, Any] | None = None, headers: Mapping[str, str] | None = None
    ) -> Reply:
        """``GET path?params``."""
        if params:
            path = f"{path}?{urlencode(params)}"
        return await self.request("GET", path, headers=headers)

    async def post(self, path: str, json_body: Any = None, headers: Mapping[str, str] | None = None) -> Reply:
        """``POST path`` with ``json_body`` as JSON (no body if ``None``)."""
        body = b"" if json_body is None else json.dumps(json_body).encode()
        return await self.request("POST", path, body=body, headers=headers)

    async def request(
        self, method: str, path: str, *, body: bytes = b"", headers: Mapping[str, str] | None = None
    ) -> Reply:
        """Send one request on a pooled connection and read its response."""
        extra = "".join(f"{name}: {value}\r\n" for name, value in (headers or {}).items())
        content = f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n" if body else ""
        head = f"{method} {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n{self._headers}{extra}{content}\r\n"
        async with self._slots:
            connection = self._idle.pop() if self._idle else await self._connect()
            try:
                connection.writer.write(head.encode("latin-1") + body)
                self.requests_sent += 1
                reply, keep_alive = await self._read_reply(connection.reader, method)
            except BaseException:
                connection.close()
                raise
            if keep_alive:
                self._idle.append(connection)
            else:
                connection.close()
            return reply

    async def _connect(self) -> _Connection:
        reader, writer = await asyncio.open_connection(self.host, self.port)
        return _Connection(reader, writer)

    @staticmethod
    async def _read_reply(reader: asyncio.StreamReader, method: str) -> tuple[Reply, bool]:
        head = await reader.readuntil(b"\r\n\r\n")
        status_line, *header_lines = head.decode("latin-1").split("\r\n")[:-2]
        status = int(status_line.split(" ", 2)[1])
        headers: dict[str, str] = {}
        for line in header_lines:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        if "chunked" in headers.get("transfer-encoding", ""):
            raise ValueError("chunked responses (event streams) are not for this client")
        length = 0 if method == "HEAD" else int(headers.get("content-length", "0"))
        body = await reader.readexactly(length) if length else b""
        return Reply(status, headers, body), headers.get("connection", "").lower() != "close"
