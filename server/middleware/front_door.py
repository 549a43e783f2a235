"""The front door: the one middleware every HTTP request passes, running the server's checks in order.

Pure ASGI. It reads the request's head once (:class:`.request_head.RequestHead`),
then, in this order:

1. gives the request its id (:mod:`.request_ids`), which every answer carries
   in ``X-Request-ID`` — the refusals below and the 500 included;
2. times and counts it, whatever its answer (:mod:`runtime_registry.server.observe.http`);
3. refuses a head that repeats ``Host``, ``Origin`` or ``Authorization`` or
   is too large, and marks an ambiguously framed one to close its connection
   (:mod:`.request_head`);
4. refuses a misdirected or cross-site request and answers CORS preflights,
   before auth, since preflights never carry the token (:mod:`.browser_guard`);
5. checks the bearer token, when one is configured, before any body is looked
   at (:mod:`.auth`);
6. bounds the body (:mod:`.body_limit`).

It is also the last line of defence: an exception from below that is not a
typed error is logged with the request id, and the client gets
``500 internal_error`` with the id and nothing else — except a client that
hung up in the middle of its body, which is logged at debug level only.

The checks were five middleware once. As one, the request is handed down
once, its headers are scanned once, and one ``send`` wrapper adds every
response header the checks ask for (decision 0250).
"""

from __future__ import annotations

import logging
import time

from starlette.requests import ClientDisconnect
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from runtime_registry.server.middleware.auth import BearerAuth
from runtime_registry.server.middleware.body_limit import BodyLimit
from runtime_registry.server.middleware.browser_guard import BrowserGuard
from runtime_registry.server.middleware.request_head import RequestHead, head_refusal, origin_form
from runtime_registry.server.middleware.request_ids import REQUEST_ID_SCOPE_KEY, request_id_for
from runtime_registry.server.observe.http import RequestObserver
from runtime_registry.server.responses import internal_error_response

__all__ = ["FrontDoor"]

log = logging.getLogger("runtime_registry.server.errors")

_CLOSE = (b"connection", b"close")


class FrontDoor:
    """Run every request through the server's checks, then hand it to ``app``.

    :param observer: times, counts and logs each request.
    :param browser_guard: the ``Host`` and ``Origin`` checks and CORS.
    :param auth: the bearer-token check, or ``None`` when no token is configured.
    :param body_limit: the request body's bound.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        observer: RequestObserver,
        browser_guard: BrowserGuard,
        auth: BearerAuth | None,
        body_limit: BodyLimit,
    ) -> None:
        self.app = app
        self._observer = observer
        self._guard = browser_guard
        self._auth = auth
        self._body_limit = body_limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        if scope["path"][:1] != "/" or scope.get("root_path"):
            scope = origin_form(scope)  # a target in absolute form (h11 hands it whole): refused or split
        head = RequestHead(scope)
        request_id = request_id_for(head.request_id)
        scope[REQUEST_ID_SCOPE_KEY] = request_id
        # The headers every answer gets; the checks that pass add theirs.
        extra = [(b"x-request-id", request_id.encode("ascii"))]
        observer = self._observer
        status = 0
        stream: str | None = None

        async def send_marked(message: Message) -> None:
            nonlocal status, stream
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), *extra]
                if status == 200:
                    stream = observer.stream_opened(scope)
            await send(message)

        try:
            refusal = self._refusal_before_auth(scope, head, extra)
            if refusal is None and self._auth is not None:
                refusal = await self._auth.refusal(scope, head)
            if refusal is None:
                refusal = self._body_limit.refusal(head)
            if refusal is not None:
                await refusal(scope, receive, send_marked)
            else:
                await self.app(scope, self._body_limit.counted(head, receive), send_marked)
        except ClientDisconnect:
            # The client hung up while its body was being read: not a server
            # error, and there is nobody left to answer (issue 12, point 6).
            log.debug(
                "request %s (%s): the client disconnected before its body was complete", request_id, scope.get("method")
            )
        except Exception:
            log.exception("request %s (%s %s) failed", request_id, scope.get("method"), scope.get("path"))
            if not status:
                await internal_error_response(request_id)(scope, receive, send_marked)
        finally:
            if stream is not None:
                observer.stream_closed(stream)
            observer.finished(scope, status or 500, time.perf_counter() - started)

    def _refusal_before_auth(
        self, scope: Scope, head: RequestHead, extra: list[tuple[bytes, bytes]]
    ) -> Response | None:
        """The head and browser checks' answer to a request they refuse; else their headers are added to ``extra``."""
        refusal = head_refusal(head)
        if refusal is not None:
            return refusal
        if head.ambiguous_framing:
            extra.append(_CLOSE)
        refusal = self._guard.refusal(scope, head)
        if refusal is not None:
            return refusal
        extra.extend(self._guard.response_headers(head))
        return None
