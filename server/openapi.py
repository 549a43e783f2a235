"""The OpenAPI 3.1 document of the HTTP API, written by hand as data.

Every route of :mod:`runtime_registry.server.endpoints` is here with every status it can
answer (a test checks both directions), the component schemas mirror the
models of :mod:`registry_core.models` as the converter renders them (every
field present, ``null`` where optional), and request schemas carry the same
rules the converter enforces, so a body valid here is structured without a 422
— except for limits that belong to one runtime (``max_input_chars``, which
capabilities it can grant), which are documented as 422s.
"""

from __future__ import annotations

import json
from typing import Any

from runtime_registry.server.request_parsing import INTEGER_PARAMETER_MAX

__all__ = ["build_openapi", "openapi_bytes", "ERROR_STATUSES"]

JSON = "application/json"
ID_PATTERN = "^[A-Za-z0-9_:\\-]{1,120}$"
#: No control characters (Unicode category Cc), as the converter's label rule.
SINGLE_LINE_PATTERN = "^[^\\u0000-\\u001f\\u007f-\\u009f]*$"


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    if "$ref" in schema:
        return {"anyOf": [schema, {"type": "null"}]}
    return {**schema, "type": [schema["type"], "null"]}


def _object(properties: dict[str, Any], *, required: list[str] | None = None, closed: bool = False, description: str = "") -> dict[str, Any]:
    schema: dict[str, Any] = {
        "type": "object",
        "properties": properties,
        "required": list(properties) if required is None else required,
    }
    if closed:
        schema["additionalProperties"] = False
    if description:
        schema["description"] = description
    return schema


def _array(items: dict[str, Any]) -> dict[str, Any]:
    return {"type": "array", "items": items}


STRING = {"type": "string"}
INTEGER = {"type": "integer"}
BOOLEAN = {"type": "boolean"}
TIMESTAMP = {"type": "string", "format": "date-time", "description": "ISO 8601, UTC, millisecond precision"}
DIAGNOSTICS = _array(_ref("Diagnostic"))


