"""The HTTP/1.1 protocol uvicorn runs per connection: its parser, and a timeout for the request head.

uvicorn closes an *idle keep-alive* connection after ``timeout_keep_alive``,
but has no timeout for a connection that has not sent a complete request
head: one that connects and says nothing, or trickles a header a byte at a
time, holds its connection for as long as it likes. A thousand of them reach
``limit_concurrency``, and from then on every request (``/healthz`` included)
is a plain 503 (issue 12, point 3). uvicorn takes the protocol class as
``Config(http=...)``, so the server runs uvicorn's own protocol with one
addition: a timer, armed when a connection opens and whenever a response has
been sent, that closes the connection unless a new request head arrived
before it fired (decision 0082).

The parser: httptools (llhttp, C) when it is installed, which is what
``uvicorn[standard]`` brings; h11 (pure Python) otherwise, or when the
operator asks for it (``server.http_parser``). The event loop likewise:
uvloop when installed, else asyncio's own (``server.event_loop``).

The request head is bounded on both parsers (issue 24, point 9): h11 keeps
at most 16 KiB of an incomplete event (its default, which uvicorn keeps);
llhttp has no bound at all, and uvicorn appends every URL and header
fragment it reports, so a 32 MiB header cost seconds of CPU on the loop. The
httptools protocol here counts the head as the parser reports it and stops
at :data:`MAX_HEAD_BYTES`. A head either parser refuses (too large or not
HTTP) is answered ``400 malformed_request`` in the API's JSON envelope, not
uvicorn's plain text, and the connection is closed.

On httptools, a response's head is written together with its body, in one
``write`` (decision 0203): uvicorn writes them apart, two system calls and
two segments for every small answer. The httptools protocol, with the head
bound, the absolute form, the header timeout and this, is
:mod:`runtime_registry.server.httptools_protocol` (decision 0260): each
request's work done in one pass. The h11 protocol takes the additions as
the mixins below.

An absolute-form target (``GET http://name/path HTTP/1.1``) names its host
in the target, which RFC 9112 section 3.2.2 says wins over ``Host``; the
host it names becomes the request's ``Host``, so the Host check refuses a
foreign one as it refuses a foreign ``Host`` (issue 24, point 13).
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import logging
from typing import Any

from runtime_registry.server.errors import MalformedRequest, envelope

__all__ = [
    "EVENT_LOOPS",
    "HTTP_PARSERS",
    "HEAD_TOO_LARGE_MESSAGE",
    "MAX_HEAD_BYTES",
    "ParserUnavailable",
    "available_loop",
    "available_parser",
    "protocol_class",
    "absolute_form_host",
    "head_so_far",
    "split_absolute_form",
    "with_host",
]

log = logging.getLogger("runtime_registry.server.http_protocol")

#: The parsers ``server.http_parser`` may name.
HTTP_PARSERS = ("auto", "httptools", "h11")
#: The loops ``server.event_loop`` may name.
EVENT_LOOPS = ("auto", "uvloop", "asyncio")
#: The most a request head (request line and headers) may take: h11's own bound, held on httptools too.
MAX_HEAD_BYTES = 16 * 1024
#: What a header line costs beyond its name and value (``": "`` and CRLF), and a request line beyond its target.
_LINE_OVERHEAD = 4
_REQUEST_LINE_OVERHEAD = 16


class ParserUnavailable(Exception):
    """The configured parser's (or event loop's) library is not installed; ``str()`` is one line for the operator."""


def available_parser(requested: str) -> str:
    """The parser that ``requested`` means here: ``auto`` is httptools when it can be imported, else h11."""
    if requested not in HTTP_PARSERS:
        raise ValueError(f"unknown HTTP parser {requested!r}")
    has_httptools = importlib.util.find_spec("httptools") is not None
    if requested == "auto":
        return "httptools" if has_httptools else "h11"
    if requested == "httptools" and not has_httptools:
        raise ParserUnavailable(
            "server.http_parser is 'httptools' but httptools is not installed; "
            "install runtime-registry with its dependencies, or set http_parser = 'auto'"
        )
    return requested


def available_loop(requested: str) -> str:
    """The event loop that ``requested`` means here: ``auto`` is uvloop when it can be imported, else asyncio."""
    if requested not in EVENT_LOOPS:
        raise ValueError(f"unknown event loop {requested!r}")
    has_uvloop = importlib.util.find_spec("uvloop") is not None
    if requested == "auto":
        return "uvloop" if has_uvloop else "asyncio"
    if requested == "uvloop" and not has_uvloop:
        raise ParserUnavailable(
            "server.event_loop is 'uvloop' but uvloop is not installed (it has no build for this platform?); "
            "set event_loop = 'auto' or 'asyncio'"
        )
    return requested


def _base_class(parser: str) -> type[asyncio.Protocol]:
    if parser == "httptools":
        from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

        return HttpToolsProtocol
    from uvicorn.protocols.http.h11_impl import H11Protocol

    return H11Protocol


class _HeaderTimeout:
    """Close a connection whose next request head has not arrived within ``header_timeout_seconds``.

    The h11 protocol's (the httptools one has its own, which serves uvicorn's
    keep-alive timeout too). It works through what uvicorn's protocols
    share: each makes a new ``cycle`` object as soon as a request head is complete, and
    calls ``on_response_complete`` when a response has been sent. A
    connection starts waiting for a head when it opens and each time a
    response completes; it notes when and under which cycle. Its one timer,
    when it fires, knows whether a head arrived since (the cycle changed) and
    whether a request is still being answered (its cycle is not complete) — a
    long event stream is never cut, a silent or trickling client always is.

    The timer is lazy: a response that completes while it is pending only
    notes the time, and the timer, when it fires early, sets itself again for
    what is left. Cancelling and setting a timer for every request was a
    visible share of a keep-alive read's cost.
    """

    header_timeout_seconds: float = 10.0
    _header_timer: asyncio.TimerHandle | None = None
    _waiting_since = 0.0
    _waiting_cycle: Any = None

    def connection_made(self, transport: Any) -> None:
        super().connection_made(transport)  # type: ignore[misc]
        self._wait_for_a_head()

    def on_response_complete(self) -> None:
        super().on_response_complete()  # type: ignore[misc]
        if not self.transport.is_closing():  # type: ignore[attr-defined]
            self._wait_for_a_head()

    def connection_lost(self, exc: Exception | None) -> None:
        timer = self._header_timer
        if timer is not None:
            timer.cancel()
            self._header_timer = None
        super().connection_lost(exc)  # type: ignore[misc]

    def _wait_for_a_head(self) -> None:
        self._waiting_since = self.loop.time()  # type: ignore[attr-defined]
        self._waiting_cycle = self.cycle  # type: ignore[attr-defined]
        if self._header_timer is None:
            self._set_header_timer(self.header_timeout_seconds)

    def _set_header_timer(self, delay: float) -> None:
        self._header_timer = self.loop.call_later(delay, self._header_timer_fired)  # type: ignore[attr-defined]

    def _header_timer_fired(self) -> None:
        self._header_timer = None
        cycle = self.cycle  # type: ignore[attr-defined]
        waiting_for_a_head = cycle is self._waiting_cycle and (cycle is None or cycle.response_complete)
        transport = self.transport  # type: ignore[attr-defined]
        if not waiting_for_a_head or transport.is_closing():
            return  # a request is being answered: its response's end starts the wait again
        left = self._waiting_since + self.header_timeout_seconds - self.loop.time()  # type: ignore[attr-defined]
        if left > 0:
            self._set_header_timer(left)  # the wait began after this timer was set
            return
        # Nothing to answer: the client has not asked anything complete.
        # (A 408 would be allowed, but a client that sent nothing reads nothing.)
        log.debug("closed a connection that sent no complete request head in %s s", self.header_timeout_seconds)
        transport.close()


_SCHEMES = (b"http://", b"https://")


def split_absolute_form(target: bytes) -> tuple[bytes, bytes] | None:
    """``(authority, path-and-query)`` of an ``http(s)://`` target; ``None`` for any other form."""
    lowered = target[:8].lower()
    scheme = next((s for s in _SCHEMES if lowered.startswith(s)), None)
    if scheme is None:
        return None
    rest = target[len(scheme) :]
    end = min((i for i in (rest.find(b"/"), rest.find(b"?"), rest.find(b"#")) if i >= 0), default=len(rest))
    path = rest[end:]
    return rest[:end], path if path.startswith(b"/") else b"/" + path


