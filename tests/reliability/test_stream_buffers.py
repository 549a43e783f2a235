"""A client that opens event streams and never reads them holds little of the server's memory (issue 24, point 10).

Before the fix each stream wrote a whole page of frames (up to
``max_page_bytes``) into its connection at once, and the transport keeps
what the client does not take: about 1 MiB per stream here. Each write is
now at most ``WRITE_BYTES`` (or one frame), and the next waits for the
client (flow control).
"""

from __future__ import annotations

import socket
import time

import httpx
import pytest

from runtime_registry.server.event_stream import WRITE_BYTES

from ..support.server_process import running_server
from .app_config import EMBEDDED, embedded_toml, write_config

TOKEN = "stream-buffers-token-0123456789"
HEADERS = {"Authorization": f"Bearer {TOKEN}"}
STREAMS = 30
EVENT_CHARS = 50_000
INPUTS = 40


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    directory = tmp_path_factory.mktemp("stream-buffers")
    config = write_config(directory, embedded_toml(token=TOKEN))
    with running_server(config, log=directory / "server.log") as served:
        with httpx.Client(base_url=served.base_url, headers=HEADERS, timeout=30) as client:
            worker = client.post(f"/api/runtimes/{EMBEDDED}/workers", json={"profile": "echo"}).json()["worker_id"]
            for number in range(INPUTS):
                response = client.post(
                    f"/api/runtimes/{EMBEDDED}/workers/{worker}/input",
                    json={"content": f"{number} " + "x" * EVENT_CHARS},
                )
                assert response.status_code in (200, 202), response.text
                _until_idle(client, worker)
        yield served


def _until_idle(client: httpx.Client, worker: str) -> None:
    for _ in range(500):
        if client.get(f"/api/runtimes/{EMBEDDED}/workers/{worker}").json()["status"] == "idle":
            return
        time.sleep(0.01)
    raise AssertionError("the worker did not become idle")


def _settled_rss(server, *, seconds: float = 3.0) -> int:
    """RSS once it stopped growing for a while (the streams have written what they will)."""
    last, stable_since = server.rss_kib(), time.monotonic()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        time.sleep(0.2)
        now = server.rss_kib()
        if abs(now - last) > 256:
            last, stable_since = now, time.monotonic()
        elif time.monotonic() - stable_since > seconds:
            break
    return last


def _silent_stream(port: int) -> socket.socket:
    connection = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    # A small receive window: what the client does not read stays on the server's side.
    connection.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    connection.connect(("127.0.0.1", port))
    connection.sendall(
        (
            f"GET /api/runtimes/{EMBEDDED}/events/stream HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Authorization: Bearer {TOKEN}\r\nAccept: text/event-stream\r\n\r\n"
        ).encode()
    )
    return connection


def test_streams_that_are_never_read_hold_little_memory_each(server):
    port = int(server.base_url.rsplit(":", 1)[1])
    before = _settled_rss(server, seconds=1.0)
    streams = [_silent_stream(port) for _ in range(STREAMS)]
    try:
        grown_kib = _settled_rss(server) - before
    finally:
        for stream in streams:
            stream.close()
    # A page is ~1 MiB here (20 events of ~50 KB): each stream held it all, about 2.2 MiB of RSS a
    # stream. Now a write is at most WRITE_BYTES (or one frame): the transport holds one, the
    # stream the next, beside what a connection costs anyway (about 90 KiB): measured ~480 KiB.
    per_stream_kib = grown_kib / STREAMS
    print(f"silent streams: {per_stream_kib:.0f} KiB each")
    assert per_stream_kib < 5 * (WRITE_BYTES + EVENT_CHARS) / 1024, f"{per_stream_kib:.0f} KiB per silent stream"
    assert httpx.get(f"{server.base_url}/healthz", timeout=10).status_code == 200
