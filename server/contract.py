"""The HTTP contract as one table: every operation, declared once.

Each :class:`Operation` says its method and path, the parameters it reads,
its request body model, its success (status, response model, headers) and the
errors it can answer. :mod:`runtime_registry.server.endpoints` builds the
Starlette routes from this table (parsing the parameters and body it names,
answering with the status it names) and :mod:`runtime_registry.server.openapi`
builds the OpenAPI paths from it; the component schemas come from the models
(:mod:`runtime_registry.server.schemas`). A new route is a row here and a
handler there (docs/architecture.md, "Where to make a change").

Statuses every operation of a kind can answer are added by rule, not per row
(:meth:`Operation.error_statuses`): ``500`` everywhere, ``421`` everywhere but
``/healthz`` (the Host check), ``401`` under ``/api``, ``403`` and ``413`` on
state-changing methods (the Origin check, the body limit), and ``413``,
``415`` and ``422`` wherever a body is read.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Literal

import attrs
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from starlette.requests import Request

from registry_core.constraints import ID_PATTERN
from registry_core.models import (
    CreateWorkerRequest,
    EventPage,
    InputAccepted,
    InputRequest,
    Label,
    PluginInfo,
    ProfileList,
    ProfileSelector,
    RuntimeList,
    RuntimeSummary,
    StatusSelector,
    TranscriptPage,
    Worker,
    WorkerActionResult,
    WorkerOverview,
    WorkerPage,
)
from runtime_registry.host.registry import OVERVIEW_PAGE_MAX
from runtime_registry.server.request_parsing import (
    FILTER_VALUES_MAX,
    INTEGER_PARAMETER_MAX,
    OPAQUE_PARAMETER_MAX,
    choice_parameter,
    integer_parameter,
    opaque_parameter,
    parse_integer,
    worker_filter_parameter,
)
from runtime_registry.server.schemas import SchemaSet

__all__ = [
    "OPERATIONS",
    "Operation",
    "Success",
    "PathId",
    "IntegerQuery",
    "CursorQuery",
    "FilterQuery",
    "ResumeHeader",
    "Health",
    "Readiness",
    "UnreadyRuntime",
    "PROBE_PATHS",
    "METRICS_PATH",
    "PluginList",
    "JSON",
    "EVENT_STREAM",
]

JSON = "application/json"
EVENT_STREAM = "text/event-stream"


# -- wire models that only HTTP has ----------------------------------------------


@attrs.frozen
class Health:
    """The liveness answer."""

    status: Literal["ok"] = "ok"


@attrs.frozen
class UnreadyRuntime:
    """A runtime that is neither ``running`` nor ``degraded``."""

    runtime_id: str
    status: str
    codes: tuple[str, ...] = ()


@attrs.frozen
class Readiness:
    """The readiness answer: ``ready``, or ``unready`` with the runtimes that are not."""

    status: Literal["ready", "unready"]
    runtimes: tuple[UnreadyRuntime, ...] = ()


@attrs.frozen
class PluginList:
    """Every discovered plugin, loaded or not."""

    items: tuple[PluginInfo, ...]


# -- parameters ------------------------------------------------------------------


@attrs.frozen
class PathId:
    """A runtime or worker id in the path; the registry checks it (``400 invalid_identifier``)."""

    name: str

    def openapi(self) -> dict[str, Any]:
        """The OpenAPI parameter object."""
        return {
            "name": self.name,
            "in": "path",
            "required": True,
            "schema": {"type": "string", "pattern": ID_PATTERN.regex},
            "description": "1-120 ASCII letters, digits, '-', '_' or ':'; anything else is 400 invalid_identifier",
        }


@attrs.frozen
class IntegerQuery:
    """An integer query parameter of at least ``minimum``; else ``400 malformed_request`` naming it.

    ``maximum`` is what the document shows: the parser takes up to 18 digits,
    and a page ``limit`` above a runtime's maximum is the registry's ``400 limit_too_large``.
    """

    name: str
    minimum: int
    description: str
    maximum: int = INTEGER_PARAMETER_MAX

    @property
    def argument(self) -> str:
        """The handler's keyword argument."""
        return self.name

    def read(self, request: Request) -> int | None:
        """The value, ``None`` when absent."""
        return integer_parameter(request.query_params, self.name, minimum=self.minimum)

    def openapi(self) -> dict[str, Any]:
        """The OpenAPI parameter object."""
        return {
            "name": self.name,
            "in": "query",
            "required": False,
            "schema": {"type": "integer", "minimum": self.minimum, "maximum": self.maximum},
            "description": f"{self.description}; not an integer of at least {self.minimum} is 400 malformed_request",
        }


