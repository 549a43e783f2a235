"""A tour of every route, successes and errors, on an app full of secrets: what the leak scan and the
OpenAPI conformance check both read."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import textwrap
from collections.abc import AsyncIterator
from pathlib import Path

import attrs
import httpx

from registry_core import PluginRef
from runtime_registry.server.app import create_app

from .conftest import embedded_assembly, serving
from .fakes import FailingStartProvider, HangingProvider, RaisingProvider, ReadOnlyProvider, StrangeCodeProvider

TOKEN = "tour-token-0f9e8d7c6b5a"
R, O, LC = "backend-internal", "second", "local-workers"
JSON = {"Content-Type": "application/json"}


@attrs.frozen
class Visit:
    """One request of the tour: the route template it targets and what came back."""

    method: str
    template: str
    response: httpx.Response


def tour_config(data_dir: Path, workspace: Path) -> str:
    return textwrap.dedent(
        f"""
        [server]
        token = "{TOKEN}"
        allowed_hosts = ["localhost"]  # with a token, the Host check runs only when names are listed
        max_body_bytes = 4096
        call_timeout_seconds = 0.2
        stream_heartbeat_seconds = 0.05

        [[runtimes]]
        id = "{R}"
        kind = "embedded"
        [runtimes.settings]
        max_input_chars = 100
        # Memory: the 0.2 s call timeout also bounds start and every acknowledged
        # commit, which a loaded machine's disk can exceed. The SQLite store's
        # answers are scanned by tests/reliability/test_leaks.py.
        store = {{ backend = "memory" }}
        [runtimes.settings.profiles.slow]
        base = "builtin:echo"
        reply_delay_seconds = 30.0

        [[runtimes]]
        id = "{O}"
        kind = "embedded"
        settings = {{ max_workers = 1, event_retention = 3, transcript_page_max = 5, store = {{ backend = "memory" }} }}

        [[runtimes]]
        id = "{LC}"
        kind = "local-compat"
        settings = {{ data_dir = "{data_dir}", workspace_root = "{workspace}" }}
        """
    )


@contextlib.asynccontextmanager
async def touring_client(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    """A client (carrying the token) of the tour's app: embedded, local-compat and misbehaving runtimes."""
    data_dir, workspace = tmp_path / "secret-data-dir", tmp_path / "secret-workspace"
    data_dir.mkdir()
    assembly = embedded_assembly(tour_config(data_dir, workspace))
    for provider in (
        RaisingProvider("raising"),
        StrangeCodeProvider("strange"),
        FailingStartProvider("down"),
        HangingProvider("hanging"),
        ReadOnlyProvider("read-only"),
    ):
        assembly.registry.register(provider, plugin=PluginRef("fakes", "0.0.1"))
    async with serving(create_app(assembly=assembly)) as client:
        client.headers["Authorization"] = f"Bearer {TOKEN}"
        yield client


