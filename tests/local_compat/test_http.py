"""The local-compat kind behind the real HTTP app, next to an embedded runtime."""

from __future__ import annotations

import contextlib
import json
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from runtime_registry.host import assemble, parse_config
from runtime_registry.testing.conformance import find_path_like

from ..support.asgi_client import serving as asgi_serving
from .conftest import EXAMPLE_WORKSPACE, EXAMPLES

LOCAL, EMBEDDED = "local-worker-runtime", "backend-internal"


def config(data_dir: Path) -> str:
    return f"""
[plugins]
enabled = ["embedded", "local-compat"]

[[runtimes]]
id = "{EMBEDDED}"
kind = "embedded"

[[runtimes]]
id = "{LOCAL}"
kind = "local-compat"
display_name = "Local workers (read-only)"
settings = {{ data_dir = "{data_dir}", workspace_root = "{EXAMPLE_WORKSPACE}" }}
"""


@contextlib.asynccontextmanager
async def serving(data_dir: Path) -> AsyncIterator[httpx.AsyncClient]:
    from runtime_registry.server.app import create_app

    app = create_app(assembly=assemble(parse_config(config(data_dir)), strict=True))
    async with asgi_serving(app) as client:
        yield client


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    shutil.copytree(EXAMPLES, tmp_path / "data")
    async with serving(tmp_path / "data") as client:
        yield client


async def test_runtimes_tell_the_local_source_from_the_embedded_one(api: httpx.AsyncClient) -> None:
    items = (await api.get("/api/runtimes")).json()["items"]
    assert {item["runtime_id"]: item["kind"] for item in items} == {EMBEDDED: "embedded", LOCAL: "local-compat"}
    local = next(item for item in items if item["runtime_id"] == LOCAL)
    flags = {name: value for name, value in local["capabilities"].items() if name != "busy_policies"}
    assert {name for name, value in flags.items() if value} == {"list_workers", "get_worker"}
    assert local["capabilities"]["busy_policies"] == ["reject"]


async def test_the_overview_marks_every_row_with_its_kind(api: httpx.AsyncClient) -> None:
    assert (await api.post(f"/api/runtimes/{EMBEDDED}/workers", json={})).status_code == 201
    rows = (await api.get("/api/workers")).json()["items"]
    assert sorted((row["runtime_id"], row["kind"]) for row in rows) == [
        (EMBEDDED, "embedded"),
        (LOCAL, "local-compat"),
        (LOCAL, "local-compat"),
    ]


async def test_a_local_worker_is_read_by_its_id(api: httpx.AsyncClient) -> None:
    listed = (await api.get(f"/api/runtimes/{LOCAL}/workers")).json()["items"][0]
    detail = (await api.get(f"/api/runtimes/{LOCAL}/workers/{listed['worker_id']}")).json()
    assert detail == listed


@pytest.mark.parametrize(
    ("method", "suffix"),
    [
        ("POST", "/workers"),
        ("POST", "/workers/{w}/input"),
        ("POST", "/workers/{w}/cancel"),
        ("POST", "/workers/{w}/stop"),
        ("GET", "/workers/{w}/transcript"),
        ("GET", "/events"),
        ("GET", "/workers/{w}/events"),
        ("GET", "/events/stream"),
    ],
)
async def test_writing_and_reading_history_answer_405(api: httpx.AsyncClient, method: str, suffix: str) -> None:
    worker_id = (await api.get(f"/api/runtimes/{LOCAL}/workers")).json()["items"][0]["worker_id"]
    body = {"content": "hi"} if suffix.endswith("input") else {}
    response = await api.request(
        method, f"/api/runtimes/{LOCAL}" + suffix.format(w=worker_id), json=body if method == "POST" else None
    )
    assert (response.status_code, response.json()["error"]["code"]) == (405, "unsupported_operation")


async def test_a_bad_cursor_is_400_malformed_request_without_echoing_it(api: httpx.AsyncClient) -> None:
    response = await api.get(f"/api/runtimes/{LOCAL}/workers", params={"cursor": "srv-workspaces-alpha"})
    assert (response.status_code, response.json()["error"]["code"]) == (400, "malformed_request")
    assert "srv-workspaces-alpha" not in response.text


async def test_a_missing_data_dir_is_degraded_and_the_api_keeps_working(tmp_path: Path) -> None:
    async with serving(tmp_path / "not-there") as api:
        summary = (await api.get(f"/api/runtimes/{LOCAL}")).json()
        page = await api.get(f"/api/runtimes/{LOCAL}/workers")
        overview = await api.get("/api/workers")
    assert summary["status"] == "degraded"
    assert page.status_code == 200 and page.json()["items"] == []
    assert overview.status_code == 200
    assert str(tmp_path) not in summary.__repr__() + page.text + overview.text


async def test_no_http_response_shows_a_secret_of_the_examples(api: httpx.AsyncClient) -> None:
    bodies = [
        (await api.get(path)).json() for path in ("/api/runtimes", "/api/workers", f"/api/runtimes/{LOCAL}/workers")
    ]
    for worker in bodies[-1]["items"]:
        bodies.append((await api.get(f"/api/runtimes/{LOCAL}/workers/{worker['worker_id']}")).json())
    text = json.dumps(bodies)
    assert find_path_like(bodies) == []
    for secret in ("/srv/workspaces", "0f8e6c1e", "5b2d9a44", "9d1c2b3a", ".sock", "callback", "OPENAI", "api_key"):
        assert secret not in text
