"""Every request timed: the HTTP metrics, open event streams, and the access line.

The access line (logger ``runtime_registry.access``, INFO) replaces uvicorn's:
``<client> "<METHOD> <path> HTTP/<version>" <status> <ms>ms id=<request id>``.
The target is logged as sent, unprintable characters escaped, and a
credential in its query string redacted (:mod:`runtime_registry.server.log_redaction`,
every format); the request id is the one the client sees
in ``X-Request-ID``. It sits just inside the request-id middleware, so the
id is known, and outside every check, so 401s, 403s and 413s are counted too.
"""

from __future__ import annotations

import logging
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from runtime_registry.server.middleware.request_ids import request_id_of
from runtime_registry.server.observe.http_tally import RouteSlot
from runtime_registry.server.observe.metrics import Metrics

__all__ = ["ObserveMiddleware", "STREAM_ROUTE"]

access_log = logging.getLogger("runtime_registry.access")

#: The most (route, method, status) keys whose slots are kept (past it they are looked up each time).
_MAX_CHILDREN = 4096
#: The route whose open responses are counted as ``event_streams_open``.
STREAM_ROUTE = "/api/runtimes/{runtime_id}/events/stream"


class ObserveMiddleware:
    """Count and time each HTTP request; write its access line.

    :param metrics: the families to feed.
    :param access_log_enabled: whether to write the access line (``serve --no-access-log`` turns it off).
    """

    def __init__(self, app: ASGIApp, *, metrics: Metrics, access_log_enabled: bool = True) -> None:
        self.app = app
        self.metrics = metrics
        self.access_log_enabled = access_log_enabled
        # Each (route, method, status)'s slot, by the raw route and method (mapped to labels once).
        # Bounded as the label values are (routes, methods, statuses).
        self._slots: dict[tuple[str | None, str, int], RouteSlot] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500
        stream_runtime: str | None = None

        async def observed_send(message: Message) -> None:
            nonlocal status, stream_runtime
            if message["type"] == "http.response.start":
                status = message["status"]
                if status == 200 and _route_of(scope) == STREAM_ROUTE:
                    # Only a configured runtime's id reaches a 200 here: bounded.
                    stream_runtime = str(scope.get("path_params", {}).get("runtime_id", ""))
                    self.metrics.streams_open.labels(stream_runtime).inc()
            await send(message)

        try:
            await self.app(scope, receive, observed_send)
        finally:
            if stream_runtime is not None:
                self.metrics.streams_open.labels(stream_runtime).dec()
            seconds = time.perf_counter() - started
            key = (_route_of(scope), scope["method"], status)
            slot = self._slots.get(key)
            if slot is None:
                route, method = self.metrics.http_label(key[0], key[1])
                slot = self.metrics.http.slot(route, method, str(status))
                if len(self._slots) < _MAX_CHILDREN:
                    self._slots[key] = slot
            slot.record(seconds)
            if self.access_log_enabled and access_log.isEnabledFor(logging.INFO):
                _log_access(scope, status, seconds)


def _route_of(scope: Scope) -> str | None:
    """The template of the route that answered (Starlette records it in the scope), or ``None``."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else None


def _logged_path(scope: Scope) -> str:
    """The target as the client sent it, with anything unprintable escaped: one line, always.

    Credentials in its query string are redacted by the log handler's filter (every format).
    """
    raw = scope.get("raw_path")
    text = raw.decode("ascii", "backslashreplace") if isinstance(raw, bytes) else scope["path"]
    query = scope.get("query_string", b"")
    if query:
        text = f"{text.partition('?')[0]}?{query.decode('ascii', 'backslashreplace')}"
    return "".join(c if " " <= c < "\x7f" else f"\\x{ord(c):02x}" for c in text)


def _log_access(scope: Scope, status: int, seconds: float) -> None:
    client = scope.get("client")
    path = _logged_path(scope)
    access_log.info(
        '%s "%s %s HTTP/%s" %d %.1fms id=%s',
        f"{client[0]}:{client[1]}" if client else "-",
        scope["method"],
        path,
        scope.get("http_version", "1.1"),
        status,
        seconds * 1000,
        request_id_of(scope),
        extra={
            "request_id": request_id_of(scope),
            "method": scope["method"],
            "path": path,
            "status": status,
            "latency_ms": round(seconds * 1000, 1),
        },
    )
