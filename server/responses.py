"""JSON responses: models to JSON data (:mod:`runtime_registry.server.serialization`), then the standard library's C encoder."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import attrs
from starlette.background import BackgroundTask
from starlette.responses import Response

from registry_core.errors import RegistryError, RuntimeUnavailable
from registry_core.models import Diagnostic, WorkerOverview
from runtime_registry.server.errors import envelope, internal_error_envelope, status_of
from runtime_registry.server.serialization import render_json

__all__ = [
    "JSON_MEDIA_TYPE",
    "JSONResponse",
    "runtime_response",
    "overview_response",
    "error_response",
    "internal_error_response",
]

log = logging.getLogger("runtime_registry.server.responses")

JSON_MEDIA_TYPE = "application/json; charset=utf-8"


_CONTENT_TYPE_HEADER = (b"content-type", JSON_MEDIA_TYPE.encode("latin-1"))


class JSONResponse(Response):
    """A response whose content is a model, or JSON-ready data holding models."""

    media_type = JSON_MEDIA_TYPE

    def __init__(
        self,
        content: Any,
        status_code: int = 200,
        headers: Mapping[str, str] | None = None,
        media_type: str | None = None,
        background: BackgroundTask | None = None,
    ) -> None:
        if headers is not None or media_type is not None or background is not None or status_code < 200:
            super().__init__(content, status_code, headers, media_type, background)
            return
        # What Response.__init__ makes of it (a test holds them equal), without init_headers'
        # generic steps: on the busiest write route they cost as much as rendering the answer.
        self.status_code = status_code
        self.background = None
        body = self.body = render_json(content).encode("utf-8")  # self.render's work, without its frame
        if status_code in (204, 304):
            self.raw_headers = [_CONTENT_TYPE_HEADER]
        else:
            self.raw_headers = [(b"content-length", str(len(body)).encode("latin-1")), _CONTENT_TYPE_HEADER]

    def render(self, content: Any) -> bytes:
        return render_json(content).encode("utf-8")


def runtime_response(
    value: Any, *, runtime_id: str | None, status_code: int = 200, headers: Mapping[str, str] | None = None
) -> JSONResponse:
    """A response holding what a runtime returned.

    The registry checks a result's model type, but not what its fields hold: a
    provider can put a string where a timestamp belongs, or an arbitrary object
    in event data. Such a value fails here, while rendering; it is the
    runtime's fault, so it is ``503 runtime_unavailable`` (details to the log),
    never a 500.
    """
    try:
        return JSONResponse(value, status_code=status_code, headers=headers)
    except Exception:
        log.exception("runtime %r returned data that cannot be rendered as JSON", runtime_id)
        raise RuntimeUnavailable("the runtime returned malformed data", runtime_id=runtime_id) from None


def overview_response(overview: WorkerOverview) -> JSONResponse:
    """The cross-runtime worker overview, where one runtime's unrenderable rows are a diagnostic.

    The overview must never fail as a whole for one runtime's fault, so on a
    rendering failure (rare: a plugin bug) each row is tried alone and the
    runtimes whose rows fail are reported instead of listed.
    """
    try:
        return JSONResponse(overview)
    except Exception:
        pass
    kept, broken = [], []
    for worker in overview.items:
        try:
            render_json(worker)
        except Exception:
            if worker.runtime_id not in broken:
                log.exception("runtime %r returned a worker that cannot be rendered as JSON", worker.runtime_id)
                broken.append(worker.runtime_id)
        else:
            kept.append(worker)
    diagnostics = overview.diagnostics + tuple(
        Diagnostic.error("runtime_unavailable", f"runtime {runtime_id!r} returned malformed data")
        for runtime_id in broken
    )
    return JSONResponse(attrs.evolve(overview, items=tuple(kept), diagnostics=diagnostics))


def error_response(error: RegistryError, headers: Mapping[str, str] | None = None) -> JSONResponse:
    """The envelope of a typed error, with its status from :data:`runtime_registry.server.errors.STATUS_BY_CODE`.

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
