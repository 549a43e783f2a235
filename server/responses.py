"""JSON responses: models to JSON data (:mod:`server.serialization`), then the standard library's C encoder."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from starlette.responses import Response

from registry_core.errors import RegistryError
from server.errors import envelope, internal_error_envelope, status_of
from server.serialization import render_json

__all__ = ["JSON_MEDIA_TYPE", "JSONResponse", "error_response", "internal_error_response"]

JSON_MEDIA_TYPE = "application/json; charset=utf-8"


class JSONResponse(Response):
    """A response whose content is a model, or JSON-ready data holding models."""

    media_type = JSON_MEDIA_TYPE

    def render(self, content: Any) -> bytes:
        return render_json(content).encode("utf-8")


def error_response(error: RegistryError, headers: Mapping[str, str] | None = None) -> JSONResponse:
    """The envelope of a typed error, with its status from :data:`server.errors.STATUS_BY_CODE`.

    A code the table does not know (a third party's own error class) is a bug
    in that plugin; it is answered as a 500 by the caller, never guessed here.
    """
    status = status_of(error)
    if status is None:
        raise LookupError(f"no HTTP status for error code {error.code!r}")
    return JSONResponse(envelope(error), status_code=status, headers=headers)


def internal_error_response(request_id: str) -> JSONResponse:
    """A 500 that says nothing but that it failed, and which request it was."""
    return JSONResponse(internal_error_envelope(request_id), status_code=500)
