"""The routes of the HTTP contract: each one parses, calls the registry once, and renders.

Handlers are closures over the registry (no per-request lookups on the app).
Ids in the path are plain ``{name}`` segments: the registry validates them
before any provider sees them (``400 invalid_identifier``), so an odd id is
never a 404 of the router. Worker operations exist only under
``/api/runtimes/{runtime_id}/...``; ``/api/workers`` is a read-only overview.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from registry_core.errors import InvalidRequest
from registry_core.identifiers import validate_identifier
from registry_core.models import CreateWorkerRequest, InputRequest, Worker, WorkerActionResult
from runtime_registry.host.plugin_loading import PluginSet
from runtime_registry.host.registry import RuntimeRegistry
from runtime_registry.server.errors import MalformedRequest
from runtime_registry.server.event_stream import event_stream_endpoint
from runtime_registry.server.request_parsing import integer_parameter, opaque_parameter, read_model
from runtime_registry.server.responses import JSON_MEDIA_TYPE, JSONResponse, overview_response, runtime_response

__all__ = ["build_routes"]

T = TypeVar("T")

_HEALTHY = b'{"status":"ok"}'


async def _query_errors_are_malformed(call: Awaitable[T]) -> T:
    """Await a call of a route without a body: an ``InvalidRequest`` it raises can only be about a
    query parameter (a cursor the runtime did not issue), which the contract calls ``400 malformed_request``."""
    try:
        return await call
    except InvalidRequest as exc:
        raise MalformedRequest(exc.message, runtime_id=exc.runtime_id, worker_id=exc.worker_id, details=exc.details) from None


def _by_method(**handlers: Callable[[Request], Awaitable[Response]]) -> Callable[[Request], Awaitable[Response]]:
    """One endpoint that dispatches on the method (the route lets only ``handlers``' methods through; HEAD is GET)."""

    async def endpoint(request: Request) -> Response:
        method = request.method
        return await handlers["GET" if method == "HEAD" else method](request)

    return endpoint


def _worker_operation(
    operation: Callable[[str, str], Awaitable[Worker | WorkerActionResult]],
) -> Callable[[Request], Awaitable[Response]]:
    """The endpoint of a route that only names a worker: ``operation(runtime_id, worker_id)``, rendered."""

    async def endpoint(request: Request) -> Response:
        params = request.path_params
        result = await operation(params["runtime_id"], params["worker_id"])
        return runtime_response(result, runtime_id=result.runtime_id)

    return endpoint


def build_routes(registry: RuntimeRegistry, plugins: PluginSet, *, openapi_document: bytes, heartbeat_seconds: float) -> list[Route]:
    """Every route of the contract, bound to ``registry`` and ``plugins``."""

    async def healthz(request: Request) -> Response:
        return Response(_HEALTHY, media_type=JSON_MEDIA_TYPE)

    async def openapi(request: Request) -> Response:
        return Response(openapi_document, media_type=JSON_MEDIA_TYPE)

    async def list_plugins(request: Request) -> Response:
        return JSONResponse({"items": plugins.plugins})

    async def list_runtimes(request: Request) -> Response:
        return JSONResponse(await registry.list_runtimes())

    async def get_runtime(request: Request) -> Response:
        runtime_id = request.path_params["runtime_id"]
        return runtime_response(await registry.describe_runtime(runtime_id), runtime_id=runtime_id)

    async def list_workers(request: Request) -> Response:
        query = request.query_params
        limit = integer_parameter(query, "limit", minimum=1)
        cursor = opaque_parameter(query, "cursor")
        runtime_id = request.path_params["runtime_id"]
        page = await _query_errors_are_malformed(registry.list_workers(runtime_id, limit=limit, cursor=cursor))
        return runtime_response(page, runtime_id=runtime_id)

    async def create_worker(request: Request) -> Response:
        runtime_id = validate_identifier(request.path_params["runtime_id"], field="runtime_id")
        worker = await registry.create_worker(runtime_id, await read_model(request, CreateWorkerRequest))
        location = f"{request.scope.get('root_path', '')}/api/runtimes/{runtime_id}/workers/{worker.worker_id}"
        return runtime_response(worker, runtime_id=runtime_id, status_code=201, headers={"Location": location})

    async def send_input(request: Request) -> Response:
        params = request.path_params
        runtime_id = validate_identifier(params["runtime_id"], field="runtime_id")
        worker_id = validate_identifier(params["worker_id"], field="worker_id")
        accepted = await registry.send_input(runtime_id, worker_id, await read_model(request, InputRequest))
        return runtime_response(accepted, runtime_id=runtime_id, status_code=202)

    async def read_transcript(request: Request) -> Response:
        params, query = request.path_params, request.query_params
        start = integer_parameter(query, "start", minimum=1) or 1
        limit = integer_parameter(query, "limit", minimum=1)
        page = await registry.read_transcript(params["runtime_id"], params["worker_id"], start=start, limit=limit)
        return runtime_response(page, runtime_id=page.runtime_id)

    async def read_runtime_events(request: Request) -> Response:
        query = request.query_params
        cursor = integer_parameter(query, "cursor", minimum=0)
        limit = integer_parameter(query, "limit", minimum=1)
        page = await registry.read_events(request.path_params["runtime_id"], cursor=cursor, limit=limit)
        return runtime_response(page, runtime_id=page.runtime_id)

    async def read_worker_events(request: Request) -> Response:
        params, query = request.path_params, request.query_params
        cursor = integer_parameter(query, "cursor", minimum=0)
        limit = integer_parameter(query, "limit", minimum=1)
        page = await registry.read_events(params["runtime_id"], cursor=cursor, limit=limit, worker_id=params["worker_id"])
        return runtime_response(page, runtime_id=page.runtime_id)

    async def list_all_workers(request: Request) -> Response:
        query = request.query_params
        limit = integer_parameter(query, "limit", minimum=1)
        cursor = opaque_parameter(query, "cursor")
        return overview_response(await _query_errors_are_malformed(registry.list_all_workers(limit=limit, cursor=cursor)))

    get_worker = _worker_operation(registry.get_worker)
    cancel_worker = _worker_operation(registry.cancel_worker)
    stop_worker = _worker_operation(registry.stop_worker)
    delete_worker = _worker_operation(registry.delete_worker)
    stream_events = event_stream_endpoint(registry, heartbeat_seconds=heartbeat_seconds)

    runtime = "/api/runtimes/{runtime_id}"
    worker = runtime + "/workers/{worker_id}"
    # The router tries routes in order: the per-worker routes clients call
    # most come first (each miss is a regex match on every request).
    return [
        # One route per path, so that a 405's Allow header names every method the path has.
        Route(worker, _by_method(GET=get_worker, DELETE=delete_worker), methods=["GET", "DELETE"], name="worker"),
        Route(worker + "/input", send_input, methods=["POST"], name="send_input"),
        Route(worker + "/transcript", read_transcript, methods=["GET"], name="read_transcript"),
        Route(runtime + "/workers", _by_method(GET=list_workers, POST=create_worker), methods=["GET", "POST"], name="workers"),
        Route(worker + "/events", read_worker_events, methods=["GET"], name="read_worker_events"),
        Route(worker + "/cancel", cancel_worker, methods=["POST"], name="cancel_worker"),
        Route(worker + "/stop", stop_worker, methods=["POST"], name="stop_worker"),
        Route(runtime + "/events", read_runtime_events, methods=["GET"], name="read_runtime_events"),
        Route(runtime + "/events/stream", stream_events, methods=["GET"], name="stream_events"),
        Route(runtime, get_runtime, methods=["GET"], name="get_runtime"),
        Route("/api/runtimes", list_runtimes, methods=["GET"], name="list_runtimes"),
        Route("/api/workers", list_all_workers, methods=["GET"], name="list_all_workers"),
        Route("/api/plugins", list_plugins, methods=["GET"], name="list_plugins"),
        Route("/healthz", healthz, methods=["GET"], name="healthz"),
        Route("/openapi.json", openapi, methods=["GET"], name="openapi"),
    ]
