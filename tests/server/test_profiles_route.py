"""``GET /api/runtimes/{runtime_id}/profiles``: what a client may name at create, never how a profile is configured."""

from __future__ import annotations

import textwrap

from runtime_registry.server.app import create_app

from ..support.asgi_client import serving
from .conftest import embedded_assembly, error_of, fake_assembly
from .fakes import ReadOnlyProvider

SECRET_BASE = "http://10.77.66.55:9911/secret-upstream/v1"
SECRET_KEY_ENV = "PROFILES_ROUTE_SECRET_KEY_VARIABLE"
SECRET_PROMPT = "secret system prompt 7c1d"
SECRET_OPTION = 0.4242

CONFIG = textwrap.dedent(
    f"""
    [[runtimes]]
    id = "r"
    kind = "embedded"
    [runtimes.settings]
    default_profile = "assistant"
    store = {{ backend = "memory" }}
    [runtimes.settings.profiles.assistant]
    engine = "llm"
    model = "local-model"
    api_base = "{SECRET_BASE}"
    key_env = "{SECRET_KEY_ENV}"
    system_prompt = "{SECRET_PROMPT}"
    options = {{ temperature = {SECRET_OPTION} }}
    tools = ["clock"]
    description = "Answers questions; may read the clock"
    [runtimes.settings.profiles.slow]
    base = "builtin:echo"
    reply_delay_seconds = 2.0
    """
)


async def test_every_profile_is_listed_with_its_engine_description_tools_and_the_default_marked():
    async with serving(create_app(assembly=embedded_assembly(CONFIG))) as client:
        response = await client.get("/api/runtimes/r/profiles")
    assert response.status_code == 200
    body = response.json()
    assert body["runtime_id"] == "r"
    by_name = {item["name"]: item for item in body["items"]}
    assert set(by_name) == {"builtin:default", "builtin:echo", "assistant", "slow"}
    assert by_name["assistant"] == {
        "name": "assistant",
        "engine": "llm",
        "description": "Answers questions; may read the clock",
        "tools": ["clock"],
        "default": True,
    }
    assert by_name["slow"] == {"name": "slow", "engine": "echo", "description": None, "tools": [], "default": False}
    assert by_name["builtin:echo"]["engine"] == "echo" and by_name["builtin:echo"]["description"]
    assert [item["name"] for item in body["items"] if item["default"]] == ["assistant"]


async def test_no_setting_of_a_profile_reaches_the_client():
    async with serving(create_app(assembly=embedded_assembly(CONFIG))) as client:
        text = (await client.get("/api/runtimes/r/profiles")).text
    for secret in (SECRET_BASE, "10.77.66.55", SECRET_KEY_ENV, SECRET_PROMPT, str(SECRET_OPTION), "local-model"):
        assert secret not in text


async def test_the_default_is_builtin_default_when_the_operator_names_none():
    async with serving(create_app(assembly=embedded_assembly())) as client:
        items = (await client.get("/api/runtimes/backend-internal/profiles")).json()["items"]
        capabilities = (await client.get("/api/runtimes/backend-internal")).json()["capabilities"]
    assert [item["name"] for item in items if item["default"]] == ["builtin:default"]
    assert capabilities["list_profiles"] is True


async def test_every_listed_name_creates_a_worker_with_that_profile():
    async with serving(create_app(assembly=embedded_assembly(CONFIG))) as client:
        items = (await client.get("/api/runtimes/r/profiles")).json()["items"]
        for item in items:
            created = await client.post("/api/runtimes/r/workers", json={"profile": item["name"]})
            assert created.status_code == 201
            assert created.json()["profile"] == item["name"] and created.json()["diagnostics"] == []


async def test_a_kind_without_profiles_answers_405_unsupported_operation_and_says_so_in_its_capabilities():
    async with serving(create_app(assembly=fake_assembly(ReadOnlyProvider("ro")))) as client:
        response = await client.get("/api/runtimes/ro/profiles")
        capabilities = (await client.get("/api/runtimes/ro")).json()["capabilities"]
    assert error_of(response) == (405, "unsupported_operation")
    assert capabilities["list_profiles"] is False


async def test_unknown_runtime_and_bad_id_are_typed_errors():
    async with serving(create_app(assembly=embedded_assembly())) as client:
        assert error_of(await client.get("/api/runtimes/nowhere/profiles")) == (404, "unknown_runtime")
        assert error_of(await client.get("/api/runtimes/bad%20id/profiles")) == (400, "invalid_identifier")
        refused = await client.post("/api/runtimes/backend-internal/profiles", json={})
        assert error_of(refused) == (405, "method_not_allowed")


async def test_the_local_compat_kind_has_no_profiles(tmp_path):
    config = (
        '[[runtimes]]\nid = "lc"\nkind = "local-compat"\n'
        f'settings = {{ data_dir = "{tmp_path}", workspace_root = "/srv/w" }}\n'
    )
    async with serving(create_app(assembly=embedded_assembly(config))) as client:
        assert error_of(await client.get("/api/runtimes/lc/profiles")) == (405, "unsupported_operation")
