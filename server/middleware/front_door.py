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

It also answers what fails below it before a response has started. An
exception with a handler (a typed error; the router's 404 and 405) is
answered by that handler, as Starlette's exception middleware would. Any
other is logged with the request id, and the client gets ``500
internal_error`` with the id and nothing else — except a client that hung
up in the middle of its body, which is logged at debug level only. So the
app needs neither of Starlette's own error layers (:class:`FrontDoorApp`,
decision 0252).

The checks were five middleware once. As one, the request is handed down
once, its headers are scanned once, and one ``send`` wrapper adds every
response header the checks ask for (decision 0250).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Mapping

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from runtime_registry.server.error_handlers import ErrorHandler
from runtime_registry.server.middleware.auth import BearerAuth
from runtime_registry.server.middleware.body_limit import BodyLimit
from runtime_registry.server.middleware.browser_guard import BrowserGuard
from runtime_registry.server.middleware.request_head import RequestHead, head_refusal, origin_form
from runtime_registry.server.middleware.request_ids import REQUEST_ID_SCOPE_KEY, request_id_for
from runtime_registry.server.observe.http import RequestObserver
from runtime_registry.server.responses import internal_error_response
from runtime_registry.server.route_table import RouteTable

__all__ = ["FrontDoor", "FrontDoorApp"]

log = logging.getLogger("runtime_registry.server.errors")

_CLOSE = (b"connection", b"close")


class FrontDoor:
    """Run every request through the server's checks, then hand it to ``app``.

    :param observer: times, counts and logs each request.
    :param browser_guard: the ``Host`` and ``Origin`` checks and CORS.
    :param auth: the bearer-token check, or ``None`` when no token is configured.
    :param body_limit: the request body's bound.
    :param error_handlers: the answer to an exception from below, by its class (or a base of it), or
        to an ``HTTPException`` by its status code (:class:`FrontDoorApp` gives the app's).
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        observer: RequestObserver,
        browser_guard: BrowserGuard,
        auth: BearerAuth | None,
        body_limit: BodyLimit,
        error_handlers: Mapping[type[Exception] | int, ErrorHandler] | None = None,
    ) -> None:
        self.app = app
        self._observer = observer
        self._guard = browser_guard
        self._auth = auth
        self._body_limit = body_limit
        self._error_handlers = dict(error_handlers or {})

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

        # Plain, not async: it hands back ``send``'s own coroutine, so a message
        # passes no coroutine of the front door's on its way out.
        def send_marked(message: Message) -> Awaitable[None]:
            nonlocal status, stream
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), *extra]
                if status == 200:
                    stream = observer.stream_opened(scope)
            return send(message)

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
        except Exception as exc:
            handler = None if status else self._handler_for(exc)
            if handler is None or not await self._answered(handler, exc, scope, receive, send_marked):
                log.exception("request %s (%s %s) failed", request_id, scope.get("method"), scope.get("path"))
                if not status:
                    await internal_error_response(request_id)(scope, receive, send_marked)
        finally:
            if stream is not None:
                observer.stream_closed(stream)
            observer.finished(scope, status or 500, time.perf_counter() - started)

    def _handler_for(self, exc: Exception) -> ErrorHandler | None:
        """The handler of an ``HTTPException``'s status, else of ``exc``'s class or its nearest base
        that has one: Starlette's lookup."""
        if isinstance(exc, HTTPException):
            handler = self._error_handlers.get(exc.status_code)
            if handler is not None:
                return handler
        for cls in type(exc).__mro__:
            handler = self._error_handlers.get(cls)
            if handler is not None:
                return handler
        return None

    async def _answered(
        self, handler: ErrorHandler, exc: Exception, scope: Scope, receive: Receive, send: Send
    ) -> bool:
        """Answer ``exc`` with ``handler``; ``False`` if the handler itself failed before answering."""
        try:
            response = await handler(Request(scope, receive), exc)
        except Exception:
            log.exception("the handler of %s failed", type(exc).__name__)
            return False
        await response(scope, receive, send)
        return True

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


class FrontDoorApp(Starlette):
    """Starlette whose only layers are its ``middleware``: the front door answers errors itself.

    Starlette puts its error middleware outside the app's own and its
    exception middleware inside them; each wraps every request and every
    message. The front door does what both did here (see the module
    docstring), so this app builds its stack from the router and its
    ``middleware`` alone (decision 0252), and gives the front door the app's
    ``exception_handlers``. A failure in the front door's own
    code reaches uvicorn, which logs it and answers a plain ``500``, as
    Starlette's error middleware did.
    """

    def build_middleware_stack(self) -> ASGIApp:
        # The contract routes by their path's shape, the rest by the router (decision 0253).
        app: ASGIApp = RouteTable(self.router)
        for cls, args, kwargs in reversed(self.user_middleware):
            if cls is FrontDoor:
                # The app's handlers, with any a host added (``add_exception_handler``) after it was built.
                kwargs = {**kwargs, "error_handlers": self.exception_handlers}
            app = cls(app, *args, **kwargs)
        return app
