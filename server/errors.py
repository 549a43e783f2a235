"""The one table from error code to HTTP status, and the errors only HTTP has.

Typed errors of :mod:`registry_core.errors` cross the registry unchanged; the
server adds the few that only exist at the HTTP layer (a body that is not JSON,
a missing token, a route that does not exist). All of them carry a ``code``
and render as the same envelope: ``{"error": {"code", "message", ...}}``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# MalformedRequest belongs to the plugin API (runtimes raise InvalidCursor,
# its subclass, where they decode a cursor); the server raises it too.
from registry_core.errors import HTTP_STATUS_BY_CODE, MalformedRequest, RegistryError

__all__ = [
    "STATUS_BY_CODE",
    "MalformedRequest",
    "Unauthorized",
    "ForbiddenOrigin",
    "MisdirectedRequest",
    "RouteNotFound",
    "MethodNotAllowed",
    "PayloadTooLarge",
    "UnsupportedMediaType",
    "TooManyRequests",
    "status_of",
    "envelope",
    "internal_error_envelope",
]


class Unauthorized(RegistryError):
    """A token is configured and the request does not carry it."""

    code = "unauthorized"


class ForbiddenOrigin(RegistryError):
    """A browser page of another origin sent a state-changing request (cross-site request forgery)."""

    code = "forbidden_origin"


class MisdirectedRequest(RegistryError):
    """The ``Host`` header names a host this server does not answer for (DNS rebinding defence)."""

    code = "misdirected_request"


class RouteNotFound(RegistryError):
    """No route has this path."""

    code = "not_found"


class MethodNotAllowed(RegistryError):
    """The path exists, the method does not (the response carries ``Allow``)."""

    code = "method_not_allowed"


class PayloadTooLarge(RegistryError):
    """The request body is over ``server.max_body_bytes``."""

    code = "payload_too_large"


class UnsupportedMediaType(RegistryError):
    """A request body whose ``Content-Type`` is not JSON."""

    code = "unsupported_media_type"


class TooManyRequests(RegistryError):
    """A client failed the bearer token too often; ``Retry-After`` says when its next one is checked."""

    code = "too_many_requests"


#: Every error code the API answers with, and its HTTP status (the plugin API's one table).
STATUS_BY_CODE: Mapping[str, int] = HTTP_STATUS_BY_CODE


def status_of(error: RegistryError) -> int | None:
    """The HTTP status of a typed error, or ``None`` for a code the table does not know."""
    return STATUS_BY_CODE.get(error.code)


def envelope(error: RegistryError) -> dict[str, Any]:
    """The JSON body of a typed error."""
    return {"error": error.to_dict()}


def internal_error_envelope(request_id: str) -> dict[str, Any]:
    """The body of a 500: a generic message and the request id, nothing else."""
    return {
        "error": {
            "code": "internal_error",
            "message": "the server failed to handle the request; quote the request id when reporting it",
            "request_id": request_id,
        }
    }
