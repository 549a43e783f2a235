"""The contract's routes (decision 0246) match and answer as Starlette's ``Route`` does, without its wrapper.

- ``ContractRoute.matches`` gives what ``Route.matches`` gives for any path,
  method and scope (a root path, ids from a mount, a websocket).
- Every answer of the app, success or typed error, 404, 405, HEAD, a root
  path, is the one the same app gives with Starlette's routes.
- The endpoint is called directly: the route's ``request_response`` app is
  never used for a method the route has.
"""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st
from starlette.routing import Route

from runtime_registry.server import endpoints
from runtime_registry.server.app import create_app
from runtime_registry.server.endpoints import ContractRoute

from ..support.asgi_client import serving
from .conftest import RUNTIME, embedded_assembly

PATHS = [
    "/api/runtimes/{runtime_id}/workers/{worker_id}/input",
    "/api/runtimes/{runtime_id}/workers/{worker_id}",
    "/api/runtimes/{runtime_id}",
    "/healthz",
]


async def _endpoint(request):  # never called: only matching is compared
    raise AssertionError


def _pair(path: str, methods: list[str]) -> tuple[Route, Route]:
    return ContractRoute(path, _endpoint, methods=methods, name=path), Route(
        path, _endpoint, methods=methods, name=path
    )


segment = st.sampled_from(["api", "runtimes", "workers", "input", "rt", "w-1", "", "a%2Fb", "ü", "healthz"])


def _filled(template: str, ids: list[str], tail: str) -> str:
    parts = [ids.pop() if part.startswith("{") and ids else part for part in template.split("/")]
    return "/".join(parts) + tail


#: Paths of the routes' shapes (ids filled from ``segment``), some with a segment more, and any others.
paths = st.one_of(
    st.builds(
        _filled, st.sampled_from(PATHS), st.lists(segment, min_size=2, max_size=2), st.sampled_from(["", "/", "/x"])
    ),
    st.lists(segment, min_size=0, max_size=6).map(lambda parts: "/" + "/".join(parts)),
)


@given(
    path=paths,
    method=st.sampled_from(["GET", "HEAD", "POST", "DELETE", "PUT"]),
    root_path=st.sampled_from(["", "/prefix", "/api"]),
    inherited=st.sampled_from([None, {}, {"outer": "x"}]),
    kind=st.sampled_from(["http", "websocket"]),
)
def test_matching_is_starlettes(path, method, root_path, inherited, kind):
    for template in PATHS:
        for methods in (["POST"], ["GET", "DELETE"]):
            ours, theirs = _pair(template, methods)
            scope = {"type": kind, "path": root_path + path, "root_path": root_path, "method": method}
            if inherited is not None:
                scope["path_params"] = inherited
            assert ours.matches(dict(scope)) == theirs.matches(dict(scope))


def test_a_route_whose_ids_are_not_plain_segments_is_refused():
    with pytest.raises(ValueError, match="plain segments"):
        ContractRoute("/api/items/{number:int}", _endpoint, methods=["GET"], name="x")


_WORKER_ID = re.compile(rb'"w-[^"]+"|/w-[^/" ]+')


async def _answers(app, root_path: str = "") -> list[tuple[int, list[tuple[str, str]], bytes]]:
    """The app's answers to a fixed series of requests, ids and request ids masked."""
    base = f"/api/runtimes/{RUNTIME}"
    answers = []
    async with serving(app) as client:
        client._transport.root_path = root_path  # type: ignore[attr-defined]
        created = await client.post(f"{base}/workers", json={})
        worker = f"{base}/workers/{created.json()['worker_id']}"
        requests = [
            ("POST", f"{worker}/input", {"json": {"content": "hello"}}),
            ("POST", f"{worker}/input", {"json": {"content": "again"}}),  # busy or not: the same in both
            ("POST", f"{worker}/input", {"content": b"{", "headers": {"content-type": "application/json"}}),
            ("POST", f"{worker}/input", {"json": {"content": 5}}),
            ("POST", f"{worker}/input", {"content": b"x", "headers": {"content-type": "text/plain"}}),
            ("POST", f"{base}/workers/w-none/input", {"json": {"content": "x"}}),
            ("POST", f"{base}/workers/bad%20id/input", {"json": {"content": "x"}}),
            ("GET", f"{worker}/input", {}),
            ("PUT", worker, {}),
            ("HEAD", "/healthz", {}),
            ("GET", "/healthz", {}),
            ("GET", "/nowhere", {}),
            ("GET", f"{base}/profiles?limt=1", {}),
            ("GET", f"{worker}/transcript?limit=1", {}),
            ("DELETE", "/api/runtimes", {}),
        ]
        for method, url, extra in requests:
            response = await client.request(method, url, **extra)
            headers = sorted(
                (name, _WORKER_ID.sub(b"w-*", value.encode()).decode())
                for name, value in response.headers.items()
                if name not in {"x-request-id"}
            )
            body = _WORKER_ID.sub(b'"w-*"', response.content)
            body = re.sub(rb'"(created_at|updated_at|event_id)":("[^"]*"|\d+)', b"", body)
            answers.append((response.status_code, headers, body))
    return answers


@pytest.mark.parametrize("root_path", ["", "/behind"])
async def test_every_answer_is_the_one_starlettes_routes_give(monkeypatch, root_path):
    ours = await _answers(create_app(assembly=embedded_assembly()), root_path)
    monkeypatch.setattr(endpoints, "ContractRoute", lambda path, endpoint, **kw: Route(path, endpoint, **kw))
    plain = create_app(assembly=embedded_assembly())
    assert not any(isinstance(route, ContractRoute) for route in plain.routes)
    assert ours == await _answers(plain, root_path)
    statuses = [status for status, _, _ in ours]
    assert statuses[0] == 202 and statuses[2:8] == [400, 422, 415, 404, 400, 405]


async def test_the_endpoint_is_called_without_starlettes_request_wrapper():
    app = create_app(assembly=embedded_assembly())
    for route in app.routes:
        if isinstance(route, ContractRoute):
            route.app = _endpoint  # Route.handle would call this (request_response's wrapper)
    async with serving(app) as client:
        created = await client.post(f"/api/runtimes/{RUNTIME}/workers", json={})
        assert created.status_code == 201
        answer = await client.post(
            f"/api/runtimes/{RUNTIME}/workers/{created.json()['worker_id']}/input", json={"content": "hi"}
        )
        assert answer.status_code == 202
        assert (await client.put(f"/api/runtimes/{RUNTIME}")).status_code == 405
