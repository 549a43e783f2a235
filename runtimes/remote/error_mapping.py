"""The remote server's answers, turned into the front's typed errors and a health verdict.

A refusal the client caused (an unknown worker, a busy one, a bad field, an
expired cursor) passes through as the same typed error with the remote's
message, so a ``409 worker_busy`` of the remote is a ``409 worker_busy`` here:
the busy rule stays the remote's. Everything that says the *remote* is in
trouble — unreachable, slow, refusing this runtime's token, not speaking the
API — becomes ``runtime_unavailable`` (``503``) or ``runtime_timeout``
(``504``) with a fixed message, plus a :class:`Fault` for the runtime's status.
A ``401`` of the remote is never a ``401`` here: the client of the front did
nothing wrong.

Messages are the front's own or the remote's; a remote message that contains
one of the runtime's secrets (the remote's URL, host or token) is replaced by
a generic one, so a remote echoing its own address cannot leak it.
"""

from __future__ import annotations

from collections.abc import Iterable

import attrs

from registry_core.errors import (
    CapacityExceeded,
    CursorExpired,
    InvalidCursor,
    InvalidIdentifier,
    InvalidRequest,
    LimitTooLarge,
    MalformedRequest,
    QueueFull,
    RegistryError,
    RuntimeTimeout,
    RuntimeUnavailable,
    UnknownProfile,
    UnknownRuntime,
    UnknownWorker,
    UnsupportedOperation,
    WorkerBusy,
    WorkerStopped,
)
from registry_core.models import Diagnostic, RuntimeStatus
from runtime_registry.client.errors import (
    ConnectionFailed,
    ForbiddenOrigin,
    InternalServerError,
    MisdirectedRequest,
    PayloadTooLarge,
    RequestTimedOut,
    ServerBusy,
    Unauthorized,
)

__all__ = [
    "BUSY",
    "NOT_THE_API",
    "NO_SUCH_RUNTIME",
    "REQUEST_REFUSED",
    "SLOW",
    "TOKEN_REFUSED",
    "UNREACHABLE",
    "Fault",
    "scrub",
    "token_missing",
    "translate",
]


@attrs.frozen
class Fault:
    """What a failed exchange says about the remote: the runtime's status and a diagnostic."""

    status: RuntimeStatus
    diagnostic: Diagnostic


UNREACHABLE = Fault(
    RuntimeStatus.UNAVAILABLE, Diagnostic.error("remote_unreachable", "the remote server cannot be reached")
)
SLOW = Fault(RuntimeStatus.DEGRADED, Diagnostic.warning("remote_slow", "the remote server did not answer in time"))
BUSY = Fault(RuntimeStatus.DEGRADED, Diagnostic.warning("remote_busy", "the remote server is at its connection limit"))
TOKEN_REFUSED = Fault(
    RuntimeStatus.UNAVAILABLE,
    Diagnostic.error(
        "remote_unauthorized", "the remote server refused this runtime's token (see the runtime's token_env setting)"
    ),
)
NO_SUCH_RUNTIME = Fault(
    RuntimeStatus.UNAVAILABLE,
    Diagnostic.error(
        "remote_unknown_runtime", "the remote server has no runtime with this runtime's configured runtime_id"
    ),
)
NOT_THE_API = Fault(
    RuntimeStatus.UNAVAILABLE,
    Diagnostic.error("remote_malformed", "the remote server's answers are not the runtime-registry API"),
)
REQUEST_REFUSED = Fault(
    RuntimeStatus.UNAVAILABLE,
    Diagnostic.error(
        "remote_refused", "the remote server refused this runtime's requests (its host name or origin policy)"
    ),
)


def token_missing(variable: str) -> Fault:
    """The fault of a ``token_env`` variable that is not set (its name is config, not a secret)."""
    return Fault(
        RuntimeStatus.UNAVAILABLE,
        Diagnostic.error("remote_token_missing", f"the environment variable {variable} (token_env) is not set"),
    )


# Refusals a client of the front can cause: the same error, the remote's message.
_PASSED_THROUGH: tuple[type[RegistryError], ...] = (
    UnknownWorker,
    WorkerBusy,
    QueueFull,
    WorkerStopped,
    CapacityExceeded,
    CursorExpired,
    InvalidRequest,
    UnknownProfile,
    LimitTooLarge,
    UnsupportedOperation,
    InvalidIdentifier,
)

_GENERIC_MESSAGE = "the remote runtime refused the request"


def scrub(message: str, secrets: Iterable[str], fallback: str) -> str:
    """``message``, or ``fallback`` if it contains any of ``secrets``."""
    lowered = message.lower()
    return fallback if any(secret and secret.lower() in lowered for secret in secrets) else message


def translate(error: RegistryError, secrets: Iterable[str]) -> tuple[RegistryError, Fault | None]:
    """The error the front raises for the client's ``error``, and the fault it shows (``None``: the remote is fine).

    The returned error names no runtime or worker: the registry fills in the
    front's ``runtime_id`` and the worker id of the call.
    """
    if isinstance(error, _PASSED_THROUGH):
        # The exact class, not a subclass: a client-side MalformedRequest is not an InvalidRequest.
        for passed in _PASSED_THROUGH:
            if type(error) is passed:
                return passed(scrub(error.message, secrets, _GENERIC_MESSAGE), details=error.details), None
    if isinstance(error, MalformedRequest):
        # Every parameter the front passes on was checked by the front's own rules but the
        # opaque list cursor, which only the remote can read: its 400 is a cursor it did not issue.
        return InvalidCursor(
            scrub(error.message, secrets, InvalidCursor().message), details=error.details or InvalidCursor().details
        ), None
    if isinstance(error, PayloadTooLarge):
        return InvalidRequest("the request is larger than the remote server accepts"), None
    if isinstance(error, RuntimeUnavailable):
        return RuntimeUnavailable("the remote runtime is unavailable"), None
    if isinstance(error, RuntimeTimeout):
        return RuntimeTimeout("the remote runtime did not answer in time"), None
    if isinstance(error, InternalServerError):
        return RuntimeUnavailable("the remote server failed to handle the request"), None
    fault = _FAULTS.get(type(error), NOT_THE_API)
    if fault is SLOW:
        return RuntimeTimeout(SLOW.diagnostic.message), fault
    return RuntimeUnavailable(fault.diagnostic.message), fault


_FAULTS: dict[type[RegistryError], Fault] = {
    ConnectionFailed: UNREACHABLE,
    RequestTimedOut: SLOW,
    ServerBusy: BUSY,
    Unauthorized: TOKEN_REFUSED,
    UnknownRuntime: NO_SUCH_RUNTIME,
    MisdirectedRequest: REQUEST_REFUSED,
    ForbiddenOrigin: REQUEST_REFUSED,
}
