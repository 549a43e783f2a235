"""Every route of the HTTP contract, as concrete request targets.

The auth table and the leak scan both walk this list; a test checks that it
covers every path of the served ``/openapi.json``, so a route added later
cannot slip past them.
"""

from __future__ import annotations

import attrs

#: Methods tried against every route (HEAD and OPTIONS included: a preflight is a request too).
METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


@attrs.frozen
class Route:
    """One contract route: its method, its OpenAPI path template and an example body."""

    method: str
    template: str
    body: dict | None = None

    def path(self, runtime_id: str, worker_id: str) -> str:
        """The route with its path parameters filled in."""
        return self.template.format(runtime_id=runtime_id, worker_id=worker_id)


ROUTES: tuple[Route, ...] = (
    Route("GET", "/api/plugins"),
    Route("GET", "/api/runtimes"),
    Route("GET", "/api/runtimes/{runtime_id}"),
    Route("GET", "/api/runtimes/{runtime_id}/profiles"),
    Route("GET", "/api/runtimes/{runtime_id}/workers"),
    Route("POST", "/api/runtimes/{runtime_id}/workers", {"label": "reliability"}),
    Route("GET", "/api/runtimes/{runtime_id}/workers/{worker_id}"),
    Route("POST", "/api/runtimes/{runtime_id}/workers/{worker_id}/input", {"content": "hello"}),
    Route("POST", "/api/runtimes/{runtime_id}/workers/{worker_id}/cancel"),
    Route("POST", "/api/runtimes/{runtime_id}/workers/{worker_id}/stop"),
    Route("GET", "/api/runtimes/{runtime_id}/workers/{worker_id}/transcript"),
    Route("GET", "/api/runtimes/{runtime_id}/events"),
    Route("GET", "/api/runtimes/{runtime_id}/workers/{worker_id}/events"),
    Route("GET", "/api/runtimes/{runtime_id}/events/stream"),
    Route("GET", "/api/workers"),
    # Outside /api, and guarded by the token like it (unless server.metrics_public).
    Route("GET", "/metrics"),
    # Last: the tables walk routes in order with one worker, which a delete removes.
    Route("DELETE", "/api/runtimes/{runtime_id}/workers/{worker_id}"),
)

#: Routes outside ``/api`` that answer without a token.
PUBLIC_ROUTES: tuple[Route, ...] = (Route("GET", "/healthz"), Route("GET", "/readyz"), Route("GET", "/openapi.json"))

#: Paths under ``/api`` that no route matches (a 404 must not be told before auth).
UNKNOWN_API_PATHS: tuple[str, ...] = (
    "/api",
    "/api/",
    "/api/nope",
    "/api/runtimes/",
    "/api/runtimes/{runtime_id}/nope",
    "/api/runtimes/{runtime_id}/workers/{worker_id}/nope",
    "/api/runtimes/{runtime_id}/workers/{worker_id}/input/extra",
    "/api/runtimes/bad%20id/workers",
    "/api/runtimes/{runtime_id}/workers/..%2F..%2Fetc",
    "/api//runtimes",
)