async def take_tour(client: httpx.AsyncClient) -> list[Visit]:
    """Drive every route through its successes and its errors."""
    visits: list[Visit] = []

    async def visit(method: str, template: str, url: str, **kwargs) -> httpx.Response:
        response = await client.request(method, url, **kwargs)
        visits.append(Visit(method, template, response))
        return response

    rt, wk = "/api/runtimes/{runtime_id}", "/api/runtimes/{runtime_id}/workers/{worker_id}"
    await visit("GET", "/healthz", "/healthz")
    await visit("GET", "/api/plugins", "/api/plugins")
    await visit("GET", "/api/runtimes", "/api/runtimes")
    for runtime_id in (R, LC, "down", "nowhere", "bad id"):
        await visit("GET", rt, f"/api/runtimes/{runtime_id}")
    for runtime_id in (R, LC, "read-only", "down", "nowhere", "bad id"):
        await visit("GET", rt + "/profiles", f"/api/runtimes/{runtime_id}/profiles")

    echo = (
        await visit(
            "POST", rt + "/workers", f"/api/runtimes/{R}/workers", json={"profile": "builtin:echo", "label": "tour"}
        )
    ).json()["worker_id"]
    slow = (
        await visit(
            "POST",
            rt + "/workers",
            f"/api/runtimes/{R}/workers",
            json={"profile": "slow", "intent": {"kind": "task", "objective": "wait"}},
        )
    ).json()["worker_id"]
    await visit("POST", rt + "/workers", f"/api/runtimes/{R}/workers", json={"profile": "unknown-profile"})
    for body, headers in [
        (b"{oops", JSON),
        (b"[]", JSON),
        (b'{"label": 1}', JSON),
        (b'{"capabilities": ["shell"]}', JSON),
        (b"{}", {"Content-Type": "text/plain"}),
        (b"{" + b" " * 5000 + b"}", JSON),
    ]:
        await visit("POST", rt + "/workers", f"/api/runtimes/{R}/workers", content=body, headers=headers)
    other = (await visit("POST", rt + "/workers", f"/api/runtimes/{O}/workers", json={})).json()["worker_id"]
    await visit("POST", rt + "/workers", f"/api/runtimes/{O}/workers", json={})
    for runtime_id in (LC, "raising", "down", "read-only"):
        await visit("POST", rt + "/workers", f"/api/runtimes/{runtime_id}/workers", json={})

    for runtime_id, query in [
        (R, {}),
        (R, {"limit": 1}),
        (R, {"limit": "0"}),
        (R, {"cursor": "forged"}),
        (R, {"limit": 100000}),
        (LC, {}),
        ("down", {}),
        ("nowhere", {}),
    ]:
        await visit("GET", rt + "/workers", f"/api/runtimes/{runtime_id}/workers", params=query)

    for runtime_id, worker_id in [
        (R, echo),
        (R, "w-unknown"),
        (O, echo),
        (R, "bad id"),
        ("raising", "w1"),
        ("strange", "w1"),
        ("hanging", "w1"),
        (LC, "w-unknown"),
    ]:
        await visit("GET", wk, f"/api/runtimes/{runtime_id}/workers/{worker_id}")

    await visit("POST", wk + "/input", f"/api/runtimes/{R}/workers/{echo}/input", json={"content": "hello"})
    await visit(
        "POST", wk + "/input", f"/api/runtimes/{R}/workers/{slow}/input", json={"content": "first", "kind": "system"}
    )
    await visit("POST", wk + "/input", f"/api/runtimes/{R}/workers/{slow}/input", json={"content": "busy now"})
    await _wait_until_idle(client, R, echo)
    for body in ({"content": ""}, {"content": "x" * 101}, {"content": 3}, {"kind": "user"}):
        await visit("POST", wk + "/input", f"/api/runtimes/{R}/workers/{echo}/input", json=body)
    await visit("POST", wk + "/input", "/api/runtimes/raising/workers/w1/input", json={"content": "x"})
    await visit("POST", wk + "/input", "/api/runtimes/read-only/workers/w1/input", json={"content": "x"})

    await visit("POST", wk + "/cancel", f"/api/runtimes/{R}/workers/{slow}/cancel")
    await visit("POST", wk + "/cancel", f"/api/runtimes/{R}/workers/{echo}/cancel")
    await visit("POST", wk + "/cancel", "/api/runtimes/read-only/workers/w1/cancel")
    await _wait_until_idle(client, R, echo)

    for query in ({}, {"start": 2, "limit": 1}, {"start": "0"}, {"limit": 100000}):
        await visit("GET", wk + "/transcript", f"/api/runtimes/{R}/workers/{echo}/transcript", params=query)
    await visit("GET", wk + "/transcript", f"/api/runtimes/{R}/workers/w-unknown/transcript")

    first_event = (await client.get(f"/api/runtimes/{R}/events", params={"limit": 1})).json()["events"][0]["id"]
    for runtime_id, query in [
        (R, {}),
        (R, {"cursor": first_event, "limit": 2}),
        (R, {"cursor": 1}),  # 1: an id of an earlier run, 410
        (R, {"cursor": "abc"}),
        (LC, {}),
        ("down", {}),
    ]:
        await visit("GET", rt + "/events", f"/api/runtimes/{runtime_id}/events", params=query)
    await visit("GET", wk + "/events", f"/api/runtimes/{R}/workers/{echo}/events")
    await visit("GET", wk + "/events", f"/api/runtimes/{R}/workers/w-unknown/events")

    await visit("POST", wk + "/input", f"/api/runtimes/{O}/workers/{other}/input", json={"content": "fill the log"})
    await _wait_until_idle(client, O, other)
    await visit("GET", rt + "/events", f"/api/runtimes/{O}/events", params={"cursor": 0})
    # Deleting frees the full runtime's one slot; the id is unknown afterwards.
    await visit("DELETE", wk, f"/api/runtimes/{O}/workers/{other}")
    await visit("DELETE", wk, f"/api/runtimes/{O}/workers/{other}")
    await visit("GET", wk, f"/api/runtimes/{O}/workers/{other}")
    await visit("POST", rt + "/workers", f"/api/runtimes/{O}/workers", json={})
    for runtime_id, worker_id in [
        (R, "bad id"),
        (LC, "w-unknown"),
        ("read-only", "w1"),
        ("down", "w1"),
        ("nowhere", "w1"),
    ]:
        await visit("DELETE", wk, f"/api/runtimes/{runtime_id}/workers/{worker_id}")
    await visit("GET", rt + "/events/stream", f"/api/runtimes/{O}/events/stream", params={"cursor": 0})
    await visit("GET", rt + "/events/stream", f"/api/runtimes/{R}/events/stream", headers={"Last-Event-ID": "x"})
    for runtime_id in ("nowhere", "down", "read-only", LC):
        await visit("GET", rt + "/events/stream", f"/api/runtimes/{runtime_id}/events/stream")

    await visit("POST", wk + "/stop", f"/api/runtimes/{R}/workers/{echo}/stop")
    await visit("POST", wk + "/stop", f"/api/runtimes/{R}/workers/{echo}/stop")
    await visit("POST", wk + "/input", f"/api/runtimes/{R}/workers/{echo}/input", json={"content": "late"})
    await visit("POST", wk + "/stop", "/api/runtimes/read-only/workers/w1/stop")

    # A well-formed overview cursor whose inner cursor the runtime never issued: 400 (issue 12.5).
    tampered = base64.urlsafe_b64encode(json.dumps([R, "1-forged"]).encode()).decode().rstrip("=")
    for query in ({}, {"limit": 1}, {"limit": "x"}, {"cursor": "forged"}, {"cursor": tampered}, {"limit": 501}):
        await visit("GET", "/api/workers", "/api/workers", params=query)

    for method, path in [("GET", "/nothing"), ("DELETE", "/api/runtimes"), ("PUT", f"/api/runtimes/{R}/workers")]:
        response = await client.request(method, path)
        visits.append(Visit(method, "", response))
    unauthenticated = await client.get("/api/runtimes", headers={"Authorization": ""})
    visits.append(Visit("GET", "/api/runtimes", unauthenticated))
    wrong = await client.get(f"/api/runtimes/{R}/workers", headers={"Authorization": "Bearer nope"})
    visits.append(Visit("GET", rt + "/workers", wrong))

    # Browser safety (decision 0060): a DNS-rebinding page, and pages of another origin.
    rebinding = {"Host": "rebinding.example:8000"}
    await visit("GET", "/openapi.json", "/openapi.json", headers=rebinding)
    await visit("GET", "/api/runtimes", "/api/runtimes", headers=rebinding)
    await visit("POST", rt + "/workers", f"/api/runtimes/{R}/workers", headers=rebinding, json={})
    cross_site = {"Origin": "https://elsewhere.example"}
    await visit("POST", rt + "/workers", f"/api/runtimes/{R}/workers", headers=cross_site, json={})
    for action in ("input", "cancel", "stop"):
        await visit(
            "POST", wk + "/" + action, f"/api/runtimes/{R}/workers/{slow}/{action}", headers=cross_site, content=b"{}"
        )
    await visit("DELETE", wk, f"/api/runtimes/{R}/workers/{slow}", headers=cross_site)
    await visit("DELETE", wk, f"/api/runtimes/{R}/workers/{slow}")  # busy: its turn is cancelled
    return visits


async def _wait_until_idle(client: httpx.AsyncClient, runtime_id: str, worker_id: str) -> None:
    for _ in range(200):
        if (await client.get(f"/api/runtimes/{runtime_id}/workers/{worker_id}")).json()["status"] == "idle":
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the worker did not become idle")