def _schemas() -> dict[str, Any]:
    capability_names = [
        "list_workers", "get_worker", "create_worker", "send_input", "cancel_worker",
        "stop_worker", "read_transcript", "read_events", "stream_events", "delete_worker",
    ]
    long_text = {"type": "string", "minLength": 1, "maxLength": 4000}
    short_text = {"type": "string", "minLength": 1, "maxLength": 200, "pattern": SINGLE_LINE_PATTERN}
    return {
        "ErrorEnvelope": _object(
            {
                "error": _object(
                    {
                        "code": {"type": "string", "description": "stable machine-readable code (see docs/api.md)"},
                        "message": {"type": "string", "description": "one line for people"},
                        "runtime_id": STRING,
                        "worker_id": STRING,
                        "request_id": {"type": "string", "description": "only on 500 internal_error"},
                        "details": _array(_object({"path": STRING, "message": STRING})),
                    },
                    required=["code", "message"],
                )
            },
            description="Every error answer: {\"error\": {code, message, runtime_id?, worker_id?, details?}}",
        ),
        "Health": _object({"status": {"type": "string", "const": "ok"}}),
        "Diagnostic": _object(
            {"code": STRING, "severity": {"type": "string", "enum": ["info", "warning", "error"]}, "message": STRING}
        ),
        "PluginRef": _object({"name": STRING, "version": STRING}),
        "Capabilities": _object({name: BOOLEAN for name in capability_names}),
        "RuntimeLimits": _object(
            {
                "worker_page_max": INTEGER,
                "transcript_page_max": INTEGER,
                "event_page_max": INTEGER,
                "max_workers": _nullable(INTEGER),
                "max_transcript_entries": _nullable(INTEGER),
                "max_input_chars": _nullable(INTEGER),
                "event_retention": _nullable(INTEGER),
            }
        ),
        "RuntimeSummary": _object(
            {
                "runtime_id": STRING,
                "display_name": STRING,
                "kind": STRING,
                "plugin": _ref("PluginRef"),
                "status": {"type": "string", "enum": ["running", "degraded", "unavailable", "stopped"]},
                "capabilities": _ref("Capabilities"),
                "limits": _ref("RuntimeLimits"),
                "diagnostics": DIAGNOSTICS,
            }
        ),
        "RuntimeList": _object({"items": _array(_ref("RuntimeSummary")), "diagnostics": DIAGNOSTICS}),
        "Intent": _object(
            {
                "kind": {"type": "string", "enum": ["assistant", "task", "role"]},
                "purpose": _nullable(long_text),
                "objective": _nullable(long_text),
                "role": _nullable(short_text),
            },
            required=["kind"],
            closed=True,
        ),
        "IntentOut": _object(
            {
                "kind": {"type": "string", "enum": ["assistant", "task", "role"]},
                "purpose": _nullable(STRING),
                "objective": _nullable(STRING),
                "role": _nullable(STRING),
            }
        ),
        "Worker": _object(
            {
                "runtime_id": STRING,
                "worker_id": STRING,
                "kind": STRING,
                "label": _nullable(STRING),
                "status": {"type": "string", "description": "kind-specific; embedded: idle, busy, stopped"},
                "profile": _nullable(STRING),
                "intent": _nullable(_ref("IntentOut")),
                "created_at": _nullable(TIMESTAMP),
                "transcript_length": INTEGER,
                "diagnostics": DIAGNOSTICS,
            }
        ),
        "WorkerPage": _object(
            {"runtime_id": STRING, "items": _array(_ref("Worker")), "next_cursor": _nullable(STRING), "diagnostics": DIAGNOSTICS}
        ),
        "WorkerOverview": _object(
            {"items": _array(_ref("Worker")), "next_cursor": _nullable(STRING), "diagnostics": DIAGNOSTICS}
        ),
        "CreateWorkerRequest": _object(
            {
                "intent": _nullable(_ref("Intent")),
                "profile": _nullable({"type": "string", "pattern": ID_PATTERN}),
                "label": _nullable(short_text),
                "capabilities": _array({"type": "string", "pattern": "^[A-Za-z0-9_:\\-]{1,64}$"}),
            },
            required=[],
            closed=True,
            description="Every field is optional; an empty body is {}.",
        ),
        "InputRequest": _object(
            {
                "content": {
                    "type": "string",
                    "pattern": "\\S",
                    "description": "not only whitespace; at most the runtime's limits.max_input_chars",
                },
                "kind": {"type": "string", "enum": ["user", "system"], "default": "user"},
            },
            required=["content"],
            closed=True,
        ),
        "InputAccepted": _object(
            {"runtime_id": STRING, "worker_id": STRING, "transcript_sequence": INTEGER, "event_id": INTEGER, "status": STRING}
        ),
        "WorkerActionResult": _object(
            {
                "runtime_id": STRING,
                "worker_id": STRING,
                "action": {"type": "string", "enum": ["cancel", "stop", "delete"]},
                "changed": BOOLEAN,
                "status": STRING,
            }
        ),
        "TranscriptEntry": _object(
            {"sequence": INTEGER, "role": STRING, "content": STRING, "event_id": _nullable(INTEGER), "created_at": TIMESTAMP}
        ),
        "TranscriptPage": _object(
            {
                "runtime_id": STRING,
                "worker_id": STRING,
                "items": _array(_ref("TranscriptEntry")),
                "start": INTEGER,
                "limit": INTEGER,
                "total": INTEGER,
                "next_start": _nullable(INTEGER),
            }
        ),
        "Event": _object(
            {"id": INTEGER, "type": STRING, "worker_id": _nullable(STRING), "data": {"type": "object"}, "created_at": TIMESTAMP}
        ),
        "EventPage": _object(
            {"runtime_id": STRING, "events": _array(_ref("Event")), "next_cursor": INTEGER, "has_more": BOOLEAN}
        ),
        "PluginInfo": _object(
            {
                "name": STRING,
                "version": STRING,
                "kinds": _array(STRING),
                "state": {"type": "string", "enum": ["loaded", "disabled", "failed"]},
                "reason": _nullable(STRING),
            }
        ),
        "PluginList": _object({"items": _array(_ref("PluginInfo"))}),
    }


