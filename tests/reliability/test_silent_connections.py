"""Connections that never send a complete request head are closed after ``server.header_timeout_seconds``.

Issue 12, point 3: enough silent TCP connections reach ``max_connections``,
and from then on every request, ``/healthz`` included, was a plain 503 for as
long as they stayed open. Real sockets against ``runtime-registry serve``,
under both HTTP parsers (httptools and the h11 fallback). The realistic run
(1,000 sockets, the default 10 s) is ``tests/benchmarks/bench_silent_connections.py``.
"""

from __future__ import annotations

import socket
import time

import pytest

from ..support.server_process import healthz_status
from .app_config import serving_embedded

HEADER_TIMEOUT = 0.6
MAX_CONNECTIONS = 40
PARSERS = ["httptools", "h11"]


@pytest.fixture(scope="module", params=PARSERS)
def server(request, tmp_path_factory):
    directory = tmp_path_factory.mktemp(f"silent-{request.param}")
    settings = (
        f"header_timeout_seconds = {HEADER_TIMEOUT}\nmax_connections = {MAX_CONNECTIONS}\n"
        f'keep_alive_timeout_seconds = 30.0\nhttp_parser = "{request.param}"'
    )
    with serving_embedded(directory, server_settings=settings) as served:
        yield served


def _port(server) -> int:
    return int(server.base_url.rsplit(":", 1)[1])


def _connect(port: int) -> socket.socket:
    connection = socket.create_connection(("127.0.0.1", port), timeout=10)
    connection.settimeout(10)
    return connection


def _read_response(connection: socket.socket) -> bytes:
    """One whole response with a Content-Length: head and body."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = connection.recv(4096)
        assert chunk, "the server closed the connection"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(
        int(line.split(b":", 1)[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:")
    )
    while len(body) < length:
        body += connection.recv(4096)
    return head + b"\r\n\r\n" + body


def _closed_by_server(connection: socket.socket) -> bool:
    """Whether the server closed ``connection`` (a read sees the end, or a reset)."""
    try:
        return connection.recv(1024) == b""
    except ConnectionResetError:
        return True


def test_silent_connections_stop_locking_out_healthz_within_the_header_timeout(server):
    port = _port(server)
    silent = [_connect(port) for _ in range(MAX_CONNECTIONS + 10)]
    try:
        time.sleep(0.2)  # let the server accept them all
        opened = time.monotonic()
        assert healthz_status(port) == 503, "the silent connections should fill max_connections first"
        deadline = opened + HEADER_TIMEOUT + 2.0
        while healthz_status(port) != 200:
            assert time.monotonic() < deadline, "healthz did not answer again within the header timeout + 2 s"
            time.sleep(0.05)
        assert all(_closed_by_server(connection) for connection in silent)
    finally:
        for connection in silent:
            connection.close()


def test_a_client_trickling_its_head_is_closed_after_the_header_timeout(server):
    connection = _connect(_port(server))
    with connection:
        started = time.monotonic()
        head = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + b"a" * 100
        closed_after = None
        for byte in head:
            try:
                connection.sendall(bytes([byte]))
            except (BrokenPipeError, ConnectionResetError):
                closed_after = time.monotonic() - started
                break
            time.sleep(0.05)
        if closed_after is None:
            assert _closed_by_server(connection)
            closed_after = time.monotonic() - started
        assert HEADER_TIMEOUT * 0.9 <= closed_after <= HEADER_TIMEOUT + 2.0


def test_a_kept_alive_connection_is_closed_when_its_next_head_does_not_come(server):
    connection = _connect(_port(server))
    with connection:
        connection.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        assert _read_response(connection).startswith(b"HTTP/1.1 200")
        answered = time.monotonic()
        connection.sendall(b"GET /healthz HTTP/1.1\r\n")  # half a head, then nothing
        assert _closed_by_server(connection)
        # The keep-alive timeout is 30 s here: the head timer closed it.
        assert time.monotonic() - answered <= HEADER_TIMEOUT + 2.0


def test_a_request_that_takes_longer_than_the_header_timeout_is_not_cut(server):
    connection = _connect(_port(server))
    with connection:
        connection.sendall(b"GET /api/runtimes/backend-internal/events/stream HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        assert connection.recv(1024).startswith(b"HTTP/1.1 200")
        time.sleep(HEADER_TIMEOUT + 0.8)
        # Still open: the stream answers the next event.
        with _connect(_port(server)) as other:
            body = b'{"profile": "builtin:echo"}'
            other.sendall(
                b"POST /api/runtimes/backend-internal/workers HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
            )
            assert other.recv(1024).startswith(b"HTTP/1.1 201")
        assert b"worker.created" in connection.recv(65536)


def test_a_connection_that_keeps_asking_is_never_cut(server):
    connection = _connect(_port(server))
    with connection:
        started = time.monotonic()
        while time.monotonic() - started < HEADER_TIMEOUT * 2.5:
            connection.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            assert _read_response(connection).startswith(b"HTTP/1.1 200")
            time.sleep(HEADER_TIMEOUT / 3)


def test_the_wait_for_a_head_counts_from_the_last_answer_not_from_the_open(server):
    # The timer set when the connection opened fires a third of a timeout after the answer; the wait
    # began at the answer, so the connection must outlive that timer and be closed a timeout after it.
    connection = _connect(_port(server))
    with connection:
        time.sleep(HEADER_TIMEOUT * 2 / 3)
        connection.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        assert _read_response(connection).startswith(b"HTTP/1.1 200")
        answered = time.monotonic()
        assert _closed_by_server(connection)
        waited = time.monotonic() - answered
        assert HEADER_TIMEOUT * 0.9 <= waited <= HEADER_TIMEOUT + 2.0, waited
