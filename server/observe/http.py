"""Every request timed: the HTTP metrics, open event streams, and the access line.

The access line (logger ``runtime_registry.access``, INFO) replaces uvicorn's:
``<client> "<METHOD> <path> HTTP/<version>" <status> <ms>ms id=<request id>``.
The target is logged as sent, unprintable characters escaped, and a
credential in its query string redacted (:mod:`runtime_registry.server.log_redaction`,
every format); the request id is the one the client sees
in ``X-Request-ID``. The front door
(:mod:`runtime_registry.server.middleware.front_door`) reports every answer
here, 401s, 403s and 413s included.
"""

from __future__ import annotations

import logging

from starlette.types import Scope

from runtime_registry.server.middleware.request_ids import request_id_of
from runtime_registry.server.observe.http_tally import RouteSlot
from runtime_registry.server.observe.metrics import Metrics

__all__ = ["RequestObserver", "STREAM_ROUTE"]

access_log = logging.getLogger("runtime_registry.access")

#: The most (route, method, status) keys whose slots are kept (past it they are looked up each time).
_MAX_CHILDREN = 4096
#: The route whose open responses are counted as ``event_streams_open``.
STREAM_ROUTE = "/api/runtimes/{runtime_id}/events/stream"


class RequestObserver:
    """Count and time each HTTP request; write its access line; count open event streams.

    :param metrics: the families to feed.
    :param access_log_enabled: whether to write the access line (``serve --no-access-log`` turns it off).
    """

    def __init__(self, *, metrics: Metrics, access_log_enabled: bool = True) -> None:
        self.metrics = metrics
        self.access_log_enabled = access_log_enabled
        # Each (route, method, status)'s slot, by the raw route and method (mapped to labels once).
        # Bounded as the label values are (routes, methods, statuses).
        self._slots: dict[tuple[str | None, str, int], RouteSlot] = {}

    def stream_opened(self, scope: Scope) -> str | None:
        """Count an event stream as open if this ``200`` answer starts one; its runtime id then, else ``None``."""
        if _route_of(scope) != STREAM_ROUTE:
            return None
        # Only a configured runtime's id reaches a 200 here: bounded.
        runtime = str(scope.get("path_params", {}).get("runtime_id", ""))
        self.metrics.streams_open.labels(runtime).inc()
        return runtime

    def stream_closed(self, runtime: str) -> None:
        """Count the event stream :meth:`stream_opened` counted for ``runtime`` as closed."""
        self.metrics.streams_open.labels(runtime).dec()

    def finished(self, scope: Scope, status: int, seconds: float) -> None:
        """Record a request answered with ``status`` after ``seconds``, and write its access line."""
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