@attrs.frozen
class CursorQuery:
    """An opaque cursor a runtime issued (``?cursor=``); one that is empty, too long or unprintable is a 400."""

    description: str
    name: str = "cursor"

    @property
    def argument(self) -> str:
        """The handler's keyword argument."""
        return self.name

    def read(self, request: Request) -> str | None:
        """The value, ``None`` when absent."""
        return opaque_parameter(request.query_params, self.name)

    def openapi(self) -> dict[str, Any]:
        """The OpenAPI parameter object."""
        return {
            "name": self.name,
            "in": "query",
            "required": False,
            "schema": {"type": "string", "minLength": 1, "maxLength": OPAQUE_PARAMETER_MAX},
            "description": self.description,
        }


@attrs.frozen
class FilterQuery:
    """A repeatable worker-list filter (``?status=``, ``?profile=``, ``?label=``): the values of one
    :class:`~registry_core.models.WorkerFilter` field, each by that field's rule (decision 0200)."""

    name: str
    #: The type of one value (its rules are the OpenAPI item schema).
    item: Any
    description: str

    @property
    def argument(self) -> str:
        """The handler's keyword argument."""
        return self.name

    def read(self, request: Request) -> tuple[str, ...]:
        """The values, ``()`` when absent."""
        return worker_filter_parameter(request.query_params, self.name)

    def openapi(self) -> dict[str, Any]:
        """The OpenAPI parameter object: an array, one value per repetition (``style: form, explode``)."""
        schema = SchemaSet(()).schema_of(self.item, request=True)
        return {
            "name": self.name,
            "in": "query",
            "required": False,
            "style": "form",
            "explode": True,
            "schema": {"type": "array", "items": schema, "maxItems": FILTER_VALUES_MAX},
            "description": f"{self.description}; repeat it for alternatives (any of them matches); "
            "a value that breaks its rule is 400 malformed_request",
        }


@attrs.frozen
class ResumeHeader:
    """``Last-Event-ID``: decimal digits, or empty — "no id", as if absent (decision 0056)."""

    name: str = "Last-Event-ID"

    @property
    def argument(self) -> str:
        """The handler's keyword argument."""
        return "last_event_id"

    def read(self, request: Request) -> int | None:
        """The event id to resume after, ``None`` when the header is absent or empty."""
        header = request.headers.get(self.name)
        if header is None or not header.strip():
            return None
        return parse_integer(header.strip(), self.name, minimum=0)

    def openapi(self) -> dict[str, Any]:
        """The OpenAPI parameter object."""
        return {
            "name": self.name,
            "in": "header",
            "required": False,
            # A string, not an integer: an empty value is "no id" (what the SSE
            # spec's empty last event id means), taken as if the header were absent.
            "schema": {"type": "string", "pattern": f"^[0-9]{{0,{len(str(INTEGER_PARAMETER_MAX))}}}$"},
            "description": "resume after this event id (wins over ?cursor=); empty: no id, as if absent "
            "(?cursor= then decides); anything but decimal digits is 400 malformed_request",
        }


@attrs.frozen
class ChoiceQuery:
    """A query parameter that takes one of a few words (``?queued=keep``); anything else is a 400."""

    name: str
    choices: tuple[str, ...]
    default: str
    description: str

    @property
    def argument(self) -> str:
        """The handler's keyword argument."""
        return self.name

    def read(self, request: Request) -> str:
        """The value, the default when absent."""
        return choice_parameter(request.query_params, self.name, self.choices) or self.default

    def openapi(self) -> dict[str, Any]:
        """The OpenAPI parameter object."""
        return {
            "name": self.name,
            "in": "query",
            "required": False,
            "schema": {"type": "string", "enum": list(self.choices), "default": self.default},
            "description": f"{self.description}; any other value is 400 malformed_request",
        }


Parameter = IntegerQuery | CursorQuery | FilterQuery | ResumeHeader | ChoiceQuery

