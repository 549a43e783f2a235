"""Request ids, and the last line of defence: an unexpected exception becomes a bare 500.

Pure ASGI (no ``BaseHTTPMiddleware``): it sits in front of every request, so it
must cost next to nothing. Each request gets an id (the client's
``X-Request-ID`` when it is a short token, else a new one) that comes back in
the ``X-Request-ID`` response header. If anything below raises an exception
that is not a typed error, the traceback is logged with that id and the client
gets ``500 internal_error`` with the id and nothing else — except a client
that hung up in the middle of its body, which is logged at debug level only.
"""

from __future__ import annotations

import logging
import os
import re

from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from runtime_registry.server.responses import internal_error_response

__all__ = ["RequestIdMiddleware", "REQUEST_ID_SCOPE_KEY", "request_id_of", "new_request_id"]

log = logging.getLogger("runtime_registry.server.errors")

#: Where the request id lives in the ASGI scope.
REQUEST_ID_SCOPE_KEY = "runtime_registry.request_id"

_CLIENT_ID = re.compile(rb"[A-Za-z0-9._\-]{1,64}")


def new_request_id() -> str:
    """16 random hex digits (64 bits from the OS).

    Random, not a counter: a counter told every client how many requests the
    server had handled since it started (issue 12, point 11). 64 bits make a
    repeat among a day's requests unlikely enough for an id quoted in a report.
    """
    if not _random_ids:
        # One read of the OS's randomness per 256 ids: a read per request cost 0.8 µs.
        block = os.urandom(8 * 256).hex()
        _random_ids.extend(block[start : start + 16] for start in range(0, len(block), 16))
    return _random_ids.pop()


_random_ids: list[str] = []


def request_id_of(scope: Scope) -> str:
    """The id of the request ``scope`` belongs to (``"-"`` outside the middleware)."""
    request_id: str = scope.get(REQUEST_ID_SCOPE_KEY, "-")
    return request_id


class RequestIdMiddleware:
    """Give every HTTP request an id and turn unhandled exceptions into a generic 500."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _client_request_id(scope) or new_request_id()
        scope[REQUEST_ID_SCOPE_KEY] = request_id
        id_header = (b"x-request-id", request_id.encode("ascii"))
        started = False

        async def send_with_id(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                message["headers"] = [*message.get("headers", ()), id_header]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except ClientDisconnect:
            # The client hung up while its body was being read: not a server
            # error, and there is nobody left to answer (issue 12, point 6).
            log.debug(
                "request %s (%s): the client disconnected before its body was complete", request_id, scope.get("method")
            )
        except Exception:
            log.exception("request %s (%s %s) failed", request_id, scope.get("method"), scope.get("path"))
            if not started:
                await internal_error_response(request_id)(scope, receive, send_with_id)


def _client_request_id(scope: Scope) -> str | None:
    for name, value in scope["headers"]:
        if name == b"x-request-id":
            return value.decode("ascii") if _CLIENT_ID.fullmatch(value) else None
    return None