def absolute_form_host(target: bytes) -> bytes | None:
    """The authority an absolute-form request target names (``b"name:port"``), else ``None``.

    A user part (``http://user@name/``) stays in it, so the Host check, which
    accepts ``name[:port]`` only, refuses it.
    """
    split = split_absolute_form(target)
    return None if split is None else split[0]


def with_host(headers: list[tuple[bytes, bytes]], host: bytes) -> list[tuple[bytes, bytes]]:
    """``headers`` with every ``Host`` replaced by one carrying ``host``."""
    return [*(header for header in headers if header[0] != b"host"), (b"host", host)]


def _bad_request_bytes(message: str, default_headers: list[tuple[bytes, bytes]]) -> bytes:
    """A complete ``400 malformed_request`` response in the API's envelope, closing the connection."""
    body = json.dumps(envelope(MalformedRequest(message)), separators=(",", ":")).encode("utf-8")
    lines = [b"HTTP/1.1 400 Bad Request\r\n"]
    lines += [name + b": " + value + b"\r\n" for name, value in default_headers]
    lines += [
        b"content-type: application/json; charset=utf-8\r\n",
        b"content-length: " + str(len(body)).encode("ascii") + b"\r\n",
        b"connection: close\r\n\r\n",
        body,
    ]
    return b"".join(lines)


