"""A lean HTTP/1.1 keep-alive connection pool for the client's JSON calls over plain ``http://``.

httpx costs about a millisecond of CPU per request on this project's target
machines (its client, httpcore's pool and anyio's streams): more than the
server spends answering. A ``remote`` runtime pays that on every proxied call,
so its throughput was a fraction of the remote's (docs/performance.md). The
API's JSON calls need little of HTTP — one request, one answer with a
``Content-Length`` (or chunked) body, on a kept-alive connection — so this
module does exactly that (decision 0099), as an asyncio protocol that parses
an answer as its bytes arrive and wakes the request once, when it is whole
(decision 0202). httpx still does everything else: the event stream,
``https://``, and custom transports.

A connection that was idle in the pool may have been closed by the server
(its keep-alive timeout) just as a request is sent: idle connections are
dropped after :data:`IDLE_SECONDS` (below uvicorn's 5 s default) or as soon
as the loop has seen the server close them, and a ``GET`` that got no byte
back on a reused connection is retried once on a new one. Other methods are
never retried: they might have been processed.
"""

from __future__ import annotations

import asyncio
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


class ConnectionPool:
    """Keep-alive connections to one ``host:port``, at most ``max_connections`` of them at a time."""

    def __init__(self, host: str, port: int, *, host_header: str, max_connections: int) -> None:
        self._host = host
        self._port = port
        self._host_header = host_header.encode("ascii")
        self._idle: deque[_Connection] = deque()
        self._slots = asyncio.Semaphore(max_connections)
        self._closed = False

    async def request(self, method: str, target: str, headers: bytes, body: bytes | None, *, timeout: float) -> Answer:
        """Send one request and read its whole answer, all within ``timeout`` seconds (else ``TimeoutError``).

        :param target: the path and query, already encoded.
        :param headers: extra header lines, each ending in ``\\r\\n``.
        """
        if self._closed:
            raise ConnectionLost("the pool is closed")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        head = b"%s %s HTTP/1.1\r\nHost: %s\r\n%s" % (
            method.encode("ascii"),
            target.encode("ascii"),
            self._host_header,
            headers,
        )
        if body is not None:
            head += b"Content-Length: %d\r\n" % len(body)
        message = head + b"\r\n" + (body or b"")
        if self._slots.locked():
            async with asyncio.timeout_at(deadline):
                await self._slots.acquire()
        else:
            await self._slots.acquire()  # a free slot: taken without suspending
        try:
            connection, reused = await self._connection(loop, deadline)
            try:
                answer, keep = await _exchange(loop, connection, message, deadline)
            except _NothingReceived:
                connection.close()
                if not (reused and method in ("GET", "HEAD")):
                    raise ConnectionLost("the connection closed before an answer") from None
                connection, _ = await self._connection(loop, deadline, fresh=True)
                try:
                    answer, keep = await _exchange(loop, connection, message, deadline)
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
                connection.idle_since = loop.time()
                self._idle.append(connection)
            else:
                connection.close()
            return answer
        finally:
            self._slots.release()

    async def aclose(self) -> None:
        """Close every idle connection; connections in use close when their request ends."""
        self._closed = True
        while self._idle:
            self._idle.pop().close()

    async def _connection(
        self, loop: asyncio.AbstractEventLoop, deadline: float, *, fresh: bool = False
    ) -> tuple[_Connection, bool]:
        now = loop.time()
        while self._idle and not fresh:
            connection = self._idle.pop()
            if connection.reusable(now):
                return connection, True
            connection.close()
        try:
            async with asyncio.timeout_at(deadline):
                _, connection = await loop.create_connection(_Connection, self._host, self._port)
        except OSError:
            raise ConnectionLost("the server could not be reached") from None
        return connection, False


async def _exchange(
    loop: asyncio.AbstractEventLoop, connection: _Connection, message: bytes, deadline: float
) -> tuple[Answer, bool]:
    """Write ``message`` and wait for the whole answer, until ``deadline`` (loop time)."""
    waiter: asyncio.Future[tuple[Answer, bool]] = loop.create_future()
    # One timer on the answer's future: cheaper than a timeout context per request.
    timer = loop.call_at(deadline, _expire, waiter)
    try:
        connection.send(message, waiter)
        return await waiter
    except ConnectionError:  # (not OSError: a TimeoutError is one, and must stay a timeout)
        raise ConnectionLost("the connection broke") from None
    finally:
        timer.cancel()


def _expire(waiter: asyncio.Future[tuple[Answer, bool]]) -> None:
    if not waiter.done():
        waiter.set_exception(TimeoutError())


