"""Typed errors of the registry.

Every error has a stable ``code`` (the contract's error table) so that the
server can map it to an HTTP status in one place, and so that clients can
branch on it. Messages are written for people and must never contain a path,
socket, session id, token or traceback: providers raise these with messages
they wrote, and the registry turns every *other* exception into
:class:`RuntimeUnavailable` with a generic message.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, ClassVar

__all__ = [
    "RegistryError",
    "UnknownRuntime",
    "UnknownWorker",
    "WorkerBusy",
    "QueueFull",
    "WorkerStopped",
    "RuntimeUnavailable",
    "RuntimeTimeout",
    "UnsupportedOperation",
    "InvalidIdentifier",
    "InvalidRequest",
    "UnknownProfile",
    "MalformedRequest",
    "InvalidCursor",
    "LimitTooLarge",
    "CapacityExceeded",
    "CursorExpired",
    "ERROR_TYPES",
    "HTTP_STATUS_BY_CODE",
]


class RegistryError(Exception):
    """Base class of every typed error.

    :param message: a one-line, human-readable explanation.
    :param runtime_id: the runtime the error concerns, if any.
    :param worker_id: the worker the error concerns, if any.
    :param details: per-field problems, each ``{"path", "message"}``.
    """

    #: The stable machine-readable code, as in the contract's error table.
    code: ClassVar[str] = "internal_error"

    def __init__(
        self,
        message: str,
        *,
        runtime_id: str | None = None,
        worker_id: str | None = None,
        details: Iterable[Mapping[str, str]] = (),
    ) -> None:
        super().__init__(message)
        self.message = message
        self.runtime_id = runtime_id
        self.worker_id = worker_id
        self.details: tuple[dict[str, str], ...] = tuple(dict(d) for d in details)

    def locate(self, runtime_id: str | None, worker_id: str | None = None) -> RegistryError:
        """Fill in ``runtime_id`` / ``worker_id`` where the raiser left them out; return self."""
        if self.runtime_id is None:
            self.runtime_id = runtime_id
        if self.worker_id is None:
            self.worker_id = worker_id
        return self

    def to_dict(self) -> dict[str, Any]:
        """The JSON body of the error: ``{"code", "message", ...}`` without the envelope."""
        body: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.runtime_id is not None:
            body["runtime_id"] = self.runtime_id
        if self.worker_id is not None:
            body["worker_id"] = self.worker_id
        if self.details:
            body["details"] = [dict(d) for d in self.details]
        return body

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r}, code={self.code!r})"


class UnknownRuntime(RegistryError):
    """No runtime with this id is registered."""

    code = "unknown_runtime"


class UnknownWorker(RegistryError):
    """No worker with this id exists *in this runtime* (it may exist in another)."""

    code = "unknown_worker"


class WorkerBusy(RegistryError):
    """The worker is in a turn; the input was refused, nothing was queued."""

    code = "worker_busy"


class QueueFull(RegistryError):
    """The worker is in a turn and its queue holds as many inputs as it may (``if_busy: "enqueue"``).

    .. versionadded:: 0.4
    """

    code = "queue_full"


class WorkerStopped(RegistryError):
    """The worker was stopped for good; it takes no more input or cancel."""

    code = "worker_stopped"


class RuntimeUnavailable(RegistryError):
    """The runtime failed to start, raised unexpectedly, or is stopped."""

    code = "runtime_unavailable"


class RuntimeTimeout(RegistryError):
    """The runtime did not answer within the registry's call timeout."""

    code = "runtime_timeout"


class UnsupportedOperation(RegistryError):
    """The runtime kind does not do this; its capability is ``false``."""

    code = "unsupported_operation"


class InvalidIdentifier(RegistryError):
    """A runtime or worker id breaks the id rules (see :mod:`registry_core.identifiers`)."""

    code = "invalid_identifier"


class InvalidRequest(RegistryError):
    """Well-formed input of the wrong shape or value; ``details`` names each field."""

    code = "invalid_request"


