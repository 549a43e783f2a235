"""The server's HTTP/1.1 protocol on httptools: uvicorn's, with each request's work done in one pass.

uvicorn's ``HttpToolsProtocol`` is the base (its parser callbacks for the URL
and the headers, upgrades, pipelining, shutdown, flow control and the 400 it
writes for a head the parser refuses are used as they are). What the server
adds to it (decisions 0082, 0203 and issue 24's head bounds) used to be three
mixins, each overriding the per-request methods and calling the next through
``super()``; here the methods a request passes through are written once, each
doing uvicorn's work and the server's together (decision 0260):

- ``data_received`` counts a head that spans reads against
  :data:`~runtime_registry.server.http_protocol.MAX_HEAD_BYTES`;
- ``on_headers_complete`` takes an absolute-form target's host as the
  request's ``Host`` and builds the request's cycle (:class:`_Cycle`);
- one lazy timer per connection serves both waits for the next request:
  uvicorn's keep-alive timeout (no byte after a response) and the server's
  header timeout (no complete head), instead of a timer cancelled and made
  again for every request;
- the cycle writes a response's head together with its body, in one
  ``write`` (decision 0203), and skips the wait for a request body that has
  already arrived.

Everything a client or an app can see (bytes, statuses, headers, events,
errors, timeouts) is uvicorn's behaviour plus the server's additions, as
before; tests/server/test_httptools_protocol.py holds the two protocols
against each other.

Whoever upgrades uvicorn checks that the attributes and methods used here
(``cycle``, ``pipeline``, ``flow``, ``_start_asgi_task``, ``_should_upgrade``,
the cycle's fields) still mean what they do in uvicorn 0.30-0.55.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import urllib.parse
from typing import Any

import httptools
from uvicorn.logging import TRACE_LOG_LEVEL
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware
from uvicorn.protocols.http.flow_control import HIGH_WATER_LIMIT, service_unavailable
from uvicorn.protocols.http.httptools_impl import (
    HEADER_RE,
    HEADER_VALUE_RE,
    STATUS_LINE,
    HttpToolsProtocol,
    RequestResponseCycle,
)

from runtime_registry.server.http_protocol import (
    MAX_HEAD_BYTES,
    _EnvelopeBadRequest,
    absolute_form_host,
    head_so_far,
    with_host,
)

log = logging.getLogger("runtime_registry.server.http_protocol")

_CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
#: The shortest the idle timer sets itself again for (seconds): a wait ends at most this late.
_LEAST_WAIT = 0.01
#: The headers uvicorn's proxy-headers middleware reads.
_FORWARDED = frozenset({b"x-forwarded-for", b"x-forwarded-proto"})


class _Cycle(RequestResponseCycle):
    """One request and its response, as uvicorn's cycle, with the response head held until its body.

    uvicorn writes a response's head (on ``http.response.start``) and its body
    apart: two ``send`` system calls and two segments for an answer of a few
    hundred bytes (decision 0203). A head that announces a ``Content-Length``
    is held here and goes out with the first body write; one whose response
    writes no body (``HEAD``, an empty body) goes out when the response
    completes, and one the app abandons (an exception, returning early) before
    the connection is closed. A head without a length (an event stream,
    chunked) goes out at once: what follows it may take any time.

    ``receive`` waits for a message (a piece of the body, its end, a
    disconnect, the response's end) as uvicorn's does on an ``asyncio.Event``;
    the event is made only when a ``receive`` finds nothing waiting, which a
    request whose body came with its head never does.
    """

    # uvicorn sets these in every cycle's __init__; as class attributes a new cycle stores only what varies.
    disconnected = False
    response_started = False
    response_complete = False
    chunked_encoding: bool | None = None
    expected_content_length = 0
    more_body = True
    #: The response head, while it waits for the body.
    _held: bytes | None = None
    #: A message waits for ``receive`` (uvicorn's event, set); the event itself, once a ``receive`` had to wait.
    _arrived = False
    _event: asyncio.Event | None = None

    def __init__(self, protocol: HttpToolsFront, scope: Any, keep_alive: bool) -> None:
        self.scope = scope
        self.transport = protocol.transport
        self.flow = protocol.flow
        self.logger = protocol.logger
        self.access_logger = protocol.access_logger
        self.access_log = protocol.access_log
        # The server replaces this list every second (its date header): taken per request, as uvicorn does.
        self.default_headers = protocol.server_state.default_headers
        self.on_response = protocol.on_response_complete
        self.keep_alive = keep_alive
        self.waiting_for_100_continue = protocol.expect_100_continue
        self.body = bytearray()

    def notify(self) -> None:
        """A message is waiting for ``receive`` (uvicorn's ``message_event.set()``)."""
        self._arrived = True
        event = self._event
        if event is not None:
            event.set()

    async def run_asgi(self, app: Any) -> None:
        """uvicorn's: run the app, answer 500 if it failed before answering, else close; a held head goes first."""
        try:
            result = await app(self.scope, self.receive, self.send)
        except BaseException as exc:
            self.logger.error("Exception in ASGI application\n", exc_info=exc)
            if not self.response_started:
                await self.send_500_response()
            else:
                self._close()
        else:
            if result is not None:
                self.logger.error("ASGI callable should return None, but returned '%s'.", result)
                self._close()
            elif not self.response_started and not self.disconnected:
                self.logger.error("ASGI callable returned without starting response.")
                await self.send_500_response()
            elif not self.response_complete and not self.disconnected:
                self.logger.error("ASGI callable returned without completing response.")
                self._close()
        finally:
            self.on_response = _nothing

    def _close(self) -> None:
        self._write_held()
        self.transport.close()

    def _write_held(self) -> None:
        """Write the held head alone (its response writes no body, or ends here), unless the connection closed."""
        held = self._held
        if held is not None:
            self._held = None
            if not self.transport.is_closing():
                self.transport.write(held)

    async def send(self, message: Any) -> None:
        """uvicorn's ``send``, with the head of a response of known length held until its body."""
        if self.flow.write_paused and not self.disconnected:
            await self.flow.drain()
        if self.disconnected:
            return
        if not self.response_started:
            if message["type"] != "http.response.start":
                raise RuntimeError(f"Expected ASGI message 'http.response.start', but got '{message['type']}'.")
            self.response_started = True
            self.waiting_for_100_continue = False
            status = message["status"]
            headers = self.default_headers + list(message.get("headers", []))
            if self.access_log:
                _log_access(self, status)
            head = _plain_head(self, status, headers)
            if head is None:
                head = _head(self, status, headers)
            if self.chunked_encoding is False:
                self._held = head  # its body follows (or, for HEAD, its completion)
            else:
                self.transport.write(head)
        elif not self.response_complete:
            if message["type"] != "http.response.body":
                raise RuntimeError(f"Expected ASGI message 'http.response.body', but got '{message['type']}'.")
            body = message.get("body", b"")
            more_body = message.get("more_body", False)
            held = self._held
            if self.scope["method"] == "HEAD":
                self.expected_content_length = 0
            elif self.chunked_encoding:
                chunk = b"%x\r\n%b\r\n" % (len(body), body) if body else b""
                self.transport.write(chunk if more_body else chunk + b"0\r\n\r\n")
            else:
                if len(body) > self.expected_content_length:
                    raise RuntimeError("Response content longer than Content-Length")
                self.expected_content_length -= len(body)
                if held is not None:
                    self._held = None
                    self.transport.write(held + body)
                    held = None
                else:
                    self.transport.write(body)
            if not more_body:
                if self.expected_content_length != 0:
                    raise RuntimeError("Response content shorter than Content-Length")
                self.response_complete = True
                self.notify()
                if held is not None:  # no body was written (HEAD, or nothing to send): the head alone
                    self._write_held()
                if not self.keep_alive:
                    self.transport.close()
                self.on_response()
        else:
            raise RuntimeError(f"Unexpected ASGI message '{message['type']}' sent, after response already completed.")

    async def receive(self) -> Any:
        """uvicorn's ``receive``; a message that has already arrived is returned without an event."""
        if self.waiting_for_100_continue and not self.transport.is_closing():
            self.transport.write(_CONTINUE)
            self.waiting_for_100_continue = False
        if not self.disconnected and not self.response_complete:
            flow = self.flow
            if flow.read_paused:
                flow.resume_reading()
            if not self._arrived:
                event = self._event
                if event is None:
                    event = self._event = asyncio.Event()
                await event.wait()
            self._arrived = False
            if self._event is not None:
                self._event.clear()
        if self.disconnected or self.response_complete:
            return {"type": "http.disconnect"}
        message = {"type": "http.request", "body": bytes(self.body), "more_body": self.more_body}
        self.body = bytearray()
        return message


#: Header names uvicorn writes as they are (lowercase, nothing it refuses in a name) and that leave the
#: response's framing alone: the ones this server's answers carry. Any other name takes uvicorn's way.
_PLAIN_NAMES = frozenset(
    {
        b"content-length",
        b"date",
        b"server",
        b"content-type",
        b"x-request-id",
        b"cache-control",
        b"location",
        b"allow",
        b"retry-after",
        b"vary",
        b"etag",
        b"www-authenticate",
        b"x-accel-buffering",
        b"x-content-type-options",
        b"x-frame-options",
        b"referrer-policy",
        b"content-security-policy",
        b"access-control-allow-origin",
        b"access-control-allow-methods",
        b"access-control-allow-headers",
        b"access-control-expose-headers",
        b"access-control-max-age",
    }
)


#: What uvicorn refuses in a header value (its ``HEADER_VALUE_RE``): the control bytes but TAB.
_REFUSED_IN_VALUES = bytes([*range(0x09), *range(0x0A, 0x20), 0x7F])


def _plain_head(cycle: _Cycle, status: int, headers: list[Any]) -> bytes | None:
    """The response head uvicorn writes, for the common case in fewer steps; ``None`` for any other case.

    The common case: every header a pair of bytes, its name in
    :data:`_PLAIN_NAMES` and not repeated, its value one uvicorn accepts.
    uvicorn checks every name and lowercases it; for these names that changes
    nothing, so the head is the headers joined, with uvicorn's framing rules
    for the ``Content-Length``. Anything else (another name, a bad value, a
    header that is not a pair of bytes) goes to :func:`_head`, which does
    exactly what uvicorn does, errors included.
    """
    try:
        named = dict(headers)
        block = b"\r\n".join(map(b": ".join, headers))
    except (TypeError, ValueError):
        return None  # a header that is not a pair of bytes
    if len(named) != len(headers) or not _PLAIN_NAMES.issuperset(named):
        return None  # a name repeated (uvicorn takes the first Content-Length), or another name
    # The names are plain, so what the block holds beyond them and the separators is the values:
    # none may hold a byte uvicorn refuses in a value (the separators' CR and LF are two of them).
    if len(block.translate(None, _REFUSED_IN_VALUES)) != len(block) - 2 * len(headers) + 2:
        return None
    length = named.get(b"content-length")
    content = [STATUS_LINE[status], block, b"\r\n"]
    if length is not None:
        cycle.expected_content_length = int(length.decode())
        cycle.chunked_encoding = False
    if not cycle.keep_alive:
        content.append(b"connection: close\r\n")
    if length is None and cycle.scope["method"] != "HEAD" and status not in (204, 304):
        cycle.chunked_encoding = True
        content.append(b"transfer-encoding: chunked\r\n")
    content.append(b"\r\n")
    return b"".join(content)


def _head(cycle: _Cycle, status: int, headers: list[Any]) -> bytes:
    """The response head as uvicorn builds it: each header checked, its name lowercased, framing noted."""
    content = [STATUS_LINE[status]]
    closes = False
    for name, value in headers:
        if HEADER_RE.search(name):
            raise RuntimeError("Invalid HTTP header name.")
        if HEADER_VALUE_RE.search(value):
            raise RuntimeError("Invalid HTTP header value.")
        name = name.lower()
        if name == b"content-length" and cycle.chunked_encoding is None:
            cycle.expected_content_length = int(value.decode())
            cycle.chunked_encoding = False
        elif name == b"transfer-encoding" and value.lower() == b"chunked":
            cycle.expected_content_length = 0
            cycle.chunked_encoding = True
        elif name == b"connection" and b"close" in [token.lower().strip() for token in value.split(b",")]:
            cycle.keep_alive = False
            closes = True
        content += (name, b": ", value, b"\r\n")
    if not cycle.keep_alive and not closes:
        content.append(b"connection: close\r\n")
    if cycle.chunked_encoding is None and cycle.scope["method"] != "HEAD" and status not in (204, 304):
        cycle.chunked_encoding = True
        content.append(b"transfer-encoding: chunked\r\n")
    content.append(b"\r\n")
    return b"".join(content)


def _nothing() -> None:
    return None


def _log_access(cycle: _Cycle, status: int) -> None:
    from uvicorn.protocols.utils import get_client_addr, get_path_with_query_string

    scope = cycle.scope
    cycle.access_logger.info(
        '%s - "%s %s HTTP/%s" %d',
        get_client_addr(scope),
        scope["method"],
        get_path_with_query_string(scope),
        scope["http_version"],
        status,
    )


class HttpToolsFront(_EnvelopeBadRequest, HttpToolsProtocol):
    """uvicorn's httptools protocol with the head bound, absolute-form targets, one idle timer and held heads."""

    cycle: _Cycle
    #: Set per server by ``protocol_class``.
    header_timeout_seconds: float = 10.0
    #: Whether a request head is being parsed, and its counted size (0 until a read ends with it incomplete).
    _in_head = False
    _head_bytes = 0
    #: Whether the request being parsed carries a header the proxy-headers middleware reads.
    _forwarded = False
    # The wait for the next request: since when, under which cycle, whether it follows a response
    # (then uvicorn's keep-alive timeout applies until a byte arrives), and whether a byte arrived.
    _idle_timer: asyncio.TimerHandle | None = None
    _idle_since = 0.0
    _idle_cycle: Any = None
    _idle_after_response = False
    _read_since_idle = False

    def connection_made(self, transport: Any) -> None:
        super().connection_made(transport)
        # Once per connection what uvicorn looks up for every request's task.
        self._task_done = self.tasks.discard
        self._fresh_context = getattr(self.config, "reset_contextvars", False)
        # uvicorn's proxy-headers middleware (on unless the server turns it off) changes the scope
        # only when a request carries X-Forwarded-For or -Proto: other requests go to the app it wraps.
        app = self.app
        self._app_unforwarded = app.app if type(app) is ProxyHeadersMiddleware else app
        self._wait_for_a_request(after_response=False)

    def _start_asgi_task(self, cycle: Any, app: Any) -> None:
        """uvicorn's: the request's task, counted in the server's tasks until it is done."""
        if self._fresh_context:
            task = self.loop.create_task(cycle.run_asgi(app), context=contextvars.Context())
        else:
            task = self.loop.create_task(cycle.run_asgi(app))
        task.add_done_callback(self._task_done)
        self.tasks.add(task)

    def connection_lost(self, exc: Exception | None) -> None:
        """uvicorn's, with the idle timer ended (and the cycle told as :class:`_Cycle` is)."""
        timer = self._idle_timer
        if timer is not None:
            timer.cancel()
            self._idle_timer = None
        self.connections.discard(self)
        if self.logger.level <= TRACE_LOG_LEVEL:
            prefix = f"{self.client[0]}:{self.client[1]} - " if self.client else ""
            self.logger.log(TRACE_LOG_LEVEL, "%sHTTP connection lost", prefix)
        cycle = self.cycle
        if cycle is not None:
            if not cycle.response_complete:
                cycle.disconnected = True
            cycle.notify()
        if self.flow is not None:
            self.flow.resume_writing()
        if exc is None:
            self.transport.close()
        self.parser = None  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self._read_since_idle = True
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            message = "Invalid HTTP request received."
            self.logger.warning(message)
            self.send_400_response(message)
            return
        except httptools.HttpParserUpgrade:
            if self._should_upgrade():
                self.handle_websocket_upgrade()
            else:
                self._unsupported_upgrade_warning()
        if self._in_head and not self._head_too_large:
            self._count_head(data)

    def _count_head(self, data: bytes) -> None:
        """A read ended inside a head: count it, and refuse it past the bound (see ``http_protocol``)."""
        if self._head_bytes:
            self._head_bytes += len(data)  # the head began in an earlier read: all of this one went into it
        else:
            self._head_bytes = head_so_far(self.url, self.headers)
        if self._head_bytes > MAX_HEAD_BYTES:
            self._head_too_large = True
            self.send_400_response("")

    def on_message_begin(self) -> None:
        self._in_head = True
        self._head_bytes = 0
        self._forwarded = False
        self.url = b""
        self.expect_100_continue = False
        headers: list[tuple[bytes, bytes]] = []
        self.headers = headers
        self.scope = {  # type: ignore[typeddict-item]
            "type": "http",
            "asgi": {"version": self.asgi_version, "spec_version": "2.3"},
            "http_version": "1.1",
            "server": self.server,
            "client": self.client,
            "scheme": self.scheme,  # type: ignore[typeddict-item]
            "root_path": self.root_path,
            "headers": headers,
            "state": self.app_state.copy(),
        }

    def on_header(self, name: bytes, value: bytes) -> None:
        """uvicorn's (the name lowercased, the value without trailing blanks), noting proxy headers."""
        name = name.lower()
        value = value.rstrip(b" \t")  # llhttp keeps them; RFC 9110 section 5.5 leaves them out of the value
        if name in _FORWARDED:
            self._forwarded = True
        elif name == b"expect" and value.lower() == b"100-continue":
            self.expect_100_continue = True
        self.headers.append((name, value))

    def on_headers_complete(self) -> None:
        self._in_head = False
        url = self.url
        scope: Any = self.scope
        if not url.startswith(b"/"):  # origin form is the common case
            host = absolute_form_host(url)
            if host is not None:
                # scope["headers"] is this same list: the app sees the target's host as Host.
                self.headers[:] = with_host(self.headers, host)
        parser = self.parser
        http_version = parser.get_http_version()
        scope["method"] = parser.get_method().decode("ascii")
        if http_version != "1.1":
            scope["http_version"] = http_version
        if parser.should_upgrade() and self._should_upgrade():
            return
        target = httptools.parse_url(url)
        raw_path = target.path
        path = raw_path.decode("ascii")
        if "%" in path:
            path = urllib.parse.unquote(path)
        root_path = self.root_path
        scope["path"] = root_path + path
        scope["raw_path"] = root_path.encode("ascii") + raw_path
        scope["query_string"] = target.query or b""
        limit = self.limit_concurrency
        app: Any
        if limit is not None and (len(self.connections) >= limit or len(self.tasks) >= limit):
            app = service_unavailable
            self.logger.warning("Exceeded concurrency limit.")
        else:
            app = self.app if self._forwarded else self._app_unforwarded
        previous = self.cycle
        self.cycle = cycle = _Cycle(self, scope, http_version != "1.0" and parser.should_keep_alive())
        if previous is None or previous.response_complete:
            self._start_asgi_task(cycle, app)
        else:
            # Pipelined: it starts when the previous response completes.
            self.flow.pause_reading()
            self.pipeline.appendleft((cycle, app))

    def on_body(self, body: bytes) -> None:
        cycle = self.cycle
        if cycle.response_complete or (self.parser.should_upgrade() and self._should_upgrade()):
            return
        cycle.body += body
        if len(cycle.body) > HIGH_WATER_LIMIT:
            self.flow.pause_reading()
        cycle._arrived = True  # cycle.notify(), written out: every request with a body comes here
        if cycle._event is not None:
            cycle._event.set()

    def on_message_complete(self) -> None:
        cycle = self.cycle
        if cycle.response_complete or (self.parser.should_upgrade() and self._should_upgrade()):
            return
        cycle.more_body = False
        cycle._arrived = True  # cycle.notify(), written out: every request comes here
        if cycle._event is not None:
            cycle._event.set()

    def on_response_complete(self) -> None:
        self.server_state.total_requests += 1
        if self.transport.is_closing():
            return
        flow = self.flow
        if flow.read_paused:
            flow.resume_reading()
        if self.pipeline:
            # A pipelined request starts now; uvicorn sets no keep-alive timer then.
            cycle, app = self.pipeline.pop()
            self._start_asgi_task(cycle, app)
            self._wait_for_a_request(after_response=False)
        else:
            self._wait_for_a_request(after_response=True)

    def _wait_for_a_request(self, *, after_response: bool) -> None:
        """Start the wait for the next request head; the connection's one timer checks it when it fires.

        uvicorn cancels its keep-alive timer on every read and sets a new one
        after every response; here one timer, set only when none is pending,
        always fires within the shorter of the two timeouts, and sets itself
        again for what is left of the wait.
        """
        self._idle_since = self.loop.time()
        self._idle_cycle = self.cycle
        self._idle_after_response = after_response
        self._read_since_idle = False
        if self._idle_timer is None:
            self._idle_timer = self.loop.call_later(self._shortest_wait(), self._idle_timer_fired)

    def _shortest_wait(self) -> float:
        return min(self.timeout_keep_alive, self.header_timeout_seconds)

    def _idle_timer_fired(self) -> None:
        self._idle_timer = None
        cycle = self.cycle
        transport = self.transport
        if (
            transport.is_closing()
            or cycle is not self._idle_cycle
            or (cycle is not None and not cycle.response_complete)
        ):
            return  # a request came and is being answered: its response's end starts the wait again
        if self._idle_after_response and not self._read_since_idle:
            allowed = self._shortest_wait()  # uvicorn's keep-alive: not a byte since the response
        else:
            allowed = self.header_timeout_seconds  # a head was begun, or the connection is new
        left = self._idle_since + allowed - self.loop.time()
        if left > 0:
            # Never less than _LEAST_WAIT: with a keep-alive timeout of 0 (uvicorn allows it) a begun
            # head would otherwise set a timer for every turn of the loop until it completes.
            delay = max(min(left, self._shortest_wait()), _LEAST_WAIT)
            self._idle_timer = self.loop.call_later(delay, self._idle_timer_fired)
            return
        if not (self._idle_after_response and not self._read_since_idle):
            # Nothing to answer: the client has not asked anything complete. (A 408 would be allowed,
            # but a client that sent nothing reads nothing.)
            log.debug("closed a connection that sent no complete request head in %s s", self.header_timeout_seconds)
        transport.close()