#: What a client whose request head is too large is told.
HEAD_TOO_LARGE_MESSAGE = f"the request head (request line and headers) is over {MAX_HEAD_BYTES} bytes"
_NOT_HTTP_MESSAGE = "the request is not well-formed HTTP"


class _EnvelopeBadRequest:
    """uvicorn's 400 for a head the parser refused, in the API's JSON envelope (both parsers)."""

    _head_too_large = False

    def send_400_response(self, msg: str) -> None:
        # uvicorn's messages are generic; the one thing worth saying is which bound was hit.
        # h11 says only "invalid"; its receive buffer tells: it refuses a head only once it holds more than the bound.
        conn = getattr(self, "conn", None)
        too_large = self._head_too_large or (conn is not None and len(conn.trailing_data[0]) > MAX_HEAD_BYTES)
        message = HEAD_TOO_LARGE_MESSAGE if too_large else _NOT_HTTP_MESSAGE
        transport = self.transport  # type: ignore[attr-defined]
        if not transport.is_closing():
            transport.write(_bad_request_bytes(message, self.server_state.default_headers))  # type: ignore[attr-defined]
            transport.close()


def head_so_far(url: bytes, headers: list[tuple[bytes, bytes]]) -> int:
    """The size of what llhttp reported of a head being parsed: its target and completed header lines.

    A head that arrives whole in one read (every common request) is never
    counted: the parser's work on it is bounded by the read's size, and the
    front door refuses a complete head over the bound
    (:mod:`runtime_registry.server.middleware.request_head`). What needs a
    bound is a head that keeps arriving: at the end of each read that leaves
    one incomplete, its size so far is this (in the read it began in) plus
    every later read whole (all of which belongs to it). So the bound is held
    to within one read, and nothing larger is kept.
    """
    size = _REQUEST_LINE_OVERHEAD + len(url)
    return size + sum(len(name) + len(value) + _LINE_OVERHEAD for name, value in headers)


def protocol_class(parser: str, *, header_timeout_seconds: float) -> type[asyncio.Protocol]:
    """uvicorn's protocol for ``parser`` (``auto``, ``httptools`` or ``h11``) with the request-head timeout.

    :raises ParserUnavailable: ``httptools`` was asked for and is not installed.
    """
    if header_timeout_seconds <= 0:
        raise ValueError("header_timeout_seconds must be positive")
    chosen = available_parser(parser)
    base = _base_class(chosen)
    if chosen == "httptools":
        # uvicorn's httptools protocol with the additions written into its per-request methods (decision 0260).
        from runtime_registry.server.httptools_protocol import HttpToolsFront

        bases: tuple[type, ...] = (HttpToolsFront,)
    else:
        bases = (_HeaderTimeout, _EnvelopeBadRequest, base)
    return type(
        f"HeaderTimeout{base.__name__}",
        bases,
        {"header_timeout_seconds": header_timeout_seconds, "parser_name": chosen, "__module__": __name__},
    )