LIMIT = IntegerQuery("limit", 1, "page size (default 50, at most the runtime's page maximum: else 400 limit_too_large)")
OVERVIEW_LIMIT = IntegerQuery("limit", 1, "page size (default 50)", maximum=OVERVIEW_PAGE_MAX)
START = IntegerQuery("start", 1, "the first sequence to return (default 1)")
EVENT_CURSOR = IntegerQuery(
    "cursor",
    0,
    "return events after this event id (omitted: from the oldest retained; 0: from the first event); "
    "event ids are opaque and never reused across restarts, so one from before a restart is 410 cursor_expired",
)
LAST_EVENT_ID = ResumeHeader()
CANCEL_QUEUED = ChoiceQuery(
    "queued",
    ("drop", "keep"),
    "drop",
    "what happens to the inputs queued behind the cancelled turn (if_busy enqueue): drop (each gets a "
    "worker.input_dropped event; the worker is idle) or keep (the next one's turn starts at once)",
)
LIST_CURSOR = CursorQuery(
    "the next_cursor of the previous page (valid under any filter: it continues after the same worker); "
    "one this server did not issue is 400 malformed_request"
)
#: The worker-list filters (decision 0200): values of one are alternatives, different ones all apply.
WORKER_FILTERS = (
    FilterQuery(
        "status", StatusSelector, "only workers with this status (kind-specific; embedded: idle, busy, stopped)"
    ),
    FilterQuery("profile", ProfileSelector, "only workers of this resolved profile (as in the worker's profile field)"),
    FilterQuery(
        "label", Label, "only workers with exactly this label (case-sensitive; a display label, not key=value)"
    ),
)


# -- operations ------------------------------------------------------------------


@attrs.frozen
class Success:
    """The success answer of an operation.

    :param model: the response model (its schema comes from the model); or
    :param schema: a body schema written out, where the body is not a model
        (the OpenAPI document itself, the event stream).
    :param headers: headers the answer always carries, with what each says.
    """

    status: int
    description: str
    model: type | None = None
    schema: Mapping[str, Any] | None = None
    media_type: str = JSON
    headers: Mapping[str, str] = attrs.field(factory=dict)


#: Paths for probes: any ``Host`` (no 421), no token.
PROBE_PATHS = frozenset({"/healthz", "/readyz"})
#: The metrics route: guarded by the token like ``/api`` unless ``server.metrics_public``.
METRICS_PATH = "/metrics"

_PATH_PARAMETER = re.compile(r"\{(\w+)\}")
_STATE_CHANGING = frozenset({"POST", "DELETE", "PUT", "PATCH"})


@attrs.frozen
class Operation:
    """One route of the contract: what it reads, what it answers."""

    operation_id: str
    method: str
    path: str
    summary: str
    tag: str
    success: Success
    #: Statuses of this operation's own errors; those every operation of its kind has are added by rule.
    errors: frozenset[int] = frozenset()
    parameters: tuple[Parameter, ...] = ()
    body: type | None = None
    body_required: bool = False
    #: Answers besides ``success`` that are not errors (``/readyz``'s 503 names the runtimes that are not ready).
    other_answers: tuple[Success, ...] = ()

    @property
    def path_ids(self) -> tuple[PathId, ...]:
        """The ids in the path, in order."""
        return tuple(PathId(name) for name in _PATH_PARAMETER.findall(self.path))

    def error_statuses(self) -> list[int]:
        """Every error status the operation can answer, sorted."""
        # Every operation refuses a query parameter it does not take (400).
        statuses = set(self.errors) | {400, 500}
        if self.path not in PROBE_PATHS:
            statuses.add(421)
        if self.path.startswith("/api/"):
            statuses.add(401)
        if self.method in _STATE_CHANGING:
            statuses |= {403, 413}
        if self.body is not None:
            statuses |= {413, 415, 422}
        return sorted(statuses)


# Errors of a call into a runtime that names it: a bad id, an unknown runtime
# or worker, an operation the kind lacks, a runtime down or too slow.
_RUNTIME_CALL = frozenset({400, 404, 405, 503, 504})
_CONFLICT = frozenset({409})
_EXPIRED = frozenset({410})

RUNTIME = "/api/runtimes/{runtime_id}"
WORKER = RUNTIME + "/workers/{worker_id}"