class _Connection(asyncio.Protocol):
    """One kept-alive connection, reading answers in the event loop's callbacks.

    A protocol rather than asyncio's streams: an answer is parsed as its
    bytes arrive, and the waiting request is woken once, when the answer is
    whole, instead of once per read (head, then body); and whether an idle
    connection was closed by the server is known from the loop's own
    callbacks, without a ``select`` per request.
    """

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.idle_since = 0.0
        #: The server closed its side, the connection broke, or it sent what nobody asked for.
        self.unusable = False
        self._buffer = bytearray()
        self._waiter: asyncio.Future[tuple[Answer, bool]] | None = None
        self._head: tuple[int, str, int | None, bool, bool] | None = None
        self._body_start = 0
        self._ended = False

    # -- asyncio callbacks ---------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        if self._waiter is None:
            # Bytes on an idle HTTP/1.1 connection: garbage, or an answer to
            # nothing. It cannot be trusted with the next request.
            self.unusable = True
            return
        self._buffer += data
        self._advance()

    def eof_received(self) -> bool:
        self._end()
        return False  # the transport closes itself

    def connection_lost(self, exc: Exception | None) -> None:
        self._end()

    # -- requests ------------------------------------------------------------------

    def reusable(self, now: float) -> bool:
        """Whether the idle connection can take a request."""
        return (
            not self.unusable
            and now - self.idle_since < IDLE_SECONDS
            and self.transport is not None
            and not self.transport.is_closing()
        )

    def send(self, message: bytes, waiter: asyncio.Future[tuple[Answer, bool]]) -> None:
        """Write ``message``; ``waiter`` gets the whole answer and whether the connection stays open."""
        assert self.transport is not None
        self._waiter = waiter
        self._buffer.clear()
        self._head = None
        self.transport.write(message)

    def close(self) -> None:
        """Close the connection at once (whatever it was doing)."""
        self.unusable = True
        if self.transport is not None:
            self.transport.abort()

    def _end(self) -> None:
        self.unusable = True
        self._ended = True
        if self._waiter is not None:
            self._advance()

    def _advance(self) -> None:
        """Resolve the waiter once the buffer holds a whole answer, the connection ended, or the answer is not HTTP."""
        try:
            answer = self._answer()
        except (ProtocolError, ConnectionLost, _NothingReceived) as exc:
            self._resolve(exc)
            return
        if answer is not None:
            self._resolve(answer)

    def _resolve(self, outcome: tuple[Answer, bool] | Exception) -> None:
        waiter, self._waiter = self._waiter, None
        if waiter is None or waiter.done():
            return
        if isinstance(outcome, Exception):
            waiter.set_exception(outcome)
        else:
            waiter.set_result(outcome)

    def _answer(self) -> tuple[Answer, bool] | None:
        buffer, ended = self._buffer, self._ended
        if self._head is None:
            end = buffer.find(b"\r\n\r\n", 0, MAX_HEAD_BYTES)
            if end < 0:
                if len(buffer) >= MAX_HEAD_BYTES:
                    raise ProtocolError("the answer's head is too large")
                if ended:
                    if not buffer:
                        raise _NothingReceived
                    raise ConnectionLost("the connection broke mid-answer")
                return None
            self._head = _parse_head(bytes(buffer[: end + 4]))
            self._body_start = end + 4
        status, content_type, length, chunked, keep = self._head
        start = self._body_start
        if chunked:
            read = _chunked_body(buffer, start)
            if read is None:
                if ended:
                    raise ConnectionLost("the connection broke mid-answer")
                return None
            body, consumed = read
        elif length is not None:
            if length > MAX_BODY_BYTES:
                raise ProtocolError("the answer's body is too large")
            consumed = start + length
            if len(buffer) < consumed:
                if ended:
                    raise ConnectionLost("the connection broke mid-answer")
                return None
            body = bytes(buffer[start:consumed])
        else:
            # Neither a length nor chunks: the body ends with the connection.
            if len(buffer) - start > MAX_BODY_BYTES:
                raise ProtocolError("the answer's body is too large")
            if not ended:
                return None
            body, consumed, keep = bytes(buffer[start:]), len(buffer), False
        if len(buffer) > consumed:
            keep = False  # bytes beyond the answer: the connection is not to be trusted again
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


def _chunked_body(buffer: bytearray, start: int) -> tuple[bytes, int] | None:
    """The body of a chunked answer in ``buffer[start:]`` and where it ends; ``None`` while incomplete."""
    body = bytearray()
    position = start
    while True:
        line_end = buffer.find(b"\r\n", position)
        if line_end < 0:
            return None
        try:
            size = int(bytes(buffer[position:line_end]).split(b";", 1)[0].strip(), 16)
        except ValueError:
            raise ProtocolError("the answer's chunk size is not a number") from None
        position = line_end + 2
        if size == 0:
            # Trailers, if any, end with an empty line.
            while True:
                line_end = buffer.find(b"\r\n", position)
                if line_end < 0:
                    return None
                empty = line_end == position
                position = line_end + 2
                if empty:
                    return bytes(body), position
        if size < 0:
            raise ProtocolError("the answer's chunk size is not a number")
        if len(body) + size > MAX_BODY_BYTES:
            raise ProtocolError("the answer's body is too large")
        if len(buffer) < position + size + 2:
            return None
        body += buffer[position : position + size]
        position += size + 2
