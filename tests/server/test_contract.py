"""The contract table is the one statement of the routes: the app, the OpenAPI document and docs/api.md agree with it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from starlette.routing import Route

from registry_core.converter import structure
from registry_core.errors import InvalidRequest
from registry_core.models import CreateWorkerRequest, InputRequest
from runtime_registry.server.app import create_app
from runtime_registry.server.contract import OPERATIONS
from runtime_registry.server.endpoints import build_routes
from runtime_registry.server.openapi import build_openapi

from .conftest import embedded_assembly

API_DOC = Path(__file__).resolve().parents[2] / "docs" / "api.md"
DOCUMENT = build_openapi(version="test", bearer_auth=False)


def documented_routes() -> dict[tuple[str, str], tuple[int, set[int]]]:
    """``(verb, path) -> (success status, error statuses)`` of the Routes table of docs/api.md."""
    text = API_DOC.read_text(encoding="utf-8")
    table = text.split("## Routes", 1)[1].split("\n\n", 2)[1]
    routes = {}
    for line in table.splitlines()[2:]:
        verb, path, success, errors = (cell.strip() for cell in line.strip("|").split("|"))
        path = path.strip("`").split("?", 1)[0]
        routes[(verb, path)] = (int(success.split()[0]), {int(status) for status in re.findall(r"\b\d{3}\b", errors)})
    return routes


def test_every_operation_is_a_row_of_the_routes_table_of_the_api_doc_with_its_statuses():
    # docs/api.md states once, under the table, what any route may also answer:
    # 500 everywhere, 421 everywhere but /healthz, 413 anywhere, 403 on any POST.
    implied = {500, 421}
    expected = {}
    for op in OPERATIONS:
        statuses = set(op.error_statuses()) - implied
        if op.body is None:
            statuses.discard(413)
        if op.method == "POST":
            statuses.discard(403)
        expected[(op.method, op.path)] = (op.success.status, statuses)
    assert documented_routes() == expected


def test_the_app_has_one_route_per_path_of_the_table_with_exactly_its_methods():
    app = create_app(assembly=embedded_assembly())
    routes = {route.path: route.methods - {"HEAD"} for route in app.routes if isinstance(route, Route)}
    table: dict[str, set[str]] = {}
    for op in OPERATIONS:
        table.setdefault(op.path, set()).add(op.method)
    assert routes == table


def test_operation_ids_are_unique_and_every_operation_has_a_handler():
    assert len({op.operation_id for op in OPERATIONS}) == len(OPERATIONS)
    assembly = embedded_assembly()
    routes = build_routes(assembly.registry, assembly.plugins, openapi_document=b"{}", heartbeat_seconds=1.0)
    assert len(routes) == len({op.path for op in OPERATIONS})


def test_the_request_schemas_carry_the_rules_the_converter_enforces():
    schemas = DOCUMENT["components"]["schemas"]
    label = schemas["CreateWorkerRequest"]["properties"]["label"]
    assert (label["minLength"], label["maxLength"]) == (1, 200)
    assert (
        schemas["CreateWorkerRequest"]["properties"]["capabilities"]["items"]["pattern"] == "^[A-Za-z0-9_:\\-]{1,64}$"
    )
    assert schemas["Intent"]["additionalProperties"] is False
    assert "minLength" not in schemas["IntentOut"]["properties"]["purpose"]  # responses show what runtimes hold
    assert schemas["InputRequest"]["properties"]["kind"]["default"] == "user"
    assert schemas["InputRequest"]["required"] == ["content"]


@pytest.mark.parametrize(
    ("body", "model", "field"),
    [
        ({"label": "x" * 201}, CreateWorkerRequest, "label"),
        ({"label": "a\u0085b"}, CreateWorkerRequest, "label"),  # a C1 control character: the schema's range too
        ({"profile": "a b"}, CreateWorkerRequest, "profile"),
        ({"profile": "abc\n"}, CreateWorkerRequest, "profile"),  # "$" is the end of the text, as in JSON Schema
        ({"intent": {"kind": "task", "role": ""}}, CreateWorkerRequest, "intent.role"),
        ({"capabilities": ["x" * 65]}, CreateWorkerRequest, "capabilities[0]"),
        ({"content": " \t\n"}, InputRequest, "content"),
    ],
)
def test_what_the_schema_refuses_the_converter_refuses_naming_the_field(body, model, field):
    with pytest.raises(InvalidRequest) as caught:
        structure(body, model)
    assert [d["path"] for d in caught.value.details] == [field]
