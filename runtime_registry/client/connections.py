"""A lean HTTP/1.1 keep-alive connection pool for the client's JSON calls over plain ``http://``.

httpx costs about a millisecond of CPU per request on this project's target
machines (its client, httpcore's pool and anyio's streams): more than the
server spends answering. A ``remote`` runtime pays that on every proxied call,
so its throughput was a fraction of the remote's (docs/performance.md). The
API's JSON calls need little of HTTP — one request, one answer with a
``Content-Length`` (or chunked) body, on a kept-alive connection — so this
module does exactly that on asyncio streams (decision 0099). httpx still does
everything else: the event stream, ``https://``, and custom transports.

A connection that was idle in the pool may have been closed by the server
(its keep-alive timeout) just as a request is sent: idle connections are
dropped after :data:`IDLE_SECONDS` (below uvicorn's 5 s default), and a ``GET``
that got no byte back on a reused connection is retried once on a new one.
Other methods are never retried: they might have been processed.
"""

from __future__ import annotations

import asyncio
import select
import time
from collections import deque

import attrs

__all__ = ["IDLE_SECONDS", "MAX_HEAD_BYTES", "Answer", "ConnectionLost", "ConnectionPool", "ProtocolError"]

#: A pooled connection idle longer than this is closed rather than reused.
IDLE_SECONDS = 3.0
#: The largest status line plus headers accepted.
MAX_HEAD_BYTES = 64 * 1024
#: The largest body accepted (a page of the API is far smaller).
MAX_BODY_BYTES = 64 * 1024 * 1024


class ConnectionLost(Exception):
    """The connection could not be made, or broke before the whole answer arrived."""


class ProtocolError(Exception):
    """The answer is not HTTP/1.1 this pool can read."""


@attrs.frozen
class Answer:
    """A whole answer: status, the ``Content-Type`` header (``""`` if none) and the body."""

    status: int
    content_type: str
    body: bytes


@attrs.define
class _Connection:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    idle_since: float = 0.0

    def close(self) -> None:
        self.writer.transport.abort()

    def still_open(self) -> bool:
        """Whether the idle connection can take a request: nothing to read (an idle
        HTTP/1.1 connection that is readable was closed or sent garbage)."""
        if self.reader.at_eof() or self.writer.transport.is_closing():
            return False
        sock = self.writer.get_extra_info("socket")
        if sock is None:
            return True
        try:
            readable, _, _ = select.select([sock], [], [], 0)
        except (OSError, ValueError):
            return False
        return not readable


