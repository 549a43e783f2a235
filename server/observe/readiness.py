"""``GET /readyz``: whether this server should get traffic.

``200 {"status": "ready", "runtimes": []}`` when every runtime is ``running``
or ``degraded``; ``503 {"status": "unready", "runtimes": [...]}`` naming each
runtime that is not, with its status and diagnostic codes. Runtimes listed
in ``server.readiness_optional_runtimes`` may be unavailable without failing
readiness (a remote runtime that is down should not take this server out of
the load balancer, say). ``/healthz`` stays liveness: 200 while the process serves.
Like ``/healthz``, no token and any ``Host`` (probes send neither).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Iterable

from starlette.responses import Response

from registry_core.models import RuntimeStatus
from runtime_registry.host.registry import RuntimeRegistry
from runtime_registry.server.responses import JSON_MEDIA_TYPE

__all__ = ["readiness_endpoint", "READY_STATUSES"]

READY_STATUSES = frozenset({RuntimeStatus.RUNNING, RuntimeStatus.DEGRADED})


def readiness_endpoint(registry: RuntimeRegistry, *, optional: Iterable[str] = ()) -> Callable[[], Awaitable[Response]]:
    """The ``/readyz`` handler for ``registry``; runtimes in ``optional`` never make it unready."""
    may_be_unavailable = frozenset(optional)

    async def readyz() -> Response:
        runtimes = (await registry.list_runtimes()).items
        unready = [
            {
                "runtime_id": runtime.runtime_id,
                "status": runtime.status.value,
                "codes": sorted({d.code for d in runtime.diagnostics if d.severity.value in ("warning", "error")}),
            }
            for runtime in runtimes
            if runtime.status not in READY_STATUSES and runtime.runtime_id not in may_be_unavailable
        ]
        body = {"status": "unready" if unready else "ready", "runtimes": unready}
        return Response(
            json.dumps(body, separators=(",", ":")).encode(),
            status_code=503 if unready else 200,
            media_type=JSON_MEDIA_TYPE,
            headers={"Cache-Control": "no-store"},
        )

    return readyz
