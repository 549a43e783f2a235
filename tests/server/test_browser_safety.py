"""Web pages the operator visits cannot drive the API: Host check (DNS rebinding), Origin check, CORS."""

from __future__ import annotations

import logging
import textwrap

import httpx
import jsonschema_rs
import pytest

from runtime_registry.server.app import create_app
from runtime_registry.server.contract import PROBE_PATHS
from runtime_registry.server.openapi import build_openapi

from .conftest import RUNTIME, create_worker, embedded_assembly, error_of

TOKEN = "browser-safety-token-5f1e"
CONSOLE = "https://console.example"
WORKERS = f"/api/runtimes/{RUNTIME}/workers"


def app_with(server: str = ""):
    """The app over one embedded runtime, with ``server`` lines in its [server] table."""
    config = textwrap.dedent(
        f"""
        [server]
        {server}

        [[runtimes]]
        id = "{RUNTIME}"
        kind = "embedded"
        """
    )
    return create_app(assembly=embedded_assembly(config))


class Client:
    """An in-process client of one app whose requests name any Host."""

    def __init__(self, app) -> None:
        self.app = app

    async def __aenter__(self) -> Client:
        self._lifespan = self.app.router.lifespan_context(self.app)
        await self._lifespan.__aenter__()
        return self

    async def __aexit__(self, *exc_info) -> None:
        await self._lifespan.__aexit__(*exc_info)

    async def request(
        self, method: str, path: str, *, host: str = "localhost:8000", headers=None, **kwargs
    ) -> httpx.Response:
        transport = httpx.ASGITransport(app=self.app)
        async with httpx.AsyncClient(transport=transport, base_url=f"http://{host}") as client:
            return await client.request(method, path, headers=headers, **kwargs)


@pytest.fixture
async def default_app():
    async with Client(app_with()) as client:
        yield client


# -- Host ---------------------------------------------------------------------


async def test_a_request_naming_a_foreign_host_is_refused_as_misdirected(default_app):
    response = await default_app.request("GET", "/api/runtimes", host="evil.example:8000")
    assert error_of(response) == (421, "misdirected_request")


async def test_a_rebinding_page_cannot_create_a_worker(default_app):
    refused = await default_app.request("POST", WORKERS, host="evil.example:8000", json={})
    listed = await default_app.request("GET", WORKERS)
    assert error_of(refused) == (421, "misdirected_request") and listed.json()["items"] == []


async def test_the_misdirected_answer_names_the_host_and_where_to_allow_it(default_app):
    message = (await default_app.request("GET", "/api/runtimes", host="evil.example")).json()["error"]["message"]
    assert "'evil.example'" in message and "server.allowed_hosts" in message


async def test_the_openapi_document_is_refused_to_a_foreign_host_too(default_app):
    assert error_of(await default_app.request("GET", "/openapi.json", host="evil.example")) == (
        421,
        "misdirected_request",
    )


async def test_healthz_answers_whatever_the_host(default_app):
    response = await default_app.request("GET", "/healthz", host="probe.internal:8000")
    assert response.status_code == 200


@pytest.mark.parametrize(
    "host",
    [
        "localhost",
        "localhost:8000",
        "LOCALHOST:8000",
        "127.0.0.1",
        "127.0.0.1:8000",
        "127.42.0.9:1",
        "[::1]",
        "[::1]:8000",
    ],
)
async def test_loopback_hosts_are_served(default_app, host):
    assert (await default_app.request("GET", "/api/runtimes", host=host)).status_code == 200


@pytest.mark.parametrize("host", ["192.0.2.7:8000", "[2001:db8::7]:8000", "10.1.2.3"])
async def test_address_hosts_are_served_because_rebinding_needs_a_name(default_app, host):
    assert (await default_app.request("GET", "/api/runtimes", host=host)).status_code == 200


@pytest.mark.parametrize(
    "host",
    [
        "localhost.",
        "my.localhost",
        "127.0.0.1.evil.example",
        "localhost:http",
        "localhost:123456",
        "[::1",
        "[::1]x",
        "[nope]:80",
        "::1",
    ],
)
async def test_names_that_only_look_local_are_refused(default_app, host):
    response = await default_app.request("GET", "/api/runtimes", headers={"Host": host})
    assert error_of(response) == (421, "misdirected_request")


