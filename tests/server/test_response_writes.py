"""A response's head goes out with its body: one TCP segment per small answer (decision 0203).

uvicorn's httptools protocol wrote the head and the body of every answer in
two writes; the server now holds the head until the body (or the loop's next
turn, for a stream whose body comes later). Counted on a real socket: the
kernel's count of data segments a loopback client received (``TCP_INFO``),
which is two per answer when head and body are written apart.
"""

from __future__ import annotations

import json
import socket
import struct
import time

import httpx
import pytest

from ..reliability.app_config import EMBEDDED, embedded_toml, write_config
from ..support.server_process import running_server

#: ``tcpi_data_segs_in`` in ``struct tcp_info`` (Linux 4.6 and later).
_DATA_SEGS_IN_OFFSET = 152
ANSWERS = 25


def data_segments_received(connection: socket.socket) -> int:
    info = connection.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 256)
    if len(info) < _DATA_SEGS_IN_OFFSET + 4:
        pytest.fail("this kernel's TCP_INFO has no data segment counts")
    return struct.unpack_from("I", info, _DATA_SEGS_IN_OFFSET)[0]


def read_answer(connection: socket.socket, buffer: bytearray) -> tuple[bytes, bytes]:
    """The next whole answer (head, body) on a keep-alive connection with ``Content-Length``."""
    while b"\r\n\r\n" not in buffer:
        chunk = connection.recv(65536)
        assert chunk, "the server closed the connection"
        buffer += chunk
    end = buffer.index(b"\r\n\r\n") + 4
    head = bytes(buffer[:end])
    length = next(
        int(line.split(b":", 1)[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:")
    )
    while len(buffer) < end + length:
        chunk = connection.recv(65536)
        assert chunk, "the server closed the connection mid-answer"
        buffer += chunk
    body = bytes(buffer[end : end + length])
    del buffer[: end + length]
    return head, body


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    directory = tmp_path_factory.mktemp("writes")
    text = embedded_toml(heartbeat_seconds=30.0).replace("[server]\n", '[server]\nhttp_parser = "httptools"\n', 1)
    with running_server(write_config(directory, text), log=directory / "server.log") as served:
        yield served


def connect(server) -> socket.socket:
    port = int(server.base_url.rsplit(":", 1)[1])
    connection = socket.create_connection(("127.0.0.1", port), timeout=10)
    connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return connection


@pytest.mark.parametrize("found", [True, False], ids=["200", "404"])
def test_each_json_answer_arrives_in_one_segment(server, found):
    worker_id = httpx.post(f"{server.base_url}/api/runtimes/{EMBEDDED}/workers", json={}).json()["worker_id"]
    asked = worker_id if found else "nobody"
    request = f"GET /api/runtimes/{EMBEDDED}/workers/{asked} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode()
    with connect(server) as connection:
        buffer = bytearray()
        before = data_segments_received(connection)
        for _ in range(ANSWERS):
            connection.sendall(request)
            head, body = read_answer(connection, buffer)
            answer = json.loads(body)
            if found:
                assert head.startswith(b"HTTP/1.1 200 ")
                assert answer["worker_id"] == worker_id
            else:
                assert head.startswith(b"HTTP/1.1 404 ")
                assert answer["error"]["code"] == "unknown_worker"
        # Two writes per answer would be two segments each (TCP_NODELAY on loopback).
        assert data_segments_received(connection) - before == ANSWERS


def test_a_streams_head_is_sent_before_its_first_event(server):
    # Nothing happens on the runtime and the heartbeat is 30 s away: the head
    # must not wait for a body that is not coming.
    request = f"GET /api/runtimes/{EMBEDDED}/events/stream?cursor=999999999 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    with connect(server) as connection:
        connection.settimeout(5)
        connection.sendall(request.encode())
        received = b""
        while b"\r\n\r\n" not in received:
            received += connection.recv(65536)
        assert received.startswith(b"HTTP/1.1 200 ")
        assert b"text/event-stream" in received.lower()


def test_a_100_continue_is_sent_before_the_body_is(server):
    body = json.dumps({"label": "continued"}).encode()
    head = (
        f"POST /api/runtimes/{EMBEDDED}/workers HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nExpect: 100-continue\r\n\r\n"
    )
    with connect(server) as connection:
        connection.sendall(head.encode())
        started = time.monotonic()
        interim = connection.recv(65536)
        # Sent on its own as soon as the app reads the body, not held for the answer.
        assert interim.startswith(b"HTTP/1.1 100 Continue\r\n\r\n")
        assert time.monotonic() - started < 5
        connection.sendall(body)
        buffer = bytearray(interim[len(b"HTTP/1.1 100 Continue\r\n\r\n") :])
        answer_head, answer_body = read_answer(connection, buffer)
        assert answer_head.startswith(b"HTTP/1.1 201 ")
        assert json.loads(answer_body)["label"] == "continued"


@pytest.mark.parametrize("closing", [False, True], ids=["keep-alive", "connection-close"])
def test_the_head_of_an_answer_without_a_body_is_sent(server, closing):
    # A HEAD request's answer announces a length and never writes its body: the held head must go
    # out when the response completes, before the server closes a connection it does not keep.
    head = "HEAD /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n" + ("Connection: close\r\n" if closing else "") + "\r\n"
    with connect(server) as connection:
        connection.settimeout(5)
        connection.sendall(head.encode())
        received = b""
        while b"\r\n\r\n" not in received:
            chunk = connection.recv(65536)
            assert chunk, f"the connection closed without the head: {received!r}"
            received += chunk
        assert received.startswith(b"HTTP/1.1 200 ")
        assert b"content-length:" in received.lower()
        if not closing:
            # Still usable: the next answer comes whole.
            connection.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            buffer = bytearray(received[received.index(b"\r\n\r\n") + 4 :])
            answer_head, _ = read_answer(connection, buffer)
            assert answer_head.startswith(b"HTTP/1.1 200 ")