_STREAM_CLOSING_EVENTS = ["cursor_expired", "error"]


def _json_text(schema: str) -> dict[str, Any]:
    return {"type": "string", "contentMediaType": JSON, "contentSchema": {"$ref": f"#/components/schemas/{schema}"}}


# Before OpenAPI 3.2 (itemSchema), an event stream's schema describes one
# event as tools parse it: {event, id?, data} with data a JSON text.
_STREAM_EVENT = {
    "oneOf": [
        {
            "type": "object",
            "description": "a runtime event: id = event id, event = its type, data = the Event JSON",
            "properties": {
                "id": {"type": "string", "pattern": "^[0-9]+$"},
                "event": {"type": "string", "not": {"enum": _STREAM_CLOSING_EVENTS}},
                "data": _json_text("Event"),
            },
            "required": ["id", "event", "data"],
        },
        {
            "type": "object",
            "description": "the last event before the stream closes: data = an ErrorEnvelope",
            "properties": {
                "event": {"type": "string", "enum": _STREAM_CLOSING_EVENTS},
                "data": _json_text("ErrorEnvelope"),
            },
            "required": ["event", "data"],
        },
    ]
}

#: Every operation. The router tries paths in the order they first appear
#: here: the per-worker routes clients call most come first (each miss is a
#: regex match on every request).
OPERATIONS: tuple[Operation, ...] = (
    Operation(
        operation_id="get_worker",
        method="GET",
        path=WORKER,
        summary="One worker",
        tag="workers",
        success=Success(200, "the worker", Worker),
        errors=_RUNTIME_CALL,
    ),
    Operation(
        operation_id="delete_worker",
        method="DELETE",
        path=WORKER,
        summary="Remove the worker for good: cancels any turn, stops it, forgets its record and transcript, "
        "frees its capacity slot",
        tag="workers",
        success=Success(
            200,
            "deleted (action delete, changed true); afterwards the worker is 404 unknown_worker, so is a second DELETE",
            WorkerActionResult,
        ),
        errors=_RUNTIME_CALL,
    ),
    Operation(
        operation_id="send_input",
        method="POST",
        path=WORKER + "/input",
        summary="Send input; starts a turn, or waits (if_busy enqueue, or for a turn slot)",
        tag="workers",
        success=Success(
            202,
            "accepted: status busy (the turn runs) or queued (transcript_sequence null, queue_position set)",
            InputAccepted,
        ),
        errors=_RUNTIME_CALL | _CONFLICT,
        body=InputRequest,
        body_required=True,
    ),
    Operation(
        operation_id="read_transcript",
        method="GET",
        path=WORKER + "/transcript",
        summary="A bounded transcript page",
        tag="workers",
        success=Success(200, "entries from start; next_start is null at the end", TranscriptPage),
        errors=_RUNTIME_CALL,
        parameters=(START, LIMIT),
    ),
    Operation(
        operation_id="list_workers",
        method="GET",
        path=RUNTIME + "/workers",
        summary="A page of one runtime's workers",
        tag="workers",
        success=Success(200, "a page; next_cursor is null at the end", WorkerPage),
        errors=_RUNTIME_CALL,
        parameters=(LIMIT, LIST_CURSOR, *WORKER_FILTERS),
    ),
    Operation(
        operation_id="create_worker",
        method="POST",
        path=RUNTIME + "/workers",
        summary="Create a worker",
        tag="workers",
        success=Success(
            201,
            "the worker (a kind that falls back from an unknown profile adds a profile_fallback diagnostic; "
            "the embedded kind answers 422 unknown_profile)",
            Worker,
            headers={"Location": "the new worker's URL"},
        ),
        errors=_RUNTIME_CALL | _CONFLICT,
        body=CreateWorkerRequest,
    ),
    Operation(
        operation_id="read_worker_events",
        method="GET",
        path=WORKER + "/events",
        summary="A page of one worker's events (poll)",
        tag="events",
        success=Success(200, "the worker's events after cursor", EventPage),
        errors=_RUNTIME_CALL | _EXPIRED,
        parameters=(EVENT_CURSOR, LIMIT),
    ),
    Operation(
        operation_id="cancel_worker",
        method="POST",
        path=WORKER + "/cancel",
        summary="Cancel the in-flight turn, if any, and drop (or keep) the inputs queued behind it",
        tag="workers",
        success=Success(200, "changed is false when idle", WorkerActionResult),
        errors=_RUNTIME_CALL | _CONFLICT,
        parameters=(CANCEL_QUEUED,),
    ),
    Operation(
        operation_id="stop_worker",
        method="POST",
        path=WORKER + "/stop",
        summary="Stop the worker for good (idempotent)",
        tag="workers",
        success=Success(200, "changed is false when already stopped", WorkerActionResult),
        errors=_RUNTIME_CALL,
    ),
    Operation(
        operation_id="read_runtime_events",
        method="GET",
        path=RUNTIME + "/events",
        summary="A page of the runtime's events (poll)",
        tag="events",
        success=Success(200, "events after cursor", EventPage),
        errors=_RUNTIME_CALL | _EXPIRED,
        parameters=(EVENT_CURSOR, LIMIT),
    ),
    Operation(
        operation_id="stream_events",
        method="GET",
        path=RUNTIME + "/events/stream",
        summary="Live events (Server-Sent Events), resumable",
        tag="events",
        success=Success(
            200,
            "Server-Sent Events: one per runtime event; ': heartbeat' comments while idle; "
            "one 'cursor_expired' (resume point gone) or 'error' (runtime stopped) event, then close",
            schema=_STREAM_EVENT,
            media_type=EVENT_STREAM,
        ),
        errors=_RUNTIME_CALL,
        parameters=(EVENT_CURSOR, LAST_EVENT_ID),
    ),
    Operation(
        operation_id="list_profiles",
        method="GET",
        path=RUNTIME + "/profiles",
        summary="The profiles a create may name: name, engine, description, tools, which is the default; "
        "never how a profile is configured",
        tag="runtimes",
        success=Success(200, "every profile, the default marked", ProfileList),
        errors=_RUNTIME_CALL,
    ),
    Operation(
        operation_id="get_runtime",
        method="GET",
        path=RUNTIME,
        summary="One runtime: status, capabilities, limits, kind",
        tag="runtimes",
        success=Success(200, "the runtime", RuntimeSummary),
        errors=frozenset({400, 404}),
    ),
    Operation(
        operation_id="list_runtimes",
        method="GET",
        path="/api/runtimes",
        summary="Every runtime's summary",
        tag="runtimes",
        success=Success(200, "runtimes in configuration order", RuntimeList),
    ),
    Operation(
        operation_id="list_all_workers",
        method="GET",
        path="/api/workers",
        summary="Read-only overview of every runtime's workers",
        tag="workers",
        success=Success(200, "a failing runtime is a diagnostic", WorkerOverview),
        errors=frozenset({400}),
        parameters=(OVERVIEW_LIMIT, LIST_CURSOR, *WORKER_FILTERS),
    ),
    Operation(
        operation_id="list_plugins",
        method="GET",
        path="/api/plugins",
        summary="Discovered plugins: version, kinds, loaded/disabled/failed",
        tag="service",
        success=Success(200, "every discovered plugin", PluginList),
    ),
    Operation(
        operation_id="healthz",
        method="GET",
        path="/healthz",
        summary="Liveness; no auth, no detail, any Host",
        tag="service",
        success=Success(200, "the server is up", Health),
    ),
    Operation(
        operation_id="readyz",
        method="GET",
        path="/readyz",
        summary="Readiness: every runtime running or degraded; no auth, any Host",
        tag="service",
        success=Success(200, "every runtime that must be is running or degraded", Readiness),
        other_answers=(Success(503, "the runtimes that are not ready, with their status and codes", Readiness),),
    ),
    Operation(
        operation_id="metrics",
        method="GET",
        path=METRICS_PATH,
        summary="Prometheus metrics (text format); the token as for /api unless server.metrics_public",
        tag="service",
        success=Success(
            200,
            "every metric family, in the Prometheus text exposition format",
            schema={"type": "string"},
            media_type=CONTENT_TYPE_LATEST,
        ),
        errors=frozenset({401}),
    ),
    Operation(
        operation_id="openapi",
        method="GET",
        path="/openapi.json",
        summary="This document; no auth",
        tag="service",
        success=Success(200, "the OpenAPI 3.1 document", schema={"type": "object"}),
    ),
)