#: What each error status means, for the response descriptions.
ERROR_STATUSES: dict[str, str] = {
    "400": "malformed_request, invalid_identifier or limit_too_large",
    "401": "unauthorized: a token is configured and the request lacks it",
    "403": "forbidden_origin: a browser page of another origin sent a state-changing request",
    "404": "unknown_runtime or unknown_worker",
    "405": "unsupported_operation: the runtime kind does not do this",
    "409": "worker_busy, worker_stopped or capacity_exceeded",
    "410": "cursor_expired: the cursor is older than the retained events",
    "413": "payload_too_large",
    "415": "unsupported_media_type: a body that is not application/json",
    "421": "misdirected_request: the Host header names a host this server does not answer for (DNS rebinding defence)",
    "422": "invalid_request: details name each field",
    "500": "internal_error: a generic message and a request id",
    "503": "runtime_unavailable",
    "504": "runtime_timeout",
}


def _error(status: str) -> dict[str, Any]:
    response: dict[str, Any] = {"$ref": f"#/components/responses/Error{status}"}
    return response


def _component_responses() -> dict[str, Any]:
    responses: dict[str, Any] = {}
    for status, description in ERROR_STATUSES.items():
        response: dict[str, Any] = {
            "description": description,
            "content": {JSON: {"schema": _ref("ErrorEnvelope")}},
        }
        if status == "401":
            response["headers"] = {"WWW-Authenticate": {"required": True, "schema": {"type": "string"}, "description": "Bearer"}}
        responses[f"Error{status}"] = response
    return responses


def _ok(schema: str, description: str, status: str = "200") -> dict[str, Any]:
    return {status: {"description": description, "content": {JSON: {"schema": _ref(schema)}}}}


def _path_parameter(name: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "path",
        "required": True,
        "schema": {"type": "string", "pattern": ID_PATTERN},
        "description": "1-120 ASCII letters, digits, '-', '_' or ':'; anything else is 400 invalid_identifier",
    }


def _query_integer(name: str, minimum: int, description: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "schema": {"type": "integer", "minimum": minimum, "maximum": INTEGER_PARAMETER_MAX},
        "description": description + f"; not an integer of at least {minimum} is 400 malformed_request",
    }


def _query_cursor(description: str) -> dict[str, Any]:
    return {
        "name": "cursor",
        "in": "query",
        "required": False,
        "schema": {"type": "string", "minLength": 1, "maxLength": 512},
        "description": description,
    }


LIMIT = _query_integer("limit", 1, "page size (default 50, at most the runtime's page maximum: else 400 limit_too_large)")
OVERVIEW_LIMIT = _query_integer("limit", 1, "page size (default 50)")
OVERVIEW_LIMIT["schema"]["maximum"] = 500
EVENT_CURSOR = _query_integer(
    "cursor", 0,
    "return events after this event id (omitted: from the oldest retained; 0: from the first event); "
    "event ids are opaque and never reused across restarts, so one from before a restart is 410 cursor_expired",
)

# Statuses every operation of a kind can answer.
_API = ["401", "421", "500"]
_RUNTIME = _API + ["400", "404", "405", "503", "504"]
_BODY = ["413", "415", "422"]
#: What every state-changing (POST, DELETE) operation can answer besides: a cross-site request.
_STATE_CHANGING = ["403"]


def _operation(
    operation_id: str, summary: str, success: dict[str, Any], errors: list[str], *,
    parameters: list[Any] = (), body: str | None = None, body_required: bool = False, tag: str = "workers",
) -> dict[str, Any]:
    responses = dict(success)
    for status in sorted(set(errors)):
        responses[status] = _error(status)
    operation: dict[str, Any] = {
        "operationId": operation_id,
        "summary": summary,
        "tags": [tag],
        "responses": responses,
    }
    if parameters:
        operation["parameters"] = list(parameters)
    if body is not None:
        operation["requestBody"] = {"required": body_required, "content": {JSON: {"schema": _ref(body)}}}
    return operation


