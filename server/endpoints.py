"""The Starlette routes, built from the contract table: one handler per operation, each calling the registry once.

:data:`runtime_registry.server.contract.OPERATIONS` says what each route reads
and answers; this module supplies what it *does*. The endpoint around a
handler reads the parameters the row names and, where it takes a body, checks
the path ids and then reads the body (so a bad parameter or id is a 400
before a bad body is a 422); it calls the handler with them as keyword
arguments and renders a model answer with the row's success status. Ids in the path are plain ``{name}`` segments: the
registry validates them before any provider sees them (``400
invalid_identifier``), so an odd id is never a 404 of the router. Worker
operations exist only under ``/api/runtimes/{runtime_id}/...``;
``/api/workers`` is a read-only overview.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import attrs
from starlette.convertors import StringConvertor
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Match, Route
from starlette.types import Receive, Scope, Send

from registry_core.identifiers import validate_identifier
from registry_core.models import WorkerFilter
from runtime_registry.host.plugin_loading import PluginSet
from runtime_registry.host.registry import RuntimeRegistry
from runtime_registry.server.contract import (
    OPERATIONS,
    ChoiceQuery,
    CursorQuery,
    FilterQuery,
    IntegerQuery,
    Operation,
    PluginList,
)
from runtime_registry.server.event_stream import event_stream_endpoint
from runtime_registry.server.request_parsing import json_object, model_of, read_body, refuse_unknown_parameters
from runtime_registry.server.responses import JSON_MEDIA_TYPE, overview_response, runtime_response

__all__ = ["build_routes", "ContractRoute", "Reply"]

Handler = Callable[..., Awaitable[Any]]

_HEALTHY = b'{"status":"ok"}'


@attrs.frozen
class Reply:
    """A handler's answer that carries headers besides its model (the ``Location`` of a created worker)."""

    value: Any
    headers: Mapping[str, str]


def build_routes(
    registry: RuntimeRegistry,
    plugins: PluginSet,
    *,
    openapi_document: bytes,
    heartbeat_seconds: float,
    service_handlers: Mapping[str, Handler] | None = None,
) -> list[Route]:
    """Every route of the contract table, bound to ``registry`` and ``plugins``.

    :param service_handlers: handlers built elsewhere, by operation id (``/readyz`` and ``/metrics``:
        :mod:`runtime_registry.server.observe`).
    """
    handlers = _handlers(registry, plugins, openapi_document=openapi_document, heartbeat_seconds=heartbeat_seconds)
    handlers.update(service_handlers or {})
    missing = {op.operation_id for op in OPERATIONS} ^ set(handlers)
    if missing:
        raise LookupError(f"operations and handlers differ: {sorted(missing)}")
    by_path: dict[str, dict[str, Callable[[Request], Awaitable[Response]]]] = {}
    for op in OPERATIONS:
        by_path.setdefault(op.path, {})[op.method] = _endpoint(op, handlers[op.operation_id])
    # One route per path, so that a 405's Allow header names every method the path has.
    return [
        ContractRoute(path, _by_method(endpoints), methods=list(endpoints), name=path)
        for path, endpoints in by_path.items()
    ]


class ContractRoute(Route):
    """A route of the contract table: Starlette's :class:`~starlette.routing.Route`, matched and
    answered without its generic steps (decision 0246).

    - **Matching** is ``Route.matches`` for paths whose ids are plain ``{name}`` segments (the only
      kind the table has; anything else is refused when the route is built): the matched text is
      the parameter, so there is nothing to convert.
    - **Answering** calls the endpoint with a :class:`~starlette.requests.Request` and sends its
      response's two messages itself, without ``request_response``'s per-request wrapper. A typed
      error raised by the endpoint is answered by the app's exception handlers, as before: the
      front door outside the router holds them (decision 0252). A response with its own
      way of sending (a stream) or a background task is sent as Starlette sends it; a method the
      route does not have is Starlette's 405.
    """

    def __init__(
        self, path: str, endpoint: Callable[[Request], Awaitable[Response]], *, methods: list[str], name: str
    ) -> None:
        super().__init__(path, endpoint, methods=methods, name=name)
        if any(type(convertor) is not StringConvertor for convertor in self.param_convertors.values()):
            raise ValueError(f"a contract route's ids are plain segments: {path}")
        self._answer = endpoint
        self._allowed = frozenset(self.methods or ())

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if scope["type"] != "http" or scope.get("root_path") or scope.get("path_params"):
            return super().matches(scope)  # a root path (a proxy prefix, a mount) or a mount's ids: its rules
        match = self.path_regex.match(scope["path"])
        if match is None:
            return Match.NONE, {}
        child_scope = {"endpoint": self.endpoint, "path_params": match.groupdict()}
        return (Match.FULL if scope["method"] in self._allowed else Match.PARTIAL), child_scope

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["method"] not in self._allowed:
            await super().handle(scope, receive, send)  # 405, as Starlette answers it
            return
        response = await self._answer(Request(scope, receive, send))
        if response.background is not None or type(response).__call__ is not Response.__call__:
            await response(scope, receive, send)
            return
        await send({"type": "http.response.start", "status": response.status_code, "headers": response.raw_headers})
        await send({"type": "http.response.body", "body": response.body})


