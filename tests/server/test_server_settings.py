"""The [server] keys of browser safety and connection limits: validation, and what `serve` hands uvicorn."""

from __future__ import annotations

import socket
import time

import pytest

from runtime_registry.host import ConfigError, parse_config
from runtime_registry.server.cli import connection_limits

from ..support.server_process import running_server


def problems(text: str) -> list[tuple[str, str]]:
    with pytest.raises(ConfigError) as caught:
        parse_config(text)
    return [(problem.path, problem.message) for problem in caught.value.problems]


def test_allowed_hosts_takes_names_wildcards_and_star():
    config = parse_config('[server]\nallowed_hosts = ["registry.example", "*.corp.example", "*"]\n')
    assert config.server.allowed_hosts == ("registry.example", "*.corp.example", "*")


@pytest.mark.parametrize(
    "bad",
    ["Registry.example", "registry.example:8000", "http://registry.example", "a b", "", "-x.example", "*x.example"],
)
def test_an_allowed_host_that_is_not_a_lower_case_name_is_an_error_naming_its_index(bad):
    [(path, message)] = problems(f'[server]\nallowed_hosts = ["ok.example", "{bad}"]\n')
    assert path == "server.allowed_hosts[1]" and "host name" in message


def test_an_allowed_host_that_is_not_a_string_is_an_error():
    assert problems("[server]\nallowed_hosts = [8000]\n") == [("server.allowed_hosts[0]", "must be a string")]


def test_cors_allowed_origins_takes_http_and_https_origins():
    origins = ["https://console.example", "http://localhost:3000", "http://127.0.0.1:5173", "http://[::1]:3000"]
    config = parse_config(f"[server]\ncors_allowed_origins = {origins!r}\n".replace("'", '"'))
    assert config.server.cors_allowed_origins == tuple(origins)


@pytest.mark.parametrize(
    "bad",
    [
        "*",
        "console.example",
        "https://console.example/",
        "https://console.example/app",
        "ftp://console.example",
        "https://Console.example",
        "https://console.example:0",
        "https://console.example:99999",
        "http://[zz]:1",
        "null",
    ],
)
def test_a_cors_origin_that_is_not_an_origin_is_an_error_naming_its_index(bad):
    [(path, message)] = problems(f'[server]\ncors_allowed_origins = ["{bad}"]\n')
    assert path == "server.cors_allowed_origins[0]" and "origin" in message


def test_connection_limits_have_defaults():
    server = parse_config("").server
    assert (server.max_connections, server.keep_alive_timeout_seconds) == (1000, 5.0)


def test_max_connections_below_two_is_an_error():
    # uvicorn counts the connection a request arrives on: 1 would refuse everything.
    assert problems("[server]\nmax_connections = 1\n") == [("server.max_connections", "must be at least 2")]


@pytest.mark.parametrize(("value", "message"), [("0", "must be greater than 0"), ("3601", "must be at most 3600")])
def test_keep_alive_timeout_out_of_range_is_an_error(value, message):
    assert problems(f"[server]\nkeep_alive_timeout_seconds = {value}\n") == [
        ("server.keep_alive_timeout_seconds", message)
    ]


def test_serve_hands_uvicorn_the_connection_limits():
    server = parse_config("[server]\nmax_connections = 64\nkeep_alive_timeout_seconds = 2.5\n").server
    assert connection_limits(server) == {"limit_concurrency": 64, "timeout_keep_alive": 2.5}


def _get(port: int) -> tuple[socket.socket, bytes]:
    """A keep-alive GET /healthz on a new connection; the connection stays open."""
    connection = socket.create_connection(("127.0.0.1", port), timeout=5)
    connection.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    response = b""
    while b"\r\n\r\n" not in response:  # the head, then as many bytes as it announces
        response += connection.recv(4096) or b"\r\n\r\n"
    head, _, body = response.partition(b"\r\n\r\n")
    length = next(
        (int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:")), 0
    )
    while len(body) < length:
        chunk = connection.recv(4096)
        if not chunk:
            break
        body += chunk
    return connection, head


def test_serve_answers_503_beyond_max_connections_and_closes_idle_keep_alive_connections(tmp_path):
    config = tmp_path / "registry.toml"
    config.write_text("[server]\nmax_connections = 2\nkeep_alive_timeout_seconds = 0.5\n")
    with running_server(config, log=tmp_path / "server.log") as served:
        port = int(served.base_url.rsplit(":", 1)[1])
        first, answer = _get(port)
        with first:
            assert answer.startswith(b"HTTP/1.1 200")
            second, refused = _get(port)
            second.close()
            assert refused.startswith(b"HTTP/1.1 503")
            first.settimeout(5)
            assert first.recv(1) == b"", "the idle keep-alive connection was not closed"
        deadline = time.monotonic() + 5
        while True:  # the server notices the closed connections on its own time
            third, answer = _get(port)
            third.close()
            if answer.startswith(b"HTTP/1.1 200") or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        assert answer.startswith(b"HTTP/1.1 200")
