"""/openapi.json matches the app: the same routes, and every answer the tour collects is documented."""

from __future__ import annotations

import jsonschema_rs
import pytest
from starlette.routing import Route

from runtime_registry.server.app import create_app
from runtime_registry.server.openapi import build_openapi

from .conftest import embedded_assembly
from .tour import take_tour, touring_client

DOCUMENT = build_openapi(version="test", bearer_auth=False)


def app_operations() -> set[tuple[str, str]]:
    app = create_app(assembly=embedded_assembly())
    return {
        (route.path, method.lower())
        for route in app.routes
        # The console's static files and the root's redirect to them are not API operations (decision 0140).
        if isinstance(route, Route) and route.path != "/" and not route.path.startswith("/console")
        for method in route.methods or ()
        if method != "HEAD"
    }


def documented_operations() -> set[tuple[str, str]]:
    return {(path, method) for path, item in DOCUMENT["paths"].items() for method in item}


def test_every_route_of_the_app_is_documented():
    assert app_operations() - documented_operations() == set()


def test_every_documented_operation_is_a_route_of_the_app():
    assert documented_operations() - app_operations() == set()


def test_every_reference_resolves():
    references = []

    def visit(node):
        if isinstance(node, dict):
            if "$ref" in node:
                references.append(node["$ref"])
            for value in node.values():
                visit(value)
        elif isinstance(node, list):
            for value in node:
                visit(value)

    visit(DOCUMENT)
    for reference in references:
        node = DOCUMENT
        for part in reference.removeprefix("#/").split("/"):
            node = node[part]


def test_operation_ids_are_unique():
    ids = [op["operationId"] for item in DOCUMENT["paths"].values() for op in item.values()]
    assert len(ids) == len(set(ids))


@pytest.mark.parametrize(("path", "method"), sorted(documented_operations()))
def test_every_api_operation_documents_401_and_500(path, method):
    responses = DOCUMENT["paths"][path][method]["responses"]
    expected = {"401", "500"} if path.startswith("/api/") else {"500"}
    assert expected <= set(responses)


def _response_schema(template: str, method: str, status: int) -> tuple[str, dict | None]:
    responses = DOCUMENT["paths"][template][method.lower()]["responses"]
    assert str(status) in responses, f"{method} {template} answered {status}, which is not documented"
    response = responses[str(status)]
    if "$ref" in response:
        response = DOCUMENT["components"]["responses"][response["$ref"].rsplit("/", 1)[1]]
    ((media_type, content),) = response["content"].items()
    return media_type, content.get("schema")


async def test_every_answer_of_the_tour_is_documented_and_matches_its_schema(tmp_path):
    async with touring_client(tmp_path) as client:
        visits = await take_tour(client)
    checked = 0
    for visit in visits:
        if not visit.template:
            continue
        media_type, schema = _response_schema(visit.template, visit.method, visit.response.status_code)
        assert visit.response.headers["content-type"].startswith(media_type.split(";")[0])
        if media_type == "application/json":
            validator = jsonschema_rs.validator_for({**schema, "components": DOCUMENT["components"]})
            errors = [error.message for error in validator.iter_errors(visit.response.json())]
            assert errors == [], (visit.method, visit.response.request.url, errors)
            checked += 1
    assert checked > 50


async def test_the_201_location_header_is_documented_and_sent(tmp_path):
    async with touring_client(tmp_path) as client:
        visits = await take_tour(client)
    created = [v for v in visits if v.response.status_code == 201]
    assert created and all(v.response.headers["location"] for v in created)
    assert "Location" in DOCUMENT["paths"]["/api/runtimes/{runtime_id}/workers"]["post"]["responses"]["201"]["headers"]
