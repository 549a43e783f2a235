"""Errors of the client: the server's error envelope mapped back to typed errors.

Every code of the server's error table becomes an exception whose ``code`` is
that code: the codes of the plugin API are :mod:`registry_core.errors`' own
classes (a ``409 worker_busy`` is a :class:`~registry_core.errors.WorkerBusy`
here, as it is in the server; a ``400 malformed_request`` is its
``MalformedRequest``, re-exported here), and the codes only HTTP has get the
classes below. What the
client itself observes — no connection, no answer in time, an answer that is
not the API — gets its own codes, which no server sends.

Every raised error carries ``status`` (the HTTP status, ``None`` when there was
no answer) and, for a ``500``, ``request_id`` (what to quote to the operator).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from registry_core.errors import ERROR_TYPES, HTTP_STATUS_BY_CODE, MalformedRequest, RegistryError

__all__ = [
    "HTTP_ERROR_TYPES",
    "STATUS_OF_CODE",
    "ClientError",
    "ConnectionFailed",
    "ForbiddenOrigin",
    "InternalServerError",
    "MalformedRequest",
    "MalformedResponse",
    "MethodNotAllowed",
    "MisdirectedRequest",
    "PayloadTooLarge",
    "RequestTimedOut",
    "RouteNotFound",
    "ServerBusy",
    "TooManyRequests",
    "Unauthorized",
    "UnsupportedMediaType",
    "error_from_answer",
]

# Messages and details come from the server; a hostile or broken one could
# send anything, so they are cut to what a log line or an exception can hold.
_MESSAGE_MAX = 500
_DETAILS_MAX = 50


class ClientError(RegistryError):
    """Base class of the errors only HTTP (or the client itself) has."""


class Unauthorized(ClientError):
    """``401``: the server wants a bearer token, or another one."""

    code = "unauthorized"


class ForbiddenOrigin(ClientError):
    """``403``: the server refused a state-changing request from another origin."""

    code = "forbidden_origin"


class MisdirectedRequest(ClientError):
    """``421``: the server does not answer for the host name in the URL."""

    code = "misdirected_request"


class TooManyRequests(ClientError):
    """``429``: this client failed the bearer token too often; the server checks its next one later."""

    code = "too_many_requests"


class RouteNotFound(ClientError):
    """``404 not_found``: no such route (a server of another version, or a wrong base URL)."""

    code = "not_found"


class MethodNotAllowed(ClientError):
    """``405 method_not_allowed``: the path exists, the method does not."""

    code = "method_not_allowed"


class PayloadTooLarge(ClientError):
    """``413``: the body is over the server's ``max_body_bytes``."""

    code = "payload_too_large"


class UnsupportedMediaType(ClientError):
    """``415``: the body was not JSON (the client always sends JSON, so a server bug)."""

    code = "unsupported_media_type"


class InternalServerError(ClientError):
    """``500``: a bug in the server; ``request_id`` is what to quote when reporting it."""

    code = "internal_error"


class ServerBusy(ClientError):
    """``503`` without the envelope: the server is at ``max_connections``; retry later."""

    code = "server_busy"


class ConnectionFailed(ClientError):
    """No answer at all: the server could not be reached, or the connection broke."""

    code = "connection_failed"


class RequestTimedOut(ClientError):
    """The server did not answer within the client's timeout."""

    code = "request_timed_out"


class MalformedResponse(ClientError):
    """An answer that is not the API: not JSON, the wrong shape, or an unknown status."""

    code = "malformed_response"


#: The classes of the codes only HTTP has, by code (the runtime codes are in ``registry_core.ERROR_TYPES``).
HTTP_ERROR_TYPES: Mapping[str, type[ClientError]] = {
    cls.code: cls
    for cls in (
        Unauthorized,
        ForbiddenOrigin,
        MisdirectedRequest,
        TooManyRequests,
        RouteNotFound,
        MethodNotAllowed,
        PayloadTooLarge,
        UnsupportedMediaType,
        InternalServerError,
    )
}


#: The HTTP status the server answers each error code with (the plugin API's one table): an error
#: that reaches the client another way (an event of the stream) carries the same ``status``.
STATUS_OF_CODE: Mapping[str, int] = HTTP_STATUS_BY_CODE


def _short(text: Any) -> str | None:
    if not isinstance(text, str):
        return None
    line = " ".join(text.split())
    return line if len(line) <= _MESSAGE_MAX else line[: _MESSAGE_MAX - 3] + "..."


def _details(value: Any) -> list[dict[str, str]]:
    if not isinstance(value, list):
        return []
    details = []
    for item in value[:_DETAILS_MAX]:
        if isinstance(item, Mapping):
            path, message = _short(item.get("path")), _short(item.get("message"))
            if path is not None and message is not None:
                details.append({"path": path, "message": message})
    return details


def error_from_envelope(status: int | None, envelope: Any) -> RegistryError | None:
    """The typed error an error envelope (``{"error": {"code", "message", ...}}``) names, or ``None``
    if it is not an envelope with a code this client knows."""
    if not isinstance(envelope, Mapping) or not isinstance(body := envelope.get("error"), Mapping):
        return None
    code = body.get("code")
    error_type = ERROR_TYPES.get(code) if isinstance(code, str) else None
    if error_type is None and isinstance(code, str):
        error_type = HTTP_ERROR_TYPES.get(code)
    if error_type is None:
        return None
    error = error_type(
        _short(body.get("message")) or str(code),
        runtime_id=_short(body.get("runtime_id")),
        worker_id=_short(body.get("worker_id")),
        details=_details(body.get("details")),
    )
    return _annotated(error, status, _short(body.get("request_id")))


def error_from_answer(status: int, content: bytes, content_type: str) -> RegistryError:
    """The typed error of a non-success answer: the envelope's code if there is one, else by status."""
    error: RegistryError | None = None
    if "json" in content_type:
        try:
            error = error_from_envelope(status, json.loads(content))
        except (ValueError, UnicodeDecodeError):
            error = None
    if error is None:
        if status == 503:
            # uvicorn's own answer past max_connections: plain text, no envelope.
            error = ServerBusy("the server is at its connection limit; retry later")
        else:
            error = MalformedResponse(f"the server answered {status} without an error this client knows")
        _annotated(error, status, None)
    return error


def _annotated(error: RegistryError, status: int | None, request_id: str | None) -> RegistryError:
    """Attach what the answer said besides the envelope; registry_core's errors have no field for it."""
    error.status = status  # type: ignore[attr-defined]
    error.request_id = request_id  # type: ignore[attr-defined]
    return error
