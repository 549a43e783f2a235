"""Starlette exception handlers: typed errors, unknown routes and wrong methods, all in the envelope.

An unknown path whose *shape* is a route's but whose id segment is not a valid
id (``/api/runtimes/a%2Fb/workers``: the router sees ``a/b`` and no route
matches) is answered ``400 invalid_identifier``, exactly as the same bad id in
a path the router does match — the contract says bad ids are 400, whatever
they contain.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from urllib.parse import unquote

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from registry_core.errors import RegistryError
from registry_core.identifiers import validate_identifier
from runtime_registry.server.errors import MalformedRequest, MethodNotAllowed, RouteNotFound, status_of
from runtime_registry.server.middleware.request_ids import request_id_of
from runtime_registry.server.responses import error_response, internal_error_response

__all__ = ["ErrorHandler", "exception_handlers"]

log = logging.getLogger("runtime_registry.server.errors")

#: What answers an exception of one class (Starlette's exception-handler shape).
ErrorHandler = Callable[[Request, Exception], Awaitable[Response]]


def exception_handlers(routes: Sequence[BaseRoute]) -> dict[type[Exception], ErrorHandler]:
    """The handlers the front door answers exceptions with, by class, for an app with ``routes``."""
    templates = [tuple(route.path.strip("/").split("/")) for route in routes if isinstance(route, Route)]

    async def typed_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RegistryError)
        if status_of(exc) is None:
            # A provider's own RegistryError subclass with a code the contract
            # does not have: a plugin bug. Its message may say anything.
            request_id = request_id_of(request.scope)
            log.error("request %s: error code %r has no HTTP status (%s)", request_id, exc.code, type(exc).__name__)
            return internal_error_response(request_id)
        return error_response(exc)

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        if exc.status_code == 404:
            try:
                _check_identifiers_in_raw_path(request, templates)
            except RegistryError as invalid:
                return error_response(invalid)
            return error_response(RouteNotFound("no such route; see /openapi.json for the routes"))
        if exc.status_code == 405:
            # Starlette joins a set of methods, whose order changes with the
            # process's hash seed: sorted, every process answers alike.
            allow = ", ".join(
                sorted(method.strip() for method in (exc.headers or {}).get("Allow", "").split(",") if method.strip())
            )
            error = MethodNotAllowed(f"method {request.method} is not allowed here; allowed: {allow}")
            return error_response(error, headers={"Allow": allow})
        if exc.status_code == 400:
            return error_response(MalformedRequest("the request is malformed"))
        request_id = request_id_of(request.scope)
        log.error("request %s: unexpected HTTPException %s", request_id, exc.status_code)
        return internal_error_response(request_id)

    return {RegistryError: typed_error, HTTPException: http_error}


def _check_identifiers_in_raw_path(request: Request, templates: list[tuple[str, ...]]) -> None:
    """Raise ``InvalidIdentifier`` if the raw path has a route's shape with a bad id in it."""
    raw = request.scope.get("raw_path") or request.scope["path"].encode("utf-8")
    segments = raw.decode("latin-1").strip("/").split("/")
    for template in templates:
        if len(template) != len(segments):
            continue
        names = []
        for expected, segment in zip(template, segments, strict=False):
            if expected.startswith("{"):
                names.append((expected[1:-1], unquote(segment, errors="replace")))
            elif expected != segment:
                break
        else:
            for name, value in names:
                validate_identifier(value, field=name)