def _handlers(
    registry: RuntimeRegistry, plugins: PluginSet, *, openapi_document: bytes, heartbeat_seconds: float
) -> dict[str, Handler]:
    """What each operation does, by operation id; keyword arguments are the row's path ids, parameters and ``body``."""

    async def healthz() -> Response:
        return Response(_HEALTHY, media_type=JSON_MEDIA_TYPE)

    async def openapi() -> Response:
        return Response(openapi_document, media_type=JSON_MEDIA_TYPE)

    async def list_plugins() -> PluginList:
        return PluginList(plugins.listing())

    async def create_worker(runtime_id: str, body: Any, root_path: str) -> Reply:
        worker = await registry.create_worker(runtime_id, body)
        return Reply(worker, {"Location": f"{root_path}/api/runtimes/{runtime_id}/workers/{worker.worker_id}"})

    def send_input(runtime_id: str, worker_id: str, body: Any) -> Awaitable[Any]:
        return registry.send_input(runtime_id, worker_id, body)

    def read_transcript(runtime_id: str, worker_id: str, start: int | None, limit: int | None) -> Awaitable[Any]:
        return registry.read_transcript(runtime_id, worker_id, start=start or 1, limit=limit)

    def read_runtime_events(runtime_id: str, cursor: int | None, limit: int | None) -> Awaitable[Any]:
        return registry.read_events(runtime_id, cursor=cursor, limit=limit)

    def read_worker_events(runtime_id: str, worker_id: str, cursor: int | None, limit: int | None) -> Awaitable[Any]:
        return registry.read_events(runtime_id, cursor=cursor, limit=limit, worker_id=worker_id)

    def list_workers(
        runtime_id: str, limit: int | None, cursor: str | None, **filters: tuple[str, ...]
    ) -> Awaitable[Any]:
        return registry.list_workers(runtime_id, limit=limit, cursor=cursor, worker_filter=WorkerFilter(**filters))

    async def list_all_workers(limit: int | None, cursor: str | None, **filters: tuple[str, ...]) -> Response:
        overview = await registry.list_all_workers(limit=limit, cursor=cursor, worker_filter=WorkerFilter(**filters))
        return overview_response(overview)

    return {
        "healthz": healthz,
        "openapi": openapi,
        "list_plugins": list_plugins,
        "list_runtimes": _registry_call(registry, "list_runtimes"),
        "get_runtime": _registry_call(registry, "describe_runtime"),
        "list_profiles": _registry_call(registry, "list_profiles"),
        "list_workers": list_workers,
        "create_worker": create_worker,
        "get_worker": _registry_call(registry, "get_worker"),
        "delete_worker": _registry_call(registry, "delete_worker"),
        "send_input": send_input,
        "cancel_worker": _registry_call(registry, "cancel_worker"),
        "stop_worker": _registry_call(registry, "stop_worker"),
        "read_transcript": read_transcript,
        "read_runtime_events": read_runtime_events,
        "read_worker_events": read_worker_events,
        "stream_events": event_stream_endpoint(registry, heartbeat_seconds=heartbeat_seconds),
        "list_all_workers": list_all_workers,
    }


def _registry_call(registry: RuntimeRegistry, method: str) -> Handler:
    """A handler that is the registry's ``method`` as it is when the request comes (a host may wrap it)."""

    # A plain function returning the registry's coroutine: no coroutine frame of its own per request.
    def call(**arguments: Any) -> Awaitable[Any]:
        operation: Handler = getattr(registry, method)
        return operation(**arguments)

    return call


def _endpoint(op: Operation, handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    """The Starlette endpoint of one row: read what the row names, call ``handler``, render its answer."""
    parameters = tuple((p.argument, p.read) for p in op.parameters)
    query_names = frozenset(
        p.name for p in op.parameters if isinstance(p, IntegerQuery | CursorQuery | FilterQuery | ChoiceQuery)
    )
    ids = tuple(p.name for p in op.path_ids)
    body, status = op.body, op.success.status
    wants_root_path = "Location" in op.success.headers

    async def endpoint(request: Request) -> Response:
        if request.scope["query_string"]:
            refuse_unknown_parameters(request.query_params, query_names)
        # The route put its ids there (Request.path_params's own lookup, without its property's frame).
        arguments: dict[str, Any] = request.scope.get("path_params", {})
        if parameters or body is not None or wants_root_path:
            arguments = dict(arguments)
            for argument, read in parameters:
                arguments[argument] = read(request)
            if body is not None:
                # Ids before the body: a bad id is a 400 whatever the body holds.
                for name in ids:
                    validate_identifier(arguments[name], field=name)
                # read_model's steps, with one coroutine (the body's) instead of three.
                data = json_object(await read_body(request), request.scope["headers"])
                arguments["body"] = model_of(data, body)
            if wants_root_path:
                arguments["root_path"] = request.scope.get("root_path", "")
        return _rendered(await handler(**arguments), status)

    return endpoint


def _rendered(result: Any, status: int) -> Response:
    """A handler's answer as a response: a model (or a :class:`Reply`) with the row's status; a response as it is."""
    if isinstance(result, Response):
        return result
    headers = None
    if type(result) is Reply:
        result, headers = result.value, result.headers
    return runtime_response(result, runtime_id=getattr(result, "runtime_id", None), status_code=status, headers=headers)


def _by_method(
    endpoints: Mapping[str, Callable[[Request], Awaitable[Response]]],
) -> Callable[[Request], Awaitable[Response]]:
    """One endpoint that dispatches on the method (the route lets only these methods through; HEAD is GET)."""
    if len(endpoints) == 1:
        (only,) = endpoints.values()
        return only
    table = dict(endpoints)

    async def endpoint(request: Request) -> Response:
        method = request.method
        return await table["GET" if method == "HEAD" else method](request)

    return endpoint
