"""The contract table is the one statement of the routes: the app, the OpenAPI document and docs/api.md agree with it."""

from __future__ import annotations

import enum
import re
from pathlib import Path
from typing import Annotated, Literal

import attrs
import pytest
from annotated_types import Interval, Len, MinLen
from starlette.routing import Route

from registry_core.constraints import Pattern
from registry_core.converter import structure
from registry_core.errors import InvalidRequest
from registry_core.models import CreateWorkerRequest, InputRequest
from runtime_registry.server.app import create_app
from runtime_registry.server.contract import OPERATIONS
from runtime_registry.server.endpoints import build_routes
from runtime_registry.server.openapi import build_openapi
from runtime_registry.server.schemas import SchemaSet

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
    # Besides the table: the console's files only (static, outside /api and the OpenAPI document).
    console = {path: routes.pop(path) for path in list(routes) if path == "/" or path.startswith("/console")}
    assert console == {"/": {"GET"}, "/console": {"GET"}, "/console/": {"GET"}, "/console/{name}": {"GET"}}
    assert routes == table


def test_operation_ids_are_unique_and_every_operation_has_a_handler():
    assert len({op.operation_id for op in OPERATIONS}) == len(OPERATIONS)
    assembly = embedded_assembly()
    service = {"readyz": object(), "metrics": object()}  # built by the app (runtime_registry.server.observe)
    with pytest.raises(LookupError, match="metrics"):
        build_routes(assembly.registry, assembly.plugins, openapi_document=b"{}", heartbeat_seconds=1.0)
    routes = build_routes(
        assembly.registry, assembly.plugins, openapi_document=b"{}", heartbeat_seconds=1.0, service_handlers=service
    )
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


class Colour(enum.Enum):
    RED = "red"
    BLUE = "blue"


@attrs.frozen
class Inner:
    name: Annotated[str, Len(2, 5)]


@attrs.frozen
class Sample:
    count: Annotated[int, Interval(ge=1, le=5)] | None
    tags: Annotated[tuple[Annotated[str, Pattern("^[a-z]+$", "lowercase")], ...], MinLen(1)]
    inner: Inner | None = None
    colour: Colour = Colour.BLUE
    mode: Literal["a", "b"] = "a"


def test_a_request_schema_shows_every_constraint_default_and_nullability_of_the_model():
    schemas = SchemaSet([Sample])
    assert schemas.reference(Sample, request=True) == {"$ref": "#/components/schemas/Sample"}
    assert schemas.components["Sample"] == {
        "type": "object",
        "properties": {
            "count": {"type": ["integer", "null"], "minimum": 1, "maximum": 5},
            "tags": {"type": "array", "items": {"type": "string", "pattern": "^[a-z]+$"}, "minItems": 1},
            "inner": {"anyOf": [{"$ref": "#/components/schemas/Inner"}, {"type": "null"}]},
            "colour": {"type": "string", "enum": ["red", "blue"], "default": "blue"},
            "mode": {"type": "string", "enum": ["a", "b"]},
        },
        "required": ["count", "tags"],
        "additionalProperties": False,
    }
    assert schemas.components["Inner"]["properties"]["name"] == {"type": "string", "minLength": 2, "maxLength": 5}


def test_a_response_schema_of_a_request_model_is_its_own_component_without_constraints():
    schemas = SchemaSet([Sample])
    assert schemas.reference(Inner) == {"$ref": "#/components/schemas/InnerOut"}
    assert schemas.components["InnerOut"] == {
        "type": "object",
        "properties": {"name": {"type": "string"}},
        "required": ["name"],
    }


def test_a_type_without_a_json_schema_fails_when_the_document_is_built():
    @attrs.frozen
    class Odd:
        value: set[int]

    with pytest.raises(TypeError):
        SchemaSet([]).reference(Odd)