class UnknownProfile(InvalidRequest):
    """A create named a profile the runtime does not have (``422 unknown_profile``).

    Raise it from ``create_worker`` instead of falling back to another
    profile, naming the closest names the runtime has (``details`` at
    ``profile``), so that a mistyped name is seen at once. A subclass of
    :class:`InvalidRequest`, so code that catches that still catches it;
    an omitted profile is never unknown (it means the runtime's default).

    Build it with :meth:`among`, which writes the message and the detail.

    .. versionadded:: 0.4
    """

    code = "unknown_profile"

    #: How many of the closest names :meth:`among` names.
    CLOSEST_SHOWN: ClassVar[int] = 3
    #: The longest part of the client's selector repeated in the message.
    SELECTOR_SHOWN: ClassVar[int] = 64

    @classmethod
    def among(cls, selector: str, names: Sequence[str]) -> UnknownProfile:
        """The error for ``selector``, naming the (up to three) closest of ``names``, or some of them when none is close.

        ``names`` are the profiles a client may select: they are not secret
        (a runtime that lists profiles shows them), so they may be named.
        """
        shown = selector[: cls.SELECTOR_SHOWN]
        closest = difflib.get_close_matches(selector, list(names), n=cls.CLOSEST_SHOWN, cutoff=0.5)
        if closest:
            hint = "did you mean " + " or ".join(repr(name) for name in closest) + "?"
        else:
            listed = ", ".join(repr(name) for name in names[: cls.CLOSEST_SHOWN * 3])
            hint = f"this runtime's profiles: {listed}{', ...' if len(names) > cls.CLOSEST_SHOWN * 3 else ''}"
        return cls(f"no profile {shown!r} in this runtime; {hint}", details=({"path": "profile", "message": hint},))


class MalformedRequest(RegistryError):
    """A request the operation cannot read at all: a body that is not a JSON object, a query
    parameter or header that breaks its rule (``400``; a body of the wrong shape is :class:`InvalidRequest`)."""

    code = "malformed_request"


class InvalidCursor(MalformedRequest):
    """A worker-list cursor the runtime did not issue (forged, tampered, another runtime's, an older run's).

    Raise it from ``list_workers`` where you decode the cursor; it is
    ``400 malformed_request`` naming ``cursor``. The defaults say so; pass
    your own message if you have a better one (never echo the cursor: a
    client wrote it).
    """

    def __init__(
        self,
        message: str = "cursor is not one this runtime issued; start again without a cursor",
        *,
        runtime_id: str | None = None,
        worker_id: str | None = None,
        details: Iterable[Mapping[str, str]] = ({"path": "cursor", "message": "unknown cursor"},),
    ) -> None:
        super().__init__(message, runtime_id=runtime_id, worker_id=worker_id, details=details)


class LimitTooLarge(RegistryError):
    """A page ``limit`` is above the runtime's maximum."""

    code = "limit_too_large"


class CapacityExceeded(RegistryError):
    """A runtime's worker limit or a worker's transcript limit is reached."""

    code = "capacity_exceeded"


class CursorExpired(RegistryError):
    """The event cursor is older than the retained events (or from another run)."""

    code = "cursor_expired"


#: Every typed error class by its code.
ERROR_TYPES: Mapping[str, type[RegistryError]] = {
    cls.code: cls
    for cls in (
        UnknownRuntime,
        UnknownWorker,
        WorkerBusy,
        QueueFull,
        WorkerStopped,
        RuntimeUnavailable,
        RuntimeTimeout,
        UnsupportedOperation,
        InvalidIdentifier,
        InvalidRequest,
        UnknownProfile,
        MalformedRequest,
        LimitTooLarge,
        CapacityExceeded,
        CursorExpired,
    )
}


#: Every error code the HTTP API answers with, and its status: the one table the server answers by
#: and the client maps envelopes and stream errors back by. Kinds never need it (they raise the typed
#: errors above); it lives here so that server and client share it without importing each other.
#:
#: .. versionadded:: 0.4
HTTP_STATUS_BY_CODE: Mapping[str, int] = {
    "malformed_request": 400,
    "invalid_identifier": 400,
    "limit_too_large": 400,
    "unauthorized": 401,
    "forbidden_origin": 403,
    "unknown_runtime": 404,
    "unknown_worker": 404,
    "not_found": 404,
    "unsupported_operation": 405,
    "method_not_allowed": 405,
    "worker_busy": 409,
    "queue_full": 409,
    "worker_stopped": 409,
    "capacity_exceeded": 409,
    "cursor_expired": 410,
    "payload_too_large": 413,
    "unsupported_media_type": 415,
    "misdirected_request": 421,
    "too_many_requests": 429,
    "invalid_request": 422,
    "unknown_profile": 422,
    "internal_error": 500,
    "runtime_unavailable": 503,
    "runtime_timeout": 504,
}
