"""Request heads that say two things: repeated single headers, and bodies framed two ways.

Issue 12, point 7, on real sockets against ``runtime-registry serve`` under
both HTTP parsers (they differ: httptools refuses ``Content-Length`` with
``Transfer-Encoding`` itself, h11 reads the body by ``Transfer-Encoding``).
"""

from __future__ import annotations

import json
import socket

import pytest

from ..support.server_process import running_server
from .app_config import EMBEDDED, embedded_toml, write_config

TOKEN = "hostile-headers-token-1234"
GOOD_ORIGIN = "https://console.example"
WORKERS = f"/api/runtimes/{EMBEDDED}/workers"
PARSERS = ["httptools", "h11"]


@pytest.fixture(scope="module", params=PARSERS)
def server(request, tmp_path_factory):
    directory = tmp_path_factory.mktemp(f"headers-{request.param}")
    settings = f'[server]\nhttp_parser = "{request.param}"\ncors_allowed_origins = ["{GOOD_ORIGIN}"]\n'
    config = write_config(directory, embedded_toml(token=TOKEN).replace("[server]\n", settings))
    with running_server(config, log=directory / "server.log") as served:
        yield served


def _exchange(server, raw: bytes, *, timeout: float = 5.0) -> tuple[list[bytes], bool]:
    """Send ``raw`` on one connection; the responses read until the server closes it (or goes quiet), and whether it closed."""
    port = int(server.base_url.rsplit(":", 1)[1])
    data = b""
    closed = False
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as connection:
        connection.sendall(raw)
        connection.settimeout(1.0)
        while True:
            try:
                chunk = connection.recv(65536)
            except TimeoutError:
                break
            except ConnectionResetError:
                closed = True
                break
            if not chunk:
                closed = True
                break
            data += chunk
    return [b"HTTP/1.1" + part for part in data.split(b"HTTP/1.1")[1:]], closed


def _status(response: bytes) -> int:
    return int(response.split(b" ", 2)[1])


def _body(response: bytes) -> dict:
    return json.loads(response.partition(b"\r\n\r\n")[2])


def _request(method: str, path: str, headers: list[tuple[str, str]], body: bytes = b"") -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1"] + [f"{name}: {value}" for name, value in headers]
    if body:
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def _auth() -> tuple[str, str]:
    return ("Authorization", f"Bearer {TOKEN}")


def _worker_count(server) -> int:
    responses, _ = _exchange(server, _request("GET", WORKERS + "?limit=200", [_auth(), ("Connection", "close")]))
    return len(_body(responses[0])["items"])


JSON = ("Content-Type", "application/json")


@pytest.mark.parametrize("origins", [("https://evil.example", GOOD_ORIGIN), (GOOD_ORIGIN, "https://evil.example")])
def test_a_repeated_origin_is_refused_whichever_comes_first(server, origins):
    before = _worker_count(server)
    headers = [_auth(), JSON, *(("Origin", origin) for origin in origins)]
    responses, _ = _exchange(server, _request("POST", WORKERS, headers, b"{}"))
    assert _status(responses[0]) == 400
    assert _body(responses[0])["error"]["code"] == "malformed_request"
    assert "Origin" in _body(responses[0])["error"]["message"]
    assert _worker_count(server) == before


@pytest.mark.parametrize("tokens", [(TOKEN, "wrong"), ("wrong", TOKEN)])
def test_a_repeated_authorization_is_refused_whichever_comes_first(server, tokens):
    headers = [("Authorization", f"Bearer {token}") for token in tokens]
    responses, _ = _exchange(server, _request("GET", WORKERS, headers))
    assert _status(responses[0]) == 400
    error = _body(responses[0])["error"]
    assert error["code"] == "malformed_request" and "Authorization" in error["message"]
    assert TOKEN.encode() not in responses[0]


def test_a_repeated_host_is_refused(server):
    port = int(server.base_url.rsplit(":", 1)[1])
    raw = (
        f"GET {WORKERS} HTTP/1.1\r\nHost: 127.0.0.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: Bearer {TOKEN}\r\n\r\n"
    )
    responses, _ = _exchange(server, raw.encode())
    assert _status(responses[0]) == 400


def test_one_origin_and_one_authorization_still_pass(server):
    headers = [_auth(), JSON, ("Origin", GOOD_ORIGIN), ("Connection", "close")]
    responses, _ = _exchange(server, _request("POST", WORKERS, headers, b"{}"))
    assert _status(responses[0]) == 201


def test_a_body_framed_by_both_length_and_chunks_never_runs_its_tail_as_a_request(server):
    before = _worker_count(server)
    smuggled = _request("POST", WORKERS, [_auth(), JSON], b"{}")
    chunked_body = b"2\r\n{}\r\n0\r\n\r\n"
    head = (
        f"POST {WORKERS} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {TOKEN}\r\n"
        "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n"
        f"Content-Length: {len(chunked_body)}\r\n\r\n"
    ).encode()
    responses, closed = _exchange(server, head + chunked_body + smuggled)
    assert len(responses) == 1, "the tail was answered as a second request"
    assert closed, "the connection stayed open after an ambiguously framed request"
    # httptools refuses the request (400); h11 answers it by Transfer-Encoding.
    assert _status(responses[0]) in (201, 400)
    created = 1 if _status(responses[0]) == 201 else 0
    assert _worker_count(server) == before + created