def _paths() -> dict[str, Any]:
    runtime = "/api/runtimes/{runtime_id}"
    worker = runtime + "/workers/{worker_id}"
    rid, wid = _path_parameter("runtime_id"), _path_parameter("worker_id")
    location = {"Location": {"required": True, "schema": {"type": "string"}, "description": "the new worker's URL"}}
    created = _ok("Worker", "the worker, with a profile_fallback diagnostic if the profile was unknown", "201")
    created["201"]["headers"] = location
    # Before OpenAPI 3.2 (itemSchema), an event stream's schema describes one
    # event as tools parse it: {event, id?, data} with data a JSON text.
    def json_text(schema: str) -> dict[str, Any]:
        return {"type": "string", "contentMediaType": JSON, "contentSchema": _ref(schema)}

    closing_events = ["cursor_expired", "error"]
    stream_event = {
        "oneOf": [
            {
                "type": "object",
                "description": "a runtime event: id = event id, event = its type, data = the Event JSON",
                "properties": {
                    "id": {"type": "string", "pattern": "^[0-9]+$"},
                    "event": {"type": "string", "not": {"enum": closing_events}},
                    "data": json_text("Event"),
                },
                "required": ["id", "event", "data"],
            },
            {
                "type": "object",
                "description": "the last event before the stream closes: data = an ErrorEnvelope",
                "properties": {"event": {"type": "string", "enum": closing_events}, "data": json_text("ErrorEnvelope")},
                "required": ["event", "data"],
            },
        ]
    }
    stream_success = {
        "200": {
            "description": "Server-Sent Events: one per runtime event; ': heartbeat' comments while idle; "
            "one 'cursor_expired' (resume point gone) or 'error' (runtime stopped) event, then close",
            "content": {"text/event-stream": {"schema": stream_event}},
        }
    }
    last_event_id = {
        "name": "Last-Event-ID",
        "in": "header",
        "required": False,
        # A string, not an integer: an empty value is "no id" (what the SSE
        # spec's empty last event id means), taken as if the header were absent.
        "schema": {"type": "string", "pattern": f"^[0-9]{{0,{len(str(INTEGER_PARAMETER_MAX))}}}$"},
        "description": "resume after this event id (wins over ?cursor=); empty: no id, as if absent "
        "(?cursor= then decides); anything but decimal digits is 400 malformed_request",
    }
    return {
        "/healthz": {
            "get": {
                "operationId": "healthz",
                "summary": "Liveness; no auth, no detail, any Host",
                "tags": ["service"],
                "responses": {**_ok("Health", "the server is up"), "500": _error("500")},
            }
        },
        "/openapi.json": {
            "get": {
                "operationId": "openapi",
                "summary": "This document; no auth",
                "tags": ["service"],
                "responses": {"200": {"description": "the OpenAPI 3.1 document", "content": {JSON: {"schema": {"type": "object"}}}}, "421": _error("421"), "500": _error("500")},
            }
        },
        "/api/plugins": {
            "get": _operation("list_plugins", "Discovered plugins: version, kinds, loaded/disabled/failed", _ok("PluginList", "every discovered plugin"), _API, tag="service")
        },
        "/api/runtimes": {
            "get": _operation("list_runtimes", "Every runtime's summary", _ok("RuntimeList", "runtimes in configuration order"), _API, tag="runtimes")
        },
        runtime: {
            "get": _operation("get_runtime", "One runtime: status, capabilities, limits, kind", _ok("RuntimeSummary", "the runtime"), _API + ["400", "404"], parameters=[rid], tag="runtimes")
        },
        runtime + "/workers": {
            "get": _operation(
                "list_workers", "A page of one runtime's workers", _ok("WorkerPage", "a page; next_cursor is null at the end"), _RUNTIME,
                parameters=[rid, LIMIT, _query_cursor("the next_cursor of the previous page; one this server did not issue is 400 malformed_request")],
            ),
            "post": _operation("create_worker", "Create a worker", created, _RUNTIME + _STATE_CHANGING + _BODY + ["409"], parameters=[rid], body="CreateWorkerRequest"),
        },
        worker: {
            "get": _operation("get_worker", "One worker", _ok("Worker", "the worker"), _RUNTIME, parameters=[rid, wid]),
            "delete": _operation(
                "delete_worker",
                "Remove the worker for good: cancels any turn, stops it, forgets its record and transcript, frees its capacity slot",
                _ok("WorkerActionResult", "deleted (action delete, changed true); afterwards the worker is 404 unknown_worker, so is a second DELETE"),
                _RUNTIME + _STATE_CHANGING + ["413"], parameters=[rid, wid],
            ),
        },
        worker + "/input": {
            "post": _operation(
                "send_input", "Send input; starts a turn", _ok("InputAccepted", "accepted; the turn runs", "202"),
                _RUNTIME + _STATE_CHANGING + _BODY + ["409"], parameters=[rid, wid], body="InputRequest", body_required=True,
            ),
        },
        worker + "/cancel": {
            "post": _operation("cancel_worker", "Cancel the in-flight turn, if any", _ok("WorkerActionResult", "changed is false when idle"), _RUNTIME + _STATE_CHANGING + ["409", "413"], parameters=[rid, wid]),
        },
        worker + "/stop": {
            "post": _operation("stop_worker", "Stop the worker for good (idempotent)", _ok("WorkerActionResult", "changed is false when already stopped"), _RUNTIME + _STATE_CHANGING + ["413"], parameters=[rid, wid]),
        },
        worker + "/transcript": {
            "get": _operation(
                "read_transcript", "A bounded transcript page", _ok("TranscriptPage", "entries from start; next_start is null at the end"), _RUNTIME,
                parameters=[rid, wid, _query_integer("start", 1, "the first sequence to return (default 1)"), LIMIT],
            ),
        },
        runtime + "/events": {
            "get": _operation("read_runtime_events", "A page of the runtime's events (poll)", _ok("EventPage", "events after cursor"), _RUNTIME + ["410"], parameters=[rid, EVENT_CURSOR, LIMIT], tag="events"),
        },
        worker + "/events": {
            "get": _operation("read_worker_events", "A page of one worker's events (poll)", _ok("EventPage", "the worker's events after cursor"), _RUNTIME + ["410"], parameters=[rid, wid, EVENT_CURSOR, LIMIT], tag="events"),
        },
        runtime + "/events/stream": {
            "get": _operation("stream_events", "Live events (Server-Sent Events), resumable", stream_success, _RUNTIME, parameters=[rid, EVENT_CURSOR, last_event_id], tag="events"),
        },
        "/api/workers": {
            "get": _operation(
                "list_all_workers", "Read-only overview of every runtime's workers", _ok("WorkerOverview", "a failing runtime is a diagnostic"),
                _API + ["400"], parameters=[OVERVIEW_LIMIT, _query_cursor("the next_cursor of the previous page")],
                tag="workers",
            )
        },
    }


def build_openapi(*, version: str, bearer_auth: bool) -> dict[str, Any]:
    """The document. ``bearer_auth`` marks every ``/api`` operation as needing the token."""
    document: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {
            "title": "runtime-registry",
            "version": version,
            "description": "A registry of runtimes for long-lived agent workers. Every worker is addressed by runtime_id + worker_id.",
        },
        "paths": _paths(),
        "components": {
            "schemas": _schemas(),
            "responses": _component_responses(),
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }
    if bearer_auth:
        for path, item in document["paths"].items():
            if path.startswith("/api/"):
                for operation in item.values():
                    operation["security"] = [{"bearer": []}]
    return document


def openapi_bytes(*, version: str, bearer_auth: bool) -> bytes:
    """The document as UTF-8 JSON, rendered once per app."""
    return json.dumps(build_openapi(version=version, bearer_auth=bearer_auth), separators=(",", ":")).encode("utf-8")
