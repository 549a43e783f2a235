"""What the server's log must not say (issue 12, points 6 and 8), read from a real server's output.

A client that hangs up in the middle of its body is not a server error (no
ERROR line, no traceback); a credential sent in the query string never
reaches the log.
"""

from __future__ import annotations

import socket
import time

import pytest

from .app_config import EMBEDDED, serving_embedded

SECRET = "sEcReT-value-0123456789"


@pytest.fixture(scope="module", params=["httptools", "h11"])
def server(request, tmp_path_factory):
    directory = tmp_path_factory.mktemp(f"log-{request.param}")
    with serving_embedded(directory, server_settings=f'http_parser = "{request.param}"') as served:
        yield served


def _port(server) -> int:
    return int(server.base_url.rsplit(":", 1)[1])


def _get(server, target: str) -> bytes:
    with socket.create_connection(("127.0.0.1", _port(server)), timeout=5) as connection:
        connection.sendall(f"GET {target} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while chunk := connection.recv(65536):
            data += chunk
    return data


def _wait_for_log(server, needle: str, timeout: float = 5.0) -> str:
    deadline = time.monotonic() + timeout
    while needle not in (text := server.log_text()):
        assert time.monotonic() < deadline, f"{needle!r} never appeared in the log"
        time.sleep(0.05)
    return text


def test_a_client_hanging_up_mid_body_is_not_logged_as_an_error(server):
    path = f"/api/runtimes/{EMBEDDED}/workers"
    for _ in range(3):
        with socket.create_connection(("127.0.0.1", _port(server)), timeout=5) as connection:
            connection.sendall(
                f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                'Content-Length: 1000\r\n\r\n{"label": "half'.encode()
            )
            time.sleep(0.1)
    # A request after them, so the log has caught up when it is read.
    _get(server, "/healthz?after=hangups")
    text = _wait_for_log(server, "after=hangups")
    assert "Traceback" not in text
    assert "ClientDisconnect" not in text
    assert " ERROR " not in text


@pytest.mark.parametrize("parameter", ["access_token", "token", "api_key", "X-Session", "client_secret"])
def test_a_credential_in_the_query_string_never_reaches_the_log(server, parameter):
    marker = f"marker-{parameter}"
    # Parameters the route does not take are refused (400), and the access line is written all the same.
    response = _get(server, f"/api/runtimes?{parameter}={SECRET}&limit=5&{marker}=1")
    assert response.startswith(b"HTTP/1.1 400")
    text = _wait_for_log(server, marker)
    assert SECRET not in text
    assert f"{parameter}=[redacted]" in text
    assert "limit=5" in text  # other parameters stay readable
