"""The optional bearer token: every /api route needs it when configured; /healthz and /openapi.json never do."""

from __future__ import annotations

import attrs
import httpx
import pytest

from runtime_registry.host import RegistryConfig, ServerSettings
from runtime_registry.server.app import create_app

from .conftest import RUNTIME, embedded_assembly, error_of, serving

TOKEN = "correct horse battery staple"
PROTECTED = [
    "/api/plugins",
    "/api/runtimes",
    f"/api/runtimes/{RUNTIME}",
    f"/api/runtimes/{RUNTIME}/workers",
    "/api/workers",
    "/api/no-such-route",
]


def with_token(token: str | None):
    assembly = embedded_assembly()
    config = attrs.evolve(assembly.config, server=attrs.evolve(assembly.config.server, token=token))
    return create_app(assembly=attrs.evolve(assembly, config=config))


@pytest.fixture
async def guarded():
    async with serving(with_token(TOKEN)) as client:
        yield client


@pytest.mark.parametrize("path", PROTECTED)
async def test_without_the_token_every_api_route_is_401(guarded, path):
    response = await guarded.get(path)
    assert error_of(response) == (401, "unauthorized")
    assert response.headers["www-authenticate"] == 'Bearer realm="runtime-registry"'


async def test_a_post_without_the_token_is_401_before_its_body_is_looked_at(guarded):
    response = await guarded.post(
        f"/api/runtimes/{RUNTIME}/workers", content=b"not json", headers={"Content-Type": "application/json"}
    )
    assert error_of(response) == (401, "unauthorized")


async def test_a_wrong_token_is_401_invalid_token(guarded):
    response = await guarded.get("/api/runtimes", headers={"Authorization": "Bearer wrong"})
    assert error_of(response) == (401, "unauthorized")
    assert 'error="invalid_token"' in response.headers["www-authenticate"]


async def test_another_scheme_is_401(guarded):
    response = await guarded.get("/api/runtimes", headers={"Authorization": f"Basic {TOKEN}"})
    assert response.status_code == 401


async def test_the_token_opens_every_api_route(guarded):
    response = await guarded.get("/api/runtimes", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200


async def test_the_scheme_is_case_insensitive(guarded):
    response = await guarded.get("/api/runtimes", headers={"Authorization": f"bearer {TOKEN}"})
    assert response.status_code == 200


@pytest.mark.parametrize("path", ["/healthz", "/openapi.json"])
async def test_health_and_the_openapi_document_stay_open(guarded, path):
    assert (await guarded.get(path)).status_code == 200


async def test_the_openapi_document_marks_api_operations_as_needing_the_token(guarded):
    document = (await guarded.get("/openapi.json")).json()
    assert document["paths"]["/api/runtimes"]["get"]["security"] == [{"bearer": []}]
    assert "security" not in document["paths"]["/healthz"]["get"]


async def test_without_a_configured_token_no_route_needs_one():
    async with serving(with_token(None)) as client:
        assert (await client.get("/api/runtimes")).status_code == 200


async def test_an_empty_configured_token_means_no_token():
    async with serving(with_token("")) as client:
        assert (await client.get("/api/runtimes")).status_code == 200


async def test_the_default_app_takes_the_token_from_the_environment(monkeypatch):
    monkeypatch.setenv("RUNTIME_REGISTRY_TOKEN", TOKEN)
    async with serving(create_app()) as client:
        assert (await client.get("/api/runtimes")).status_code == 401
        assert (await client.get("/api/runtimes", headers={"Authorization": f"Bearer {TOKEN}"})).status_code == 200


async def test_a_config_given_explicitly_is_used_as_given(monkeypatch):
    monkeypatch.setenv("RUNTIME_REGISTRY_TOKEN", TOKEN)
    async with serving(create_app(RegistryConfig(server=ServerSettings()))) as client:
        assert (await client.get("/api/runtimes")).status_code == 200


async def test_the_token_is_needed_when_the_app_is_mounted_under_a_prefix():
    from starlette.applications import Starlette
    from starlette.routing import Mount

    host = Starlette(routes=[Mount("/registry", app=with_token(TOKEN))])
    transport = httpx.ASGITransport(app=host)
    async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as client:
        assert error_of(await client.get("/registry/api/runtimes")) == (401, "unauthorized")