class ConnectionPool:
    """Keep-alive connections to one ``host:port``, at most ``max_connections`` of them at a time."""

    def __init__(self, host: str, port: int, *, host_header: str, max_connections: int) -> None:
        self._host = host
        self._port = port
        self._host_header = host_header.encode("ascii")
        self._idle: deque[_Connection] = deque()
        self._slots = asyncio.Semaphore(max_connections)
        self._closed = False

    async def request(self, method: str, target: str, headers: bytes, body: bytes | None) -> Answer:
        """Send one request and read its whole answer.

        :param target: the path and query, already encoded.
        :param headers: extra header lines, each ending in ``\\r\\n``.
        """
        if self._closed:
            raise ConnectionLost("the pool is closed")
        head = b"%s %s HTTP/1.1\r\nHost: %s\r\n%s" % (
            method.encode("ascii"),
            target.encode("ascii"),
            self._host_header,
            headers,
        )
        if body is not None:
            head += b"Content-Length: %d\r\n" % len(body)
        message = head + b"\r\n" + (body or b"")
        async with self._slots:
            connection, reused = await self._connection()
            try:
                answer, keep = await self._exchange(connection, message)
            except _NothingReceived:
                connection.close()
                if not (reused and method in ("GET", "HEAD")):
                    raise ConnectionLost("the connection closed before an answer") from None
                connection, _ = await self._connection(fresh=True)
                try:
                    answer, keep = await self._exchange(connection, message)
                except _NothingReceived:
                    connection.close()
                    raise ConnectionLost("the connection closed before an answer") from None
                except BaseException:
                    connection.close()
                    raise
            except BaseException:
                # A timeout or cancellation mid-answer leaves the connection in an unknown state.
                connection.close()
                raise
            if keep and not self._closed:
                connection.idle_since = time.monotonic()
                self._idle.append(connection)
            else:
                connection.close()
            return answer

    async def aclose(self) -> None:
        """Close every idle connection; connections in use close when their request ends."""
        self._closed = True
        while self._idle:
            self._idle.pop().close()

    async def _connection(self, *, fresh: bool = False) -> tuple[_Connection, bool]:
        now = time.monotonic()
        while self._idle and not fresh:
            connection = self._idle.pop()
            if now - connection.idle_since < IDLE_SECONDS and connection.still_open():
                return connection, True
            connection.close()
        try:
            reader, writer = await asyncio.open_connection(self._host, self._port, limit=MAX_HEAD_BYTES)
        except OSError:
            raise ConnectionLost("the server could not be reached") from None
        return _Connection(reader, writer), False

    async def _exchange(self, connection: _Connection, message: bytes) -> tuple[Answer, bool]:
        reader, writer = connection.reader, connection.writer
        try:
            writer.write(message)
            if writer.transport.get_write_buffer_size() > 65536:
                await writer.drain()
            try:
                head = await reader.readuntil(b"\r\n\r\n")
            except asyncio.IncompleteReadError as exc:
                if not exc.partial:
                    raise _NothingReceived from None
                raise ConnectionLost("the connection broke mid-answer") from None
            status, content_type, length, chunked, keep = _parse_head(head)
            if chunked:
                body = await _read_chunked(reader)
            elif length is not None:
                if length > MAX_BODY_BYTES:
                    raise ProtocolError("the answer's body is too large")
                body = await reader.readexactly(length)
            else:
                body = await reader.read(MAX_BODY_BYTES)
                keep = False
        except asyncio.IncompleteReadError:
            raise ConnectionLost("the connection broke mid-answer") from None
        except asyncio.LimitOverrunError:
            raise ProtocolError("the answer's head is too large") from None
        except (ConnectionError, OSError):
            raise ConnectionLost("the connection broke") from None
        return Answer(status, content_type, body), keep


class _NothingReceived(Exception):
    """The connection ended before the first byte of an answer (a reused one the server had closed)."""


def _parse_head(head: bytes) -> tuple[int, str, int | None, bool, bool]:
    """Status, content type, content length, whether chunked, whether the connection stays open."""
    lines = head.split(b"\r\n")
    parts = lines[0].split(b" ", 2)
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/1.") or not parts[1].isdigit():
        raise ProtocolError("the answer is not HTTP/1.1")
    status = int(parts[1])
    keep = parts[0] == b"HTTP/1.1"
    content_type, length, chunked = "", None, False
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            value = value.strip()
            if not value.isdigit():
                raise ProtocolError("the answer's Content-Length is not a number")
            length = int(value)
        elif name == b"content-type":
            content_type = value.strip().decode("latin-1")
        elif name == b"transfer-encoding":
            chunked = b"chunked" in value.lower()
        elif name == b"connection":
            keep = keep and b"close" not in value.lower()
    return status, content_type, length, chunked, keep


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    body = bytearray()
    while True:
        size_line = await reader.readuntil(b"\r\n")
        try:
            size = int(size_line.split(b";", 1)[0].strip(), 16)
        except ValueError:
            raise ProtocolError("the answer's chunk size is not a number") from None
        if size == 0:
            # Trailers, if any, end with an empty line.
            while await reader.readuntil(b"\r\n") != b"\r\n":
                pass
            return bytes(body)
        if len(body) + size > MAX_BODY_BYTES:
            raise ProtocolError("the answer's body is too large")
        body += await reader.readexactly(size)
        await reader.readexactly(2)
