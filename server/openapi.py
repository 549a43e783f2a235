"""The OpenAPI 3.1 document, built from the contract table and the models.

Paths come from :data:`runtime_registry.server.contract.OPERATIONS` (the same
rows the routes are built from), component schemas from the attrs models
(:mod:`runtime_registry.server.schemas`), error descriptions from the one
error-to-status table (:data:`runtime_registry.server.errors.STATUS_BY_CODE`).
Written by hand here: only the error envelope, which no model describes.
A test checks both directions (every route documented, every documented
operation a route) and validates every answer of a tour of the API against
this document; schemathesis fuzzes the app from it.
"""

from __future__ import annotations

import json
from collections import defaultdict
from typing import Any

from runtime_registry.server.contract import JSON, METRICS_PATH, OPERATIONS, Operation
from runtime_registry.server.errors import STATUS_BY_CODE
from runtime_registry.server.schemas import SchemaSet

__all__ = ["build_openapi", "openapi_bytes"]

_ERROR_ENVELOPE = {
    "type": "object",
    "properties": {
        "error": {
            "type": "object",
            "properties": {
                "code": {"type": "string", "description": "stable machine-readable code (see docs/api.md)"},
                "message": {"type": "string", "description": "one line for people"},
                "runtime_id": {"type": "string"},
                "worker_id": {"type": "string"},
                "request_id": {"type": "string", "description": "only on 500 internal_error"},
                "details": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {"path": {"type": "string"}, "message": {"type": "string"}},
                        "required": ["path", "message"],
                    },
                },
            },
            "required": ["code", "message"],
        }
    },
    "required": ["error"],
    "description": 'Every error answer: {"error": {code, message, runtime_id?, worker_id?, details?}}',
}


def _error_responses() -> dict[str, Any]:
    codes: dict[int, list[str]] = defaultdict(list)
    for code, status in STATUS_BY_CODE.items():
        codes[status].append(code)
    responses: dict[str, Any] = {}
    for status in sorted(codes):
        response: dict[str, Any] = {
            "description": ", ".join(codes[status]),
            "content": {JSON: {"schema": {"$ref": "#/components/schemas/ErrorEnvelope"}}},
        }
        if status == 401:
            response["headers"] = {
                "WWW-Authenticate": {"required": True, "schema": {"type": "string"}, "description": "Bearer"}
            }
        responses[f"Error{status}"] = response
    return responses


def _operation(op: Operation, schemas: SchemaSet, *, bearer_auth: bool) -> dict[str, Any]:
    success = op.success
    body_schema = schemas.reference(success.model) if success.model is not None else dict(success.schema or {})
    answer: dict[str, Any] = {
        "description": success.description,
        "content": {success.media_type: {"schema": body_schema}},
    }
    if success.headers:
        answer["headers"] = {
            name: {"required": True, "schema": {"type": "string"}, "description": description}
            for name, description in success.headers.items()
        }
    responses: dict[str, Any] = {str(success.status): answer}
    for status in op.error_statuses():
        responses[str(status)] = {"$ref": f"#/components/responses/Error{status}"}
    for other in op.other_answers:
        schema = schemas.reference(other.model) if other.model is not None else dict(other.schema or {})
        responses[str(other.status)] = {
            "description": other.description,
            "content": {other.media_type: {"schema": schema}},
        }
    operation: dict[str, Any] = {
        "operationId": op.operation_id,
        "summary": op.summary,
        "tags": [op.tag],
        "responses": responses,
    }
    parameters = [p.openapi() for p in op.path_ids] + [p.openapi() for p in op.parameters]
    if parameters:
        operation["parameters"] = parameters
    if op.body is not None:
        operation["requestBody"] = {
            "required": op.body_required,
            "content": {JSON: {"schema": schemas.reference(op.body, request=True)}},
        }
    if bearer_auth and (op.path.startswith("/api/") or op.path == METRICS_PATH):
        operation["security"] = [{"bearer": []}]
    return operation


def build_openapi(*, version: str, bearer_auth: bool) -> dict[str, Any]:
    """The document. ``bearer_auth`` marks every ``/api`` operation as needing the token."""
    schemas = SchemaSet(op.body for op in OPERATIONS if op.body is not None)
    schemas.add("ErrorEnvelope", _ERROR_ENVELOPE)
    paths: dict[str, dict[str, Any]] = {}
    for op in OPERATIONS:
        paths.setdefault(op.path, {})[op.method.lower()] = _operation(op, schemas, bearer_auth=bearer_auth)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "runtime-registry",
            "version": version,
            "description": "A registry of runtimes for long-lived agent workers. Every worker is addressed by runtime_id + worker_id.",
        },
        "paths": paths,
        "components": {
            "schemas": schemas.components,
            "responses": _error_responses(),
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }


def openapi_bytes(*, version: str, bearer_auth: bool) -> bytes:
    """The document as UTF-8 JSON, rendered once per app."""
    return json.dumps(build_openapi(version=version, bearer_auth=bearer_auth), separators=(",", ":")).encode("utf-8")