async def get_raw(app, headers: list[tuple[bytes, bytes]], *, http_version: str = "1.1") -> tuple[int, bytes]:
    """``GET /api/runtimes`` with exactly ``headers``, as an ASGI call (no client fills Host in); status and body."""
    sent: list[dict] = []

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message):
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": http_version,
        "method": "GET",
        "scheme": "http",
        "path": "/api/runtimes",
        "raw_path": b"/api/runtimes",
        "root_path": "",
        "query_string": b"",
        "headers": headers,
        "client": ("127.0.0.1", 5000),
        "server": ("127.0.0.1", 8000),
    }
    await app(scope, receive, send)
    return sent[0]["status"], b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")


@pytest.mark.parametrize("raw", [b"local host", b"user@localhost", b"localhost/x", b"\xffhost", b""])
async def test_a_host_header_that_is_not_a_host_is_refused_without_being_echoed(raw):
    status, body = await get_raw(app_with(), [(b"host", raw)])
    assert status == 421 and b"misdirected_request" in body and (not raw or raw not in body)


async def test_a_request_without_a_host_header_is_served():
    """HTTP/1.0 without Host: not a browser (browsers always send it), so not a rebinding."""
    app = app_with()
    async with app.router.lifespan_context(app):
        status, _ = await get_raw(app, [], http_version="1.0")
    assert status == 200


async def test_a_configured_host_is_served_on_any_port():
    async with Client(app_with('allowed_hosts = ["registry.example"]')) as client:
        assert (await client.request("GET", "/api/runtimes", host="registry.example:9000")).status_code == 200


async def test_a_configured_host_does_not_admit_its_subdomains():
    async with Client(app_with('allowed_hosts = ["registry.example"]')) as client:
        response = await client.request("GET", "/api/runtimes", host="evil.registry.example")
    assert error_of(response) == (421, "misdirected_request")


async def test_a_wildcard_admits_names_below_it_but_not_the_name_itself():
    async with Client(app_with('allowed_hosts = ["*.corp.example"]')) as client:
        below = await client.request("GET", "/api/runtimes", host="a.b.corp.example")
        itself = await client.request("GET", "/api/runtimes", host="corp.example")
    assert below.status_code == 200 and error_of(itself) == (421, "misdirected_request")


async def test_a_star_turns_the_host_check_off():
    async with Client(app_with('allowed_hosts = ["*"]')) as client:
        assert (await client.request("GET", "/api/runtimes", host="anything.example")).status_code == 200


async def test_with_a_token_and_no_allowed_hosts_the_host_is_not_checked():
    async with Client(app_with(f'token = "{TOKEN}"')) as client:
        response = await client.request(
            "GET", "/api/runtimes", host="registry.internal", headers={"Authorization": f"Bearer {TOKEN}"}
        )
    assert response.status_code == 200


async def test_with_a_token_and_allowed_hosts_the_host_is_checked():
    async with Client(app_with(f'token = "{TOKEN}"\nallowed_hosts = ["registry.internal"]')) as client:
        response = await client.request(
            "GET", "/api/runtimes", host="other.internal", headers={"Authorization": f"Bearer {TOKEN}"}
        )
    assert error_of(response) == (421, "misdirected_request")


async def test_a_refused_host_is_logged_once_per_name(default_app, caplog):
    with caplog.at_level(logging.WARNING, logger="runtime_registry.server.middleware.browser_guard"):
        for _ in range(3):
            await default_app.request("GET", "/api/runtimes", host="evil.example")
        await default_app.request("GET", "/api/runtimes", host="other.example")
    names = [record.args[0] for record in caplog.records]
    assert names == ["evil.example", "other.example"]


# -- Origin -------------------------------------------------------------------


@pytest.mark.parametrize("origin", ["http://evil.example", "null", "http://localhost:3000", "http://127.0.0.1:8000"])
async def test_a_cross_site_create_is_refused_and_creates_nothing(default_app, origin):
    refused = await default_app.request("POST", WORKERS, headers={"Origin": origin})
    listed = await default_app.request("GET", WORKERS)
    assert error_of(refused) == (403, "forbidden_origin") and listed.json()["items"] == []


@pytest.mark.parametrize("action", ["cancel", "stop"])
async def test_a_cross_site_cancel_or_stop_is_refused(default_app, action):
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=default_app.app), base_url="http://localhost:8000"
    ) as api:
        worker = await create_worker(api)
        refused = await api.post(f"{WORKERS}/{worker}/{action}", headers={"Origin": "http://evil.example"})
        status = (await api.get(f"{WORKERS}/{worker}")).json()["status"]
    assert error_of(refused) == (403, "forbidden_origin") and status == "idle"


