"""With a token configured, nothing under ``/api`` answers anything but 401 without it.

Table-driven over every route of the contract and every method (unknown
``/api`` paths included), against the real server, with raw header bytes: what
is tested is what a client on the wire gets.

Header rules (decision 0040, RFC 6750 §2.1 and RFC 9110 §11): the scheme is
case-insensitive; ``credentials = "Bearer" 1*SP token``, so one or more spaces
separate them; anything else — no scheme, another scheme, a bare ``Bearer``,
a wrong, truncated or extended token, non-ASCII bytes — is 401.
"""

from __future__ import annotations

import asyncio
import base64

import httpx
import pytest

from ..support.server_process import running_server
from .app_config import EMBEDDED, embedded_toml, write_config
from .load_client import LoadClient
from .routes import METHODS, PUBLIC_ROUTES, ROUTES, UNKNOWN_API_PATHS

TOKEN = "reliability-token-5f2c9a"
GOOD = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    directory = tmp_path_factory.mktemp("auth")
    # Every wrong header below is a failed guess from one client: pacing (tested on its own) is off here.
    toml = embedded_toml(token=TOKEN).replace("[server]\n", "[server]\nfailed_token_burst = 1000000\n")
    config = write_config(directory, toml)
    with running_server(config, log=directory / "server.log") as served:
        yield served


@pytest.fixture(scope="module")
def worker_id(server):
    response = httpx.post(f"{server.base_url}/api/runtimes/{EMBEDDED}/workers", json={}, headers=GOOD)
    assert response.status_code == 201, response.text
    return response.json()["worker_id"]


def requests_without_token(worker_id: str) -> list[tuple[str, str]]:
    """Every (method, path) under /api: each contract route and each unknown path, with every method."""
    paths = [route.path(EMBEDDED, worker_id) for route in ROUTES]
    paths += [path.format(runtime_id=EMBEDDED, worker_id=worker_id) for path in UNKNOWN_API_PATHS]
    return [(method, path) for path in paths for method in METHODS]


async def send_all(server, requests, headers=None):
    async with LoadClient(server.base_url, connections=20) as api:
        return await asyncio.gather(
            *(
                api.request(
                    method,
                    path,
                    body=b'{"content": "x"}' if method in ("POST", "PUT", "PATCH") else b"",
                    headers=headers,
                )
                for method, path in requests
            )
        )


def assert_unauthorized(reply, request) -> None:
    assert reply.status == 401, (request, reply.status, reply.body[:200])
    assert reply.headers["www-authenticate"].lower().startswith("bearer"), request
    if request[0] != "HEAD":
        assert reply.json()["error"]["code"] == "unauthorized", request
        assert TOKEN not in reply.body.decode(), request


async def test_every_api_route_and_method_without_a_token_is_401(server, worker_id):
    requests = requests_without_token(worker_id)
    replies = await send_all(server, requests)
    for request, reply in zip(requests, replies, strict=False):
        assert_unauthorized(reply, request)


WRONG_CREDENTIALS = [
    pytest.param(f"Bearer {TOKEN}x", id="token-with-a-suffix"),
    pytest.param(f"Bearer {TOKEN[:-1]}", id="truncated-token"),
    pytest.param(f"Bearer {TOKEN.upper()}", id="token-in-another-case"),
    pytest.param("Bearer wrong", id="wrong-token"),
    pytest.param("Bearer", id="bearer-alone"),
    pytest.param("Bearer ", id="bearer-and-a-space"),
    pytest.param(TOKEN, id="token-without-scheme"),
    pytest.param(f"Token {TOKEN}", id="another-scheme"),
    pytest.param(f"Basic {base64.b64encode(f'user:{TOKEN}'.encode()).decode()}", id="basic-with-the-token-as-password"),
    pytest.param(f"Basic {TOKEN}", id="basic-with-the-token"),
    pytest.param(f"Bearer {TOKEN} extra", id="token-and-more"),
    pytest.param(f"Bearer\t{TOKEN}", id="tab-instead-of-space"),
    pytest.param(f"Bearer,{TOKEN}", id="comma-instead-of-space"),
    pytest.param(f"Bearer {TOKEN},", id="trailing-comma"),
    pytest.param(f"BearerX {TOKEN}", id="scheme-with-a-suffix"),
    pytest.param("Bearer \xe9\xe8\xff", id="latin-1-bytes"),
    pytest.param("Bearer " + "A" * 6000, id="very-long"),
]


@pytest.mark.parametrize("authorization", WRONG_CREDENTIALS)
async def test_a_wrong_or_malformed_authorization_header_is_401_on_every_route(server, worker_id, authorization):
    requests = [(route.method, route.path(EMBEDDED, worker_id)) for route in ROUTES]
    replies = await send_all(server, requests, headers={"Authorization": authorization})
    for request, reply in zip(requests, replies, strict=False):
        assert_unauthorized(reply, request)


@pytest.mark.parametrize(
    "authorization",
    [
        pytest.param(f"Bearer {TOKEN}", id="canonical"),
        pytest.param(f"bearer {TOKEN}", id="lowercase-scheme"),
        pytest.param(f"BEARER {TOKEN}", id="uppercase-scheme"),
        pytest.param(f"Bearer  {TOKEN}", id="two-spaces"),
    ],
)
async def test_the_token_with_any_case_of_scheme_and_one_or_more_spaces_is_accepted(server, authorization):
    async with LoadClient(server.base_url, connections=1) as api:
        reply = await api.get("/api/runtimes", headers={"Authorization": authorization})
    assert reply.status == 200


@pytest.mark.parametrize("route", PUBLIC_ROUTES, ids=lambda r: r.template)
def test_health_and_the_api_document_need_no_token(server, route):
    assert httpx.get(server.base_url + route.template).status_code == 200


def test_the_route_tables_cover_every_documented_path(server):
    documented = {
        (method.upper(), path)
        for path, operations in httpx.get(f"{server.base_url}/openapi.json").json()["paths"].items()
        for method in operations
        if method in {"get", "post", "put", "patch", "delete"}
    }
    listed = {(route.method, route.template) for route in (*ROUTES, *PUBLIC_ROUTES)}
    assert documented == listed


def test_the_token_from_the_environment_protects_every_route(tmp_path):
    config = write_config(tmp_path, embedded_toml())
    with running_server(config, log=tmp_path / "server.log", environ={"RUNTIME_REGISTRY_TOKEN": TOKEN}) as served:
        requests = [(route.method, route.path(EMBEDDED, "w-0")) for route in ROUTES]
        replies = asyncio.run(send_all(served, requests))
        for request, reply in zip(requests, replies, strict=False):
            assert_unauthorized(reply, request)
        assert httpx.get(f"{served.base_url}/api/runtimes", headers=GOOD).status_code == 200
