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
"""

from __future__ import annotations

import asyncio
import importlib.util
import logging
from typing import Any

__all__ = ["EVENT_LOOPS", "HTTP_PARSERS", "ParserUnavailable", "available_loop", "available_parser", "protocol_class"]

log = logging.getLogger("runtime_registry.server.http_protocol")

#: The parsers ``server.http_parser`` may name.
HTTP_PARSERS = ("auto", "httptools", "h11")
#: The loops ``server.event_loop`` may name.
EVENT_LOOPS = ("auto", "uvloop", "asyncio")


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

    Works on uvicorn's two protocols alike, through what they share: each
    makes a new ``cycle`` object as soon as a request head is complete, and
    calls ``on_response_complete`` when a response has been sent. So a timer
    that remembers the cycle it was armed under knows, when it fires, whether
    a head arrived since (the cycle changed) and whether a request is still
    being answered (its cycle is not complete) — a long event stream is never
    cut, a silent or trickling client always is.
    """

    header_timeout_seconds: float = 10.0
    _header_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: Any) -> None:
        super().connection_made(transport)  # type: ignore[misc]
        self._arm_header_timer()

    def on_response_complete(self) -> None:
        super().on_response_complete()  # type: ignore[misc]
        if not self.transport.is_closing():  # type: ignore[attr-defined]
            self._arm_header_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        timer = self._header_timer
        if timer is not None:
            timer.cancel()
            self._header_timer = None
        super().connection_lost(exc)  # type: ignore[misc]

    def _arm_header_timer(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
        self._header_timer = self.loop.call_later(  # type: ignore[attr-defined]
            self.header_timeout_seconds,
            self._header_timer_fired,
            self.cycle,  # type: ignore[attr-defined]
        )

    def _header_timer_fired(self, cycle_when_armed: Any) -> None:
        self._header_timer = None
        cycle = self.cycle  # type: ignore[attr-defined]
        waiting_for_a_head = cycle is cycle_when_armed and (cycle is None or cycle.response_complete)
        transport = self.transport  # type: ignore[attr-defined]
        if waiting_for_a_head and not transport.is_closing():
            # Nothing to answer: the client has not asked anything complete.
            # (A 408 would be allowed, but a client that sent nothing reads nothing.)
            log.debug("closed a connection that sent no complete request head in %s s", self.header_timeout_seconds)
            transport.close()


def protocol_class(parser: str, *, header_timeout_seconds: float) -> type[asyncio.Protocol]:
    """uvicorn's protocol for ``parser`` (``auto``, ``httptools`` or ``h11``) with the request-head timeout.

    :raises ParserUnavailable: ``httptools`` was asked for and is not installed.
    """
    if header_timeout_seconds <= 0:
        raise ValueError("header_timeout_seconds must be positive")
    chosen = available_parser(parser)
    base = _base_class(chosen)
    return type(
        f"HeaderTimeout{base.__name__}",
        (_HeaderTimeout, base),
        {"header_timeout_seconds": header_timeout_seconds, "parser_name": chosen, "__module__": __name__},
    )