async def test_a_cross_site_text_plain_input_is_refused_before_the_body_is_looked_at(default_app):
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=default_app.app), base_url="http://localhost:8000"
    ) as api:
        worker = await create_worker(api)
        refused = await api.post(
            f"{WORKERS}/{worker}/input",
            content=b'{"content": "rm -rf"}',
            headers={"Origin": "http://evil.example", "Content-Type": "text/plain"},
        )
        length = (await api.get(f"{WORKERS}/{worker}")).json()["transcript_length"]
    assert error_of(refused) == (403, "forbidden_origin") and length == 0


@pytest.mark.parametrize("origin", ["http://localhost:8000", "https://localhost:8000", "HTTP://LOCALHOST:8000"])
async def test_the_servers_own_origin_may_post(default_app, origin):
    response = await default_app.request("POST", WORKERS, host="localhost:8000", headers={"Origin": origin})
    assert response.status_code == 201


async def test_an_origin_with_the_default_port_spelled_out_is_the_same_origin(default_app):
    response = await default_app.request("POST", WORKERS, host="localhost", headers={"Origin": "http://localhost:80"})
    assert response.status_code == 201


async def test_a_request_without_origin_may_post(default_app):
    assert (await default_app.request("POST", WORKERS)).status_code == 201


async def test_a_cross_site_get_is_served_without_cors_headers(default_app):
    response = await default_app.request("GET", "/api/runtimes", headers={"Origin": "http://evil.example"})
    assert response.status_code == 200 and "access-control-allow-origin" not in response.headers


@pytest.mark.parametrize("site", ["cross-site", "same-site", "Cross-Site"])
async def test_fetch_metadata_of_another_site_without_origin_is_refused(default_app, site):
    response = await default_app.request("POST", WORKERS, headers={"Sec-Fetch-Site": site})
    assert error_of(response) == (403, "forbidden_origin")


@pytest.mark.parametrize("site", ["same-origin", "none"])
async def test_fetch_metadata_of_the_same_origin_or_the_user_is_served(default_app, site):
    assert (await default_app.request("POST", WORKERS, headers={"Sec-Fetch-Site": site})).status_code == 201


async def test_the_origin_is_checked_even_with_a_token(default_app):
    async with Client(app_with(f'token = "{TOKEN}"')) as client:
        response = await client.request(
            "POST", WORKERS, headers={"Origin": "http://evil.example", "Authorization": f"Bearer {TOKEN}"}
        )
    assert error_of(response) == (403, "forbidden_origin")


async def test_the_forbidden_answer_names_the_setting_and_not_the_origin(default_app):
    message = (await default_app.request("POST", WORKERS, headers={"Origin": "http://evil.example"})).json()["error"][
        "message"
    ]
    assert "server.cors_allowed_origins" in message and "evil" not in message


# -- CORS ---------------------------------------------------------------------


@pytest.fixture
async def cors_app():
    async with Client(app_with(f'token = "{TOKEN}"\ncors_allowed_origins = ["{CONSOLE}"]')) as client:
        yield client


PREFLIGHT = {
    "Origin": CONSOLE,
    "Access-Control-Request-Method": "POST",
    "Access-Control-Request-Headers": "authorization, content-type",
}


async def test_a_preflight_from_an_allowed_origin_is_answered_before_auth(cors_app):
    response = await cors_app.request("OPTIONS", WORKERS, headers=PREFLIGHT)
    assert response.status_code == 204
    assert response.headers["access-control-allow-origin"] == CONSOLE
    assert {"authorization", "content-type"} <= {
        h.strip().lower() for h in response.headers["access-control-allow-headers"].split(",")
    }
    assert "POST" in response.headers["access-control-allow-methods"] and response.headers["vary"] == "Origin"


async def test_a_preflight_never_allows_credentials(cors_app):
    response = await cors_app.request("OPTIONS", WORKERS, headers=PREFLIGHT)
    assert "access-control-allow-credentials" not in response.headers


async def test_a_preflight_from_another_origin_is_refused(cors_app):
    response = await cors_app.request("OPTIONS", WORKERS, headers={**PREFLIGHT, "Origin": "https://evil.example"})
    assert error_of(response) == (403, "forbidden_origin") and "access-control-allow-origin" not in response.headers


async def test_an_options_request_that_is_not_a_preflight_is_not_answered_by_cors(cors_app):
    response = await cors_app.request("OPTIONS", WORKERS, headers={"Origin": CONSOLE})
    assert error_of(response) == (401, "unauthorized")


async def test_an_allowed_origin_may_post_and_read_the_answer(cors_app):
    response = await cors_app.request(
        "POST", WORKERS, json={}, headers={"Origin": CONSOLE, "Authorization": f"Bearer {TOKEN}"}
    )
    assert response.status_code == 201
    assert response.headers["access-control-allow-origin"] == CONSOLE
    assert "Location" in response.headers["access-control-expose-headers"]


async def test_an_allowed_origin_can_read_an_error_answer(cors_app):
    response = await cors_app.request("GET", "/api/runtimes", headers={"Origin": CONSOLE})
    assert error_of(response) == (401, "unauthorized") and response.headers["access-control-allow-origin"] == CONSOLE


async def test_with_cors_configured_every_answer_varies_by_origin(cors_app):
    response = await cors_app.request("GET", "/healthz")
    assert response.headers["vary"] == "Origin" and "access-control-allow-origin" not in response.headers


async def test_without_cors_configured_answers_carry_no_cors_headers(default_app):
    response = await default_app.request("GET", "/api/runtimes", headers={"Origin": CONSOLE})
    assert not any(name.startswith("access-control-") or name == "vary" for name in response.headers)


# -- the errors in the envelope and in the OpenAPI document ------------------------

DOCUMENT = build_openapi(version="test", bearer_auth=False)


@pytest.mark.parametrize(
    ("path", "method"), [(p, m) for p, item in DOCUMENT["paths"].items() for m in item if p not in PROBE_PATHS]
)
def test_every_operation_but_the_probes_documents_421(path, method):
    assert DOCUMENT["paths"][path][method]["responses"]["421"] == {"$ref": "#/components/responses/Error421"}


@pytest.mark.parametrize(
    ("path", "method"), [(p, m) for p, item in DOCUMENT["paths"].items() for m in item if m == "post"]
)
def test_every_state_changing_operation_documents_403(path, method):
    assert DOCUMENT["paths"][path][method]["responses"]["403"] == {"$ref": "#/components/responses/Error403"}


@pytest.mark.parametrize("path", sorted(PROBE_PATHS))
def test_the_probes_document_neither_refusal(path):
    assert not {"403", "421"} & set(DOCUMENT["paths"][path]["get"]["responses"])


@pytest.mark.parametrize(
    ("status", "request_args"),
    [
        (421, {"method": "GET", "path": "/api/runtimes", "host": "evil.example"}),
        (403, {"method": "POST", "path": WORKERS, "headers": {"Origin": "http://evil.example"}}),
    ],
)
async def test_the_refusals_match_their_documented_schema(default_app, status, request_args):
    response = await default_app.request(**request_args)
    component = DOCUMENT["components"]["responses"][f"Error{status}"]
    schema = {**component["content"]["application/json"]["schema"], "components": DOCUMENT["components"]}
    assert response.status_code == status
    assert response.headers["content-type"].startswith("application/json")
    jsonschema_rs.validate(schema, response.json())


def test_the_new_codes_are_in_the_one_status_table():
    from runtime_registry.server.errors import STATUS_BY_CODE

    assert STATUS_BY_CODE["misdirected_request"] == 421 and STATUS_BY_CODE["forbidden_origin"] == 403


def test_the_memory_of_accepted_hosts_is_bounded_whatever_ports_clients_name():
    from runtime_registry.server.middleware.host_policy import HostPolicy

    policy = HostPolicy()
    assert all(policy.accepts(f"127.0.0.1:{port}".encode()) for port in range(1, 3000))
    assert len(policy.accepted) <= 512


@pytest.mark.parametrize(
    ("server", "expected"),
    [
        ("", "Host localhost or an address;"),
        ('allowed_hosts = ["registry.example"]', "Host localhost or an address or registry.example;"),
        (f'token = "{TOKEN}"', "any Host (a token is configured"),
        ('allowed_hosts = ["*"]', "any Host (server.allowed_hosts has '*')"),
    ],
)
async def test_startup_logs_which_hosts_are_answered(caplog, server, expected):
    app = app_with(server)
    with caplog.at_level(logging.INFO, logger="runtime_registry.server"):
        async with app.router.lifespan_context(app):
            pass
    [line] = [r.getMessage() for r in caplog.records if "browser safety" in r.getMessage()]
    assert expected in line and TOKEN not in line


async def test_startup_logs_the_cors_origins(caplog):
    app = app_with(f'cors_allowed_origins = ["{CONSOLE}"]')
    with caplog.at_level(logging.INFO, logger="runtime_registry.server"):
        async with app.router.lifespan_context(app):
            pass
    assert any(f"CORS origins: {CONSOLE}" in r.getMessage() for r in caplog.records)
